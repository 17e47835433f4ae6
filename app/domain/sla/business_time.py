"""Working hours as an organization's settings give them: one interval on chosen weekdays, in its
time zone. They become its default business calendar (app.domain.sla.calendars), which counts every
business-time deadline: SLA timers, lead-pool recycling and stage task due dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class WorkingHours:
    timezone: str = "Asia/Shanghai"
    start: time = time(9, 0)
    end: time = time(18, 0)
    # ISO weekdays, Monday = 1.
    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError("working hours must start before they end")
        if not self.weekdays or not self.weekdays <= {1, 2, 3, 4, 5, 6, 7}:
            raise ValueError("weekdays are 1 (Monday) to 7 (Sunday), at least one")
        ZoneInfo(self.timezone)
