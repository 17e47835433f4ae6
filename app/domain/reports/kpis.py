"""KPI definitions without I/O: names, dimensions, the period a query covers and its parsing.

docs/kpis.md states each KPI's numerator, denominator, records and deciding timestamp; the
services in app/services/kpis/ compute them in SQL.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.domain.platform.errors import FieldError, InvalidInput

DEFAULT_PERIOD_DAYS = 30
DEFAULT_FORECAST_DAYS = 90
DEFAULT_STALE_DAYS = 7
MAX_PERIOD_DAYS = 3 * 366
MAX_GROUP_BY = 2


class KpiName(StrEnum):
    rep_performance = "rep-performance"
    sales_cycle = "sales-cycle"
    funnel = "funnel"
    stage_dwell = "stage-dwell"
    pipeline = "pipeline"
    forecast = "forecast"
    lead_response = "lead-response"
    lead_utilization = "lead-utilization"
    follow_up = "follow-up"
    stale = "stale"
    contact_heatmap = "contact-heatmap"
    time_to_first_deal = "time-to-first-deal"
    pei = "pei"
    handover = "handover"
    daily_brief = "daily-brief"
    status_board = "status-board"
    campaign_roi = "campaign-roi"
    source_quality = "source-quality"


class Filter(StrEnum):
    team_id = "team_id"
    user_id = "user_id"
    region = "region"
    industry = "industry"
    source = "source"
    pipeline_id = "pipeline_id"


class Dimension(StrEnum):
    user = "user"
    team = "team"
    region = "region"
    industry = "industry"
    source = "source"
    pipeline = "pipeline"
    stage = "stage"
    product = "product"
    # A lead's campaign (issue 21, point 3), and that campaign's channel.
    campaign = "campaign"
    channel = "channel"
    day = "day"
    week = "week"
    month = "month"

    @property
    def is_period(self) -> bool:
        return self in (Dimension.day, Dimension.week, Dimension.month)


@dataclass(frozen=True)
class KpiFilters:
    """Repeated values of one filter are alternatives (OR); different filters all apply (AND)."""

    team_ids: tuple[uuid.UUID, ...] = ()
    user_ids: tuple[uuid.UUID, ...] = ()
    regions: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    pipeline_ids: tuple[uuid.UUID, ...] = ()

    def values(self) -> dict[Filter, tuple[Any, ...]]:
        return {
            Filter.team_id: self.team_ids,
            Filter.user_id: self.user_ids,
            Filter.region: self.regions,
            Filter.industry: self.industries,
            Filter.source: self.sources,
            Filter.pipeline_id: self.pipeline_ids,
        }

    def given(self) -> set[Filter]:
        return {name for name, values in self.values().items() if values}


@dataclass(frozen=True)
class KpiQuery:
    """A KPI request after parsing: the half-open period [start, end) in UTC, the time zone that
    decides days, weeks and months, the grouping and the filters. A snapshot KPI (pipeline,
    stale) describes `now` and has start == end == now."""

    start: datetime
    end: datetime
    timezone: str
    now: datetime
    group_by: tuple[Dimension, ...] = ()
    filters: KpiFilters = field(default_factory=KpiFilters)
    stale_after_days: int = DEFAULT_STALE_DAYS
    limit: int = 50
    cursor: str | None = None


def zone(name: str, field_name: str = "tz") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            f"{name!r} is not an IANA time zone.",
            code="kpi.timezone_invalid",
            errors=[FieldError(field_name, "timezone.unknown", "an IANA name such as Asia/Shanghai")],
        ) from exc


# The years a period may name (the contract states them), then an RFC 3339 date or date-time;
# the offset may be left out, and the time is then read in the KPI's zone.
_BOUND = re.compile(
    r"(?:19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}"
    r"(?:[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?)?"
)


def parse_bound(text: str, tz: ZoneInfo, *, field_name: str, is_end: bool) -> datetime:
    """`from`/`to` as an instant. A bare date is that whole day in `tz`: `from` its first instant,
    `to` the first instant of the next day (the period is half-open, so `to` includes the day).
    A date-time without an offset is read in `tz` too."""
    try:
        if _BOUND.fullmatch(text) is None:
            raise ValueError(text)
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1) if is_end else day, time(0), tz)
        moment = datetime.fromisoformat(text.upper())
    except ValueError as exc:
        raise InvalidInput(
            f"{field_name} must be a date or a date-time of the years 1900 to 2099.",
            code="kpi.period_invalid",
            errors=[FieldError(field_name, "format", "e.g. 2026-11-01 or 2026-11-01T08:00:00+08:00")],
        ) from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def period(
    start_text: str | None, end_text: str | None, tz: ZoneInfo, now: datetime, *, ahead: bool = False
) -> tuple[datetime, datetime]:
    """The default period is the last 30 days: from the start of the day 30 days ago to now. Ahead
    (a forecast): from the start of today to the end of the 90th day after it."""
    today = datetime.combine(now.astimezone(tz).date(), time(0), tz)
    default_end = today + timedelta(days=DEFAULT_FORECAST_DAYS + 1) if ahead else now
    end = default_end if end_text is None else parse_bound(end_text, tz, field_name="to", is_end=True)
    if start_text is not None:
        start = parse_bound(start_text, tz, field_name="from", is_end=False)
    elif ahead:
        start = today
    else:
        local_end = end.astimezone(tz)
        start = datetime.combine(local_end.date() - timedelta(days=DEFAULT_PERIOD_DAYS), time(0), tz)
    if start >= end:
        raise InvalidInput(
            "from must be before to.",
            code="kpi.period_invalid",
            errors=[FieldError("from", "period.order", "before to")],
        )
    if end - start > timedelta(days=MAX_PERIOD_DAYS):
        raise InvalidInput(
            "The period is longer than three years.",
            code="kpi.period_invalid",
            errors=[FieldError("to", "period.too_long", f"at most {MAX_PERIOD_DAYS} days after from")],
        )
    return start, end


def group_by_pattern(allowed: frozenset[Dimension]) -> str:
    """The `group_by` values `parse_group_by` takes, as the contract states them: empty, or one or
    two of the allowed dimensions, comma-separated, none twice and at most one a period."""
    others = "|".join(sorted(d.value for d in allowed if not d.is_period))
    periods = "|".join(sorted(d.value for d in allowed if d.is_period))
    forms = []
    if others:
        # \1 is the first dimension: the second may not repeat it.
        then = f"{others}|{periods}" if periods else others
        forms.append(f"({others})(?:,(?!\\1$)(?:{then}))?")
    if periods:
        forms.append(f"(?:{periods})" + (f"(?:,(?:{others}))?" if others else ""))
    return f"^(?:{'|'.join(forms)})?$"


def parse_group_by(text: str | None, allowed: frozenset[Dimension]) -> tuple[Dimension, ...]:
    """`team,month`: at most two dimensions, none twice, at most one of them a period."""
    if not text:
        return ()
    names = text.split(",")
    errors = [
        FieldError("group_by", "dimension.unknown", f"{name!r} is not one of {', '.join(Dimension)}")
        for name in names
        if name not in Dimension.__members__.values()
    ]
    if errors:
        raise InvalidInput("group_by names an unknown dimension.", code="kpi.group_by_invalid", errors=errors)
    dimensions = tuple(Dimension(name) for name in names)
    unsupported = [d for d in dict.fromkeys(dimensions) if d not in allowed]
    if unsupported:
        raise InvalidInput(
            "This KPI cannot be grouped by " + ", ".join(unsupported) + ".",
            code="kpi.group_by_invalid",
            errors=[
                FieldError(
                    "group_by",
                    "dimension.unsupported",
                    f"{d} is not available here; allowed: {', '.join(sorted(allowed))}",
                )
                for d in unsupported
            ],
        )
    if (
        len(dimensions) > MAX_GROUP_BY
        or len(set(dimensions)) < len(dimensions)
        or sum(d.is_period for d in dimensions) > 1
    ):
        raise InvalidInput(
            "group_by takes at most two different dimensions, at most one of day, week and month.",
            code="kpi.group_by_invalid",
            errors=[FieldError("group_by", "dimension.too_many", "e.g. team,month")],
        )
    return dimensions


def ratio(numerator: float, denominator: float) -> float | None:
    """A share rounded to four places; None when nothing was counted (not 0: nothing to judge)."""
    return round(numerator / denominator, 4) if denominator else None


def utc_offsets(tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The UTC offset of `tz` in seconds from each instant on, over [start, end]: one entry, plus
    one per daylight-saving change. A database without time zone data (SQLite) shifts timestamps
    by these to find local days."""
    entries: list[tuple[datetime, int]] = []

    def offset_at(moment: datetime) -> int:
        delta = moment.astimezone(tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    cursor = start
    entries.append((start, offset_at(start)))
    step = timedelta(days=1)  # daylight saving changes at most once a day
    while cursor < end:
        following = min(cursor + step, end)
        if offset_at(following) != offset_at(cursor):
            low, high = cursor, following
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                if offset_at(middle) == offset_at(low):
                    low = middle
                else:
                    high = middle
            changed_at = high.replace(second=0, microsecond=0)
            entries.append((changed_at, offset_at(changed_at)))
        cursor = following
    return entries


ACTION_PACK = "action_pack"


@dataclass(frozen=True)
class PeiRequirements:
    """What each rep must do per week for the process-execution index (settings `pei`):
    `activities` {activity type: count per week}, and with `action_pack_tasks` the stage action
    pack's tasks assigned to the rep and due that week."""

    activities: tuple[tuple[str, int], ...] = ()
    action_pack_tasks: bool = False


def pei_weeks(start: datetime, end: datetime, tz: ZoneInfo) -> list[date]:
    """The local ISO weeks (their Mondays) that begin in [start, end): PEI counts whole weeks."""
    first = start.astimezone(tz).date()
    monday = first + timedelta(days=(7 - first.weekday()) % 7)
    weeks = []
    while datetime.combine(monday, time(0), tz) < end:
        if datetime.combine(monday, time(0), tz) >= start:
            weeks.append(monday)
        monday += timedelta(days=7)
    return weeks
