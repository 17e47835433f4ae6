"""Activity kinds, the information points a rep records, and what counts as an effective follow-up."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from app.domain.errors import FieldError, InvalidInput

MAX_FUTURE = timedelta(minutes=5)


class ActivityType(StrEnum):
    call = "call"
    visit = "visit"
    meeting = "meeting"
    email = "email"
    message = "message"
    demo = "demo"
    quote_sent = "quote_sent"
    note = "note"


class InfoPoint(StrEnum):
    needs = "needs"
    competitors = "competitors"
    budget = "budget"
    timeline = "timeline"
    decision_maker = "decision_maker"


class CallOutcome(StrEnum):
    connected = "connected"
    no_answer = "no_answer"
    busy = "busy"
    rejected = "rejected"
    wrong_number = "wrong_number"


@dataclass(frozen=True)
class FollowUpRule:
    """An effective follow-up learns at least `min_info_points` things, or is a connected call."""

    min_info_points: int = 3
    connected_call_counts: bool = True


def is_effective_follow_up(
    activity_type: ActivityType,
    info_points: Collection[str],
    call_outcome: CallOutcome | None,
    rule: FollowUpRule,
) -> bool:
    # A note is written at the desk without talking to the customer, so it never counts.
    if activity_type is ActivityType.note:
        return False
    if (
        rule.connected_call_counts
        and activity_type is ActivityType.call
        and call_outcome is CallOutcome.connected
    ):
        return True
    known = {point for point in info_points if point in InfoPoint.__members__}
    return len(known) >= rule.min_info_points


def check_occurred_at(occurred_at: datetime, now: datetime, max_future: timedelta = MAX_FUTURE) -> None:
    """Offline entries may be backdated; more than a few minutes ahead is a wrong device clock."""
    if occurred_at > now + max_future:
        raise InvalidInput(
            "occurred_at is in the future.",
            code="activity.occurred_in_future",
            errors=[
                FieldError(
                    "occurred_at", "future", f"at most {int(max_future.total_seconds() // 60)} minutes ahead"
                )
            ],
        )
