"""Customer health 0-100: six weighted factors, each valued 0-1 from a customer's facts, whose
whole-point contributions add up to the score; the score falls in a green, yellow or red band.

Pure: the facts (counted by services/scores/customer_health.py) and `now` go in, the score comes out, so a
nightly run over every customer, a recompute after one activity and the explanation an API reader
gets are the same arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import cached_property

from app.domain.customers.customer_tier import Tier
from app.domain.scores.engagement import Temperature

SECONDS_PER_DAY = 86400.0
# A customer nobody has surveyed is neither praised nor blamed: half the satisfaction points.
UNSURVEYED_SATISFACTION = 0.5
# Activity windows: the trend compares the last 30 days with the 60 before, per 30 days; the
# won amount and satisfaction look back a year.
RECENT_DAYS = 30
PREVIOUS_DAYS = 60
YEAR_DAYS = 365


class HealthFactor(StrEnum):
    recency = "recency"  # last effective follow-up against the tier's expected interval
    trend = "trend"  # activities in the last 30 days against the 60 before, per 30 days
    won_amount = "won_amount"  # won in the last 12 months against the tier's expectation
    sla_breaches = "sla_breaches"  # open breaches on the customer's records
    satisfaction = "satisfaction"  # survey scores 1-5 on activities of the last 12 months
    temperature = "temperature"  # engagement temperature, cooled to now


class HealthBand(StrEnum):
    green = "green"
    yellow = "yellow"
    red = "red"


DEFAULT_WEIGHTS: Mapping[HealthFactor, float] = {
    HealthFactor.recency: 30,
    HealthFactor.trend: 15,
    HealthFactor.won_amount: 25,
    HealthFactor.sla_breaches: 10,
    HealthFactor.satisfaction: 10,
    HealthFactor.temperature: 10,
}
DEFAULT_FOLLOW_UP_DAYS: Mapping[Tier, float] = {Tier.A: 7, Tier.B: 14, Tier.C: 30}
DEFAULT_WON_EXPECTED: Mapping[Tier, Decimal] = {
    Tier.A: Decimal("500000"),
    Tier.B: Decimal("100000"),
    Tier.C: Decimal("20000"),
}


@dataclass(frozen=True)
class HealthPolicy:
    """The organization settings `scoring.health` (every key optional):
    `weights` per factor (any non-negative numbers, shared out to 100 points), `follow_up_days` and
    `won_expected` per tier, `breaches_to_zero` (open breaches that take all of that factor's
    points), `temperature_full` (a temperature worth all of its points) and the bands' `green_min` /
    `yellow_min`. The temperature cools with the half-life of `scoring.temperature`, the same the
    temperature shown on the customer uses."""

    weights: Mapping[HealthFactor, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    follow_up_days: Mapping[Tier, float] = field(default_factory=lambda: dict(DEFAULT_FOLLOW_UP_DAYS))
    won_expected: Mapping[Tier, Decimal] = field(default_factory=lambda: dict(DEFAULT_WON_EXPECTED))
    breaches_to_zero: int = 3
    temperature_full: float = 10.0
    temperature_half_life: timedelta = timedelta(days=14)
    green_min: int = 70
    yellow_min: int = 50

    def points(self, factor: HealthFactor) -> float:
        """The most points `factor` can contribute: its weight's share of 100."""
        return self.points_by_factor[factor]

    @cached_property
    def points_by_factor(self) -> Mapping[HealthFactor, float]:
        total = sum(self.weights.values())
        return {factor: 100.0 * weight / total for factor, weight in self.weights.items()}

    def band(self, score: int) -> HealthBand:
        if score >= self.green_min:
            return HealthBand.green
        if score >= self.yellow_min:
            return HealthBand.yellow
        return HealthBand.red


@dataclass(frozen=True, slots=True)
class HealthFacts:
    """What a customer's health is computed from, as of one instant."""

    tier: Tier
    last_effective_follow_up_at: datetime | None = None
    activities_last_30_days: int = 0
    activities_previous_60_days: int = 0
    won_amount_12_months: Decimal = Decimal(0)
    open_breaches: int = 0
    satisfaction: float | None = None  # the mean survey score (1-5) of the last 12 months
    temperature: Temperature | None = None


@dataclass(frozen=True, slots=True)
class FactorScore:
    factor: HealthFactor
    value: float  # 0-1
    weight: float
    contribution: int  # whole points; a score's contributions add up to it


@dataclass(frozen=True, slots=True)
class HealthScore:
    score: int
    band: HealthBand
    factors: tuple[FactorScore, ...]


def days_since(instant: datetime, now: datetime) -> float:
    return (now - instant).total_seconds() / SECONDS_PER_DAY


