"""SLA rules and schedules as pure functions: what is due when, in which order, and which jobs
look at timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.platform.errors import InvalidInput
from app.domain.sla.sla import (
    EscalationAction,
    Schedule,
    SlaKind,
    TimerState,
    due_transitions,
    next_fire_at,
    parse_rules,
    step_of,
)
from app.services.sla.sla import fire_job

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
PLAN = Schedule(
    warn_at=T0 + timedelta(minutes=24),
    due_at=T0 + timedelta(minutes=30),
    escalate_at=(T0 + timedelta(minutes=90), T0 + timedelta(minutes=330)),
)


def _states(state: TimerState, level: int, now: datetime) -> list[tuple[str, int]]:
    return [(t.state.value, t.level) for t in due_transitions(state, level, PLAN, now)]


@pytest.mark.parametrize(
    ("state", "level", "minutes", "expected"),
    [
        (TimerState.running, 0, 23, []),
        (TimerState.running, 0, 24, [("warned", 0)]),
        (TimerState.running, 0, 30, [("warned", 0), ("breached", 0)]),
        # A sweep that comes late catches up in order, each once.
        (TimerState.running, 0, 400, [("warned", 0), ("breached", 0), ("escalated", 1), ("escalated", 2)]),
        (TimerState.warned, 0, 90, [("breached", 0), ("escalated", 1)]),
        (TimerState.escalated, 1, 329, []),
        (TimerState.escalated, 1, 330, [("escalated", 2)]),
        (TimerState.escalated, 2, 10_000, []),
        (TimerState.met, 0, 10_000, []),
        (TimerState.cancelled, 0, 10_000, []),
    ],
)
def test_due_transitions(state, level, minutes, expected):
    assert _states(state, level, T0 + timedelta(minutes=minutes)) == expected


def test_next_fire_at_follows_the_schedule_and_ends():
    assert next_fire_at(TimerState.running, 0, PLAN) == PLAN.warn_at
    assert next_fire_at(TimerState.warned, 0, PLAN) == PLAN.due_at
    assert next_fire_at(TimerState.breached, 0, PLAN) == PLAN.escalate_at[0]
    assert next_fire_at(TimerState.escalated, 1, PLAN) == PLAN.escalate_at[1]
    assert next_fire_at(TimerState.escalated, 2, PLAN) is None
    assert next_fire_at(TimerState.met, 0, PLAN) is None


def test_an_escalation_step_carries_its_action():
    rules = parse_rules(
        {
            "steps": [
                {"after_minutes": 0, "notify": ["owner"]},
                {"after_minutes": 60, "notify": ["supervisor"], "action": "release_to_pool"},
            ]
        },
        SlaKind.first_response,
    )
    (_, _, first, second) = due_transitions(TimerState.running, 0, PLAN, T0 + timedelta(minutes=400))
    assert step_of(rules, first).action is None
    assert step_of(rules, second).action is EscalationAction.release_to_pool
    assert rules.as_dict()["steps"][1] == {
        "after_minutes": 60,
        "notify": ["supervisor"],
        "action": "release_to_pool",
    }


@pytest.mark.parametrize("kind", [SlaKind.follow_up, SlaKind.stage_dwell])
def test_only_policies_that_time_leads_may_move_them(kind):
    with pytest.raises(InvalidInput) as refused:
        parse_rules(
            {"steps": [{"after_minutes": 0, "notify": ["owner"], "action": "reassign_to_supervisor"}]}, kind
        )
    assert [e.field for e in refused.value.errors] == ["rules.steps[0].action"]


def test_timers_due_within_one_second_share_one_job_at_the_end_of_that_second():
    first = fire_job(datetime(2026, 11, 30, 1, 20, 0, 1000, tzinfo=UTC))
    second = fire_job(datetime(2026, 11, 30, 1, 20, 0, 999_000, tzinfo=UTC))
    on_the_second = fire_job(datetime(2026, 11, 30, 1, 20, 0, tzinfo=UTC))
    assert first == second
    assert first.defer_until == datetime(2026, 11, 30, 1, 20, 1, tzinfo=UTC)
    assert on_the_second.defer_until == datetime(2026, 11, 30, 1, 20, 0, tzinfo=UTC)
    assert on_the_second.job_id != first.job_id
