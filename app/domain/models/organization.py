"""The tenant: every business row belongs to one organization."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity


class Organization(Entity):
    __tablename__ = "organization"

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    locale: Mapped[str] = mapped_column(String(16), default="zh-CN")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The organization's local day the nightly lead re-score last went through all its open leads
    # (app/services/scores/lead_intent.py). Written without moving `version`: no client edits it.
    leads_rescored_on: Mapped[date | None]
