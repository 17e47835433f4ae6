"""The status board: each open lead, open opportunity and followed customer with the instant its plan
says it is due, how late it runs and its red/yellow/green status, for supervisors' lists and counts.

A record's plan is the earliest due_at of its open tasks and live SLA timers, kept on the record as
`plan_due_at` by database triggers (domain/models/plan_due.py). A page walks the plan indexes in
board order, one walk per kind and colour range, merged, and then looks up its rows' next task and
timer at once; the summary counts each owner's plans either side of the two colour cutoffs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    case,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.leads.leads import OPEN_STATUSES, LeadStatus
from app.domain.models import (
    Customer,
    Lead,
    Opportunity,
    OpportunityStatus,
    SlaPolicy,
    SlaTimer,
    Task,
    TaskStatus,
    TeamMember,
    User,
    is_live,
)
from app.domain.sla.sla import RagStatus, RagThresholds, SubjectType, TimerState, rag_status
from app.services.activities.tasks import overdue_condition, task_rules, task_visibility
from app.services.organization.policy import policy_for
from app.services.platform.display_names import display_names
from app.services.platform.pagination import Page, SortOrder, decode_cursor, encode_cursor, invalid_cursor
from app.services.platform.visibility import visible_to

# Open leads, waiting for an owner or being worked; a pooled lead is nobody's plan until claimed.
BOARD_LEAD_STATUSES = OPEN_STATUSES - {LeadStatus.pooled}
_ORDER = SortOrder("plan_due_at", descending=False)


@dataclass(frozen=True)
class BoardFilters:
    rags: frozenset[RagStatus] = frozenset()  # empty: every colour
    subject_type: SubjectType | None = None
    owner_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None


@dataclass(frozen=True)
class OwnerRef:
    id: uuid.UUID
    display_name: str


@dataclass(frozen=True)
class NextTask:
    id: uuid.UUID
    title: str
    due_at: datetime


@dataclass(frozen=True)
class LiveTimer:
    id: uuid.UUID
    policy_name: str
    state: TimerState
    due_at: datetime


@dataclass(frozen=True)
class BoardItem:
    subject_type: SubjectType
    subject_id: uuid.UUID
    name: str
    owner: OwnerRef | None
    plan_due_at: datetime | None
    late_by: timedelta | None  # zero while on or ahead of plan; None without a plan
    rag: RagStatus
    next_task: NextTask | None
    timer: LiveTimer | None


@dataclass(frozen=True)
class RagCounts:
    green: int = 0
    yellow: int = 0
    red: int = 0

    @property
    def total(self) -> int:
        return self.green + self.yellow + self.red

    def plus(self, rag: RagStatus, count: int) -> RagCounts:
        return replace(self, **{rag.value: getattr(self, rag.value) + count})


@dataclass(frozen=True)
class OwnerCounts:
    owner: OwnerRef | None  # None: records nobody owns yet
    counts: RagCounts


@dataclass(frozen=True)
class BoardSummary:
    thresholds: RagThresholds
    counts: RagCounts
    owners: list[OwnerCounts]
    overdue_tasks: int  # open tasks past their grace that the caller sees (the filters' assignees)


# --- the board over the records' kept plans --------------------------------------------------------


def _task_subject_id() -> ColumnElement[Any]:
    # A task on an opportunity is that opportunity's plan (its customer_id is only a copy); a task
    # with no opportunity belongs to its customer, and one on a lead alone to that lead (the same
    # attribution as the triggers that keep plan_due_at, models/plan_due.py).
    return func.coalesce(Task.opportunity_id, Task.customer_id, Task.lead_id)


def _task_on(subject_ids: Any) -> ColumnElement[bool]:
    """The task is the plan of one of these records (ids or a subquery of them)."""
    return or_(
        Task.opportunity_id.in_(subject_ids),
        and_(Task.opportunity_id.is_(None), Task.customer_id.in_(subject_ids)),
        and_(Task.opportunity_id.is_(None), Task.customer_id.is_(None), Task.lead_id.in_(subject_ids)),
    )


_BOARD_MODELS: dict[SubjectType, Any] = {
    SubjectType.lead: Lead,
    SubjectType.opportunity: Opportunity,
    SubjectType.customer: Customer,
}


def _is_on_board(kind: SubjectType) -> ColumnElement[bool]:
    if kind is SubjectType.lead:
        return Lead.status.in_(BOARD_LEAD_STATUSES)
    if kind is SubjectType.opportunity:
        return Opportunity.status == OpportunityStatus.open
    # Live (not merged) customers, only while followed: something is planned for them.
    return and_(Customer.merged_into_id.is_(None), Customer.plan_due_at.is_not(None))


def _board_records(actor: Principal, filters: BoardFilters) -> list[tuple[SubjectType, Any, list[Any]]]:
    """(kind, model, conditions) selecting each kind's visible open records the filters keep."""
    records = []
    for kind, model in _BOARD_MODELS.items():
        if filters.subject_type not in (None, kind):
            continue
        conditions = [model.organization_id == actor.organization_id, _is_on_board(kind)]
        conditions.append(visible_to(actor, model.owner_id))
        if filters.owner_id is not None:
            conditions.append(model.owner_id == filters.owner_id)
        if filters.team_id is not None:
            conditions.append(
                model.owner_id.in_(
                    select(TeamMember.user_id).where(
                        TeamMember.organization_id == actor.organization_id,
                        TeamMember.team_id == filters.team_id,
                    )
                )
            )
        records.append((kind, model, conditions))
    return records


