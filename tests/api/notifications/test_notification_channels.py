"""Notification channels end to end: events reach a real local receiver standing in for WeCom and
DingTalk, in the organization's language, with the WeCom token cached and refreshed, the DingTalk
signature checked independently, retries, dead letters, the delivery log, replay and the SSRF refusal."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from app.domain.notifications.channels import MAX_ATTEMPTS
from app.services.notifications.deliveries import deliver_job
from tests.conftest import sign_in
from tests.factories import create_settled_lead

# What the message texts show of a new lead besides its name.
_SHOWN_IN_TEXTS = {"company": "华东建材", "source": "web_form"}
ROBOT_KEY = "693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa"
WECOM_APP = {"corp_id": "ww-corp", "secret": "app-secret-0123456789", "agent_id": 1000002}
DINGTALK_TOKEN = "4b1c0f9e8d7c6b5a4b1c0f9e8d7c6b5a"
DINGTALK_SECRET = "SEC6a8f1d2c3b4a5e6f7a8b9c0d1e2f3a4b5c6d7e8f9"
# WeCom's answer as it comes: long enough to overflow a column if copied whole.
WECOM_INVALID_URL = (
    "invalid webhook url, hint: [1755605200056773468916791], from ip: 203.0.113.7, "
    "more info at https://open.work.weixin.qq.com/devtool/query?e=93000"
)


@pytest.fixture
def allow_private() -> bool:
    return True


@pytest.fixture
def settings(settings, httpserver: HTTPServer, allow_private: bool):
    """WeCom and DingTalk are the local receiver, under their own path prefixes."""
    return settings.model_copy(
        update={
            "wecom_base_url": httpserver.url_for("/wecom"),
            "dingtalk_base_url": httpserver.url_for("/dingtalk"),
            "webhook_allow_private": allow_private,
        }
    )


def json_response(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def errcode_ok(request: Request) -> Response:
    return json_response({"errcode": 0, "errmsg": "ok"})


class FakeWeCom:
    """gettoken issues numbered tokens; message/send accepts only the newest, as after a revocation."""

    def __init__(self, server: HTTPServer) -> None:
        self.issued: list[str] = []
        self.valid: str | None = None
        self.sent: list[dict[str, object]] = []
        server.expect_request("/wecom/cgi-bin/gettoken", method="GET").respond_with_handler(self.gettoken)
        server.expect_request("/wecom/cgi-bin/message/send", method="POST").respond_with_handler(self.send)

    def gettoken(self, request: Request) -> Response:
        if (request.args["corpid"], request.args["corpsecret"]) != (
            WECOM_APP["corp_id"],
            WECOM_APP["secret"],
        ):
            return json_response({"errcode": 40001, "errmsg": "invalid credential"})
        self.valid = f"token-{len(self.issued) + 1}"
        self.issued.append(self.valid)
        return json_response({"errcode": 0, "errmsg": "ok", "access_token": self.valid, "expires_in": 7200})

    def send(self, request: Request) -> Response:
        if request.args["access_token"] != self.valid:
            return json_response({"errcode": 42001, "errmsg": "access_token expired"})
        self.sent.append(request.get_json())
        return json_response({"errcode": 0, "errmsg": "ok"})


async def _create_channel(client, tenant, kind: str, config: dict, event_types: list[str]) -> dict:
    created = await client.post(
        "/api/v1/notification-channels",
        json={"name": f"{kind} 群", "kind": kind, "config": config, "event_types": event_types},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    return created.json()


async def _assign(client, app, tenant, lead_id: str, user_id: str) -> None:
    assigned = await client.post(
        f"/api/v1/leads/{lead_id}/assign",
        json={"user_id": user_id, "reason": "客户指定对接人"},
        headers=tenant.headers,
    )
    assert assigned.status_code == 200, assigned.text
    await app.state.runtime.queue.drain()


async def _deliveries(client, tenant, channel_id: str) -> list[dict]:
    page = await client.get(f"/api/v1/notification-channels/{channel_id}/deliveries", headers=tenant.headers)
    assert page.status_code == 200, page.text
    return page.json()["items"]


async def _run_deliveries(app) -> None:
    await app.state.runtime.queue.enqueue(deliver_job())
    await app.state.runtime.queue.drain()


async def test_a_wecom_robot_gets_markdown_in_the_organization_language(
    client, app, make_tenant, httpserver: HTTPServer
):
    tenant = await make_tenant()
    received: list[Request] = []
    httpserver.expect_request("/wecom/cgi-bin/webhook/send", method="POST").respond_with_handler(
        lambda request: received.append(request) or errcode_ok(request)
    )
    channel = await _create_channel(client, tenant, "wecom_robot", {"key": ROBOT_KEY}, ["lead.created"])

    await create_settled_lead(client, app, tenant.headers, name="赵敏", **_SHOWN_IN_TEXTS)
    await client.patch("/api/v1/organization", json={"locale": "en"}, headers=tenant.headers)
    await create_settled_lead(client, app, tenant.headers, name="Zhou Ming", **_SHOWN_IN_TEXTS)

    chinese, english = received
    assert chinese.args["key"] == ROBOT_KEY
    assert chinese.get_json() == {
        "msgtype": "markdown",
        "markdown": {"content": "**新线索：赵敏**\n> 新线索 赵敏（华东建材）已录入，来源：web_form。"},
    }
    assert english.get_json()["markdown"]["content"] == (
        "**New lead: Zhou Ming**\n> A new lead Zhou Ming (华东建材) came in from web_form."
    )
    deliveries = await _deliveries(client, tenant, channel["id"])
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in deliveries] == [
        ("delivered", 1, 200),
        ("delivered", 1, 200),
    ]
    assert all(
        d["event_type"] == "lead.created" and '"errcode": 0' in d["response_excerpt"] for d in deliveries
    )
    assert all(d["duration_ms"] is not None and d["last_error"] is None for d in deliveries)


async def test_a_wecom_app_message_reaches_the_owner_with_one_token_refreshed_when_revoked(
    client, app, make_tenant, make_user, httpserver: HTTPServer
):
    tenant = await make_tenant()
    wecom = FakeWeCom(httpserver)
    rep, _ = await make_user(tenant, "rep", wecom_userid="ZhaoMin")
    channel = await _create_channel(client, tenant, "wecom_app", WECOM_APP, ["lead.assigned"])

    for name in ("赵一", "赵二"):
        await _assign(
            client,
            app,
            tenant,
            (await create_settled_lead(client, app, tenant.headers, name=name, **_SHOWN_IN_TEXTS))["id"],
            rep["id"],
        )
    assert wecom.issued == ["token-1"]  # cached across both sends
    wecom.valid = None  # revoked: the next send answers 42001
    await _assign(
        client,
        app,
        tenant,
        (await create_settled_lead(client, app, tenant.headers, name="赵三", **_SHOWN_IN_TEXTS))["id"],
        rep["id"],
    )

    assert wecom.issued == ["token-1", "token-2"]
    assert [m["touser"] for m in wecom.sent] == ["ZhaoMin"] * 3
    first = wecom.sent[0]
    assert (first["msgtype"], first["agentid"]) == ("markdown", 1000002)
    # A person reads it alone, so the text may say "you" (您).
    assert first["markdown"]["content"].startswith("**新线索：赵一**\n> 线索 赵一（华东建材）已分配给您")
    deliveries = await _deliveries(client, tenant, channel["id"])
    assert [d["status"] for d in deliveries] == ["delivered"] * 3


async def test_a_wecom_app_message_nobody_can_receive_is_skipped_and_replays_once_mapped(
    client, app, make_tenant, make_user, httpserver: HTTPServer
):
    tenant = await make_tenant()
    wecom = FakeWeCom(httpserver)
    rep, _ = await make_user(tenant, "rep")
    channel = await _create_channel(client, tenant, "wecom_app", WECOM_APP, ["lead.assigned"])

    await _assign(
        client,
        app,
        tenant,
        (await create_settled_lead(client, app, tenant.headers, name="赵敏", **_SHOWN_IN_TEXTS))["id"],
        rep["id"],
    )

    (skipped,) = await _deliveries(client, tenant, channel["id"])
    assert skipped["status"] == "skipped"
    assert "WeCom user id" in skipped["last_error"]
    assert httpserver.log == []  # not even a token was fetched
    patched = await client.patch(
        f"/api/v1/users/{rep['id']}", json={"wecom_userid": "ZhaoMin"}, headers=tenant.headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["wecom_userid"] == "ZhaoMin"
    replay = await client.post(
        f"/api/v1/notification-channels/{channel['id']}/deliveries/{skipped['id']}/replay",
        headers=tenant.headers,
    )
    assert replay.status_code == 200, replay.text
    await app.state.runtime.queue.drain()
    (delivered,) = await _deliveries(client, tenant, channel["id"])
    assert delivered["status"] == "delivered"
    assert [m["touser"] for m in wecom.sent] == ["ZhaoMin"]


async def test_a_dingtalk_robot_signs_each_message_as_dingtalk_verifies_it(
    client, app, make_tenant, make_user, clock, httpserver: HTTPServer
):
    tenant = await make_tenant()
    rep, _ = await make_user(tenant, "rep", display_name="王芳")
    received: list[Request] = []

    def dingtalk(request: Request) -> Response:
        received.append(request)
        # DingTalk's check, written from its documentation rather than from the code under test.
        string_to_sign = f"{request.args['timestamp']}\n{DINGTALK_SECRET}".encode()
        digest = hmac.new(DINGTALK_SECRET.encode(), string_to_sign, hashlib.sha256).digest()
        if request.args["sign"] != base64.b64encode(digest).decode():
            return json_response({"errcode": 310000, "errmsg": "sign not match"})
        return json_response({"errcode": 0, "errmsg": "ok"})

    httpserver.expect_request("/dingtalk/robot/send", method="POST").respond_with_handler(dingtalk)
    channel = await _create_channel(
        client,
        tenant,
        "dingtalk_robot",
        {"access_token": DINGTALK_TOKEN, "secret": DINGTALK_SECRET},
        ["lead.assigned"],
    )

    await _assign(
        client,
        app,
        tenant,
        (await create_settled_lead(client, app, tenant.headers, name="赵敏", **_SHOWN_IN_TEXTS))["id"],
        rep["id"],
    )

    (request,) = received
    assert request.args["access_token"] == DINGTALK_TOKEN
    assert request.args["timestamp"] == str(int(clock.now.timestamp() * 1000))
    body = request.get_json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "线索已分配：赵敏"
    # A group chat reads whom the lead went to instead of "you".
    assert "已分配给 王芳" in body["markdown"]["text"]
    (delivery,) = await _deliveries(client, tenant, channel["id"])
    assert delivery["status"] == "delivered", delivery


async def test_a_failing_receiver_is_retried_until_dead_and_a_replay_delivers(
    client, app, make_tenant, clock, httpserver: HTTPServer
):
    tenant = await make_tenant()
    httpserver.expect_request("/wecom/cgi-bin/webhook/send").respond_with_data("bad gateway", status=502)
    channel = await _create_channel(client, tenant, "wecom_robot", {"key": ROBOT_KEY}, ["lead.created"])

    await create_settled_lead(client, app, tenant.headers, name="赵敏", **_SHOWN_IN_TEXTS)
    (delivery,) = await _deliveries(client, tenant, channel["id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("pending", 1, 502)
    assert delivery["response_excerpt"] == "bad gateway"
    assert delivery["last_error"] == "HTTP 502"
    while delivery["status"] == "pending":
        clock.now = max(clock.now, datetime.fromisoformat(delivery["next_attempt_at"]).astimezone(UTC))
        await _run_deliveries(app)
        tenant.token = await sign_in(client, tenant.admin_username)  # the day of retries outlives a token
        (delivery,) = await _deliveries(client, tenant, channel["id"])

    assert (delivery["status"], delivery["attempts"]) == ("dead", MAX_ATTEMPTS)
    assert len(httpserver.log) == MAX_ATTEMPTS
    httpserver.clear()
    httpserver.expect_request("/wecom/cgi-bin/webhook/send").respond_with_handler(errcode_ok)
    replay = await client.post(
        f"/api/v1/notification-channels/{channel['id']}/deliveries/{delivery['id']}/replay",
        headers=tenant.headers,
    )
    assert replay.status_code == 200, replay.text
    assert (replay.json()["status"], replay.json()["attempts"]) == ("pending", 0)
    await app.state.runtime.queue.drain()
    (delivery,) = await _deliveries(client, tenant, channel["id"])
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 1)


async def test_a_receiver_answering_410_disables_the_channel(
    client, app, make_tenant, httpserver: HTTPServer
):
    tenant = await make_tenant()
    httpserver.expect_request("/wecom/cgi-bin/webhook/send").respond_with_data("", status=410)
    channel = await _create_channel(client, tenant, "wecom_robot", {"key": ROBOT_KEY}, ["*"])

    await create_settled_lead(client, app, tenant.headers, name="赵敏", **_SHOWN_IN_TEXTS)

    deliveries = await _deliveries(client, tenant, channel["id"])
    assert {d["status"] for d in deliveries} == {"gone"}
    after = (
        await client.get(f"/api/v1/notification-channels/{channel['id']}", headers=tenant.headers)
    ).json()
    assert after["is_active"] is False
    assert "410" in after["disabled_reason"]
    replay = await client.post(
        f"/api/v1/notification-channels/{channel['id']}/deliveries/{deliveries[0]['id']}/replay",
        headers=tenant.headers,
    )
    assert replay.status_code == 409
    assert replay.json()["code"] == "notification_channel.disabled"


@pytest.mark.parametrize(
    ("kind", "config", "path", "answer"),
    [
        ("wecom_robot", {"key": ROBOT_KEY}, "/wecom/cgi-bin/webhook/send", (93000, WECOM_INVALID_URL)),
        (
            "dingtalk_robot",
            {"access_token": DINGTALK_TOKEN, "secret": DINGTALK_SECRET},
            "/dingtalk/robot/send",
            (300001, "token is not exist"),
        ),
    ],
)
async def test_a_removed_robot_disables_its_channel_after_one_attempt(
    client, app, make_tenant, httpserver: HTTPServer, kind, config, path, answer
):
    tenant = await make_tenant()
    errcode, errmsg = answer
    httpserver.expect_request(path).respond_with_json({"errcode": errcode, "errmsg": errmsg})
    channel = await _create_channel(client, tenant, kind, config, ["lead.created"])

    await create_settled_lead(client, app, tenant.headers, name="赵敏", **_SHOWN_IN_TEXTS)
    await create_settled_lead(client, app, tenant.headers, name="周芷若", **_SHOWN_IN_TEXTS)

    (delivery,) = await _deliveries(client, tenant, channel["id"])
    assert (delivery["status"], delivery["attempts"]) == ("gone", 1)
    assert delivery["last_error"] == f"errcode {errcode}: {errmsg}"
    after = (
        await client.get(f"/api/v1/notification-channels/{channel['id']}", headers=tenant.headers)
    ).json()
    assert after["is_active"] is False
    assert after["disabled_reason"].startswith(f"the receiver answered errcode {errcode}: {errmsg[:20]}")
    assert len(after["disabled_reason"]) <= 200  # the column's size, which SQLite does not enforce
    assert len(httpserver.log) == 1


@pytest.mark.parametrize("allow_private", [False])
async def test_a_private_address_is_refused_unless_private_destinations_are_allowed(
    client, app, make_tenant, httpserver: HTTPServer
):
    tenant = await make_tenant()
    httpserver.expect_request("/wecom/cgi-bin/webhook/send").respond_with_handler(errcode_ok)
    channel = await _create_channel(client, tenant, "wecom_robot", {"key": ROBOT_KEY}, ["lead.created"])

    await create_settled_lead(client, app, tenant.headers, name="赵敏", **_SHOWN_IN_TEXTS)

    (delivery,) = await _deliveries(client, tenant, channel["id"])
    assert delivery["status"] == "dead"
    # Plain http to a loopback receiver: refused for the scheme before the address is looked at.
    assert delivery["last_error"] == "The webhook URL is refused: the URL must use https"
    assert delivery["last_status_code"] is None
    assert httpserver.log == []


async def test_secrets_are_write_only_and_config_changes_keep_the_kind(client, make_tenant, make_user):
    tenant = await make_tenant()
    channel = await _create_channel(
        client,
        tenant,
        "dingtalk_robot",
        {"access_token": DINGTALK_TOKEN, "secret": DINGTALK_SECRET},
        ["sla.breached", "sla.breached", "opportunity.won"],
    )
    assert channel["config"] == {}
    assert channel["secret_hints"] == {"access_token": "…6b5a", "secret": "…e8f9"}
    assert channel["event_types"] == ["sla.breached", "opportunity.won"]
    read = await client.get(f"/api/v1/notification-channels/{channel['id']}", headers=tenant.headers)
    listed = await client.get("/api/v1/notification-channels", headers=tenant.headers)
    for text in (read.text, listed.text):
        assert DINGTALK_TOKEN not in text
        assert DINGTALK_SECRET not in text

    wrong_kind = await client.patch(
        f"/api/v1/notification-channels/{channel['id']}",
        json={"config": {"key": ROBOT_KEY}},
        headers=tenant.headers,
    )
    assert wrong_kind.status_code == 422
    assert wrong_kind.json()["code"] == "notification_channel.config_kind_mismatch"
    unsigned = await client.patch(
        f"/api/v1/notification-channels/{channel['id']}",
        json={"config": {"access_token": "another-token-0123456789"}},
        headers={**tenant.headers, "If-Match": read.headers["etag"]},
    )
    assert unsigned.status_code == 200, unsigned.text
    assert unsigned.json()["secret_hints"] == {"access_token": "…6789"}

    unknown = await client.post(
        "/api/v1/notification-channels",
        json={
            "name": "x",
            "kind": "wecom_robot",
            "config": {"key": ROBOT_KEY},
            "event_types": ["lead.creatd"],
        },
        headers=tenant.headers,
    )
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "notification_channel.unknown_event_type"
    for bad in (
        {"name": "x", "kind": "slack", "config": {"key": ROBOT_KEY}, "event_types": ["*"]},
        {"name": "x", "kind": "wecom_app", "config": {"corp_id": "ww"}, "event_types": ["*"]},
        {"name": "x", "kind": "wecom_robot", "config": {"key": "has spaces in it"}, "event_types": ["*"]},
    ):
        refused = await client.post("/api/v1/notification-channels", json=bad, headers=tenant.headers)
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"] == "application/problem+json"

    _, rep_token = await make_user(tenant, "rep")
    as_rep = await client.get(
        "/api/v1/notification-channels", headers={"Authorization": f"Bearer {rep_token}"}
    )
    assert as_rep.status_code == 403
    other = await make_tenant("Other")
    hidden = await client.get(f"/api/v1/notification-channels/{channel['id']}", headers=other.headers)
    assert hidden.status_code == 404
    deleted = await client.delete(f"/api/v1/notification-channels/{channel['id']}", headers=tenant.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/v1/notification-channels/{channel['id']}", headers=tenant.headers)
    assert gone.status_code == 404


async def test_a_wecom_userid_is_validated(client, make_tenant, make_user):
    tenant = await make_tenant()
    rep, _ = await make_user(tenant, "rep")
    for bad in ("a|b", "", "x" * 65, "中文"):
        refused = await client.patch(
            f"/api/v1/users/{rep['id']}", json={"wecom_userid": bad}, headers=tenant.headers
        )
        assert refused.status_code == 422, bad
    cleared = await client.patch(
        f"/api/v1/users/{rep['id']}", json={"wecom_userid": None}, headers=tenant.headers
    )
    assert cleared.status_code == 200
    assert cleared.json()["wecom_userid"] is None
