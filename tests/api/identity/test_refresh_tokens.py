"""Refresh tokens: answered by every sign-in, used once (rotation), a copied one revokes its family,
revoked with the access tokens, one winner of two concurrent uses; the token endpoint takes JSON."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from app.workers.jobs import purge_refresh_tokens
from tests.api.helpers import bearer, ok
from tests.conftest import PASSWORD


async def _login(client, username: str, password: str = PASSWORD) -> dict:
    return ok(await client.post("/api/v1/auth/token", data={"username": username, "password": password}))


async def _refresh(client, token: str):
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


async def test_a_refresh_token_answers_a_new_pair_once(client, make_tenant, settings):
    tenant = await make_tenant()
    signed_in = await _login(client, tenant.admin_username)
    assert signed_in["refresh_expires_in"] == settings.refresh_token_ttl_seconds

    refreshed = ok(await _refresh(client, signed_in["refresh_token"]))

    assert refreshed["refresh_token"] != signed_in["refresh_token"]
    me = ok(await client.get("/api/v1/users/me", headers=bearer(refreshed["access_token"])))
    assert me["id"] == str(tenant.admin_id)
    again = await _refresh(client, signed_in["refresh_token"])
    assert again.status_code == 401
    assert again.json()["code"] == "auth.refresh_token_revoked"
    # Within the grace, a second use is a client racing itself: the new token still works.
    ok(await _refresh(client, refreshed["refresh_token"]))


async def test_a_used_token_presented_later_revokes_its_whole_family(client, make_tenant, clock):
    tenant = await make_tenant()
    stolen = (await _login(client, tenant.admin_username))["refresh_token"]
    current = ok(await _refresh(client, stolen))["refresh_token"]
    other_device = (await _login(client, tenant.admin_username))["refresh_token"]

    clock.advance(minutes=5)
    reuse = await _refresh(client, stolen)

    assert reuse.status_code == 401
    assert (await _refresh(client, current)).status_code == 401
    # Another sign-in is another family: untouched.
    ok(await _refresh(client, other_device))


async def test_two_concurrent_refreshes_with_one_token_one_succeeds(client, make_tenant):
    tenant = await make_tenant()
    token = (await _login(client, tenant.admin_username))["refresh_token"]

    answers = await asyncio.gather(*(_refresh(client, token) for _ in range(2)))

    assert sorted(answer.status_code for answer in answers) == [200, 401]


@pytest.mark.parametrize("revocation", ["logout_all", "password", "deactivation"])
async def test_revoking_access_tokens_revokes_refresh_tokens(client, make_tenant, make_user, revocation):
    tenant = await make_tenant()
    rep, rep_token = await make_user(tenant, "rep")
    refresh = (await _login(client, rep["username"]))["refresh_token"]

    if revocation == "logout_all":
        answer = await client.post("/api/v1/auth/logout-all", headers=bearer(rep_token))
        assert answer.status_code == 204
    else:
        change = {"password": "new-pass-2026!"} if revocation == "password" else {"is_active": False}
        ok(await client.patch(f"/api/v1/users/{rep['id']}", json=change, headers=tenant.headers))

    refused = await _refresh(client, refresh)
    assert refused.status_code == 401
    assert refused.json()["code"] in {"auth.token_revoked", "auth.user_inactive"}


async def test_an_expired_or_unknown_refresh_token_is_401(client, make_tenant, clock, settings):
    tenant = await make_tenant()
    token = (await _login(client, tenant.admin_username))["refresh_token"]

    clock.advance(seconds=settings.refresh_token_ttl_seconds + 1)

    expired = await _refresh(client, token)
    unknown = await _refresh(client, "rt_not-a-token")
    assert (expired.status_code, expired.json()["code"]) == (401, "auth.refresh_token_expired")
    assert (unknown.status_code, unknown.json()["code"]) == (401, "auth.refresh_token_invalid")


async def test_the_token_endpoint_takes_json_as_well_as_the_form(client, make_tenant):
    tenant = await make_tenant()

    signed_in = ok(
        await client.post(
            "/api/v1/auth/token", json={"username": tenant.admin_username, "password": PASSWORD}
        )
    )
    wrong = await client.post(
        "/api/v1/auth/token", json={"username": tenant.admin_username, "password": "nope"}
    )
    missing = await client.post("/api/v1/auth/token", json={"username": tenant.admin_username})
    broken = await client.post(
        "/api/v1/auth/token", content=b"{not json", headers={"content-type": "application/json"}
    )

    ok(await client.get("/api/v1/users/me", headers=bearer(signed_in["access_token"])))
    assert wrong.status_code == 401
    assert missing.status_code == 422
    assert [error["field"] for error in missing.json()["errors"]] == ["password"]
    assert broken.status_code == 422
    assert broken.headers["content-type"] == "application/problem+json"


async def test_the_oauth2_form_with_its_grant_type_still_signs_in(client, make_tenant):
    tenant = await make_tenant()
    form = {"grant_type": "password", "username": tenant.admin_username, "password": PASSWORD, "scope": ""}

    ok(await client.post("/api/v1/auth/token", data=form))


async def test_the_hourly_purge_deletes_expired_refresh_tokens_only(app, client, make_tenant, clock, engine):
    tenant = await make_tenant()
    old = (await _login(client, tenant.admin_username))["refresh_token"]
    clock.advance(days=20)
    recent = (await _login(client, tenant.admin_username))["refresh_token"]
    clock.advance(days=11)  # the first token is past its 30 days, the second is not

    runtime = app.state.runtime
    purged = await purge_refresh_tokens(
        {"sessionmaker": runtime.sessionmaker, "queue": runtime.queue, "clock": clock}
    )

    assert purged == 2  # `old` and the sign-in of make_tenant, both of day 0
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM refresh_token")) == 1
    assert (await _refresh(client, old)).json()["code"] == "auth.refresh_token_invalid"
    ok(await _refresh(client, recent))


async def test_signing_out_one_device_ends_its_refresh_tokens_and_no_other_devices(client, make_tenant):
    tenant = await make_tenant()
    phone = await _login(client, tenant.admin_username)
    laptop = await _login(client, tenant.admin_username)
    rotated = ok(await _refresh(client, phone["refresh_token"]))  # the phone's family: two tokens

    signed_out = await client.post("/api/v1/auth/logout", json={"refresh_token": phone["refresh_token"]})

    assert signed_out.status_code == 204
    refused = await _refresh(client, rotated["refresh_token"])
    assert (refused.status_code, refused.json()["code"]) == (401, "auth.refresh_token_revoked")
    ok(await _refresh(client, laptop["refresh_token"]))
    # Says nothing about tokens: an unknown one answers the same, and a repeat changes nothing.
    for token in ("rt_not-a-token", phone["refresh_token"]):
        again = await client.post("/api/v1/auth/logout", json={"refresh_token": token})
        assert again.status_code == 204
    empty = await client.post("/api/v1/auth/logout", json={"refresh_token": ""})
    assert (empty.status_code, empty.json()["errors"][0]["field"]) == (422, "refresh_token")
