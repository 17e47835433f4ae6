"""Customer tiers from annual purchase, and customer codes."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from app.domain.platform.errors import FieldError, InvalidInput


class Tier(StrEnum):
    A = "A"
    B = "B"
    C = "C"


@dataclass(frozen=True)
class TierThresholds:
    """A from `a_min` upwards, B from `b_min`, C below (the seeds: A above 500k CNY a year)."""

    a_min: Decimal = Decimal("500000")
    b_min: Decimal = Decimal("100000")

    def __post_init__(self) -> None:
        if not (self.a_min > self.b_min >= 0):
            raise InvalidInput(
                "Tier thresholds need a_min > b_min >= 0.",
                code="organization.tier_thresholds_invalid",
                errors=[FieldError("settings.tier_thresholds", "order", "a_min > b_min >= 0")],
            )


def tier_for_annual_purchase(amount: Decimal, thresholds: TierThresholds) -> Tier:
    # Inclusive lower bounds: a customer buying exactly the A threshold has reached A.
    if amount >= thresholds.a_min:
        return Tier.A
    if amount >= thresholds.b_min:
        return Tier.B
    return Tier.C


def format_customer_code(sequence: int) -> str:
    """C000123: six digits, growing past 999999 rather than wrapping or truncating."""
    return f"C{sequence:06d}"
