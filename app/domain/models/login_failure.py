"""Failed sign-ins per login name, counted to rate-limit password guessing."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


class LoginFailure(Base):
    # Not tenant-scoped: the name tried may belong to no organization at all.
    __tablename__ = "login_failure"
    __table_args__ = (Index(None, "username", "failed_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(default=utcnow)