@dataclass(frozen=True)
class _PlanRange:
    """Plans due in [since, until) (None: unbounded); each colour is one such range of instants."""

    since: datetime | None
    until: datetime | None

    def conditions(self, plan_due_at: Any) -> list[ColumnElement[bool]]:
        found = [plan_due_at.is_not(None)]
        if self.since is not None:
            found.append(plan_due_at >= self.since)
        if self.until is not None:
            found.append(plan_due_at < self.until)
        return found


def _plan_ranges(rags: frozenset[RagStatus], thresholds: RagThresholds, now: datetime) -> list[_PlanRange]:
    """The chosen colours as disjoint ranges of plan instants, earliest first, neighbours merged
    (app.domain.sla.sla.rag_status: red before red_due_before, yellow up to yellow_due_by inclusive,
    green after it)."""
    yellow_due_by, red_due_before = thresholds.cutoffs(now)
    after_yellow = yellow_due_by + timedelta(microseconds=1)  # instants are whole microseconds
    bounds = [
        (RagStatus.red, None, red_due_before),
        (RagStatus.yellow, red_due_before, after_yellow),
        (RagStatus.green, after_yellow, None),
    ]
    ranges: list[_PlanRange] = []
    for rag, since, until in bounds:
        if rags and rag not in rags:
            continue
        if ranges and ranges[-1].until == since:
            ranges[-1] = _PlanRange(ranges[-1].since, until)
        else:
            ranges.append(_PlanRange(since, until))
    return ranges


