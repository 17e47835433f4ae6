"""Activity times and links a rep cannot game (issue 20, points 3 and 4): no call dated years before
the record, no response before the assignment, late entries that only make figures look worse,
and no activity that links one customer's lead or deal to another customer."""

from __future__ import annotations

from datetime import timedelta

from tests.api.helpers import ok
from tests.api.kpis.kpi_helpers import kpi
from tests.conftest import sign_in
from tests.factories import create_assigned_lead, create_lead, create_sla_policy


async def _log(client, tenant, **body: object):
    for key, value in body.items():
        if hasattr(value, "isoformat"):
            body[key] = value.isoformat()
    return await client.post("/api/v1/activities", json={"type": "call", **body}, headers=tenant.headers)


async def _days_later(client, tenant, clock, days: int) -> None:
    clock.advance(days=days)
    tenant.token = await sign_in(client, tenant.admin_username)  # the old token has expired


async def _timers(client, tenant, lead_id: str) -> list[dict]:
    listed = await client.get("/api/v1/sla-timers", params={"subject_id": lead_id}, headers=tenant.headers)
    return ok(listed)["items"]


async def test_a_call_dated_years_before_the_customer_existed_is_refused(client, make_tenant, clock):
    tenant = await make_tenant()
    customer = ok(
        await client.post("/api/v1/customers", json={"name": "申华建设"}, headers=tenant.headers), 201
    )

    refused = await _log(
        client,
        tenant,
        customer_id=customer["id"],
        occurred_at="2020-03-02T02:00:00Z",
        call_outcome="connected",
    )

    assert refused.status_code == 422
    assert refused.json()["code"] == "activity.occurred_before_record"
    assert [e["field"] for e in refused.json()["errors"]] == ["occurred_at"]
    activities = ok(await client.get("/api/v1/activities", headers=tenant.headers))["items"]
    assert activities == []
    refreshed = ok(await client.get(f"/api/v1/customers/{customer['id']}", headers=tenant.headers))
    assert refreshed["last_follow_up_at"] is None


async def test_the_exhibition_meeting_of_this_morning_is_logged_on_the_lead_entered_tonight(
    client, make_tenant, clock
):
    tenant = await make_tenant()
    lead = await create_lead(client, tenant.headers)

    morning = await _log(
        client, tenant, type="meeting", lead_id=lead["id"], occurred_at=clock.now - timedelta(hours=10)
    )
    two_days_before = await _log(
        client, tenant, lead_id=lead["id"], occurred_at=clock.now - timedelta(hours=25)
    )

    assert morning.status_code == 201, morning.text
    assert two_days_before.status_code == 422
    assert two_days_before.json()["code"] == "activity.occurred_before_record"


async def test_the_margin_before_the_record_is_a_setting(client, make_tenant, clock):
    tenant = await make_tenant()
    ok(
        await client.patch(
            "/api/v1/organization",
            json={"settings": {"activity_entry": {"max_hours_before_record": 72}}},
            headers=tenant.headers,
        )
    )
    lead = await create_lead(client, tenant.headers)

    assert (
        await _log(client, tenant, lead_id=lead["id"], occurred_at=clock.now - timedelta(hours=50))
    ).status_code == 201
    assert (
        await _log(client, tenant, lead_id=lead["id"], occurred_at=clock.now - timedelta(hours=73))
    ).status_code == 422


async def test_work_before_the_assignment_is_kept_but_is_no_first_response(client, app, make_tenant, clock):
    tenant = await make_tenant()
    await create_sla_policy(client, tenant.headers, name="首响30分钟")
    clock.advance(hours=1)
    lead = await create_assigned_lead(client, app, tenant.headers, str(tenant.admin_id), reason="展会接待")
    assigned_at = clock.now

    before = await _log(
        client,
        tenant,
        lead_id=lead["id"],
        occurred_at=assigned_at - timedelta(minutes=40),
        call_outcome="connected",
    )

    assert before.status_code == 201, before.text
    refreshed = ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers))
    # A response 40 minutes before the lead was assigned would be a negative response time.
    assert refreshed["first_response_at"] is None
    assert [t["state"] for t in await _timers(client, tenant, lead["id"])] == ["running"]

    clock.advance(minutes=10)
    after = await _log(client, tenant, lead_id=lead["id"], occurred_at=clock.now, call_outcome="connected")

    assert after.status_code == 201
    refreshed = ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers))
    assert refreshed["first_response_at"] == after.json()["occurred_at"]
    assert [t["state"] for t in await _timers(client, tenant, lead["id"])] == ["met"]


