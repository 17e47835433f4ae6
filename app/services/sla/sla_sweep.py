"""The SLA sweep: carries out what has come due on live timers — warnings, breaches, escalations —
a batch of thousands of timers at a time, set-based.

Per batch: one locking SELECT of the due timers (SKIP LOCKED, so concurrent runs share the work),
two grouped look-ups for the recipients (the batch's reps' supervisors, its directors), one INSERT
of the transitions into sla_event with who is to hear of each (ON CONFLICT DO NOTHING RETURNING:
what comes back is what this run carried out), one UPDATE of the timers, and one INSERT ... SELECT
in which the database builds the outbox events from the transitions this run recorded.

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
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnExpressionArgument, String, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db import UTCDateTime
from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.models import (
    AssignmentKind,
    Customer,
    Lead,
    Opportunity,
    SlaEvent,
    SlaPolicy,
    SlaTimer,
    User,
)
from app.domain.sla.sla import (
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
from app.portable_sql import instant_text, json_object, json_value, random_uuid, uuid_text
from app.services.assignment import lead_ownership
from app.services.assignment.ownership import supervisors_of, supervisors_of_users
from app.services.platform import bulk, outbox
from app.services.platform.jobs import JobName, JobRequest, enqueue_after_commit
from app.services.sla.sla import fire_job

SWEEP_BATCH = 5000
# The cron sweep enqueues the jobs for timers due within this window (it runs once a minute).
LOOKAHEAD = timedelta(seconds=90)


@dataclass(frozen=True)
class SweepResult:
    timers: int  # due timers this run looked at (a full batch means more may wait)
    transitions: int  # warnings, breaches and escalations this run carried out


@dataclass(frozen=True, slots=True)
class _DueTimer:
    id: uuid.UUID
    organization_id: uuid.UUID
    policy_id: uuid.UUID
    subject_type: str
    subject_id: uuid.UUID
    owner_id: uuid.UUID | None
    state: TimerState
    level: int
    plan: Schedule
    transitions: list[Transition]


@dataclass(frozen=True, slots=True)
class _Carried:
    timer: _DueTimer
    transition: Transition


async def fire_due_timers(session: AsyncSession, *, now: datetime, limit: int = SWEEP_BATCH) -> SweepResult:
    """Carries out what has come due by `now` on one batch of the earliest due live timers."""
    timers = await _lock_due(session, now, limit)
    if not timers:
        return SweepResult(0, 0)
    policies = await _policies(session, {timer.policy_id for timer in timers})
    recipients = await _Recipients.load(session, timers)
    carried = await _record_transitions(session, timers, policies, recipients, now)
    await _advance(session, timers, now)
    if carried:
        await _notify(session, [timer.id for timer in timers], now)
        await _request_health_refresh(
            session, {item.timer.id for item in carried if item.transition.state is TimerState.breached}
        )
        # After the timers advanced: an action that moves the lead stops its clocks.
        await _take_actions(session, carried, policies, now)
    return SweepResult(len(timers), len(carried))


async def _request_health_refresh(session: AsyncSession, timer_ids: Collection[uuid.UUID]) -> None:
    """After commit, the health of the customers whose records these breached timers run on.

    A job rather than a recompute in the sweep's transaction: the sweep holds its timers locked,
    and an activity holds its customer while it stops timers, so scoring (writing the customer)
    here could deadlock with it."""
    if not timer_ids:
        return
    customer_of = func.coalesce(Customer.id, Lead.customer_id, Opportunity.customer_id)
    rows = await session.execute(
        select(SlaTimer.organization_id, customer_of)
        .outerjoin(Customer, (SlaTimer.subject_type == "customer") & (Customer.id == SlaTimer.subject_id))
        .outerjoin(Lead, (SlaTimer.subject_type == "lead") & (Lead.id == SlaTimer.subject_id))
        .outerjoin(
            Opportunity, (SlaTimer.subject_type == "opportunity") & (Opportunity.id == SlaTimer.subject_id)
        )
        .where(SlaTimer.id.in_(list(timer_ids)), customer_of.is_not(None))
        .distinct()
    )
    by_organization: dict[uuid.UUID, set[uuid.UUID]] = {}
    for organization_id, customer_id in rows.all():
        by_organization.setdefault(organization_id, set()).add(customer_id)
    for organization_id, customer_ids in by_organization.items():
        job = JobRequest(
            JobName.refresh_customer_health, args=(str(organization_id), sorted(str(i) for i in customer_ids))
        )
        enqueue_after_commit(session, job)


async def _lock_due(session: AsyncSession, now: datetime, limit: int) -> list[_DueTimer]:
    """Locks the earliest due live timers no other run holds."""
    # The table's columns, not the mapped class's: thousands of plain rows skip the ORM's loading.
    timer = bulk.table_of(SlaTimer).c
    rows = await session.execute(
        select(
            timer.id,
            timer.organization_id,
            timer.policy_id,
            timer.subject_type,
            timer.subject_id,
            timer.owner_id,
            timer.state,
            timer.level,
            timer.warn_at,
            timer.due_at,
            timer.escalate_at,
        )
        .where(timer.state.in_(ACTIVE_STATES), timer.next_fire_at <= now)
        .order_by(timer.next_fire_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    timers = []
    for timer_id, organization_id, policy_id, subject_type, subject_id, owner_id, *schedule in rows.all():
        state, level, warn_at, due_at, escalate_at = schedule
        plan = Schedule(warn_at, due_at, tuple(datetime.fromisoformat(at) for at in escalate_at))
        timers.append(
            _DueTimer(
                id=timer_id,
                organization_id=organization_id,
                policy_id=policy_id,
                subject_type=subject_type,
                subject_id=subject_id,
                owner_id=owner_id,
                state=state,
                level=level,
                plan=plan,
                transitions=due_transitions(state, level, plan, now),
            )
        )
    return timers


async def _policies(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, tuple[str, PolicyRules]]:
    rows = await session.execute(
        select(SlaPolicy.id, SlaPolicy.name, SlaPolicy.rules).where(SlaPolicy.id.in_(ids))
    )
    return {policy_id: (name, parse_rules(rules)) for policy_id, name, rules in rows.all()}


@dataclass(frozen=True)
class _Recipients:
    """Who hears of a transition, by the roles its policy step names: read once per batch for the
    batch's few distinct reps and organizations, not per timer."""

    supervisors: dict[uuid.UUID, list[uuid.UUID]]
    directors: dict[uuid.UUID, list[uuid.UUID]]

    @classmethod
    async def load(cls, session: AsyncSession, timers: Sequence[_DueTimer]) -> _Recipients:
        owner_ids = {timer.owner_id for timer in timers if timer.owner_id is not None}
        return cls(
            supervisors=await supervisors_of_users(session, owner_ids),
            directors=await _directors(session, {timer.organization_id for timer in timers}),
        )

    def of(self, timer: _DueTimer, roles: Sequence[NotifyRole]) -> list[str]:
        found: list[uuid.UUID] = []
        if NotifyRole.owner in roles and timer.owner_id is not None:
            found.append(timer.owner_id)
        if NotifyRole.supervisor in roles and timer.owner_id is not None:
            found += self.supervisors.get(timer.owner_id, [])
        if NotifyRole.director in roles:
            found += self.directors.get(timer.organization_id, [])
        return [str(user_id) for user_id in dict.fromkeys(found)]


