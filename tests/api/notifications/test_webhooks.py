"""Webhooks end to end: an event reaches a real local receiver signed per Standard Webhooks, and
the delivery log, 410, retries (a receiver down, then up), replay and the SSRF refusal behave as
an integrator expects."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema_rs
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from werkzeug import Request, Response

from app.services.platform.jobs import JobName, JobRequest
from tests.factories import create_settled_lead, unique_phone


async def _subscribe(client, tenant, url: str, event_types: list[str]) -> dict:
    created = await client.post(
        "/api/v1/webhooks", json={"url": url, "event_types": event_types}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    return created.json()


async def _deliveries(client, tenant, webhook_id: str) -> list[dict]:
    page = await client.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=tenant.headers)
    assert page.status_code == 200, page.text
    return page.json()["items"]


async def test_an_event_reaches_the_receiver_signed_and_is_logged(
    client, app, make_tenant, clock, httpserver: HTTPServer
):
    clock.now = datetime.now(UTC)  # receivers refuse signatures more than five minutes off their clock
    tenant = await make_tenant()
    httpserver.expect_request("/hooks/crm", method="POST").respond_with_data("", status=204)
    webhook = await _subscribe(client, tenant, httpserver.url_for("/hooks/crm"), ["lead.created"])
    assert webhook["secret"].startswith("whsec_")
    listed = await client.get(f"/api/v1/webhooks/{webhook['id']}", headers=tenant.headers)
    assert "secret" not in listed.json()  # shown once, at creation

    lead = await create_settled_lead(client, app, tenant.headers, source="web_form")

    ((request, _),) = httpserver.log
    body = request.get_data()
    verified = Webhook(webhook["secret"]).verify(body, dict(request.headers))
    assert verified["type"] == "lead.created"
    assert verified["data"]["lead_id"] == lead["id"]
    assert "notify_user_ids" not in verified["data"]
    (delivery,) = await _deliveries(client, tenant, webhook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("delivered", 1, 204)
    assert request.headers["webhook-id"] == delivery["event_id"]
    assert json.loads(body)["data"]["source"] == "web_form"


async def test_a_receiver_answering_410_ends_the_subscription(
    client, app, make_tenant, httpserver: HTTPServer
):
    tenant = await make_tenant()
    httpserver.expect_request("/gone", method="POST").respond_with_data("bye", status=410)
    webhook = await _subscribe(client, tenant, httpserver.url_for("/gone"), ["*"])

    await create_settled_lead(client, app, tenant.headers, source="web_form")

    deliveries = await _deliveries(client, tenant, webhook["id"])
    assert {d["status"] for d in deliveries} == {"gone"}
    after = (await client.get(f"/api/v1/webhooks/{webhook['id']}", headers=tenant.headers)).json()
    assert after["is_active"] is False
    assert "410" in after["disabled_reason"]
    replay = await client.post(
        f"/api/v1/webhooks/{webhook['id']}/deliveries/{deliveries[0]['id']}/replay", headers=tenant.headers
    )
    assert replay.status_code == 409
    sent = len(httpserver.log)
    await create_settled_lead(client, app, tenant.headers, source="web_form")
    assert len(httpserver.log) == sent  # a disabled subscription gets nothing new


async def test_a_failing_receiver_is_retried_later_and_a_replay_sends_again(
    client, app, make_tenant, clock, httpserver: HTTPServer
):
    clock.now = datetime.now(UTC)  # the receiver's library refuses messages older than 5 minutes
    tenant = await make_tenant()
    httpserver.expect_oneshot_request("/flaky", method="POST").respond_with_data("oops", status=503)
    webhook = await _subscribe(client, tenant, httpserver.url_for("/flaky"), ["lead.created"])

    await create_settled_lead(client, app, tenant.headers, source="web_form")

    (delivery,) = await _deliveries(client, tenant, webhook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("pending", 1, 503)
    # Full jitter: the retry waits anywhere from 0 to 30 s after the first attempt.
    retry_at = datetime.fromisoformat(delivery["next_attempt_at"])
    assert clock.now <= retry_at <= clock.now + timedelta(seconds=30)
    assert len(httpserver.log) == 1  # not re-sent in the same run
    assert delivery["response_excerpt"] == "oops"

    httpserver.expect_request("/flaky", method="POST").respond_with_data("", status=200)
    replay = await client.post(
        f"/api/v1/webhooks/{webhook['id']}/deliveries/{delivery['id']}/replay", headers=tenant.headers
    )
    assert replay.status_code == 200, replay.text
    await app.state.runtime.queue.drain()
    (again,) = await _deliveries(client, tenant, webhook["id"])
    assert (again["status"], again["last_status_code"]) == ("delivered", 200)
    first, second = (request for request, _ in httpserver.log)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery["event_id"]
    # A resent message is the same message: its event's time and its place in the order.
    sent, resent = (Webhook(webhook["secret"]).verify(r.get_data(), dict(r.headers)) for r in (first, second))
    assert resent == sent
    assert sent["sequence"] == delivery["sequence"] == 1


async def test_destinations_on_metadata_or_link_local_addresses_are_refused(client, make_tenant):
    tenant = await make_tenant()
    for url in ("https://169.254.169.254/latest/meta-data", "https://[fe80::1]/hook", "https://0.0.0.0/hook"):
        refused = await client.post(
            "/api/v1/webhooks", json={"url": url, "event_types": ["*"]}, headers=tenant.headers
        )
        assert refused.status_code == 422, url
        assert refused.json()["code"] == "webhook.destination_refused"


async def test_an_idempotent_replay_of_the_creation_does_not_show_the_secret_again(
    client, make_tenant, httpserver: HTTPServer
):
    tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": "create-erp-hook"}
    body = {"url": httpserver.url_for("/hooks/crm"), "event_types": ["*"]}

    first = await client.post("/api/v1/webhooks", json=body, headers=headers)
    replayed = await client.post("/api/v1/webhooks", json=body, headers=headers)

    assert first.status_code == replayed.status_code == 201
    assert first.json()["secret"].startswith("whsec_")
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == {**first.json(), "secret": None}


def _signatures(request) -> set[str]:
    return set(request.headers["webhook-signature"].split(" "))


def _signature_with(secret: str, request) -> str:
    sent_at = datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), UTC)
    return Webhook(secret).sign(request.headers["webhook-id"], sent_at, request.get_data().decode())


async def test_a_rotated_secret_signs_next_to_the_replaced_one_until_the_overlap_ends(
    client, app, make_tenant, clock, httpserver: HTTPServer
):
    tenant = await make_tenant()
    httpserver.expect_request("/hooks/crm", method="POST").respond_with_data("", status=204)
    webhook = await _subscribe(client, tenant, httpserver.url_for("/hooks/crm"), ["lead.created"])

    rotated = await client.post(
        f"/api/v1/webhooks/{webhook['id']}/rotate-secret",
        json={"overlap_seconds": 3600},
        headers=tenant.headers,
    )

    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["secret"].startswith("whsec_")
    assert new["secret"] != webhook["secret"]
    assert datetime.fromisoformat(new["previous_secret_expires_at"]) == clock.now + timedelta(hours=1)
    assert rotated.headers["ETag"] == f'"{new["version"]}"'
    read = (await client.get(f"/api/v1/webhooks/{webhook['id']}", headers=tenant.headers)).json()
    assert "secret" not in read
    assert read["previous_secret_expires_at"] == new["previous_secret_expires_at"]

    await create_settled_lead(client, app, tenant.headers, source="web_form")
    clock.advance(hours=1)
    await create_settled_lead(client, app, tenant.headers, source="web_form")

    during, after = (request for request, _ in httpserver.log)
    assert _signatures(during) == {
        _signature_with(new["secret"], during),
        _signature_with(webhook["secret"], during),
    }
    assert _signatures(after) == {_signature_with(new["secret"], after)}


async def test_a_rotation_without_overlap_stops_the_old_secret_at_once(
    client, app, make_tenant, httpserver: HTTPServer
):
    tenant = await make_tenant()
    httpserver.expect_request("/hooks/crm", method="POST").respond_with_data("", status=204)
    webhook = await _subscribe(client, tenant, httpserver.url_for("/hooks/crm"), ["lead.created"])
    rotate = f"/api/v1/webhooks/{webhook['id']}/rotate-secret"
    headers = {**tenant.headers, "Idempotency-Key": "leaked-secret"}

    rotated = await client.post(rotate, json={"overlap_seconds": 0}, headers=headers)
    replayed = await client.post(rotate, json={"overlap_seconds": 0}, headers=headers)

    assert rotated.json()["previous_secret_expires_at"] is None
    assert replayed.json() == {**rotated.json(), "secret": None}  # rotated once, shown once
    await create_settled_lead(client, app, tenant.headers, source="web_form")
    ((request, _),) = httpserver.log
    assert _signatures(request) == {_signature_with(rotated.json()["secret"], request)}
    too_long = await client.post(rotate, json={"overlap_seconds": 8 * 86400}, headers=tenant.headers)
    assert too_long.status_code == 422
    unknown = await client.post(
        "/api/v1/webhooks/0b6c1d8e-52a4-4a9e-9a51-7f4d1c2e3b4a/rotate-secret", headers=tenant.headers
    )
    assert unknown.status_code == 404


async def test_a_subscription_to_an_event_type_that_does_not_exist_is_refused(
    client, make_tenant, httpserver: HTTPServer
):
    tenant = await make_tenant()
    refused = await client.post(
        "/api/v1/webhooks",
        json={"url": httpserver.url_for("/hooks"), "event_types": ["lead.assigned", "lead.asigned"]},
        headers=tenant.headers,
    )

    assert refused.status_code == 422
    assert refused.json()["code"] == "webhook.unknown_event_type"
    assert [e["field"] for e in refused.json()["errors"]] == ["event_types"]
    listed = await client.get("/api/v1/webhooks", headers=tenant.headers)
    assert listed.json()["items"] == []


async def test_messages_match_the_documented_schema_carry_the_event_time_and_are_numbered(
    client, app, make_tenant, clock, httpserver: HTTPServer
):
    clock.now = datetime.now(UTC) - timedelta(seconds=90)
    tenant = await make_tenant()
    httpserver.expect_request("/hooks/all", method="POST").respond_with_data("", status=204)
    webhook = await _subscribe(client, tenant, httpserver.url_for("/hooks/all"), ["*"])
    first = await client.post(
        "/api/v1/leads",
        json={"name": "赵敏", "source": "web_form", "phone": unique_phone()},
        headers=tenant.headers,
    )
    happened_at = clock.now
    clock.advance(seconds=60)  # the messages go out a minute after the first event
    await create_settled_lead(client, app, tenant.headers, source="web_form")
    won = await _won_deal(client, tenant)
    await app.state.runtime.queue.drain()
    documented = app.openapi()

    bodies = []
    for request, _ in httpserver.log:
        body = Webhook(webhook["secret"]).verify(request.get_data(), dict(request.headers))
        schema = documented["webhooks"][body["type"]]["post"]["requestBody"]["content"]["application/json"]
        message = documented["components"]["schemas"][schema["schema"]["$ref"].rsplit("/", 1)[1]]
        jsonschema_rs.validator_for(message, validate_formats=True).validate(body)
        bodies.append(body)

    (announced,) = [
        b for b in bodies if b["type"] == "lead.created" and b["data"]["lead_id"] == first.json()["id"]
    ]
    assert datetime.fromisoformat(announced["timestamp"]) == happened_at
    # A receiver books the won deal from the message alone, without calling back.
    (booked,) = [b for b in bodies if b["type"] == "opportunity.won"]
    deal = booked["data"]
    assert (deal["opportunity_id"], deal["amount"], deal["currency"]) == (won["id"], "600000.00", "CNY")
    assert (deal["customer_name"], deal["owner_id"]) == ("申华建材", won["owner_id"])
    assert deal["owner_name"]
    assert datetime.fromisoformat(deal["closed_at"]) == datetime.fromisoformat(won["closed_at"])
    assert sorted(b["sequence"] for b in bodies) == list(range(1, len(bodies) + 1))
    deliveries = await _deliveries(client, tenant, webhook["id"])
    assert sorted(d["sequence"] for d in deliveries) == list(range(1, len(bodies) + 1))


async def _won_deal(client, tenant) -> dict[str, Any]:
    headers = tenant.headers
    customer = await client.post("/api/v1/customers", json={"name": "申华建材"}, headers=headers)
    stages = [
        {"name": "拜访", "kind": "open", "probability": 20},
        {"name": "赢单", "kind": "won", "probability": 100},
        {"name": "输单", "kind": "lost", "probability": 0},
    ]
    pipeline = await client.post(
        "/api/v1/pipelines", json={"name": "直销", "stages": stages}, headers=headers
    )
    deal = await client.post(
        "/api/v1/opportunities",
        json={
            "name": "屋面防水",
            "customer_id": customer.json()["id"],
            "pipeline_id": pipeline.json()["id"],
            "amount": "600000",
        },
        headers=headers,
    )
    won = await client.post(f"/api/v1/opportunities/{deal.json()['id']}/win", json={}, headers=headers)
    assert won.status_code == 200, won.text
    return dict(won.json())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _minute_sweep(app, clock, minutes: float) -> None:
    """Time passes; the in-process runner's sweep sends the deliveries whose retry came due."""
    clock.advance(minutes=minutes)
    await app.state.runtime.queue.enqueue(JobRequest(JobName.send_deliveries, job_id="cron:send_deliveries"))
    await app.state.runtime.queue.drain()


