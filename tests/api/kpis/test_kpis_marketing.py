"""campaign-roi and source-quality on a hand-computed fixture (docs/kpis.md), and the campaign and
channel dimensions of the lead KPIs (issue 21, point 3).

The organization is in Asia/Shanghai; the period is November 2026 (NOVEMBER).

| campaign       | channel    | costs in November         | outside November        | leads in November |
|----------------|------------|---------------------------|-------------------------|-------------------|
| 秋季建材展 (A) | exhibition | 1000 (11-05), 200 (11-20) | 300 (10-31), 50 (12-01) | A0-A9 (exhibition) |
| 百度竞价 (B)   | online_ad  | 800 (11-10)               |                         | B0-B3 (ad)        |

One more lead of A is created 10-31 23:30 (October).
A0-A4 belong to rep 1, A5-A9 and B0-B3 to rep 2; one more lead (referral) has no campaign.
Effective: A0, A1, A2 and B0 (a connected call), A3 (qualified: budget and timeline known; its
call with one info point is no effective follow-up). Deals: A0 (5000) and A1 (3000) converted and
won, A2 (9999) converted and open, B1 (7000) converted and open.

campaign-roi, by hand:
- A: leads 10, effective 4 (0.4), cost 1000 + 200 = 1200.00, per lead 120.00, per effective lead
  300.00, deals 3, won 2 for 8000.00, net 8000 - 1200 = 6800.00, ROI 6800 / 1200 = 5.6667.
- B: leads 4, effective 1 (0.25), cost 800.00, per lead 200.00, per effective lead 800.00, deals 1,
  won 0 for 0.00, net -800.00, ROI -800 / 800 = -1.0.
- Rep 1 sees A0-A4 and their deals: A leads 5, effective 4, per lead 1200 / 5 = 240.00, deals 3,
  won 8000.00; B with no lead of theirs still shows its cost (costs have no owner).

source-quality: feedback on A4 (2, no_budget), A5 (4, good_fit + urgent_need), A6 (5, good_fit);
A7 disqualified "无采购预算", A8 "空号", B2 "无采购预算".
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.api.helpers import ok
from tests.api.kpis.kpi_helpers import NOVEMBER, kpi, local
from tests.factories import unique_phone

_GATELESS = [
    {"kind": "open", "name": "接触", "probability": 10},
    {"kind": "won", "name": "赢单", "probability": 100},
    {"kind": "lost", "name": "输单", "probability": 0},
]


@dataclass
class World:
    tenant: Any
    admin: dict[str, str]
    reps: list[str]
    tokens: list[str]
    campaigns: dict[str, dict] = field(default_factory=dict)
    leads: dict[str, dict] = field(default_factory=dict)


async def _post(client, path: str, body: dict, headers: dict, status: int = 201) -> dict:
    return ok(await client.post(path, json=body, headers=headers), status)


async def _costs(client, world: World, key: str, *entries: tuple[str, str]) -> None:
    for day, amount in entries:
        path = f"/api/v1/campaigns/{world.campaigns[key]['id']}/costs"
        await _post(client, path, {"incurred_on": day, "amount": amount}, world.admin)


async def _leads(client, clock, world: World, key: str, source: str, owners: list[int]) -> None:
    for number, owner in enumerate(owners):
        clock.now = local(11, 3, 9, number)
        body = {
            "name": f"线索{key}{number}",
            "source": source,
            "phone": unique_phone(),
            "owner_id": world.reps[owner],
            "campaign_id": world.campaigns[key]["id"],
            "budget": "100000.00",
        }
        world.leads[f"{key}{number}"] = await _post(client, "/api/v1/leads", body, world.admin)


async def _call(client, clock, world: World, lead: str, **fields: object) -> None:
    clock.now = local(11, 4, 10)
    body = {
        "type": "call",
        "occurred_at": clock.now.isoformat(),
        "lead_id": world.leads[lead]["id"],
        **fields,
    }
    await _post(client, "/api/v1/activities", body, world.admin)


async def _convert(client, clock, world: World, lead: str, amount: str, pipeline: str, *, won: bool) -> None:
    clock.now = local(11, 12, 15)
    body = {"opportunity_name": f"工程{lead}", "opportunity_amount": amount, "pipeline_id": pipeline}
    converted = await _post(
        client, f"/api/v1/leads/{world.leads[lead]['id']}/convert", body, world.admin, 200
    )
    if won:
        clock.now = local(11, 18, 16)
        await _post(
            client, f"/api/v1/opportunities/{converted['opportunity']['id']}/win", {}, world.admin, 200
        )


@pytest.fixture
async def world(client, clock, make_tenant, make_user) -> World:
    tenant = await make_tenant()
    reps = [await make_user(tenant, "rep") for _ in range(2)]
    world = World(tenant, tenant.headers, [str(user["id"]) for user, _ in reps], [token for _, token in reps])
    clock.now = local(10, 20, 9)
    for key, name, channel in (("A", "秋季建材展", "exhibition"), ("B", "百度竞价", "online_ad")):
        world.campaigns[key] = await _post(
            client, "/api/v1/campaigns", {"name": name, "channel": channel}, world.admin
        )
    await _costs(client, world, "A", ("2026-11-05", "1000.00"), ("2026-11-20", "200"), ("2026-10-31", "300"))
    await _costs(client, world, "A", ("2026-12-01", "50.00"))
    await _costs(client, world, "B", ("2026-11-10", "800.00"))
    clock.now = local(10, 31, 23, 30)
    late = {
        "name": "十月线索",
        "source": "exhibition",
        "phone": unique_phone(),
        "owner_id": world.reps[0],
    }
    await _post(client, "/api/v1/leads", {**late, "campaign_id": world.campaigns["A"]["id"]}, world.admin)
    await _leads(client, clock, world, "A", "exhibition", [0] * 5 + [1] * 5)
    await _leads(client, clock, world, "B", "ad", [1] * 4)
    clock.now = local(11, 3, 12)
    plain = {"name": "转介绍", "source": "referral", "phone": unique_phone(), "owner_id": world.reps[1]}
    await _post(client, "/api/v1/leads", plain, world.admin)
    for lead in ("A0", "A1", "A2", "B0"):
        await _call(client, clock, world, lead, call_outcome="connected")
    await _call(client, clock, world, "A3", info_points={"timeline": "明年三月开工"})
    clock.now = local(11, 4, 11)
    ok(await client.post(f"/api/v1/leads/{world.leads['A3']['id']}/qualify", headers=world.admin))
    pipeline = await _post(client, "/api/v1/pipelines", {"name": "无门槛", "stages": _GATELESS}, world.admin)
    await _convert(client, clock, world, "A0", "5000.00", pipeline["id"], won=True)
    await _convert(client, clock, world, "A1", "3000.00", pipeline["id"], won=True)
    await _convert(client, clock, world, "A2", "9999.00", pipeline["id"], won=False)
    await _convert(client, clock, world, "B1", "7000.00", pipeline["id"], won=False)
    clock.now = local(11, 23, 10)
    return world


def _roi(name: str | None, channel: str, *figures: object) -> dict:
    names = [
        "leads",
        "effective_leads",
        "effective_rate",
        "cost",
        "cost_per_lead",
        "cost_per_effective_lead",
        "opportunities",
        "won_count",
        "won_amount",
        "net_return",
        "roi",
    ]
    return {"campaign": name, "channel": channel, **dict(zip(names, figures, strict=True))}


def _readable(rows: list[dict]) -> list[dict]:
    return [
        {
            **row,
            "campaign": row["campaign"]["name"] if row["campaign"] else None,
            "channel": row["channel"]["id"],
        }
        for row in rows
    ]


async def test_campaign_roi_per_campaign_matches_the_hand_computed_figures(client, world):
    answer = ok(await kpi(client, world.admin, "campaign-roi", **NOVEMBER))

    assert _readable(answer["rows"]) == [
        _roi(
            "秋季建材展",
            "exhibition",
            10,
            4,
            0.4,
            "1200.00",
            "120.00",
            "300.00",
            3,
            2,
            "8000.00",
            "6800.00",
            5.6667,
        ),
        _roi(
            "百度竞价", "online_ad", 4, 1, 0.25, "800.00", "200.00", "800.00", 1, 0, "0.00", "-800.00", -1.0
        ),
    ]
    assert answer["rows"][0]["campaign"]["id"] == world.campaigns["A"]["id"]
    assert answer["kpi"] == "campaign-roi"


async def test_campaign_roi_per_channel_and_as_a_rep_sees_it(client, world):
    per_channel = ok(await kpi(client, world.admin, "campaign-roi", group_by="channel", **NOVEMBER))["rows"]
    rep = ok(await kpi(client, world.tokens[0], "campaign-roi", **NOVEMBER))["rows"]

    assert _readable(per_channel) == [
        _roi(
            None, "exhibition", 10, 4, 0.4, "1200.00", "120.00", "300.00", 3, 2, "8000.00", "6800.00", 5.6667
        ),
        _roi(None, "online_ad", 4, 1, 0.25, "800.00", "200.00", "800.00", 1, 0, "0.00", "-800.00", -1.0),
    ]
    assert _readable(rep) == [
        _roi(
            "秋季建材展",
            "exhibition",
            5,
            4,
            0.8,
            "1200.00",
            "240.00",
            "300.00",
            3,
            2,
            "8000.00",
            "6800.00",
            5.6667,
        ),
        _roi("百度竞价", "online_ad", 0, 0, None, "800.00", None, None, 0, 0, "0.00", "-800.00", -1.0),
    ]


async def test_marketing_reads_the_marketing_kpis_over_the_whole_organization_and_no_other(
    client, world, make_user
):
    tenant_admin = world.admin
    _, marketing = await make_user(world.tenant, "marketing")

    as_marketing = ok(await kpi(client, marketing, "campaign-roi", **NOVEMBER))["rows"]
    as_admin = ok(await kpi(client, tenant_admin, "campaign-roi", **NOVEMBER))["rows"]
    quality = await kpi(client, marketing, "source-quality", **NOVEMBER)
    quality_as_admin = ok(await kpi(client, tenant_admin, "source-quality", **NOVEMBER))["rows"]
    others = [await kpi(client, marketing, name, **NOVEMBER) for name in ("rep-performance", "handover")]

    assert as_marketing == as_admin
    assert [r["leads"] for r in as_marketing] == [10, 4]
    assert quality.status_code == 200
    assert quality_as_admin  # the fixture's leads have sales feedback to report
    assert quality.json()["rows"] == quality_as_admin
    assert [answer.status_code for answer in others] == [403, 403]


async def test_campaign_roi_counts_costs_by_the_day_they_were_incurred(client, world):
    october = ok(await kpi(client, world.admin, "campaign-roi", **{"from": "2026-10-01", "to": "2026-10-31"}))
    december_first = ok(
        await kpi(client, world.admin, "campaign-roi", **{"from": "2026-12-01", "to": "2026-12-01"})
    )

    # October: the 300 on 10-31 and the lead created 10-31 23:30; no deal.
    assert _readable(october["rows"]) == [
        _roi("秋季建材展", "exhibition", 1, 0, 0.0, "300.00", "300.00", None, 0, 0, "0.00", "-300.00", -1.0)
    ]
    assert [(r["campaign"]["name"], r["cost"], r["leads"]) for r in december_first["rows"]] == [
        ("秋季建材展", "50.00", 0)
    ]


async def test_campaign_roi_as_csv_and_its_parameters(client, world):
    answer = await client.get(
        "/api/v1/kpis/campaign-roi", params=NOVEMBER, headers={**world.admin, "Accept": "text/csv"}
    )

    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [(r["campaign_name"], r["channel_id"], r["cost"], r["roi"]) for r in rows] == [
        ("秋季建材展", "exhibition", "1200.00", "5.6667"),
        ("百度竞价", "online_ad", "800.00", "-1.0"),
    ]
    cached = await client.get(
        "/api/v1/kpis/campaign-roi",
        params=NOVEMBER,
        headers={**world.admin, "Accept": "text/csv", "If-None-Match": answer.headers["ETag"]},
    )
    assert cached.status_code == 304
    for params in ({"group_by": "campaign"}, {"pipeline_id": world.campaigns["A"]["id"]}, {"days": "7"}):
        refused = await kpi(client, world.admin, "campaign-roi", **params)
        assert refused.status_code == 422, params
    not_grouped = await kpi(client, world.admin, "source-quality", group_by="source")
    assert not_grouped.status_code == 422


async def test_source_quality_per_source_and_campaign(client, world):
    for lead, quality, reasons in (
        ("A4", 2, ["no_budget"]),
        ("A5", 4, ["good_fit", "urgent_need"]),
        ("A6", 5, ["good_fit"]),
    ):
        body = {"quality": quality, "reason_codes": reasons}
        ok(
            await client.put(
                f"/api/v1/leads/{world.leads[lead]['id']}/feedback", json=body, headers=world.admin
            )
        )
    for lead, reason in (("A7", "无采购预算"), ("A8", "空号"), ("B2", "无采购预算")):
        body = {"reason": reason}
        ok(
            await client.post(
                f"/api/v1/leads/{world.leads[lead]['id']}/disqualify", json=body, headers=world.admin
            )
        )

    rows = ok(await kpi(client, world.admin, "source-quality", **NOVEMBER))["rows"]

    assert [
        {
            **row,
            "source": row["source"]["id"],
            "campaign": row["campaign"]["name"] if row["campaign"] else None,
        }
        for row in rows
    ] == [
        {
            "source": "ad",
            "campaign": "百度竞价",
            "leads": 4,
            "with_feedback": 0,
            "feedback_rate": 0.0,
            "feedback_quality_total": 0,
            "avg_feedback_quality": None,
            "feedback_reasons": [],
            "disqualified": 1,
            "disqualified_rate": 0.25,
            "disqualification_reasons": [{"reason": "无采购预算", "count": 1}],
        },
        {
            "source": "exhibition",
            "campaign": "秋季建材展",
            "leads": 10,
            "with_feedback": 3,
            "feedback_rate": 0.3,
            "feedback_quality_total": 11,
            "avg_feedback_quality": 3.67,
            "feedback_reasons": [
                {"reason": "good_fit", "count": 2},
                {"reason": "no_budget", "count": 1},
                {"reason": "urgent_need", "count": 1},
            ],
            "disqualified": 2,
            "disqualified_rate": 0.2,
            "disqualification_reasons": [
                {"reason": "无采购预算", "count": 1},
                {"reason": "空号", "count": 1},
            ],
        },
        {
            "source": "referral",
            "campaign": None,
            "leads": 1,
            "with_feedback": 0,
            "feedback_rate": 0.0,
            "feedback_quality_total": 0,
            "avg_feedback_quality": None,
            "feedback_reasons": [],
            "disqualified": 0,
            "disqualified_rate": 0.0,
            "disqualification_reasons": [],
        },
    ]


async def test_the_lead_kpis_group_by_campaign_and_channel(client, world):
    by_campaign = ok(await kpi(client, world.admin, "handover", group_by="campaign", **NOVEMBER))["rows"]
    by_channel = ok(await kpi(client, world.admin, "lead-utilization", group_by="channel", **NOVEMBER))[
        "rows"
    ]

    assert sorted(
        (r["campaign"]["name"] if r["campaign"] else "", r["received"], r["effective"]) for r in by_campaign
    ) == [("", 1, 0), ("百度竞价", 4, 1), ("秋季建材展", 10, 3)]
    assert {r["campaign"]["id"] for r in by_campaign if r["campaign"]} == {
        world.campaigns["A"]["id"],
        world.campaigns["B"]["id"],
    }
    assert sorted(
        (r["channel"]["id"] if r["channel"] else "", r["received"], r["effective"]) for r in by_channel
    ) == [("", 1, 0), ("exhibition", 10, 3), ("online_ad", 4, 1)]
