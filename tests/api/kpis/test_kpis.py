"""KPI endpoints on a small hand-computed history (docs/kpis.md): figures, grouping, local days,
visibility, API-key scope, CSV and caching.

The organization is in Asia/Shanghai (UTC+8). November 2026 there runs from 2026-10-31T16:00Z to
2026-11-30T16:00Z. The history:

| deal | owner | customer   | stays (local dates)                               | now          |
|------|-------|------------|---------------------------------------------------|--------------|
| D1   | A     | c1 华东/建材 | 10-02 first, 10-15 second, 11-02 won               | won 100000   |
| D2   | A     | c2 华南/医疗 | 11-03 first, 11-04 second, 11-05 lost              | lost         |
| D3   | B     | c1         | 10-20 first, 11-09 won                             | won 50000    |
| D4   | C     | c2         | 09-01 first, 11-30 23:30 won                       | won 30000    |
| D5   | B     | c1         | 11-10 first, 11-11 second, 11-12 won, reopened 11-13 | open       |
| D6   | C     | c2         | 10-01 first, 10-31 lost                            | lost (Oct)   |
| D7   | C     | c2         | 11-20 first, 12-01 02:00 won (11-30 18:00 UTC)     | won 20000    |
| D8   | A     | c1         | 11-21 first                                        | open 40000   |

D1's product line is 防水卷材, D3's 防水卷材 and 涂料; the others have none.

D5 is expected to close on 2026-12-15, D8 on 2027-01-10. The test clock stands at
2026-11-23T02:00Z (10:00 in Shanghai).

A and B are in team 华东一组 (supervisor S), C in team +西部 (a name a spreadsheet would run).
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from app.domain.identity.principal import Principal
from app.domain.models import Customer, Opportunity, OpportunityStatus, PipelineStage, StageStay
from app.domain.pipelines.pipelines import Move, StageKind
from app.domain.platform.errors import InvalidInput
from app.domain.reports.kpis import Dimension, Filter, KpiFilters, KpiName
from app.services.kpis.reports import CATALOG, KpiRequest, compute_kpi
from app.services.pipelines import opportunities, pipelines
from app.services.platform.unit_of_work import session_scope
from tests.api.helpers import bearer, ok
from tests.api.kpis.kpi_helpers import NOVEMBER, kpi, local
from tests.conftest import sign_in


@dataclass
class History:
    tenant: object
    users: dict[str, dict]
    tokens: dict[str, str]
    teams: dict[str, dict]
    deals: dict[str, uuid.UUID]
    stages: dict[str, PipelineStage]


async def _insert_deal(
    session,
    org_id,
    *,
    owner,
    customer,
    pipeline_id,
    stays,
    status,
    amount=None,
    expected_close_date=None,
    product_lines=(),
):
    """An opportunity and its stage stays as the stage-change service writes them."""
    last_stage, last_at = stays[-1]
    deal = Opportunity(
        organization_id=org_id,
        name=f"deal {uuid.uuid4().hex[:6]}",
        customer_id=customer,
        owner_id=owner,
        pipeline_id=pipeline_id,
        stage_id=last_stage.id,
        stage_entered_at=last_at,
        status=status,
        amount=Decimal(amount) if amount is not None else None,
        closed_at=last_at if status is not OpportunityStatus.open else None,
        expected_close_date=expected_close_date,
        product_lines=list(product_lines),
    )
    session.add(deal)
    await session.flush()
    for index, (stage, entered_at) in enumerate(stays):
        left_at = stays[index + 1][1] if index + 1 < len(stays) else None
        session.add(
            StageStay(
                organization_id=org_id,
                opportunity_id=deal.id,
                pipeline_id=pipeline_id,
                stage_id=stage.id,
                move=None if index == 0 else Move.forward,
                entered_at=entered_at,
                left_at=left_at,
                dwell_seconds=int((left_at - entered_at).total_seconds()) if left_at else None,
            )
        )
    await session.flush()
    return deal.id


@pytest.fixture
async def history(app, client, make_tenant, make_user) -> History:
    tenant = await make_tenant()
    users, tokens = {}, {}
    for key, role in (("A", "rep"), ("B", "rep"), ("C", "rep"), ("S", "supervisor"), ("D", "director")):
        users[key], tokens[key] = await make_user(tenant, role, display_name=f"销售{key}")
    east = ok(
        await client.post(
            "/api/v1/teams",
            json={
                "name": "华东一组",
                "region": "华东",
                "supervisor_id": users["S"]["id"],
                "member_ids": [users["A"]["id"], users["B"]["id"]],
            },
            headers=tenant.headers,
        ),
        201,
    )
    west = ok(
        await client.post(
            "/api/v1/teams", json={"name": "+西部", "member_ids": [users["C"]["id"]]}, headers=tenant.headers
        ),
        201,
    )
    runtime = app.state.runtime
    org_id = tenant.organization_id
    async with session_scope(runtime.sessionmaker, runtime.queue) as session:
        flow = await pipelines.default_pipeline(session, actor=Principal.system(org_id))
        opened = [s for s in flow.stages if s.kind is StageKind.open]
        stages = {
            "first": opened[0],
            "second": opened[1],
            "won": next(s for s in flow.stages if s.kind is StageKind.won),
            "lost": next(s for s in flow.stages if s.kind is StageKind.lost),
        }
        c1 = Customer(
            organization_id=org_id,
            code="C1",
            name="华东建材",
            name_key="华东建材",
            region="华东",
            industry="建材",
        )
        c2 = Customer(
            organization_id=org_id,
            code="C2",
            name="华南医疗",
            name_key="华南医疗",
            region="华南",
            industry="医疗",
        )
        session.add_all([c1, c2])
        await session.flush()
        uid = {k: uuid.UUID(v["id"]) for k, v in users.items()}
        first, second, won, lost = stages["first"], stages["second"], stages["won"], stages["lost"]
        common = {"pipeline_id": flow.pipeline.id}
        deals = {
            "D1": await _insert_deal(
                session,
                org_id,
                owner=uid["A"],
                customer=c1.id,
                status=OpportunityStatus.won,
                amount="100000",
                product_lines=["防水卷材"],
                stays=[(first, local(10, 2)), (second, local(10, 15)), (won, local(11, 2))],
                **common,
            ),
            "D2": await _insert_deal(
                session,
                org_id,
                owner=uid["A"],
                customer=c2.id,
                status=OpportunityStatus.lost,
                stays=[(first, local(11, 3)), (second, local(11, 4)), (lost, local(11, 5))],
                **common,
            ),
            "D3": await _insert_deal(
                session,
                org_id,
                owner=uid["B"],
                customer=c1.id,
                status=OpportunityStatus.won,
                amount="50000",
                product_lines=["防水卷材", "涂料"],
                stays=[(first, local(10, 20)), (won, local(11, 9))],
                **common,
            ),
            "D4": await _insert_deal(
                session,
                org_id,
                owner=uid["C"],
                customer=c2.id,
                status=OpportunityStatus.won,
                amount="30000",
                stays=[(first, local(9, 1)), (won, local(11, 30, 23, 30))],
                **common,
            ),
            "D5": await _insert_deal(
                session,
                org_id,
                owner=uid["B"],
                customer=c1.id,
                status=OpportunityStatus.won,
                amount="80000",
                expected_close_date=date(2026, 12, 15),
                stays=[(first, local(11, 10)), (second, local(11, 11)), (won, local(11, 12))],
                **common,
            ),
            "D6": await _insert_deal(
                session,
                org_id,
                owner=uid["C"],
                customer=c2.id,
                status=OpportunityStatus.lost,
                stays=[(first, local(10, 1)), (lost, local(10, 31))],
                **common,
            ),
            "D7": await _insert_deal(
                session,
                org_id,
                owner=uid["C"],
                customer=c2.id,
                status=OpportunityStatus.won,
                amount="20000",
                stays=[(first, local(11, 20)), (won, local(12, 1, 2))],
                **common,
            ),
            "D8": await _insert_deal(
                session,
                org_id,
                owner=uid["A"],
                customer=c1.id,
                status=OpportunityStatus.open,
                amount="40000",
                expected_close_date=date(2027, 1, 10),
                stays=[(first, local(11, 21))],
                **common,
            ),
        }
        # D5 is reopened by the service the /reopen route calls: back to its last open stage.
        await opportunities.reopen_opportunity(
            session,
            actor=Principal.system(org_id),
            opportunity_id=deals["D5"],
            reason="客户重新启动招标",
            now=local(11, 13),
        )
    return History(tenant, users, tokens, {"east": east, "west": west}, deals, stages)


def _by(rows: list[dict], dimension: str) -> dict[str, dict]:
    return {(row[dimension] or {}).get("name", ""): row for row in rows}


# --- rep-performance -------------------------------------------------------------------------------


async def test_rep_performance_counts_deals_closed_in_the_local_period(client, history):
    """D1, D3, D4 won and D2 lost in November (Shanghai); D5 was won but is reopened, D6 closed in
    October, D7 on 1 December local time."""
    body = ok(await kpi(client, history.tenant.headers, "rep-performance", **NOVEMBER))
    assert body["kpi"] == "rep-performance"
    assert body["definition_url"].endswith("#rep-performance")
    assert body["params"]["from"] == "2026-11-01T00:00:00+08:00"
    assert body["params"]["to"] == "2026-12-01T00:00:00+08:00"  # the period is half-open
    assert body["params"]["tz"] == "Asia/Shanghai"
    assert body["rows"] == [
        {
            "won_count": 3,
            "lost_count": 1,
            "closed_count": 4,
            "win_rate": 0.75,
            "won_amount": "180000.00",
            "active_reps": 3,
            "output_per_rep": "60000.00",
        }
    ]


async def test_rep_performance_per_team_and_per_user(client, history):
    teams = _by(
        ok(await kpi(client, history.tenant.headers, "rep-performance", group_by="team", **NOVEMBER))["rows"],
        "team",
    )
    assert set(teams) == {"华东一组", "+西部"}
    east = teams["华东一组"]
    assert east["team"]["id"] == history.teams["east"]["id"]
    assert (east["won_count"], east["lost_count"], east["win_rate"]) == (2, 1, 0.6667)
    assert (east["won_amount"], east["active_reps"], east["output_per_rep"]) == ("150000.00", 2, "75000.00")
    west = teams["+西部"]
    assert (west["won_count"], west["lost_count"], west["win_rate"], west["won_amount"]) == (
        1,
        0,
        1.0,
        "30000.00",
    )

    users = _by(
        ok(await kpi(client, history.tenant.headers, "rep-performance", group_by="user", **NOVEMBER))["rows"],
        "user",
    )
    assert {name: (r["won_count"], r["lost_count"], r["won_amount"]) for name, r in users.items()} == {
        "销售A": (1, 1, "100000.00"),
        "销售B": (1, 0, "50000.00"),
        "销售C": (1, 0, "30000.00"),
    }
    assert users["销售A"]["user"]["id"] == history.users["A"]["id"]


async def test_a_deal_counts_once_per_product_line(client, history):
    rows = ok(await kpi(client, history.tenant.headers, "rep-performance", group_by="product", **NOVEMBER))[
        "rows"
    ]
    assert {
        (r["product"] or {}).get("name"): (r["won_count"], r["lost_count"], r["won_amount"]) for r in rows
    } == {
        "防水卷材": (2, 0, "150000.00"),  # D1, D3
        "涂料": (1, 0, "50000.00"),  # D3
        None: (1, 1, "30000.00"),  # D4 won, D2 lost: no product line
    }
    funnel = ok(await kpi(client, history.tenant.headers, "funnel", group_by="product", **NOVEMBER))["rows"]
    won = str(history.stages["won"].id)
    assert {(r["product"] or {}).get("name"): r["entered"] for r in funnel if r["stage"]["id"] == won} == {
        "防水卷材": 2,
        "涂料": 1,
        None: 2,  # D4, D5
    }


async def test_another_time_zone_moves_the_boundary_deals(client, history):
    """In UTC, November ends at 2026-12-01T00:00Z: D7 (2026-11-30T18:00Z) is in, and D4
    (2026-11-30T15:30Z) stays in."""
    body = ok(await kpi(client, history.tenant.headers, "rep-performance", tz="UTC", **NOVEMBER))
    assert body["params"]["to"] == "2026-12-01T00:00:00Z"
    assert (body["rows"][0]["won_count"], body["rows"][0]["won_amount"]) == (4, "200000.00")


async def test_rep_performance_by_local_day_and_filters(client, history):
    rows = ok(await kpi(client, history.tenant.headers, "rep-performance", group_by="day", **NOVEMBER))[
        "rows"
    ]
    assert [(r["day"]["id"], r["won_count"], r["lost_count"]) for r in rows] == [
        ("2026-11-02", 1, 0),
        ("2026-11-05", 0, 1),
        ("2026-11-09", 1, 0),
        ("2026-11-30", 1, 0),  # 23:30 in Shanghai, 15:30 UTC
    ]
    month = ok(
        await kpi(client, history.tenant.headers, "rep-performance", group_by="team,month", **NOVEMBER)
    )
    assert {(r["team"]["name"], r["month"]["name"], r["won_count"]) for r in month["rows"]} == {
        ("华东一组", "2026-11", 2),
        ("+西部", "2026-11", 1),
    }
    regions = ok(
        await kpi(
            client,
            history.tenant.headers,
            "rep-performance",
            region=["华南"],
            group_by="industry",
            **NOVEMBER,
        )
    )["rows"]
    assert [(r["industry"]["name"], r["won_count"], r["lost_count"]) for r in regions] == [("医疗", 1, 1)]
    two_users = ok(
        await kpi(
            client,
            history.tenant.headers,
            "rep-performance",
            user_id=[history.users["B"]["id"], history.users["C"]["id"]],
            **NOVEMBER,
        )
    )["rows"]
    assert (two_users[0]["won_count"], two_users[0]["won_amount"]) == (2, "80000.00")


# --- sales-cycle and funnel ------------------------------------------------------------------------


async def test_sales_cycle_measures_from_first_stage_entry_to_won(client, history):
    """D1 31 days, D3 20 days, D4 90 days 23.5 hours; percentiles interpolate (p90 at rank 1.8)."""
    rows = ok(await kpi(client, history.tenant.headers, "sales-cycle", **NOVEMBER))["rows"]
    d4 = 90 + 23.5 / 24
    assert rows == [
        {
            "won_count": 3,
            "avg_days": round((31 + 20 + d4) / 3, 2),
            "median_days": 31.0,
            "p90_days": round(31 + 0.8 * (d4 - 31), 2),
        }
    ]
    per_user = _by(
        ok(await kpi(client, history.tenant.headers, "sales-cycle", group_by="user", **NOVEMBER))["rows"],
        "user",
    )
    assert {name: r["avg_days"] for name, r in per_user.items()} == {
        "销售A": 31.0,
        "销售B": 20.0,
        "销售C": round(d4, 2),
    }


async def test_funnel_counts_stage_entries_and_moves_on(client, history):
    """First stage: D2, D5, D7, D8 entered in November; all but D8 moved on. Second: D2 (then lost) and D5
    (twice, counted once; won after its first entry). Won: D1, D3, D4, D5 (D7 is December)."""
    rows = ok(await kpi(client, history.tenant.headers, "funnel", **NOVEMBER))["rows"]
    stages = history.stages
    assert [(r["stage"]["id"], r["entered"], r["converted_to_next"], r["conversion_rate"]) for r in rows] == [
        (str(stages["first"].id), 4, 3, 0.75),
        (str(stages["second"].id), 2, 1, 0.5),
        (str(stages["won"].id), 4, 0, 0.0),
    ]
    east = ok(
        await kpi(client, history.tenant.headers, "funnel", team_id=history.teams["east"]["id"], **NOVEMBER)
    )["rows"]
    assert [r["entered"] for r in east] == [3, 2, 3]  # D2, D5, D8; D2, D5; D1, D3, D5


async def test_stage_dwell_reads_the_stays_that_ended_in_the_period(client, history):
    """First stage: D2 24 h, D3 480 h, D4 2,183.5 h, D5 24 h. Second: D1 432 h, D2 24 h, D5 24 h.
    Won and lost stages are not dwelt in; D6 left in October, D7 in December."""
    rows = ok(await kpi(client, history.tenant.headers, "stage-dwell", **NOVEMBER))["rows"]
    stages = history.stages
    assert rows == [
        {
            "stage": {"id": str(stages["first"].id), "name": stages["first"].name},
            "position": stages["first"].position,
            "left_count": 4,
            "avg_hours": 677.88,
            "median_hours": 252.0,  # halfway between 24 and 480
            "p90_hours": 1672.45,  # rank 2.7: 480 + 0.7 x 1,703.5
        },
        {
            "stage": {"id": str(stages["second"].id), "name": stages["second"].name},
            "position": stages["second"].position,
            "left_count": 3,
            "avg_hours": 160.0,
            "median_hours": 24.0,
            "p90_hours": 350.4,
        },
    ]
    industry = ok(await kpi(client, history.tenant.headers, "stage-dwell", group_by="industry", **NOVEMBER))[
        "rows"
    ]
    assert [(r["industry"]["name"], r["stage"]["name"], r["left_count"]) for r in industry] == [
        ("医疗", stages["first"].name, 2),  # D2, D4 (华南医疗)
        ("医疗", stages["second"].name, 1),
        ("建材", stages["first"].name, 2),  # D3, D5
        ("建材", stages["second"].name, 2),  # D1, D5
    ]


async def test_stage_stay_kpis_follow_the_callers_visibility(client, history):
    """A stay counts for whoever sees its deal: A sees D1, D2 and D8; S sees A's and B's (D3, D5)
    too; the director, who reads the stays without their deals, sees C's (D4, D7) as well."""
    first, second, won = (history.stages[name] for name in ("first", "second", "won"))

    async def left(token: str) -> dict[uuid.UUID, int]:
        rows = ok(await kpi(client, token, "stage-dwell", **NOVEMBER))["rows"]
        return {uuid.UUID(r["stage"]["id"]): r["left_count"] for r in rows}

    assert await left(history.tokens["A"]) == {first.id: 1, second.id: 2}  # D2; D1, D2
    assert await left(history.tokens["S"]) == {first.id: 3, second.id: 3}  # + D3, D5; + D5
    assert await left(history.tokens["D"]) == {first.id: 4, second.id: 3}  # + D4
    entered = ok(await kpi(client, history.tokens["A"], "funnel", **NOVEMBER))["rows"]
    assert [(uuid.UUID(r["stage"]["id"]), r["entered"], r["converted_to_next"]) for r in entered] == [
        (first.id, 2, 1),  # D2 (moved on), D8
        (second.id, 1, 0),  # D2, then lost
        (won.id, 1, 0),  # D1
    ]


