"""The next-action mining and the golden hour's slot choice, on plain values."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.organization.organization_settings import patched_settings
from app.domain.organization.policy import policy_from_settings
from app.domain.pipelines.next_actions import (
    CallBasis,
    ClosedDeal,
    MiningBasis,
    NextActionRules,
    Slot,
    StageActivity,
    best_slots,
    contact_times,
    suggest_next_actions,
    type_stats,
)
from app.domain.platform.errors import InvalidInput

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def _deals(won: int, lost: int) -> list[ClosedDeal]:
    return [ClosedDeal(uuid.uuid4(), True) for _ in range(won)] + [
        ClosedDeal(uuid.uuid4(), False) for _ in range(lost)
    ]


def _did(deal: ClosedDeal, kind: str, hours: float, entered: datetime = T0) -> StageActivity:
    return StageActivity(deal.opportunity_id, kind, entered, entered + timedelta(hours=hours))


def test_a_deal_that_came_back_to_the_stage_counts_once_at_its_earliest_timing() -> None:
    (deal,) = _deals(1, 0)
    later = T0 + timedelta(days=10)
    stats = type_stats([deal], [_did(deal, "demo", 30), _did(deal, "demo", 4, entered=later)])
    assert (stats["demo"].won_with, stats["demo"].closed_with, stats["demo"].won_hours) == (1, 1, (4.0,))


def test_ties_in_lift_go_to_the_most_support_then_the_name_and_losers_habits_are_never_suggested() -> None:
    deals = _deals(4, 4)
    won, lost = deals[:4], deals[4:]
    rows = [_did(d, "visit", 5) for d in won[:3]]  # 3 of 3: 1.0
    rows += [_did(d, "demo", 8) for d in won]  # 4 of 4: 1.0, more support
    rows += [_did(d, "meeting", 2) for d in won[:3]]  # 3 of 3: 1.0, same support as visit
    rows += [_did(d, "call", 1) for d in won[:3]] + [_did(d, "call", 1) for d in lost]  # 3 of 7
    found = suggest_next_actions(deals, rows, done_types=(), stage_entered_at=T0, now=T0)
    assert found.basis is MiningBasis.won_deals
    assert found.history.base_win_rate == 0.5
    assert [(s.activity_type, s.won_with, s.lift) for s in found.suggestions] == [
        ("demo", 4, 0.5),
        ("meeting", 3, 0.5),
        ("visit", 3, 0.5),
    ]
    assert "call" not in {s.activity_type for s in found.suggestions}


def test_too_few_won_deals_is_insufficient_history() -> None:
    deals = _deals(2, 0)
    rows = [_did(d, "demo", 1) for d in deals]
    found = suggest_next_actions(deals, rows, done_types=(), stage_entered_at=T0, now=T0)
    assert (found.basis, found.suggestions, found.history.won) == (MiningBasis.insufficient_history, (), 2)


def test_best_slots_need_two_calls_and_a_connection() -> None:
    slots = [Slot(1, 9, 1, 1), Slot(2, 10, 2, 0), Slot(3, 11, 4, 2), Slot(4, 15, 2, 1), Slot(5, 16, 3, 3)]
    assert [(s.weekday, s.hour) for s in best_slots(slots)] == [(5, 16), (3, 11), (4, 15)]
    few = contact_times([Slot(1, 9, 1, 1)], [Slot(2, 10, 5, 1)])
    assert (few.basis, few.customer_calls, few.attempts, few.best_slots) == (
        CallBasis.insufficient_history,
        1,
        1,
        (),
    )


def test_the_setting_keeps_defaults_for_what_it_leaves_out_and_refuses_the_rest() -> None:
    assert policy_from_settings({}).next_actions == NextActionRules(3, 365, 10)
    assert policy_from_settings({"next_actions": {"lookback_days": 90}}).next_actions == NextActionRules(
        3, 90, 10
    )
    with pytest.raises(InvalidInput) as refused:
        patched_settings({}, {"next_actions": {"lookback_days": 10, "min_support": 0, "depth": 1}})
    assert {e.field for e in refused.value.errors} == {
        "settings.next_actions.depth",
        "settings.next_actions.min_support",
        "settings.next_actions.lookback_days",
    }
