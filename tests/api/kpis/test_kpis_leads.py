"""Lead, follow-up, call and new-hire KPIs on a small hand-computed history (docs/kpis.md).

The organization is in Asia/Shanghai; the clock stands at 2026-11-23T02:00Z (10:00 there), so
"7 days ago" is 2026-11-16T02:00Z.

| lead | owner now | created (local) | first response   | effective | status     | last follow-up |
|------|-----------|-----------------|------------------|-----------|------------|----------------|
| L1   | A         | 11-02 09:00     | 11-02 09:30 (30m) | yes       | contacted  | 11-20 10:00    |
| L2   | B (A, C before) | 11-03 10:00 | 11-04 12:00 (26h) | no      | contacted  | 11-04 12:00    |
| L3   | C         | 11-05 08:00     | -                | no        | assigned   | -              |
| L4   | A         | 10-30 09:00     | 10-30 10:00      | yes       | qualified  | 11-22 09:00    |
| L5   | B         | 11-10 10:00     | 11-10 14:00 (4h) | yes       | converted  | 11-10 14:00    |

First-response SLA timers: L1 met in time, L2 met after its due time, L3 breached.
Customers: K1 (A) followed 11-21; K2 (C) never followed, created 10-01.
Calls: A Monday 11-02 09:10 connected and 09:50 no answer; B Wednesday 11-04 23:30 connected;
C Friday 11-06 00:30 busy (Thursday 16:30 in UTC); A's visit is not a call.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import update

from app.domain.activities.activities import ActivityType, CallOutcome
from app.domain.identity.principal import Principal
from app.domain.leads.leads import LeadSource, LeadStatus
from app.domain.models import (
    Activity,
    Customer,
    Lead,
    Opportunity,
    OpportunityStatus,
    SlaPolicy,
    SlaTimer,
    Task,
    TaskStatus,
    User,
)
from app.domain.sla.sla import SlaKind, TimerState
from app.services.pipelines import pipelines
from app.services.platform.unit_of_work import session_scope
from tests.api.helpers import ok
from tests.api.kpis.kpi_helpers import NOVEMBER, kpi, local


@dataclass
class Leads:
    tenant: object
    users: dict[str, dict]
    tokens: dict[str, str]
    teams: dict[str, dict]
    ids: dict[str, uuid.UUID]


@pytest.fixture
async def leads(app, client, make_tenant, make_user) -> Leads:
    tenant = await make_tenant()
    users, tokens = {}, {}
    for key in ("A", "B", "C"):
        users[key], tokens[key] = await make_user(tenant, "rep", display_name=f"销售{key}")
    teams = {
        "east": ok(
            await client.post(
                "/api/v1/teams",
                json={"name": "华东一组", "member_ids": [users["A"]["id"], users["B"]["id"]]},
                headers=tenant.headers,
            ),
            201,
        ),
        "west": ok(
            await client.post(
                "/api/v1/teams",
                json={"name": "西部", "member_ids": [users["C"]["id"]]},
                headers=tenant.headers,
            ),
            201,
        ),
    }
    uid = {k: uuid.UUID(v["id"]) for k, v in users.items()}
    org_id = tenant.organization_id
    runtime = app.state.runtime
    ids: dict[str, uuid.UUID] = {}
    async with session_scope(runtime.sessionmaker, runtime.queue) as session:

        def lead(
            key, owner, created, *, first=None, effective=None, status, last=None, source=LeadSource.web_form
        ):
            record = Lead(
                id=uuid.uuid4(),
                organization_id=org_id,
                name=f"线索{key}",
                source=source,
                region="华东" if key != "L3" else "西部",
                status=status,
                owner_id=uid[owner],
                assigned_at=created,
                created_at=created,
                first_response_at=first,
                last_follow_up_at=last,
                last_effective_follow_up_at=effective,
            )
            ids[key] = record.id
            return record

        session.add_all(
            [
                lead(
                    "L1",
                    "A",
                    local(11, 2, 9),
                    first=local(11, 2, 9, 30),
                    effective=local(11, 2, 9, 30),
                    status=LeadStatus.contacted,
                    last=local(11, 20, 10),
                ),
                lead(
                    "L2",
                    "B",
                    local(11, 3, 10),
                    first=local(11, 4, 12),
                    status=LeadStatus.contacted,
                    last=local(11, 4, 12),
                ),
                lead("L3", "C", local(11, 5, 8), status=LeadStatus.assigned, source=LeadSource.phone_400),
                lead(
                    "L4",
                    "A",
                    local(10, 30, 9),
                    first=local(10, 30, 10),
                    effective=local(10, 30, 10),
                    status=LeadStatus.qualified,
                    last=local(11, 22, 9),
                ),
                lead(
                    "L5",
                    "B",
                    local(11, 10, 10),
                    first=local(11, 10, 14),
                    effective=local(11, 10, 14),
                    status=LeadStatus.converted,
                    last=local(11, 10, 14),
                ),
            ]
        )
        await session.flush()
        # L2 went A -> C -> B: only its current owner counts it.
        await session.execute(update(Lead).where(Lead.id == ids["L2"]).values(previous_owner_id=uid["C"]))
        policy = SlaPolicy(
            organization_id=org_id, name="首响", kind=SlaKind.first_response, target_minutes=60
        )
        session.add(policy)
        await session.flush()
        for key, state, due, stopped in (
            ("L1", TimerState.met, local(11, 2, 10), local(11, 2, 9, 30)),
            ("L2", TimerState.met, local(11, 3, 11), local(11, 4, 12)),
            ("L3", TimerState.breached, local(11, 5, 9), None),
        ):
            session.add(
                SlaTimer(
                    organization_id=org_id,
                    policy_id=policy.id,
                    kind=SlaKind.first_response,
                    subject_type="lead",
                    subject_id=ids[key],
                    owner_id=None,
                    state=state,
                    started_at=due - timedelta(hours=1),
                    warn_at=due - timedelta(minutes=20),
                    due_at=due,
                    stopped_at=stopped,
                )
            )
        session.add_all(
            [
                Customer(
                    organization_id=org_id,
                    code="K1",
                    name="客户一",
                    name_key="客户一",
                    owner_id=uid["A"],
                    last_follow_up_at=local(11, 21, 15),
                    created_at=local(9, 1),
                ),
                Customer(
                    organization_id=org_id,
                    code="K2",
                    name="=客户二",
                    name_key="客户二",
                    owner_id=uid["C"],
                    created_at=local(10, 1),
                ),
            ]
        )
        for owner, at, kind, outcome in (
            ("A", local(11, 2, 9, 10), ActivityType.call, CallOutcome.connected),
            ("A", local(11, 2, 9, 50), ActivityType.call, CallOutcome.no_answer),
            ("B", local(11, 4, 23, 30), ActivityType.call, CallOutcome.connected),
            ("C", local(11, 6, 0, 30), ActivityType.call, CallOutcome.busy),
            ("A", local(11, 2, 15), ActivityType.visit, None),
        ):
            session.add(
                Activity(
                    organization_id=org_id,
                    type=kind,
                    occurred_at=at,
                    owner_id=uid[owner],
                    call_outcome=outcome,
                )
            )
        # New hires: A started 10-01 and won 11-02; B started 10-15 without a win; C started 09-01.
        for key, started in (("A", local(10, 1)), ("B", local(10, 15)), ("C", local(9, 1))):
            await session.execute(update(User).where(User.id == uid[key]).values(created_at=started))
        flow = await pipelines.default_pipeline(session, actor=Principal.system(org_id))
        won_stage = next(s for s in flow.stages if s.kind.value == "won")
        customer = Customer(
            organization_id=org_id,
            code="K3",
            name="客户三",
            name_key="客户三",
            owner_id=uid["A"],
            last_follow_up_at=local(11, 22),
        )
        session.add(customer)
        await session.flush()
        for closed_at, status in (
            (local(11, 2), OpportunityStatus.won),
            (local(10, 20), OpportunityStatus.lost),
        ):
            session.add(
                Opportunity(
                    organization_id=org_id,
                    name="首单",
                    customer_id=customer.id,
                    owner_id=uid["A"],
                    pipeline_id=flow.pipeline.id,
                    stage_id=won_stage.id,
                    status=status,
                    closed_at=closed_at,
                )
            )
    return Leads(tenant, users, tokens, teams, ids)


async def test_lead_response_from_creation_to_first_response(client, leads):
    """L1 30 min, L2 1,560 min (26 h), L5 240 min; L3 unanswered; L4 came in October."""
    rows = ok(await kpi(client, leads.tenant.headers, "lead-response", **NOVEMBER))["rows"]
    assert rows == [
        {
            "received": 4,
            "responded": 3,
            "median_minutes": 240.0,
            "p90_minutes": 1296.0,  # rank 1.8 of (30, 240, 1560)
            "reached_24h": 2,
            "reach_24h_rate": 0.5,
            "sla_met": 1,  # L1; L2's timer was met after it was due
            "sla_decided": 3,
            "sla_met_rate": 0.3333,
        }
    ]
    per_user = {
        r["user"]["name"]: (r["received"], r["responded"], r["median_minutes"])
        for r in ok(await kpi(client, leads.tenant.headers, "lead-response", group_by="user", **NOVEMBER))[
            "rows"
        ]
    }
    # L2, reassigned twice, counts once: for B, who owns it now.
    assert per_user == {"销售A": (1, 1, 30.0), "销售B": (2, 2, 900.0), "销售C": (1, 0, None)}
    per_team = ok(await kpi(client, leads.tenant.headers, "lead-response", group_by="team", **NOVEMBER))[
        "rows"
    ]
    # The timers joined beside the team join: the SLA counts still add up to the whole's.
    assert sum(r["received"] for r in per_team) == 4
    assert (sum(r["sla_met"] for r in per_team), sum(r["sla_decided"] for r in per_team)) == (1, 3)
    by_source = ok(
        await kpi(client, leads.tenant.headers, "lead-response", source=["phone_400"], **NOVEMBER)
    )["rows"]
    assert (by_source[0]["received"], by_source[0]["responded"]) == (1, 0)
    refused = await kpi(client, leads.tenant.headers, "lead-response", pipeline_id=str(uuid.uuid4()))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "parameter.unknown"


async def test_lead_utilization_counts_effective_follow_ups(client, leads):
    rows = ok(await kpi(client, leads.tenant.headers, "lead-utilization", group_by="team", **NOVEMBER))[
        "rows"
    ]
    assert {
        r["team"]["name"]: (r["received"], r["effective"], r["utilization_rate"], r["converted"])
        for r in rows
    } == {
        "华东一组": (3, 2, 0.6667, 1),  # L1, L2, L5; L1 and L5 effective; L5 converted
        "西部": (1, 0, 0.0, 0),
    }


async def test_follow_up_and_stale_are_snapshots_of_now(client, leads):
    """Worked leads L1-L4 (L5 is converted) and customers K1-K3; followed within 7 days: L1, L4,
    K1, K3. Stale: K2 (created 10-01), L2 (11-04 12:00), L3 (assigned 11-05 08:00)."""
    rows = ok(await kpi(client, leads.tenant.headers, "follow-up"))["rows"]
    assert rows == [
        {
            "days": 7,
            "leads_active": 4,
            "leads_followed": 2,
            "customers_active": 3,
            "customers_followed": 2,
            "active": 7,
            "followed": 4,
            "follow_up_rate": 0.5714,
        }
    ]
    per_user = ok(await kpi(client, leads.tenant.headers, "follow-up", group_by="user"))["rows"]
    assert {r["user"]["name"]: (r["active"], r["followed"]) for r in per_user} == {
        "销售A": (4, 4),
        "销售B": (1, 0),
        "销售C": (2, 0),
    }
    longer = ok(await kpi(client, leads.tenant.headers, "follow-up", days=30))["rows"][0]
    assert (longer["followed"], longer["active"]) == (6, 7)  # all but K2

    first = ok(await kpi(client, leads.tenant.headers, "stale", limit=2))
    assert (first["stale_leads"], first["stale_customers"], first["stale_total"]) == (2, 1, 3)
    assert [(r["name"], r["owner"]["name"], r["days_since"]) for r in first["rows"]] == [
        ("=客户二", "销售C", 53),
        ("线索L2", "销售B", 18),  # 18 days 22 hours
    ]
    rest = ok(await kpi(client, leads.tenant.headers, "stale", limit=2, cursor=first["next_cursor"]))
    assert [(r["name"], r["days_since"], r["subject_type"]) for r in rest["rows"]] == [("线索L3", 18, "lead")]
    assert rest["next_cursor"] is None
    mine = ok(await kpi(client, leads.tokens["B"], "stale"))
    assert [r["name"] for r in mine["rows"]] == ["线索L2"]
    assert mine["stale_total"] == 1

    as_csv = await client.get("/api/v1/kpis/stale", headers={**leads.tenant.headers, "Accept": "text/csv"})
    lines = as_csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "subject_type,subject_id,name,owner_id,owner_name,last_follow_up_or_since,days_since"
    assert lines[1].split(",")[2] == "'=客户二"
    refused = await kpi(client, leads.tenant.headers, "stale", group_by="user")
    assert refused.status_code == 422


async def test_contact_heatmap_by_local_weekday_and_hour(app, client, leads):
    rows = ok(await kpi(client, leads.tenant.headers, "contact-heatmap", **NOVEMBER))["rows"]
    assert [(r["weekday"], r["hour"], r["calls"], r["connected"], r["connect_rate"]) for r in rows] == [
        (1, 9, 2, 1, 0.5),
        (3, 23, 1, 1, 1.0),
        (5, 0, 1, 0, 0.0),  # Friday 00:30 in Shanghai
    ]
    # A call logged late, backdated to Monday 09:40, counts at once: KPIs read the records
    # themselves, no rollup that would have to catch up.
    runtime = app.state.runtime
    async with session_scope(runtime.sessionmaker, runtime.queue) as session:
        session.add(
            Activity(
                organization_id=leads.tenant.organization_id,
                type=ActivityType.call,
                occurred_at=local(11, 2, 9, 40),
                owner_id=uuid.UUID(leads.users["B"]["id"]),
                call_outcome=CallOutcome.connected,
            )
        )
    later = ok(await kpi(client, leads.tenant.headers, "contact-heatmap", **NOVEMBER))["rows"]
    assert (later[0]["calls"], later[0]["connected"], later[0]["connect_rate"]) == (3, 2, 0.6667)
    utc = ok(await kpi(client, leads.tenant.headers, "contact-heatmap", tz="UTC", **NOVEMBER))["rows"]
    # C's call is on Thursday in UTC.
    assert [(r["weekday"], r["hour"], r["calls"]) for r in utc] == [(1, 1, 3), (3, 15, 1), (4, 16, 1)]


async def test_time_to_first_deal_per_rep_who_started_in_the_period(client, leads):
    rows = ok(
        await kpi(
            client, leads.tenant.headers, "time-to-first-deal", **{"from": "2026-10-01", "to": "2026-10-31"}
        )
    )["rows"]
    assert [(r["user"]["name"], r["days_to_first_deal"]) for r in rows] == [("销售A", 32.0), ("销售B", None)]
    assert rows[0]["first_won_at"] == "2026-11-01T16:00:00Z"
    mine = ok(
        await kpi(
            client, leads.tokens["B"], "time-to-first-deal", **{"from": "2026-10-01", "to": "2026-10-31"}
        )
    )
    assert [r["user"]["name"] for r in mine["rows"]] == ["销售B"]


async def test_pei_credits_each_required_action_per_rep_and_week(app, client, leads):
    """Required per week: 2 calls, 1 visit and the action pack's tasks due that week. A's two
    tasks are due in the week of 11-02, one done that week and one the week after; B's one is
    open. Weeks of 11-02 and 11-09 (local Mondays)."""
    bad = await client.patch(
        "/api/v1/organization",
        json={"settings": {"pei": {"activities": {"dance": 3}}}},
        headers=leads.tenant.headers,
    )
    assert bad.status_code == 422
    ok(
        await client.patch(
            "/api/v1/organization",
            json={"settings": {"pei": {"activities": {"call": 2, "visit": 1}, "action_pack_tasks": True}}},
            headers=leads.tenant.headers,
        )
    )
    runtime = app.state.runtime
    org_id = leads.tenant.organization_id
    uid = {k: uuid.UUID(v["id"]) for k, v in leads.users.items()}
    async with session_scope(runtime.sessionmaker, runtime.queue) as session:
        stage = (await pipelines.default_pipeline(session, actor=Principal.system(org_id))).stages[0]
        for assignee, due, status, completed in (
            ("A", local(11, 3, 18), TaskStatus.done, local(11, 5, 10)),
            ("A", local(11, 4, 18), TaskStatus.done, local(11, 10, 10)),
            ("B", local(11, 5, 18), TaskStatus.open, None),
        ):
            session.add(
                Task(
                    organization_id=org_id,
                    title="发送方案",
                    assignee_id=uid[assignee],
                    due_at=due,
                    status=status,
                    stage_id=stage.id,
                    completed_at=completed,
                )
            )
    body = ok(await kpi(client, leads.tenant.headers, "pei", **{"from": "2026-11-02", "to": "2026-11-15"}))
    got = [(r["user"]["name"], r["week"]["name"], r["required"], r["done"], r["pei"]) for r in body["rows"]]
    assert got == [
        ("销售A", "2026-W45", 5, 4, 0.8),
        ("销售A", "2026-W46", 3, 0, 0.0),
        ("销售B", "2026-W45", 4, 1, 0.25),
        ("销售B", "2026-W46", 3, 0, 0.0),
        ("销售C", "2026-W45", 3, 1, 0.3333),  # Friday 00:30 in Shanghai is still that week
        ("销售C", "2026-W46", 3, 0, 0.0),
    ]
    assert body["rows"][0]["actions"] == [
        {"action": "call", "required": 2, "done": 2, "credited": 2},
        {"action": "visit", "required": 1, "done": 1, "credited": 1},
        {"action": "action_pack", "required": 2, "done": 1, "credited": 1},
    ]
    mine = ok(await kpi(client, leads.tokens["C"], "pei", **{"from": "2026-11-02", "to": "2026-11-08"}))
    assert [(r["user"]["name"], r["done"]) for r in mine["rows"]] == [("销售C", 1)]


async def test_handover_per_source_with_the_collaboration_score(app, client, leads):
    """Hand-off timers: L1 met in time, L5 breached. web_form: L1, L2, L5 (30, 1,560, 240 minutes
    to follow-up; L1 and L5 effective and reached within 24 h). phone_400: L3, never followed."""
    runtime = app.state.runtime
    org_id = leads.tenant.organization_id
    async with session_scope(runtime.sessionmaker, runtime.queue) as session:
        policy = SlaPolicy(
            organization_id=org_id, name="交接", kind=SlaKind.handover_response, target_minutes=120
        )
        session.add(policy)
        await session.flush()
        for key, state, due, stopped in (
            ("L1", TimerState.met, local(11, 2, 11), local(11, 2, 9, 30)),
            ("L5", TimerState.breached, local(11, 10, 12), None),
        ):
            session.add(
                SlaTimer(
                    organization_id=org_id,
                    policy_id=policy.id,
                    kind=SlaKind.handover_response,
                    subject_type="lead",
                    subject_id=leads.ids[key],
                    state=state,
                    started_at=due - timedelta(hours=2),
                    warn_at=due - timedelta(hours=1),
                    due_at=due,
                    stopped_at=stopped,
                )
            )
    rows = ok(await kpi(client, leads.tenant.headers, "handover", group_by="source", **NOVEMBER))["rows"]
    assert rows == [
        {
            "source": {"id": "phone_400", "name": "phone_400"},
            "received": 1,
            "responded": 0,
            "effective": 0,
            "reached_24h": 0,
            "handoff_sla_met": 0,
            "handoff_sla_decided": 0,
            "median_hours_to_follow_up": None,
            "handoff_sla_met_rate": None,
            "effective_rate": 0.0,
            "reach_24h_rate": 0.0,
            "collaboration_score": 0.0,  # the SLA's weight drops out: nothing was timed
        },
        {
            "source": {"id": "web_form", "name": "web_form"},
            "received": 3,
            "responded": 3,
            "effective": 2,
            "reached_24h": 2,
            "handoff_sla_met": 1,
            "handoff_sla_decided": 2,
            "median_hours_to_follow_up": 4.0,
            "handoff_sla_met_rate": 0.5,
            "effective_rate": 0.6667,
            "reach_24h_rate": 0.6667,
            "collaboration_score": 60.0,  # 100 x (0.4 x 0.5 + 0.3 x 0.6667 + 0.3 x 0.6667)
        },
    ]


async def test_daily_brief_answers_the_managers_morning_in_one_call(app, client, leads):
    """Monday 2026-11-23 10:00 in Shanghai. Yesterday L6 came in (A). Today a first-response timer
    on L6 was due at 09:00 and breached; one on L1 due at 11:00 is still running. L3's timer, breached
    on 11-05, is 18 days late: red on the status board."""
    runtime = app.state.runtime
    org_id = leads.tenant.organization_id
    uid = {k: uuid.UUID(v["id"]) for k, v in leads.users.items()}
    async with session_scope(runtime.sessionmaker, runtime.queue) as session:
        l6 = Lead(
            organization_id=org_id,
            name="线索L6",
            source=LeadSource.ad,
            status=LeadStatus.assigned,
            owner_id=uid["A"],
            assigned_at=local(11, 22, 15),
            created_at=local(11, 22, 15),
        )
        policy = SlaPolicy(
            organization_id=org_id, name="首响（今日）", kind=SlaKind.first_response, target_minutes=60
        )
        session.add_all([l6, policy])
        await session.flush()
        for subject, due, state in (
            (l6.id, local(11, 23, 9), TimerState.breached),
            (leads.ids["L1"], local(11, 23, 11), TimerState.running),
        ):
            session.add(
                SlaTimer(
                    organization_id=org_id,
                    policy_id=policy.id,
                    kind=SlaKind.first_response,
                    subject_type="lead",
                    subject_id=subject,
                    owner_id=uid["A"],
                    state=state,
                    started_at=due - timedelta(hours=1),
                    warn_at=due - timedelta(minutes=20),
                    due_at=due,
                )
            )
    brief = ok(await kpi(client, leads.tenant.headers, "daily-brief"))
    assert brief["as_of"] == "2026-11-23T02:00:00Z"
    assert brief["new_leads_yesterday"]["count"] == 1
    assert brief["new_leads_yesterday"]["drill_down"].startswith(
        "/api/v1/kpis/lead-response?from=2026-11-22&to=2026-11-22"
    )
    assert brief["sla_breaches_today"]["count"] == 1
    assert brief["red_items"] == {"count": 1, "drill_down": "/api/v1/status-board?rag=red"}
    assert [(r["user"]["name"], r["stale_leads"], r["stale_customers"]) for r in brief["rows"]] == [
        ("销售C", 1, 1),  # the most forgotten first
        ("销售B", 1, 0),
    ]
    assert brief["rows"][1]["drill_down"] == f"/api/v1/kpis/stale?user_id={leads.users['B']['id']}"
    trend = [
        (w["week"]["name"], w["leads_received"], w["leads_converted"], w["deals_won"], w["win_rate"])
        for w in brief["conversion_trend"]
    ]
    assert trend == [
        ("2026-W44", 1, 0, 0, None),  # L4
        ("2026-W45", 3, 0, 1, 1.0),  # L1, L2, L3; A's first deal won 11-02
        ("2026-W46", 1, 1, 0, None),  # L5, converted
        ("2026-W47", 1, 0, 0, None),  # L6, on Sunday 11-22
    ]
    followed = await client.get(brief["conversion_trend"][1]["drill_down"], headers=leads.tenant.headers)
    assert followed.status_code == 200

    mine = ok(await kpi(client, leads.tokens["B"], "daily-brief"))
    assert [r["user"]["name"] for r in mine["rows"]] == ["销售B"]
    assert mine["new_leads_yesterday"]["count"] == 0


async def test_status_board_counts_per_owner_the_most_red_first(client, leads):
    """Worked leads L1-L4 are on the board; L3's first-response timer, breached on 11-05, is red."""
    rows = ok(await kpi(client, leads.tenant.headers, "status-board"))["rows"]
    assert [(r["user"]["name"], r["green"], r["yellow"], r["red"], r["total"]) for r in rows] == [
        ("销售C", 0, 0, 1, 1),
        ("销售A", 2, 0, 0, 2),
        ("销售B", 1, 0, 0, 1),
    ]
    two_teams = await kpi(
        client,
        leads.tenant.headers,
        "status-board",
        team_id=[leads.teams["east"]["id"], leads.teams["west"]["id"]],
    )
    assert two_teams.status_code == 422
