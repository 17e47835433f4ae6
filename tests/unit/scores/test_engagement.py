"""Temperature decay against hand-computed values (docs/scoring.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.scores.engagement import Temperature, decay_factor, stored_temperature

T0 = datetime(2026, 11, 2, 2, tzinfo=UTC)
WEEK = timedelta(days=7)


def test_a_temperature_halves_every_half_life():
    warm = Temperature(40.0, T0)

    assert warm.as_of(T0, WEEK) == 40.0
    assert warm.as_of(T0 + WEEK, WEEK) == pytest.approx(20.0)
    assert warm.as_of(T0 + 3 * WEEK, WEEK) == pytest.approx(5.0)
    assert warm.as_of(T0 + timedelta(days=3.5), WEEK) == pytest.approx(40 / 2**0.5)


def test_reading_before_the_stored_instant_does_not_warm_it():
    assert Temperature(10.0, T0).as_of(T0 - WEEK, WEEK) == 10.0


def test_a_newer_event_cools_what_was_there_then_adds_its_weight():
    after = Temperature(40.0, T0).with_event(5.0, T0 + WEEK, WEEK)

    assert after == Temperature(pytest.approx(25.0), T0 + WEEK)


def test_a_late_event_is_added_already_cooled_to_the_stored_instant():
    after = Temperature(40.0, T0).with_event(8.0, T0 - 2 * WEEK, WEEK)

    assert after == Temperature(pytest.approx(42.0), T0)


def test_the_order_events_arrive_in_does_not_change_the_temperature():
    events = [(10.0, T0), (4.0, T0 + timedelta(days=2)), (6.0, T0 + timedelta(days=9))]
    now = T0 + timedelta(days=12)

    def fold(order: list[tuple[float, datetime]]) -> float:
        first_weight, first_at = order[0]
        temperature = Temperature(first_weight, first_at)
        for weight, at in order[1:]:
            temperature = temperature.with_event(weight, at, WEEK)
        return temperature.as_of(now, WEEK)

    # By hand: 10 * 2^-(12/7) + 4 * 2^-(10/7) + 6 * 2^-(3/7)
    expected = 10 * 2 ** (-12 / 7) + 4 * 2 ** (-10 / 7) + 6 * 2 ** (-3 / 7)
    assert fold(events) == pytest.approx(expected)
    assert fold(list(reversed(events))) == pytest.approx(expected)
    assert fold([events[1], events[2], events[0]]) == pytest.approx(expected)


def test_decay_factor_and_a_row_without_engagement():
    assert decay_factor(timedelta(0), WEEK) == 1.0
    assert decay_factor(2 * WEEK, WEEK) == pytest.approx(0.25)
    assert stored_temperature(None, None) is None
    assert stored_temperature(3.0, T0) == Temperature(3.0, T0)
