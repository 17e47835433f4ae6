"""SLA timers through the API and the jobs, with a controllable clock: breaches land on the right
business minute, each warning and escalation happens once, meeting the target stops the clock."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.domain.models import Notification, SlaEvent
from app.services.platform.unit_of_work import session_scope
from app.services.sla import sla_sweep
from app.workers.jobs import fire_sla_timers
from tests.conftest import sign_in
from tests.factories import create_sla_policy, create_team, unique_phone

# Friday 2026-11-27 17:50 in Shanghai (09:50 UTC): ten business minutes before the weekend.
FRIDAY_1750 = datetime(2026, 11, 27, 9, 50, tzinfo=UTC)


async def _first_response_policy(client, tenant, **rules: object) -> dict:
    return await create_sla_policy(
        client,
        tenant.headers,
        name="线索30分钟首响",
        kind="first_response",
        target_minutes=30,
        rules={"steps": [{"after_minutes": 60, "notify": ["director"]}], **rules},
    )


async def _supervised_rep(client, tenant, make_user) -> tuple[dict, str, dict]:
    rep, rep_token = await make_user(tenant, "rep")
    supervisor, _ = await make_user(tenant, "supervisor")
    await create_team(client, tenant.headers, supervisor, [rep])
    return rep, rep_token, supervisor


async def _lead_for(client, app, tenant, rep: dict) -> dict:
    created = await client.post(
        "/api/v1/leads",
        json={"name": "王磊", "source": "web_form", "phone": unique_phone()},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    assigned = await client.post(
        f"/api/v1/leads/{created.json()['id']}/assign",
        json={"user_id": rep["id"], "reason": "区域负责人"},
        headers=tenant.headers,
    )
    assert assigned.status_code == 200, assigned.text
    await app.state.runtime.queue.drain()
    return assigned.json()


async def _fire(app) -> None:
    runtime = app.state.runtime
    await fire_sla_timers(
        {"sessionmaker": runtime.sessionmaker, "queue": runtime.queue, "clock": runtime.clock}
    )
    await runtime.queue.drain()


async def _timer(client, tenant, lead_id: str) -> dict:
    timers = await client.get("/api/v1/sla-timers", params={"subject_id": lead_id}, headers=tenant.headers)
    assert timers.status_code == 200, timers.text
    (timer,) = timers.json()["items"]
    return timer


async def _titles(client, user: dict) -> list[str]:
    """The user's lead and SLA notification topics, newest first (signed in now: the clock moves)."""
    token = await sign_in(client, user["username"])
    inbox = await client.get("/api/v1/notifications", headers={"Authorization": f"Bearer {token}"})
    return [n["topic"] for n in inbox.json()["items"] if n["topic"].startswith(("sla.", "lead."))]


async def _at(client, tenant, when: datetime, clock) -> None:
    clock.now = when
    tenant.token = await sign_in(client, tenant.admin_username)


async def test_a_30_minute_first_response_breaches_on_the_next_business_morning_and_tells_the_supervisor(
    client, app, make_tenant, make_user, clock
):
    clock.now = FRIDAY_1750
    tenant = await make_tenant()
    await _first_response_policy(client, tenant)
    rep, _, supervisor = await _supervised_rep(client, tenant, make_user)
    lead = await _lead_for(client, app, tenant, rep)

    timer = await _timer(client, tenant, lead["id"])
    # 10 minutes on Friday, 20 on Monday morning: due Monday 09:20 Shanghai (01:20 UTC); warned at
    # 80 % = 24 business minutes, Monday 09:14.
    assert timer["due_at"] == "2026-11-30T01:20:00Z"
    assert timer["warn_at"] == "2026-11-30T01:14:00Z"
    assert timer["state"] == "running"

    await _at(client, tenant, datetime(2026, 11, 28, 12, 0, tzinfo=UTC), clock)  # the weekend: nothing is due
    await _fire(app)
    assert (await _timer(client, tenant, lead["id"]))["state"] == "running"

    await _at(client, tenant, datetime(2026, 11, 30, 1, 19, 59, tzinfo=UTC), clock)
    await _fire(app)
    assert (await _timer(client, tenant, lead["id"]))["state"] == "warned"
    assert await _titles(client, supervisor) == []

    await _at(client, tenant, datetime(2026, 11, 30, 1, 20, tzinfo=UTC), clock)
    await _fire(app)
    breached = await _timer(client, tenant, lead["id"])
    assert breached["state"] == "breached"
    assert await _titles(client, rep) == ["sla.breached", "sla.warned", "lead.assigned"]
    assert await _titles(client, supervisor) == ["sla.breached"]


