"""The SLA sweep: carries out what has come due on live timers — warnings, breaches, escalations —
a batch of thousands of timers at a time, set-based.

Per batch: one locking SELECT of the due timers (SKIP LOCKED, so concurrent runs share the work),
one INSERT of their transitions into sla_event (ON CONFLICT DO NOTHING RETURNING: what comes back
is what this run carried out, and only that is notified), a handful of grouped look-ups for the
notifications' names and recipients, one INSERT of the outbox events and one UPDATE of the timers.
Exactly once holds because the sla_event key (timer, state, level) is unique: a second worker, a
retry or a run after a worker killed mid-batch (whose transaction rolled back) inserts nothing new.

Timing: a job deferred to the second a timer next needs looking at (one job per second, however
many timers share it) runs the sweep, and a cron sweep every minute is the backstop; it also
enqueues the jobs for the next minute's seconds, so a timer whose job was lost fires at most a
minute late.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.domain.models import (
    AssignmentKind,
    Customer,
    Lead,
    Opportunity,
    OutboxEvent,
    SlaEvent,
    SlaPolicy,
    SlaTimer,
    Team,
    TeamMember,
    User,
)
from app.domain.permissions import Role
from app.domain.principal import Principal
from app.domain.sla import (
    ACTIVE_STATES,
    EscalationAction,
    NotifyRole,
    PolicyRules,
    Schedule,
    TimerState,
    Transition,
    due_transitions,
    next_fire_at,
    parse_rules,
    step_of,
    step_roles,
)
from app.services import bulk, lead_ownership
from app.services.jobs import JobRequest, enqueue_after_commit
from app.services.outbox import dispatch_job
from app.services.ownership import supervisors_of
from app.services.sla import fire_job

SWEEP_BATCH = 5000
# The cron sweep enqueues the jobs for timers due within this window (it runs once a minute).
LOOKAHEAD = timedelta(seconds=90)
# Ids per IN list: below the 32,767 bind parameters PostgreSQL takes.
CHUNK = 2000


@dataclass(frozen=True)
class SweepResult:
    timers: int  # due timers this run looked at (a full batch means more may wait)
    transitions: int  # warnings, breaches and escalations this run carried out


@dataclass(frozen=True, slots=True)
class _DueTimer:
    id: uuid.UUID
    organization_id: uuid.UUID
    policy_id: uuid.UUID
    kind: str
    subject_type: str
    subject_id: uuid.UUID
    subject_name: str
    owner_id: uuid.UUID | None
    owner_name: str
    state: TimerState
    level: int
    due_at: datetime
    plan: Schedule
    transitions: list[Transition]


@dataclass(frozen=True, slots=True)
class _Carried:
    timer: _DueTimer
    transition: Transition


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


async def fire_due_timers(session: AsyncSession, *, now: datetime, limit: int = SWEEP_BATCH) -> SweepResult:
    """Carries out what has come due by `now` on one batch of the earliest due live timers."""
    timers = await _lock_due(session, now, limit)
    if not timers:
        return SweepResult(0, 0)
    carried = await _record_transitions(session, timers, now)
    await _advance(session, timers, now)
    if carried:
        policies = await _policies(session, {c.timer.policy_id for c in carried})
        await _notify(session, carried, policies, now)
        # After the timers advanced: an action that moves the lead stops its clocks.
        await _take_actions(session, carried, policies, now)
    return SweepResult(len(timers), len(carried))


async def _lock_due(session: AsyncSession, now: datetime, limit: int) -> list[_DueTimer]:
    """Locks the earliest due live timers no other run holds, with the names their notices need."""
    owner = aliased(User)
    rows = await session.execute(
        select(
            SlaTimer.id,
            SlaTimer.organization_id,
            SlaTimer.policy_id,
            SlaTimer.kind,
            SlaTimer.subject_type,
            SlaTimer.subject_id,
            func.coalesce(Lead.name, Opportunity.name, Customer.name),
            SlaTimer.owner_id,
            func.coalesce(owner.display_name, ""),
            SlaTimer.state,
            SlaTimer.level,
            SlaTimer.warn_at,
            SlaTimer.due_at,
            SlaTimer.escalate_at,
        )
        .outerjoin(Lead, (SlaTimer.subject_type == "lead") & (Lead.id == SlaTimer.subject_id))
        .outerjoin(
            Opportunity, (SlaTimer.subject_type == "opportunity") & (Opportunity.id == SlaTimer.subject_id)
        )
        .outerjoin(Customer, (SlaTimer.subject_type == "customer") & (Customer.id == SlaTimer.subject_id))
        .outerjoin(owner, owner.id == SlaTimer.owner_id)
        .where(SlaTimer.state.in_(ACTIVE_STATES), SlaTimer.next_fire_at <= now)
        .order_by(SlaTimer.next_fire_at)
        .limit(limit)
        .with_for_update(of=SlaTimer, skip_locked=True)
    )
    timers = []
    for row in rows.all():
        timer_id, organization_id, policy_id, kind, subject_type, subject_id, subject_name = row[:7]
        owner_id, owner_name, state, level, warn_at, due_at, escalate_at = row[7:]
        plan = Schedule(warn_at, due_at, tuple(datetime.fromisoformat(at) for at in escalate_at))
        timers.append(
            _DueTimer(
                id=timer_id,
                organization_id=organization_id,
                policy_id=policy_id,
                kind=kind.value,
                subject_type=subject_type,
                subject_id=subject_id,
                subject_name=subject_name or str(subject_id),
                owner_id=owner_id,
                owner_name=owner_name,
                state=state,
                level=level,
                due_at=due_at,
                plan=plan,
                transitions=due_transitions(state, level, plan, now),
            )
        )
    return timers


async def _record_transitions(
    session: AsyncSession, timers: Sequence[_DueTimer], now: datetime
) -> list[_Carried]:
    """Inserts each due transition once; returns those this run inserted."""
    by_key = {(timer.id, t.state, t.level): (timer, t) for timer in timers for t in timer.transitions}
    events = _table(SlaEvent)
    inserted = await bulk.insert_rows(
        session,
        events,
        [
            {
                "id": uuid.uuid4(),
                "organization_id": timer.organization_id,
                "timer_id": timer.id,
                "state": transition.state,
                "level": transition.level,
                "due_at": transition.at,
                "occurred_at": now,
            }
            for timer, transition in by_key.values()
        ],
        returning=(events.c.timer_id, events.c.state, events.c.level),
        skip_conflicts=True,
    )
    carried = []
    for timer_id, state, level in inserted:
        timer, transition = by_key[timer_id, TimerState(state), level]
        carried.append(_Carried(timer, transition))
    return carried


async def _policies(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, tuple[str, PolicyRules]]:
    rows = await session.execute(
        select(SlaPolicy.id, SlaPolicy.name, SlaPolicy.rules).where(SlaPolicy.id.in_(ids))
    )
    return {policy_id: (name, parse_rules(rules)) for policy_id, name, rules in rows.all()}


async def _notify(
    session: AsyncSession,
    carried: Sequence[_Carried],
    policies: dict[uuid.UUID, tuple[str, PolicyRules]],
    now: datetime,
) -> None:
    """One outbox event per transition carried out, with its recipients by role."""
    owner_ids = {c.timer.owner_id for c in carried if c.timer.owner_id is not None}
    supervisors = await _supervisors(session, owner_ids)
    directors = await _directors(session, {c.timer.organization_id for c in carried})
    events = []
    for item in carried:
        timer, transition = item.timer, item.transition
        policy_name, rules = policies[timer.policy_id]
        roles = step_roles(rules, transition)
        recipients: list[uuid.UUID] = []
        if NotifyRole.owner in roles and timer.owner_id is not None:
            recipients.append(timer.owner_id)
        if NotifyRole.supervisor in roles and timer.owner_id is not None:
            recipients += supervisors.get(timer.owner_id, [])
        if NotifyRole.director in roles:
            recipients += directors.get(timer.organization_id, [])
        events.append(
            {
                "id": uuid.uuid4(),
                "organization_id": timer.organization_id,
                "topic": f"sla.{transition.state.value}",
                "created_at": now,
                "next_attempt_at": now,
                "payload": {
                    "timer_id": str(timer.id),
                    "policy_name": policy_name,
                    "kind": timer.kind,
                    "subject_type": timer.subject_type,
                    "subject_id": str(timer.subject_id),
                    "level": transition.level,
                    "due_at": timer.due_at.isoformat(),
                    "subject_name": timer.subject_name,
                    "owner_name": timer.owner_name,
                    "notify_user_ids": [str(u) for u in dict.fromkeys(recipients)],
                },
            }
        )
    await bulk.insert_rows(session, _table(OutboxEvent), events)
    enqueue_after_commit(session, dispatch_job())


async def _supervisors(session: AsyncSession, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Each owner's supervisors: a batch's few distinct reps, not its thousands of timers."""
    found: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for chunk in _chunks(sorted(user_ids, key=str)):
        rows = await session.execute(
            select(TeamMember.user_id, Team.supervisor_id)
            .join(
                Team, (Team.id == TeamMember.team_id) & (Team.organization_id == TeamMember.organization_id)
            )
            .where(TeamMember.user_id.in_(chunk), Team.supervisor_id.is_not(None))
        )
        for user_id, supervisor_id in rows.all():
            if supervisor_id is not None and supervisor_id != user_id:
                found[user_id].add(supervisor_id)
    return {user_id: sorted(ids, key=str) for user_id, ids in found.items()}


