"""Assignment rules, simulation, manual assignment and the public lead pool, through the API."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import func, select

from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadSource
from app.domain.models import LeadAssignment
from app.services.assignment import assignment
from app.services.leads import leads
from app.services.platform.unit_of_work import session_scope
from app.workers.jobs import recycle_leads
from tests.api.helpers import bearer
from tests.conftest import sign_in
from tests.factories import (
    create_assignment_rule,
    create_settled_lead,
    unique_phone,
    update_settings,
)


async def test_a_rule_with_an_unknown_field_or_operator_answers_422_naming_it(client, make_tenant, make_user):
    tenant = await make_tenant()
    rep, _ = await make_user(tenant, "rep")
    response = await client.post(
        "/api/v1/assignment-rules",
        json={
            "name": "bad",
            "priority": 1,
            "strategy": "round_robin",
            "user_ids": [rep["id"]],
            "conditions": [
                {"field": "regoin", "operator": "eq", "value": "华东"},
                {"field": "region", "operator": "like", "value": "华"},
            ],
        },
        headers=tenant.headers,
    )
    # One round: the schema's error (an operator that does not exist) and the rule's (a lead field
    # that does not exist) in the same 422.
    assert response.status_code == 422
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
        ("conditions[1].operator", "enum"),
        ("conditions[0].field", "field.unknown"),
    ]
    assert response.json()["errors"][1]["message"] == "unknown lead field 'regoin'"
    unknown_field = await client.post(
        "/api/v1/assignment-rules",
        json={
            "name": "bad",
            "priority": 1,
            "strategy": "round_robin",
            "user_ids": [rep["id"]],
            "conditions": [{"field": "regoin", "operator": "eq", "value": "华东"}],
        },
        headers=tenant.headers,
    )
    assert unknown_field.status_code == 422
    assert unknown_field.json()["errors"][0] == {
        "field": "conditions[0].field",
        "code": "field.unknown",
        "message": "unknown lead field 'regoin'",
    }
    nobody = await client.post(
        "/api/v1/assignment-rules",
        json={"name": "empty", "priority": 1, "strategy": "least_loaded"},
        headers=tenant.headers,
    )
    assert nobody.status_code == 422
    assert nobody.json()["errors"][0]["field"] == "user_ids"
    listed = await client.get("/api/v1/assignment-rules", headers=tenant.headers)
    assert listed.json()["items"] == []


async def test_rules_route_by_region_in_priority_order_and_simulation_names_the_same_rep(
    client, app, make_tenant, make_user
):
    tenant = await make_tenant()
    east_a, _ = await make_user(tenant, "rep")
    east_b, _ = await make_user(tenant, "rep")
    other, _ = await make_user(tenant, "rep")
    team = await client.post(
        "/api/v1/teams",
        json={"name": "华东", "member_ids": [east_a["id"], east_b["id"]]},
        headers=tenant.headers,
    )
    east_rule = await create_assignment_rule(
        client,
        tenant.headers,
        name="华东",
        priority=1,
        team_ids=[team.json()["id"]],
        conditions=[{"field": "region", "operator": "eq", "value": "华东"}],
    )
    await create_assignment_rule(
        client, tenant.headers, name="其他", priority=2, strategy="least_loaded", user_ids=[other["id"]]
    )

    owners = []
    for _ in range(4):
        simulated = await client.post(
            "/api/v1/assignment-rules/simulate", json={"region": "华东"}, headers=tenant.headers
        )
        assert simulated.status_code == 200, simulated.text
        assert simulated.json()["matched_rule_id"] == east_rule["id"]
        lead = await create_settled_lead(client, app, tenant.headers, region="华东")
        assert lead["owner_id"] == simulated.json()["chosen_user_id"]
        assert lead["status"] == "assigned"
        assert lead["assignment_rule_id"] == east_rule["id"]
        assert lead["assignment_strategy"] == "round_robin"
        assert "华东" in lead["assignment_reason"]
        owners.append(lead["owner_id"])
    assert sorted(owners) == sorted([east_a["id"], east_b["id"]] * 2)
    assert owners[0] != owners[1]

    south = await client.post(
        "/api/v1/assignment-rules/simulate", json={"region": "华南"}, headers=tenant.headers
    )
    body = south.json()
    assert body["evaluations"][0]["matched"] is False
    assert body["evaluations"][0]["failed_conditions"][0]["field"] == "region"
    assert body["chosen_user_id"] == other["id"]
    assert (await create_settled_lead(client, app, tenant.headers, region="华南"))["owner_id"] == other["id"]


async def test_caps_and_leave_skip_reps_and_nobody_eligible_falls_back_to_team_then_pool(
    client, app, make_tenant, make_user, clock
):
    tenant = await make_tenant()
    busy, _ = await make_user(tenant, "rep")
    on_leave, _ = await make_user(tenant, "rep")
    backup, _ = await make_user(tenant, "rep")
    leave = await client.patch(
        f"/api/v1/users/{on_leave['id']}",
        json={"unavailable_until": (clock.now + timedelta(days=3)).isoformat()},
        headers=tenant.headers,
    )
    assert leave.status_code == 200, leave.text
    await create_assignment_rule(
        client, tenant.headers, user_ids=[busy["id"], on_leave["id"]], max_new_per_day=1
    )

    first = await create_settled_lead(client, app, tenant.headers)
    assert first["owner_id"] == busy["id"]
    simulated = await client.post("/api/v1/assignment-rules/simulate", json={}, headers=tenant.headers)
    reasons = {c["user_id"]: c["ineligible_reason"] for c in simulated.json()["candidates"]}
    assert "cap of 1 new leads today" in reasons[busy["id"]]
    assert "unavailable until" in reasons[on_leave["id"]]
    assert simulated.json()["outcome"] == "pooled"

    pooled = await create_settled_lead(client, app, tenant.headers)
    assert pooled["status"] == "pooled"
    assert pooled["owner_id"] is None
    assert "sent to the lead pool" in pooled["assignment_reason"]

    team = await client.post(
        "/api/v1/teams", json={"name": "后备", "member_ids": [backup["id"]]}, headers=tenant.headers
    )
    await update_settings(
        client, tenant.headers, settings={"assignment": {"fallback_team_id": team.json()["id"]}}
    )
    fallback = await create_settled_lead(client, app, tenant.headers)
    assert fallback["owner_id"] == backup["id"]
    assert "fallback team" in fallback["assignment_reason"]

    clock.advance(days=1)  # a new day: the daily cap resets
    tenant.token = await sign_in(client, tenant.admin_username)
    assert (await create_settled_lead(client, app, tenant.headers))["owner_id"] == busy["id"]


async def test_the_assignment_job_run_twice_assigns_once(client, app, make_tenant, make_user):
    tenant = await make_tenant()
    rep_a, _ = await make_user(tenant, "rep")
    rep_b, _ = await make_user(tenant, "rep")
    rule = await create_assignment_rule(client, tenant.headers, user_ids=[rep_a["id"], rep_b["id"]])
    lead = await create_settled_lead(client, app, tenant.headers)
    runtime = app.state.runtime
    for _ in range(2):
        async with session_scope(runtime.sessionmaker, runtime.queue) as session:
            again = await assignment.assign_waiting_leads(session, now=runtime.clock())
        assert again == []
    after = await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers)
    assert after.json()["owner_id"] == lead["owner_id"]
    async with runtime.sessionmaker() as session:
        rows = await session.scalar(
            select(func.count()).where(LeadAssignment.lead_id == uuid.UUID(lead["id"]))
        )
    assert rows == 1
    pointer = await client.get(f"/api/v1/assignment-rules/{rule['id']}", headers=tenant.headers)
    assert pointer.json()["position"] == 1


async def test_manual_assignment_needs_a_reason_is_audited_and_notifies_the_new_owner(
    client, app, make_tenant, make_user
):
    tenant = await make_tenant()
    supervisor, supervisor_token = await make_user(tenant, "supervisor")
    rep, rep_token = await make_user(tenant, "rep")
    outsider, _ = await make_user(tenant, "rep")
    await client.post(
        "/api/v1/teams",
        json={"name": "East", "supervisor_id": supervisor["id"], "member_ids": [rep["id"]]},
        headers=tenant.headers,
    )
    lead = await create_settled_lead(client, app, tenant.headers)  # no rules: in the pool
    url = f"/api/v1/leads/{lead['id']}/assign"
    no_reason = await client.post(url, json={"user_id": rep["id"]}, headers=bearer(supervisor_token))
    assert no_reason.status_code == 422
    outside = await client.post(
        url, json={"user_id": outsider["id"], "reason": "客户指定"}, headers=bearer(supervisor_token)
    )
    assert outside.status_code == 422
    assigned = await client.post(
        url, json={"user_id": rep["id"], "reason": "客户指定对接人"}, headers=bearer(supervisor_token)
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["owner_id"] == rep["id"]
    assert assigned.json()["assignment_reason"] == "客户指定对接人"
    await app.state.runtime.queue.drain()
    audit = await client.get("/api/v1/audit-events", params={"entity_id": lead["id"]}, headers=tenant.headers)
    actions = [e["action"] for e in audit.json()["items"]]
    assert actions.count("lead.assigned") == 1
    manual = next(e for e in audit.json()["items"] if e["action"] == "lead.assigned")
    assert manual["actor_id"] == supervisor["id"]
    assert manual["after"]["owner_id"] == rep["id"]
    inbox = await client.get("/api/v1/notifications", headers=bearer(rep_token))
    topics = [n["topic"] for n in inbox.json()["items"]]
    assert "lead.assigned" in topics


async def test_twenty_concurrent_claims_give_one_owner(client, app, make_tenant, make_user):
    tenant = await make_tenant()
    lead = await create_settled_lead(client, app, tenant.headers)
    assert lead["status"] == "pooled"
    reps = [await make_user(tenant, "rep") for _ in range(20)]
    pool = await client.get("/api/v1/lead-pool", headers=bearer(reps[0][1]))
    assert [item["id"] for item in pool.json()["items"]] == [lead["id"]]

    answers = await asyncio.gather(
        *(client.post(f"/api/v1/leads/{lead['id']}/claim", headers=bearer(token)) for _, token in reps)
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 19
    winner = next(a for a in answers if a.status_code == 200).json()
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"lead.not_in_pool"}
    final = await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers)
    assert final.json()["owner_id"] == winner["owner_id"]
    assert (await client.get("/api/v1/lead-pool", headers=bearer(reps[0][1]))).json()["items"] == []


async def test_release_blocks_reclaim_for_k_days_and_claims_are_limited_per_day(
    client, app, make_tenant, make_user, clock
):
    tenant = await make_tenant()
    await update_settings(
        client, tenant.headers, settings={"lead_pool": {"reclaim_block_days": 7, "max_claims_per_day": 1}}
    )
    rep, token = await make_user(tenant, "rep")
    other, other_token = await make_user(tenant, "rep")
    first = await create_settled_lead(client, app, tenant.headers)
    second = await create_settled_lead(client, app, tenant.headers)

    claimed = await client.post(f"/api/v1/leads/{first['id']}/claim", headers=bearer(token))
    assert claimed.status_code == 200
    limit = await client.post(f"/api/v1/leads/{second['id']}/claim", headers=bearer(token))
    assert limit.status_code == 409
    assert limit.json()["code"] == "lead.claim_limit"

    not_mine = await client.post(
        f"/api/v1/leads/{first['id']}/release", json={"reason": "无需求"}, headers=bearer(other_token)
    )
    assert not_mine.status_code == 404
    released = await client.post(
        f"/api/v1/leads/{first['id']}/release", json={"reason": "客户暂无需求"}, headers=bearer(token)
    )
    assert released.status_code == 200
    assert released.json()["status"] == "pooled"
    assert released.json()["previous_owner_id"] == rep["id"]
    assert released.json()["release_reason"] == "客户暂无需求"

    clock.advance(days=1)
    token = await sign_in(client, rep["username"])
    blocked = await client.post(f"/api/v1/leads/{first['id']}/claim", headers=bearer(token))
    assert blocked.status_code == 409
    assert blocked.json()["code"] == "lead.reclaim_blocked"
    clock.advance(days=7)
    token = await sign_in(client, rep["username"])
    again = await client.post(f"/api/v1/leads/{first['id']}/claim", headers=bearer(token))
    assert again.status_code == 200
    assert other["id"] != again.json()["owner_id"]


async def test_recycle_releases_unworked_leads_after_the_configured_business_hours(
    client, app, make_tenant, make_user, clock
):
    tenant = await make_tenant()
    await update_settings(
        client, tenant.headers, settings={"lead_pool": {"first_follow_up_business_hours": 4, "idle_days": 10}}
    )
    supervisor, supervisor_token = await make_user(tenant, "supervisor")
    rep, rep_token = await make_user(tenant, "rep")
    await client.post(
        "/api/v1/teams",
        json={"name": "East", "supervisor_id": supervisor["id"], "member_ids": [rep["id"]]},
        headers=tenant.headers,
    )
    await create_assignment_rule(client, tenant.headers, user_ids=[rep["id"]])
    idle = await create_settled_lead(client, app, tenant.headers)  # Monday 10:00 Shanghai
    worked = await create_settled_lead(client, app, tenant.headers)
    call = await client.post(
        "/api/v1/activities",
        json={
            "type": "call",
            "lead_id": worked["id"],
            "call_outcome": "connected",
            "occurred_at": clock.now.isoformat(),
        },
        headers=bearer(rep_token),
    )
    assert call.status_code == 201, call.text
    runtime = app.state.runtime
    context = {"sessionmaker": runtime.sessionmaker, "queue": runtime.queue, "clock": clock}

    clock.advance(hours=3, minutes=59)
    assert await recycle_leads(context) == 0
    clock.advance(minutes=1)  # Monday 14:00: four business hours without a follow-up
    assert await recycle_leads(context) == 1
    assert await recycle_leads(context) == 0
    after = await client.get(f"/api/v1/leads/{idle['id']}", headers=tenant.headers)
    assert after.json()["status"] == "pooled"
    assert after.json()["previous_owner_id"] == rep["id"]
    assert "4 business hours" in after.json()["release_reason"]
    await runtime.queue.drain()
    for token in (rep_token, supervisor_token):
        inbox = await client.get("/api/v1/notifications", headers=bearer(token))
        assert "lead.released" in [n["topic"] for n in inbox.json()["items"]]

    clock.advance(days=10)
    assert await recycle_leads(context) == 1
    tenant.token = await sign_in(client, tenant.admin_username)
    idle_worked = await client.get(f"/api/v1/leads/{worked['id']}", headers=tenant.headers)
    assert idle_worked.json()["status"] == "pooled"
    assert "10 days" in idle_worked.json()["release_reason"]


async def test_one_run_over_many_waiting_leads_counts_each_lead_into_the_loads(
    client, app, make_tenant, make_user
):
    """A run assigns a batch of leads with the loads read once: what it gives out must count."""
    tenant = await make_tenant()
    reps = [(await make_user(tenant, "rep"))[0] for _ in range(3)]
    await create_assignment_rule(
        client, tenant.headers, strategy="least_loaded", user_ids=[r["id"] for r in reps]
    )
    runtime = app.state.runtime
    # Six leads committed together: their requests for assignment coalesce into one run.
    async with session_scope(runtime.sessionmaker, runtime.queue) as session:
        created = [
            await leads.create_lead(
                session,
                actor=Principal.system(tenant.organization_id),
                data=leads.NewLead(name=f"lead {n}", source=LeadSource.api, phone=unique_phone()),
                now=runtime.clock(),
            )
            for n in range(6)
        ]
    await runtime.queue.drain()
    async with runtime.sessionmaker() as session:
        runs = await session.scalar(
            select(func.count(func.distinct(LeadAssignment.occurred_at))).where(
                LeadAssignment.lead_id.in_([c.lead.id for c in created])
            )
        )
    owners = [
        (await client.get(f"/api/v1/leads/{c.lead.id}", headers=tenant.headers)).json()["owner_id"]
        for c in created
    ]
    assert runs == 1
    assert sorted(owners.count(r["id"]) for r in reps) == [2, 2, 2]
