"""Activities: calls, visits, meetings, quotes... the audit trail of sales work that KPIs read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity, SoftDeletable, str_enum, trigram_index
from app.domain.activities.activities import ActivityType, CallOutcome

# Not soft-deleted: every ORM read of activities has this condition (app.db._hide_deleted_records).
LIVE_ACTIVITY = text("deleted_at IS NULL")


class Activity(SoftDeletable, Entity):
    __tablename__ = "activity"
    __table_args__ = (
        # An offline client retries with the same client_id and gets the same activity back.
        UniqueConstraint("organization_id", "client_id"),
        Index(None, "organization_id", "lead_id", "occurred_at"),
        Index(None, "organization_id", "customer_id", "occurred_at"),
        Index(None, "organization_id", "owner_id", "occurred_at"),
        Index(None, "organization_id", "opportunity_id", "occurred_at"),
        # The organization's newest activities (the list's default order).
        Index(None, "organization_id", "occurred_at"),
        trigram_index("activity", "notes"),
        # The activity KPIs (contact-heatmap, pei) read one or two types over a period: on
        # PostgreSQL an index-only scan, without the activity rows themselves.
        Index(
            None,
            "organization_id",
            "type",
            "occurred_at",
            postgresql_include=["owner_id", "call_outcome", "late_entry"],
            postgresql_where=LIVE_ACTIVITY,
            sqlite_where=LIVE_ACTIVITY,
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    type: Mapped[ActivityType] = mapped_column(str_enum(ActivityType))
    occurred_at: Mapped[datetime]
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    lead_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    opportunity_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("opportunity.id", ondelete="SET NULL")
    )
    # Process rules the activity broke without being refused (e.g. a quote before any demo).
    warnings: Mapped[list[str]] = mapped_column(default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    info_points: Mapped[dict[str, Any]] = mapped_column(default=dict)
    call_outcome: Mapped[CallOutcome | None] = mapped_column(str_enum(CallOutcome))
    duration_seconds: Mapped[int | None]
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    accuracy_m: Mapped[float | None]
    distance_m: Mapped[float | None]
    has_geo_mismatch: Mapped[bool] = mapped_column(default=False)
    is_effective: Mapped[bool] = mapped_column(default=False)
    attachment_ids: Mapped[list[str]] = mapped_column(default=list)
    client_id: Mapped[str | None] = mapped_column(String(64))
    # Entered long after occurred_at (the organization's activity_entry.late_entry_hours): kept,
    # but it answers clocks at its entry time and activity KPIs leave it out (docs/kpis.md).
    late_entry: Mapped[bool] = mapped_column(default=False, server_default=false())
    # A satisfaction survey's answer (1-5) taken during the activity; customer health averages it.
    satisfaction: Mapped[int | None]
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
