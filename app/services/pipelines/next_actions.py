"""Next-best actions for an open deal (what the organization's won deals did in its stage, and the
stage's unfinished action-pack tasks) and the golden hour of a customer's calls.

Set-based and bounded: the mining reads the deals closed in the past `lookback_days` (setting
`next_actions`) that passed through the stage, in two grouped queries; the golden hour one or two
grouped counts of calls.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.activities.activities import ActivityType, CallOutcome
from app.domain.activities.tasks import TaskStatus
from app.domain.identity.principal import Principal
from app.domain.models import Activity, Opportunity, OpportunityStatus, PipelineStage, StageStay, Task
from app.domain.organization.policy import OrganizationPolicy
from app.domain.pipelines.next_actions import (
    CALL_LOOKBACK_DAYS,
    ClosedDeal,
    ContactTimes,
    NextActionRules,
    NextActions,
    Slot,
    StageActivity,
    contact_times,
    suggest_next_actions,
)
from app.domain.platform.errors import Conflict
from app.domain.reports.kpis import KpiQuery
from app.services.customers import customers
from app.services.organization.policy import rules_for
from app.services.pipelines import opportunities
from app.services.platform.local_clock import local_weekday_and_hour

_CLOSED = (OpportunityStatus.won, OpportunityStatus.lost)


@dataclass(frozen=True)
class PackTask:
    id: uuid.UUID
    title: str
    due_at: datetime
    assignee_id: uuid.UUID | None
    is_overdue: bool


@dataclass(frozen=True)
class CustomerContactTimes:
    customer_id: uuid.UUID
    timezone: str
    since: datetime
    min_customer_calls: int
    advice: ContactTimes


@dataclass(frozen=True)
class OpportunityNextActions:
    opportunity: Opportunity
    stage: PipelineStage
    since: datetime
    rules: NextActionRules
    mined: NextActions
    tasks: list[PackTask]
    contact_times: CustomerContactTimes


def _stage_deals(opportunity: Opportunity, since: datetime) -> list[ColumnElement[bool]]:
    """The conditions naming the organization's closed deals of the pipeline (the deal asking is
    open, so never among them), closed since `since`, and their stays in the deal's current stage."""
    return [
        StageStay.organization_id == opportunity.organization_id,
        StageStay.pipeline_id == opportunity.pipeline_id,
        StageStay.stage_id == opportunity.stage_id,
        Opportunity.id == StageStay.opportunity_id,
        Opportunity.organization_id == opportunity.organization_id,
        Opportunity.status.in_(_CLOSED),
        Opportunity.closed_at >= since,
    ]


async def _closed_deals(session: AsyncSession, opportunity: Opportunity, since: datetime) -> list[ClosedDeal]:
    rows = await session.execute(
        select(Opportunity.id, Opportunity.status).distinct().where(*_stage_deals(opportunity, since))
    )
    return [ClosedDeal(deal_id, status is OpportunityStatus.won) for deal_id, status in rows]


async def _stage_activities(
    session: AsyncSession, opportunity: Opportunity, since: datetime
) -> list[StageActivity]:
    """Each closed deal's first activity of each type within each stay in the stage (notes left out:
    written at the desk, they are no action with the customer)."""
    first = func.min(Activity.occurred_at)
    rows = await session.execute(
        select(StageStay.opportunity_id, Activity.type, StageStay.entered_at, first)
        .join(
            Activity,
            and_(
                Activity.organization_id == opportunity.organization_id,
                Activity.opportunity_id == StageStay.opportunity_id,
                Activity.occurred_at >= StageStay.entered_at,
                or_(StageStay.left_at.is_(None), Activity.occurred_at < StageStay.left_at),
            ),
        )
        .where(*_stage_deals(opportunity, since), Activity.type != ActivityType.note)
        .group_by(StageStay.id, StageStay.opportunity_id, Activity.type, StageStay.entered_at)
    )
    return [
        StageActivity(deal_id, str(kind), entered_at, first_at)
        for deal_id, kind, entered_at, first_at in rows
    ]


async def _done_types(session: AsyncSession, opportunity: Opportunity) -> set[str]:
    """The activity types the deal has done since it entered its current stage."""
    rows = await session.scalars(
        select(Activity.type)
        .distinct()
        .where(
            Activity.organization_id == opportunity.organization_id,
            Activity.opportunity_id == opportunity.id,
            Activity.occurred_at >= opportunity.stage_entered_at,
        )
    )
    return {str(kind) for kind in rows}


