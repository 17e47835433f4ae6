"""Task reminders: `task.due` when an open task reaches its due time, `task.overdue` when it is still
open the organization's grace later, each exactly once, a batch of thousands at a time.

Exactly once is a conditional UPDATE ... WHERE <kind>_notified_at IS NULL ... RETURNING, one
statement per batch and kind: the rows it returns are the reminders this run claimed, and only it
announces them. Its rows are picked with FOR UPDATE SKIP LOCKED (PostgreSQL), so two runs at once
share the work instead of queueing on each other; a run that loses a row to another finds it
claimed (the UPDATE's own condition is evaluated again on the committed row) and skips it. A
rollback un-claims and un-announces together, since the outbox events are in the same transaction.

The overdue claim runs first and also marks the task due, so a task found already past its grace
(a worker down for hours, a due time entered in the past, a grace of 0) gets one reminder, the
overdue one, not both at once. A task done or cancelled is never claimed; a new due time clears
both marks (services/activities/tasks.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.models import Customer, Lead, Opportunity, Task, TaskStatus, User
from app.domain.notifications.events import TaskDue, TaskOverdue
from app.services.assignment.ownership import supervisors_of_users
from app.services.organization.policy import policy_for
from app.services.platform import bulk, outbox

REMINDER_BATCH = 5000


@dataclass(frozen=True)
class ReminderRun:
    due: int  # task.due reminders this run announced
    overdue: int  # task.overdue reminders this run announced

    def full(self, batch: int) -> bool:
        """A full batch of either kind: more may wait."""
        return max(self.due, self.overdue) >= batch


async def organizations_with_reminders(session: AsyncSession, *, now: datetime) -> list[uuid.UUID]:
    """The organizations with an open task due by `now` whose reminders are not all sent (read
    through the partial index of such tasks)."""
    rows = await session.scalars(
        select(Task.organization_id)
        .where(Task.status == TaskStatus.open, Task.overdue_notified_at.is_(None), Task.due_at <= now)
        .distinct()
    )
    return list(rows.all())


async def send_reminders(
    session: AsyncSession, *, organization_id: uuid.UUID, now: datetime, limit: int = REMINDER_BATCH
) -> ReminderRun:
    """Claims and announces up to `limit` overdue and `limit` due reminders of one organization."""
    rules = (await policy_for(session, Principal.system(organization_id))).tasks
    task = bulk.table_of(Task).c
    overdue_by = rules.overdue_cutoff(now)
    overdue_ids = await _claim(
        session,
        organization_id,
        unsent=task.overdue_notified_at.is_(None),
        due_by=overdue_by,
        marks={"overdue_notified_at": now, "due_notified_at": func.coalesce(task.due_notified_at, now)},
        limit=limit,
    )
    # Tasks already past their grace are the overdue claim's, in this batch or the next: never
    # told "due" on the way.
    due_ids = await _claim(
        session,
        organization_id,
        unsent=task.due_notified_at.is_(None) & (task.due_at > overdue_by),
        due_by=now,
        marks={"due_notified_at": now},
        limit=limit,
    )
    if overdue_ids or due_ids:
        await _announce(session, organization_id, due_ids, overdue_ids, now)
    return ReminderRun(due=len(due_ids), overdue=len(overdue_ids))


async def _claim(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    unsent: ColumnElement[bool],
    due_by: datetime,
    marks: dict[str, Any],
    limit: int,
) -> list[uuid.UUID]:
    """One conditional UPDATE: marks up to `limit` open tasks due by `due_by` whose reminder is
    unsent, and returns those it marked."""
    table = bulk.table_of(Task)
    task = table.c
    condition = (
        (task.organization_id == organization_id)
        & (task.status == TaskStatus.open)
        & unsent
        & (task.due_at <= due_by)
    )
    # A materialised CTE picks the batch once: as an IN subquery PostgreSQL may re-run it per row,
    # and each re-run skips the rows the last one locked, so LIMIT would not hold.
    picked = (
        select(task.id)
        .where(condition)
        .order_by(task.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    statement = (
        update(table)
        .where(task.id.in_(select(picked.c.id)), condition)
        # A reminder is bookkeeping, not an edit: version and updated_at stay (no If-Match breaks).
        .values(**marks, updated_at=task.updated_at)
        .returning(task.id)
    )
    return list((await session.scalars(statement)).all())


async def _announce(
    session: AsyncSession,
    organization_id: uuid.UUID,
    due_ids: Sequence[uuid.UUID],
    overdue_ids: Sequence[uuid.UUID],
    now: datetime,
) -> None:
    """One outbox event per claimed reminder, with the names its message shows and its audience:
    the assignee; for overdue also who asked for it and the assignee's supervisors."""
    rows = await _reminder_facts(session, [*due_ids, *overdue_ids])
    overdue = set(overdue_ids)
    assignees = {row.assignee_id for row in rows.values() if row.assignee_id is not None}
    supervisors = (
        await supervisors_of_users(session, assignees, organization_id=organization_id) if overdue else {}
    )
    events: list[TaskDue | TaskOverdue] = []
    for task_id, row in rows.items():
        fields: dict[str, Any] = {
            "task_id": task_id,
            "title": row.title,
            "due_at": row.due_at,
            "assignee_id": row.assignee_id,
            "assignee_name": row.assignee_name or "",
            "lead_id": row.lead_id,
            "customer_id": row.customer_id,
            "opportunity_id": row.opportunity_id,
            "record_name": row.record_name or "",
        }
        if task_id in overdue:
            audience = [row.assignee_id, row.created_by_id, *supervisors.get(row.assignee_id, [])]
            events.append(TaskOverdue(**fields, notify_user_ids=_people(audience)))
        else:
            events.append(TaskDue(**fields, notify_user_ids=_people([row.assignee_id or row.created_by_id])))
    await outbox.record_batch(session, organization_id=organization_id, events=events, now=now)


def _people(ids: Sequence[uuid.UUID | None]) -> tuple[uuid.UUID, ...]:
    return tuple(dict.fromkeys(i for i in ids if i is not None))


async def _reminder_facts(session: AsyncSession, task_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """Each task with its assignee's and record's names, in one query per batch."""
    if not task_ids:
        return {}
    statement = (
        select(
            Task.id,
            Task.title,
            Task.due_at,
            Task.assignee_id,
            Task.created_by_id,
            Task.lead_id,
            Task.customer_id,
            Task.opportunity_id,
            User.display_name.label("assignee_name"),
            func.coalesce(Opportunity.name, Customer.name, Lead.name).label("record_name"),
        )
        .outerjoin(User, User.id == Task.assignee_id)
        .outerjoin(Opportunity, Opportunity.id == Task.opportunity_id)
        .outerjoin(Customer, Customer.id == Task.customer_id)
        .outerjoin(Lead, Lead.id == Task.lead_id)
        .where(Task.id.in_(task_ids))
    )
    return {row.id: row for row in (await session.execute(statement)).all()}
