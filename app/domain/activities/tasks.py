"""When an open task runs overdue (the red flag), from the organization setting `tasks`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

MAX_OVERDUE_AFTER_MINUTES = 7 * 24 * 60


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


class TaskStatus(StrEnum):
    open = "open"
    done = "done"
    cancelled = "cancelled"