async def test_pipeline_and_forecast_weigh_open_deals_by_stage_probability(client, history):
    """Open now: D5 (reopened into the second stage, engaged 11-10 00:00 local, 13 days 10 hours
    ago) and D8 (first stage, engaged 11-21, 2 days 10 hours ago)."""
    first, second = history.stages["first"], history.stages["second"]
    rows = ok(await kpi(client, history.tenant.headers, "pipeline"))["rows"]
    assert rows == [
        {
            "stage": {"id": str(first.id), "name": first.name},
            "position": first.position,
            "open_count": 1,
            "amount": "40000.00",
            "weighted_amount": f"{40000 * first.probability / 100:.2f}",
            "avg_age_days": round(2 + 10 / 24, 2),
        },
        {
            "stage": {"id": str(second.id), "name": second.name},
            "position": second.position,
            "open_count": 1,
            "amount": "80000.00",
            "weighted_amount": f"{80000 * second.probability / 100:.2f}",
            "avg_age_days": round(13 + 10 / 24, 2),
        },
    ]
    snapshot = await kpi(client, history.tenant.headers, "pipeline", **NOVEMBER)
    assert snapshot.status_code == 422
    assert {(e["field"], e["code"]) for e in snapshot.json()["errors"]} == {
        ("from", "parameter.unknown"),
        ("to", "parameter.unknown"),
    }

    ahead = ok(await kpi(client, history.tenant.headers, "forecast", group_by="user"))
    assert ahead["params"]["from"] == "2026-11-23T00:00:00+08:00"  # today, 90 days ahead
    assert [
        (r["close_month"]["name"], r["user"]["name"], r["open_count"], r["weighted_amount"])
        for r in ahead["rows"]
    ] == [
        ("2026-12", "销售B", 1, f"{80000 * second.probability / 100:.2f}"),
        ("2027-01", "销售A", 1, f"{40000 * first.probability / 100:.2f}"),
    ]
    december = ok(
        await kpi(client, history.tenant.headers, "forecast", **{"from": "2026-12-01", "to": "2026-12-31"})
    )
    assert [(r["close_month"]["id"], r["amount"]) for r in december["rows"]] == [("2026-12-01", "80000.00")]


