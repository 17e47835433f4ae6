"""SLA timers: started, met and cancelled by the use cases that change leads, opportunities and
activities (in their transaction), and fired by a deferred job at their next instant with a
per-minute sweep as the backstop.

The sweep that warns, breaches and escalates them is app/services/sla/sla_sweep.py.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.models import Customer, Lead, SlaPolicy, SlaTimer
from app.domain.sla.calendars import add_business_minutes
from app.domain.sla.sla import (
    ACTIVE_STATES,
    STOPPED_STATES,
    RagStatus,
    SlaKind,
    TimerState,
    check_target,
    parse_rules,
    rag_status,
    schedule,
)
from app.services.organization.policy import policy_for
from app.services.platform import audit
from app.services.platform.common import (
    OrganizationList,
    UniqueName,
    check_version,
    get_visible,
    insert_unless_conflict,
    matches,
)
from app.services.platform.jobs import JobName, JobRequest, enqueue_after_commit
from app.services.platform.list_filters import in_teams
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page, SortOrder, paginate
from app.services.platform.visibility import visible_to

_NAME = UniqueName(SlaPolicy, "An SLA policy")


def fire_job(at: datetime) -> JobRequest:
    """The job that runs the sweep (app/services/sla/sla_sweep.py) when `at` comes, rounded up to the
    second: the job id is that second, so the timers due within one second share one job however
    many transactions ask for it."""
    second = math.ceil(at.timestamp())
    return JobRequest(
        JobName.fire_sla_timers, job_id=f"sla:{second}", defer_until=datetime.fromtimestamp(second, UTC)
    )


# --- policies -----------------------------------------------------------------------------------


async def create_policy(
    session: AsyncSession,
    *,
    actor: Principal,
    name: str,
    kind: SlaKind,
    target_minutes: int | None,
    rules: Mapping[str, Any],
    enabled: bool = True,
) -> SlaPolicy:
    parsed = parse_rules(rules, kind)
    check_target(kind, target_minutes)
    await _NAME.ensure_free(session, actor, name)
    policy = SlaPolicy(
        organization_id=actor.organization_id,
        name=name,
        kind=kind,
        enabled=enabled,
        target_minutes=target_minutes,
        rules=parsed.as_dict(),
    )
    session.add(policy)
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="sla_policy.created",
        entity_type="sla_policy",
        entity_id=policy.id,
        after={"name": name, "kind": kind.value, "target_minutes": target_minutes, "rules": policy.rules},
    )
    return policy


async def get_policy(session: AsyncSession, *, actor: Principal, policy_id: uuid.UUID) -> SlaPolicy:
    return await get_visible(session, SlaPolicy, policy_id, actor=actor)


_POLICY_SORTABLE = {"created_at": SlaPolicy.created_at, "updated_at": SlaPolicy.updated_at}
list_policies = OrganizationList(SlaPolicy, _POLICY_SORTABLE, default_sort="created_at")


async def update_policy(
    session: AsyncSession,
    *,
    actor: Principal,
    policy_id: uuid.UUID,
    changes: dict[str, Any],
    expected_version: int | None,
) -> SlaPolicy:
    """Running timers keep the schedule they started with; the change applies to new timers."""
    policy = await get_visible(session, SlaPolicy, policy_id, actor=actor, for_update=True)
    if "name" in changes and changes["name"] != policy.name:
        await _NAME.ensure_free(session, actor, changes["name"], exclude=policy.id)
    rules = parse_rules(changes["rules"], policy.kind) if "rules" in changes else None
    if "target_minutes" in changes:
        check_target(policy.kind, changes["target_minutes"])
    check_version(policy, expected_version)
    before = {"name": policy.name, "enabled": policy.enabled, "target_minutes": policy.target_minutes}
    if "name" in changes:
        policy.name = changes["name"]
    if rules is not None:
        policy.rules = rules.as_dict()
    if "target_minutes" in changes:
        policy.target_minutes = changes["target_minutes"]
    if "enabled" in changes:
        policy.enabled = changes["enabled"]
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="sla_policy.updated",
        entity_type="sla_policy",
        entity_id=policy.id,
        before=before,
        after={"name": policy.name, "enabled": policy.enabled, "target_minutes": policy.target_minutes},
    )
    return policy


# --- timers -------------------------------------------------------------------------------------


async def start_timers(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    kind: SlaKind,
    subject_type: str,
    subject_id: uuid.UUID,
    owner_id: uuid.UUID | None,
    fields: Mapping[str, Any],
    now: datetime,
    default_target_minutes: int | None = None,
) -> None:
    """Starts a timer for each enabled policy of this kind that applies; a live timer of the same
    policy on the same record is left as it is (the unique index decides)."""
    policies = (
        await session.scalars(
            select(SlaPolicy).where(
                SlaPolicy.organization_id == organization_id,
                SlaPolicy.kind == kind,
                SlaPolicy.enabled.is_(True),
            )
        )
    ).all()
    if not policies:
        return
    calendar = (await policy_for(session, Principal.system(organization_id))).business_calendar
    for policy in policies:
        rules = parse_rules(policy.rules)
        target = policy.target_minutes or default_target_minutes
        if target is None or not rules.applies_to(fields):
            continue
        plan = schedule(
            rules, now, target, lambda instant, minutes: add_business_minutes(calendar, instant, minutes)
        )
        timer_id = uuid.uuid4()
        created = await session.scalar(
            insert_unless_conflict(session, SlaTimer)
            .values(
                id=timer_id,
                organization_id=organization_id,
                policy_id=policy.id,
                kind=kind,
                subject_type=subject_type,
                subject_id=subject_id,
                owner_id=owner_id,
                state=TimerState.running,
                level=0,
                started_at=now,
                warn_at=plan.warn_at,
                due_at=plan.due_at,
                escalate_at=[at.isoformat() for at in plan.escalate_at],
                next_fire_at=plan.warn_at,
                created_at=now,
                updated_at=now,
                version=1,
            )
            .returning(SlaTimer)
        )
        if created is not None:
            enqueue_after_commit(session, fire_job(plan.warn_at))


async def start_follow_up(session: AsyncSession, customer: Customer, now: datetime) -> None:
    await start_timers(
        session,
        organization_id=customer.organization_id,
        kind=SlaKind.follow_up,
        subject_type="customer",
        subject_id=customer.id,
        owner_id=customer.owner_id,
        fields={"tier": customer.tier.value if customer.tier else None},
        now=now,
    )


async def start_lead_timers(session: AsyncSession, lead: Lead, kind: SlaKind, now: datetime) -> None:
    """Starts the lead's timers of this kind for its current owner; policies choose by source."""
    await start_timers(
        session,
        organization_id=lead.organization_id,
        kind=kind,
        subject_type="lead",
        subject_id=lead.id,
        owner_id=lead.owner_id,
        fields={"source": lead.source.value},
        now=now,
    )


