"""Webhook subscriptions of integrators; their deliveries are `Delivery` rows."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity
from app.encryption import EncryptedText


class WebhookSubscription(Entity):
    __tablename__ = "webhook_subscription"
    __table_args__ = (Index(None, "organization_id", "is_active"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    # Event types it receives; ["*"] for all.
    event_types: Mapped[list[str]] = mapped_column(default=list)
    secret: Mapped[str] = mapped_column(EncryptedText())
    # The secret a rotation replaced: deliveries are signed with it too until it expires, so the
    # receiver can switch secrets without refusing a message (Standard Webhooks, key rotation).
    previous_secret: Mapped[str | None] = mapped_column(EncryptedText())
    previous_secret_expires_at: Mapped[datetime | None]
    is_active: Mapped[bool] = mapped_column(default=True)
    # The sequence number of the last message given to this subscription (messages carry theirs).
    last_sequence: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
