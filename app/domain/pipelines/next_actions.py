"""Next-best actions mined from the organization's closed deals, and the golden hour of a customer's
calls: pure rules over rows the service gathers (docs/playbook.md, "Next actions")."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from app.domain.reports.kpis import ratio

MAX_SUGGESTIONS = 3
# Golden hour: the calls of the past 180 days count; a slot needs 2 calls and one connected to be named.
CALL_LOOKBACK_DAYS = 180
MIN_SLOT_CALLS = 2
MAX_SLOTS = 3


@dataclass(frozen=True)
class NextActionRules:
    """Organization setting `next_actions`. Deals closed `lookback_days` before now are mined (older
    ones describe another market); below `min_support` won deals through the stage nothing is
    suggested, and an activity type needs that many won deals that did it in the stage; a customer's
    own calls speak once there are `min_customer_calls` of them, else the organization's."""

    min_support: int = 3
    lookback_days: int = 365
    min_customer_calls: int = 10


class MiningBasis(StrEnum):
    won_deals = "won_deals"
    insufficient_history = "insufficient_history"


class CallBasis(StrEnum):
    customer = "customer"
    organization = "organization"
    insufficient_history = "insufficient_history"


@dataclass(frozen=True)
class ClosedDeal:
    """A closed deal that passed through the stage, and whether it was won."""

    opportunity_id: uuid.UUID
    won: bool


@dataclass(frozen=True)
class StageActivity:
    """A closed deal's first activity of one type during one of its stays in the stage."""

    opportunity_id: uuid.UUID
    activity_type: str
    entered_at: datetime
    first_at: datetime


@dataclass(frozen=True)
class Suggestion:
    activity_type: str
    won_with: int  # the support: won deals that did it in the stage
    closed_with: int  # closed deals that did it in the stage
    win_rate: float
    lift: float
    median_hours: float
    due_by: datetime
    is_overdue: bool


@dataclass(frozen=True)
class StageHistory:
    closed: int
    won: int
    base_win_rate: float | None


@dataclass(frozen=True)
class NextActions:
    basis: MiningBasis
    history: StageHistory
    suggestions: tuple[Suggestion, ...]


@dataclass(frozen=True)
class TypeStats:
    won_with: int
    closed_with: int
    won_hours: tuple[float, ...]


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def type_stats(deals: Iterable[ClosedDeal], activities: Iterable[StageActivity]) -> dict[str, TypeStats]:
    """Per activity type: won and closed deals that did it in the stage, and the hours from stage
    entry to the first such activity in each won deal (the earliest over the deal's stays)."""
    won = {deal.opportunity_id: deal.won for deal in deals}
    first: dict[tuple[uuid.UUID, str], float] = {}
    for row in activities:
        if row.opportunity_id not in won:
            continue
        key = (row.opportunity_id, row.activity_type)
        hours = max(_hours(row.first_at - row.entered_at), 0.0)
        first[key] = min(hours, first.get(key, hours))
    stats: dict[str, TypeStats] = {}
    for activity_type in sorted({t for _, t in first}):
        did = {deal_id: hours for (deal_id, t), hours in first.items() if t == activity_type}
        won_hours = tuple(sorted(hours for deal_id, hours in did.items() if won[deal_id]))
        stats[activity_type] = TypeStats(len(won_hours), len(did), won_hours)
    return stats


def suggest_next_actions(
    deals: Iterable[ClosedDeal],
    activities: Iterable[StageActivity],
    *,
    done_types: Iterable[str],
    stage_entered_at: datetime,
    now: datetime,
    min_support: int = NextActionRules.min_support,
) -> NextActions:
    """Up to three activity types the deal has not done since it entered the stage, each done in the
    stage by at least `min_support` won deals and winning at least as often as the stage does, ranked
    by lift (its win rate minus the stage's), then support, then name."""
    closed = list(deals)
    won = sum(deal.won for deal in closed)
    history = StageHistory(closed=len(closed), won=won, base_win_rate=ratio(won, len(closed)))
    if won < min_support or history.base_win_rate is None:
        return NextActions(MiningBasis.insufficient_history, history, ())
    skip = set(done_types)
    found: list[Suggestion] = []
    for activity_type, stats in type_stats(closed, activities).items():
        win_rate = ratio(stats.won_with, stats.closed_with)
        if activity_type in skip or stats.won_with < min_support or win_rate is None:
            continue
        lift = round(win_rate - history.base_win_rate, 4)
        if lift < 0:
            continue
        median = round(statistics.median(stats.won_hours), 1)
        due_by = stage_entered_at + timedelta(hours=median)
        found.append(
            Suggestion(
                activity_type, stats.won_with, stats.closed_with, win_rate, lift, median, due_by, due_by < now
            )
        )
    found.sort(key=lambda s: (-s.lift, -s.won_with, s.activity_type))
    return NextActions(MiningBasis.won_deals, history, tuple(found[:MAX_SUGGESTIONS]))


@dataclass(frozen=True)
class Slot:
    """Calls in one local weekday (1 Monday .. 7 Sunday) and hour (0..23)."""

    weekday: int
    hour: int
    attempts: int
    connected: int

    @property
    def connect_rate(self) -> float | None:
        return ratio(self.connected, self.attempts)


@dataclass(frozen=True)
class ContactTimes:
    basis: CallBasis
    customer_calls: int
    attempts: int
    connected: int
    best_slots: tuple[Slot, ...]

    @property
    def connect_rate(self) -> float | None:
        return ratio(self.connected, self.attempts)


def best_slots(slots: Iterable[Slot]) -> tuple[Slot, ...]:
    """The slots with at least `MIN_SLOT_CALLS` calls and one connected, the highest connect rate
    first, then the most calls, then the earliest in the week."""
    eligible = [s for s in slots if s.attempts >= MIN_SLOT_CALLS and s.connected > 0]
    eligible.sort(key=lambda s: (-s.connected / s.attempts, -s.attempts, s.weekday, s.hour))
    return tuple(eligible[:MAX_SLOTS])


def contact_times(
    customer_slots: list[Slot],
    organization_slots: list[Slot],
    min_customer_calls: int = NextActionRules.min_customer_calls,
) -> ContactTimes:
    """The customer's own pattern once it has `min_customer_calls` calls, else the organization's,
    else (the organization has fewer too) nothing to advise."""
    customer_calls = sum(s.attempts for s in customer_slots)
    if customer_calls >= min_customer_calls:
        basis, slots = CallBasis.customer, customer_slots
    elif sum(s.attempts for s in organization_slots) >= min_customer_calls:
        basis, slots = CallBasis.organization, organization_slots
    else:
        basis, slots = CallBasis.insufficient_history, customer_slots
    return ContactTimes(
        basis=basis,
        customer_calls=customer_calls,
        attempts=sum(s.attempts for s in slots),
        connected=sum(s.connected for s in slots),
        best_slots=best_slots(slots) if basis is not CallBasis.insufficient_history else (),
    )
