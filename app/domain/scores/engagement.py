"""Engagement temperature: how warm a lead or customer is now, from what they did and when.

Each engagement adds its type's weight, and the sum cools by half every half-life. Stored as a value
and the instant it was valid at, so an event updates one row (no rescan of history) and any later
instant's value follows by decay alone: T(t) = T(at) * 2 ** -((t - at) / half_life).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


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


class EngagementType(StrEnum):
    email_open = "email_open"
    link_click = "link_click"
    doc_view = "doc_view"
    video_view = "video_view"
    trial_login = "trial_login"
    meeting_attended = "meeting_attended"
    wechat_reply = "wechat_reply"
    form_submit = "form_submit"


# What one engagement of each type adds (docs/scoring.md#engagement-temperature): passive signals
# (an opened e-mail) count least, the customer spending time with us (a trial, a meeting) most.
DEFAULT_WEIGHTS: Mapping[EngagementType, float] = {
    EngagementType.email_open: 1.0,
    EngagementType.link_click: 3.0,
    EngagementType.doc_view: 5.0,
    EngagementType.video_view: 5.0,
    EngagementType.wechat_reply: 6.0,
    EngagementType.trial_login: 8.0,
    EngagementType.form_submit: 10.0,
    EngagementType.meeting_attended: 15.0,
}
# An engagement events request carries at most this many.
MAX_BATCH = 1000
# How an event names whom it belongs to (exactly one), in the order they are looked for.
REFERENCES = ("lead_id", "contact_id", "customer_id", "customer_code", "phone", "email")
DEFAULT_HALF_LIFE_DAYS = 14.0
MAX_HALF_LIFE_DAYS = 3650.0
MAX_WEIGHT = 1000.0


@dataclass(frozen=True)
class TemperaturePolicy:
    """Settings `scoring.temperature`: `half_life_days` and `weights` per engagement type."""

    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    weights: Mapping[EngagementType, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    @property
    def half_life(self) -> timedelta:
        return timedelta(days=self.half_life_days)


@dataclass(frozen=True)
class TemperatureReading:
    """Stored temperatures read as of one instant, rounded as the API shows them."""

    now: datetime
    half_life: timedelta

    def of(self, value: float | None, at: datetime | None) -> float:
        stored = stored_temperature(value, at)
        return 0.0 if stored is None else round(stored.as_of(self.now, self.half_life), 1)
