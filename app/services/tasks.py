"""Tasks: follow-up work with a due time, listed per assignee and completed by an activity."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import Conflict, FieldError, InvalidInput
from app.domain.models import Task, TaskStatus
from app.domain.principal import Principal
from app.services import activities, audit, opportunities
from app.services.common import check_version, get_visible, matches
from app.services.ownership import resolve_owner
from app.services.pagination import Page, SortOrder, paginate
from app.services.visibility import visible_to

AUDITED_FIELDS = ("title", "notes", "assignee_id", "due_at", "status", "completed_activity_id")


@dataclass(frozen=True)
class NewTask:
    title: str
    due_at: datetime
    notes: str | None = None
    assignee_id: uuid.UUID | None = None
    opportunity_id: uuid.UUID | None = None


def task_visibility(actor: Principal) -> Any:
    return visible_to(actor, Task.assignee_id)


async def get_task(
    session: AsyncSession, *, actor: Principal, task_id: uuid.UUID, for_update: bool = False
) -> Task:
    return await get_visible(
        session, Task, task_id, actor=actor, visible=task_visibility(actor), for_update=for_update
    )


async def create_task(session: AsyncSession, *, actor: Principal, data: NewTask) -> Task:
    customer_id = None
    if data.opportunity_id is not None:
        opportunity = await opportunities.get_opportunity(
            session, actor=actor, opportunity_id=data.opportunity_id
        )
        customer_id = opportunity.customer_id
    assignee_id = await resolve_owner(
        session, actor, data.assignee_id, default=actor.user_id, field="assignee_id"
    )
    task = Task(
        organization_id=actor.organization_id,
        title=data.title,
        notes=data.notes,
        assignee_id=assignee_id,
        due_at=data.due_at,
        opportunity_id=data.opportunity_id,
        customer_id=customer_id,
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
    return task


async def list_tasks(
    session: AsyncSession,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    assignee_id: uuid.UUID | None = None,
    status: Sequence[TaskStatus] | None = None,
    opportunity_id: uuid.UUID | None = None,
    due_before: datetime | None = None,
) -> Page[Task]:
    statement = select(Task).where(Task.organization_id == actor.organization_id, task_visibility(actor))
    if assignee_id is not None:
        statement = statement.where(Task.assignee_id == assignee_id)
    if status is not None:
        statement = statement.where(matches(Task.status, status))
    if opportunity_id is not None:
        statement = statement.where(Task.opportunity_id == opportunity_id)
    if due_before is not None:
        statement = statement.where(Task.due_at < due_before)
    return await paginate(
        session,
        statement,
        sort_column=Task.due_at,
        id_column=Task.id,
        order=SortOrder("due_at", descending=False),
        limit=limit,
        cursor=cursor,
    )


async def update_task(
    session: AsyncSession,
    *,
    actor: Principal,
    task_id: uuid.UUID,
    changes: dict[str, Any],
    expected_version: int | None,
) -> Task:
    task = await get_task(session, actor=actor, task_id=task_id, for_update=True)
    check_version(task, expected_version)
    if task.status is not TaskStatus.open:
        raise Conflict(f"The task is {task.status.value}.", code="task.closed")
    before = audit.snapshot(task, AUDITED_FIELDS)
    if "assignee_id" in changes:
        changes = {
            **changes,
            "assignee_id": await resolve_owner(
                session, actor, changes["assignee_id"], default=None, field="assignee_id"
            ),
        }
    for name, value in changes.items():
        setattr(task, name, value)
    await session.flush()
    old, new = audit.changed_fields(before, audit.snapshot(task, AUDITED_FIELDS))
    if new:
        await audit.record_audit(
            session,
            actor=actor,
            action="task.updated",
            entity_type="task",
            entity_id=task.id,
            before=old,
            after=new,
        )
    return task


async def complete_task(
    session: AsyncSession,
    *,
    actor: Principal,
    task_id: uuid.UUID,
    activity_id: uuid.UUID | None,
    cancel: bool,
    now: datetime,
) -> Task:
    """Done (optionally naming the activity that did it) or cancelled; either happens once."""
    task = await get_task(session, actor=actor, task_id=task_id, for_update=True)
    if task.status is not TaskStatus.open:
        raise Conflict(f"The task is already {task.status.value}.", code="task.closed")
    if activity_id is not None:
        activity = await activities.get_activity(session, actor=actor, activity_id=activity_id)
        if task.opportunity_id is not None and activity.opportunity_id != task.opportunity_id:
            raise InvalidInput(
                "The activity is not on the task's opportunity.",
                code="task.activity_mismatch",
                errors=[
                    FieldError("activity_id", "mismatch", "record the activity on the task's opportunity")
                ],
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
    return task
