"""The campaign rules without a database: which cost days a KPI period counts, and the ROI
arithmetic (docs/kpis.md#campaign-roi)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.domain.marketing.campaigns import cost_days, money_ratio, roi

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        # Bare dates 11-01 .. 11-30: the whole days, both ends included.
        (datetime(2026, 11, 1, tzinfo=SHANGHAI), datetime(2026, 12, 1, tzinfo=SHANGHAI), ("11-01", "12-01")),
        # A period ending now (10:00 on the 23rd) counts the 23rd.
        (
            datetime(2026, 11, 1, tzinfo=SHANGHAI),
            datetime(2026, 11, 23, 10, tzinfo=SHANGHAI),
            ("11-01", "11-24"),
        ),
        # Starting mid-day: that day's start is before the period, so the day is not counted.
        (
            datetime(2026, 11, 1, 9, tzinfo=SHANGHAI),
            datetime(2026, 11, 3, tzinfo=SHANGHAI),
            ("11-02", "11-03"),
        ),
        # Instants in UTC are read in the zone: 2026-10-31T16:00Z is 11-01 00:00 in Shanghai.
        (datetime(2026, 10, 31, 16, tzinfo=UTC), datetime(2026, 11, 1, 16, tzinfo=UTC), ("11-01", "11-02")),
        # Less than a day without a local midnight inside: no day at all.
        (
            datetime(2026, 11, 1, 9, tzinfo=SHANGHAI),
            datetime(2026, 11, 1, 18, tzinfo=SHANGHAI),
            ("11-02", "11-02"),
        ),
    ],
)
def test_a_period_counts_the_days_whose_local_start_it_contains(start, end, days) -> None:
    """`days`: the first day counted and the first not counted, as MM-DD of 2026."""
    assert cost_days(start, end, SHANGHAI) == tuple(date.fromisoformat(f"2026-{day}") for day in days)


def test_roi_and_money_ratios_are_exact_and_null_over_zero() -> None:
    assert roi(Decimal("8000.00"), Decimal("1200.00")) == 5.6667
    assert roi(Decimal("0.00"), Decimal("800.00")) == -1.0
    assert roi(Decimal("500.00"), Decimal("0.00")) is None
    assert money_ratio(Decimal("1200.00"), 10) == "120.00"
    assert money_ratio(Decimal("1000.00"), 3) == "333.33"
    assert money_ratio(Decimal("1200.00"), 0) is None
