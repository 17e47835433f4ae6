"""Marketing campaigns without I/O: their channels, when one is running, and the ROI arithmetic
the campaign-roi KPI states (docs/kpis.md#campaign-roi)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo


class CampaignChannel(StrEnum):
    exhibition = "exhibition"
    online_ad = "online_ad"
    phone_400 = "phone_400"
    bought_list = "bought_list"
    referral = "referral"
    wecom = "wecom"
    other = "other"


def money_ratio(numerator: Decimal, denominator: int | Decimal) -> str | None:
    """An amount per unit (cost per lead) as a decimal string with two places; null over zero."""
    if not denominator:
        return None
    return str((Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.01")))


def roi(won_amount: Decimal, cost: Decimal) -> float | None:
    """(won amount - cost) / cost, four places; null when nothing was spent."""
    if not cost:
        return None
    return round(float((won_amount - cost) / cost), 4)


def cost_days(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[date, date]:
    """The days whose cost entries a KPI period [start, end) counts, as [first, after_last): the
    days whose local start falls in the period. A period of bare dates counts its days from the
    first to the last, both included; a period ending now counts today."""

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tz)

    first = start.astimezone(tz).date()
    if midnight(first) < start:
        first += timedelta(days=1)
    last = end.astimezone(tz).date()
    after_last = last if midnight(last) >= end else last + timedelta(days=1)
    return first, max(first, after_last)
