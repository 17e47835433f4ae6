"""KPI definitions without a database: periods in a time zone, grouping, PEI settings."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from app.domain.organization.organization_settings import patched_settings
from app.domain.organization.policy import policy_from_settings
from app.domain.platform.errors import InvalidInput
from app.domain.reports.kpis import (
    Dimension,
    group_by_pattern,
    parse_bound,
    parse_group_by,
    pei_weeks,
    period,
    utc_offsets,
)

NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_a_bare_date_is_that_whole_day_in_the_zone() -> None:
    assert parse_bound("2017-03-01", NEW_YORK, field_name="from", is_end=False) == datetime(
        2017, 3, 1, 5, tzinfo=UTC
    )
    assert parse_bound("2017-03-01", NEW_YORK, field_name="to", is_end=True) == datetime(
        2017, 3, 2, 5, tzinfo=UTC
    )
    assert parse_bound("2026-11-01T08:00:00", SHANGHAI, field_name="from", is_end=False) == datetime(
        2026, 11, 1, 0, tzinfo=UTC
    )


def test_the_default_period_is_the_last_30_local_days_or_90_ahead() -> None:
    now = datetime(2026, 11, 23, 2, tzinfo=UTC)
    assert period(None, None, SHANGHAI, now) == (datetime(2026, 10, 23, 16, tzinfo=UTC), now)
    # Ahead: from today to the end of the 90th day after it.
    assert period(None, None, SHANGHAI, now, ahead=True) == (
        datetime(2026, 11, 22, 16, tzinfo=UTC),
        datetime(2027, 2, 21, 16, tzinfo=UTC),
    )


def test_daylight_saving_changes_are_found_to_the_minute() -> None:
    offsets = utc_offsets(NEW_YORK, datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 4, 1, tzinfo=UTC))
    assert offsets == [
        (datetime(2026, 10, 1, tzinfo=UTC), -4 * 3600),
        (datetime(2026, 11, 1, 6, tzinfo=UTC), -5 * 3600),
        (datetime(2027, 3, 14, 7, tzinfo=UTC), -4 * 3600),
    ]
    assert utc_offsets(SHANGHAI, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC)) == [
        (datetime(2026, 1, 1, tzinfo=UTC), 8 * 3600)
    ]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("team,colour", "dimension.unknown"),
        ("user,team,month", "dimension.too_many"),
        ("week,month", "dimension.too_many"),
        ("product", "dimension.unsupported"),
    ],
)
def test_group_by_is_refused_naming_the_problem(text: str, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_group_by(text, frozenset(Dimension) - {Dimension.product})
    assert refused.value.errors[0].code == code


@pytest.mark.parametrize(
    "allowed",
    [
        frozenset(Dimension) - {Dimension.stage},
        frozenset({Dimension.user, Dimension.team}),
        frozenset({Dimension.day, Dimension.week, Dimension.month}),
    ],
)
def test_the_contract_s_group_by_pattern_takes_what_the_parser_takes(allowed: frozenset[Dimension]) -> None:
    """The pattern the contract states for a KPI's group_by and the server's parser agree on every
    value built of one to three dimensions, and on stray commas and spaces."""
    pattern = re.compile(group_by_pattern(allowed))
    names = [d.value for d in Dimension]
    texts = [",".join(combo) for size in (1, 2, 3) for combo in itertools.product(names, repeat=size)]
    for text in [*texts, "", ",", "team,", " team", "team, month", "Team"]:
        try:
            parse_group_by(text, allowed)
            parsed = True
        except InvalidInput:
            parsed = False
        assert parsed == bool(pattern.fullmatch(text)), text


def test_pei_settings_are_read_or_refused() -> None:
    pei = policy_from_settings(
        {"pei": {"activities": {"visit": 3, "call": 20}, "action_pack_tasks": True}}
    ).pei
    assert (pei.activities, pei.action_pack_tasks) == ((("call", 20), ("visit", 3)), True)
    for bad in ({"activities": {"dance": 1}}, {"activities": {"call": 0}}, {"weekly": {}}, []):
        with pytest.raises(InvalidInput):
            patched_settings({}, {"pei": bad})


def test_pei_counts_the_weeks_that_begin_in_the_period() -> None:
    start = datetime(2026, 11, 1, tzinfo=SHANGHAI)  # a Sunday
    end = datetime(2026, 11, 16, tzinfo=SHANGHAI)
    assert pei_weeks(start, end, SHANGHAI) == [date(2026, 11, 2), date(2026, 11, 9)]