async def _pack_tasks(
    session: AsyncSession, opportunity: Opportunity, policy: OrganizationPolicy, now: datetime
) -> list[PackTask]:
    """The current stage's action-pack tasks of this deal still open, the soonest due first."""
    rules = policy.tasks
    rows = await session.scalars(
        select(Task)
        .where(
            Task.organization_id == opportunity.organization_id,
            Task.opportunity_id == opportunity.id,
            Task.stage_id == opportunity.stage_id,
            Task.status == TaskStatus.open,
        )
        .order_by(Task.due_at, Task.id)
    )
    return [
        PackTask(
            t.id, t.title, t.due_at, t.assignee_id, rules.is_overdue(is_open=True, due_at=t.due_at, now=now)
        )
        for t in rows
    ]


async def next_actions(
    session: AsyncSession, *, actor: Principal, opportunity_id: uuid.UUID, now: datetime
) -> OpportunityNextActions:
    """What to do next on an open deal the actor sees (409 `opportunity.closed` for a closed one)."""
    opportunity = await opportunities.get_opportunity(session, actor=actor, opportunity_id=opportunity_id)
    if opportunity.status is not OpportunityStatus.open:
        raise Conflict(
            f"The opportunity is {opportunity.status.value}; next actions are for open deals.",
            code="opportunity.closed",
        )
    policy = await rules_for(session, opportunity.organization_id)
    rules = policy.next_actions
    since = now - timedelta(days=rules.lookback_days)
    mined = suggest_next_actions(
        await _closed_deals(session, opportunity, since),
        await _stage_activities(session, opportunity, since),
        done_types=await _done_types(session, opportunity),
        stage_entered_at=opportunity.stage_entered_at,
        now=now,
        min_support=rules.min_support,
    )
    return OpportunityNextActions(
        opportunity=opportunity,
        stage=await session.get_one(PipelineStage, opportunity.stage_id),
        since=since,
        rules=rules,
        mined=mined,
        tasks=await _pack_tasks(session, opportunity, policy, now),
        contact_times=await _contact_times(
            session, policy, opportunity.organization_id, opportunity.customer_id, now
        ),
    )


async def customer_contact_times(
    session: AsyncSession, *, actor: Principal, customer_id: uuid.UUID, now: datetime
) -> CustomerContactTimes:
    """The golden hour of a customer the actor sees."""
    customer = await customers.get_customer(session, actor=actor, customer_id=customer_id)
    policy = await rules_for(session, actor.organization_id)
    return await _contact_times(session, policy, actor.organization_id, customer.id, now)


async def _call_slots(
    session: AsyncSession, organization_id: uuid.UUID, customer_id: uuid.UUID | None, query: KpiQuery
) -> list[Slot]:
    """Calls per local weekday and hour since the query's start, as the contact heatmap counts them
    (not entered late; connected = outcome `connected`), of one customer or the whole organization."""
    dialect = session.get_bind().dialect.name
    weekday, hour = local_weekday_and_hour(Activity.occurred_at, query, dialect)
    connected = case((Activity.call_outcome == CallOutcome.connected, 1), else_=0)
    statement = select(weekday, hour, func.count(), func.sum(connected)).where(
        Activity.organization_id == organization_id,
        Activity.type == ActivityType.call,
        Activity.late_entry.is_(False),
        Activity.occurred_at >= query.start,
    )
    if customer_id is not None:
        statement = statement.where(Activity.customer_id == customer_id)
    rows = await session.execute(statement.group_by(weekday, hour))
    return [Slot(int(day), int(at), int(calls), int(ok or 0)) for day, at, calls, ok in rows]


async def _contact_times(
    session: AsyncSession,
    policy: OrganizationPolicy,
    organization_id: uuid.UUID,
    customer_id: uuid.UUID,
    now: datetime,
) -> CustomerContactTimes:
    timezone, least = policy.working_hours.timezone, policy.next_actions.min_customer_calls
    since = now - timedelta(days=CALL_LOOKBACK_DAYS)
    query = KpiQuery(start=since, end=now, timezone=timezone, now=now)
    own = await _call_slots(session, organization_id, customer_id, query)
    # The organization's pattern is read only when the customer's own calls are too few.
    enough = sum(slot.attempts for slot in own) >= least
    everyone = [] if enough else await _call_slots(session, organization_id, None, query)
    return CustomerContactTimes(customer_id, timezone, since, least, contact_times(own, everyone, least))