def recency_value(facts: HealthFacts, policy: HealthPolicy, now: datetime) -> float:
    """Full marks within the tier's interval, falling linearly to none at three intervals."""
    if facts.last_effective_follow_up_at is None:
        return 0.0
    expected = policy.follow_up_days[facts.tier]
    late = days_since(facts.last_effective_follow_up_at, now) - expected
    return min(1.0, max(0.0, 1.0 - late / (2.0 * expected)))


def trend_value(facts: HealthFacts) -> float:
    """Keeping pace with the previous 60 days (per 30) or growing is full marks; a decline is the
    share kept; no activity in either window is none."""
    recent, previous = facts.activities_last_30_days, facts.activities_previous_60_days
    if previous == 0:
        return 1.0 if recent > 0 else 0.0
    return min(1.0, 2.0 * recent / previous)


def won_amount_value(facts: HealthFacts, policy: HealthPolicy) -> float:
    return min(1.0, float(facts.won_amount_12_months) / float(policy.won_expected[facts.tier]))


def breaches_value(facts: HealthFacts, policy: HealthPolicy) -> float:
    return max(0.0, 1.0 - facts.open_breaches / policy.breaches_to_zero)


def satisfaction_value(facts: HealthFacts) -> float:
    if facts.satisfaction is None:
        return UNSURVEYED_SATISFACTION
    return (facts.satisfaction - 1.0) / 4.0


def temperature_now(facts: HealthFacts, policy: HealthPolicy, now: datetime) -> float:
    if facts.temperature is None:
        return 0.0
    return facts.temperature.as_of(now, policy.temperature_half_life)


def temperature_value(facts: HealthFacts, policy: HealthPolicy, now: datetime) -> float:
    return min(1.0, temperature_now(facts, policy, now) / policy.temperature_full)


def factor_values(facts: HealthFacts, policy: HealthPolicy, now: datetime) -> dict[HealthFactor, float]:
    return {
        HealthFactor.recency: recency_value(facts, policy, now),
        HealthFactor.trend: trend_value(facts),
        HealthFactor.won_amount: won_amount_value(facts, policy),
        HealthFactor.sla_breaches: breaches_value(facts, policy),
        HealthFactor.satisfaction: satisfaction_value(facts),
        HealthFactor.temperature: temperature_value(facts, policy, now),
    }


def contribution(points: float, value: float) -> int:
    """Whole points, rounded half up (as SQL's floor(x + 0.5)), so a reader adds them up exactly."""
    return math.floor(points * value + 0.5)


def score_health(facts: HealthFacts, policy: HealthPolicy, now: datetime) -> HealthScore:
    factors = tuple(
        FactorScore(factor, value, policy.weights[factor], contribution(policy.points(factor), value))
        for factor, value in factor_values(facts, policy, now).items()
    )
    score = sum(factor.contribution for factor in factors)
    return HealthScore(score, policy.band(score), factors)


def scores_and_bands(
    many: Iterable[HealthFacts], policy: HealthPolicy, now: datetime
) -> list[tuple[int, HealthBand]]:
    """score_health's score and band for each of many customers (the nightly run's 100,000), without
    the explanation: the same factor values and contributions, none of the objects a reader gets."""
    points = policy.points_by_factor
    result = []
    for facts in many:
        score = sum(contribution(points[f], value) for f, value in factor_values(facts, policy, now).items())
        result.append((score, policy.band(score)))
    return result


def factor_reason(factor: HealthFactor, facts: HealthFacts, policy: HealthPolicy, now: datetime) -> str:
    """One sentence a sales director reads next to the factor's points."""
    tier = facts.tier.value
    match factor:
        case HealthFactor.recency:
            expected = f"tier {tier} expects one every {policy.follow_up_days[facts.tier]:g} days"
            if facts.last_effective_follow_up_at is None:
                return f"No effective follow-up yet; {expected}."
            days = days_since(facts.last_effective_follow_up_at, now)
            return f"Last effective follow-up {days:.1f} days ago; {expected}."
        case HealthFactor.trend:
            return (
                f"{facts.activities_last_30_days} activities in the last 30 days against "
                f"{facts.activities_previous_60_days / 2:g} per 30 days in the 60 days before."
            )
        case HealthFactor.won_amount:
            return (
                f"Won {facts.won_amount_12_months:f} in the last 12 months; tier {tier} expects "
                f"{policy.won_expected[facts.tier]:f}."
            )
        case HealthFactor.sla_breaches:
            return (
                f"{facts.open_breaches} open SLA breaches on the customer's records; "
                f"{policy.breaches_to_zero} take every point."
            )
        case HealthFactor.satisfaction:
            if facts.satisfaction is None:
                return "No satisfaction survey in the last 12 months; counted as neutral."
            return f"Mean satisfaction {facts.satisfaction:.2f} of 5 over the last 12 months."
    return (
        f"Temperature {temperature_now(facts, policy, now):.2f} now (half-life "
        f"{policy.temperature_half_life / timedelta(days=1):g} days); {policy.temperature_full:g} "
        "takes every point."
    )
