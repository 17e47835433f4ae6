"""Each delivery of an outbox event to one destination, a webhook subscription or a notification
channel: the retry state and the delivery log both share."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, str_enum, utcnow
from app.domain.notifications.deliveries import DeliveryStatus


class Delivery(Base):
    __tablename__ = "delivery"
    __table_args__ = (
        # Exactly one destination; NULLs are distinct in a unique key, so each key guards its own kind.
        CheckConstraint("(subscription_id IS NULL) <> (channel_id IS NULL)", name="one_destination"),
        UniqueConstraint("subscription_id", "event_id"),
        UniqueConstraint("channel_id", "event_id"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "organization_id", "subscription_id", "created_at"),
        Index(None, "organization_id", "channel_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("webhook_subscription.id", ondelete="CASCADE")
    )
    channel_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("notification_channel.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("outbox_event.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sequence: Mapped[int | None]  # webhooks only: the subscription's message number
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus), default=DeliveryStatus.pending)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None]
