"""The status board: each open lead, open opportunity and followed customer with the instant its plan
says it is due, how late it runs and its red/yellow/green status, for supervisors' lists and counts.

A record's plan is the earliest due_at of its open tasks and live SLA timers. The whole board is one
set-based query (records, tasks and timers in one UNION ALL, folded per record with MIN), never a
query or a Python loop per record; a page then looks up its rows' next task and timer at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Uuid,
    and_,
    case,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import UTCDateTime
from app.domain.leads import OPEN_STATUSES, LeadStatus
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
from app.domain.principal import Principal
from app.domain.sla import RagStatus, RagThresholds, SubjectType, TimerState
from app.services.pagination import Page, SortOrder, decode_cursor, encode_cursor, invalid_cursor
from app.services.policy import policy_for
from app.services.tasks import overdue_condition, task_rules, task_visibility
from app.services.visibility import visible_to

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


# --- the set-based board query ---------------------------------------------------------------------


def _task_subject_type() -> ColumnElement[Any]:
    # A task on an opportunity is that opportunity's plan (its customer_id is only a copy); a task
    # with no opportunity belongs to its customer, and one on a lead alone to that lead.
    return case(
        (Task.opportunity_id.is_not(None), SubjectType.opportunity.value),
        (Task.customer_id.is_not(None), SubjectType.customer.value),
        else_=SubjectType.lead.value,
    )


def _task_subject_id() -> ColumnElement[Any]:
    return func.coalesce(Task.opportunity_id, Task.customer_id, Task.lead_id)


def _task_on(subject_ids: Any) -> ColumnElement[bool]:
    """The task is the plan of one of these records (ids or a subquery of them)."""
    return or_(
        Task.opportunity_id.in_(subject_ids),
        and_(Task.opportunity_id.is_(None), Task.customer_id.in_(subject_ids)),
        and_(Task.opportunity_id.is_(None), Task.customer_id.is_(None), Task.lead_id.in_(subject_ids)),
    )


def _board_records(actor: Principal, filters: BoardFilters) -> list[tuple[SubjectType, Any, list[Any]]]:
    """(kind, model, conditions) selecting each kind's visible open records the filters keep."""
    kinds: dict[SubjectType, tuple[Any, ColumnElement[bool]]] = {
        SubjectType.lead: (Lead, Lead.status.in_(BOARD_LEAD_STATUSES)),
        SubjectType.opportunity: (Opportunity, Opportunity.status == OpportunityStatus.open),
        # Live (not merged) customers, kept below only while followed.
        SubjectType.customer: (Customer, Customer.merged_into_id.is_(None)),
    }
    records = []
    for kind, (model, is_open) in kinds.items():
        if filters.subject_type not in (None, kind):
            continue
        conditions = [
            model.organization_id == actor.organization_id,
            is_open,
            visible_to(actor, model.owner_id),
        ]
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


def _subject_entries(actor: Principal, filters: BoardFilters) -> list[Select[Any]]:
    """One row (is_subject 1, no due time) per visible open record the filters keep."""
    return [
        select(
            literal_column(f"'{kind.value}'", String).label("subject_type"),
            model.id.label("subject_id"),
            model.name.label("name"),
            model.owner_id.label("owner_id"),
            literal_column("1", Integer).label("is_subject"),
            cast(null(), UTCDateTime).label("due_at"),
        ).where(*conditions)
        for kind, model, conditions in _board_records(actor, filters)
    ]


