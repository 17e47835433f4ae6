"""Business calendars: when an organization works, and how much working time lies between two instants.

A calendar is a time zone, working intervals per ISO weekday (several a day, e.g. around a lunch break),
whole days off (holidays) and make-up working days (调休) with their own intervals.

Rules the SLA engine relies on:

* Intervals are wall-clock times in the calendar's zone and never cross midnight; see `Interval`.
* A wall-clock boundary becomes an instant like this (see `_instant`): an ordinary time is that instant;
  a repeated time (autumn fall-back) is its first occurrence, as `fold=0`; a skipped time (spring-forward
  gap) is the moment the clocks jump. So on America/New_York's spring-forward day 01:00-04:00 holds two
  hours of work and 02:00-03:00 none, and on the fall-back day 01:00-02:00 holds two. Plain `fold=0`
  would put 02:30 after the jump (03:30 EDT), making 01:00-02:30 overlap 03:00-04:00 and count the
  overlap twice; taking the jump keeps the wall-clock to instant mapping monotone, so working spans
  never overlap and measuring always agrees with adding.
* Working time is measured exactly (`business_time_between`, a timedelta); whole minutes are floored,
  so a part minute never counts as a full one, and measuring up to `add_business_minutes(s, N)` gives
  exactly N whatever seconds `s` carries.
* Adding 0 minutes returns the instant itself even outside working time: the earliest instant with zero
  working time after it is the instant. Adding N > 0 returns the earliest instant with exactly N minutes
  of working time since the start, which is always inside a working interval or at its end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar  # type: ignore[import-untyped]

from app.domain.platform.errors import FieldError, InvalidInput

# An interval may run until midnight; `time` cannot say 24:00, so its largest value stands for it.
END_OF_DAY = time.max

# The calendar that finds no working time in this long is broken (e.g. only past make-up days).
NO_WORK_LIMIT = timedelta(days=3 * 366)
# Deadlines further out are mistakes in the SLA, not deadlines; it also bounds the work one call does.
HORIZON = timedelta(days=3653)

_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)
_TIME_TEXT = re.compile(r"(\d{2}):(\d{2})")
_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")


def _interval_problem(start: Any, end: Any) -> str | None:
    if not isinstance(start, time) or not isinstance(end, time):
        return "start and end are times of day"
    if start.tzinfo is not None or end.tzinfo is not None:
        return "times are wall-clock times of the calendar's zone, without a time zone of their own"
    if start.second or start.microsecond or (end != END_OF_DAY and (end.second or end.microsecond)):
        return "times are whole minutes"
    if start >= end:
        return "the interval must start before it ends, on the same day"
    return None


@dataclass(frozen=True, order=True)
class Interval:
    """Working time from `start` until `end` (exclusive) on one date; `end` may be END_OF_DAY (24:00).

    Intervals never run overnight because a holiday or make-up day switches exactly one date on or off:
    an overnight shift belonging to one date would leak into the next. A night shift is written as
    22:00-24:00 on one weekday and 00:00-06:00 on the next, which measure as one unbroken span.
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        problem = _interval_problem(self.start, self.end)
        if problem:
            raise ValueError(problem)

    @property
    def length(self) -> timedelta:
        """The wall-clock length, which is the real length on every day without a UTC offset change."""
        end = timedelta(days=1) if self.end == END_OF_DAY else _since_midnight(self.end)
        return end - _since_midnight(self.start)


def _since_midnight(moment: time) -> timedelta:
    return timedelta(hours=moment.hour, minutes=moment.minute)


def _overlap_index(intervals: tuple[Interval, ...]) -> int | None:
    """The index of the first interval starting before its predecessor ends; touching is allowed."""
    for index in range(1, len(intervals)):
        if intervals[index].start < intervals[index - 1].end:
            return index
    return None


