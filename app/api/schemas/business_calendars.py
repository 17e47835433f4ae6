"""Business calendars as the API reads and writes them; the domain (parse_calendar) checks the content."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from app.api.schemas.common import ListPage, PatchModel, Record

CalendarName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
TimeText = Annotated[str, StringConstraints(max_length=5)]
# Shapes only: the values (times, dates, overlaps, the zone) are checked together by the domain so that
# one answer lists every problem.
Intervals = Annotated[
    list[Annotated[list[TimeText], Field(max_length=2)]],
    Field(max_length=24, description='Intervals ["HH:MM", "HH:MM"] in any order; an end may be 24:00.'),
]
Week = Annotated[
    dict[str, Intervals],
    Field(max_length=7, description='Working intervals per ISO weekday, "1" = Monday; missing days are off.'),
]
Holidays = Annotated[
    list[Annotated[str, StringConstraints(max_length=10)]],
    Field(max_length=2000, description='Whole days off, "YYYY-MM-DD".'),
]
Workdays = Annotated[
    dict[str, Intervals],
    Field(max_length=2000, description="Make-up working days (调休) by date, with their working intervals."),
]
Zone = Annotated[str, Field(max_length=64, description="IANA time zone, e.g. Asia/Shanghai.")]
PublicHolidays = Annotated[
    Literal["CN"] | None,
    Field(description='"CN" adds China\'s statutory holidays and make-up days (chinesecalendar).'),
]
IsDefault = Annotated[StrictBool, Field(description="The calendar the organization's SLA timers count.")]

_LUNCH_WEEK = {str(day): [["09:00", "12:00"], ["13:30", "18:00"]] for day in range(1, 6)}
_CALENDAR_EXAMPLE: dict[str, Any] = {
    "name": "上海办公室",
    "timezone": "Asia/Shanghai",
    "week": _LUNCH_WEEK,
    "holidays": ["2026-12-31"],
    "workdays": {"2026-12-26": [["09:00", "12:00"]]},
    "public_holidays": "CN",
    "is_default": True,
}


class BusinessCalendarCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CALENDAR_EXAMPLE]})

    name: CalendarName
    timezone: Zone
    week: Week
    holidays: Holidays = Field(default_factory=list)
    workdays: Workdays = Field(default_factory=dict)
    public_holidays: PublicHolidays = None
    is_default: IsDefault = False


class BusinessCalendarUpdate(PatchModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"is_default": True}, {"holidays": ["2026-12-31"]}]}
    )
    nullable_fields = frozenset({"public_holidays"})

    name: CalendarName | SkipJsonSchema[None] = None
    timezone: Zone | SkipJsonSchema[None] = None
    week: Week | SkipJsonSchema[None] = None
    holidays: Holidays | SkipJsonSchema[None] = None
    workdays: Workdays | SkipJsonSchema[None] = None
    public_holidays: PublicHolidays = None
    is_default: IsDefault | SkipJsonSchema[None] = None


class BusinessCalendarOut(Record):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "0b6f5c1e-9a41-4c3e-8f0e-5d2a7b9c1e42",
                    "version": 1,
                    "created_at": "2026-11-23T02:00:00Z",
                    "updated_at": "2026-11-23T02:00:00Z",
                    **_CALENDAR_EXAMPLE,
                }
            ]
        },
    )

    name: str
    timezone: str
    week: dict[str, list[list[str]]]
    holidays: list[str]
    workdays: dict[str, list[list[str]]]
    public_holidays: Literal["CN"] | None
    is_default: bool


class BusinessCalendarPage(ListPage):
    items: list[BusinessCalendarOut]


class DueInstant(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"start": "2026-09-30T09:50:00Z", "minutes": 30, "due_at": "2026-10-08T01:20:00Z"}]
        }
    )

    start: datetime
    minutes: int
    due_at: datetime = Field(description="The earliest instant with that many business minutes since start.")
