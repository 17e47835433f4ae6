"""Tasks: follow-up work with a due time on a lead, customer or opportunity, for an assignee in any
role, listed with its red flag (overdue) and completed by an activity."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, not_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.activities.links import LeadLink, OpportunityLink, check_links
from app.domain.activities.tasks import TaskRules
from app.domain.identity.permissions import ROLE_PERMISSIONS, Permission, Role
from app.domain.identity.principal import Principal
from app.domain.models import Customer, Lead, Opportunity, Task, TaskStatus, User
from app.domain.platform.errors import Conflict, FieldError, InvalidInput, PermissionDenied
from app.services.activities import activities
from app.services.customers import customers
from app.services.leads import leads
from app.services.organization.policy import policy_for
from app.services.pipelines import opportunities
from app.services.platform import audit
from app.services.platform.common import check_version, get_visible, matches, plan_for_these_values
from app.services.platform.list_filters import ANY_TIME, Period, in_teams, text_matches, within
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page, SortOrder, paginate
from app.services.platform.visibility import visible_to

AUDITED_FIELDS = (
    "title",
    "notes",
    "assignee_id",
    "due_at",
    "status",
    "lead_id",
    "customer_id",
    "opportunity_id",
    "completed_activity_id",
)
# Roles whose users can read and do tasks: an assignee must be able to open what they are given.
_TASK_ROLES = tuple(role for role in Role if Permission.tasks_read in ROLE_PERMISSIONS[role])


@dataclass(frozen=True)
class NewTask:
    title: str
    due_at: datetime
    notes: str | None = None
    assignee_id: uuid.UUID | None = None
    lead_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    opportunity_id: uuid.UUID | None = None


@dataclass(frozen=True)
class TaskView:
    """A task as its reader sees it at `now`: the record and its red flag."""

    task: Task
    overdue: bool

    def __getattr__(self, name: str) -> Any:
        return getattr(self.task, name)


@dataclass(frozen=True)
class TaskFilters:
    """A list's filters; a list of values means any of them (the parameter given several times)."""

    lead_id: Sequence[uuid.UUID] | None = None
    customer_id: Sequence[uuid.UUID] | None = None
    opportunity_id: Sequence[uuid.UUID] | None = None
    assignee_id: Sequence[uuid.UUID] | None = None
    stage_id: Sequence[uuid.UUID] | None = None
    # The assignee's teams: a team's tasks.
    team_id: Sequence[uuid.UUID] | None = None
    status: Sequence[TaskStatus] | None = None
    overdue: bool | None = None
    due_before: datetime | None = None
    created: Period = ANY_TIME
    # Done or cancelled in this period.
    closed: Period = ANY_TIME
    # Part of the title or the notes.
    q: str | None = None


def task_visibility(actor: Principal) -> ColumnElement[bool]:
    """Who sees a task: its assignee and whoever sees the assignee's records (their supervisors),
    who asked for it, and whoever sees a record it is on (lead, customer, opportunity)."""
    if actor.sees_whole_organization:
        return true()
    organization_id = actor.organization_id
    return or_(
        visible_to(actor, Task.assignee_id),
        Task.created_by_id == actor.user_id,
        Task.lead_id.in_(
            select(Lead.id).where(Lead.organization_id == organization_id, leads.lead_visibility(actor))
        ),
        Task.customer_id.in_(
            select(Customer.id).where(
                Customer.organization_id == organization_id, visible_to(actor, Customer.owner_id)
            )
        ),
        Task.opportunity_id.in_(
            select(Opportunity.id).where(
                Opportunity.organization_id == organization_id, opportunities.opportunity_visibility(actor)
            )
        ),
    )


async def task_rules(session: AsyncSession, actor: Principal) -> TaskRules:
    return (await policy_for(session, actor)).tasks


def overdue_condition(rules: TaskRules, now: datetime) -> ColumnElement[bool]:
    """TaskRules.is_overdue in SQL."""
    return and_(Task.status == TaskStatus.open, Task.due_at <= rules.overdue_cutoff(now))


def _view(task: Task, rules: TaskRules, now: datetime) -> TaskView:
    return TaskView(
        task, rules.is_overdue(is_open=task.status is TaskStatus.open, due_at=task.due_at, now=now)
    )


async def _get(session: AsyncSession, actor: Principal, task_id: uuid.UUID, *, for_update: bool) -> Task:
    return await get_visible(
        session, Task, task_id, actor=actor, visible=task_visibility(actor), for_update=for_update
    )


