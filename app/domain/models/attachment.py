"""Files attached to a lead, customer, opportunity or activity; the bytes live in storage, the facts here."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity, str_enum
from app.domain.activities.attachments import AttachmentParent


class Attachment(Entity):
    __tablename__ = "attachment"
    __table_args__ = (Index(None, "organization_id", "parent_type", "parent_id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    parent_type: Mapped[AttachmentParent] = mapped_column(str_enum(AttachmentParent))
    parent_id: Mapped[uuid.UUID]
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    uploaded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
