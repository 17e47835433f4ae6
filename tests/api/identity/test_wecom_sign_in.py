"""WeCom H5 sign-in and the JS-SDK signature against a fake WeCom server on 127.0.0.1: the API's
real HTTP calls go to it, and it counts them."""

from __future__ import annotations

import hashlib
import json

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import text
from werkzeug import Request, Response

from tests.api.helpers import bearer, ok
from tests.conftest import PASSWORD, new_tenant, serving

APP = {"corp_id": "ww4f1c2e3d4b5a6978", "agent_id": 1000002, "secret": "app-secret-0123456789"}
TICKET_LIFETIME = 7200


def json_response(body: object) -> Response:
    return Response(json.dumps(body), content_type="application/json")


class FakeWeCom:
    """gettoken, auth/getuserinfo (codes map to userids) and get_jsapi_ticket, as WeCom answers them."""

    def __init__(self, server: HTTPServer) -> None:
        self.tokens_issued = 0
        self.tickets_issued = 0
        self.codes: dict[str, dict[str, object]] = {}
        self.revoked: set[str] = set()
        for path, handler in (
            ("gettoken", self.gettoken),
            ("auth/getuserinfo", self.getuserinfo),
            ("get_jsapi_ticket", self.get_jsapi_ticket),
        ):
            server.expect_request(f"/wecom/cgi-bin/{path}", method="GET").respond_with_handler(handler)

    def gettoken(self, request: Request) -> Response:
        if (request.args["corpid"], request.args["corpsecret"]) != (APP["corp_id"], APP["secret"]):
            return json_response({"errcode": 40001, "errmsg": "invalid credential"})
        self.tokens_issued += 1
        return json_response(
            {"errcode": 0, "errmsg": "ok", "access_token": f"token-{self.tokens_issued}", "expires_in": 7200}
        )

    def getuserinfo(self, request: Request) -> Response:
        token = request.args["access_token"]
        if token != f"token-{self.tokens_issued}" or token in self.revoked:
            return json_response({"errcode": 40014, "errmsg": "invalid access_token"})
        answer = self.codes.pop(request.args["code"], None)  # a code is good once
        if answer is None:
            return json_response({"errcode": 40029, "errmsg": "invalid code"})
        return json_response({"errcode": 0, "errmsg": "ok", **answer})

    def get_jsapi_ticket(self, request: Request) -> Response:
        self.tickets_issued += 1
        return json_response(
            {
                "errcode": 0,
                "errmsg": "ok",
                "ticket": f"ticket-{self.tickets_issued}",
                "expires_in": TICKET_LIFETIME,
            }
        )


@pytest.fixture
def settings(settings, httpserver: HTTPServer):
    return settings.model_copy(update={"wecom_base_url": httpserver.url_for("/wecom")})


@pytest.fixture
def wecom(httpserver: HTTPServer) -> FakeWeCom:
    return FakeWeCom(httpserver)


async def _wecom_tenant(client, make_tenant, make_user):
    """A tenant whose WeCom app is set, with a rep whose WeCom account is "WangFang"."""
    tenant = await make_tenant()
    ok(await client.put("/api/v1/organization/wecom", json=APP, headers=tenant.headers))
    rep, _ = await make_user(tenant, "rep", wecom_userid="WangFang")
    slug = ok(await client.get("/api/v1/organization", headers=tenant.headers))["slug"]
    return tenant, rep, slug


