"""The organization's WeCom self-built app (自建应用) that its people sign in through (H5 pages
opened inside WeCom) and whose JS-SDK the pages use."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity
from app.encryption import EncryptedText


class WecomApp(Entity):
    __tablename__ = "wecom_app"
    __table_args__ = (UniqueConstraint("organization_id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    corp_id: Mapped[str] = mapped_column(String(64))
    agent_id: Mapped[int]
    # The app's Secret: written, never answered, stored encrypted (CRM_SECRETS_KEY).
    secret: Mapped[str] = mapped_column(EncryptedText())
