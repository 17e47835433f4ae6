"""Refresh tokens: opaque, stored as a SHA-256 hash, used once. Each use issues the next of the
same family; a used one presented again revokes the whole family (it was copied)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity


class RefreshToken(Entity):
    __tablename__ = "refresh_token"
    __table_args__ = (UniqueConstraint("token_hash"), Index(None, "family_id"), Index(None, "user_id"))

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    # Every token rotated from one sign-in shares its first token's family.
    family_id: Mapped[uuid.UUID]
    token_hash: Mapped[str] = mapped_column(String(64))
    # The user's token_version at issue: a password change, deactivation or sign-out everywhere
    # raises it, and refresh tokens issued before stop working like access tokens do.
    token_version: Mapped[int]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
