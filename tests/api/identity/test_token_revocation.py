"""Access tokens end before their expiry when the password changes, the user is deactivated, or the
user signs out everywhere."""

from __future__ import annotations

from tests.api.helpers import bearer, ok
from tests.conftest import PASSWORD, sign_in


async def _status_with(client, token: str) -> tuple[int, str | None]:
    answer = await client.get("/api/v1/users/me", headers=bearer(token))
    return answer.status_code, answer.json().get("code")


async def test_a_password_change_revokes_every_token_issued_before(client, make_tenant, make_user):
    tenant = await make_tenant()
    rep, phone_token = await make_user(tenant, "rep")
    laptop_token = await sign_in(client, rep["username"])

    ok(
        await client.patch(
            f"/api/v1/users/{rep['id']}", json={"password": "new-pass-2026!"}, headers=tenant.headers
        )
    )

    assert await _status_with(client, phone_token) == (401, "auth.token_revoked")
    assert await _status_with(client, laptop_token) == (401, "auth.token_revoked")
    fresh = await sign_in(client, rep["username"], "new-pass-2026!")
    assert await _status_with(client, fresh) == (200, None)


async def test_an_edit_that_is_not_a_password_keeps_tokens_valid(client, make_tenant, make_user):
    tenant = await make_tenant()
    rep, token = await make_user(tenant, "rep")

    ok(
        await client.patch(
            f"/api/v1/users/{rep['id']}", json={"display_name": "Wang"}, headers=tenant.headers
        )
    )

    assert await _status_with(client, token) == (200, None)


async def test_sign_out_everywhere_revokes_all_of_the_users_tokens_and_only_theirs(
    client, make_tenant, make_user
):
    tenant = await make_tenant()
    rep, phone_token = await make_user(tenant, "rep")
    laptop_token = await sign_in(client, rep["username"])
    _, colleague_token = await make_user(tenant, "rep")

    signed_out = await client.post("/api/v1/auth/logout-all", headers=bearer(phone_token))

    assert signed_out.status_code == 204
    assert await _status_with(client, phone_token) == (401, "auth.token_revoked")
    assert await _status_with(client, laptop_token) == (401, "auth.token_revoked")
    assert await _status_with(client, colleague_token) == (200, None)
    assert await _status_with(client, await sign_in(client, rep["username"], PASSWORD)) == (200, None)
    # Signing out everywhere is not an edit of the user: the record's version (ETag) stays.
    assert (
        ok(await client.get(f"/api/v1/users/{rep['id']}", headers=tenant.headers))["version"]
        == rep["version"]
    )


async def test_a_reactivated_user_does_not_get_old_tokens_back(client, make_tenant, make_user):
    tenant = await make_tenant()
    rep, token = await make_user(tenant, "rep")

    ok(await client.patch(f"/api/v1/users/{rep['id']}", json={"is_active": False}, headers=tenant.headers))
    assert await _status_with(client, token) == (401, "auth.user_inactive")
    ok(await client.patch(f"/api/v1/users/{rep['id']}", json={"is_active": True}, headers=tenant.headers))

    assert await _status_with(client, token) == (401, "auth.token_revoked")


async def test_an_api_key_cannot_sign_out_everywhere(client, make_tenant):
    tenant = await make_tenant()
    key = ok(
        await client.post(
            "/api/v1/api-keys", json={"name": "bi", "scopes": ["leads:read"]}, headers=tenant.headers
        ),
        201,
    )

    refused = await client.post("/api/v1/auth/logout-all", headers=bearer(key["secret"]))

    assert refused.status_code == 403
    assert refused.json()["code"] == "auth.not_a_user"