def _planned_page(
    records: list[tuple[SubjectType, Any, list[Any]]],
    ranges: list[_PlanRange],
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Select[Any] | None:
    """The first `limit` records with a plan, in (plan_due_at, id) order: each kind and range is one
    walk of a plan index, merged."""
    branches = []
    for kind, model, conditions in records:
        for plan_range in ranges:
            where = [*conditions, *plan_range.conditions(model.plan_due_at)]
            if after is not None:
                # The first term bounds the index walk; the second breaks the tie on the instant.
                where += [
                    model.plan_due_at >= after[0],
                    or_(model.plan_due_at > after[0], model.id > after[1]),
                ]
            branches.append(_branch(kind, model, where, limit))
    return _merged(branches, limit)


def _unplanned_page(
    records: list[tuple[SubjectType, Any, list[Any]]], after: uuid.UUID | None, limit: int
) -> Select[Any] | None:
    """The first `limit` records without a plan (green, last on the board), in id order."""
    branches = []
    for kind, model, conditions in records:
        if kind is SubjectType.customer:
            continue  # a customer without a plan is not on the board
        where = [*conditions, model.plan_due_at.is_(None)]
        if after is not None:
            where.append(model.id > after)
        branches.append(_branch(kind, model, where, limit))
    return _merged(branches, limit)


def _branch(kind: SubjectType, model: Any, where: list[Any], limit: int) -> Any:
    return (
        select(
            literal_column(f"'{kind.value}'", String).label("subject_type"),
            model.id.label("subject_id"),
            model.name.label("name"),
            model.owner_id.label("owner_id"),
            model.plan_due_at.label("plan_due_at"),
        )
        .where(*where)
        .order_by(model.plan_due_at.asc().nulls_last(), model.id.asc())
        .limit(limit)
        .subquery()
    )


def _merged(branches: list[Any], limit: int) -> Select[Any] | None:
    if not branches:
        return None  # nothing of the kinds the filters keep
    merged = union_all(*(select(*branch.c) for branch in branches)).subquery("board")
    # Owners' names join the page, not the board.
    page = (
        select(*merged.c)
        .order_by(merged.c.plan_due_at.asc().nulls_last(), merged.c.subject_id.asc())
        .limit(limit)
        .subquery("page")
    )
    return (
        select(*page.c, User.display_name.label("owner_name"))
        .select_from(page.outerjoin(User, User.id == page.c.owner_id))
        .order_by(page.c.plan_due_at.asc().nulls_last(), page.c.subject_id.asc())
    )


def _decode_after(cursor: str | None) -> tuple[datetime | None, uuid.UUID | None]:
    """(plan_due_at, subject_id) of the cursor's row; a None plan: the cursor is among the records
    without a plan."""
    if cursor is None:
        return None, None
    plan_due_at, subject_id = decode_cursor(cursor, _ORDER)
    if plan_due_at is not None and not isinstance(plan_due_at, datetime):
        raise invalid_cursor()
    return plan_due_at, subject_id


# --- use cases -------------------------------------------------------------------------------------


async def list_board(
    session: AsyncSession,
    *,
    actor: Principal,
    now: datetime,
    filters: BoardFilters,
    limit: int,
    cursor: str | None,
) -> Page[BoardItem]:
    """Worst first: the longest overdue plan first, records without a plan last."""
    thresholds = (await policy_for(session, actor)).rag_thresholds
    records = _board_records(actor, filters)
    after_due, after_id = _decode_after(cursor)
    found: list[Any] = []
    if cursor is None or after_due is not None:
        ranges = _plan_ranges(filters.rags, thresholds, now)
        after = (after_due, after_id) if after_due is not None and after_id is not None else None
        found = await _rows(session, _planned_page(records, ranges, after, limit + 1))
        after_id = None
    if len(found) <= limit and (not filters.rags or RagStatus.green in filters.rags):
        found += await _rows(session, _unplanned_page(records, after_id, limit + 1 - len(found)))
    next_cursor = None
    if len(found) > limit:
        found = found[:limit]
        next_cursor = encode_cursor(_ORDER, found[-1].plan_due_at, found[-1].subject_id)
    return Page(items=await _items(session, actor, found, now, thresholds), next_cursor=next_cursor)


async def _rows(session: AsyncSession, statement: Select[Any] | None) -> list[Any]:
    return [] if statement is None else list((await session.execute(statement)).all())


async def _items(
    session: AsyncSession, actor: Principal, found: list[Any], now: datetime, thresholds: RagThresholds
) -> list[BoardItem]:
    """The page's rows with their colour, next task and earliest live timer."""
    subject_ids = [row.subject_id for row in found]
    tasks = await _next_tasks(session, actor.organization_id, subject_ids)
    timers = await _earliest_timers(session, actor.organization_id, subject_ids)
    return [
        BoardItem(
            subject_type=SubjectType(row.subject_type),
            subject_id=row.subject_id,
            name=row.name,
            owner=OwnerRef(row.owner_id, row.owner_name) if row.owner_id is not None else None,
            plan_due_at=row.plan_due_at,
            late_by=max(now - row.plan_due_at, timedelta(0)) if row.plan_due_at is not None else None,
            rag=rag_status(row.plan_due_at, now, thresholds),
            next_task=tasks.get(row.subject_id),
            timer=timers.get(row.subject_id),
        )
        for row in found
    ]


async def summarize_board(
    session: AsyncSession, *, actor: Principal, now: datetime, filters: BoardFilters
) -> BoardSummary:
    """Counts per colour, overall and per owner (the owners with the most red first)."""
    thresholds = (await policy_for(session, actor)).rag_thresholds
    per_owner_id = await _count_per_owner(session, actor, filters, thresholds, now)
    names = await display_names(
        session, organization_id=actor.organization_id, wanted=[("user", o) for o in per_owner_id]
    )
    totals = RagCounts()
    owners = []
    for owner_id, counts in per_owner_id.items():
        for rag in RagStatus:
            totals = totals.plus(rag, getattr(counts, rag.value))
        owner = OwnerRef(owner_id, names.name("user", owner_id) or "") if owner_id else None
        owners.append(OwnerCounts(owner, counts))
    owners.sort(
        key=lambda o: (
            -o.counts.red,
            -o.counts.yellow,
            o.owner is None,
            o.owner.display_name if o.owner else "",
        )
    )
    overdue_tasks = await _count_overdue_tasks(session, actor, filters, now)
    return BoardSummary(thresholds=thresholds, counts=totals, owners=owners, overdue_tasks=overdue_tasks)


async def _count_per_owner(
    session: AsyncSession, actor: Principal, filters: BoardFilters, thresholds: RagThresholds, now: datetime
) -> dict[uuid.UUID | None, RagCounts]:
    """Each owner's records per colour (only the filters' colours; owners with none left out):
    counts of plan instants on either side of the two cutoffs, read from the plan indexes."""
    yellow_due_by, red_due_before = thresholds.cutoffs(now)
    chosen = filters.rags or frozenset(RagStatus)
    per_owner: dict[uuid.UUID | None, RagCounts] = {}
    for _kind, model, conditions in _board_records(actor, filters):
        plan = model.plan_due_at
        statement = (
            select(
                model.owner_id,
                func.count(case((plan < red_due_before, 1))),
                func.count(case((and_(plan >= red_due_before, plan <= yellow_due_by), 1))),
                func.count(case((or_(plan.is_(None), plan > yellow_due_by), 1))),
            )
            .where(*conditions)
            .group_by(model.owner_id)
        )
        for owner_id, red, yellow, green in (await session.execute(statement)).all():
            counted = {RagStatus.red: red, RagStatus.yellow: yellow, RagStatus.green: green}
            before = per_owner.get(owner_id, RagCounts())
            for rag in chosen:
                before = before.plus(rag, counted[rag])
            per_owner[owner_id] = before
    return {owner_id: counts for owner_id, counts in per_owner.items() if counts.total}


async def _count_overdue_tasks(
    session: AsyncSession, actor: Principal, filters: BoardFilters, now: datetime
) -> int:
    """The red flags in the caller's scope: the open overdue tasks they see (services/activities/tasks.py),
    with the owner and team filters read as the tasks' assignee and the assignee's team."""
    rules = await task_rules(session, actor)
    statement = select(func.count()).where(
        Task.organization_id == actor.organization_id, task_visibility(actor), overdue_condition(rules, now)
    )
    if filters.owner_id is not None:
        statement = statement.where(Task.assignee_id == filters.owner_id)
    if filters.team_id is not None:
        statement = statement.where(
            Task.assignee_id.in_(
                select(TeamMember.user_id).where(
                    TeamMember.organization_id == actor.organization_id, TeamMember.team_id == filters.team_id
                )
            )
        )
    return int(await session.scalar(statement) or 0)


async def _next_tasks(
    session: AsyncSession, organization_id: uuid.UUID, subject_ids: list[uuid.UUID]
) -> dict[uuid.UUID, NextTask]:
    """Each record's earliest open task, for one page of records."""
    if not subject_ids:
        return {}
    subject_id = _task_subject_id()
    ranked = (
        select(
            subject_id.label("subject_id"),
            Task.id,
            Task.title,
            Task.due_at,
            func.row_number()
            .over(partition_by=subject_id, order_by=(Task.due_at, Task.id))
            .label("position"),
        )
        .where(
            Task.organization_id == organization_id,
            Task.status == TaskStatus.open,
            _task_on(subject_ids),
        )
        .subquery()
    )
    found = await session.execute(select(ranked).where(ranked.c.position == 1))
    return {row.subject_id: NextTask(row.id, row.title, row.due_at) for row in found}


async def _earliest_timers(
    session: AsyncSession, organization_id: uuid.UUID, subject_ids: list[uuid.UUID]
) -> dict[uuid.UUID, LiveTimer]:
    """Each record's live SLA timer that is due first, for one page of records."""
    if not subject_ids:
        return {}
    ranked = (
        select(
            SlaTimer.subject_id,
            SlaTimer.id,
            SlaPolicy.name.label("policy_name"),
            SlaTimer.state,
            SlaTimer.due_at,
            func.row_number()
            .over(partition_by=SlaTimer.subject_id, order_by=(SlaTimer.due_at, SlaTimer.id))
            .label("position"),
        )
        .join(SlaPolicy, SlaPolicy.id == SlaTimer.policy_id)
        .where(
            SlaTimer.organization_id == organization_id,
            is_live(SlaTimer.state),
            SlaTimer.subject_id.in_(subject_ids),
        )
        .subquery()
    )
    found = await session.execute(select(ranked).where(ranked.c.position == 1))
    return {
        row.subject_id: LiveTimer(row.id, row.policy_name, TimerState(row.state), row.due_at) for row in found
    }
