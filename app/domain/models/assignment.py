"""Assignment rules, and the history of every change of a lead's owner."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Entity, str_enum, utcnow
from app.domain.assignment.assignment import AssignmentKind, Strategy


class AssignmentRule(Entity):
    __tablename__ = "assignment_rule"
    __table_args__ = (
        UniqueConstraint("organization_id", "name"),
        Index(None, "organization_id", "enabled", "priority"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    priority: Mapped[int]
    enabled: Mapped[bool] = mapped_column(default=True)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    strategy: Mapped[Strategy] = mapped_column(str_enum(Strategy))
    user_ids: Mapped[list[str]] = mapped_column(default=list)
    team_ids: Mapped[list[str]] = mapped_column(default=list)
    # user id -> weight, for the weighted strategy; members not named weigh 1.
    weights: Mapped[dict[str, Any]] = mapped_column(default=dict)
    max_open_leads: Mapped[int | None]
    max_new_per_day: Mapped[int | None]
    # The rotation pointer of round_robin and weighted, advanced under this row's lock.
    position: Mapped[int] = mapped_column(default=0)


class LeadAssignment(Base):
    """Append-only: one row per change of a lead's owner (or its move to the pool)."""

    __tablename__ = "lead_assignment"
    __table_args__ = (
        Index(None, "organization_id", "user_id", "kind", "occurred_at"),
        Index(None, "organization_id", "lead_id", "occurred_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[AssignmentKind] = mapped_column(str_enum(AssignmentKind))
    # None: the lead went to the pool.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    previous_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    rule_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("assignment_rule.id", ondelete="SET NULL"))
    strategy: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500))
    actor_id: Mapped[uuid.UUID | None]
