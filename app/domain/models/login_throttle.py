"""Failed sign-ins counted per (login name, client address) and per client address, in fixed
windows, to slow password guessing without letting a stranger lock a user out; web-form submissions
are counted here too, per form and per (form, client address) (app/services/platform/rate_limits.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class LoginThrottle(Base):
    # Not tenant-scoped: the name tried may belong to no organization at all.
    __tablename__ = "login_throttle"

    # "user:<login name>|client:<address>" or "client:<address>"; "intake:<form id>" or
    # "intake:<form id>|client:<address>".
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_started_at: Mapped[datetime]
    failures: Mapped[int]