async def test_the_breach_notice_names_the_lead_the_rep_the_policy_and_the_due_instant(
    client, app, make_tenant, make_user, clock
):
    clock.now = FRIDAY_1750
    tenant = await make_tenant()
    await _first_response_policy(client, tenant)
    rep, _, supervisor = await _supervised_rep(client, tenant, make_user)
    lead = await _lead_for(client, app, tenant, rep)

    await _at(client, tenant, datetime(2026, 11, 30, 1, 25, tzinfo=UTC), clock)
    await _fire(app)

    timer = await _timer(client, tenant, lead["id"])
    token = await sign_in(client, supervisor["username"])
    inbox = await client.get("/api/v1/notifications", headers={"Authorization": f"Bearer {token}"})
    (notice,) = [n for n in inbox.json()["items"] if n["topic"] == "sla.breached"]
    assert notice["data"] == {
        "timer_id": timer["id"],
        "policy_name": "线索30分钟首响",
        "kind": "first_response",
        "subject_type": "lead",
        "subject_id": lead["id"],
        "level": 0,
        "due_at": "2026-11-30T01:20:00+00:00",
        "subject_name": "王磊",
        "owner_name": rep["display_name"],
    }


async def test_each_transition_happens_once_however_often_and_concurrently_the_timers_are_fired(
    client, app, make_tenant, make_user, clock
):
    clock.now = FRIDAY_1750
    tenant = await make_tenant()
    await _first_response_policy(client, tenant)
    director, _ = await make_user(tenant, "director")
    rep, _, supervisor = await _supervised_rep(client, tenant, make_user)
    lead = await _lead_for(client, app, tenant, rep)

    await _at(
        client, tenant, datetime(2026, 11, 30, 3, 0, tzinfo=UTC), clock
    )  # past due and the 60-minute step
    runtime = app.state.runtime

    async def fire_once() -> int:
        async with session_scope(runtime.sessionmaker, runtime.queue) as session:
            return (await sla_sweep.fire_due_timers(session, now=clock.now)).transitions

    fired = await asyncio.gather(*(fire_once() for _ in range(4)))
    await _fire(app)
    assert sum(fired) == 3  # warned, breached, escalated level 1 — once each, whoever got there
    async with runtime.sessionmaker() as session:
        events = (
            await session.execute(select(SlaEvent.state, SlaEvent.level).order_by(SlaEvent.due_at))
        ).all()
        notifications = await session.scalar(select(func.count()).select_from(Notification))
    assert [(state.value, level) for state, level in events] == [
        ("warned", 0),
        ("breached", 0),
        ("escalated", 1),
    ]
    timer = await _timer(client, tenant, lead["id"])
    assert (timer["state"], timer["level"]) == ("escalated", 1)
    assert await _titles(client, director) == ["sla.escalated"]
    assert await _titles(client, supervisor) == ["sla.breached"]
    await _fire(app)  # nothing left to do: no more notifications
    async with runtime.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Notification)) == notifications


async def test_an_effective_follow_up_meets_the_first_response_clock(
    client, app, make_tenant, make_user, clock
):
    clock.now = FRIDAY_1750
    tenant = await make_tenant()
    await _first_response_policy(client, tenant)
    rep, rep_token, _ = await _supervised_rep(client, tenant, make_user)
    lead = await _lead_for(client, app, tenant, rep)

    clock.advance(minutes=5)
    call = await client.post(
        "/api/v1/activities",
        json={
            "type": "call",
            "occurred_at": clock.now.isoformat(),
            "lead_id": lead["id"],
            "call_outcome": "connected",
            "duration_seconds": 180,
        },
        headers={"Authorization": f"Bearer {rep_token}"},
    )
    assert call.status_code == 201, call.text
    timer = await _timer(client, tenant, lead["id"])
    assert (timer["state"], timer["stopped_at"]) == ("met", clock.now.isoformat().replace("+00:00", "Z"))
    await _at(client, tenant, datetime(2026, 12, 7, 3, 0, tzinfo=UTC), clock)
    await _fire(app)
    assert (await _timer(client, tenant, lead["id"]))["state"] == "met"