async def start_handover_response(session: AsyncSession, lead: Lead, now: datetime) -> None:
    """Marketing hands a lead to sales when it enters it: sales as a whole owes the follow-up
    from that moment, through assignment queues and the pool, to whoever owns the lead then."""
    await start_lead_timers(session, lead, SlaKind.handover_response, now)


async def lead_changed_hands(session: AsyncSession, lead: Lead, *, now: datetime) -> None:
    """What a change of a lead's owner means for its timers, in the one call ownership makes
    (services/assignment/lead_ownership.py; escalation calls ownership, never the other way round): the
    first-response clock starts over for a new owner who has not followed the lead up yet and stops
    in the pool, and the handover clock keeps running for whoever owns the lead now."""
    await stop_timers(
        session,
        organization_id=lead.organization_id,
        kind=SlaKind.first_response,
        subject_id=lead.id,
        outcome=TimerState.cancelled,
        now=now,
    )
    if lead.owner_id is not None and lead.last_effective_follow_up_at is None:
        await start_lead_timers(session, lead, SlaKind.first_response, now)
    await follow_owner(session, lead=lead, now=now)


async def follow_owner(session: AsyncSession, *, lead: Lead, now: datetime) -> None:
    """A lead's handover clock keeps running when the lead changes hands; its notices go to the
    lead's owner of the moment (nobody's while it is in the pool)."""
    await session.execute(
        update(SlaTimer)
        .where(
            SlaTimer.organization_id == lead.organization_id,
            SlaTimer.kind == SlaKind.handover_response,
            SlaTimer.subject_id == lead.id,
            SlaTimer.state.in_(ACTIVE_STATES),
        )
        .values(owner_id=lead.owner_id, updated_at=now, version=SlaTimer.version + 1)
        .execution_options(synchronize_session=False)
    )


