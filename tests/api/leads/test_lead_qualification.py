"""Qualifying a lead against the organization's criteria, and sales' feedback on a lead (issue 20,
point 7)."""

from __future__ import annotations

from tests.api.helpers import bearer, ok
from tests.conftest import sign_in
from tests.factories import create_lead, record_activity


async def _qualify(client, headers, lead_id: str):
    return await client.post(f"/api/v1/leads/{lead_id}/qualify", headers=headers)


async def _activity(client, headers, lead_id: str, clock, **info_points: str) -> None:
    """A call on the lead now that gathered these information points."""
    await record_activity(client, headers, clock.now, lead_id=lead_id, info_points=info_points)


async def test_a_lead_is_qualified_only_with_its_budget_and_timeframe_known(client, make_tenant, clock):
    tenant = await make_tenant()
    lead = await create_lead(client, tenant.headers, owner_id=str(tenant.admin_id))

    bare = await _qualify(client, tenant.headers, lead["id"])

    assert bare.status_code == 422
    assert bare.json()["code"] == "lead.qualification_incomplete"
    assert [e["field"] for e in bare.json()["errors"]] == ["budget", "info_points.timeline"]
    assert ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers))["status"] == "assigned"

    ok(
        await client.patch(
            f"/api/v1/leads/{lead['id']}", json={"budget": "300000.00"}, headers=tenant.headers
        )
    )
    await _activity(client, tenant.headers, lead["id"], clock, needs="屋面防水", timeline="明年三月开工")
    clock.advance(minutes=5)

    qualified = ok(await _qualify(client, tenant.headers, lead["id"]))

    assert qualified["status"] == "qualified"
    assert qualified["qualified_by_id"] == str(tenant.admin_id)
    assert qualified["qualified_at"] == clock.now.isoformat().replace("+00:00", "Z")
    again = ok(await _qualify(client, tenant.headers, lead["id"]))
    assert (again["qualified_at"], again["version"]) == (qualified["qualified_at"], qualified["version"])
    audit = ok(
        await client.get("/api/v1/audit-events", params={"entity_id": lead["id"]}, headers=tenant.headers)
    )["items"]
    assert "lead.qualified" in [event["action"] for event in audit]


async def test_the_criteria_are_the_organizations(client, make_tenant, clock):
    tenant = await make_tenant()
    ok(
        await client.patch(
            "/api/v1/organization",
            json={
                "settings": {
                    "lead_qualification": {"fields": ["industry"], "info_points": ["decision_maker"]}
                }
            },
            headers=tenant.headers,
        )
    )
    lead = await create_lead(client, tenant.headers, owner_id=str(tenant.admin_id), budget="1.00")

    refused = await _qualify(client, tenant.headers, lead["id"])
    assert [e["field"] for e in refused.json()["errors"]] == ["industry", "info_points.decision_maker"]

    ok(
        await client.patch(
            f"/api/v1/leads/{lead['id']}", json={"industry": "建筑施工"}, headers=tenant.headers
        )
    )
    await _activity(client, tenant.headers, lead["id"], clock, decision_maker="项目经理刘总")
    assert ok(await _qualify(client, tenant.headers, lead["id"]))["status"] == "qualified"


async def test_criteria_the_product_cannot_read_are_refused_when_set(client, make_tenant):
    tenant = await make_tenant()

    for settings, field in (
        ({"lead_qualification": {"fields": ["shoe_size"]}}, "settings.lead_qualification"),
        (
            {"lead_qualification": {"info_points": ["horoscope"]}},
            "settings.lead_qualification.info_points[0]",
        ),
    ):
        refused = await client.patch(
            "/api/v1/organization", json={"settings": settings}, headers=tenant.headers
        )
        assert refused.status_code == 422, refused.text
        assert [error["field"] for error in refused.json()["errors"]] == [field]


async def test_a_closed_lead_cannot_be_qualified(client, make_tenant):
    tenant = await make_tenant()
    lead = await create_lead(client, tenant.headers)
    ok(
        await client.post(
            f"/api/v1/leads/{lead['id']}/disqualify", json={"reason": "空号"}, headers=tenant.headers
        )
    )

    refused = await _qualify(client, tenant.headers, lead["id"])

    assert refused.status_code == 409
    assert refused.json()["code"] == "lead.closed"


async def test_sales_rates_a_lead_and_the_last_rating_stands(client, make_tenant, make_user, clock):
    tenant = await make_tenant()
    rep, rep_token = await make_user(tenant, "rep")
    other, _ = await make_user(tenant, "rep")
    lead = await create_lead(client, tenant.headers, owner_id=rep["id"])

    first = ok(
        await client.put(
            f"/api/v1/leads/{lead['id']}/feedback",
            json={
                "quality": 2,
                "reason_codes": ["no_budget", "not_decision_maker", "no_budget"],
                "comment": "询价",
            },
            headers=bearer(rep_token),
        )
    )
    assert (first["feedback_quality"], first["feedback_reasons"]) == (2, ["no_budget", "not_decision_maker"])
    assert (first["feedback_by_id"], first["feedback_comment"]) == (rep["id"], "询价")

    clock.advance(days=1)
    rep_token = await sign_in(client, str(rep["username"]))  # a day later: a fresh token
    tenant.token = await sign_in(client, tenant.admin_username)
    other_token = await sign_in(client, str(other["username"]))
    second = ok(
        await client.put(
            f"/api/v1/leads/{lead['id']}/feedback", json={"quality": 4}, headers=bearer(rep_token)
        )
    )
    assert (second["feedback_quality"], second["feedback_reasons"], second["feedback_comment"]) == (
        4,
        [],
        None,
    )

    for body in (
        {"quality": 0},
        {"quality": 6},
        {"quality": 3.5},
        {"quality": 3, "reason_codes": ["ugly"]},
        {},
    ):
        refused = await client.put(f"/api/v1/leads/{lead['id']}/feedback", json=body, headers=tenant.headers)
        assert refused.status_code == 422, body
    unseen = await client.put(
        f"/api/v1/leads/{lead['id']}/feedback", json={"quality": 1}, headers=bearer(other_token)
    )
    assert unseen.status_code == 404
    assert (
        ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers))["feedback_quality"] == 4
    )
