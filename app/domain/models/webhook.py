"""Webhook subscriptions of integrators; their deliveries are `Delivery` rows."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity


class WebhookSubscription(Entity):
    __tablename__ = "webhook_subscription"
    __table_args__ = (Index(None, "organization_id", "is_active"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    # Event types it receives; ["*"] for all.
    event_types: Mapped[list[str]] = mapped_column(default=list)
    secret: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