async def test_a_snapshot_kpi_called_with_a_period_by_a_service_caller_is_refused(session, make_tenant):
    """The route gives snapshots no from/to; a job or the CLI calling the use case gets the same no."""
    tenant = await make_tenant()
    request = KpiRequest(start="2026-11-01", end=None, timezone=None, group_by=None, filters=KpiFilters())

    with pytest.raises(InvalidInput) as refused:
        await compute_kpi(
            session,
            actor=Principal.system(tenant.organization_id),
            name=KpiName.pipeline,
            request=request,
            now=datetime(2026, 11, 23, tzinfo=UTC),
        )

    assert [(e.field, e.code) for e in refused.value.errors] == [("from", "period.not_applicable")]


async def test_the_status_board_takes_one_person_from_the_use_case_too(session, make_tenant):
    """The route lists user_id at most once for the status board; a job calling the use case gets
    the same no."""
    tenant = await make_tenant()
    people = KpiFilters(user_ids=(uuid.uuid4(), uuid.uuid4()))
    request = KpiRequest(start=None, end=None, timezone=None, group_by=None, filters=people)

    with pytest.raises(InvalidInput) as refused:
        await compute_kpi(
            session,
            actor=Principal.system(tenant.organization_id),
            name=KpiName.status_board,
            request=request,
            now=datetime(2026, 11, 23, tzinfo=UTC),
        )

    assert [(e.field, e.code) for e in refused.value.errors] == [("user_id", "filter.repeated")]


