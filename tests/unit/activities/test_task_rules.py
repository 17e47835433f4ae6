"""When a task turns overdue: the organization setting `tasks.overdue_after_minutes`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.activities.tasks import TaskRules
from app.domain.organization.organization_settings import patched_settings
from app.domain.organization.policy import policy_from_settings
from app.domain.platform.errors import InvalidInput

DUE = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def test_by_default_a_task_is_overdue_an_hour_after_its_due_time_and_only_while_open():
    rules = policy_from_settings({}).tasks
    assert rules == TaskRules(overdue_after=timedelta(minutes=60))
    assert not rules.is_overdue(is_open=True, due_at=DUE, now=DUE + timedelta(minutes=59))
    assert rules.is_overdue(is_open=True, due_at=DUE, now=DUE + timedelta(minutes=60))
    assert not rules.is_overdue(is_open=False, due_at=DUE, now=DUE + timedelta(days=3))


def test_a_grace_of_zero_makes_a_task_overdue_at_its_due_time():
    rules = policy_from_settings({"tasks": {"overdue_after_minutes": 0}}).tasks
    assert rules.is_overdue(is_open=True, due_at=DUE, now=DUE)


@pytest.mark.parametrize(
    ("tasks", "field"),
    [
        ({"overdue_after_minutes": -1}, "tasks.overdue_after_minutes"),
        ({"overdue_after_minutes": True}, "tasks.overdue_after_minutes"),
        ({"overdue_after_minutes": "60"}, "tasks.overdue_after_minutes"),
        ({"overdue_after_minutes": 7 * 24 * 60 + 1}, "tasks.overdue_after_minutes"),
        ({"remind_before": 5}, "tasks.remind_before"),
        ([], "tasks"),
    ],
)
def test_unreadable_settings_are_refused_naming_the_field(tasks, field):
    with pytest.raises(InvalidInput) as refused:
        patched_settings({}, {"tasks": tasks})
    assert refused.value.code == "organization.settings_invalid"
    assert f"settings.{field}" in [e.field for e in refused.value.errors]
