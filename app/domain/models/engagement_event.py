"""Engagement events: what a lead or a customer's contact did (opened an e-mail, logged into a trial),
as integrations report it, once per event id."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity, str_enum
from app.domain.scores.engagement import EngagementType


class EngagementEvent(Entity):
    __tablename__ = "engagement_event"
    __table_args__ = (
        # The sender's id makes a repeat a no-op: the database decides, under concurrent retries too.
        UniqueConstraint("organization_id", "event_id"),
        # A lead's or a customer's engagements over time (the lead's meetings for its intent score).
        Index(None, "organization_id", "lead_id", "type"),
        Index(None, "organization_id", "customer_id", "occurred_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(100))
    type: Mapped[EngagementType] = mapped_column(str_enum(EngagementType))
    occurred_at: Mapped[datetime]
    # The weight the event added to the temperature, under the settings of the day it arrived.
    weight: Mapped[float]
    lead_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