async def test_policies_only_time_the_sources_they_name_and_refuse_bad_rules(
    client, app, make_tenant, make_user, clock
):
    clock.now = FRIDAY_1750
    tenant = await make_tenant()
    await _first_response_policy(client, tenant, sources=["phone_400"])
    rep, _, _ = await _supervised_rep(client, tenant, make_user)
    lead = await _lead_for(client, app, tenant, rep)  # a web_form lead
    timers = await client.get("/api/v1/sla-timers", params={"subject_id": lead["id"]}, headers=tenant.headers)
    assert timers.json()["items"] == []

    bad = await client.post(
        "/api/v1/sla-policies",
        json={
            "name": "坏规则",
            "kind": "first_response",
            "target_minutes": 30,
            "rules": {"warn_percent": 100, "steps": [{"after_minutes": 60, "notify": ["boss"]}], "colour": 1},
        },
        headers=tenant.headers,
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {
        "rules.colour",
        "rules.warn_percent",
        "rules.steps[0].notify",
    }
    no_target = await client.post(
        "/api/v1/sla-policies",
        json={"name": "无目标", "kind": "follow_up"},
        headers=tenant.headers,
    )
    assert no_target.status_code == 422
    assert no_target.json()["errors"][0]["field"] == "target_minutes"
    lists_for_names = await client.post(
        "/api/v1/sla-policies",
        json={
            "name": "嵌套",
            "kind": "first_response",
            "target_minutes": 30,
            "rules": {"steps": [{"after_minutes": 0, "notify": [["owner"]], "action": ["release_to_pool"]}]},
        },
        headers=tenant.headers,
    )
    assert lists_for_names.status_code == 422
    assert {e["field"] for e in lists_for_names.json()["errors"]} == {
        "rules.steps[0].notify",
        "rules.steps[0].action",
    }
    # One round: the schema's mistake (a target that is no number) with the rules' mistakes.
    mixed = await client.post(
        "/api/v1/sla-policies",
        json={
            "name": "混合",
            "kind": "first_response",
            "target_minutes": "soon",
            "rules": {"warn_percent": 100, "steps": [{"after_minutes": 0, "notify": ["boss"]}]},
        },
        headers=tenant.headers,
    )
    assert mixed.status_code == 422
    assert [e["field"] for e in mixed.json()["errors"]] == [
        "target_minutes",
        "rules.warn_percent",
        "rules.steps[0].notify",
    ]


async def test_timers_turn_yellow_after_a_day_late_and_red_after_three(
    client, app, make_tenant, make_user, clock
):
    clock.now = FRIDAY_1750
    tenant = await make_tenant()
    await _first_response_policy(client, tenant)
    rep, _, _ = await _supervised_rep(client, tenant, make_user)
    lead = await _lead_for(client, app, tenant, rep)
    due = datetime(2026, 11, 30, 1, 20, tzinfo=UTC)
    for late, colour in (
        (timedelta(hours=-1), "green"),
        (timedelta(hours=23), "green"),
        (timedelta(days=1), "yellow"),
        (timedelta(days=3), "yellow"),
        (timedelta(days=3, minutes=1), "red"),
    ):
        await _at(client, tenant, due + late, clock)
        assert (await _timer(client, tenant, lead["id"]))["rag"] == colour, late


async def test_timer_colours_follow_the_organizations_thresholds(client, app, make_tenant, make_user, clock):
    clock.now = FRIDAY_1750
    tenant = await make_tenant()
    configured = await client.patch(
        "/api/v1/organization",
        json={"settings": {"rag_yellow_after_hours": 2, "rag_red_after_hours": 8}},
        headers=tenant.headers,
    )
    assert configured.status_code == 200, configured.text
    await _first_response_policy(client, tenant)
    rep, _, _ = await _supervised_rep(client, tenant, make_user)
    lead = await _lead_for(client, app, tenant, rep)
    due = datetime(2026, 11, 30, 1, 20, tzinfo=UTC)
    for late, colour in (
        (timedelta(hours=2) - timedelta(seconds=1), "green"),
        (timedelta(hours=2), "yellow"),
        (timedelta(hours=8), "yellow"),
        (timedelta(hours=8, seconds=1), "red"),
    ):
        await _at(client, tenant, due + late, clock)
        assert (await _timer(client, tenant, lead["id"]))["rag"] == colour, late

    unordered = await client.patch(
        "/api/v1/organization",
        json={"settings": {"rag_yellow_after_hours": 8, "rag_red_after_hours": 2}},
        headers=tenant.headers,
    )
    assert unordered.status_code == 422
    assert unordered.headers["content-type"] == "application/problem+json"
    assert [(e["field"], e["message"]) for e in unordered.json()["errors"]] == [
        ("settings.rag_red_after_hours", "must be at least rag_yellow_after_hours")
    ]


async def test_a_handover_moves_running_timers_to_the_receiver(client, app, make_tenant, make_user, clock):
    clock.now = FRIDAY_1750
    tenant = await make_tenant()
    await _first_response_policy(client, tenant)
    rep, _, _ = await _supervised_rep(client, tenant, make_user)
    receiver, _ = await make_user(tenant, "rep")
    lead = await _lead_for(client, app, tenant, rep)

    handed = await client.post(
        f"/api/v1/users/{rep['id']}/handover", json={"to_user_id": receiver["id"]}, headers=tenant.headers
    )
    assert handed.status_code == 200, handed.text
    assert handed.json()["counts"]["timers"] == 1
    timer = await _timer(client, tenant, lead["id"])
    assert (timer["owner_id"], timer["state"]) == (receiver["id"], "running")


async def test_with_chinese_public_holidays_the_clock_skips_golden_week(
    client, app, make_tenant, make_user, clock
):
    clock.now = datetime(2026, 9, 30, 9, 50, tzinfo=UTC)  # Wednesday 17:50 in Shanghai, eve of 国庆
    tenant = await make_tenant()
    settings = await client.patch(
        "/api/v1/organization", json={"settings": {"public_holidays": "CN"}}, headers=tenant.headers
    )
    assert settings.status_code == 200, settings.text
    await _first_response_policy(client, tenant)
    rep, _, _ = await _supervised_rep(client, tenant, make_user)
    lead = await _lead_for(client, app, tenant, rep)
    # 10 minutes on 30 September; 1-7 October are public holidays; 20 more minutes on Thursday 8th.
    assert (await _timer(client, tenant, lead["id"]))["due_at"] == "2026-10-08T01:20:00Z"

    wrong = await client.patch(
        "/api/v1/organization", json={"settings": {"public_holidays": "US"}}, headers=tenant.headers
    )
    assert wrong.status_code == 422


async def test_one_sweep_serves_many_timers_batch_after_batch_and_notifies_each_owner_once(
    client, app, make_tenant, make_user, clock
):
    clock.now = FRIDAY_1750
    tenant = await make_tenant()
    await _first_response_policy(client, tenant)
    rep, _, supervisor = await _supervised_rep(client, tenant, make_user)
    other, _ = await make_user(tenant, "rep")
    leads = [await _lead_for(client, app, tenant, rep if n % 2 else other) for n in range(7)]

    await _at(client, tenant, datetime(2026, 11, 30, 1, 30, tzinfo=UTC), clock)  # past due, before the step
    runtime = app.state.runtime
    swept = []
    while not swept or swept[-1].timers:
        async with session_scope(runtime.sessionmaker, runtime.queue) as session:
            swept.append(await sla_sweep.fire_due_timers(session, now=clock.now, limit=3))
    await runtime.queue.drain()
    assert [s.timers for s in swept] == [3, 3, 1, 0]
    assert sum(s.transitions for s in swept) == 14  # a warning and a breach for each of the 7
    assert {(await _timer(client, tenant, lead["id"]))["state"] for lead in leads} == {"breached"}
    # Notified in one go, so compared as counts.
    assert Counter(await _titles(client, rep)) == {"sla.breached": 3, "sla.warned": 3, "lead.assigned": 3}
    assert Counter(await _titles(client, other)) == {"sla.breached": 4, "sla.warned": 4, "lead.assigned": 4}
    assert await _titles(client, supervisor) == ["sla.breached"] * 3  # only their team's rep


async def test_an_escalation_step_can_release_the_lead_to_the_pool(
    client, app, make_tenant, make_user, clock
):
    clock.now = FRIDAY_1750
    tenant = await make_tenant()
    await _first_response_policy(
        client, tenant, steps=[{"after_minutes": 60, "notify": ["supervisor"], "action": "release_to_pool"}]
    )
    rep, _, supervisor = await _supervised_rep(client, tenant, make_user)
    lead = await _lead_for(client, app, tenant, rep)

    await _at(client, tenant, datetime(2026, 11, 30, 2, 19, tzinfo=UTC), clock)  # 59 minutes past due
    await _fire(app)
    still = await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers)
    assert (still.json()["status"], still.json()["owner_id"]) == ("assigned", rep["id"])

    await _at(client, tenant, datetime(2026, 11, 30, 2, 20, tzinfo=UTC), clock)
    await _fire(app)
    released = await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers)
    assert (released.json()["status"], released.json()["owner_id"]) == ("pooled", None)
    assert "escalation level 1" in released.json()["release_reason"]
    rep_token = await sign_in(client, rep["username"])  # signed in now: the clock moved
    pool = await client.get("/api/v1/lead-pool", headers={"Authorization": f"Bearer {rep_token}"})
    assert lead["id"] in [item["id"] for item in pool.json()["items"]]
    assert "lead.released" in await _titles(client, supervisor)
    timer = (
        await client.get("/api/v1/sla-timers", params={"subject_id": lead["id"]}, headers=tenant.headers)
    ).json()["items"][0]
    assert timer["state"] == "cancelled"  # the pool has no owner to time


