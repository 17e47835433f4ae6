"""Assignment rules as pure functions: condition matching, validation, strategies, caps, business time."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.domain.assignment.assignment import (
    Candidate,
    Caps,
    Condition,
    Operator,
    Strategy,
    choose,
    condition_holds,
    judge,
    parse_conditions,
)
from app.domain.organization.policy import policy_from_settings
from app.domain.platform.errors import InvalidInput
from app.domain.sla.calendars import add_business_minutes

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
LEAD = {
    "region": "华东",
    "product_line": "防水材料",
    "industry": "建筑施工",
    "source": "exhibition",
    "budget": Decimal("600000"),
    "tags": ["展会2026", "VIP"],
    "company": "上海申华建材有限公司",
    "custom_fields": {"channel": "经销"},
}


@pytest.mark.parametrize(
    ("field", "operator", "value", "expected"),
    [
        ("region", Operator.eq, "华东", True),
        ("region", Operator.eq, "华南", False),
        ("source", Operator.eq, "EXHIBITION", True),
        ("product_line", Operator.in_, ["保温材料", "防水材料"], True),
        ("product_line", Operator.in_, ["保温材料"], False),
        ("industry", Operator.not_in, ["医疗"], True),
        ("industry", Operator.not_in, ["建筑施工"], False),
        ("budget", Operator.gte, 500000, True),
        ("budget", Operator.gte, "600000.01", False),
        ("budget", Operator.lte, 600000, True),
        ("budget", Operator.lte, 100, False),
        ("company", Operator.contains, "申华", True),
        ("company", Operator.contains, "华润", False),
        ("tags", Operator.eq, "vip", True),
        ("tags", Operator.in_, ["老客户"], False),
        ("tags", Operator.contains, "2026", True),
        ("custom_fields.channel", Operator.eq, "经销", True),
        ("custom_fields.channel", Operator.eq, "直销", False),
        ("custom_fields.missing", Operator.not_in, ["x"], True),
        ("custom_fields.missing", Operator.eq, "x", False),
    ],
)
def test_condition_matching_table(field, operator, value, expected):
    assert condition_holds(Condition(field, operator, value), LEAD) is expected


def test_a_lead_without_budget_fails_numeric_conditions():
    assert not condition_holds(Condition("budget", Operator.gte, 0), {**LEAD, "budget": None})


def test_unknown_fields_operators_and_bad_values_are_named_together():
    with pytest.raises(InvalidInput) as raised:
        parse_conditions(
            [
                {"field": "regoin", "operator": "eq", "value": "华东"},
                {"field": "region", "operator": "like", "value": "华"},
                {"field": "budget", "operator": "gte", "value": "lots"},
                {"field": "region", "operator": "in", "value": "华东"},
                {"field": "custom_fields.", "operator": "eq", "value": "x"},
            ]
        )
    errors = [(e.field, e.code) for e in raised.value.errors]
    assert errors == [
        ("conditions[0].field", "field.unknown"),
        ("conditions[1].operator", "operator.unknown"),
        ("conditions[2].value", "value.invalid"),
        ("conditions[3].value", "value.invalid"),
        ("conditions[4].field", "field.unknown"),
    ]


def _rep(n: int, **overrides: object) -> Candidate:
    values: dict[str, object] = {
        "user_id": uuid.UUID(int=n),
        "name": f"rep{n}",
        "is_active": True,
        "is_available": True,
        "unavailable_until": None,
        "open_leads": 0,
        "new_today": 0,
        "weight": 1,
    }
    values.update(overrides)
    return Candidate(**values)  # type: ignore[arg-type]


def _run(strategy: Strategy, reps: list[Candidate], leads: int) -> Counter[uuid.UUID]:
    counts: Counter[uuid.UUID] = Counter()
    position = 0
    for _ in range(leads):
        verdicts = [judge(rep, Caps(), NOW) for rep in reps]
        choice = choose(strategy, verdicts, position)
        assert choice.user_id is not None
        counts[choice.user_id] += 1
        position = choice.next_position
    return counts


def test_round_robin_takes_turns_and_skips_the_ineligible():
    reps = [_rep(1), _rep(2), _rep(3, is_available=False)]
    counts = _run(Strategy.round_robin, reps, 10)
    assert counts == {uuid.UUID(int=1): 5, uuid.UUID(int=2): 5}


def test_weighted_gives_leads_in_proportion_and_interleaved():
    reps = [_rep(1, weight=3), _rep(2, weight=1), _rep(3, weight=0)]
    counts = _run(Strategy.weighted, reps, 40)
    assert counts == {uuid.UUID(int=1): 30, uuid.UUID(int=2): 10}
    verdicts = [judge(rep, Caps(), NOW) for rep in reps]
    first_four = []
    position = 0
    for _ in range(4):
        choice = choose(Strategy.weighted, verdicts, position)
        first_four.append(choice.user_id)
        position = choice.next_position
    # Smooth interleaving: the light rep is not starved until the end of the cycle.
    assert first_four.count(uuid.UUID(int=2)) == 1
    assert first_four[0] == uuid.UUID(int=1)


def test_least_loaded_picks_the_rep_with_fewest_open_leads():
    reps = [_rep(1, open_leads=5), _rep(2, open_leads=2), _rep(3, open_leads=2, new_today=1)]
    choice = choose(Strategy.least_loaded, [judge(r, Caps(), NOW) for r in reps], 0)
    assert choice.user_id == uuid.UUID(int=2)
    assert "2" in choice.reason


@pytest.mark.parametrize(
    ("candidate", "caps", "reason"),
    [
        (_rep(1, is_active=False), Caps(), "inactive"),
        (_rep(1, is_available=False), Caps(), "marked unavailable"),
        (_rep(1, unavailable_until=NOW + timedelta(hours=1)), Caps(), "unavailable until"),
        (_rep(1, open_leads=10), Caps(max_open_leads=10), "cap of 10 open leads"),
        (_rep(1, new_today=3), Caps(max_new_per_day=3), "cap of 3 new leads today"),
    ],
)
def test_caps_and_availability_make_a_rep_ineligible_with_a_reason(candidate, caps, reason):
    verdict = judge(candidate, caps, NOW)
    assert not verdict.eligible
    assert verdict.reason is not None
    assert reason in verdict.reason


def test_leave_that_has_ended_does_not_block():
    verdict = judge(_rep(1, unavailable_until=NOW - timedelta(minutes=1)), Caps(max_open_leads=1), NOW)
    assert verdict.eligible


def test_nobody_eligible_gives_no_choice():
    choice = choose(Strategy.round_robin, [judge(_rep(1, is_active=False), Caps(), NOW)], 0)
    assert choice.user_id is None


# What an organization without calendar settings counts: Monday to Friday, 09:00-18:00 Shanghai.
DEFAULT_CALENDAR = policy_from_settings({}).business_calendar


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        # Monday 10:00 Shanghai + 2 h = Monday 12:00.
        (datetime(2026, 11, 23, 2, 0, tzinfo=UTC), 120, datetime(2026, 11, 23, 4, 0, tzinfo=UTC)),
        # Monday 17:00 + 2 h = Tuesday 10:00 (one hour Monday, one Tuesday from 09:00).
        (datetime(2026, 11, 23, 9, 0, tzinfo=UTC), 120, datetime(2026, 11, 24, 2, 0, tzinfo=UTC)),
        # Friday 17:00 + 2 h = Monday 10:00, over the weekend.
        (datetime(2026, 11, 27, 9, 0, tzinfo=UTC), 120, datetime(2026, 11, 30, 2, 0, tzinfo=UTC)),
        # Saturday night + 30 min = Monday 09:30.
        (datetime(2026, 11, 28, 14, 0, tzinfo=UTC), 30, datetime(2026, 11, 30, 1, 30, tzinfo=UTC)),
        # 72 business hours = 8 working days of 9 hours: Monday 10:00 -> Thursday of next week 10:00.
        (datetime(2026, 11, 23, 2, 0, tzinfo=UTC), 72 * 60, datetime(2026, 12, 3, 2, 0, tzinfo=UTC)),
    ],
)
def test_business_minutes_skip_nights_and_weekends(start, minutes, expected):
    assert add_business_minutes(DEFAULT_CALENDAR, start, minutes) == expected