async def test_a_wecom_code_signs_in_its_user_with_the_password_logins_body_and_one_gettoken(
    client, make_tenant, make_user, wecom
):
    tenant, rep, slug = await _wecom_tenant(client, make_tenant, make_user)
    wecom.codes = {"code-1": {"userid": "WangFang"}, "code-2": {"userid": "WangFang"}}

    first = ok(await client.post("/api/v1/auth/wecom", json={"code": "code-1", "organization": slug}))
    second = ok(
        await client.post(
            "/api/v1/auth/wecom", json={"code": "code-2", "organization": str(tenant.organization_id)}
        )
    )

    password_login = ok(
        await client.post("/api/v1/auth/token", data={"username": rep["username"], "password": PASSWORD})
    )
    assert (
        set(first)
        == set(password_login)
        == {
            "access_token",
            "token_type",
            "expires_in",
            "refresh_token",
            "refresh_expires_in",
        }
    )
    for answer in (first, second):
        me = ok(await client.get("/api/v1/users/me", headers=bearer(answer["access_token"])))
        assert me["id"] == rep["id"]
    assert wecom.tokens_issued == 1  # the access token was cached for the second sign-in


async def test_a_token_wecom_revoked_before_its_time_is_fetched_again_once(
    client, make_tenant, make_user, wecom
):
    _, rep, slug = await _wecom_tenant(client, make_tenant, make_user)
    wecom.codes = {"code-1": {"userid": "WangFang"}, "code-2": {"userid": "WangFang"}}
    ok(await client.post("/api/v1/auth/wecom", json={"code": "code-1", "organization": slug}))

    wecom.revoked.add("token-1")
    signed_in = ok(await client.post("/api/v1/auth/wecom", json={"code": "code-2", "organization": slug}))

    assert wecom.tokens_issued == 2
    me = ok(await client.get("/api/v1/users/me", headers=bearer(signed_in["access_token"])))
    assert me["id"] == rep["id"]


async def test_an_invalid_or_used_code_is_401(client, make_tenant, make_user, wecom):
    _, _, slug = await _wecom_tenant(client, make_tenant, make_user)
    wecom.codes = {"code-1": {"userid": "WangFang"}}
    ok(await client.post("/api/v1/auth/wecom", json={"code": "code-1", "organization": slug}))

    again = await client.post("/api/v1/auth/wecom", json={"code": "code-1", "organization": slug})

    assert again.status_code == 401
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["code"] == "auth.wecom_code_invalid"


async def test_a_wecom_account_no_user_has_and_a_non_member_are_403(client, make_tenant, make_user, wecom):
    _, _, slug = await _wecom_tenant(client, make_tenant, make_user)
    wecom.codes = {"stranger": {"userid": "LiLei"}, "outsider": {"openid": "oAbc123"}}

    for code in ("stranger", "outsider"):
        answer = await client.post("/api/v1/auth/wecom", json={"code": code, "organization": slug})
        assert answer.status_code == 403
        assert answer.json()["code"] == "auth.wecom_user_unknown"


async def test_a_deactivated_user_cannot_sign_in_with_wecom(client, make_tenant, make_user, wecom):
    tenant, rep, slug = await _wecom_tenant(client, make_tenant, make_user)
    ok(await client.patch(f"/api/v1/users/{rep['id']}", json={"is_active": False}, headers=tenant.headers))
    wecom.codes = {"code-1": {"userid": "WangFang"}}

    answer = await client.post("/api/v1/auth/wecom", json={"code": "code-1", "organization": slug})

    assert answer.status_code == 403
    assert answer.json()["code"] == "auth.wecom_user_unknown"


async def test_an_organization_without_a_wecom_app_is_409_and_an_unknown_one_alike(
    client, make_tenant, wecom
):
    tenant = await make_tenant()
    slug = ok(await client.get("/api/v1/organization", headers=tenant.headers))["slug"]

    for organization in (slug, "no-such-organization"):
        answer = await client.post("/api/v1/auth/wecom", json={"code": "c", "organization": organization})
        assert answer.status_code == 409
        assert answer.json()["code"] == "wecom.not_configured"
    assert wecom.tokens_issued == 0