def _due_entries(actor: Principal, filters: BoardFilters) -> list[Select[Any]]:
    """One row (is_subject 0) per open task and live SLA timer, with its due time.

    When the board shows some people's records (a rep's, a team's, an owner or team filter), only
    the tasks and timers of those records are read: the organization's are a rep's board's largest cost
    (0.33 s at a million leads, bench/RESULTS.md)."""
    organization_id = actor.organization_id
    on_task_record: ColumnElement[bool] = true()
    on_timer_record: ColumnElement[bool] = true()
    if not actor.sees_whole_organization or filters.owner_id is not None or filters.team_id is not None:
        shown = union_all(
            *(
                select(model.id).where(*conditions)
                for _kind, model, conditions in _board_records(actor, filters)
            )
        )
        on_task_record = _task_on(shown)
        on_timer_record = SlaTimer.subject_id.in_(shown)
    no_name, no_owner = cast(null(), String), cast(null(), Uuid)
    return [
        select(
            _task_subject_type().label("subject_type"),
            _task_subject_id().label("subject_id"),
            no_name.label("name"),
            no_owner.label("owner_id"),
            literal_column("0", Integer).label("is_subject"),
            Task.due_at.label("due_at"),
        ).where(Task.organization_id == organization_id, Task.status == TaskStatus.open, on_task_record),
        select(
            SlaTimer.subject_type,
            SlaTimer.subject_id,
            no_name.label("name"),
            no_owner.label("owner_id"),
            literal_column("0", Integer).label("is_subject"),
            SlaTimer.due_at,
        ).where(SlaTimer.organization_id == organization_id, is_live(SlaTimer.state), on_timer_record),
    ]


def _plans(actor: Principal, filters: BoardFilters) -> Any:
    """Each record on the board with its plan: the earliest due time of its open tasks and live
    timers (None when it has none).

    Records and due times meet in a window over their UNION ALL rather than in a join: the sort it
    needs costs the same whatever the planner guesses of the row counts, where a join of the
    records with an aggregated plan ran as a nested loop over the whole plan for every record on
    tables without statistics (seconds instead of milliseconds at 20,000 records)."""
    entries = union_all(*_subject_entries(actor, filters), *_due_entries(actor, filters)).subquery("entry")
    planned = select(
        entries.c.subject_type,
        entries.c.subject_id,
        entries.c.name,
        entries.c.owner_id,
        entries.c.is_subject,
        func.min(entries.c.due_at)
        .over(partition_by=(entries.c.subject_type, entries.c.subject_id))
        .label("plan_due_at"),
    ).subquery("planned")
    return select(
        planned.c.subject_type,
        planned.c.subject_id,
        planned.c.name,
        planned.c.owner_id,
        planned.c.plan_due_at,
    ).where(
        # Due times of records not on the board (closed, hidden, filtered out) have no record row.
        planned.c.is_subject == 1,
        # A customer is on the board only while followed: something is planned for it.
        or_(planned.c.subject_type != SubjectType.customer.value, planned.c.plan_due_at.is_not(None)),
    )


def _rag_column(plan_due_at: Any, thresholds: RagThresholds, now: datetime) -> ColumnElement[Any]:
    """app.domain.sla.rag_status in SQL, over the same cutoffs."""
    yellow_due_by, red_due_before = thresholds.cutoffs(now)
    return case(
        (plan_due_at.is_(None), RagStatus.green.value),
        (plan_due_at > yellow_due_by, RagStatus.green.value),
        (plan_due_at < red_due_before, RagStatus.red.value),
        else_=RagStatus.yellow.value,
    )


def _rated_board(actor: Principal, filters: BoardFilters, thresholds: RagThresholds, now: datetime) -> Any:
    """(subject_type, subject_id, name, owner_id, plan_due_at, rag) of each record the filters
    keep, as a subquery."""
    plan = _plans(actor, filters).subquery("plan")
    rated = select(*plan.c, _rag_column(plan.c.plan_due_at, thresholds, now).label("rag")).subquery("rated")
    if not filters.rags:
        return rated
    return select(*rated.c).where(rated.c.rag.in_([r.value for r in filters.rags])).subquery("chosen")


