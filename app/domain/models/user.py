"""People who sign in: reps, supervisors, directors, marketing and admins."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity, str_enum
from app.domain.identity.permissions import Role


class User(Entity):
    __tablename__ = "user"
    __table_args__ = (
        # The login name is global: a user signs in without naming a tenant, like an e-mail address.
        UniqueConstraint("username"),
        # WeCom sign-in finds the user by it: one user per WeCom member in an organization.
        UniqueConstraint("organization_id", "wecom_userid"),
        Index(None, "organization_id", "role"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    is_active: Mapped[bool] = mapped_column(default=True)
    is_available: Mapped[bool] = mapped_column(default=True)
    # Leave or off shift: no automatic assignment before this instant.
    unavailable_until: Mapped[datetime | None]
    password_hash: Mapped[str] = mapped_column(String(255))
    # Carried in every access token and compared on use: raising it (password change, deactivation,
    # sign-out everywhere) revokes every token issued before.
    token_version: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    last_login_at: Mapped[datetime | None]
    # The user's id in the organization's WeCom (企业微信 userid): where WeCom application messages go.
    wecom_userid: Mapped[str | None] = mapped_column(String(64))