async def test_a_secret_wecom_refuses_is_502_naming_the_settings(client, make_tenant, make_user, wecom):
    tenant, _, slug = await _wecom_tenant(client, make_tenant, make_user)
    ok(
        await client.put(
            "/api/v1/organization/wecom", json={**APP, "secret": "a-wrong-secret"}, headers=tenant.headers
        )
    )

    answer = await client.post("/api/v1/auth/wecom", json={"code": "c", "organization": slug})

    assert answer.status_code == 502
    assert answer.json()["code"] == "wecom.credentials_refused"
    assert "a-wrong-secret" not in answer.text


async def test_wecom_unreachable_is_503(settings, clock, engine):
    unreachable = settings.model_copy(update={"wecom_base_url": "http://127.0.0.1:9"})
    async with serving(unreachable, clock) as (app, http):
        tenant = await new_tenant(app, http)
        ok(await http.put("/api/v1/organization/wecom", json=APP, headers=tenant.headers))

        answer = await http.post(
            "/api/v1/auth/wecom", json={"code": "c", "organization": str(tenant.organization_id)}
        )

    assert answer.status_code == 503
    assert answer.json()["code"] == "wecom.unavailable"
    assert "Retry-After" in answer.headers


async def test_the_secret_is_never_answered_and_stored_encrypted(client, make_tenant, make_user, engine):
    tenant, _, _ = await _wecom_tenant(client, make_tenant, make_user)

    shown = ok(await client.get("/api/v1/organization/wecom", headers=tenant.headers))

    assert shown["corp_id"] == APP["corp_id"]
    assert shown["agent_id"] == APP["agent_id"]
    assert "secret" not in shown
    async with engine.connect() as connection:
        stored = await connection.scalar(text("SELECT secret FROM wecom_app"))
    assert APP["secret"] not in stored


async def test_only_an_admin_sets_the_wecom_app(client, make_tenant, make_user):
    tenant = await make_tenant()
    _, rep_token = await make_user(tenant, "rep")

    answer = await client.put("/api/v1/organization/wecom", json=APP, headers=bearer(rep_token))

    assert answer.status_code == 403


async def test_a_bad_app_setting_is_422_naming_the_field(client, make_tenant):
    tenant = await make_tenant()

    answer = await client.put(
        "/api/v1/organization/wecom", json={**APP, "agent_id": "x"}, headers=tenant.headers
    )

    assert answer.status_code == 422
    assert [error["field"] for error in answer.json()["errors"]] == ["agent_id"]


def _expected_signature(ticket: str, body: dict[str, object], url: str) -> str:
    plain = f"jsapi_ticket={ticket}&noncestr={body['nonce_str']}&timestamp={body['timestamp']}&url={url}"
    return hashlib.sha1(plain.encode()).hexdigest()


async def test_the_jsapi_signature_signs_the_page_without_its_fragment_and_the_ticket_is_cached(
    client, make_tenant, make_user, wecom, clock
):
    tenant, _, _ = await _wecom_tenant(client, make_tenant, make_user)
    _, rep_token = await make_user(tenant, "rep")
    page = "https://crm.example.com/h5/leads?id=7"

    first = ok(
        await client.get(
            "/api/v1/wecom/jsapi-signature", params={"url": page + "#/visit"}, headers=bearer(rep_token)
        )
    )
    second = ok(
        await client.get("/api/v1/wecom/jsapi-signature", params={"url": page}, headers=bearer(rep_token))
    )

    assert first["corp_id"] == APP["corp_id"]
    assert first["agent_id"] == APP["agent_id"]
    assert first["timestamp"] == int(clock.now.timestamp())
    assert first["signature"] == _expected_signature("ticket-1", first, page)
    assert second["signature"] == _expected_signature("ticket-1", second, page)
    assert first["nonce_str"] != second["nonce_str"]
    assert wecom.tickets_issued == 1