async def test_an_escalation_step_can_give_the_lead_to_the_supervisor(
    client, app, make_tenant, make_user, clock
):
    clock.now = FRIDAY_1750
    tenant = await make_tenant()
    await _first_response_policy(
        client, tenant, steps=[{"after_minutes": 0, "notify": ["owner"], "action": "reassign_to_supervisor"}]
    )
    rep, _, supervisor = await _supervised_rep(client, tenant, make_user)
    lead = await _lead_for(client, app, tenant, rep)

    await _at(client, tenant, datetime(2026, 11, 30, 1, 20, tzinfo=UTC), clock)
    await _fire(app)
    moved = await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers)
    assert moved.json()["owner_id"] == supervisor["id"]
    assert "escalation level 1" in moved.json()["assignment_reason"]
    assert sorted(await _titles(client, supervisor)) == ["lead.assigned", "sla.breached"]  # same instant
    history = await client.get(
        "/api/v1/sla-timers", params={"subject_id": lead["id"]}, headers=tenant.headers
    )
    # The old owner's clock was cancelled by the reassignment; the supervisor's starts afresh.
    assert sorted(t["state"] for t in history.json()["items"]) == ["cancelled", "running"]


async def test_escalation_actions_are_refused_on_policies_that_do_not_time_leads(client, make_tenant):
    tenant = await make_tenant()
    refused = await client.post(
        "/api/v1/sla-policies",
        json={
            "name": "A类客户48小时",
            "kind": "follow_up",
            "target_minutes": 48 * 60,
            "rules": {
                "tiers": ["A"],
                "steps": [{"after_minutes": 0, "notify": ["supervisor"], "action": "release_to_pool"}],
            },
        },
        headers=tenant.headers,
    )
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["rules.steps[0].action"]
    unknown = await client.post(
        "/api/v1/sla-policies",
        json={
            "name": "首响",
            "kind": "first_response",
            "target_minutes": 30,
            "rules": {"steps": [{"after_minutes": 0, "notify": ["owner"], "action": "fire_the_rep"}]},
        },
        headers=tenant.headers,
    )
    assert unknown.status_code == 422
    assert [e["field"] for e in unknown.json()["errors"]] == ["rules.steps[0].action"]


