"""SLA policies, the timers they start, and the append-only record of each timer's transitions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, bindparam, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Entity, str_enum
from app.domain.models.plan_due import keep_plans_with
from app.domain.sla.sla import ACTIVE_STATES, SlaKind, TimerState

# The partial indexes' predicates: timers that can still warn, breach or escalate, and those that
# have stopped.
LIVE_TIMER = text("state IN ('running', 'warned', 'breached', 'escalated')")
STOPPED_TIMER = text("state IN ('met', 'cancelled')")


class SlaPolicy(Entity):
    __tablename__ = "sla_policy"
    __table_args__ = (UniqueConstraint("organization_id", "name"), Index(None, "organization_id", "kind"))

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[SlaKind] = mapped_column(str_enum(SlaKind))
    enabled: Mapped[bool] = mapped_column(default=True)
    # Business minutes; None for stage_dwell means "the stage's max_dwell_hours".
    target_minutes: Mapped[int | None]
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SlaTimer(Entity):
    """One SLA clock on one record. Its whole schedule is fixed at start; `next_fire_at` is when
    it next needs looking at (indexed for the sweep)."""

    __tablename__ = "sla_timer"
    # Every index over live timers gets a new entry at each warning, breach and escalation (the
    # sweep moves `state` and `next_fire_at`, so no update is HOT): live timers have only the
    # three the sweep and the start need. Stopped timers never change again, so their look-ups by
    # record and owner cost one entry each, once. A tenant's live timers by owner (a handover, a
    # filtered list) are read through the unique index's organization prefix.
    __table_args__ = (
        # One live timer per policy and record: starting it twice is a no-op.
        Index(
            "uq_sla_timer_active",
            "organization_id",
            "subject_id",
            "policy_id",
            unique=True,
            postgresql_where=LIVE_TIMER,
            sqlite_where=LIVE_TIMER,
        ),
        Index(
            "ix_sla_timer_next_fire_at",
            "next_fire_at",
            postgresql_where=LIVE_TIMER,
            sqlite_where=LIVE_TIMER,
        ),
        Index(
            "ix_sla_timer_stopped_subject",
            "organization_id",
            "subject_id",
            postgresql_where=STOPPED_TIMER,
            sqlite_where=STOPPED_TIMER,
        ),
        Index(
            "ix_sla_timer_stopped_owner",
            "organization_id",
            "owner_id",
            postgresql_where=STOPPED_TIMER,
            sqlite_where=STOPPED_TIMER,
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    policy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sla_policy.id", ondelete="CASCADE"))
    kind: Mapped[SlaKind] = mapped_column(str_enum(SlaKind))
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[uuid.UUID]
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    state: Mapped[TimerState] = mapped_column(str_enum(TimerState), default=TimerState.running)
    level: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime]
    warn_at: Mapped[datetime]
    due_at: Mapped[datetime]
    escalate_at: Mapped[list[str]] = mapped_column(default=list)  # ISO instants, one per step
    next_fire_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]


keep_plans_with(Base.metadata)


def is_live(state: Any) -> Any:
    """`state` among the live states, written into the SQL as literals.

    The partial indexes over live timers serve a query only when the planner sees these states; as
    bound parameters (what `in_` sends) a prepared statement's generic plan, used from its sixth run
    on, cannot match the index predicate and reads every timer of the table.
    """
    states = sorted(s.value for s in ACTIVE_STATES)
    return state.in_(bindparam("live_timer_states", states, expanding=True, literal_execute=True))


class SlaEvent(Base):
    """Append-only. The key (timer, state, level) makes each warning, breach and escalation level
    happen once, whichever worker or retry gets there; its notification is written in the same
    transaction, to the users named here.

    `timer_id` has no foreign key: the sweep, the only writer, inserts events for timers it holds
    locked, and timers go only with their organization, whose key here cascades. A foreign key
    would check each row again, the largest cost of the sweep's INSERT (bench/RESULTS.md)."""

    __tablename__ = "sla_event"

    timer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    state: Mapped[TimerState] = mapped_column(str_enum(TimerState), primary_key=True)
    level: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    due_at: Mapped[datetime]  # when the transition was due
    occurred_at: Mapped[datetime]  # when a worker carried it out
    notify_user_ids: Mapped[list[str]] = mapped_column(default=list)
