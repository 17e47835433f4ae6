"""Price floors and discount approval (issue 20, point 5): a quote priced beyond its author's limit
waits for an approver of the right rank, who is notified; it cannot be sent until approved; the
audit trail shows who approved which price."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.api.helpers import bearer, ok
from tests.api.pipelines.test_pipelines import PROJECT, _pipelines, _quote
from tests.factories import create_customer, create_opportunity, create_product, create_team, notifications_of


@dataclass
class Desk:
    tenant: Any
    rep: dict[str, Any]
    rep_headers: dict[str, str]
    supervisor: dict[str, Any]
    supervisor_headers: dict[str, str]
    director_headers: dict[str, str]
    deal_id: str
    product_id: str  # list price 100.00


async def _desk(client: httpx.AsyncClient, make_tenant, make_user, **product: str) -> Desk:
    tenant = await make_tenant()
    rep, rep_token = await make_user(tenant, "rep")
    supervisor, supervisor_token = await make_user(tenant, "supervisor")
    _, director_token = await make_user(tenant, "director")
    await create_team(client, tenant.headers, supervisor, [rep])
    rep_headers = bearer(rep_token)
    customer = await create_customer(client, rep_headers)
    deal = await create_opportunity(
        client,
        rep_headers,
        customer["id"],
        pipeline_id=(await _pipelines(client, rep_headers))[PROJECT]["id"],
    )
    membrane = await create_product(client, tenant.headers, list_price="100.0000")
    if product:
        ok(await client.patch(f"/api/v1/products/{membrane['id']}", json=product, headers=tenant.headers))
    return Desk(
        tenant,
        rep,
        rep_headers,
        supervisor,
        bearer(supervisor_token),
        bearer(director_token),
        deal["id"],
        membrane["id"],
    )


async def _send(client, headers, quote_id: str) -> httpx.Response:
    return await client.post(f"/api/v1/quotes/{quote_id}/status", json={"status": "sent"}, headers=headers)


async def _decide(
    client, headers, quote_id: str, decision: str, reason: str = "年度框架客户"
) -> httpx.Response:
    return await client.post(
        f"/api/v1/quotes/{quote_id}/approval", json={"decision": decision, "reason": reason}, headers=headers
    )


async def test_a_rep_within_their_limit_sends_at_once(client, make_tenant, make_user):
    desk = await _desk(client, make_tenant, make_user)

    quote = ok(await _quote(client, desk.rep_headers, desk.deal_id, (desk.product_id, "90", "10")), 201)

    assert (quote["status"], quote["approval_level"]) == ("draft", None)
    assert ok(await _send(client, desk.rep_headers, quote["id"]))["status"] == "sent"


async def test_the_93_percent_quote_waits_and_cannot_be_sent(client, app, make_tenant, make_user):
    desk = await _desk(client, make_tenant, make_user)

    quote = ok(await _quote(client, desk.rep_headers, desk.deal_id, (desk.product_id, "7", "10")), 201)

    assert (quote["status"], quote["approval_level"]) == ("pending_approval", "admin")
    refused = await _send(client, desk.rep_headers, quote["id"])
    assert refused.status_code == 409
    assert refused.json()["code"] == "quote.approval_pending"
    await app.state.runtime.queue.drain()
    asked = await notifications_of(client, desk.tenant.headers, topic="quote.approval_requested")
    assert [n["data"]["quote_id"] for n in asked] == [quote["id"]]
    assert asked[0]["data"]["max_discount"] == "93%"
    # The rep's supervisor and the director are not enough for 93 %: they are not asked.
    assert await notifications_of(client, desk.supervisor_headers, topic="quote.approval_requested") == []
    too_low = await _decide(client, desk.director_headers, quote["id"], "approved")
    assert too_low.status_code == 403
    assert too_low.json()["code"] == "quote.approval_forbidden"


async def test_the_supervisor_approves_a_15_percent_discount_and_the_rep_sends_it(
    client, app, make_tenant, make_user
):
    desk = await _desk(client, make_tenant, make_user)
    quote = ok(await _quote(client, desk.rep_headers, desk.deal_id, (desk.product_id, "85", "10")), 201)
    assert (quote["status"], quote["approval_level"]) == ("pending_approval", "supervisor")
    await app.state.runtime.queue.drain()
    asked = await notifications_of(client, desk.supervisor_headers, topic="quote.approval_requested")
    assert [n["data"]["approver_role"] for n in asked] == ["supervisor"]

    self_approval = await _decide(client, desk.rep_headers, quote["id"], "approved")
    approved = ok(await _decide(client, desk.supervisor_headers, quote["id"], "approved", "战略客户首单"))

    assert self_approval.status_code == 403
    assert approved["status"] == "draft"
    assert (approved["approval_decision"], approved["approval_reason"]) == ("approved", "战略客户首单")
    assert approved["approval_decided_by_id"] == desk.supervisor["id"]
    assert ok(await _send(client, desk.rep_headers, quote["id"]))["status"] == "sent"
    await app.state.runtime.queue.drain()
    told = await notifications_of(client, desk.rep_headers, topic="quote.approval_decided")
    assert [n["data"]["decision"] for n in told] == ["approved"]
    audit = ok(
        await client.get(
            "/api/v1/audit-events", params={"entity_id": quote["id"]}, headers=desk.tenant.headers
        )
    )["items"]
    decided = [event for event in audit if event["action"] == "quote.prices_approved"]
    assert decided[0]["actor_id"] == desk.supervisor["id"]
    assert decided[0]["after"]["lines"][0]["unit_price"] == "85.0000"


async def test_rejected_prices_must_change_before_the_quote_goes_out(client, make_tenant, make_user, clock):
    desk = await _desk(client, make_tenant, make_user)
    quote = ok(await _quote(client, desk.rep_headers, desk.deal_id, (desk.product_id, "85", "10")), 201)
    clock.advance(minutes=5)

    rejected = ok(await _decide(client, desk.supervisor_headers, quote["id"], "rejected", "低于成本"))
    refused = await _send(client, desk.rep_headers, quote["id"])
    again = await _decide(client, desk.supervisor_headers, quote["id"], "approved")

    assert (rejected["status"], rejected["approval_decision"]) == ("draft", "rejected")
    assert refused.status_code == 409
    assert refused.json()["code"] == "quote.approval_rejected"
    assert again.status_code == 409
    assert again.json()["code"] == "quote.not_pending_approval"

    clock.advance(minutes=5)
    revised = ok(
        await client.put(
            f"/api/v1/quotes/{quote['id']}/lines",
            json={"lines": [{"product_id": desk.product_id, "unit_price": "92", "quantity": "10"}]},
            headers=desk.rep_headers,
        )
    )
    assert (revised["status"], revised["approval_level"], revised["approval_decision"]) == (
        "draft",
        None,
        None,
    )
    assert ok(await _send(client, desk.rep_headers, quote["id"]))["status"] == "sent"

    history = ok(await client.get(f"/api/v1/quotes/{quote['id']}/price-history", headers=desk.rep_headers))
    assert [(row["action"], row["actor_id"]) for row in history["items"]] == [
        ("quote.created", desk.rep["id"]),
        ("quote.prices_rejected", desk.supervisor["id"]),
        ("quote.prices_changed", desk.rep["id"]),
    ]
    assert [row["after"]["lines"][0]["unit_price"] for row in history["items"]] == [
        "85.0000",
        "85.0000",
        "92.0000",
    ]
    assert (await client.get("/api/v1/audit-events", headers=desk.rep_headers)).status_code == 403


async def test_below_the_floor_price_a_director_must_approve(client, make_tenant, make_user):
    desk = await _desk(client, make_tenant, make_user, floor_price="95.0000")

    quote = ok(await _quote(client, desk.rep_headers, desk.deal_id, (desk.product_id, "94", "10")), 201)

    assert (quote["status"], quote["approval_level"]) == ("pending_approval", "director")
    assert (await _decide(client, desk.supervisor_headers, quote["id"], "approved")).status_code == 403
    assert (
        ok(await _decide(client, desk.director_headers, quote["id"], "approved"))["approval_decision"]
        == "approved"
    )
    product = ok(await client.get(f"/api/v1/products/{desk.product_id}", headers=desk.tenant.headers))
    assert product["floor_price"] == "95.0000"


async def test_the_limits_are_the_organizations(client, make_tenant, make_user):
    desk = await _desk(client, make_tenant, make_user)
    ok(
        await client.patch(
            "/api/v1/organization",
            json={"settings": {"quote_approval": {"max_discount": {"rep": "0.2"}}}},
            headers=desk.tenant.headers,
        )
    )

    quote = ok(await _quote(client, desk.rep_headers, desk.deal_id, (desk.product_id, "85", "10")), 201)

    assert (quote["status"], quote["approval_level"]) == ("draft", None)
    bad = await client.patch(
        "/api/v1/organization",
        json={"settings": {"quote_approval": {"max_discount": {"rep": "0.5"}}}},
        headers=desk.tenant.headers,
    )
    assert bad.status_code == 422
