"""Tasks: follow-up work with a due time, from a stage's standard action pack or entered by hand."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity, str_enum, trigram_index
from app.domain.activities.tasks import TaskStatus

# Open tasks with a reminder still to send: the reminder sweep's rows (a done task leaves the index).
TO_REMIND = text("status = 'open' AND overdue_notified_at IS NULL")


class Task(Entity):
    __tablename__ = "task"
    __table_args__ = (
        Index(None, "organization_id", "assignee_id", "status", "due_at"),
        Index(None, "organization_id", "opportunity_id"),
        Index(None, "organization_id", "customer_id"),
        Index(None, "organization_id", "lead_id"),
        Index(None, "organization_id", "created_by_id"),
        Index(None, "organization_id", "due_at"),
        # closed_from/closed_to: done or cancelled in a period.
        Index(None, "organization_id", "completed_at"),
        trigram_index("task", "title"),
        trigram_index("task", "notes"),
        Index("ix_task_to_remind", "due_at", postgresql_where=TO_REMIND, sqlite_where=TO_REMIND),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    due_at: Mapped[datetime]
    status: Mapped[TaskStatus] = mapped_column(str_enum(TaskStatus), default=TaskStatus.open)
    opportunity_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("opportunity.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    lead_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"))
    # Who asked for it (None for a stage's action pack): sees it, and hears when it runs overdue.
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # Set when the task comes from a stage's action pack: the process-execution index compares
    # these required actions with the ones completed.
    stage_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pipeline_stage.id", ondelete="SET NULL"))
    completed_at: Mapped[datetime | None]
    completed_activity_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("activity.id", ondelete="SET NULL")
    )
    # When task.due and task.overdue were announced; each is set once, by a conditional UPDATE
    # (services/activities/task_reminders.py), and cleared when the due time moves.
    due_notified_at: Mapped[datetime | None]
    overdue_notified_at: Mapped[datetime | None]