async def test_the_pipeline_dimension_and_filter_name_the_deals_pipeline(client, history):
    """Every deal of the fixture runs on the default pipeline: grouped by pipeline the open deals
    carry its id and name; filtered to it they stay, filtered to the other seeded pipeline they go."""
    first, second = history.stages["first"], history.stages["second"]
    flows = ok(await client.get("/api/v1/pipelines", headers=history.tenant.headers))["items"]
    used = next(f for f in flows if f["id"] == str(first.pipeline_id))
    other = next(f for f in flows if f["id"] != str(first.pipeline_id))

    grouped = ok(await kpi(client, history.tenant.headers, "pipeline", group_by="pipeline"))["rows"]
    only_used = ok(await kpi(client, history.tenant.headers, "pipeline", pipeline_id=used["id"]))["rows"]
    only_other = ok(await kpi(client, history.tenant.headers, "pipeline", pipeline_id=other["id"]))["rows"]

    assert [(r["pipeline"], r["stage"]["id"], r["open_count"]) for r in grouped] == [
        ({"id": used["id"], "name": used["name"]}, str(first.id), 1),
        ({"id": used["id"], "name": used["name"]}, str(second.id), 1),
    ]
    assert [(r["stage"]["id"], r["open_count"]) for r in only_used] == [
        (str(first.id), 1),
        (str(second.id), 1),
    ]
    assert only_other == []