async def test_events_recorded_while_the_receiver_is_down_each_reach_it_once_it_is_up(
    client, app, make_tenant, clock
):
    """The receiver is down for two attempts, then answers 503 to the first request of each event
    (say, it stored the event but failed to answer): every event arrives, and every attempt of
    one event carries its one webhook-id, so the receiver can drop the repeats."""
    tenant = await make_tenant()
    receiver = HTTPServer(host="127.0.0.1", port=_free_port())  # not started: nothing listens yet
    webhook = await _subscribe(client, tenant, receiver.url_for("/hooks/crm"), ["lead.created"])
    leads = [await create_settled_lead(client, app, tenant.headers, source="web_form") for _ in range(3)]
    (attempted,) = {(d["status"], d["attempts"]) for d in await _deliveries(client, tenant, webhook["id"])}
    assert attempted == ("pending", 1)
    await _minute_sweep(app, clock, minutes=0.5)  # the first retry, within 30 s: still down
    (attempted,) = {(d["status"], d["attempts"]) for d in await _deliveries(client, tenant, webhook["id"])}
    assert attempted == ("pending", 2)

    seen: list[Request] = []

    def stored_but_answered_late(request: Request) -> Response:
        seen.append(request)
        repeated = sum(r.headers["webhook-id"] == request.headers["webhook-id"] for r in seen) > 1
        return Response(status=204 if repeated else 503)

    receiver.expect_request("/hooks/crm", method="POST").respond_with_handler(stored_but_answered_late)
    receiver.start()
    try:
        await _minute_sweep(app, clock, minutes=1)  # the second retry, within a minute: 503
        await _minute_sweep(app, clock, minutes=2)  # the third, within two: 204
    finally:
        receiver.stop()

    by_event: dict[str, list[Request]] = {}
    for request in seen:
        by_event.setdefault(request.headers["webhook-id"], []).append(request)
    logged = await _deliveries(client, tenant, webhook["id"])
    assert sorted(by_event) == sorted(d["event_id"] for d in logged)
    assert sorted(json.loads(r[0].get_data())["data"]["lead_id"] for r in by_event.values()) == sorted(
        lead["id"] for lead in leads
    )
    for attempts in by_event.values():
        assert len(attempts) == 2
        first, again = (json.loads(request.get_data()) for request in attempts)
        # A retry is the same message: its event's time and its number in the subscription included.
        assert first == again
        for request in attempts:
            assert _signature_with(webhook["secret"], request) in _signatures(request)
    assert {(d["status"], d["attempts"], d["last_status_code"]) for d in logged} == {("delivered", 4, 204)}
