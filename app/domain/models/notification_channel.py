"""WeCom and DingTalk channels an organization posts its events to."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity, str_enum
from app.domain.notifications.channels import ChannelKind
from app.encryption import EncryptedJSON


class NotificationChannel(Entity):
    __tablename__ = "notification_channel"
    __table_args__ = (Index(None, "organization_id", "is_active"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))  # for people: "华东销售群", "总监提醒"
    kind: Mapped[ChannelKind] = mapped_column(str_enum(ChannelKind))
    # Event types it posts; ["*"] for all that have a message.
    event_types: Mapped[list[str]] = mapped_column(default=list)
    # Keys, tokens and ids per kind (domain.channels.ChannelKind); the secret ones are never answered,
    # and the whole object is stored encrypted.
    config: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON(), default=dict)
    is_active: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