def _after_cursor(rows: Any, cursor: str) -> ColumnElement[bool]:
    """Rows after the cursor in (plan_due_at ascending, no plan last, subject_id)."""
    plan_due_at, subject_id = decode_cursor(cursor, _ORDER)
    if plan_due_at is not None and not isinstance(plan_due_at, datetime):
        raise invalid_cursor()
    if plan_due_at is None:
        return and_(rows.c.plan_due_at.is_(None), rows.c.subject_id > subject_id)
    return or_(
        rows.c.plan_due_at > plan_due_at,
        and_(rows.c.plan_due_at == plan_due_at, rows.c.subject_id > subject_id),
        rows.c.plan_due_at.is_(None),
    )


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
    rows = _rated_board(actor, filters, thresholds, now)
    page = (
        select(*rows.c)
        .order_by(rows.c.plan_due_at.asc().nulls_last(), rows.c.subject_id.asc())
        .limit(limit + 1)
    )
    if cursor is not None:
        page = page.where(_after_cursor(rows, cursor))
    # Owners' names join the page, not the board: joined before the LIMIT, every record on the
    # board was joined to its owner first.
    paged = page.subquery("page")
    statement = (
        select(*paged.c, User.display_name.label("owner_name"))
        .select_from(paged.outerjoin(User, User.id == paged.c.owner_id))
        .order_by(paged.c.plan_due_at.asc().nulls_last(), paged.c.subject_id.asc())
    )
    found = (await session.execute(statement)).all()
    next_cursor = None
    if len(found) > limit:
        found = found[:limit]
        next_cursor = encode_cursor(_ORDER, found[-1].plan_due_at, found[-1].subject_id)
    subject_ids = [row.subject_id for row in found]
    tasks = await _next_tasks(session, actor.organization_id, subject_ids)
    timers = await _earliest_timers(session, actor.organization_id, subject_ids)
    items = [
        BoardItem(
            subject_type=SubjectType(row.subject_type),
            subject_id=row.subject_id,
            name=row.name,
            owner=OwnerRef(row.owner_id, row.owner_name) if row.owner_id is not None else None,
            plan_due_at=row.plan_due_at,
            late_by=max(now - row.plan_due_at, timedelta(0)) if row.plan_due_at is not None else None,
            rag=RagStatus(row.rag),
            next_task=tasks.get(row.subject_id),
            timer=timers.get(row.subject_id),
        )
        for row in found
    ]
    return Page(items=items, next_cursor=next_cursor)


async def summarize_board(
    session: AsyncSession, *, actor: Principal, now: datetime, filters: BoardFilters
) -> BoardSummary:
    """Counts per colour, overall and per owner (the owners with the most red first)."""
    thresholds = (await policy_for(session, actor)).rag_thresholds
    rows = _rated_board(actor, filters, thresholds, now)
    counted = (
        select(rows.c.owner_id, rows.c.rag, func.count().label("records"))
        .group_by(rows.c.owner_id, rows.c.rag)
        .subquery("counted")
    )
    statement = select(counted.c.owner_id, User.display_name, counted.c.rag, counted.c.records).select_from(
        counted.outerjoin(User, User.id == counted.c.owner_id)
    )
    totals = RagCounts()
    per_owner: dict[uuid.UUID | None, OwnerCounts] = {}
    for owner_id, display_name, rag, records in (await session.execute(statement)).all():
        colour = RagStatus(rag)
        totals = totals.plus(colour, records)
        owner = OwnerRef(owner_id, display_name) if owner_id is not None else None
        before = per_owner.get(owner_id, OwnerCounts(owner, RagCounts()))
        per_owner[owner_id] = OwnerCounts(owner, before.counts.plus(colour, records))
    owners = sorted(
        per_owner.values(),
        key=lambda o: (
            -o.counts.red,
            -o.counts.yellow,
            o.owner is None,
            o.owner.display_name if o.owner else "",
        ),
    )
    overdue_tasks = await _count_overdue_tasks(session, actor, filters, now)
    return BoardSummary(thresholds=thresholds, counts=totals, owners=owners, overdue_tasks=overdue_tasks)


async def _count_overdue_tasks(
    session: AsyncSession, actor: Principal, filters: BoardFilters, now: datetime
) -> int:
    """The red flags in the caller's scope: the open overdue tasks they see (services/tasks.py),
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
