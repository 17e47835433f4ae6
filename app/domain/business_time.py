"""Business time: working hours in the organization's time zone, used to measure deadlines.

One working interval per weekday for now; holidays, make-up days and several intervals a day come
with business calendars (the SLA work), behind the same `add_business_minutes` signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_DAYS_SCANNED = 3660


@dataclass(frozen=True)
class WorkingHours:
    timezone: str = "Asia/Shanghai"
    start: time = time(9, 0)
    end: time = time(18, 0)
    # ISO weekdays, Monday = 1.
    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError("working hours must start before they end")
        if not self.weekdays or not self.weekdays <= {1, 2, 3, 4, 5, 6, 7}:
            raise ValueError("weekdays are 1 (Monday) to 7 (Sunday), at least one")
        ZoneInfo(self.timezone)

    def interval_on(self, day: date) -> tuple[datetime, datetime] | None:
        if day.isoweekday() not in self.weekdays:
            return None
        zone = ZoneInfo(self.timezone)
        return datetime.combine(day, self.start, zone), datetime.combine(day, self.end, zone)


def add_business_minutes(hours: WorkingHours, instant: datetime, minutes: int) -> datetime:
    """The instant `minutes` of working time after `instant` (an aware datetime)."""
    remaining = timedelta(minutes=minutes)
    day = instant.astimezone(ZoneInfo(hours.timezone)).date()
    for _ in range(MAX_DAYS_SCANNED):
        interval = hours.interval_on(day)
        if interval is not None:
            opens, closes = interval
            begin = max(opens, instant)
            if begin < closes:
                if begin + remaining <= closes:
                    return begin + remaining
                remaining -= closes - begin
        day += timedelta(days=1)
    raise ValueError("the deadline lies more than ten years ahead")