async def stop_timers(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    kind: SlaKind,
    subject_id: uuid.UUID,
    outcome: TimerState,
    now: datetime,
    started_by: datetime | None = None,
) -> int:
    """Met or cancelled: the record's live timers of this kind stop (with `started_by`, only those
    started by then); returns how many."""
    statement = update(SlaTimer).where(
        SlaTimer.organization_id == organization_id,
        SlaTimer.kind == kind,
        SlaTimer.subject_id == subject_id,
        SlaTimer.state.in_(ACTIVE_STATES),
    )
    if started_by is not None:
        statement = statement.where(SlaTimer.started_at <= started_by)
    result = await session.execute(
        statement.values(
            state=outcome, stopped_at=now, next_fire_at=None, updated_at=now, version=SlaTimer.version + 1
        ).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class RatedTimer:
    timer: SlaTimer
    rag: RagStatus  # by the organization's thresholds; a stopped timer is green


_TIMER_SORTABLE = {"due_at": SlaTimer.due_at, "updated_at": SlaTimer.updated_at}


async def list_timers(
    session: AsyncSession,
    *,
    actor: Principal,
    now: datetime,
    limit: int,
    cursor: str | None,
    state: Sequence[TimerState] | None = None,
    subject_id: Sequence[uuid.UUID] | None = None,
    owner_id: Sequence[uuid.UUID] | None = None,
    team_id: Sequence[uuid.UUID] | None = None,
    active: bool = False,
    options: ListOptions = NO_OPTIONS,
    sort: str = "due_at",
) -> Page[RatedTimer]:
    order = SortOrder.parse(sort, _TIMER_SORTABLE)
    statement = select(SlaTimer).where(
        SlaTimer.organization_id == actor.organization_id, visible_to(actor, SlaTimer.owner_id)
    )
    for column, value in (
        (SlaTimer.state, state),
        (SlaTimer.subject_id, subject_id),
        (SlaTimer.owner_id, owner_id),
    ):
        if value is not None:
            statement = statement.where(matches(column, value))
    if team_id is not None:
        statement = statement.where(in_teams(actor, SlaTimer.owner_id, team_id))
    if active:
        statement = statement.where(SlaTimer.state.in_(ACTIVE_STATES))
    elif state is None:
        # Live and stopped timers are indexed apart (see SlaTimer): naming both sides lets the
        # database read each through its own index instead of the whole table.
        statement = statement.where(
            or_(SlaTimer.state.in_(ACTIVE_STATES), SlaTimer.state.in_(STOPPED_STATES))
        )
    page = await paginate(
        session,
        statement,
        sort_column=_TIMER_SORTABLE[order.name],
        id_column=SlaTimer.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )
    thresholds = (await policy_for(session, actor)).rag_thresholds
    return replace(
        page,
        items=[
            RatedTimer(t, rag_status(t.due_at if t.state in ACTIVE_STATES else None, now, thresholds))
            for t in page.items
        ],
    )