async def test_a_lead_marketing_hands_over_is_timed_from_the_handover_until_sales_follows_up(
    client, app, make_tenant, make_user, clock
):
    clock.now = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
    tenant = await make_tenant()
    await create_sla_policy(
        client,
        tenant.headers,
        name="市场线索48小时跟进",
        kind="handover_response",
        target_minutes=48 * 60,
        rules={"sources": ["exhibition"]},
    )
    _, marketing_token = await make_user(tenant, "marketing")
    rep, rep_token, _ = await _supervised_rep(client, tenant, make_user)
    as_marketing = {"Authorization": f"Bearer {marketing_token}"}

    handed = await client.post(
        "/api/v1/leads",
        json={"name": "展会留资 张工", "source": "exhibition", "phone": unique_phone()},
        headers=as_marketing,
    )
    assert handed.status_code == 201, handed.text
    not_timed = await client.post(
        "/api/v1/leads",
        json={"name": "官网留资", "source": "web_form", "phone": unique_phone()},
        headers=as_marketing,
    )
    assert (
        await client.get(
            "/api/v1/sla-timers", params={"subject_id": not_timed.json()["id"]}, headers=tenant.headers
        )
    ).json()["items"] == []
    lead_id = handed.json()["id"]
    timer = await _timer(client, tenant, lead_id)
    # 48 business hours of 9 a day from Monday 09:00: 5 full days and 3 hours — Monday next week, 12:00.
    assert (timer["kind"], timer["owner_id"], timer["due_at"]) == (
        "handover_response",
        None,
        "2026-12-07T04:00:00Z",
    )

    clock.advance(minutes=90)
    assigned = await client.post(
        f"/api/v1/leads/{lead_id}/assign",
        json={"user_id": rep["id"], "reason": "展会华东"},
        headers=tenant.headers,
    )
    assert assigned.status_code == 200, assigned.text
    moved = await _timer(client, tenant, lead_id)
    assert (moved["id"], moved["owner_id"], moved["due_at"]) == (timer["id"], rep["id"], timer["due_at"])

    clock.advance(minutes=30)
    call = await client.post(
        "/api/v1/activities",
        json={
            "type": "call",
            "occurred_at": clock.now.isoformat(),
            "lead_id": lead_id,
            "call_outcome": "connected",
            "duration_seconds": 240,
        },
        headers={"Authorization": f"Bearer {rep_token}"},
    )
    assert call.status_code == 201, call.text
    assert (await _timer(client, tenant, lead_id))["state"] == "met"


