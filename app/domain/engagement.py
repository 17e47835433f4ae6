"""Engagement temperature: how warm a lead or customer is now, from what they did and when.

Each engagement adds its type's weight, and the sum cools by half every half-life. Stored as a value
and the instant it was valid at, so an event updates one row (no rescan of history) and any later
instant's value follows by decay alone: T(t) = T(at) * 2 ** -((t - at) / half_life).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Temperature:
    value: float
    at: datetime

    def as_of(self, moment: datetime, half_life: timedelta) -> float:
        """The value at `moment`; an instant before `at` reads the value at `at` (no warming backwards)."""
        return self.value * decay_factor(max(moment - self.at, timedelta(0)), half_life)

    def with_event(self, weight: float, occurred_at: datetime, half_life: timedelta) -> Temperature:
        """This temperature with one more event. A late event (older than `at`) is added already
        cooled to `at`; a newer one moves `at` forward. Either way the order events arrive in does
        not change the result."""
        if occurred_at <= self.at:
            return Temperature(self.value + weight * decay_factor(self.at - occurred_at, half_life), self.at)
        return Temperature(self.as_of(occurred_at, half_life) + weight, occurred_at)


def decay_factor(elapsed: timedelta, half_life: timedelta) -> float:
    return float(0.5 ** (elapsed / half_life))


def stored_temperature(value: float | None, at: datetime | None) -> Temperature | None:
    """The temperature a row holds, or None for one that never had an engagement."""
    return None if value is None or at is None else Temperature(value, at)
