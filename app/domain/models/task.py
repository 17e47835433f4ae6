"""Tasks: follow-up work with a due time, from a stage's standard action pack or entered by hand."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity, str_enum


class TaskStatus(StrEnum):
    open = "open"
    done = "done"
    cancelled = "cancelled"


class Task(Entity):
    __tablename__ = "task"
    __table_args__ = (
        Index(None, "organization_id", "assignee_id", "status", "due_at"),
        Index(None, "organization_id", "opportunity_id"),
        Index(None, "organization_id", "due_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    due_at: Mapped[datetime]
    status: Mapped[TaskStatus] = mapped_column(str_enum(TaskStatus), default=TaskStatus.open)
    opportunity_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("opportunity.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    # Set when the task comes from a stage's action pack: the process-execution index compares
    # these required actions with the ones completed.
    stage_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pipeline_stage.id", ondelete="SET NULL"))
    completed_at: Mapped[datetime | None]
    completed_activity_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("activity.id", ondelete="SET NULL")
    )