# --- visibility and scopes -------------------------------------------------------------------------


async def test_a_rep_sees_own_figures_and_a_supervisor_the_team(client, history):
    mine = ok(await kpi(client, history.tokens["A"], "rep-performance", **NOVEMBER))["rows"]
    assert (mine[0]["won_count"], mine[0]["lost_count"]) == (1, 1)
    team = ok(await kpi(client, history.tokens["S"], "rep-performance", **NOVEMBER))["rows"]
    assert (team[0]["won_count"], team[0]["lost_count"], team[0]["active_reps"]) == (2, 1, 2)
    everyone = ok(await kpi(client, history.tokens["D"], "rep-performance", **NOVEMBER))["rows"]
    assert everyone[0]["won_count"] == 3


async def test_a_filter_outside_the_callers_visibility_is_refused(client, history):
    for token, params in (
        (history.tokens["A"], {"user_id": history.users["B"]["id"]}),
        (history.tokens["A"], {"team_id": history.teams["east"]["id"]}),
        (history.tokens["S"], {"team_id": history.teams["west"]["id"]}),
        (history.tokens["S"], {"user_id": history.users["C"]["id"]}),
    ):
        refused = await kpi(client, token, "rep-performance", **params, **NOVEMBER)
        assert refused.status_code == 403, params
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "kpi.not_visible"
    allowed = await kpi(
        client, history.tokens["S"], "rep-performance", team_id=history.teams["east"]["id"], **NOVEMBER
    )
    assert allowed.status_code == 200


