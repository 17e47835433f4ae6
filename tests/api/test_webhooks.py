"""Webhooks end to end: an event reaches a real local receiver signed per Standard Webhooks, and
the delivery log, 410, retries, replay and the SSRF refusal behave as an integrator expects."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook

_phones = itertools.count(13600000000)


async def _subscribe(client, tenant, url: str, event_types: list[str]) -> dict:
    created = await client.post(
        "/api/v1/webhooks", json={"url": url, "event_types": event_types}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    return created.json()


async def _new_lead(client, app, tenant) -> dict:
    lead = await client.post(
        "/api/v1/leads",
        json={"name": "赵敏", "source": "web_form", "phone": str(next(_phones))},
        headers=tenant.headers,
    )
    assert lead.status_code == 201, lead.text
    await app.state.runtime.queue.drain()
    return lead.json()


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

    lead = await _new_lead(client, app, tenant)

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

    await _new_lead(client, app, tenant)

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
    await _new_lead(client, app, tenant)
    assert len(httpserver.log) == sent  # a disabled subscription gets nothing new


async def test_a_failing_receiver_is_retried_later_and_a_replay_sends_again(
    client, app, make_tenant, clock, httpserver: HTTPServer
):
    tenant = await make_tenant()
    httpserver.expect_oneshot_request("/flaky", method="POST").respond_with_data("oops", status=503)
    webhook = await _subscribe(client, tenant, httpserver.url_for("/flaky"), ["lead.created"])

    await _new_lead(client, app, tenant)

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


async def test_destinations_on_metadata_or_link_local_addresses_are_refused(client, make_tenant):
    tenant = await make_tenant()
    for url in ("https://169.254.169.254/latest/meta-data", "https://[fe80::1]/hook", "https://0.0.0.0/hook"):
        refused = await client.post(
            "/api/v1/webhooks", json={"url": url, "event_types": ["*"]}, headers=tenant.headers
        )
        assert refused.status_code == 422, url
        assert refused.json()["code"] == "webhook.destination_refused"