async def _directors(
    session: AsyncSession, organization_ids: set[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    rows = await session.execute(
        select(User.organization_id, User.id).where(
            User.organization_id.in_(organization_ids), User.role == Role.director, User.is_active.is_(True)
        )
    )
    found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for organization_id, user_id in rows.all():
        found[organization_id].append(user_id)
    return found


async def _take_actions(
    session: AsyncSession,
    carried: Sequence[_Carried],
    policies: dict[uuid.UUID, tuple[str, PolicyRules]],
    now: datetime,
) -> None:
    """Escalation steps that reassign a lead or release it to the pool. Few timers reach such a
    step, so these go one lead at a time through the same ownership use cases as a manager's."""
    for item in carried:
        timer, transition = item.timer, item.transition
        if transition.state is not TimerState.escalated or timer.subject_type != "lead":
            continue
        policy_name, rules = policies[timer.policy_id]
        action = step_of(rules, transition).action
        if action is None:
            continue
        lead = await session.scalar(
            select(Lead)
            .where(Lead.id == timer.subject_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        # The lead may have changed hands since the timer started; act only on the owner it timed.
        if lead is None or lead.owner_id is None or lead.owner_id != timer.owner_id:
            continue
        actor = Principal.system(timer.organization_id)
        reason = f"SLA {policy_name!r}: escalation level {transition.level}"
        if action is EscalationAction.release_to_pool:
            await lead_ownership.put_in_pool(
                session,
                lead,
                kind=AssignmentKind.recycle,
                actor=actor,
                now=now,
                reason=reason,
                notify_supervisors=True,
            )
            continue
        supervisors = await supervisors_of(session, timer.organization_id, lead.owner_id)
        if supervisors:
            await lead_ownership.give_to(
                session,
                lead,
                owner_id=supervisors[0],
                kind=AssignmentKind.manual,
                actor=actor,
                now=now,
                reason=reason,
            )


async def _advance(session: AsyncSession, timers: Sequence[_DueTimer], now: datetime) -> None:
    """Moves each locked timer to the state its due transitions leave it in, whichever run inserted
    them (the state follows sla_event)."""
    rows = []
    for timer in timers:
        state, level = timer.state, timer.level
        for transition in timer.transitions:
            state, level = transition.state, max(level, transition.level)
        next_at = next_fire_at(state, level, timer.plan)
        rows.append({"id": timer.id, "state": state, "level": level, "next_fire_at": next_at})
    await bulk.update_rows(session, _table(SlaTimer), rows, key="id", same_for_all={"updated_at": now})


async def upcoming_fire_jobs(session: AsyncSession, *, now: datetime) -> list[JobRequest]:
    """The jobs for the seconds within the look-ahead at which some live timer comes due."""
    instants = await session.scalars(
        select(SlaTimer.next_fire_at)
        .where(
            SlaTimer.state.in_(ACTIVE_STATES),
            SlaTimer.next_fire_at > now,
            SlaTimer.next_fire_at <= now + LOOKAHEAD,
        )
        .distinct()
    )
    return list({job.job_id: job for job in (fire_job(at) for at in instants if at is not None)}.values())
