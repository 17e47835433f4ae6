"""The status board reads each record's kept plan (plan_due_at, kept by database triggers on tasks and
SLA timers): after late changes of every kind its rows, order, colours, pages and counts equal a
straightforward recomputation from the tasks and timers themselves, for every viewer and filter."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from app.domain.leads.leads import OPEN_STATUSES, LeadStatus
from app.domain.models import Customer, Lead, Opportunity, SlaTimer, Task, TaskStatus, Team, TeamMember, User
from app.domain.sla.sla import ACTIVE_STATES, RagThresholds, rag_status
from app.services.platform.unit_of_work import session_scope
from app.services.sla import sla_sweep
from tests.api.helpers import ok
from tests.api.reports.test_status_board import SUMMARY, _admin, _as, _board, _deal, _pipeline, _z
from tests.factories import create_assigned_lead, create_customer, create_sla_policy, create_task, create_team

BOARD_LEAD_STATUSES = OPEN_STATUSES - {LeadStatus.pooled}


@dataclass(frozen=True)
class Expected:
    subject_type: str
    subject_id: uuid.UUID
    owner_id: uuid.UUID | None
    plan_due_at: datetime | None
    rag: str


async def _recomputed(app: Any, now: datetime, viewer: dict[str, Any] | None) -> list[Expected]:
    """The board from first principles: each open record's earliest open task or live timer, in
    the board's order; `viewer` a rep or supervisor (None: the whole organization)."""
    async with app.state.runtime.sessionmaker() as session:
        tasks = (await session.execute(select(Task).where(Task.status == TaskStatus.open))).scalars().all()
        timers = (await session.execute(select(SlaTimer))).scalars().all()
        leads = (await session.execute(select(Lead))).scalars().all()
        deals = (await session.execute(select(Opportunity))).scalars().all()
        customers = (await session.execute(select(Customer))).scalars().all()
        members = (await session.execute(select(TeamMember))).scalars().all()
        teams = (await session.execute(select(Team))).scalars().all()
        viewer_role = None
        if viewer is not None:
            viewer_role = (await session.get(User, uuid.UUID(viewer["id"]))).role.value
    due: dict[uuid.UUID, list[datetime]] = {}
    for task in tasks:
        due.setdefault(task.opportunity_id or task.customer_id or task.lead_id, []).append(task.due_at)
    for timer in timers:
        if timer.state in ACTIVE_STATES:
            due.setdefault(timer.subject_id, []).append(timer.due_at)
    records = [("lead", r) for r in leads if r.status in BOARD_LEAD_STATUSES]
    records += [("opportunity", r) for r in deals if r.status.value == "open"]
    records += [("customer", r) for r in customers if r.merged_into_id is None and r.id in due]
    visible = None
    if viewer is not None:
        me = uuid.UUID(viewer["id"])
        visible = {me}
        if viewer_role == "supervisor":
            supervised = {t.id for t in teams if t.supervisor_id == me}
            visible |= {m.user_id for m in members if m.team_id in supervised}
    rows = []
    for kind, record in records:
        if visible is not None and record.owner_id not in visible:
            continue
        plan = min(due[record.id]) if record.id in due else None
        rag = rag_status(plan, now, RagThresholds()).value
        rows.append(Expected(kind, record.id, record.owner_id, plan, rag))
    return sorted(rows, key=lambda r: (r.plan_due_at is None, r.plan_due_at or now, r.subject_id))


async def _assert_board_is_recomputed(
    client: httpx.AsyncClient, app: Any, now: datetime, headers: dict[str, str], viewer: dict[str, Any] | None
) -> None:
    expected = await _recomputed(app, now, viewer)
    assert expected, "the scenario leaves records on the board"
    for rags in ((), ("red",), ("yellow",), ("green",), ("red", "green"), ("red", "yellow")):
        chosen = [r for r in expected if not rags or r.rag in rags]
        params: dict[str, Any] = {"rag": list(rags)} if rags else {}
        for limit in (2, 200):  # pages of two cross every boundary: kinds, colours, no plan
            rows = await _board(client, headers, limit=limit, **params)
            seen = [
                (
                    r["subject_type"],
                    r["subject_id"],
                    r["owner"] and r["owner"]["id"],
                    r["plan_due_at"],
                    r["rag"],
                )
                for r in rows
            ]
            wanted = [
                (
                    e.subject_type,
                    str(e.subject_id),
                    e.owner_id and str(e.owner_id),
                    e.plan_due_at and _z(e.plan_due_at),
                    e.rag,
                )
                for e in chosen
            ]
            assert seen == wanted, (viewer and viewer["username"], rags, limit)
        summary = ok(await client.get(SUMMARY, params=params, headers=headers))
        colours = Counter(e.rag for e in chosen)
        assert summary["counts"] == {
            "green": colours["green"],
            "yellow": colours["yellow"],
            "red": colours["red"],
            "total": len(chosen),
        }
        per_owner = {
            (o["owner"]["id"] if o["owner"] else None, colour): o[colour]
            for o in summary["owners"]
            for colour in ("green", "yellow", "red")
            if o[colour]
        }
        assert per_owner == Counter((str(e.owner_id) if e.owner_id else None, e.rag) for e in chosen)