async def test_a_deal_that_stays_in_a_stage_past_its_maximum_breaches_and_moving_on_meets_the_clock(
    client, app, make_tenant, make_user, clock
):
    clock.now = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
    tenant = await make_tenant()
    rep, _, supervisor = await _supervised_rep(client, tenant, make_user)
    stages = [
        {"name": "触达", "kind": "open", "probability": 10, "max_dwell_hours": 9},
        {"name": "需求确认", "kind": "open", "probability": 30},
        {"name": "赢单", "kind": "won", "probability": 100},
        {"name": "输单", "kind": "lost", "probability": 0},
    ]
    pipeline = await client.post(
        "/api/v1/pipelines", json={"name": "B2B", "stages": stages}, headers=tenant.headers
    )
    assert pipeline.status_code == 201, pipeline.text
    await create_sla_policy(
        client,
        tenant.headers,
        name="阶段停留",
        kind="stage_dwell",
        rules={"steps": [{"after_minutes": 0, "notify": ["supervisor"]}]},
    )
    customer = await client.post(
        "/api/v1/customers", json={"name": "申华建材", "owner_id": rep["id"]}, headers=tenant.headers
    )
    deal = await client.post(
        "/api/v1/opportunities",
        json={
            "name": "申华仓库防水",
            "customer_id": customer.json()["id"],
            "pipeline_id": pipeline.json()["id"],
            "owner_id": rep["id"],
        },
        headers=tenant.headers,
    )
    assert deal.status_code == 201, deal.text
    # No target on the policy: the stage's nine hours, in business time — 8 on Monday, 1 on Tuesday.
    timer = await _timer(client, tenant, deal.json()["id"])
    assert (timer["kind"], timer["due_at"]) == ("stage_dwell", "2026-12-01T02:00:00Z")

    await _at(client, tenant, datetime(2026, 12, 1, 1, 59, tzinfo=UTC), clock)
    await _fire(app)
    assert (await _timer(client, tenant, deal.json()["id"]))["state"] == "warned"
    await _at(client, tenant, datetime(2026, 12, 1, 2, 0, tzinfo=UTC), clock)
    await _fire(app)
    assert (await _timer(client, tenant, deal.json()["id"]))["state"] == "escalated"
    assert Counter(await _titles(client, supervisor)) == {"sla.breached": 1, "sla.escalated": 1}

    moved = await client.post(
        f"/api/v1/opportunities/{deal.json()['id']}/stage-changes",
        json={"to_stage_id": pipeline.json()["stages"][1]["id"], "note": "需求清单已确认"},
        headers=tenant.headers,
    )
    assert moved.status_code == 200, moved.text
    # The next stage has no maximum and the policy no target: nothing times it.
    assert (await _timer(client, tenant, deal.json()["id"]))["state"] == "met"


