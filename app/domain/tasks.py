"""When an open task runs overdue (the red flag), from the organization setting `tasks`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.domain.errors import FieldError, InvalidInput

MAX_OVERDUE_AFTER_MINUTES = 7 * 24 * 60
_KEYS = frozenset({"overdue_after_minutes"})


@dataclass(frozen=True)
class TaskRules:
    """A task is due at its due_at (task.due goes to the assignee) and overdue once it is still open
    `overdue_after` later (the red flag; task.overdue goes to the assignee, who asked for it and the
    assignee's supervisors). An hour by default: "due at 10:00" is not yet a failure at 10:05, and
    the two reminders do not arrive together."""

    overdue_after: timedelta = timedelta(minutes=60)

    def overdue_cutoff(self, now: datetime) -> datetime:
        """An open task due at or before this instant is overdue at `now`."""
        return now - self.overdue_after

    def is_overdue(self, *, is_open: bool, due_at: datetime, now: datetime) -> bool:
        return is_open and due_at <= self.overdue_cutoff(now)


def parse_task_rules(settings: Mapping[str, Any]) -> TaskRules:
    """Settings `tasks: {overdue_after_minutes}`: whole minutes from 0 (overdue as soon as due) to
    a week."""
    raw = settings.get("tasks", {})
    if not isinstance(raw, Mapping):
        raise _invalid([FieldError("tasks", "type", "an object such as {overdue_after_minutes: 60}")])
    errors = [FieldError(f"tasks.{key}", "unknown", "not a task setting") for key in sorted(set(raw) - _KEYS)]
    default = TaskRules()
    minutes = raw.get("overdue_after_minutes", default.overdue_after // timedelta(minutes=1))
    if (
        isinstance(minutes, bool)
        or not isinstance(minutes, int)
        or not 0 <= minutes <= MAX_OVERDUE_AFTER_MINUTES
    ):
        errors.append(
            FieldError(
                "tasks.overdue_after_minutes",
                "value.out_of_range",
                f"a whole number from 0 to {MAX_OVERDUE_AFTER_MINUTES}",
            )
        )
    if errors:
        raise _invalid(errors)
    return TaskRules(overdue_after=timedelta(minutes=minutes))


def _invalid(errors: list[FieldError]) -> InvalidInput:
    return InvalidInput(
        "The task settings cannot be used.", code="organization.settings_invalid", errors=errors
    )
