"""A list filter's period bound: an instant as given, or a day, which means that whole day where
the organization is (a screen's date picker sends days, an integrator instants)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DayOrInstant = date | datetime

# Days are read within these years: beyond them a local midnight has no UTC instant to store.
_FIRST_DAY = date(2, 1, 1)
_LAST_DAY = date(9998, 12, 31)


def period_start(bound: DayOrInstant, zone: ZoneInfo) -> datetime:
    """The first instant included: a day's local midnight."""
    if isinstance(bound, datetime):
        return bound
    return _local_midnight(bound, zone)


def period_end(bound: DayOrInstant, zone: ZoneInfo) -> datetime:
    """The first instant not included: for a day, the next day's local midnight, so the day is in."""
    if isinstance(bound, datetime):
        return bound
    return _local_midnight(bound + timedelta(days=1) if bound < _LAST_DAY else bound, zone)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    day = min(max(day, _FIRST_DAY), _LAST_DAY)
    return datetime.combine(day, time(0), zone).astimezone(UTC)