async def test_an_a_tier_customer_left_without_follow_up_alerts_the_rep_and_the_supervisor(
    client, app, make_tenant, make_user, clock
):
    clock.now = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
    tenant = await make_tenant()
    rep, rep_token, supervisor = await _supervised_rep(client, tenant, make_user)
    await create_sla_policy(
        client,
        tenant.headers,
        name="A类客户48小时回访",
        kind="follow_up",
        target_minutes=48 * 60,
        rules={"tiers": ["A"]},
    )
    a_tier = await client.post(
        "/api/v1/customers",
        json={"name": "华东地产集团", "owner_id": rep["id"], "annual_purchase": "900000.00"},
        headers=tenant.headers,
    )
    c_tier = await client.post(
        "/api/v1/customers", json={"name": "小五金店", "owner_id": rep["id"]}, headers=tenant.headers
    )
    assert (a_tier.json()["tier"], c_tier.json()["tier"]) == ("A", "C")
    empty = await client.get(
        "/api/v1/sla-timers", params={"subject_id": c_tier.json()["id"]}, headers=tenant.headers
    )
    assert empty.json()["items"] == []
    # 48 business hours of 9 a day from Monday 10:00: five days and three hours — Monday 13:00.
    timer = await _timer(client, tenant, a_tier.json()["id"])
    assert (timer["kind"], timer["due_at"]) == ("follow_up", "2026-12-07T05:00:00Z")

    await _at(client, tenant, datetime(2026, 12, 7, 5, 0, tzinfo=UTC), clock)
    await _fire(app)
    assert Counter(await _titles(client, rep))["sla.breached"] == 1
    assert await _titles(client, supervisor) == ["sla.breached"]

    rep_token = await sign_in(client, rep["username"])
    visit = await client.post(
        "/api/v1/activities",
        json={
            "type": "call",
            "occurred_at": clock.now.isoformat(),
            "customer_id": a_tier.json()["id"],
            "call_outcome": "connected",
            "duration_seconds": 300,
        },
        headers={"Authorization": f"Bearer {rep_token}"},
    )
    assert visit.status_code == 201, visit.text
    timers = await client.get(
        "/api/v1/sla-timers", params={"subject_id": a_tier.json()["id"]}, headers=tenant.headers
    )
    # The follow-up met the breached clock and started the next 48 hours.
    assert sorted(t["state"] for t in timers.json()["items"]) == ["met", "running"]