async def test_a_late_entry_answers_the_clock_when_it_was_entered_not_when_it_claims(
    client, app, make_tenant, clock
):
    tenant = await make_tenant()
    await create_sla_policy(client, tenant.headers, name="首响30分钟")
    lead = await create_assigned_lead(client, app, tenant.headers, str(tenant.admin_id), reason="展会接待")
    claimed = clock.now + timedelta(minutes=5)
    await _days_later(client, tenant, clock, 3)

    late = await _log(client, tenant, lead_id=lead["id"], occurred_at=claimed, call_outcome="connected")

    assert late.status_code == 201, late.text
    assert late.json()["late_entry"] is True
    assert late.json()["occurred_at"] == claimed.isoformat().replace("+00:00", "Z")
    refreshed = ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers))
    assert refreshed["first_response_at"] == clock.now.isoformat().replace("+00:00", "Z")
    # Recency keeps the true date: a late entry never makes a lead look fresher than it is.
    assert refreshed["last_follow_up_at"] == late.json()["occurred_at"]
    timer = (await _timers(client, tenant, lead["id"]))[0]
    assert timer["stopped_at"] == clock.now.isoformat().replace("+00:00", "Z")

    clock.advance(minutes=1)
    prompt = await _log(client, tenant, lead_id=lead["id"], occurred_at=clock.now - timedelta(hours=47))
    assert prompt.json()["late_entry"] is False


async def test_the_contact_heatmap_leaves_late_entries_out(client, make_tenant, clock):
    tenant = await make_tenant()
    lead = await create_lead(client, tenant.headers, owner_id=str(tenant.admin_id))
    on_time = await _log(client, tenant, lead_id=lead["id"], occurred_at=clock.now, call_outcome="connected")
    claimed = clock.now + timedelta(hours=1)
    await _days_later(client, tenant, clock, 3)
    late = await _log(client, tenant, lead_id=lead["id"], occurred_at=claimed, call_outcome="connected")
    assert (on_time.json()["late_entry"], late.json()["late_entry"]) == (False, True)

    rows = ok(
        await kpi(client, tenant.headers, "contact-heatmap", **{"from": "2026-11-01", "to": "2026-11-30"})
    )["rows"]

    assert [(r["weekday"], r["hour"], r["calls"]) for r in rows] == [(1, 10, 1)]  # Monday 10:00 in Shanghai


async def _converted(client, tenant, name: str) -> tuple[dict, str]:
    lead = await create_lead(client, tenant.headers, company=name)
    converted = ok(await client.post(f"/api/v1/leads/{lead['id']}/convert", json={}, headers=tenant.headers))
    return lead, converted["customer"]["id"]


async def test_an_activity_cannot_link_one_customers_lead_or_deal_to_another_customer(
    client, make_tenant, clock
):
    tenant = await make_tenant()
    lead_a, customer_a = await _converted(client, tenant, "甲方建设")
    _, customer_b = await _converted(client, tenant, "乙方贸易")
    deal_a = ok(
        await client.post(
            "/api/v1/opportunities",
            json={"name": "甲方屋面", "customer_id": customer_a},
            headers=tenant.headers,
        ),
        201,
    )
    now = clock.now

    crossed = await _log(client, tenant, lead_id=lead_a["id"], customer_id=customer_b, occurred_at=now)
    deal_crossed = await _log(
        client, tenant, opportunity_id=deal_a["id"], customer_id=customer_b, occurred_at=now
    )
    pending_lead = await create_lead(client, tenant.headers)
    unconverted = await _log(
        client, tenant, lead_id=pending_lead["id"], opportunity_id=deal_a["id"], occurred_at=now
    )

    for refused, fields in (
        (crossed, ["lead_id"]),
        (deal_crossed, ["opportunity_id"]),
        (unconverted, ["opportunity_id"]),
    ):
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "activity.inconsistent_links"
        assert [e["field"] for e in refused.json()["errors"]] == fields
    assert ok(await client.get("/api/v1/activities", headers=tenant.headers))["items"] == []

    consistent = await _log(
        client,
        tenant,
        lead_id=lead_a["id"],
        customer_id=customer_a,
        opportunity_id=deal_a["id"],
        occurred_at=now,
    )
    assert consistent.status_code == 201, consistent.text
    assert (consistent.json()["lead_id"], consistent.json()["customer_id"]) == (lead_a["id"], customer_a)
