"""Activity kinds, the information points a rep records, and what counts as an effective follow-up."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from app.domain.platform.errors import FieldError, InvalidInput

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


@dataclass(frozen=True)
class EntryRule:
    """How far back a rep may date an activity, and from when its entry counts as late.

    A rep who met a prospect at an exhibition in the morning and enters the lead in the evening
    logs the meeting before the lead existed, so a margin before the record is allowed; a call
    dated years before the record is not. An entry made long after the work it records is kept,
    flagged late, and can only make the rep's figures look worse, never better.
    """

    max_before_record: timedelta = timedelta(hours=24)
    late_after: timedelta = timedelta(hours=48)

    def is_late(self, occurred_at: datetime, entered_at: datetime) -> bool:
        return entered_at - occurred_at > self.late_after

    def counted_response_at(self, occurred_at: datetime, entered_at: datetime) -> datetime:
        """When the activity answers a clock (first response, SLA timers): when it happened, or for
        a late entry when the company learnt of it, so back-dating cannot shorten a response."""
        return entered_at if self.is_late(occurred_at, entered_at) else occurred_at


def check_not_before_record(occurred_at: datetime, record_created_at: datetime, rule: EntryRule) -> None:
    """Back-dating ends at the record: a call dated years before the lead existed is refused."""
    if occurred_at < record_created_at - rule.max_before_record:
        hours = int(rule.max_before_record.total_seconds() // 3600)
        raise InvalidInput(
            "occurred_at is before the record it is logged on existed.",
            code="activity.occurred_before_record",
            errors=[
                FieldError(
                    "occurred_at",
                    "before_record",
                    f"at most {hours} hours before the record was created ({record_created_at.isoformat()})",
                )
            ],
        )


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
