"""An organization's configurable business rules, read from its settings with safe defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.domain.activities import FollowUpRule
from app.domain.custom_fields import FieldDefinition, definitions_from_settings
from app.domain.customer_tier import TierThresholds


@dataclass(frozen=True)
class OrganizationPolicy:
    tier_thresholds: TierThresholds = field(default_factory=TierThresholds)
    follow_up_rule: FollowUpRule = field(default_factory=FollowUpRule)
    # rapidfuzz score (0-100) from which two company names are reported as possible duplicates.
    company_match_threshold: float = 90.0
    # A visit check-in farther than this from the customer's coordinates is flagged.
    geo_mismatch_m: float = 1000.0
    customer_fields: tuple[FieldDefinition, ...] = ()
    lead_fields: tuple[FieldDefinition, ...] = ()


def policy_from_settings(settings: dict[str, Any]) -> OrganizationPolicy:
    tiers = settings.get("tier_thresholds", {})
    follow_up = settings.get("follow_up", {})
    default = OrganizationPolicy()
    return OrganizationPolicy(
        tier_thresholds=TierThresholds(
            a_min=Decimal(str(tiers.get("a_min", default.tier_thresholds.a_min))),
            b_min=Decimal(str(tiers.get("b_min", default.tier_thresholds.b_min))),
        ),
        follow_up_rule=FollowUpRule(
            min_info_points=int(follow_up.get("min_info_points", default.follow_up_rule.min_info_points)),
            connected_call_counts=bool(
                follow_up.get("connected_call_counts", default.follow_up_rule.connected_call_counts)
            ),
        ),
        company_match_threshold=float(
            settings.get("company_match_threshold", default.company_match_threshold)
        ),
        geo_mismatch_m=float(settings.get("geo_mismatch_m", default.geo_mismatch_m)),
        customer_fields=tuple(definitions_from_settings(settings, "customer")),
        lead_fields=tuple(definitions_from_settings(settings, "lead")),
    )
