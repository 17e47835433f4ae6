"""Business calendars: parsing, Chinese holidays, and adding/measuring working time (properties + examples).

The property tests check the module against `_reference_between`, a deliberately plain re-derivation
(day by day, no week skipping, a different way of finding DST jumps), so that a shortcut in the
module that loses or double-counts time cannot hide behind agreeing with itself.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.domain.platform.errors import InvalidInput
from app.domain.sla import calendars
from app.domain.sla.calendars import (
    CHINA_WORKING_WEEK,
    END_OF_DAY,
    BusinessCalendar,
    Interval,
    add_business_minutes,
    business_minutes_between,
    business_time_between,
    calendar_as_dict,
    china_calendar,
    china_supported_years,
    parse_calendar,
    working_intervals,
)

ZONES = ["Asia/Shanghai", "America/New_York", "Europe/Berlin", "UTC", "Australia/Lord_Howe"]
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
MINUTE = timedelta(minutes=1)
TINY = timedelta(microseconds=1)
DETERMINISTIC = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def iv(start: str, end: str) -> Interval:
    def parse(text: str) -> time:
        return END_OF_DAY if text == "24:00" else time.fromisoformat(text)

    return Interval(parse(start), parse(end))


OFFICE = (iv("09:00", "12:00"), iv("13:30", "18:00"))
OFFICE_WEEK = dict.fromkeys(range(1, 6), OFFICE)


# ---------------------------------------------------------------------------------------------------
# Reference: working time the slow, obvious way


def _reference_instant(local: datetime, zone: ZoneInfo) -> datetime:
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first <= second:
        # Ordinary (equal) or repeated (fold=0 is the earlier occurrence).
        return first
    # Skipped: `second` lies before the jump; walk a minute at a time to where the offset changes.
    offset = second.astimezone(zone).utcoffset()
    moment = second
    while (moment + MINUTE).astimezone(zone).utcoffset() == offset:
        moment += MINUTE
    return moment + MINUTE


def _reference_spans(calendar: BusinessCalendar, day: date) -> list[tuple[datetime, datetime]]:
    zone = ZoneInfo(calendar.timezone)
    spans = []
    for interval in working_intervals(calendar, day):
        start = _reference_instant(datetime.combine(day, interval.start), zone)
        if interval.end == END_OF_DAY:
            end = _reference_instant(datetime.combine(day + timedelta(days=1), time()), zone)
        else:
            end = _reference_instant(datetime.combine(day, interval.end), zone)
        spans.append((start, end))
    return spans


def _reference_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    zone = ZoneInfo(calendar.timezone)
    total = timedelta()
    day = start.astimezone(zone).date() - timedelta(days=1)
    while day <= end.astimezone(zone).date() + timedelta(days=1):
        for span_start, span_end in _reference_spans(calendar, day):
            low, high = max(span_start, start), min(span_end, end)
            if low < high:
                total += high - low
        day += timedelta(days=1)
    return total


def _dst_days(zone_name: str) -> list[date]:
    zone = ZoneInfo(zone_name)
    day, found = date(2025, 1, 1), []
    while day < date(2028, 1, 1):
        after = day + timedelta(days=1)
        if zone.utcoffset(datetime.combine(day, time())) != zone.utcoffset(datetime.combine(after, time())):
            found.append(day)
        day = after
    return found


DST_DAYS = {name: _dst_days(name) for name in ZONES}


# ---------------------------------------------------------------------------------------------------
# Strategies


@st.composite
def day_intervals(
    draw: st.DrawFn, min_marks: int = 0, lowest: int = 0, highest: int = 96
) -> tuple[Interval, ...]:
    # Quarter-hour marks (96 = 24:00) make touching intervals and boundaries inside DST gaps common.
    marks = sorted(draw(st.lists(st.integers(lowest, highest), unique=True, min_size=min_marks, max_size=6)))
    touching = draw(st.booleans())
    pairs = itertools.pairwise(marks) if touching else zip(marks[::2], marks[1::2], strict=False)

    def at(mark: int) -> time:
        return END_OF_DAY if mark == 96 else time(mark // 4, mark % 4 * 15)

    return tuple(Interval(at(a), at(b)) for a, b in pairs)


def _weekly_minutes(week: dict[int, tuple[Interval, ...]]) -> int:
    return sum(interval.length // MINUTE for intervals in week.values() for interval in intervals)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[BusinessCalendar, datetime]:
    """A calendar with some working time each week, and an instant in 2025-2027, often near a DST day."""
    zone_name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(zone_name)
    week = {weekday: draw(day_intervals()) for weekday in draw(st.sets(st.integers(1, 7), min_size=1))}
    assume(_weekly_minutes(week) > 0)
    dst_workday: dict[date, tuple[Interval, ...]] = {}
    if DST_DAYS[zone_name] and draw(st.booleans()):
        dst_day = draw(st.sampled_from(DST_DAYS[zone_name]))
        anchor = datetime.combine(dst_day, time(), zone).astimezone(UTC)
        instant = anchor + timedelta(seconds=draw(st.integers(-3 * 86400, 2 * 86400)))
        if draw(st.booleans()):
            # Work that night with boundaries between 01:00 and 04:00, where the clocks jump or repeat.
            dst_workday[dst_day] = draw(day_intervals(min_marks=2, lowest=4, highest=16))
    else:
        naive = draw(st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31)))
        instant = naive.replace(tzinfo=UTC)
    if draw(st.booleans()):
        instant = instant.replace(microsecond=0)
    local_day = instant.astimezone(zone).date()
    holiday_offsets = draw(st.sets(st.integers(-2, 21), max_size=10))
    workday_offsets = draw(st.sets(st.integers(-2, 21), max_size=6)) - holiday_offsets
    workdays = {
        local_day + timedelta(days=offset): draw(day_intervals(min_marks=2))
        for offset in sorted(workday_offsets)
    }
    workdays.update(dst_workday)
    holidays = frozenset(local_day + timedelta(days=offset) for offset in holiday_offsets) - set(dst_workday)
    calendar = BusinessCalendar(zone_name, week, holidays, workdays)
    # Show the instant in the calendar's zone or another one: the zone of the input must not matter.
    shown_in = draw(st.sampled_from([zone, UTC, SHANGHAI]))
    return calendar, instant.astimezone(shown_in)


@st.composite
def scenarios_with_minutes(draw: st.DrawFn) -> tuple[BusinessCalendar, datetime, int]:
    calendar, instant = draw(scenarios())
    # Up to 60 days of minutes, but no more than ~40 weeks of this calendar, which stays within the horizon.
    ceiling = min(60 * 24 * 60, 40 * _weekly_minutes(dict(calendar.week)))
    weekly = _weekly_minutes(dict(calendar.week))
    scale = min(ceiling, draw(st.sampled_from([60, 600, weekly, 3 * weekly, ceiling])))
    # Drawn from the top as often as from the bottom: small numbers alone rarely leave the first day.
    below = draw(st.integers(0, scale))
    minutes = below if draw(st.booleans()) else scale - below
    return calendar, instant, minutes


# ---------------------------------------------------------------------------------------------------
# Properties


@DETERMINISTIC
@given(scenarios_with_minutes())
def test_measuring_after_adding_gives_the_minutes_back(case: tuple[BusinessCalendar, datetime, int]) -> None:
    calendar, start, minutes = case
    deadline = add_business_minutes(calendar, start, minutes)
    assert deadline.tzinfo is UTC
    assert business_minutes_between(calendar, start, deadline) == minutes
    assert business_time_between(calendar, start, deadline) == minutes * MINUTE
    assert _reference_between(calendar, start, deadline) == minutes * MINUTE
    if minutes:
        # The earliest such instant: a moment earlier, the minutes are not yet all there.
        assert _reference_between(calendar, start, deadline - TINY) < minutes * MINUTE


@DETERMINISTIC
@given(scenarios_with_minutes(), st.integers(0, 5000))
def test_adding_is_monotonic_in_the_minutes(case: tuple[BusinessCalendar, datetime, int], extra: int) -> None:
    calendar, start, minutes = case
    # The next few minutes as well as a larger step: an off-by-some error shows between neighbours.
    counts = sorted({minutes, minutes + 1, minutes + 2, minutes + extra})
    deadlines = [add_business_minutes(calendar, start, count) for count in counts]
    assert deadlines == sorted(deadlines)


@DETERMINISTIC
@given(scenarios_with_minutes(), st.integers(0, 14 * 86400 * 10**6))
def test_adding_is_monotonic_in_the_start(
    case: tuple[BusinessCalendar, datetime, int], later_by: int
) -> None:
    calendar, start, minutes = case
    # Neighbouring starts (a microsecond, a second, a minute apart) as well as days apart.
    offsets = sorted({0, 1, 10**6, 60 * 10**6, later_by})
    deadlines = [
        add_business_minutes(calendar, start + timedelta(microseconds=us), minutes) for us in offsets
    ]
    assert deadlines == sorted(deadlines)


@DETERMINISTIC
@given(scenarios_with_minutes(), st.integers(1, 3000))
def test_adding_in_two_steps_equals_adding_once(
    case: tuple[BusinessCalendar, datetime, int], first: int
) -> None:
    calendar, start, second = case
    halfway = add_business_minutes(calendar, start, first)
    assert add_business_minutes(calendar, halfway, second) == add_business_minutes(
        calendar, start, first + second
    )


@DETERMINISTIC
@given(scenarios_with_minutes())
def test_a_deadline_lies_inside_or_at_the_end_of_a_working_interval(
    case: tuple[BusinessCalendar, datetime, int],
) -> None:
    calendar, start, minutes = case
    assume(minutes > 0)
    deadline = add_business_minutes(calendar, start, minutes)
    # The instant just before the deadline is working time: not a night, weekend, holiday or DST gap.
    assert _reference_between(calendar, deadline - TINY, deadline) == TINY


@DETERMINISTIC
@given(scenarios(), st.integers(0, 120 * 86400), st.integers(0, 59))
def test_measuring_agrees_with_the_day_by_day_reference(
    case: tuple[BusinessCalendar, datetime], seconds: int, odd: int
) -> None:
    calendar, start = case
    end = start + timedelta(seconds=seconds, microseconds=odd)
    exact = business_time_between(calendar, start, end)
    assert exact == _reference_between(calendar, start, end)
    assert business_minutes_between(calendar, start, end) == exact // MINUTE
    assert business_time_between(calendar, end, start) == (timedelta() if seconds or odd else exact)


@DETERMINISTIC
@given(scenarios())
def test_the_json_form_round_trips(case: tuple[BusinessCalendar, datetime]) -> None:
    calendar, _ = case
    as_json = json.loads(json.dumps(calendar_as_dict(calendar)))
    assert parse_calendar(as_json) == calendar
    assert calendar_as_dict(parse_calendar(as_json)) == as_json


# ---------------------------------------------------------------------------------------------------
# Examples


def local(zone: ZoneInfo, text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def test_thirty_minutes_from_friday_1750_end_monday_0920() -> None:
    calendar = BusinessCalendar("Asia/Shanghai", OFFICE_WEEK)
    deadline = add_business_minutes(calendar, local(SHANGHAI, "2026-03-13 17:50"), 30)
    assert deadline == local(SHANGHAI, "2026-03-16 09:20")
    assert deadline.tzinfo is UTC


def test_the_lunch_break_is_not_working_time() -> None:
    calendar = BusinessCalendar("Asia/Shanghai", OFFICE_WEEK)
    start = local(SHANGHAI, "2026-03-12 11:50")
    assert add_business_minutes(calendar, start, 30) == local(SHANGHAI, "2026-03-12 13:50")
    assert business_minutes_between(calendar, start, local(SHANGHAI, "2026-03-12 13:40")) == 20
    # Ending exactly at noon is the end of the morning, not 13:30.
    assert add_business_minutes(calendar, start, 10) == local(SHANGHAI, "2026-03-12 12:00")


def test_a_night_shift_runs_across_midnight_without_losing_time() -> None:
    night = {1: (iv("22:00", "24:00"),), 2: (iv("00:00", "06:00"),)}
    calendar = BusinessCalendar("Asia/Shanghai", night)
    assert add_business_minutes(calendar, local(SHANGHAI, "2026-03-09 23:30"), 60) == local(
        SHANGHAI, "2026-03-10 00:30"
    )
    assert (
        business_minutes_between(
            calendar, local(SHANGHAI, "2026-03-09 12:00"), local(SHANGHAI, "2026-03-10 12:00")
        )
        == 8 * 60
    )
    always = BusinessCalendar("UTC", dict.fromkeys(range(1, 8), (iv("00:00", "24:00"),)))
    start = datetime(2026, 3, 9, tzinfo=UTC)
    assert business_time_between(always, start, start + timedelta(days=30)) == timedelta(days=30)
    assert add_business_minutes(always, start, 7 * 24 * 60) == start + timedelta(days=7)
    # Half an hour short of a whole week is half an hour short, not a week skipped whole.
    assert business_time_between(always, start, start + timedelta(days=7, minutes=-30)) == timedelta(
        days=7, minutes=-30
    )


def test_weeks_with_a_dst_change_hold_their_real_length() -> None:
    # Worked around the clock, working time is elapsed time: the spring-forward week is an hour short.
    always = BusinessCalendar("America/New_York", dict.fromkeys(range(1, 8), (iv("00:00", "24:00"),)))
    for first, change in (("2026-03-02", timedelta(hours=-1)), ("2026-10-26", timedelta(hours=1))):
        # Aware datetimes in one zone subtract by the wall clock; in UTC they subtract real time.
        start = local(NEW_YORK, f"{first} 00:00").astimezone(UTC)
        end = (local(NEW_YORK, f"{first} 00:00") + timedelta(weeks=5)).astimezone(UTC)
        assert end - start == timedelta(weeks=5) + change
        assert business_time_between(always, start, end) == end - start
        assert add_business_minutes(always, start, 5 * 7 * 24 * 60) == start + timedelta(weeks=5)


def test_china_2026_national_day_golden_week() -> None:
    calendar = china_calendar([2026])
    # The State Council notice for 2026: 1-7 October off; Sunday 20 September and Saturday 10 October worked.
    assert {date(2026, 10, day) for day in range(1, 8)} <= calendar.holidays
    assert date(2026, 9, 20) in calendar.workdays
    assert date(2026, 10, 10) in calendar.workdays
    assert date(2026, 10, 11) not in calendar.workdays
    assert working_intervals(calendar, date(2026, 10, 10)) == OFFICE
    assert working_intervals(calendar, date(2026, 10, 5)) == ()
    assert working_intervals(calendar, date(2026, 10, 11)) == ()
    # Wednesday 30 September, an hour before closing: the second hour falls on Thursday 8 October.
    assert add_business_minutes(calendar, local(SHANGHAI, "2026-09-30 17:00"), 120) == local(
        SHANGHAI, "2026-10-08 10:00"
    )
    # Friday 9 October: the rest of the work is done on the make-up Saturday.
    assert add_business_minutes(calendar, local(SHANGHAI, "2026-10-09 17:00"), 120) == local(
        SHANGHAI, "2026-10-10 10:00"
    )
    # A ticket from Saturday 19 September is due on the make-up Sunday, not Monday.
    assert add_business_minutes(calendar, local(SHANGHAI, "2026-09-19 10:00"), 30) == local(
        SHANGHAI, "2026-09-20 09:30"
    )
    # 30 Sep, 8 Oct, 9 Oct and the make-up 10 Oct: four days of 7.5 hours.
    assert (
        business_minutes_between(
            calendar, local(SHANGHAI, "2026-09-30 09:00"), local(SHANGHAI, "2026-10-12 09:00")
        )
        == 4 * 450
    )


def test_china_calendar_takes_only_the_given_years_and_refuses_unknown_ones() -> None:
    calendar = china_calendar([2025])
    assert calendar.holidays
    assert all(day.year == 2025 for day in calendar.holidays)
    assert calendar.workdays
    assert all(day.year == 2025 for day in calendar.workdays)
    assert date(2026, 10, 1) not in calendar.holidays
    assert dict(calendar.week) == CHINA_WORKING_WEEK
    assert 2026 in china_supported_years()
    with pytest.raises(ValueError, match="no Chinese holiday data"):
        china_calendar([china_supported_years().stop])
    with pytest.raises(ValueError, match="at least one year"):
        china_calendar([])


def test_china_calendar_on_a_six_day_week() -> None:
    saturday = (iv("09:00", "12:00"),)
    calendar = china_calendar([2026], week={**OFFICE_WEEK, 6: saturday}, timezone="Asia/Urumqi")
    assert calendar.timezone == "Asia/Urumqi"
    # A statutory holiday on a Saturday is a day off even where Saturdays are worked.
    assert working_intervals(calendar, date(2026, 10, 3)) == ()
    assert working_intervals(calendar, date(2026, 10, 17)) == saturday
    # A make-up Saturday is a full ordinary day, not the short Saturday.
    assert working_intervals(calendar, date(2026, 10, 10)) == OFFICE


def test_new_york_spring_forward_day() -> None:
    # 8 March 2026: clocks jump from 02:00 EST to 03:00 EDT.
    calendar = BusinessCalendar("America/New_York", {7: (iv("01:00", "04:00"),)})
    day_start = local(NEW_YORK, "2026-03-08 00:00")
    assert business_minutes_between(calendar, day_start, day_start + timedelta(days=1)) == 120
    deadline = add_business_minutes(calendar, local(NEW_YORK, "2026-03-08 01:30"), 30)
    assert deadline == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert deadline.astimezone(NEW_YORK).hour == 3
    assert add_business_minutes(calendar, local(NEW_YORK, "2026-03-08 01:30"), 90) == datetime(
        2026, 3, 8, 8, 0, tzinfo=UTC
    )
    # Intervals on both sides of the gap hold an hour each, never overlapping into 2.5 hours.
    split = BusinessCalendar("America/New_York", {7: (iv("01:00", "02:30"), iv("03:00", "04:00"))})
    assert business_time_between(split, day_start, day_start + timedelta(days=1)) == timedelta(hours=2)
    # A start inside the gap is the jump itself, 03:00 EDT, to the second.
    late_start = BusinessCalendar("America/New_York", {7: (iv("02:45", "04:00"),)})
    assert business_time_between(late_start, day_start, day_start + timedelta(days=1)) == timedelta(hours=1)
    skipped = BusinessCalendar("America/New_York", {7: (iv("02:00", "03:00"), iv("05:00", "06:00"))})
    assert business_minutes_between(skipped, day_start, day_start + timedelta(days=1)) == 60
    assert add_business_minutes(skipped, day_start, 1) == local(NEW_YORK, "2026-03-08 05:01")


def test_new_york_fall_back_day_and_a_working_week_around_the_change() -> None:
    # 1 November 2026: 01:00-02:00 happens twice; an interval over it lasts two hours.
    calendar = BusinessCalendar("America/New_York", {7: (iv("01:00", "02:00"),)})
    day_start = local(NEW_YORK, "2026-11-01 00:00")
    assert business_minutes_between(calendar, day_start, day_start + timedelta(days=1)) == 120
    office = BusinessCalendar("America/New_York", dict.fromkeys(range(1, 6), (iv("09:00", "17:00"),)))
    # Five weeks straddling both changes of 2026 still hold 40 hours each.
    for first in ("2026-02-23", "2026-10-19"):
        start = local(NEW_YORK, f"{first} 00:00")
        assert business_minutes_between(office, start, start + timedelta(weeks=5)) == 5 * 40 * 60


def test_lord_howe_half_hour_jump() -> None:
    # 4 October 2026: Lord Howe Island moves from +10:30 to +11:00 at 02:00.
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    day_start = local(lord_howe, "2026-10-04 00:00")
    across = BusinessCalendar("Australia/Lord_Howe", {7: (iv("01:00", "03:00"),)})
    assert business_minutes_between(across, day_start, day_start + timedelta(days=1)) == 90
    # 02:15 does not exist that night; the interval opens when the clocks jump, 02:30 (+11:00).
    inside = BusinessCalendar("Australia/Lord_Howe", {7: (iv("02:15", "04:00"),)})
    assert business_minutes_between(inside, day_start, day_start + timedelta(days=1)) == 90
    assert add_business_minutes(inside, day_start, 1) == local(lord_howe, "2026-10-04 02:31")


def test_adding_zero_returns_the_instant_even_outside_working_time() -> None:
    calendar = BusinessCalendar("Asia/Shanghai", OFFICE_WEEK)
    saturday_night = local(SHANGHAI, "2026-03-14 23:00")
    assert add_business_minutes(calendar, saturday_night, 0) == saturday_night
    assert add_business_minutes(calendar, saturday_night, 0).tzinfo is UTC
    assert add_business_minutes(calendar, saturday_night, 1) == local(SHANGHAI, "2026-03-16 09:01")


def test_partial_minutes_are_floored() -> None:
    calendar = BusinessCalendar("Asia/Shanghai", OFFICE_WEEK)
    start = local(SHANGHAI, "2026-03-12 09:00")
    end = start + timedelta(minutes=5, seconds=59, microseconds=999_999)
    assert business_minutes_between(calendar, start, end) == 5
    assert business_time_between(calendar, start, end) == end - start
    assert business_minutes_between(calendar, end, start) == 0


def test_working_intervals_honour_holidays_then_make_up_days_then_the_week() -> None:
    calendar = BusinessCalendar(
        "Asia/Shanghai",
        OFFICE_WEEK,
        holidays=frozenset({date(2026, 3, 12)}),
        workdays={date(2026, 3, 14): (iv("10:00", "16:00"),)},
    )
    assert working_intervals(calendar, date(2026, 3, 11)) == OFFICE
    assert working_intervals(calendar, date(2026, 3, 12)) == ()
    assert working_intervals(calendar, date(2026, 3, 14)) == (iv("10:00", "16:00"),)
    assert working_intervals(calendar, date(2026, 3, 15)) == ()


def test_plain_weeks_are_skipped_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    looked_at: list[date] = []
    spans = calendars._spans

    def counting(calendar: BusinessCalendar, zone: ZoneInfo, day: date) -> list[tuple[datetime, datetime]]:
        looked_at.append(day)
        return spans(calendar, zone, day)

    monkeypatch.setattr(calendars, "_spans", counting)
    calendar = BusinessCalendar("Asia/Shanghai", OFFICE_WEEK)
    start = local(SHANGHAI, "2025-01-01 10:00")
    deadline = add_business_minutes(calendar, start, 2000 * 450)
    # 2000 working days are 400 weeks: the same weekday and time, 2800 days on.
    assert deadline == local(SHANGHAI, "2025-01-01 10:00") + timedelta(days=2800)
    assert len(looked_at) < 20
    looked_at.clear()
    assert business_minutes_between(calendar, start, deadline) == 2000 * 450
    assert len(looked_at) < 20


def test_large_sla_and_sparse_calendars_skip_what_they_can(monkeypatch: pytest.MonkeyPatch) -> None:
    # Counted in days looked at, not seconds: a count holds on any machine.
    looked_at: list[date] = []
    spans = calendars._spans

    def counting(calendar: BusinessCalendar, zone: ZoneInfo, day: date) -> list[tuple[datetime, datetime]]:
        looked_at.append(day)
        return spans(calendar, zone, day)

    monkeypatch.setattr(calendars, "_spans", counting)
    calendar = china_calendar([2025, 2026])
    start = local(SHANGHAI, "2025-01-02 09:00")
    # 180 working days, about 250 calendar days: only the weeks holidays touch are read day by day.
    deadline = add_business_minutes(calendar, start, 60 * 24 * 60)
    assert business_minutes_between(calendar, start, deadline) == 60 * 24 * 60
    assert len(looked_at) < 2 * 120
    looked_at.clear()
    # One working quarter-hour a week: 100 of them take 100 weeks, 700 days not read one by one.
    sparse = BusinessCalendar("Europe/Berlin", {3: (iv("10:00", "10:15"),)})
    monday = local(ZoneInfo("Europe/Berlin"), "2025-01-06 00:00")
    assert add_business_minutes(sparse, monday, 15 * 100) == local(
        ZoneInfo("Europe/Berlin"), "2025-01-08 10:15"
    ) + timedelta(weeks=99)
    assert len(looked_at) < 60


def test_a_calendar_without_working_time_is_refused_rather_than_searched_forever() -> None:
    only_one_day = BusinessCalendar("UTC", {}, workdays={date(2026, 5, 9): (iv("09:00", "10:00"),)})
    start = datetime(2026, 5, 1, tzinfo=UTC)
    assert add_business_minutes(only_one_day, start, 60) == datetime(2026, 5, 9, 10, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="no working time in the three years"):
        add_business_minutes(only_one_day, start, 61)
    with pytest.raises(ValueError, match="no working time"):
        add_business_minutes(BusinessCalendar("UTC", {}), start, 1)
    tiny = BusinessCalendar("UTC", {3: (iv("10:00", "10:01"),)})
    with pytest.raises(ValueError, match="more than ten years"):
        add_business_minutes(tiny, start, 11 * 53)


def test_bad_arguments_are_refused() -> None:
    calendar = BusinessCalendar("Asia/Shanghai", OFFICE_WEEK)
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_minutes(calendar, datetime(2026, 3, 12, 9), 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        business_time_between(calendar, datetime(2026, 3, 12, 9), datetime(2026, 3, 13, tzinfo=UTC))
    with pytest.raises(ValueError, match="negative"):
        add_business_minutes(calendar, datetime(2026, 3, 12, tzinfo=UTC), -1)
    with pytest.raises(ValueError, match="start before it ends"):
        Interval(time(12), time(9))
    with pytest.raises(ValueError, match="whole minutes"):
        Interval(time(9, 0, 30), time(12))
    with pytest.raises(ValueError, match="overlap"):
        BusinessCalendar("UTC", {1: (iv("09:00", "12:00"), iv("11:00", "13:00"))})
    with pytest.raises(ValueError, match="also a holiday"):
        BusinessCalendar(
            "UTC", {}, frozenset({date(2026, 1, 1)}), {date(2026, 1, 1): (iv("09:00", "10:00"),)}
        )
    with pytest.raises(ValueError, match="timezone"):
        BusinessCalendar("Mars/Olympus", {})


def test_equal_calendars_compare_and_hash_equal_whatever_empty_days_they_list() -> None:
    one = BusinessCalendar("UTC", {1: OFFICE, 6: ()})
    other = BusinessCalendar("UTC", {1: list(OFFICE)})  # type: ignore[dict-item]
    assert one == other
    assert hash(one) == hash(other)


def test_parse_calendar_reads_the_json_form_and_writes_it_back() -> None:
    raw = {
        "timezone": "Asia/Shanghai",
        "week": {"1": [["13:30", "18:00"], ["09:00", "12:00"]], "6": [], "7": [["22:00", "24:00"]]},
        "holidays": ["2026-10-02", "2026-10-01", "2026-10-01"],
        "workdays": {"2026-10-10": [["09:00", "18:00"]]},
    }
    calendar = parse_calendar(raw)
    assert calendar == BusinessCalendar(
        "Asia/Shanghai",
        {1: OFFICE, 7: (iv("22:00", "24:00"),)},
        frozenset({date(2026, 10, 1), date(2026, 10, 2)}),
        {date(2026, 10, 10): (iv("09:00", "18:00"),)},
    )
    assert calendar_as_dict(calendar) == {
        "timezone": "Asia/Shanghai",
        "week": {"1": [["09:00", "12:00"], ["13:30", "18:00"]], "7": [["22:00", "24:00"]]},
        "holidays": ["2026-10-01", "2026-10-02"],
        "workdays": {"2026-10-10": [["09:00", "18:00"]]},
    }
    assert parse_calendar({"timezone": "UTC", "week": {}}) == BusinessCalendar("UTC", {})


def test_parse_calendar_lists_every_problem_together() -> None:
    raw = {
        "timezone": "Asia/Shangai",
        "week": {
            "1": [["09:00", "12:00"], ["9:00", "10:00"], ["14:00", "13:00"]],
            "2": [["09:00", "12:00"], ["11:00", "18:00"]],
            "8": [["09:00", "12:00"]],
            "3": "09:00-18:00",
            "4": [["00:00", "24:00"], ["24:00", "24:00"], ["08:00"]],
        },
        "holidays": ["2026-10-01", "2026-13-01", "20261002"],
        "workdays": {
            "2026-10-01": [["09:00", "18:00"]],
            "2026-10-10": [],
            "10/11/2026": [["09:00", "18:00"]],
        },
        "holiday": ["2026-10-03"],
    }
    with pytest.raises(InvalidInput) as caught:
        parse_calendar(raw)
    assert caught.value.code == "calendar.invalid"
    assert sorted((error.field, error.code) for error in caught.value.errors) == sorted(
        [
            ("holiday", "calendar.unknown_field"),
            ("timezone", "timezone.unknown"),
            ("week.1[1]", "calendar.time"),
            ("week.1[2]", "calendar.interval"),
            ("week.2[1]", "calendar.overlap"),
            ("week.8", "calendar.weekday"),
            ("week.3", "calendar.type"),
            ("week.4[1]", "calendar.time"),
            ("week.4[2]", "calendar.type"),
            ("holidays[1]", "calendar.date"),
            ("holidays[2]", "calendar.date"),
            ("workdays.2026-10-01", "calendar.date_conflict"),
            ("workdays.2026-10-10", "calendar.workday_empty"),
            ("workdays.10/11/2026", "calendar.date"),
        ]
    )


def test_parse_calendar_requires_the_zone_and_the_week() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_calendar({"holidays": "2026-10-01", "workdays": []})
    assert sorted((error.field, error.code) for error in caught.value.errors) == [
        ("holidays", "calendar.type"),
        ("timezone", "calendar.required"),
        ("week", "calendar.required"),
        ("workdays", "calendar.type"),
    ]
    with pytest.raises(InvalidInput) as caught:
        parse_calendar(["not", "an", "object"])  # type: ignore[arg-type]
    assert [(error.field, error.code) for error in caught.value.errors] == [("", "calendar.type")]


# ---------------------------------------------------------------------------------------------------
# with_public_holidays


def _nine_to_six(**dates: object) -> calendars.BusinessCalendar:
    return calendars.parse_calendar(
        {"timezone": "Asia/Shanghai", "week": {str(d): [["09:00", "18:00"]] for d in range(1, 6)}, **dates}
    )


def test_without_a_region_the_calendar_is_unchanged():
    calendar = _nine_to_six()
    assert calendars.with_public_holidays(calendar, None) is calendar


def test_china_adds_golden_week_and_its_make_up_saturday_on_the_calendars_own_hours():
    merged = calendars.with_public_holidays(_nine_to_six(), "CN")
    assert date(2026, 10, 1) in merged.holidays
    assert merged.workdays[date(2026, 10, 10)] == (calendars.Interval(time(9), time(18)),)
    assert merged.week == _nine_to_six().week


def test_the_calendars_own_dates_win_over_the_statutory_ones():
    own = _nine_to_six(holidays=["2026-10-10"], workdays={"2026-10-07": [["09:00", "12:00"]]})
    merged = calendars.with_public_holidays(own, "CN")
    assert date(2026, 10, 10) in merged.holidays  # a statutory make-up day the company takes off
    assert date(2026, 10, 10) not in merged.workdays
    assert date(2026, 10, 7) not in merged.holidays  # a statutory holiday the company works
    assert merged.workdays[date(2026, 10, 7)] == (calendars.Interval(time(9), time(12)),)


def test_an_unknown_region_is_refused():
    with pytest.raises(ValueError, match="public_holidays"):
        calendars.with_public_holidays(_nine_to_six(), "US")
