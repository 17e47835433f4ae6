"""Lead intent score (0-100): how ready a lead is to buy, from weighted signals, with its breakdown.

Each signal scores a fraction (0 to 1) of its weight; the weights are shares of 100, so a lead
scoring in full on every signal scores 100. The breakdown's whole points sum to the score
(docs/scoring.md#lead-intent-score).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Signal(StrEnum):
    contact_frequency = "contact_frequency"
    temperature = "temperature"
    meeting_attendance = "meeting_attendance"
    budget_known = "budget_known"
    timeframe_known = "timeframe_known"
    source_quality = "source_quality"


# Being worked and engaging weigh most; what the rep has learnt (budget, timeframe) and where the
# lead came from tell less on their own.
DEFAULT_WEIGHTS: Mapping[Signal, float] = {
    Signal.contact_frequency: 25.0,
    Signal.temperature: 25.0,
    Signal.meeting_attendance: 20.0,
    Signal.budget_known: 10.0,
    Signal.timeframe_known: 10.0,
    Signal.source_quality: 10.0,
}
# A source's quality as a fraction of its weight; every source is neutral until configured.
NEUTRAL_SOURCE_QUALITY = 0.5


@dataclass(frozen=True)
class IntentPolicy:
    """Settings `scoring.lead_intent`."""

    weights: Mapping[Signal, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    # Contact frequency counts the lead's activities (notes aside) in this many days.
    contact_window_days: int = 30
    # This many activities in the window, this temperature, this many meetings score in full.
    contacts_for_full: int = 5
    hot_temperature: float = 30.0
    meetings_for_full: int = 2
    source_quality: Mapping[str, float] = field(default_factory=dict)

    def quality_of(self, source: str) -> float:
        return self.source_quality.get(source, NEUTRAL_SOURCE_QUALITY)


@dataclass(frozen=True)
class IntentInputs:
    activities_in_window: int
    temperature: float
    meetings_attended: int
    budget_known: bool
    timeframe_known: bool
    source: str

    @classmethod
    def of_new_lead(cls, source: str, *, budget_known: bool) -> IntentInputs:
        """A lead just captured: nothing done with it yet."""
        return cls(0, 0.0, 0, budget_known, False, source)


@dataclass(frozen=True)
class SignalScore:
    signal: Signal
    value: bool | int | float
    weight: float
    points: int
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "signal": self.signal.value,
            "value": self.value,
            "weight": self.weight,
            "points": self.points,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class IntentScore:
    score: int
    breakdown: tuple[SignalScore, ...]


@dataclass(frozen=True)
class _Reading:
    """One signal before points are shared out: its value, the fraction of its weight it earns,
    and why."""

    value: bool | int | float
    fraction: float
    reason: str


def _counted(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _readings(inputs: IntentInputs, policy: IntentPolicy) -> dict[Signal, _Reading]:
    window, contacts = policy.contact_window_days, inputs.activities_in_window
    quality = policy.quality_of(inputs.source)
    budget, timeframe = inputs.budget_known, inputs.timeframe_known
    return {
        Signal.contact_frequency: _Reading(
            contacts,
            min(contacts / policy.contacts_for_full, 1.0),
            f"{_counted(contacts, 'activity', 'activities')} in the last "
            f"{window} days; {policy.contacts_for_full} or more score in full.",
        ),
        Signal.temperature: _Reading(
            round(inputs.temperature, 1),
            min(inputs.temperature / policy.hot_temperature, 1.0),
            f"Engagement temperature {inputs.temperature:.1f}; {policy.hot_temperature:g} or more "
            "scores in full.",
        ),
        Signal.meeting_attendance: _Reading(
            inputs.meetings_attended,
            min(inputs.meetings_attended / policy.meetings_for_full, 1.0),
            f"{_counted(inputs.meetings_attended, 'meeting', 'meetings')} attended; "
            f"{policy.meetings_for_full} or more score in full.",
        ),
        Signal.budget_known: _Reading(
            budget, float(budget), "The budget is known." if budget else "The budget is not known yet."
        ),
        Signal.timeframe_known: _Reading(
            timeframe,
            float(timeframe),
            "The purchase timeframe is known." if timeframe else "The purchase timeframe is not known yet.",
        ),
        Signal.source_quality: _Reading(
            quality,
            quality,
            f"Source '{inputs.source}' earns {quality:g} of this weight"
            + (" (neutral: not rated)." if inputs.source not in policy.source_quality else "."),
        ),
    }


def _whole_points(raw: dict[Signal, float]) -> dict[Signal, int]:
    """Whole points per signal summing to the rounded total (largest remainders get the spare
    points), so the breakdown adds up to the score exactly."""
    total = math.floor(sum(raw.values()) + 0.5)
    points = {signal: math.floor(value) for signal, value in raw.items()}
    spare = total - sum(points.values())
    by_remainder = sorted(raw, key=lambda signal: (raw[signal] - points[signal], raw[signal]), reverse=True)
    for signal in by_remainder[:spare]:
        points[signal] += 1
    return points


def score_lead(inputs: IntentInputs, policy: IntentPolicy) -> IntentScore:
    total_weight = sum(policy.weights.values())
    shares = {
        signal: (100 * policy.weights.get(signal, 0.0) / total_weight if total_weight else 0.0)
        for signal in Signal
    }
    readings = _readings(inputs, policy)
    points = _whole_points({signal: shares[signal] * readings[signal].fraction for signal in Signal})
    breakdown = tuple(
        SignalScore(
            signal, readings[signal].value, round(shares[signal], 1), points[signal], readings[signal].reason
        )
        for signal in Signal
    )
    return IntentScore(sum(points.values()), breakdown)
