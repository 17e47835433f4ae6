"""Sign-in, bearer tokens, API keys and the login rate limit."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest

from tests.conftest import PASSWORD


async def test_password_sign_in_returns_a_bearer_token_that_identifies_the_user(client, make_tenant):
    tenant = await make_tenant()
    response = await client.post(
        "/api/v1/auth/token", data={"username": tenant.admin_username, "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 8 * 3600
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == tenant.admin_username
    assert me.json()["role"] == "admin"
    assert me.headers["etag"] == f'"{me.json()["version"]}"'


async def test_wrong_password_and_unknown_user_answer_the_same_401(client, make_tenant):
    tenant = await make_tenant()
    wrong = await client.post(
        "/api/v1/auth/token", data={"username": tenant.admin_username, "password": "nope"}
    )
    unknown = await client.post("/api/v1/auth/token", data={"username": "ghost", "password": "nope"})
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "auth.invalid_credentials"
        assert response.json()["detail"] == "Incorrect username or password."


def _forge(payload: dict, key: str, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


@pytest.mark.parametrize("case", ["missing", "garbage", "tampered", "alg_none", "wrong_key", "expired"])
async def test_bad_tokens_are_refused_with_401(client, make_tenant, settings, clock, case):
    tenant = await make_tenant()
    claims = jwt.decode(tenant.token, options={"verify_signature": False})
    if case == "missing":
        headers = {}
    elif case == "garbage":
        headers = {"Authorization": "Bearer not.a.jwt"}
    elif case == "tampered":
        header, payload, signature = tenant.token.split(".")
        forged_payload = jwt.utils.base64url_encode(
            jwt.utils.base64url_decode(payload).replace(b'"admin"', b'"rep"  ')
        ).decode()
        headers = {"Authorization": f"Bearer {header}.{forged_payload}.{signature}"}
    elif case == "alg_none":
        headers = {"Authorization": f"Bearer {jwt.encode(claims, None, algorithm='none')}"}
    elif case == "wrong_key":
        headers = {"Authorization": f"Bearer {_forge(claims, 'another-secret-of-sufficient-length-000')}"}
    else:
        clock.advance(seconds=settings.jwt_ttl_seconds)
        headers = {"Authorization": f"Bearer {tenant.token}"}
    response = await client.get("/api/v1/users/me", headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["status"] == 401
    expected_code = {"missing": "auth.missing", "expired": "auth.token_expired"}.get(
        case, "auth.token_invalid"
    )
    assert response.json()["code"] == expected_code


async def test_token_of_a_deactivated_user_stops_working(client, make_tenant, make_user):
    tenant = await make_tenant()
    rep, rep_token = await make_user(tenant, "rep")
    deactivate = await client.patch(
        f"/api/v1/users/{rep['id']}", json={"is_active": False}, headers=tenant.headers
    )
    assert deactivate.status_code == 200
    response = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {rep_token}"})
    assert response.status_code == 401
    assert response.json()["code"] == "auth.user_inactive"


async def test_ten_failed_sign_ins_lock_the_username_for_the_window(client, make_tenant, clock, settings):
    tenant = await make_tenant()
    for _ in range(10):
        failed = await client.post(
            "/api/v1/auth/token", data={"username": tenant.admin_username, "password": "x"}
        )
        assert failed.status_code == 401
    clock.advance(minutes=5)
    locked = await client.post(
        "/api/v1/auth/token", data={"username": tenant.admin_username, "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert locked.json()["code"] == "rate_limited"
    assert int(locked.headers["retry-after"]) == 10 * 60 + 1
    other_user = await client.post("/api/v1/auth/token", data={"username": "someone-else", "password": "x"})
    assert other_user.status_code == 401
    clock.advance(seconds=settings.login_failure_window_seconds - 5 * 60 + 1)
    unlocked = await client.post(
        "/api/v1/auth/token", data={"username": tenant.admin_username, "password": PASSWORD}
    )
    assert unlocked.status_code == 200


async def test_api_key_authenticates_with_its_scopes_only_and_stops_when_revoked(client, make_tenant, clock):
    tenant = await make_tenant()
    created = await client.post(
        "/api/v1/api-keys", json={"name": "BI", "scopes": ["users:read"]}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert secret.startswith("crm_")
    key_headers = {"Authorization": f"Bearer {secret}"}

    users = await client.get("/api/v1/users", headers=key_headers)
    assert users.status_code == 200
    assert [u["username"] for u in users.json()["items"]] == [tenant.admin_username]
    teams = await client.get("/api/v1/teams", headers=key_headers)
    assert teams.status_code == 403
    assert teams.json()["code"] == "permission.denied"

    listed = await client.get("/api/v1/api-keys", headers=tenant.headers)
    assert "secret" not in listed.json()["items"][0]
    assert listed.json()["items"][0]["last_used_at"] is not None

    revoked = await client.post(f"/api/v1/api-keys/{created.json()['id']}/revoke", headers=tenant.headers)
    assert revoked.status_code == 200
    clock.advance(seconds=1)
    after = await client.get("/api/v1/users", headers=key_headers)
    assert after.status_code == 401
    assert after.json()["code"] == "auth.api_key_revoked"


async def test_api_key_with_a_wrong_secret_or_unknown_scope_is_refused(client, make_tenant, clock):
    tenant = await make_tenant()
    created = await client.post(
        "/api/v1/api-keys", json={"name": "x", "scopes": ["users:read"]}, headers=tenant.headers
    )
    prefix = created.json()["prefix"]
    forged = await client.get("/api/v1/users", headers={"Authorization": f"Bearer crm_{prefix}_wrong"})
    assert forged.status_code == 401
    bad_scope = await client.post(
        "/api/v1/api-keys", json={"name": "y", "scopes": ["users:write", "nonsense"]}, headers=tenant.headers
    )
    assert bad_scope.status_code == 422
    assert [e["message"] for e in bad_scope.json()["errors"]] == ["users:write", "nonsense"]
    past = await client.post(
        "/api/v1/api-keys",
        json={"name": "z", "expires_at": (clock.now - timedelta(days=1)).isoformat()},
        headers=tenant.headers,
    )
    assert past.status_code == 422