async def test_the_ticket_is_fetched_again_before_it_expires(client, make_tenant, make_user, wecom, clock):
    tenant, _, _ = await _wecom_tenant(client, make_tenant, make_user)
    page = "https://crm.example.com/h5/"
    ok(await client.get("/api/v1/wecom/jsapi-signature", params={"url": page}, headers=tenant.headers))

    clock.advance(seconds=TICKET_LIFETIME - 60)  # within the renewal margin, before the expiry
    renewed = ok(
        await client.get("/api/v1/wecom/jsapi-signature", params={"url": page}, headers=tenant.headers)
    )

    assert wecom.tickets_issued == 2
    assert renewed["signature"] == _expected_signature("ticket-2", renewed, page)


async def test_the_jsapi_signature_refuses_a_relative_url_and_needs_a_configured_app(client, make_tenant):
    tenant = await make_tenant()

    relative = await client.get(
        "/api/v1/wecom/jsapi-signature", params={"url": "/h5/"}, headers=tenant.headers
    )
    unconfigured = await client.get(
        "/api/v1/wecom/jsapi-signature", params={"url": "https://crm.example.com/"}, headers=tenant.headers
    )
    anonymous = await client.get("/api/v1/wecom/jsapi-signature", params={"url": "https://crm.example.com/"})

    assert relative.status_code == 422
    assert [error["field"] for error in relative.json()["errors"]] == ["url"]
    assert unconfigured.status_code == 409
    assert unconfigured.json()["code"] == "wecom.not_configured"
    assert anonymous.status_code == 401


async def test_a_wecom_account_belongs_to_one_user_of_an_organization(client, make_tenant, make_user):
    tenant, rep, _ = await _wecom_tenant(client, make_tenant, make_user)
    other, _ = await make_user(tenant, "rep")
    elsewhere = await make_tenant("Other Co")

    taken = await client.patch(
        f"/api/v1/users/{other['id']}", json={"wecom_userid": "WangFang"}, headers=tenant.headers
    )
    created = await client.post(
        "/api/v1/users",
        json={
            "username": "wf-2",
            "display_name": "WF",
            "password": PASSWORD,
            "role": "rep",
            "wecom_userid": "WangFang",
        },
        headers=tenant.headers,
    )
    same_again = await client.patch(
        f"/api/v1/users/{rep['id']}", json={"wecom_userid": "WangFang"}, headers=tenant.headers
    )

    for refused in (taken, created):
        assert refused.status_code == 409
        assert refused.json()["code"] == "user.wecom_userid_taken"
        assert [error["field"] for error in refused.json()["errors"]] == ["wecom_userid"]
    assert same_again.status_code == 200
    await make_user(elsewhere, "rep", wecom_userid="WangFang")  # another organization's WeCom


async def test_with_redis_the_api_processes_share_one_ticket(settings, clock, engine, redis_url, wecom):
    shared = settings.model_copy(update={"redis_url": redis_url})
    page = {"url": "https://crm.example.com/h5/"}
    async with serving(shared, clock) as (app, http):
        tenant = await new_tenant(app, http)
        ok(await http.put("/api/v1/organization/wecom", json=APP, headers=tenant.headers))
        first = ok(await http.get("/api/v1/wecom/jsapi-signature", params=page, headers=tenant.headers))
    async with serving(shared, clock) as (_, other_process):
        second = ok(
            await other_process.get("/api/v1/wecom/jsapi-signature", params=page, headers=tenant.headers)
        )

    assert wecom.tickets_issued == 1
    assert wecom.tokens_issued == 1
    for answer in (first, second):
        assert answer["signature"] == _expected_signature("ticket-1", answer, page["url"])


async def test_failed_wecom_sign_ins_are_throttled_like_passwords(
    client, make_tenant, make_user, wecom, settings
):
    _, _, slug = await _wecom_tenant(client, make_tenant, make_user)

    answers = [
        await client.post("/api/v1/auth/wecom", json={"code": f"bad-{n}", "organization": slug})
        for n in range(settings.login_failure_limit + 1)
    ]

    assert {answer.status_code for answer in answers[:-1]} == {401}
    assert answers[-1].status_code == 429
    assert "Retry-After" in answers[-1].headers