async def get_task(session: AsyncSession, *, actor: Principal, task_id: uuid.UUID, now: datetime) -> TaskView:
    return _view(await _get(session, actor, task_id, for_update=False), await task_rules(session, actor), now)


async def resolve_assignee(
    session: AsyncSession, actor: Principal, requested: uuid.UUID | None, *, default: uuid.UUID | None
) -> uuid.UUID | None:
    """A task may go to a user in another team or role ("the technical department within 24 h"):
    supervisors and above (and API keys) give tasks to any active user of the organization whose
    role works tasks; a rep's tasks are their own."""
    if requested is None:
        return default
    if actor.role is Role.rep and requested != actor.user_id:
        raise PermissionDenied("A rep can only give tasks to themselves.", code="owner.not_allowed")
    assignee = await session.scalar(
        select(User.id).where(
            User.id == requested,
            User.organization_id == actor.organization_id,
            User.is_active.is_(True),
            User.role.in_(_TASK_ROLES),
        )
    )
    if assignee is None:
        raise InvalidInput(
            "The assignee must be an active user of the organization who works tasks.",
            code="task.assignee_invalid",
            errors=[FieldError("assignee_id", "assignee.invalid", "unknown, inactive or without tasks")],
        )
    return assignee


async def _linked_records(
    session: AsyncSession, actor: Principal, data: NewTask
) -> tuple[Lead | None, uuid.UUID | None, Opportunity | None]:
    """The records the task is on, each visible to the caller (else 404) and one customer's (else
    422 task.inconsistent_links); the customer is the one given, else the lead's or the deal's."""
    if data.lead_id is None and data.customer_id is None and data.opportunity_id is None:
        raise InvalidInput(
            "A task is on a lead, a customer or an opportunity.",
            code="task.invalid",
            errors=[FieldError("lead_id", "missing", "give lead_id, customer_id or opportunity_id")],
        )
    lead = None
    if data.lead_id is not None:
        lead = await leads.get_lead(session, actor=actor, lead_id=data.lead_id)
    opportunity = None
    if data.opportunity_id is not None:
        opportunity = await opportunities.get_opportunity(
            session, actor=actor, opportunity_id=data.opportunity_id
        )
    given_customer = None
    if data.customer_id is not None:
        # A merged customer's id stands for its survivor.
        given_customer = await customers.get_customer(session, actor=actor, customer_id=data.customer_id)
    check_links(
        customer_id=given_customer.id if given_customer else None,
        lead=LeadLink(lead.id, lead.customer_id) if lead else None,
        opportunity=OpportunityLink(opportunity.customer_id, opportunity.source_lead_id)
        if opportunity
        else None,
        record="task",
    )
    customer_id = (
        (given_customer.id if given_customer else None)
        or (lead.customer_id if lead else None)
        or (opportunity.customer_id if opportunity else None)
    )
    return lead, customer_id, opportunity


async def create_task(session: AsyncSession, *, actor: Principal, data: NewTask, now: datetime) -> TaskView:
    lead, customer_id, opportunity = await _linked_records(session, actor, data)
    assignee_id = await resolve_assignee(session, actor, data.assignee_id, default=actor.user_id)
    task = Task(
        organization_id=actor.organization_id,
        title=data.title,
        notes=data.notes,
        assignee_id=assignee_id,
        due_at=data.due_at,
        lead_id=lead.id if lead else None,
        customer_id=customer_id,
        opportunity_id=opportunity.id if opportunity else None,
        created_by_id=actor.user_id,
    )
    session.add(task)
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="task.created",
        entity_type="task",
        entity_id=task.id,
        after=audit.snapshot(task, AUDITED_FIELDS),
    )
    return _view(task, await task_rules(session, actor), now)


def _filtered(statement: Any, actor: Principal, filters: TaskFilters, rules: TaskRules, now: datetime) -> Any:
    for column, value in (
        (Task.lead_id, filters.lead_id),
        (Task.customer_id, filters.customer_id),
        (Task.opportunity_id, filters.opportunity_id),
        (Task.assignee_id, filters.assignee_id),
        (Task.stage_id, filters.stage_id),
        (Task.status, filters.status),
    ):
        if value:
            statement = statement.where(matches(column, list(value)))
    if filters.team_id:
        statement = statement.where(in_teams(actor, Task.assignee_id, filters.team_id))
    statement = statement.where(
        *within(Task.created_at, filters.created), *within(Task.completed_at, filters.closed)
    )
    if filters.q:
        statement = statement.where(text_matches(filters.q, [Task.title, Task.notes]))
    if filters.overdue is not None:
        overdue = overdue_condition(rules, now)
        statement = statement.where(overdue if filters.overdue else not_(overdue))
    if filters.due_before is not None:
        statement = statement.where(Task.due_at < filters.due_before)
    return statement