def _checked_intervals(intervals: Iterable[Interval], where: str) -> tuple[Interval, ...]:
    result = tuple(intervals)
    if not all(isinstance(interval, Interval) for interval in result):
        raise ValueError(f"{where}: intervals must be Interval values")
    if _overlap_index(result) is not None:
        raise ValueError(f"{where}: intervals must be in order and must not overlap")
    return result


def _zone_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not name:
        return "use an IANA name such as Asia/Shanghai"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return "use an IANA name such as Asia/Shanghai"
    return None


def _is_date(value: Any) -> bool:
    # datetime is a date subclass; a datetime here would silently lose its time.
    return isinstance(value, date) and not isinstance(value, datetime)


@dataclass(frozen=True)
class BusinessCalendar:
    """A zone, the working intervals per ISO weekday, whole days off and make-up working days (调休).

    Weekdays missing from `week` (or mapped to no intervals) are days off; they are dropped on
    construction so that equal calendars compare equal. The mappings are copied read-only.
    """

    timezone: str
    week: Mapping[int, tuple[Interval, ...]]
    holidays: frozenset[date] = frozenset()
    workdays: Mapping[date, tuple[Interval, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problem = _zone_problem(self.timezone)
        if problem:
            raise ValueError(f"timezone: {problem}")
        week: dict[int, tuple[Interval, ...]] = {}
        for weekday in sorted(self.week):
            if isinstance(weekday, bool) or weekday not in range(1, 8):
                raise ValueError("week: weekdays are 1 (Monday) to 7 (Sunday)")
            intervals = _checked_intervals(self.week[weekday], f"week.{weekday}")
            if intervals:
                week[weekday] = intervals
        holidays = frozenset(self.holidays)
        if not all(_is_date(day) for day in holidays):
            raise ValueError("holidays: dates only")
        workdays: dict[date, tuple[Interval, ...]] = {}
        for day in sorted(self.workdays):
            if not _is_date(day):
                raise ValueError("workdays: dates only")
            intervals = _checked_intervals(self.workdays[day], f"workdays.{day}")
            if not intervals:
                raise ValueError(f"workdays.{day}: a make-up working day needs working intervals")
            if day in holidays:
                raise ValueError(f"workdays.{day}: the date is also a holiday")
            workdays[day] = intervals
        object.__setattr__(self, "week", MappingProxyType(week))
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(self, "workdays", MappingProxyType(workdays))

    def __hash__(self) -> int:
        # Mappings are unhashable; hashing their sorted items lets calendars key caches.
        return hash((self.timezone, tuple(self.week.items()), self.holidays, tuple(self.workdays.items())))


# ---------------------------------------------------------------------------------------------------
# JSON form


def _time_text(moment: time) -> str:
    return "24:00" if moment == END_OF_DAY else moment.strftime("%H:%M")


def _parse_time(text: Any, *, is_end: bool) -> time | None:
    if not isinstance(text, str):
        return None
    match = _TIME_TEXT.fullmatch(text)
    if match is None:
        return None
    hour, minute = int(match[1]), int(match[2])
    if is_end and (hour, minute) == (24, 0):
        return END_OF_DAY
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _parse_date(text: Any) -> date | None:
    if not isinstance(text, str) or _DATE_TEXT.fullmatch(text) is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _parse_intervals(raw: Any, path: str, errors: list[FieldError]) -> tuple[Interval, ...] | None:
    """Intervals sorted by start; None (with the problems added to `errors`) when any is wrong."""
    if not isinstance(raw, list | tuple):
        errors.append(FieldError(path, "calendar.type", 'a list of ["HH:MM", "HH:MM"] pairs'))
        return None
    parsed: list[tuple[Interval, int]] = []
    valid = True
    for index, pair in enumerate(raw):
        item = f"{path}[{index}]"
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            errors.append(FieldError(item, "calendar.type", 'a pair ["HH:MM", "HH:MM"]'))
            valid = False
            continue
        start, end = _parse_time(pair[0], is_end=False), _parse_time(pair[1], is_end=True)
        if start is None or end is None:
            message = 'times as "HH:MM" from 00:00 to 23:59; an end may be 24:00'
            errors.append(FieldError(item, "calendar.time", message))
            valid = False
            continue
        problem = _interval_problem(start, end)
        if problem:
            errors.append(FieldError(item, "calendar.interval", problem))
            valid = False
            continue
        parsed.append((Interval(start, end), index))
    # Order does not matter to the person typing the calendar, overlaps do.
    parsed.sort()
    for position in range(1, len(parsed)):
        if parsed[position][0].start < parsed[position - 1][0].end:
            item = f"{path}[{parsed[position][1]}]"
            errors.append(FieldError(item, "calendar.overlap", "overlaps another interval of the day"))
            valid = False
    return tuple(interval for interval, _ in parsed) if valid else None


def _parse_weekday(key: Any) -> int | None:
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        return key if 1 <= key <= 7 else None
    if isinstance(key, str) and key in {"1", "2", "3", "4", "5", "6", "7"}:
        return int(key)
    return None


def parse_calendar(raw: Mapping[str, Any]) -> BusinessCalendar:
    """The calendar in its JSON form, or InvalidInput listing every problem.

    `{"timezone": "Asia/Shanghai", "week": {"1": [["09:00", "12:00"], ["13:30", "18:00"]], ...},
    "holidays": ["2026-10-01", ...], "workdays": {"2026-10-10": [["09:00", "18:00"]]}}`; `holidays`
    and `workdays` may be left out. Field paths are relative to the calendar object, "" being the
    object itself.
    """
    errors: list[FieldError] = []
    if not isinstance(raw, Mapping):
        errors.append(FieldError("", "calendar.type", "an object with timezone and week"))
        raise InvalidInput("The business calendar is not valid.", code="calendar.invalid", errors=errors)
    for key in raw:
        if key not in {"timezone", "week", "holidays", "workdays"}:
            errors.append(FieldError(str(key), "calendar.unknown_field", "not a calendar field"))
    timezone = raw.get("timezone")
    _check_timezone(timezone, errors)
    week = _parse_week(raw.get("week"), errors)
    holidays = _parse_holidays(raw.get("holidays", []), errors)
    workdays = _parse_workdays(raw.get("workdays", {}), holidays, errors)
    if errors:
        raise InvalidInput("The business calendar is not valid.", code="calendar.invalid", errors=errors)
    return BusinessCalendar(str(timezone), week, frozenset(holidays), workdays)


def _check_timezone(timezone: Any, errors: list[FieldError]) -> None:
    if timezone is None:
        errors.append(FieldError("timezone", "calendar.required", "the calendar's IANA time zone"))
        return
    problem = _zone_problem(timezone)
    if problem:
        errors.append(FieldError("timezone", "timezone.unknown", problem))


def _parse_week(raw_week: Any, errors: list[FieldError]) -> dict[int, tuple[Interval, ...]]:
    week: dict[int, tuple[Interval, ...]] = {}
    if raw_week is None:
        errors.append(FieldError("week", "calendar.required", 'working intervals per weekday, "1" = Monday'))
        return week
    if not isinstance(raw_week, Mapping):
        errors.append(FieldError("week", "calendar.type", 'an object keyed "1" (Monday) to "7" (Sunday)'))
        return week
    for key, value in raw_week.items():
        weekday = _parse_weekday(key)
        if weekday is None:
            errors.append(FieldError(f"week.{key}", "calendar.weekday", '"1" (Monday) to "7" (Sunday)'))
            continue
        if weekday in week:
            errors.append(FieldError(f"week.{key}", "calendar.duplicate", "the weekday is listed twice"))
            continue
        intervals = _parse_intervals(value, f"week.{key}", errors)
        if intervals is not None:
            week[weekday] = intervals
    return week


def _parse_holidays(raw_holidays: Any, errors: list[FieldError]) -> set[date]:
    holidays: set[date] = set()
    if not isinstance(raw_holidays, list | tuple):
        errors.append(FieldError("holidays", "calendar.type", 'a list of dates as "YYYY-MM-DD"'))
        return holidays
    for index, text in enumerate(raw_holidays):
        day = _parse_date(text)
        if day is None:
            errors.append(FieldError(f"holidays[{index}]", "calendar.date", 'a date as "YYYY-MM-DD"'))
        else:
            holidays.add(day)
    return holidays


def _parse_workdays(
    raw_workdays: Any, holidays: set[date], errors: list[FieldError]
) -> dict[date, tuple[Interval, ...]]:
    """Make-up working days (调休): dates that are not holidays, each with working intervals."""
    workdays: dict[date, tuple[Interval, ...]] = {}
    if not isinstance(raw_workdays, Mapping):
        errors.append(FieldError("workdays", "calendar.type", 'an object keyed by dates as "YYYY-MM-DD"'))
        return workdays
    for key, value in raw_workdays.items():
        path = f"workdays.{key}"
        day = _parse_date(key)
        if day is None:
            errors.append(FieldError(path, "calendar.date", 'a date as "YYYY-MM-DD"'))
            continue
        if day in holidays:
            errors.append(FieldError(path, "calendar.date_conflict", "the date is also a holiday"))
        intervals = _parse_intervals(value, path, errors)
        if intervals == ():
            message = "a make-up working day needs working intervals; a day off belongs in holidays"
            errors.append(FieldError(path, "calendar.workday_empty", message))
        elif intervals is not None:
            workdays[day] = intervals
    return workdays


def _intervals_as_list(intervals: tuple[Interval, ...]) -> list[list[str]]:
    return [[_time_text(interval.start), _time_text(interval.end)] for interval in intervals]


def calendar_as_dict(calendar: BusinessCalendar) -> dict[str, Any]:
    """The JSON form `parse_calendar` reads, with days off left out and everything sorted."""
    return {
        "timezone": calendar.timezone,
        "week": {
            str(weekday): _intervals_as_list(calendar.week[weekday]) for weekday in sorted(calendar.week)
        },
        "holidays": [day.isoformat() for day in sorted(calendar.holidays)],
        "workdays": {
            day.isoformat(): _intervals_as_list(calendar.workdays[day]) for day in sorted(calendar.workdays)
        },
    }


# ---------------------------------------------------------------------------------------------------
# Chinese public holidays

# 朝九晚六 with a 90-minute 午休: the usual office day of a distributor's sales desk (7.5 hours).
# Organizations that count the statutory 8 hours, or work Saturdays, pass their own week.
CHINA_WORKING_WEEK: Mapping[int, tuple[Interval, ...]] = MappingProxyType(
    {
        weekday: (Interval(time(9, 0), time(12, 0)), Interval(time(13, 30), time(18, 0)))
        for weekday in range(1, 6)
    }
)


def china_supported_years() -> range:
    """The years the installed `chinesecalendar` release has the State Council's holiday notice for."""
    known = list(chinese_calendar.holidays) + list(chinese_calendar.workdays)
    return range(min(known).year, max(known).year + 1)


def china_calendar(
    years: Iterable[int],
    *,
    timezone: str = "Asia/Shanghai",
    week: Mapping[int, tuple[Interval, ...]] | None = None,
) -> BusinessCalendar:
    """China's statutory holidays and make-up working days for `years` only, on `week`.

    Every statutory holiday date is a day off, weekend ones included, so that a week with Saturday
    work still rests on a holiday Saturday. The package does not say which weekday a make-up day stands
    in for, so a make-up day is worked with the intervals of the first working weekday of `week`
    (Monday in the default week): a full ordinary day, also where the week has a shorter Saturday.
    """
    wanted = set(years)
    if not wanted:
        raise ValueError("name at least one year")
    supported = china_supported_years()
    missing = sorted(wanted - set(supported))
    if missing:
        raise ValueError(
            f"no Chinese holiday data for {', '.join(map(str, missing))}; "
            f"the installed chinesecalendar covers {supported.start}-{supported.stop - 1}"
        )
    chosen_week = CHINA_WORKING_WEEK if week is None else week
    ordinary = next((chosen_week[d] for d in sorted(chosen_week) if chosen_week[d]), None)
    if ordinary is None:
        raise ValueError("the week has no working day to model make-up working days on")
    holidays = frozenset(day for day in chinese_calendar.holidays if day.year in wanted)
    workdays = {day: ordinary for day in chinese_calendar.workdays if day.year in wanted}
    return BusinessCalendar(timezone, chosen_week, holidays, workdays)


PUBLIC_HOLIDAY_REGIONS = frozenset({"CN"})


def with_public_holidays(calendar: BusinessCalendar, region: str | None) -> BusinessCalendar:
    """The calendar plus a region's statutory holidays and make-up days (all years the installed data
    covers); the calendar's own dates win where they disagree. ValueError for an unknown region."""
    if region is None:
        return calendar
    if region not in PUBLIC_HOLIDAY_REGIONS:
        raise ValueError('public_holidays is "CN" or absent')
    return _with_china(calendar)


@lru_cache(maxsize=64)
def _with_china(calendar: BusinessCalendar) -> BusinessCalendar:
    china = china_calendar(china_supported_years(), timezone=calendar.timezone, week=calendar.week)
    # An own make-up day overrides a statutory holiday and an own holiday a statutory make-up day.
    holidays = (china.holidays - calendar.workdays.keys()) | calendar.holidays
    workdays = {day: intervals for day, intervals in china.workdays.items() if day not in calendar.holidays}
    workdays.update(calendar.workdays)
    return BusinessCalendar(calendar.timezone, calendar.week, holidays, workdays)


# ---------------------------------------------------------------------------------------------------
# Measuring and adding working time


def working_intervals(calendar: BusinessCalendar, day: date) -> tuple[Interval, ...]:
    """The intervals worked on a date: none on a holiday, a make-up day's own, else its weekday's."""
    if day in calendar.holidays:
        return ()
    made_up = calendar.workdays.get(day)
    if made_up is not None:
        return made_up
    return calendar.week.get(day.isoweekday(), ())


def _utc(instant: datetime, name: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return instant.astimezone(UTC)


def _instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive wall-clock time: first occurrence if repeated, the jump if skipped."""
    candidate = local.replace(tzinfo=zone).astimezone(UTC)
    if candidate.astimezone(zone).replace(tzinfo=None) == local:
        return candidate
    return _jump(local, zone)


def _jump(skipped: datetime, zone: ZoneInfo) -> datetime:
    # In a gap, fold=1 reads the wall time with the offset after the jump, landing before it, and
    # fold=0 with the offset before, landing after it; zoneinfo keeps its transitions private, so
    # bisect between the two to the second (tzdb transitions fall on whole seconds).
    before = skipped.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after = skipped.replace(tzinfo=zone, fold=0).astimezone(UTC)
    offset_before = before.astimezone(zone).utcoffset()
    low, high = int(before.timestamp()), int(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset_before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return _instant(datetime.combine(day, time()), zone)


def _spans(calendar: BusinessCalendar, zone: ZoneInfo, day: date) -> list[tuple[datetime, datetime]]:
    """The day's working intervals as UTC [start, end) spans; spans a DST jump swallowed are dropped."""
    spans = []
    for interval in working_intervals(calendar, day):
        start = _instant(datetime.combine(day, interval.start), zone)
        end = (
            _midnight(day + _DAY, zone)
            if interval.end == END_OF_DAY
            else _instant(datetime.combine(day, interval.end), zone)
        )
        if start < end:
            spans.append((start, end))
    return spans


def _weekly_time(calendar: BusinessCalendar) -> timedelta:
    return sum(
        (interval.length for intervals in calendar.week.values() for interval in intervals), timedelta()
    )


def _is_plain_week(calendar: BusinessCalendar, zone: ZoneInfo, monday: date) -> bool:
    """True when the week starting on `monday` holds exactly `_weekly_time`, so it can be skipped whole.

    That needs no holiday or make-up day in it and one UTC offset throughout; the offset is compared
    at the eight midnights bounding the week, as no zone changes its offset and back within a day.
    """
    days = [monday + timedelta(days=offset) for offset in range(7)]
    if any(day in calendar.holidays or day in calendar.workdays for day in days):
        return False
    first = zone.utcoffset(datetime.combine(monday, time()))
    return all(
        zone.utcoffset(datetime.combine(monday + timedelta(days=offset), time())) == first
        for offset in range(1, 8)
    )


def add_business_minutes(calendar: BusinessCalendar, instant: datetime, minutes: int) -> datetime:
    """The earliest UTC instant with exactly `minutes` of working time since the aware `instant`.

    Adding 0 returns `instant` (in UTC) even outside working time. ValueError when `minutes` is
    negative, when the calendar has a three-year stretch without working time, or when the deadline
    lies more than ten years ahead.
    """
    start = _utc(instant, "instant")
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    if minutes == 0:
        return start
    zone = ZoneInfo(calendar.timezone)
    weekly = _weekly_time(calendar)
    remaining = timedelta(minutes=minutes)
    # Earlier dates need no look: the wall-clock to instant mapping is monotone, so their spans end by
    # this date's midnight, which is not after `start`.
    day = start.astimezone(zone).date()
    horizon = day + HORIZON
    last_work = day
    while True:
        if day - last_work > NO_WORK_LIMIT:
            raise ValueError(f"the calendar has no working time in the three years after {last_work}")
        if day > horizon:
            raise ValueError("the deadline lies more than ten years ahead")
        if (
            day.isoweekday() == 1
            and remaining > weekly
            and _is_plain_week(calendar, zone, day)
            and _midnight(day, zone) >= start
        ):
            # Strictly more than a week's worth: when it is exactly that, the deadline is the end of the
            # week's last interval, which the day-by-day walk finds, not the following Monday midnight.
            remaining -= weekly
            if weekly:
                last_work = day
            day += _WEEK
            continue
        for span_start, span_end in _spans(calendar, zone, day):
            if span_end <= start:
                continue
            last_work = day
            begin = max(span_start, start)
            if remaining <= span_end - begin:
                return begin + remaining
            remaining -= span_end - begin
        day += _DAY


def business_time_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    """The exact working time in [start, end) for aware instants; zero when `end` is not after `start`."""
    begin, finish = _utc(start, "start"), _utc(end, "end")
    if finish <= begin:
        return timedelta()
    zone = ZoneInfo(calendar.timezone)
    weekly = _weekly_time(calendar)
    # As in add_business_minutes, only the dates `start` and `end` fall on and those between matter.
    day = begin.astimezone(zone).date()
    last = finish.astimezone(zone).date()
    total = timedelta()
    while day <= last:
        if (
            day.isoweekday() == 1
            and _is_plain_week(calendar, zone, day)
            and _midnight(day, zone) >= begin
            and _midnight(day + _WEEK, zone) <= finish
        ):
            total += weekly
            day += _WEEK
            continue
        for span_start, span_end in _spans(calendar, zone, day):
            low, high = max(span_start, begin), min(span_end, finish)
            if low < high:
                total += high - low
        day += _DAY
    return total


def business_minutes_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> int:
    """Whole working minutes in [start, end), floored; 0 when `end` is not after `start`."""
    return business_time_between(calendar, start, end) // timedelta(minutes=1)
