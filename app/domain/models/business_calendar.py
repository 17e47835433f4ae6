"""Named business calendars of an organization; the default one is what its SLA timers count."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Entity

# At most one default per organization; the services switch it under a lock on the organization row.
IS_DEFAULT = text("is_default")


class BusinessCalendarRecord(Entity):
    """The stored form of a `domain.calendars.BusinessCalendar` (its JSON form, normalised), plus the
    public holidays merged in when it is read."""

    __tablename__ = "business_calendar"
    __table_args__ = (
        UniqueConstraint("organization_id", "name"),
        Index(
            "uq_business_calendar_default",
            "organization_id",
            unique=True,
            postgresql_where=IS_DEFAULT,
            sqlite_where=IS_DEFAULT,
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))  # "上海办公室", "华南仓库周六上班"
    timezone: Mapped[str] = mapped_column(String(64))
    # {"1": [["09:00", "12:00"], ["13:30", "18:00"]], ...}; ISO weekdays, missing ones are days off.
    week: Mapped[dict[str, Any]] = mapped_column(default=dict)
    holidays: Mapped[list[str]] = mapped_column(default=list)  # "YYYY-MM-DD"
    workdays: Mapped[dict[str, Any]] = mapped_column(default=dict)  # make-up days (调休) and their intervals
    public_holidays: Mapped[str | None] = mapped_column(String(8))  # "CN" or None
    is_default: Mapped[bool] = mapped_column(default=False)