# Sorted by updated_at (ties by id), a list pages through records in the order they last changed.
_SORTABLE = {"due_at": Task.due_at, "created_at": Task.created_at, "updated_at": Task.updated_at}


async def list_tasks(
    session: AsyncSession,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    now: datetime,
    filters: TaskFilters | None = None,
    options: ListOptions = NO_OPTIONS,
    sort: str = "due_at",
) -> Page[TaskView]:
    """Soonest due first."""
    order = SortOrder.parse(sort, _SORTABLE)
    rules = await task_rules(session, actor)
    filters = filters or TaskFilters()
    if filters.q:
        await plan_for_these_values(session)
    statement = select(Task).where(Task.organization_id == actor.organization_id, task_visibility(actor))
    statement = _filtered(statement, actor, filters, rules, now)
    page = await paginate(
        session,
        statement,
        sort_column=_SORTABLE[order.name],
        id_column=Task.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )
    return replace(page, items=[_view(task, rules, now) for task in page.items])


async def update_task(
    session: AsyncSession,
    *,
    actor: Principal,
    task_id: uuid.UUID,
    changes: dict[str, Any],
    expected_version: int | None,
    now: datetime,
) -> TaskView:
    task = await _get(session, actor, task_id, for_update=True)
    check_version(task, expected_version)
    if task.status is not TaskStatus.open:
        raise Conflict(f"The task is {task.status.value}.", code="task.closed")
    before = audit.snapshot(task, AUDITED_FIELDS)
    if "assignee_id" in changes:
        changes = {
            **changes,
            "assignee_id": await resolve_assignee(session, actor, changes["assignee_id"], default=None),
        }
    if "due_at" in changes and changes["due_at"] != task.due_at:
        # A new due time is a new promise: its reminders go out again, once each.
        changes = {**changes, "due_notified_at": None, "overdue_notified_at": None}
    for name, value in changes.items():
        setattr(task, name, value)
    await session.flush()
    await audit.record_edit(session, actor, task, before, entity_type="task")
    return _view(task, await task_rules(session, actor), now)


def _activity_mismatch(task: Task, activity: Any) -> FieldError | None:
    """The activity that did a task is on the task's record: its opportunity, else its customer,
    else its lead."""
    for field, record in (
        ("opportunity_id", "opportunity"),
        ("customer_id", "customer"),
        ("lead_id", "lead"),
    ):
        expected = getattr(task, field)
        if expected is not None:
            if getattr(activity, field) != expected:
                return FieldError("activity_id", "mismatch", f"record the activity on the task's {record}")
            return None
    return None


async def complete_task(
    session: AsyncSession,
    *,
    actor: Principal,
    task_id: uuid.UUID,
    activity_id: uuid.UUID | None,
    cancel: bool,
    now: datetime,
) -> TaskView:
    """Done (optionally naming the activity that did it) or cancelled; either happens once."""
    task = await _get(session, actor, task_id, for_update=True)
    if task.status is not TaskStatus.open:
        raise Conflict(f"The task is already {task.status.value}.", code="task.closed")
    if activity_id is not None:
        activity = await activities.get_activity(session, actor=actor, activity_id=activity_id)
        mismatch = _activity_mismatch(task, activity)
        if mismatch is not None:
            raise InvalidInput(
                "The activity is not on the task's record.", code="task.activity_mismatch", errors=[mismatch]
            )
        task.completed_activity_id = activity.id
    before = audit.snapshot(task, AUDITED_FIELDS)
    task.status = TaskStatus.cancelled if cancel else TaskStatus.done
    task.completed_at = now
    await session.flush()
    old, new = audit.changed_fields(before, audit.snapshot(task, AUDITED_FIELDS))
    await audit.record_audit(
        session,
        actor=actor,
        action="task.cancelled" if cancel else "task.completed",
        entity_type="task",
        entity_id=task.id,
        before=old,
        after=new,
    )
    return _view(task, await task_rules(session, actor), now)
