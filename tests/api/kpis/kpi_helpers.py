"""What the KPI tests share: the fixtures' local time and the call of a KPI."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import httpx

from tests.api.helpers import bearer

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


def local(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A moment of 2026 on the fixtures' Shanghai clock."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


async def kpi(
    client: httpx.AsyncClient, who: str | dict[str, str], name: str, **params: object
) -> httpx.Response:
    """GET /kpis/{name} as `who` (a token, or headers such as an API key's)."""
    headers = who if isinstance(who, dict) else bearer(who)
    return await client.get(f"/api/v1/kpis/{name}", params=params, headers=headers)
