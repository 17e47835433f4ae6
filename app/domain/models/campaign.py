"""Marketing campaigns and the cost entries booked against them (issue 21, point 2)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity, str_enum
from app.domain.marketing.campaigns import CampaignChannel


class Campaign(Entity):
    __tablename__ = "campaign"
    __table_args__ = (
        # A campaign is named by its name in an import: one name, one campaign.
        UniqueConstraint("organization_id", "name"),
        Index(None, "organization_id", "channel"),
        Index(None, "organization_id", "created_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[CampaignChannel] = mapped_column(str_enum(CampaignChannel))
    starts_on: Mapped[date | None]
    ends_on: Mapped[date | None]
    budget: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    # The currency of the budget and of every cost entry.
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    is_archived: Mapped[bool] = mapped_column(default=False)
    notes: Mapped[str | None] = mapped_column(String(2000))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


class CampaignCost(Entity):
    """Money spent on a campaign on a day (a booth fee, an ad invoice): the ROI's cost."""

    __tablename__ = "campaign_cost"
    __table_args__ = (Index(None, "organization_id", "campaign_id", "incurred_on"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    incurred_on: Mapped[date]
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    currency: Mapped[str] = mapped_column(String(3))
    note: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
