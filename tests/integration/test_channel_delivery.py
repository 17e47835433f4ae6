"""Channel delivery against a real local HTTP receiver standing in for WeCom, DingTalk and webhook
subscribers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from werkzeug import Request, Response

from app.domain.notifications.channels import Outcome
from app.domain.notifications.notifications import RenderedMessage
from app.domain.platform.errors import InvalidInput
from app.services.notifications.channel_delivery import ChannelClient, WebhookMessage, check_url, resolve_host

SECRET = "whsec_" + base64.b64encode(b"a 32-byte secret for the tests!!").decode()
MESSAGE = RenderedMessage(title="新线索：张三", body="线索 张三（华东贸易）已分配给您。")


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    # Bound to 127.0.0.1 rather than "localhost", so the URL names the address the SSRF check sees.
    httpserver = HTTPServer(host="127.0.0.1", port=0)
    httpserver.start()
    yield httpserver
    httpserver.clear()
    if httpserver.is_running():
        httpserver.stop()


@pytest.fixture
def receiver(server: HTTPServer) -> Iterator[HTTPServer]:
    server.clear()
    yield server
    server.clear()


@pytest.fixture
def base_url(receiver: HTTPServer) -> str:
    return f"http://127.0.0.1:{receiver.port}"


@pytest.fixture
async def client() -> AsyncIterator[ChannelClient]:
    channel_client = ChannelClient(allow_private=True)
    yield channel_client
    await channel_client.aclose()


def _message(data: dict | None = None) -> WebhookMessage:
    return WebhookMessage("evt_1", "t", datetime.now(UTC), 1, data or {})


def json_response(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


# --- webhooks ---


async def test_webhook_signature_verifies_at_the_receiver_and_carries_the_payload(client, receiver, base_url):
    received: list[Request] = []

    def handler(request: Request) -> Response:
        received.append(request)
        return Response(status=204)

    receiver.expect_request("/hooks/crm", method="POST").respond_with_handler(handler)
    event_id = str(uuid.uuid4())
    payload = {"lead_id": "L-1", "name": "张三", "amount": "12000.00"}
    now = datetime.now(UTC)
    occurred_at = datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=UTC)
    message = WebhookMessage(event_id, "lead.assigned", occurred_at, 7, payload)

    result = await client.send_webhook(f"{base_url}/hooks/crm", [SECRET], message, now)

    assert result.outcome is Outcome.delivered
    assert result.status_code == 204
    assert result.error is None
    [request] = received
    headers = dict(request.headers)
    assert request.headers["webhook-id"] == event_id
    assert request.headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert request.headers["content-type"] == "application/json"
    verified = Webhook(SECRET).verify(request.get_data(), headers)
    assert verified["type"] == "lead.assigned"
    assert verified["data"] == payload
    # The body's timestamp is the event's time; the header's, this attempt's.
    assert verified["timestamp"] == "2026-12-06T01:02:03.456789Z"
    assert verified["sequence"] == 7
    other_secret = "whsec_" + base64.b64encode(b"another secret of thirty-two b!!").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other_secret).verify(request.get_data(), headers)


async def test_webhook_during_a_secret_rotation_verifies_with_either_secret(client, receiver, base_url):
    received: list[Request] = []
    receiver.expect_request("/h").respond_with_handler(lambda r: received.append(r) or Response(status=204))
    previous = "whsec_" + base64.b64encode(b"the secret before the rotation!!").decode()

    result = await client.send_webhook(
        f"{base_url}/h", [SECRET, previous], _message(data={"n": 1}), datetime.now(UTC)
    )

    assert result.outcome is Outcome.delivered
    [request] = received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, previous):
        assert Webhook(secret).verify(request.get_data(), dict(request.headers))["data"] == {"n": 1}


async def test_webhook_timestamp_of_a_non_utc_clock_still_verifies(client, receiver, base_url):
    # standardwebhooks replaces the tzinfo instead of converting; a Shanghai time must not shift by 8 h.
    received: list[Request] = []
    receiver.expect_request("/h").respond_with_handler(lambda r: received.append(r) or Response(status=200))
    now = datetime.now(timezone(timedelta(hours=8)))

    result = await client.send_webhook(f"{base_url}/h", [SECRET], _message(), now)

    assert result.outcome is Outcome.delivered
    [request] = received
    Webhook(SECRET).verify(request.get_data(), dict(request.headers))


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (410, Outcome.gone),
        (500, Outcome.retry),
        (503, Outcome.retry),
        (429, Outcome.retry),
        (400, Outcome.failed),
    ],
)
async def test_webhook_status_decides_the_outcome(client, receiver, base_url, status, outcome):
    receiver.expect_request("/h").respond_with_data("receiver says no", status=status)

    result = await client.send_webhook(f"{base_url}/h", [SECRET], _message(), datetime.now(UTC))

    assert result.outcome is outcome
    assert result.status_code == status
    assert result.response_excerpt == "receiver says no"
    assert result.error == f"HTTP {status}"


async def test_webhook_redirect_is_not_followed(client, receiver, base_url):
    receiver.expect_request("/h").respond_with_data(
        "", status=307, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    receiver.expect_request("/elsewhere").respond_with_data("reached")

    result = await client.send_webhook(f"{base_url}/h", [SECRET], _message(), datetime.now(UTC))

    assert result.outcome is Outcome.failed
    assert result.status_code == 307
    assert [entry[0].path for entry in receiver.log] == ["/h"]


async def test_webhook_to_a_loopback_receiver_is_refused_without_allow_private(receiver, base_url):
    receiver.expect_request("/h").respond_with_data("", status=204)
    async with ChannelClient(allow_private=False) as strict:
        result = await strict.send_webhook(f"{base_url}/h", [SECRET], _message(), datetime.now(UTC))

    assert result.outcome is Outcome.failed
    assert result.status_code is None
    assert "refused" in (result.error or "")
    assert receiver.log == []


async def test_webhook_answer_excerpt_is_the_first_500_characters(client, receiver, base_url):
    receiver.expect_request("/h").respond_with_data("错" * 5000, status=500)

    result = await client.send_webhook(f"{base_url}/h", [SECRET], _message(), datetime.now(UTC))

    assert result.response_excerpt == "错" * 500
    assert result.duration_ms >= 0


async def test_webhook_to_a_closed_port_is_retried(client):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = await client.send_webhook(f"http://127.0.0.1:{port}/h", [SECRET], _message(), datetime.now(UTC))

    assert result.outcome is Outcome.retry
    assert result.status_code is None
    assert result.error


async def test_check_url_uses_the_resolved_addresses():
    assert "127.0.0.1" in await resolve_host("localhost")
    with pytest.raises(InvalidInput) as caught:
        await check_url("https://localhost/hook", allow_private=False)
    assert caught.value.code == "webhook.destination_refused"
    await check_url("http://localhost:8080/hook", allow_private=True)


# --- DingTalk ---


async def test_dingtalk_receiver_recomputes_the_signature_from_the_secret(client, receiver, base_url):
    secret, token, now_ms = "SEC1234567890abcdef", "robot-token", 1_767_000_000_123
    received: list[Request] = []

    def handler(request: Request) -> Response:
        received.append(request)
        timestamp = request.args["timestamp"]
        expected = base64.b64encode(
            hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
        ).decode()
        if request.args["access_token"] != token or request.args["sign"] != expected:
            return json_response({"errcode": 310000, "errmsg": "sign not match"})
        return json_response({"errcode": 0, "errmsg": "ok"})

    receiver.expect_request("/robot/send", method="POST").respond_with_handler(handler)

    result = await client.send_dingtalk(base_url, token, secret, MESSAGE, now_ms)
    wrong = await client.send_dingtalk(base_url, token, "SECnot-the-secret", MESSAGE, now_ms)

    assert result.outcome is Outcome.delivered, result
    assert received[0].args["timestamp"] == str(now_ms)
    body = received[0].get_json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == MESSAGE.title
    assert wrong.outcome is Outcome.failed
    assert wrong.error == "errcode 310000: sign not match"


async def test_dingtalk_rate_limit_is_retried(client, receiver, base_url):
    receiver.expect_request("/robot/send").respond_with_json({"errcode": 130101, "errmsg": "send too fast"})

    result = await client.send_dingtalk(base_url, "t", "SECx", MESSAGE, 1)

    assert result.outcome is Outcome.retry
    assert result.status_code == 200


# --- WeCom robot ---


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        ({"errcode": 0, "errmsg": "ok"}, Outcome.delivered),
        ({"errcode": 45009, "errmsg": "api freq out of limit"}, Outcome.retry),
        ({"errcode": 93000, "errmsg": "invalid webhook url"}, Outcome.gone),
        ({"errcode": 40008, "errmsg": "invalid message type"}, Outcome.failed),
        ({"ok": True}, Outcome.failed),
    ],
)
async def test_wecom_robot_errcode_decides_the_outcome(client, receiver, base_url, answer, outcome):
    received: list[Request] = []
    receiver.expect_request("/cgi-bin/webhook/send", method="POST").respond_with_handler(
        lambda request: received.append(request) or json_response(answer)
    )

    result = await client.send_wecom_robot(base_url, "robot-key", MESSAGE)

    assert result.outcome is outcome
    assert result.status_code == 200
    [request] = received
    assert request.args["key"] == "robot-key"
    assert request.get_json()["markdown"]["content"].startswith(f"**{MESSAGE.title}**")


async def test_wecom_robot_http_error_is_retried(client, receiver, base_url):
    receiver.expect_request("/cgi-bin/webhook/send").respond_with_data("bad gateway", status=502)

    result = await client.send_wecom_robot(base_url, "k", MESSAGE)

    assert result.outcome is Outcome.retry
    assert result.status_code == 502


# --- WeCom application messages ---


class FakeWeCom:
    """Issues numbered tokens; only the newest is accepted, the way a revoked token stops working."""

    def __init__(self, server: HTTPServer, *, expires_in: int = 7200) -> None:
        self.expires_in = expires_in
        self.issued: list[str] = []
        self.valid: str | None = None
        self.sent: list[dict[str, object]] = []
        self.send_calls = 0
        server.expect_request("/cgi-bin/gettoken", method="GET").respond_with_handler(self.gettoken)
        server.expect_request("/cgi-bin/message/send", method="POST").respond_with_handler(self.send)

    def gettoken(self, request: Request) -> Response:
        if (request.args["corpid"], request.args["corpsecret"]) != ("ww-corp", "app-secret"):
            return json_response({"errcode": 40001, "errmsg": "invalid credential"})
        token = f"token-{len(self.issued) + 1}"
        self.issued.append(token)
        self.valid = token
        return json_response(
            {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.expires_in}
        )

    def send(self, request: Request) -> Response:
        self.send_calls += 1
        if request.args["access_token"] != self.valid:
            return json_response({"errcode": 42001, "errmsg": "access_token expired"})
        self.sent.append(request.get_json())
        return json_response({"errcode": 0, "errmsg": "ok", "invaliduser": ""})

    def revoke(self) -> None:
        self.valid = None


async def test_wecom_app_token_is_fetched_once_for_two_sends(client, receiver, base_url):
    wecom = FakeWeCom(receiver)

    first = await client.send_wecom_app(
        base_url, "ww-corp", "app-secret", 1000002, ["zhangsan", "lisi"], MESSAGE
    )
    second = await client.send_wecom_app(base_url, "ww-corp", "app-secret", 1000002, ["wangwu"], MESSAGE)

    assert (first.outcome, second.outcome) == (Outcome.delivered, Outcome.delivered)
    assert wecom.issued == ["token-1"]
    assert [m["touser"] for m in wecom.sent] == ["zhangsan|lisi", "wangwu"]
    assert wecom.sent[0]["agentid"] == 1000002
    assert wecom.sent[0]["msgtype"] == "markdown"


async def test_wecom_app_expired_token_answer_refreshes_once_and_retries(client, receiver, base_url):
    wecom = FakeWeCom(receiver)
    await client.send_wecom_app(base_url, "ww-corp", "app-secret", 1, ["u"], MESSAGE)
    await client.send_wecom_app(base_url, "ww-corp", "app-secret", 1, ["u"], MESSAGE)
    wecom.revoke()

    result = await client.send_wecom_app(base_url, "ww-corp", "app-secret", 1, ["u"], MESSAGE)

    assert result.outcome is Outcome.delivered
    assert wecom.issued == ["token-1", "token-2"]
    assert wecom.send_calls == 4  # two sends, the refused one, its retry
    assert len(wecom.sent) == 3


async def test_wecom_app_refreshes_only_once_when_the_new_token_is_refused_too(client, receiver, base_url):
    wecom = FakeWeCom(receiver)
    receiver.clear()
    receiver.expect_request("/cgi-bin/gettoken").respond_with_handler(wecom.gettoken)
    receiver.expect_request("/cgi-bin/message/send").respond_with_json(
        {"errcode": 40014, "errmsg": "invalid access_token"}
    )

    result = await client.send_wecom_app(base_url, "ww-corp", "app-secret", 1, ["u"], MESSAGE)

    assert result.outcome is Outcome.retry
    assert result.error == "errcode 40014: invalid access_token"
    assert wecom.issued == ["token-1", "token-2"]


async def test_wecom_app_token_is_renewed_five_minutes_before_it_expires(receiver, base_url):
    wecom = FakeWeCom(receiver, expires_in=7200)
    now = [1000.0]
    async with ChannelClient(allow_private=True, clock=lambda: now[0]) as client:
        await client.send_wecom_app(base_url, "ww-corp", "app-secret", 1, ["u"], MESSAGE)
        now[0] += 7200 - 300 - 1
        await client.send_wecom_app(base_url, "ww-corp", "app-secret", 1, ["u"], MESSAGE)
        assert wecom.issued == ["token-1"]
        now[0] += 1
        await client.send_wecom_app(base_url, "ww-corp", "app-secret", 1, ["u"], MESSAGE)
    assert wecom.issued == ["token-1", "token-2"]
    assert wecom.send_calls == 3  # renewed ahead of time, so no send was refused


async def test_wecom_app_tokens_are_cached_per_corp_and_secret(client, receiver, base_url):
    wecom = FakeWeCom(receiver)

    await client.send_wecom_app(base_url, "ww-corp", "app-secret", 1, ["u"], MESSAGE)
    other = await client.send_wecom_app(base_url, "ww-corp", "other-secret", 1, ["u"], MESSAGE)

    assert other.outcome is Outcome.failed
    assert other.error == "gettoken: errcode 40001: invalid credential"
    assert "other-secret" not in other.response_excerpt
    assert wecom.issued == ["token-1"]
    assert wecom.send_calls == 1


async def test_wecom_app_without_recipients_fails_without_calling_wecom(client, receiver, base_url):
    wecom = FakeWeCom(receiver)

    result = await client.send_wecom_app(base_url, "ww-corp", "app-secret", 1, [], MESSAGE)

    assert result.outcome is Outcome.failed
    assert wecom.issued == []
    assert receiver.log == []
