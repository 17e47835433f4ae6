"""The Maven CRM sample through the opportunity import, one team per regional office: the KPI
endpoints' per-office and per-agent figures equal a plain computation over the CSV files.

The expected side reads only the CSV (no product code): won and lost deals by close date, win
rate won / (won + lost), won amount the sum of close_value, and the sales cycle the days from
engage_date to close_date of won deals (docs/kpis.md, rep-performance and sales-cycle).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from statistics import mean

import pytest
from sqlalchemy import select

from app.domain.models import User
from tests.api.helpers import ok
from tests.api.imports.test_opportunity_import import MAPPING, MAVEN, _job, _maven_organization, _rows

pytestmark = pytest.mark.skipif(
    not MAVEN.exists(), reason="the shared Maven CRM data set is not on this machine"
)

# The sample's dates carry no zone; they are read as UTC days, and the KPIs asked in UTC.
PERIOD = {"from": "2016-01-01", "to": "2017-12-31", "tz": "UTC"}


def _expected(key_of: dict[str, str]) -> dict[str, dict[str, object]]:
    """Per group (office or agent) from the CSV alone."""
    won: dict[str, list[dict[str, str]]] = defaultdict(list)
    lost: dict[str, int] = defaultdict(int)
    for deal in _rows("sales_pipeline.csv"):
        key = key_of[deal["sales_agent"]]
        if deal["deal_stage"] == "Won":
            won[key].append(deal)
        elif deal["deal_stage"] == "Lost":
            lost[key] += 1

    def day(text: str) -> datetime:
        return datetime.strptime(text, "%m/%d/%Y")

    expected = {}
    for key in set(won) | set(lost):
        won_count, lost_count = len(won[key]), lost[key]
        won_amount = sum(int(deal["close_value"]) for deal in won[key])
        expected[key] = {
            "won_count": won_count,
            "lost_count": lost_count,
            "win_rate": round(won_count / (won_count + lost_count), 4),
            "won_amount": f"{won_amount:.2f}",
            "avg_days": round(mean((day(d["close_date"]) - day(d["engage_date"])).days for d in won[key]), 2)
            if won[key]
            else None,
        }
    return expected


async def _measured(client, tenant, group_by: str) -> dict[str, dict[str, object]]:
    params = {**PERIOD, "group_by": group_by}
    performance = ok(await client.get("/api/v1/kpis/rep-performance", params=params, headers=tenant.headers))
    cycle = ok(await client.get("/api/v1/kpis/sales-cycle", params=params, headers=tenant.headers))
    days = {row[group_by]["name"]: row["avg_days"] for row in cycle["rows"]}
    return {
        row[group_by]["name"]: {
            "won_count": row["won_count"],
            "lost_count": row["lost_count"],
            "win_rate": row["win_rate"],
            "won_amount": row["won_amount"],
            "avg_days": days.get(row[group_by]["name"]),
        }
        for row in performance["rows"]
    }


async def test_maven_figures_per_office_and_agent_match_the_csv(client, app, make_tenant):
    tenant = await _maven_organization(client, app, make_tenant)
    agents = _rows("sales_teams.csv")
    async with app.state.runtime.sessionmaker() as session:
        user_ids = dict(
            (
                await session.execute(
                    select(User.display_name, User.id).where(User.organization_id == tenant.organization_id)
                )
            ).all()
        )
    offices: dict[str, list[str]] = defaultdict(list)
    for agent in agents:
        offices[agent["regional_office"]].append(str(user_ids[agent["sales_agent"]]))
    for office, members in offices.items():
        ok(
            await client.post(
                "/api/v1/teams", json={"name": office, "member_ids": members}, headers=tenant.headers
            ),
            201,
        )
    job = await _job(
        client,
        app,
        tenant,
        "/api/v1/opportunities/import",
        "sales_pipeline.csv",
        (MAVEN / "sales_pipeline.csv").read_bytes(),
        {"mapping": json.dumps({**MAPPING, "timezone": "UTC"})},
    )
    assert (job["status"], job["created_count"], job["error_count"]) == ("completed", 8800, 0)

    by_office = _expected({a["sales_agent"]: a["regional_office"] for a in agents})
    by_agent = _expected({a["sales_agent"]: a["sales_agent"] for a in agents})
    assert len(by_office) == 3
    assert len(by_agent) == 30  # five of the 35 agents have no closed deal
    assert await _measured(client, tenant, "team") == by_office
    assert await _measured(client, tenant, "user") == by_agent