async def _record_transitions(
    session: AsyncSession,
    timers: Sequence[_DueTimer],
    policies: dict[uuid.UUID, tuple[str, PolicyRules]],
    recipients: _Recipients,
    now: datetime,
) -> list[_Carried]:
    """Inserts each due transition once, with who is to hear of it; returns those this run
    inserted."""
    by_key = {(timer.id, t.state, t.level): (timer, t) for timer in timers for t in timer.transitions}
    # Thousands of timers share a few (policy, step, owner) combinations and so their recipients.
    heard_by: dict[tuple[uuid.UUID, TimerState, int, uuid.UUID | None], list[str]] = {}
    rows = []
    for timer, transition in by_key.values():
        audience = (timer.policy_id, transition.state, transition.level, timer.owner_id)
        if audience not in heard_by:
            heard_by[audience] = recipients.of(timer, step_roles(policies[timer.policy_id][1], transition))
        rows.append(
            {
                "timer_id": timer.id,
                "state": transition.state,
                "level": transition.level,
                "organization_id": timer.organization_id,
                "due_at": transition.at,
                "occurred_at": now,
                "notify_user_ids": heard_by[audience],
            }
        )
    events = bulk.table_of(SlaEvent)
    inserted = await bulk.insert_rows(
        session,
        events,
        rows,
        returning=(events.c.timer_id, events.c.state, events.c.level),
        skip_conflicts=True,
    )
    carried = []
    for timer_id, state, level in inserted:
        timer, transition = by_key[timer_id, TimerState(state), level]
        carried.append(_Carried(timer, transition))
    return carried


async def _notify(session: AsyncSession, timer_ids: Sequence[uuid.UUID], now: datetime) -> None:
    """One outbox event per transition this run carried out, built by the database from the
    event, its timer, policy, subject and owner: no payload travels through Python.

    The run's events are those of its locked timers stamped with its `now`: no other run can
    write events for a timer this one holds, and an earlier run at the same instant left nothing
    due on it."""
    owner = aliased(User)
    events = (
        select(
            random_uuid(),
            SlaEvent.organization_id,
            literal("sla.", String) + SlaEvent.state,
            json_object(**transition_payload(owner)),
            literal(now, UTCDateTime()),
            literal(now, UTCDateTime()),
        )
        .join(SlaTimer, SlaTimer.id == SlaEvent.timer_id)
        .join(SlaPolicy, SlaPolicy.id == SlaTimer.policy_id)
        .outerjoin(Lead, (SlaTimer.subject_type == "lead") & (Lead.id == SlaTimer.subject_id))
        .outerjoin(
            Opportunity, (SlaTimer.subject_type == "opportunity") & (Opportunity.id == SlaTimer.subject_id)
        )
        .outerjoin(Customer, (SlaTimer.subject_type == "customer") & (Customer.id == SlaTimer.subject_id))
        .outerjoin(owner, owner.id == SlaTimer.owner_id)
        .where(SlaEvent.timer_id.in_(timer_ids), SlaEvent.occurred_at == now)
    )
    await outbox.record_selected(session, events)


def transition_payload(owner: type[User]) -> dict[str, ColumnExpressionArgument[Any]]:
    """The payload of the sla.warned, sla.breached and sla.escalated events, as SQL expressions
    over the event, its timer, policy and subject, and the timer's owner (`owner`)."""
    return {
        "timer_id": uuid_text(SlaEvent.timer_id),
        "policy_name": SlaPolicy.name,
        "kind": SlaTimer.kind,
        "subject_type": SlaTimer.subject_type,
        "subject_id": uuid_text(SlaTimer.subject_id),
        "level": SlaEvent.level,
        "due_at": instant_text(SlaTimer.due_at),
        "subject_name": func.coalesce(
            Lead.name, Opportunity.name, Customer.name, uuid_text(SlaTimer.subject_id)
        ),
        "owner_name": func.coalesce(owner.display_name, ""),
        "notify_user_ids": json_value(SlaEvent.notify_user_ids),
    }


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
    await bulk.update_rows(session, bulk.table_of(SlaTimer), rows, key="id", same_for_all={"updated_at": now})


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
