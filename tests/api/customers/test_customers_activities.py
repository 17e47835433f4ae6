"""Customers (codes, tiers, custom fields), activities (offline retries, geo, effectiveness), timeline."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from app.domain.models import AssignmentKind, LeadAssignment, OutboxEvent
from tests.api.helpers import ok


async def test_codes_are_unique_and_sequential_under_concurrency(client, make_tenant):
    tenant = await make_tenant()
    responses = await asyncio.gather(
        *(
            client.post("/api/v1/customers", json={"name": f"客户{i}"}, headers=tenant.headers)
            for i in range(20)
        )
    )
    assert {r.status_code for r in responses} == {201}
    codes = sorted(r.json()["code"] for r in responses)
    assert codes == [f"C{n:06d}" for n in range(1, 21)]
    other = await make_tenant("Other")
    first_elsewhere = await client.post("/api/v1/customers", json={"name": "x"}, headers=other.headers)
    assert first_elsewhere.json()["code"] == "C000001"


async def test_tier_follows_annual_purchase_and_organization_thresholds(client, make_tenant):
    tenant = await make_tenant()
    big = await client.post(
        "/api/v1/customers", json={"name": "大客户", "annual_purchase": "620000"}, headers=tenant.headers
    )
    assert big.json()["tier"] == "A"
    assert big.json()["owner_id"] == str(tenant.admin_id)
    small = await client.post(
        "/api/v1/customers", json={"name": "小客户", "annual_purchase": "20000"}, headers=tenant.headers
    )
    assert small.json()["tier"] == "C"
    await client.patch(
        "/api/v1/organization",
        json={"settings": {"tier_thresholds": {"a_min": "10000", "b_min": "5000"}}},
        headers=tenant.headers,
    )
    updated = await client.patch(
        f"/api/v1/customers/{small.json()['id']}",
        json={"annual_purchase": "20000.00"},
        headers=tenant.headers,
    )
    assert updated.json()["tier"] == "A"


async def test_custom_fields_are_validated_against_the_organization_definition(client, make_tenant):
    tenant = await make_tenant()
    settings = {
        "custom_fields": {
            "customer": [
                {"key": "credit_days", "type": "number", "required": True},
                {"key": "channel", "type": "choice", "options": ["直销", "经销"]},
            ]
        }
    }
    assert (
        await client.patch("/api/v1/organization", json={"settings": settings}, headers=tenant.headers)
    ).status_code == 200
    missing = await client.post("/api/v1/customers", json={"name": "x"}, headers=tenant.headers)
    assert missing.status_code == 422
    assert missing.json()["errors"] == [
        {"field": "custom_fields.credit_days", "code": "missing", "message": "required"}
    ]
    wrong = await client.post(
        "/api/v1/customers",
        json={"name": "x", "custom_fields": {"credit_days": "soon", "channel": "网店", "color": "red"}},
        headers=tenant.headers,
    )
    assert {e["field"] for e in wrong.json()["errors"]} == {
        "custom_fields.credit_days",
        "custom_fields.channel",
        "custom_fields.color",
    }
    ok = await client.post(
        "/api/v1/customers",
        json={"name": "x", "custom_fields": {"credit_days": 30, "channel": "经销"}},
        headers=tenant.headers,
    )
    assert ok.status_code == 201
    assert ok.json()["custom_fields"] == {"credit_days": 30, "channel": "经销"}


async def test_offline_retry_with_the_same_client_id_returns_the_same_activity(client, make_tenant, clock):
    tenant = await make_tenant()
    lead = await client.post(
        "/api/v1/leads",
        json={"name": "王", "source": "phone_400", "phone": "13800138000", "owner_id": str(tenant.admin_id)},
        headers=tenant.headers,
    )
    # The call was made an hour after the assignment, offline; the phone uploads it three hours later.
    clock.advance(hours=4)
    body = {
        "type": "call",
        "occurred_at": (clock.now - timedelta(hours=3)).isoformat(),
        "lead_id": lead.json()["id"],
        "call_outcome": "connected",
        "client_id": "h5-offline-0001",
    }
    first = await client.post("/api/v1/activities", json=body, headers=tenant.headers)
    retries = await asyncio.gather(
        *(client.post("/api/v1/activities", json=body, headers=tenant.headers) for _ in range(5))
    )
    assert first.status_code == 201
    assert {r.status_code for r in retries} == {200}
    assert {r.json()["id"] for r in retries} == {first.json()["id"]}
    listed = await client.get(
        "/api/v1/activities", params={"lead_id": lead.json()["id"]}, headers=tenant.headers
    )
    assert len(listed.json()["items"]) == 1

    refreshed = await client.get(f"/api/v1/leads/{lead.json()['id']}", headers=tenant.headers)
    assert refreshed.json()["status"] == "contacted"
    assert refreshed.json()["first_response_at"] == body["occurred_at"].replace("+00:00", "Z")
    assert first.json()["is_effective"] is True


async def test_activity_rules_future_time_visit_geo_and_effectiveness(client, make_tenant, clock):
    tenant = await make_tenant()
    customer = await client.post(
        "/api/v1/customers",
        json={"name": "申华建材", "latitude": 31.2035, "longitude": 121.5914},
        headers=tenant.headers,
    )
    customer_id = customer.json()["id"]
    future = await client.post(
        "/api/v1/activities",
        json={
            "type": "call",
            "occurred_at": (clock.now + timedelta(minutes=6)).isoformat(),
            "customer_id": customer_id,
        },
        headers=tenant.headers,
    )
    assert future.status_code == 422
    assert future.json()["errors"][0]["field"] == "occurred_at"
    no_geo = await client.post(
        "/api/v1/activities",
        json={"type": "visit", "occurred_at": clock.now.isoformat(), "customer_id": customer_id},
        headers=tenant.headers,
    )
    assert no_geo.status_code == 422
    near = await client.post(
        "/api/v1/activities",
        json={
            "type": "visit",
            "occurred_at": clock.now.isoformat(),
            "customer_id": customer_id,
            "geo": {"lat": 31.2036, "lng": 121.5912, "accuracy_m": 15},
            "info_points": {"needs": "屋面防水", "budget": "60万", "timeline": "3月"},
        },
        headers=tenant.headers,
    )
    assert near.status_code == 201, near.text
    assert near.json()["geo_mismatch"] is False
    assert near.json()["distance_m"] < 50
    assert near.json()["is_effective"] is True
    far = await client.post(
        "/api/v1/activities",
        json={
            "type": "visit",
            "occurred_at": clock.now.isoformat(),
            "customer_id": customer_id,
            "geo": {"lat": 31.3, "lng": 121.5914, "accuracy_m": 15},
            "info_points": {"needs": "only one point"},
        },
        headers=tenant.headers,
    )
    assert far.json()["geo_mismatch"] is True
    assert far.json()["is_effective"] is False
    refreshed = await client.get(f"/api/v1/customers/{customer_id}", headers=tenant.headers)
    assert refreshed.json()["last_follow_up_at"] is not None


async def test_timeline_lists_activities_ownership_changes_and_merged_leads_newest_first(
    client, make_tenant, make_user, clock
):
    tenant = await make_tenant()
    rep, _ = await make_user(tenant, "rep")
    lead = await client.post(
        "/api/v1/leads",
        json={"name": "王", "source": "ad", "phone": "13800138000", "company": "申华"},
        headers=tenant.headers,
    )
    await client.post(
        "/api/v1/activities",
        json={"type": "call", "occurred_at": clock.now.isoformat(), "lead_id": lead.json()["id"]},
        headers=tenant.headers,
    )
    clock.advance(minutes=1)
    converted = await client.post(
        f"/api/v1/leads/{lead.json()['id']}/convert", json={}, headers=tenant.headers
    )
    customer_id = converted.json()["customer"]["id"]
    clock.advance(minutes=1)
    await client.patch(
        f"/api/v1/customers/{customer_id}", json={"owner_id": rep["id"]}, headers=tenant.headers
    )
    clock.advance(minutes=1)
    await client.post(
        "/api/v1/activities",
        json={
            "type": "meeting",
            "occurred_at": clock.now.isoformat(),
            "customer_id": customer_id,
            "notes": "签约沟通",
        },
        headers=tenant.headers,
    )
    kinds = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await client.get(
            f"/api/v1/customers/{customer_id}/timeline", params=params, headers=tenant.headers
        )
        assert page.status_code == 200, page.text
        kinds.extend(item["kind"] for item in page.json()["items"])
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert kinds[:2] == ["activity.meeting", "customer.owner_changed"]
    # Conversion creates the customer and merges the lead in one transaction: same instant.
    assert set(kinds[2:4]) == {"lead.merged", "customer.created"}
    assert kinds[4:] == ["activity.call"]


async def test_handover_moves_everything_and_counts_prove_nothing_is_lost(
    client, app, make_tenant, make_user
):
    tenant = await make_tenant()
    leaving, leaving_token = await make_user(tenant, "rep")
    receiver, receiver_token = await make_user(tenant, "rep")
    auth = {"Authorization": f"Bearer {leaving_token}"}
    for i in range(3):
        await client.post(
            "/api/v1/leads",
            json={"name": f"L{i}", "source": "referral", "phone": f"1380013800{i}"},
            headers=auth,
        )
    closed = await client.post(
        "/api/v1/leads", json={"name": "closed", "source": "referral", "phone": "13900139000"}, headers=auth
    )
    await client.post(f"/api/v1/leads/{closed.json()['id']}/disqualify", json={"reason": "x"}, headers=auth)
    customer_ids = [
        (await client.post("/api/v1/customers", json={"name": f"客户{i}"}, headers=auth)).json()["id"]
        for i in range(2)
    ]
    deals = [
        (
            await client.post(
                "/api/v1/opportunities",
                json={"name": f"项目{i}", "customer_id": customer_ids[0]},
                headers=auth,
            )
        ).json()["id"]
        for i in range(2)
    ]
    lost = await client.post(
        f"/api/v1/opportunities/{deals[1]}/lose",
        json={"reason": "价格过高", "note": "客户选择了报价更低的本地品牌，差价约百分之十五"},
        headers=auth,
    )
    assert lost.status_code == 200, lost.text
    task = await client.post(
        "/api/v1/tasks",
        json={"title": "回访", "due_at": "2026-11-30T10:00:00+08:00", "opportunity_id": deals[0]},
        headers=auth,
    )
    assert task.status_code == 201, task.text

    async def owned(owner: str) -> tuple[int, int]:
        leads = await client.get(
            "/api/v1/leads", params={"owner_id": owner, "limit": 200}, headers=tenant.headers
        )
        customers = await client.get(
            "/api/v1/customers", params={"owner_id": owner, "limit": 200}, headers=tenant.headers
        )
        return len(leads.json()["items"]), len(customers.json()["items"])

    assert await owned(leaving["id"]) == (4, 2)
    assert await owned(receiver["id"]) == (0, 0)
    rep_tries = await client.post(
        f"/api/v1/users/{leaving['id']}/handover", json={"to_user_id": receiver["id"]}, headers=auth
    )
    assert rep_tries.status_code == 403
    result = await client.post(
        f"/api/v1/users/{leaving['id']}/handover",
        json={"to_user_id": receiver["id"], "deactivate": True},
        headers=tenant.headers,
    )
    assert result.status_code == 200, result.text
    assert result.json()["counts"] == {
        "leads": 3,
        "customers": 2,
        "opportunities": 1,
        "tasks": 1,
        "timers": 0,
    }
    receiver_deals = await client.get(
        "/api/v1/opportunities", params={"owner_id": receiver["id"]}, headers=tenant.headers
    )
    assert [d["id"] for d in receiver_deals.json()["items"]] == [deals[0]]  # the lost deal stays as history
    moved_task = await client.get(f"/api/v1/tasks/{task.json()['id']}", headers=tenant.headers)
    assert moved_task.json()["assignee_id"] == receiver["id"]
    assert await owned(leaving["id"]) == (1, 0)  # the disqualified lead stays as history
    assert await owned(receiver["id"]) == (3, 2)
    assert (await client.get("/api/v1/users/me", headers=auth)).status_code == 401
    # Leads change hands as every lead does (the ownership module): audited as assigned, with a
    # history row and a lead.assigned event each, the events notifying nobody (one handover notice).
    audit = await client.get(
        "/api/v1/audit-events", params={"action": "lead.assigned", "limit": 200}, headers=tenant.headers
    )
    handed = [e for e in audit.json()["items"] if e["after"]["kind"] == "handover"]
    assert len(handed) == 3
    assert {e["after"]["owner_id"] for e in handed} == {receiver["id"]}
    async with app.state.runtime.sessionmaker() as session:
        history = (
            await session.scalars(
                select(LeadAssignment).where(LeadAssignment.kind == AssignmentKind.handover)
            )
        ).all()
        events = (
            await session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "lead.assigned"))
        ).all()
    assert {(str(h.previous_user_id), str(h.user_id)) for h in history} == {(leaving["id"], receiver["id"])}
    assert len(history) == 3
    handover_events = [e.payload for e in events if e.payload["kind"] == "handover"]
    assert sorted(p["lead_id"] for p in handover_events) == sorted(str(h.lead_id) for h in history)
    assert all(p["notify_user_ids"] == [] and p["owner_id"] == receiver["id"] for p in handover_events)
    receiver_view = await client.get(
        "/api/v1/customers", headers={"Authorization": f"Bearer {receiver_token}"}
    )
    assert len(receiver_view.json()["items"]) == 2


async def test_audit_trail_is_filterable_and_read_only(client, make_tenant, make_user, clock):
    tenant = await make_tenant()
    customer = await client.post("/api/v1/customers", json={"name": "审计客户"}, headers=tenant.headers)
    clock.advance(seconds=1)
    await client.patch(
        f"/api/v1/customers/{customer.json()['id']}", json={"region": "华南"}, headers=tenant.headers
    )
    trail = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "customer", "entity_id": customer.json()["id"], "sort": "occurred_at"},
        headers=tenant.headers,
    )
    assert [e["action"] for e in trail.json()["items"]] == ["customer.created", "customer.updated"]
    assert trail.json()["items"][1]["before"] == {"region": None}
    assert trail.json()["items"][1]["after"] == {"region": "华南"}
    event_id = trail.json()["items"][0]["id"]
    for method in ("PATCH", "DELETE", "PUT"):
        attempt = await client.request(method, f"/api/v1/audit-events/{event_id}", headers=tenant.headers)
        assert attempt.status_code in (404, 405)
    _, rep_token = await make_user(tenant, "rep")
    forbidden = await client.get("/api/v1/audit-events", headers={"Authorization": f"Bearer {rep_token}"})
    assert forbidden.status_code == 403


async def test_a_deals_activities_list_by_opportunity_id(client, make_tenant, clock):
    tenant = await make_tenant()
    customer = ok(
        await client.post("/api/v1/customers", json={"name": "申华建材"}, headers=tenant.headers), 201
    )
    deals = [
        ok(
            await client.post(
                "/api/v1/opportunities",
                json={"name": name, "customer_id": customer["id"]},
                headers=tenant.headers,
            ),
            201,
        )["id"]
        for name in ("屋面工程", "地下室防水")
    ]
    for deal, notes in ((deals[0], "报价"), (deals[0], "复核"), (deals[1], "初访")):
        body = {"type": "note", "occurred_at": clock.now.isoformat(), "opportunity_id": deal, "notes": notes}
        ok(await client.post("/api/v1/activities", json=body, headers=tenant.headers), 201)

    listed = ok(
        await client.get("/api/v1/activities", params={"opportunity_id": deals[0]}, headers=tenant.headers)
    )

    assert sorted(a["notes"] for a in listed["items"]) == ["复核", "报价"]
    assert {a["opportunity_name"] for a in listed["items"]} == {"屋面工程"}
