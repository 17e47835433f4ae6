"""Customer health's arithmetic on plain values: each factor's value at its edges, whole-point
contributions that add up to the score, bands, and the settings it is read from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.customers.customer_tier import Tier
from app.domain.organization.organization_settings import patched_settings
from app.domain.organization.policy import policy_from_settings
from app.domain.platform.errors import InvalidInput
from app.domain.scores.customer_health import (
    HealthBand,
    HealthFactor,
    HealthFacts,
    HealthPolicy,
    factor_values,
    score_health,
    scores_and_bands,
)
from app.domain.scores.engagement import Temperature

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
POLICY = HealthPolicy()


def _values(**facts: object) -> dict[HealthFactor, float]:
    return factor_values(HealthFacts(**{"tier": Tier.B, **facts}), POLICY, NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("days_ago", "value"),
    [(0, 1.0), (14, 1.0), (21, 0.75), (28, 0.5), (42, 0.0), (400, 0.0)],  # tier B expects 14 days
)
def test_recency_is_full_within_the_tier_interval_and_none_at_three_intervals(days_ago, value):
    assert _values(last_effective_follow_up_at=NOW - timedelta(days=days_ago))[HealthFactor.recency] == value


def test_recency_without_any_effective_follow_up_is_none():
    assert _values()[HealthFactor.recency] == 0.0


@pytest.mark.parametrize(
    ("recent", "previous", "value"),
    [(0, 0, 0.0), (1, 0, 1.0), (0, 6, 0.0), (3, 6, 1.0), (5, 6, 1.0), (1, 4, 0.5), (1, 8, 0.25)],
)
def test_trend_compares_the_last_30_days_with_the_60_before_per_30_days(recent, previous, value):
    facts = {"activities_last_30_days": recent, "activities_previous_60_days": previous}
    assert _values(**facts)[HealthFactor.trend] == value


def test_won_amount_breaches_satisfaction_and_temperature_edges():
    values = _values(
        won_amount_12_months=Decimal("250000"),  # over tier B's 100,000
        open_breaches=5,
        satisfaction=1.0,
        temperature=Temperature(40.0, NOW - timedelta(days=28)),  # two half-lives: 10
    )
    assert values[HealthFactor.won_amount] == 1.0
    assert values[HealthFactor.sla_breaches] == 0.0
    assert values[HealthFactor.satisfaction] == 0.0
    assert values[HealthFactor.temperature] == 1.0
    assert _values(open_breaches=1)[HealthFactor.sla_breaches] == pytest.approx(2 / 3)
    assert _values()[HealthFactor.satisfaction] == 0.5  # no survey: neutral


def test_contributions_are_whole_points_that_add_up_to_the_score_and_pick_its_band():
    facts = HealthFacts(
        tier=Tier.A,
        last_effective_follow_up_at=NOW - timedelta(days=10),
        activities_last_30_days=2,
        activities_previous_60_days=8,
        won_amount_12_months=Decimal("300000"),
        satisfaction=4.5,
        temperature=Temperature(8.0, NOW - timedelta(days=14)),
    )
    health = score_health(facts, POLICY, NOW)
    assert [f.contribution for f in health.factors] == [24, 8, 15, 10, 9, 4]
    assert (health.score, health.band) == (70, HealthBand.green)
    assert score_health(facts, HealthPolicy(green_min=71), NOW).band is HealthBand.yellow
    assert score_health(HealthFacts(tier=Tier.C), POLICY, NOW).band is HealthBand.red


def test_settings_default_and_merge_with_the_defaults():
    assert policy_from_settings({}).health == POLICY
    policy = policy_from_settings(
        {"scoring": {"health": {"weights": {"trend": 0}, "bands": {"yellow_min": 40}}}}
    ).health
    assert policy.weights[HealthFactor.trend] == 0
    assert policy.weights[HealthFactor.recency] == 30
    assert (policy.green_min, policy.yellow_min) == (70, 40)
    assert policy.points(HealthFactor.recency) == pytest.approx(100 * 30 / 85)


def test_unusable_settings_name_every_problem():
    with pytest.raises(InvalidInput) as refused:
        patched_settings(
            {},
            {
                "scoring": {
                    "health": {
                        "weights": {"recency": -1},
                        "bands": {"green_min": 101},
                        "breaches_to_zero": 1.5,
                    }
                }
            },
        )
    assert {error.field for error in refused.value.errors} == {
        "settings.scoring.health.weights.recency",
        "settings.scoring.health.bands.green_min",
        "settings.scoring.health.breaches_to_zero",
    }


_FACTS = st.builds(
    HealthFacts,
    tier=st.sampled_from(list(Tier)),
    last_effective_follow_up_at=st.none()
    | st.integers(0, 200 * 86400).map(lambda s: NOW - timedelta(seconds=s)),
    activities_last_30_days=st.integers(0, 40),
    activities_previous_60_days=st.integers(0, 80),
    won_amount_12_months=st.decimals(0, 2_000_000, places=2),
    open_breaches=st.integers(0, 6),
    satisfaction=st.none() | st.floats(1, 5),
    temperature=st.none()
    | st.builds(
        Temperature,
        st.floats(0, 60),
        st.integers(-86400, 90 * 86400).map(lambda s: NOW - timedelta(seconds=s)),
    ),
)
_POLICIES = st.builds(
    HealthPolicy,
    weights=st.fixed_dictionaries({factor: st.integers(1, 50) for factor in HealthFactor}),
    green_min=st.integers(60, 90),
    yellow_min=st.integers(20, 59),
)


@given(st.lists(_FACTS, min_size=1, max_size=20), _POLICIES)
def test_the_nightly_bulk_scoring_gives_score_healths_score_and_band(many, policy):
    assert scores_and_bands(many, policy, NOW) == [
        (scored.score, scored.band) for scored in (score_health(facts, policy, NOW) for facts in many)
    ]
