"""Opportunities, and the history of their stays in pipeline stages that funnel and dwell KPIs read."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Entity, str_enum, trigram_index, utcnow
from app.domain.pipelines.opportunities import OpportunityStatus
from app.domain.pipelines.pipelines import Move


class Opportunity(Entity):
    __tablename__ = "opportunity"
    __table_args__ = (
        Index(None, "organization_id", "owner_id", "status"),
        Index(None, "organization_id", "customer_id"),
        Index(None, "organization_id", "stage_id"),
        Index(None, "organization_id", "created_at"),
        # The list by name (sort=name).
        Index(None, "organization_id", "name"),
        # KPIs over deals closed in a period (rep-performance, sales-cycle).
        Index(None, "organization_id", "closed_at"),
        # The status board in plan order, the organization's and one owner's.
        Index(None, "organization_id", "plan_due_at", "id", postgresql_include=["status", "owner_id"]),
        Index(None, "organization_id", "owner_id", "plan_due_at", "id", postgresql_include=["status"]),
        # The id an imported deal had in its source system: a second import of it is a duplicate.
        UniqueConstraint("organization_id", "external_id"),
        # The campaign-roi KPI: a campaign's deals.
        Index(None, "organization_id", "campaign_id"),
        # "Whom to follow up first": GET /opportunities?sort=-win_probability.
        Index(None, "organization_id", "win_probability", "id"),
        # The global search over deal names (migration 0040).
        trigram_index("opportunity", "name"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # The earliest due_at of its open tasks and live SLA timers (the status board's order), kept
    # by database triggers (models/plan_due.py); NULL without any.
    plan_due_at: Mapped[datetime | None]
    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipeline.id"))
    stage_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipeline_stage.id"))
    stage_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[OpportunityStatus] = mapped_column(
        str_enum(OpportunityStatus), default=OpportunityStatus.open
    )
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    expected_close_date: Mapped[date | None]
    source_lead_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lead.id", ondelete="SET NULL"))
    # Inherited from the source lead (or set by hand): the campaign-roi KPI's deals.
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("campaign.id", ondelete="SET NULL"))
    product_lines: Mapped[list[str]] = mapped_column(default=list)
    description: Mapped[str | None] = mapped_column(Text)
    competitors: Mapped[str | None] = mapped_column(Text)
    decision_process: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None]
    lose_reason: Mapped[str | None] = mapped_column(String(200))
    # Percent, 0-100: the automatic estimate (the model's, else the stage's; 100 won, 0 lost),
    # refreshed by app/services/scores/win_probability.py without touching version or updated_at. Never
    # null, so it sorts alike on both databases.
    win_probability: Mapped[float] = mapped_column(default=0.0, server_default=text("0"))
    # What a rep set by hand, kept apart: no refresh overwrites it.
    manual_win_probability: Mapped[int | None]
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)


class StageStay(Base):
    """One row per stay of an opportunity in a stage, written in the transaction that moves it.

    The partial unique index allows one open stay (left_at IS NULL) per opportunity, so two moves
    racing from the same stage cannot both succeed.
    """

    __tablename__ = "stage_stay"
    __table_args__ = (
        Index(
            "uq_stage_stay_open",
            "opportunity_id",
            unique=True,
            postgresql_where=text("left_at IS NULL"),
            sqlite_where=text("left_at IS NULL"),
        ),
        Index(None, "organization_id", "stage_id", "entered_at"),
        Index(None, "organization_id", "opportunity_id", "entered_at"),
        # KPIs over a period: stages entered (funnel) and stays ended (stage-dwell).
        Index(None, "organization_id", "entered_at"),
        Index(None, "organization_id", "left_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    opportunity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("opportunity.id", ondelete="CASCADE"))
    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipeline.id", ondelete="CASCADE"))
    stage_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipeline_stage.id", ondelete="CASCADE"))
    # How the opportunity came into this stage; None for the stage it was created in.
    move: Mapped[Move | None] = mapped_column(str_enum(Move))
    is_abnormal: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(String(500))
    entered_at: Mapped[datetime]
    entered_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    left_at: Mapped[datetime | None]
    dwell_seconds: Mapped[int | None]
    # The deal's amount when it entered the stage: what was known then, for win-probability
    # training (an imported closed deal's first stay has none; its source amount is the close value).
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
