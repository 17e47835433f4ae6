"""What a lead must show before a rep may call it qualified, and how sales rates marketing's leads.

An organization names the lead fields and the information points (learnt in activities) that make a
lead qualified; by default its budget and its purchase timeframe must be known. Sales' feedback on
a lead (quality 1-5 and reason codes) is what the source-quality KPI reads.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.domain.activities.activities import InfoPoint
from app.domain.platform.errors import FieldError

# The lead's own fields a criterion may name; custom fields are named "custom_fields.<key>".
QUALIFYING_FIELDS = frozenset({"company", "email", "phone", "region", "product_line", "industry", "budget"})


@dataclass(frozen=True)
class QualificationCriteria:
    fields: tuple[str, ...] = ("budget",)
    info_points: tuple[InfoPoint, ...] = (InfoPoint.timeline,)

    def names(self) -> list[str]:
        return [*self.fields, *(f"info_points.{point.value}" for point in self.info_points)]

    def missing(self, values: Mapping[str, Any], known_info_points: Collection[str]) -> list[FieldError]:
        """The criteria the lead does not meet, one error each; empty when it qualifies."""
        errors = [
            FieldError(name, "unknown", f"{name} must be known to qualify the lead")
            for name in self.fields
            if values.get(name) in (None, "", [], {})
        ]
        errors += [
            FieldError(
                f"info_points.{point.value}", "unknown", f"no activity on the lead has recorded {point.value}"
            )
            for point in self.info_points
            if point.value not in known_info_points
        ]
        return errors


class FeedbackReason(StrEnum):
    good_fit = "good_fit"
    urgent_need = "urgent_need"
    decision_maker_reached = "decision_maker_reached"
    no_need = "no_need"
    no_budget = "no_budget"
    wrong_contact = "wrong_contact"
    not_decision_maker = "not_decision_maker"
    competitor = "competitor"
    duplicate = "duplicate"
    spam = "spam"
