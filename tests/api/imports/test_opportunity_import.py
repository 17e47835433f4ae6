"""The Maven CRM sample (8,800 historical deals) imported through the API with the documented
mapping file: every row created or reported, outcomes, amounts and dates kept, never twice."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.models import Opportunity, StageStay
from app.services.identity.users import NewUser, create_user
from app.services.platform.unit_of_work import session_scope

ROOT = Path(__file__).resolve().parents[3]
# The shared data set lives beside the checkout (../shared); a clone elsewhere on the same machine
# finds it at its absolute place, or wherever CRM_DATASETS points.
_CANDIDATES = [
    Path(os.environ.get("CRM_DATASETS", "/nonexistent")),
    ROOT.parent / "shared" / "datasets",
    Path("/work/shared/datasets"),
]
MAVEN = next(
    (c / "maven-crm" for c in _CANDIDATES if (c / "maven-crm").is_dir()), _CANDIDATES[1] / "maven-crm"
)
MAPPING = json.loads((ROOT / "docs" / "mappings" / "maven-crm.json").read_text(encoding="utf-8"))
CSV_MIME = "text/csv"

pytestmark = pytest.mark.skipif(
    not MAVEN.exists(), reason="the shared Maven CRM data set is not on this machine"
)


def _rows(name: str) -> list[dict[str, str]]:
    with (MAVEN / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


async def _job(client, app, tenant, path: str, filename: str, content: bytes, data: dict[str, str]) -> dict:
    started = await client.post(
        path, files={"file": (filename, content, CSV_MIME)}, data=data, headers=tenant.headers
    )
    assert started.status_code == 202, started.text
    await app.state.runtime.queue.drain()
    job = await client.get(f"/api/v1/import-jobs/{started.json()['id']}", headers=tenant.headers)
    return job.json()


async def _maven_organization(client, app, make_tenant):
    """Agents as users, accounts as customers (through the customer import), products by API."""
    tenant = await make_tenant("Maven Sample Co")
    runtime = app.state.runtime
    async with session_scope(runtime.sessionmaker, runtime.queue) as session:
        for n, agent in enumerate(_rows("sales_teams.csv")):
            await create_user(
                session,
                actor=Principal.system(tenant.organization_id),
                data=NewUser(
                    username=f"agent{n}", display_name=agent["sales_agent"], password="x" * 12, role=Role.rep
                ),
            )
    accounts = await _job(
        client,
        app,
        tenant,
        "/api/v1/customers/import",
        "accounts.csv",
        (MAVEN / "accounts.csv").read_bytes(),
        {
            "column_mapping": json.dumps(
                {"account": "name", "sector": "industry", "office_location": "region"}
            )
        },
    )
    assert (accounts["status"], accounts["created_count"], accounts["error_count"]) == ("completed", 85, 0)
    for product in _rows("products.csv"):
        created = await client.post(
            "/api/v1/products",
            json={
                "sku": product["product"].upper().replace(" ", "-"),
                "name": product["product"],
                "product_line": product["series"],
                "list_price": product["sales_price"],
                "currency": "USD",
            },
            headers=tenant.headers,
        )
        assert created.status_code == 201, created.text
    return tenant


async def test_every_maven_deal_is_created_with_its_outcome_and_dates_and_never_twice(
    client, app, make_tenant
):
    tenant = await _maven_organization(client, app, make_tenant)
    pipeline = (MAVEN / "sales_pipeline.csv").read_bytes()
    source = _rows("sales_pipeline.csv")

    job = await _job(
        client,
        app,
        tenant,
        "/api/v1/opportunities/import",
        "sales_pipeline.csv",
        pipeline,
        {"mapping": json.dumps(MAPPING)},
    )
    assert job["status"] == "completed", job
    assert job["total_rows"] == len(source) == 8800
    assert (job["created_count"], job["error_count"], job["duplicate_count"]) == (8800, 0, 0)

    runtime = app.state.runtime
    async with runtime.sessionmaker() as session:
        statuses = Counter(
            await session.scalars(
                select(Opportunity.status).where(Opportunity.organization_id == tenant.organization_id)
            )
        )
        first = await session.scalar(select(Opportunity).where(Opportunity.external_id == "1C1I7A6R"))
        assert first is not None
        stays = (
            await session.scalars(
                select(StageStay).where(StageStay.opportunity_id == first.id).order_by(StageStay.entered_at)
            )
        ).all()
        gtx_pro = await session.scalar(select(Opportunity).where(Opportunity.external_id == "Z063OYW0"))
    expected = Counter({"won": 4238, "lost": 2473, "open": 1589 + 500})
    assert {status.value: count for status, count in statuses.items()} == expected
    # 1C1I7A6R,Moses Frase,GTX Plus Basic,Cancity,Won,10/20/2016,3/1/2017,1054; the tenant is in
    # Asia/Shanghai, so 3/1/2017 begins at 16:00 UTC the day before.
    assert (first.status.value, str(first.amount), first.currency) == ("won", "1054.00", "USD")
    assert first.closed_at == datetime(2017, 2, 28, 16, 0, tzinfo=UTC)
    assert [s.dwell_seconds for s in stays] == [
        (datetime(2017, 3, 1) - datetime(2016, 10, 20)).days * 86400,
        None,
    ]
    assert stays[1].move is not None
    assert stays[1].move.value == "close"
    # "GTXPro" in the pipeline file is "GTX Pro" in products.csv: the mapping's spelling fix finds it.
    assert gtx_pro is not None
    assert gtx_pro.product_lines == ["GTX"]

    again = await _job(
        client,
        app,
        tenant,
        "/api/v1/opportunities/import",
        "sales_pipeline.csv",
        pipeline,
        {"mapping": json.dumps(MAPPING)},
    )
    assert (again["created_count"], again["duplicate_count"]) == (0, 8800)
    assert again["errors"][0]["code"] == "duplicate"


async def test_without_a_placeholder_customer_the_open_deals_without_an_account_are_reported(
    client, app, make_tenant
):
    tenant = await _maven_organization(client, app, make_tenant)
    strict = {**MAPPING, "missing_customer": "error", "products": {}}
    job = await _job(
        client,
        app,
        tenant,
        "/api/v1/opportunities/import",
        "sales_pipeline.csv",
        (MAVEN / "sales_pipeline.csv").read_bytes(),
        {"mapping": json.dumps(strict)},
    )
    source = _rows("sales_pipeline.csv")
    no_account = sum(1 for r in source if not r["account"])
    misspelt = sum(1 for r in source if r["account"] and r["product"] == "GTXPro")
    assert job["status"] == "completed"
    assert job["created_count"] + job["error_count"] == 8800
    assert job["error_count"] == no_account + misspelt == 1425 + misspelt
    first_error = job["errors"][0]
    assert first_error["row_number"] >= 1
    assert first_error["field"] in {"customer", "product"}
    assert {e["code"] for e in job["errors"]} <= {"missing", "product.unknown"}


async def test_a_mapping_that_cannot_be_used_is_refused_with_every_problem(client, make_tenant):
    tenant = await make_tenant()
    response = await client.post(
        "/api/v1/opportunities/import",
        files={"file": ("deals.csv", b"a,b\n1,2\n", CSV_MIME)},
        data={
            "mapping": json.dumps(
                {
                    "columns": {"a": "colour"},
                    "stages": {},
                    "date_format": "MDY",
                    "extra": 1,
                    "timezone": "Mars/Olympus",
                }
            )
        },
        headers=tenant.headers,
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {
        "mapping.extra",
        "mapping.columns.a",
        "mapping.columns",
        "mapping.stages",
        "mapping.date_format",
        "mapping.timezone",
    } <= fields


async def test_dates_are_days_in_the_mappings_time_zone_and_the_facts_are_listed(client, app, make_tenant):
    """A close on 3/1/2017 read in New York is 1 March there (05:00 UTC), not the day before."""
    tenant = await _maven_organization(client, app, make_tenant)
    rows = (
        "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value\n"
        "1C1I7A6R,Moses Frase,GTX Plus Basic,Cancity,Won,10/20/2016,3/1/2017,1054\n"
        "HAXMC4IX,Moses Frase,MG Advanced,Cancity,Engaging,2/28/2017,,\n"
    )
    job = await _job(
        client,
        app,
        tenant,
        "/api/v1/opportunities/import",
        "deals.csv",
        rows.encode(),
        {"mapping": json.dumps({**MAPPING, "timezone": "America/New_York"})},
    )
    assert (job["created_count"], job["error_count"]) == (2, 0)

    found = await client.get(
        "/api/v1/opportunities", params={"external_id": "1C1I7A6R"}, headers=tenant.headers
    )
    (deal,) = found.json()["items"]
    assert deal["external_id"] == "1C1I7A6R"
    assert deal["closed_at"] == "2017-03-01T05:00:00Z"
    assert deal["engaged_at"] == "2016-10-20T04:00:00Z"  # daylight saving time in October

    async def listed(**params: str) -> set[str]:
        answer = await client.get("/api/v1/opportunities", params=params, headers=tenant.headers)
        assert answer.status_code == 200, answer.text
        return {item["external_id"] for item in answer.json()["items"]}

    march_first = {"closed_from": "2017-03-01T00:00:00-05:00", "closed_to": "2017-03-02T00:00:00-05:00"}
    assert await listed(**march_first) == {"1C1I7A6R"}
    assert await listed(closed_to="2017-03-01T00:00:00-05:00") == set()
    assert await listed(status="open") == {"HAXMC4IX"}
    owner = deal["owner_id"]
    team = await client.post(
        "/api/v1/teams", json={"name": "Central", "member_ids": [owner]}, headers=tenant.headers
    )
    assert await listed(team_id=team.json()["id"], owner_id=owner) == {"1C1I7A6R", "HAXMC4IX"}

    kpi = await client.get(
        "/api/v1/kpis/rep-performance",
        params={"from": "2017-03-01", "to": "2017-03-01", "tz": "America/New_York"},
        headers=tenant.headers,
    )
    assert (kpi.json()["rows"][0]["won_count"], kpi.json()["rows"][0]["won_amount"]) == (1, "1054.00")