async def test_the_board_equals_a_recomputation_after_late_changes_for_every_viewer(
    client, app, make_tenant, make_user, clock
):
    tenant = await make_tenant()
    supervisor, _ = await make_user(tenant, "supervisor")
    wang, _ = await make_user(tenant, "rep", display_name="王芳")
    li, _ = await make_user(tenant, "rep", display_name="李强")
    zhao, _ = await make_user(tenant, "rep", display_name="赵敏")  # in no team
    await create_team(client, tenant.headers, supervisor, [wang, li])
    pipeline_id = await _pipeline(client, tenant.headers)
    await create_sla_policy(
        client, tenant.headers, name="线索30分钟首响", kind="first_response", target_minutes=30
    )
    await create_sla_policy(
        client, tenant.headers, name="客户7天回访", kind="follow_up", target_minutes=60 * 9 * 5
    )
    start = clock.now

    leads = [
        await create_assigned_lead(client, app, tenant.headers, rep, name=f"线索{i}")
        for i, rep in enumerate((wang, li, zhao))
    ]
    deals = [
        await _deal(client, tenant.headers, pipeline_id, rep, f"商机{i}")
        for i, rep in enumerate((wang, li, zhao, wang))
    ]
    await create_customer(
        client, tenant.headers, name="申华建材", owner_id=li["id"]
    )  # followed: a live follow-up timer
    tasks = {}
    for i, deal in enumerate(deals):
        tasks[i] = await create_task(
            client, tenant.headers, start - timedelta(days=i + 1), opportunity_id=deal["id"], title=f"任务{i}"
        )
    await create_task(
        client, tenant.headers, start + timedelta(hours=5), opportunity_id=deals[0]["id"], title="后续"
    )
    ok(
        await client.post(
            "/api/v1/tasks",
            json={
                "title": "电话",
                "due_at": (start - timedelta(hours=30)).isoformat(),
                "lead_id": leads[2]["id"],
            },
            headers=tenant.headers,
        ),
        201,
    )

    # Late changes, each through the API (or the sweep), with the clock moving on.
    clock.now = start + timedelta(hours=2)
    headers = await _admin(client, tenant)
    # A task completed: its deal's plan moves to the next open task.
    ok(await client.post(f"/api/v1/tasks/{tasks[0]['id']}/complete", json={}, headers=headers))
    # A task moved later.
    ok(
        await client.patch(
            f"/api/v1/tasks/{tasks[1]['id']}",
            json={"due_at": (start + timedelta(days=2)).isoformat()},
            headers=headers,
        )
    )
    # A deal won: off the board with its tasks.
    ok(await client.post(f"/api/v1/opportunities/{deals[2]['id']}/win", json={}, headers=headers))
    # A backdated first contact meets the lead's first-response timer.
    ok(
        await client.post(
            "/api/v1/activities",
            json={
                "type": "call",
                "occurred_at": (start - timedelta(minutes=5)).isoformat(),
                "lead_id": leads[0]["id"],
                "notes": "补录的首次电话",
            },
            headers=headers,
        ),
        201,
    )
    # A lead released to the pool and claimed by another rep; another reassigned.
    ok(
        await client.post(
            f"/api/v1/leads/{leads[1]['id']}/release", json={"reason": "暂无需求"}, headers=headers
        )
    )
    ok(await client.post(f"/api/v1/leads/{leads[1]['id']}/claim", json={}, headers=await _as(client, zhao)))
    ok(
        await client.post(
            f"/api/v1/leads/{leads[2]['id']}/assign",
            json={"user_id": wang["id"], "reason": "调整"},
            headers=headers,
        )
    )
    await app.state.runtime.queue.drain()
    # Timers warn, breach and escalate: the sweep moves them without moving their due instants.
    clock.now = start + timedelta(days=4)
    async with session_scope(app.state.runtime.sessionmaker, app.state.runtime.queue) as session:
        await sla_sweep.fire_due_timers(session, now=clock.now)
    await app.state.runtime.queue.drain()

    now = clock.now
    await _assert_board_is_recomputed(client, app, now, await _admin(client, tenant), None)
    for viewer in (supervisor, wang, li, zhao):
        await _assert_board_is_recomputed(client, app, now, await _as(client, viewer), viewer)
    # The colours move with the clock alone: nothing is kept but due instants.
    clock.now = now + timedelta(days=3)
    await _assert_board_is_recomputed(client, app, clock.now, await _admin(client, tenant), None)
