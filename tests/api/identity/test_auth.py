"""Sign-in, bearer tokens, API keys and the login rate limit."""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import timedelta

import httpx
import jwt
import pytest

from tests.conftest import PASSWORD, new_tenant, serving


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


def _from(app, address: str) -> httpx.AsyncClient:
    """A client whose requests come from `address` (the socket's peer the API sees)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 4000)), base_url="http://test"
    )


async def _sign_in(http: httpx.AsyncClient, username: str, password: str, **headers: str) -> httpx.Response:
    return await http.post(
        "/api/v1/auth/token", data={"username": username, "password": password}, headers=headers
    )


async def test_ten_failures_from_one_address_lock_that_address_out_of_that_user_only(
    app, client, make_tenant, clock, settings
):
    tenant = await make_tenant()
    async with _from(app, "198.51.100.7") as guesser, _from(app, "203.0.113.20") as owner:
        for _ in range(10):
            assert (await _sign_in(guesser, tenant.admin_username, "x")).status_code == 401
        clock.advance(minutes=5)
        locked = await _sign_in(guesser, tenant.admin_username, PASSWORD)
        # The user at their own desk was never failing: the right password works there.
        at_desk = await _sign_in(owner, tenant.admin_username, PASSWORD)
        other_user = await _sign_in(guesser, "someone-else", "x")
        clock.advance(seconds=settings.login_failure_window_seconds - 5 * 60 + 1)
        unlocked = await _sign_in(guesser, tenant.admin_username, PASSWORD)

    assert locked.status_code == 429
    assert locked.json()["code"] == "rate_limited"
    assert int(locked.headers["retry-after"]) == 10 * 60 + 1
    assert at_desk.status_code == 200
    assert other_user.status_code == 401
    assert unlocked.status_code == 200


async def test_concurrent_guesses_check_no_more_passwords_than_the_limit(app, make_tenant):
    tenant = await make_tenant()
    async with _from(app, "198.51.100.8") as guesser:
        answers = await asyncio.gather(
            *(_sign_in(guesser, tenant.admin_username, f"guess-{n}") for n in range(40))
        )

    statuses = [a.status_code for a in answers]
    assert statuses.count(401) == 10, statuses
    assert statuses.count(429) == 30


async def test_one_address_spraying_many_names_is_stopped_at_its_own_limit(app, make_tenant, settings):
    async with _from(app, "198.51.100.9") as sprayer, _from(app, "203.0.113.21") as colleague:
        tried = [(await _sign_in(sprayer, f"user-{n}", "Password1")).status_code for n in range(35)]
        tenant = await make_tenant()
        elsewhere = await _sign_in(colleague, tenant.admin_username, PASSWORD)

    assert tried == [401] * settings.login_client_failure_limit + [429] * (
        35 - settings.login_client_failure_limit
    )
    assert elsewhere.status_code == 200


async def test_x_forwarded_for_names_the_client_only_behind_a_trusted_proxy(settings, clock):
    proxied = settings.model_copy(update={"trusted_proxies": [ipaddress.ip_network("127.0.0.0/8")]})
    async with serving(proxied, clock) as (application, http):
        tenant = await new_tenant(application, http)
        for _ in range(10):
            await _sign_in(http, tenant.admin_username, "x", **{"X-Forwarded-For": "9.9.9.9, 198.51.100.10"})
        behind_proxy = await _sign_in(
            http, tenant.admin_username, PASSWORD, **{"X-Forwarded-For": "198.51.100.10"}
        )
        another_client = await _sign_in(
            http, tenant.admin_username, PASSWORD, **{"X-Forwarded-For": "203.0.113.22"}
        )
    assert behind_proxy.status_code == 429
    assert another_client.status_code == 200

    async with serving(settings, clock) as (application, http):
        tenant = await new_tenant(application, http)
        for n in range(10):
            await _sign_in(http, tenant.admin_username, "x", **{"X-Forwarded-For": f"198.51.100.{n}"})
        # No trusted proxy: the header is the client's to forge, so all ten came from one peer.
        forged = await _sign_in(http, tenant.admin_username, PASSWORD, **{"X-Forwarded-For": "203.0.113.23"})
    assert forged.status_code == 429


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