async def test_api_keys_need_the_kpi_read_scope(client, history):
    async def key(scopes: list[str]) -> dict[str, str]:
        created = ok(
            await client.post(
                "/api/v1/api-keys",
                json={"name": f"bi-{scopes}", "scopes": scopes},
                headers=history.tenant.headers,
            ),
            201,
        )
        return bearer(created["secret"])

    with_scope = await kpi(client, await key(["kpi:read"]), "rep-performance", **NOVEMBER)
    assert ok(with_scope)["rows"][0]["won_count"] == 3
    without = await kpi(client, await key(["leads:read"]), "rep-performance", **NOVEMBER)
    assert without.status_code == 403


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "field", "code"),
    [
        ("rep-performance", {"form": "2026-11-01"}, "form", "parameter.unknown"),
        ("revenue-magic", {}, "name", "kpi.unknown"),
        ("rep-performance", {"group_by": "team,colour"}, "group_by", "dimension.unknown"),
        ("rep-performance", {"group_by": "user,team,month"}, "group_by", "dimension.too_many"),
        ("rep-performance", {"group_by": "day,month"}, "group_by", "dimension.too_many"),
        ("funnel", {"group_by": "stage"}, "group_by", "dimension.unsupported"),
        ("rep-performance", {"tz": "Mars/Olympus"}, "tz", "timezone.unknown"),
        ("rep-performance", {"from": "2026-12-01", "to": "2026-11-01"}, "from", "period.order"),
        ("rep-performance", {"from": "yesterday"}, "from", "format"),
        ("rep-performance", {"team_id": "not-a-uuid"}, "team_id[0]", "uuid_parsing"),
        ("rep-performance", {"from": "1899-12-31"}, "from", "format"),
        ("rep-performance", {"to": "0001-01-05"}, "to", "format"),
        ("rep-performance", {"to": ""}, "to", "format"),
        ("rep-performance", {"to": "2026-11-01T08:00"}, "to", "format"),
        ("rep-performance", {"group_by": "team,team"}, "group_by", "dimension.too_many"),
        ("rep-performance", {"group_by": "team, month"}, "group_by", "dimension.unknown"),
        (
            "lead-response",
            {"pipeline_id": "6f1d2c3b-4a59-4e8f-9d7c-1b2a3c4d5e6f"},
            "pipeline_id",
            "parameter.unknown",
        ),
    ],
)
async def test_bad_parameters_answer_422_naming_them(client, make_tenant, path, params, field, code):
    tenant = await make_tenant()
    answer = await kpi(client, tenant.headers, path, **params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert (field, code) in {(e["field"], e["code"]) for e in answer.json()["errors"]}


async def test_each_kpi_s_operation_lists_the_groupings_and_filters_it_takes(app, client, make_tenant):
    """The contract names only what a KPI takes: a client (or a fuzzer) sticking to it is never told
    that a listed filter or grouping does not apply here."""
    tenant = await make_tenant()
    for name, spec in CATALOG.items():
        listed = {
            p["name"]: p["schema"]
            for p in app.openapi()["paths"][f"/api/v1/kpis/{name}"]["get"]["parameters"]
        }
        assert {f.value for f in Filter if f.value in listed} == {f.value for f in spec.filters}, name
        for f in spec.filters:
            assert listed[f.value]["anyOf"][0]["maxItems"] == spec.max_filter_values, (name, f)
        if not spec.dimensions:
            assert "group_by" not in listed, name
            continue
        pattern = re.compile(listed["group_by"]["pattern"])
        for dimension in Dimension:
            taken = await kpi(client, tenant.headers, name, group_by=dimension.value)
            assert (taken.status_code == 200) == bool(pattern.search(dimension.value)), (name, dimension)


async def test_an_empty_period_is_one_row_of_zeros_without_ratios(client, make_tenant):
    tenant = await make_tenant()
    performance = ok(await kpi(client, tenant.headers, "rep-performance", **NOVEMBER))["rows"]
    assert performance == [
        {
            "won_count": 0,
            "lost_count": 0,
            "closed_count": 0,
            "win_rate": None,
            "won_amount": "0.00",
            "active_reps": 0,
            "output_per_rep": None,
        }
    ]
    cycle = ok(await kpi(client, tenant.headers, "sales-cycle", **NOVEMBER))["rows"]
    assert cycle == [{"won_count": 0, "avg_days": None, "median_days": None, "p90_days": None}]
    assert ok(await kpi(client, tenant.headers, "funnel", **NOVEMBER))["rows"] == []


# --- CSV and caching -------------------------------------------------------------------------------


async def test_csv_has_a_bom_flat_dimensions_and_escaped_formulas(client, history):
    answer = await client.get(
        "/api/v1/kpis/rep-performance",
        params={"group_by": "team", **NOVEMBER},
        headers={**history.tenant.headers, "Accept": "text/csv"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert list(rows[0]) == [
        "team_id",
        "team_name",
        "won_count",
        "lost_count",
        "closed_count",
        "win_rate",
        "won_amount",
        "active_reps",
        "output_per_rep",
    ]
    by_name = {row["team_name"]: row for row in rows}
    assert set(by_name) == {"华东一组", "'+西部"}
    assert by_name["华东一组"]["won_amount"] == "150000.00"
    assert by_name["华东一组"]["team_id"] == history.teams["east"]["id"]


async def test_etag_answers_304_until_the_figures_change(client, app, history):
    first = await kpi(client, history.tenant.headers, "rep-performance", **NOVEMBER)
    assert first.headers["cache-control"] == "private, max-age=60"
    etag = first.headers["etag"]
    again = await client.get(
        "/api/v1/kpis/rep-performance",
        params=NOVEMBER,
        headers={**history.tenant.headers, "If-None-Match": etag},
    )
    assert again.status_code == 304
    assert again.headers["etag"] == etag
    as_csv = await client.get(
        "/api/v1/kpis/rep-performance",
        params=NOVEMBER,
        headers={**history.tenant.headers, "If-None-Match": etag, "Accept": "text/csv"},
    )
    assert as_csv.status_code == 200  # another representation, another tag

    # A deal closed late (backdated into November) changes the figures and the tag.
    runtime = app.state.runtime
    async with session_scope(runtime.sessionmaker, runtime.queue) as session:
        d7 = await session.get(Opportunity, history.deals["D7"])
        d7.closed_at = local(11, 29)
    changed = await client.get(
        "/api/v1/kpis/rep-performance",
        params=NOVEMBER,
        headers={**history.tenant.headers, "If-None-Match": etag},
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["rows"][0]["won_count"] == 4


async def test_default_period_is_the_last_30_days(client, history, clock):
    clock.now = local(11, 30, 12).astimezone(UTC)
    token = await sign_in(client, history.tenant.admin_username)
    body = ok(await kpi(client, token, "rep-performance"))
    assert body["params"]["from"] == "2026-10-31T00:00:00+08:00"
    assert body["params"]["to"] == "2026-11-30T04:00:00Z"
    # From 31 October: D1 and D3 won, D6 (31 October 00:00) and D2 lost; D4 closes after now.
    assert (body["rows"][0]["won_count"], body["rows"][0]["lost_count"]) == (2, 2)


async def test_local_days_follow_daylight_saving_on_both_databases(app, client, make_tenant):
    """New York leaves daylight saving time on 2026-11-01 at 06:00 UTC. 2026-10-31T04:30Z is
    00:30 on 31 October there (UTC-4); 2026-11-02T04:30Z is 23:30 on 1 November (UTC-5). SQLite,
    without time zone data, must shift each by the offset in force, as PostgreSQL does."""
    tenant = await make_tenant()
    runtime = app.state.runtime
    org_id = tenant.organization_id
    async with session_scope(runtime.sessionmaker, runtime.queue) as session:
        flow = await pipelines.default_pipeline(session, actor=Principal.system(org_id))
        won = next(s for s in flow.stages if s.kind is StageKind.won)
        customer = Customer(organization_id=org_id, code="NY", name="Hudson", name_key="hudson")
        session.add(customer)
        await session.flush()
        for closed_at in (
            datetime(2026, 10, 31, 4, 30, tzinfo=UTC),
            datetime(2026, 11, 2, 4, 30, tzinfo=UTC),
        ):
            await _insert_deal(
                session,
                org_id,
                owner=tenant.admin_id,
                customer=customer.id,
                pipeline_id=flow.pipeline.id,
                status=OpportunityStatus.won,
                amount="1",
                stays=[(flow.stages[0], closed_at - timedelta(days=3)), (won, closed_at)],
            )
    rows = ok(
        await kpi(
            client,
            tenant.headers,
            "rep-performance",
            group_by="day",
            tz="America/New_York",
            **{"from": "2026-10-01", "to": "2026-11-30"},
        )
    )["rows"]
    assert [(r["day"]["id"], r["won_count"]) for r in rows] == [("2026-10-31", 1), ("2026-11-01", 1)]


async def test_region_and_industry_group_together_without_a_second_customer_join(client, history):
    # Both dimensions read the customer: joined twice, PostgreSQL refused the statement (a 500).
    for name in ("rep-performance", "sales-cycle", "funnel", "stage-dwell"):
        body = ok(await kpi(client, history.tenant.headers, name, group_by="region,industry", **NOVEMBER))
        assert body["rows"], name
        assert all({"region", "industry"} <= row.keys() for row in body["rows"]), name
