"""Lists as CSV and XLSX files (Accept): the same rows as the JSON list with the same filters, every
page, formula-leading cells kept as text, the caller's visibility, the row limit, the audit entry."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import openpyxl

from app.services.platform import pagination
from tests.api.helpers import bearer, ok
from tests.conftest import new_tenant, serving
from tests.factories import lead_body

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _csv_rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith("\ufeff".encode())  # Excel reads UTF-8 by its BOM
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def _xlsx_rows(response: Any) -> tuple[list[dict[str, Any]], Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header, *rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(header, row, strict=True)) for row in rows], sheet


async def test_csv_and_xlsx_hold_the_json_lists_rows_with_the_same_filters_and_order(client, make_tenant):
    tenant = await make_tenant()
    ids: list[str] = []
    for phone, region, name in (
        ("13800000001", "华东", '=HYPERLINK("http://evil","点我")'),
        ("13800000002", "华南", "李雷"),
        ("13800000003", "华东", "韩梅梅"),
    ):
        created = await client.post(
            "/api/v1/leads",
            json=lead_body(phone=phone, region=region, name=name, tags=["展会", "重点"]),
            headers=tenant.headers,
        )
        ids.append(ok(created, 201)["id"])
    params = {"region": "华东", "sort": "created_at", "limit": 1}
    listed = ok(await client.get("/api/v1/leads", params={**params, "limit": 200}, headers=tenant.headers))
    expected_ids = [lead["id"] for lead in listed["items"]]
    assert len(expected_ids) == 2

    as_csv = await client.get(
        "/api/v1/leads", params=params, headers={**tenant.headers, "Accept": "text/csv"}
    )
    rows = _csv_rows(as_csv)
    assert as_csv.headers["content-disposition"] == 'attachment; filename="leads.csv"'
    # Every page, from the first, whatever the page size asked for; one column per field of a row.
    assert [row["id"] for row in rows] == expected_ids
    assert list(rows[0]) == list(listed["items"][0])
    formula = next(row for row in rows if row["id"] == ids[0])
    assert formula["name"] == '\'=HYPERLINK("http://evil","点我")'
    assert json.loads(rows[0]["tags"]) == ["展会", "重点"]
    assert {row["region"] for row in rows} == {"华东"}

    as_xlsx = await client.get("/api/v1/leads", params=params, headers={**tenant.headers, "Accept": XLSX})
    assert as_xlsx.headers["content-disposition"] == 'attachment; filename="leads.xlsx"'
    cells, sheet = _xlsx_rows(as_xlsx)
    assert [row["id"] for row in cells] == expected_ids
    at = next(number for number, row in enumerate(cells) if row["id"] == ids[0])
    assert cells[at]["name"] == '\'=HYPERLINK("http://evil","点我")'
    assert sheet.cell(row=at + 2, column=list(cells[at]).index("name") + 1).data_type == "s"  # no formula
    assert json.loads(cells[1]["tags"]) == ["展会", "重点"]

    # JSON stays the answer unless a file is preferred.
    either = await client.get(
        "/api/v1/leads", params=params, headers={**tenant.headers, "Accept": "application/json, text/csv"}
    )
    assert either.headers["content-type"] == "application/json"
    assert len(either.json()["items"]) == 1
    for answer in (either, as_csv, as_xlsx):  # one URL, two representations: caches keep them apart
        assert "Accept" in answer.headers["vary"]


async def test_a_rep_exports_only_the_leads_they_see(client, make_tenant, make_user):
    tenant = await make_tenant()
    _, rep_token = await make_user(tenant, "rep")
    _, other_token = await make_user(tenant, "rep")
    mine = ok(
        await client.post("/api/v1/leads", json=lead_body(phone="13800000011"), headers=bearer(rep_token)),
        201,
    )
    ok(
        await client.post("/api/v1/leads", json=lead_body(phone="13800000012"), headers=bearer(other_token)),
        201,
    )

    rows = _csv_rows(await client.get("/api/v1/leads", headers={**bearer(rep_token), "Accept": "text/csv"}))
    assert [row["id"] for row in rows] == [mine["id"]]
    everything = _csv_rows(
        await client.get("/api/v1/leads", headers={**tenant.headers, "Accept": "text/csv"})
    )
    assert len(everything) == 2


async def test_each_export_is_an_audit_entry_naming_who_which_list_filters_and_rows(client, make_tenant):
    tenant = await make_tenant()
    for phone in ("13800000021", "13800000022"):
        ok(
            await client.post(
                "/api/v1/leads", json=lead_body(phone=phone, region="华北"), headers=tenant.headers
            ),
            201,
        )
    exported = await client.get(
        "/api/v1/leads",
        params=[("region", "华北"), ("source", "exhibition"), ("source", "referral")],
        headers={**tenant.headers, "Accept": XLSX},
    )
    assert exported.status_code == 200, exported.text

    entries = ok(
        await client.get(
            "/api/v1/audit-events", params={"action": "records.exported"}, headers=tenant.headers
        )
    )["items"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["actor_id"] == str(tenant.admin_id)
    assert entry["entity_type"] == "export"
    assert entry["entity_id"] == exported.headers["x-export-id"]
    assert entry["after"] == {
        "resource": "leads",
        "format": "xlsx",
        "filters": {"region": "华北", "source": ["exhibition", "referral"]},
        "rows": 2,
    }


async def test_every_main_list_answers_csv_with_its_row_schemas_columns(app, client, make_tenant):
    tenant = await make_tenant()
    customer = ok(
        await client.post("/api/v1/customers", json={"name": "上海建材有限公司"}, headers=tenant.headers), 201
    )
    ok(await client.post("/api/v1/leads", json=lead_body(phone="13800000031"), headers=tenant.headers), 201)
    await _one_of_each(client, tenant.headers, customer["id"])
    await app.state.runtime.queue.drain()  # the new lead has gone to the pool before either read
    paths = [
        "/api/v1/leads",
        "/api/v1/lead-pool",
        "/api/v1/customers",
        f"/api/v1/customers/{customer['id']}/contacts",
        "/api/v1/opportunities",
        "/api/v1/activities",
        "/api/v1/tasks",
        "/api/v1/quotes",
        "/api/v1/users",
        "/api/v1/audit-events",
    ]
    for path in paths:
        as_json = ok(await client.get(path, headers=tenant.headers))
        response = await client.get(path, headers={**tenant.headers, "Accept": "text/csv"})
        rows = _csv_rows(response)
        assert len(rows) == len(as_json["items"]), path
        header = next(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert as_json["items"], path
        assert header == list(as_json["items"][0]), path


async def _one_of_each(client, headers: dict[str, str], customer_id: str) -> None:  # type: ignore[no-untyped-def]
    """A contact, a deal with a quote, a task and an activity: every list has a row to compare."""
    post = client.post
    ok(await post(f"/api/v1/customers/{customer_id}/contacts", json={"name": "李娜"}, headers=headers), 201)
    deal = ok(
        await post(
            "/api/v1/opportunities", json={"name": "屋面", "customer_id": customer_id}, headers=headers
        ),
        201,
    )
    product = {"sku": "JS-1", "name": "涂料", "list_price": "30.0000"}
    product_id = ok(await post("/api/v1/products", json=product, headers=headers), 201)["id"]
    line = {"product_id": product_id, "quantity": "10", "unit_price": "40"}
    ok(
        await post("/api/v1/quotes", json={"opportunity_id": deal["id"], "lines": [line]}, headers=headers),
        201,
    )
    task = {"title": "回访", "due_at": "2026-11-30T10:00:00+08:00", "opportunity_id": deal["id"]}
    ok(await post("/api/v1/tasks", json=task, headers=headers), 201)
    activity = {
        "type": "note",
        "occurred_at": "2026-11-23T01:00:00Z",
        "customer_id": customer_id,
        "notes": "现场",
    }
    ok(await post("/api/v1/activities", json=activity, headers=headers), 201)


async def test_more_rows_than_the_limit_answer_422_asking_for_narrower_filters(settings, clock, engine):
    async with serving(settings.model_copy(update={"export_max_rows": 2}), clock) as (app, client):
        tenant = await new_tenant(app, client)
        for phone in ("13800000041", "13800000042"):
            ok(await client.post("/api/v1/leads", json=lead_body(phone=phone), headers=tenant.headers), 201)
        at_limit = await client.get("/api/v1/leads", headers={**tenant.headers, "Accept": "text/csv"})
        assert len(_csv_rows(at_limit)) == 2

        ok(
            await client.post("/api/v1/leads", json=lead_body(phone="13800000043"), headers=tenant.headers),
            201,
        )
        over = await client.get("/api/v1/leads", headers={**tenant.headers, "Accept": XLSX})
        assert over.status_code == 422, over.text
        assert over.headers["content-type"] == "application/problem+json"
        problem = over.json()
        assert problem["code"] == "export.too_many_rows"
        assert "POST /api/v1/exports" in problem["detail"]
        assert "created_from/created_to" in problem["detail"]
        assert problem["errors"][0]["field"] == "Accept"
        # Refused, so not exported: nothing in the audit trail.
        entries = ok(
            await client.get(
                "/api/v1/audit-events", params={"action": "records.exported"}, headers=tenant.headers
            )
        )["items"]
        assert len(entries) == 1


async def test_an_export_takes_updated_since_and_sort_by_updated_at_and_counts_nothing(
    app, client, make_tenant, monkeypatch
):
    tenant = await make_tenant()
    for phone in ("13800000051", "13800000052", "13800000053"):
        ok(await client.post("/api/v1/leads", json=lead_body(phone=phone), headers=tenant.headers), 201)
    await app.state.runtime.queue.drain()  # the new leads have gone to the pool before either read
    params = {"updated_since": "2026-01-01T00:00:00Z", "sort": "-updated_at", "include": "total"}
    listed = ok(await client.get("/api/v1/leads", params={**params, "limit": 200}, headers=tenant.headers))
    assert listed["total"] == len(listed["items"]) == 3

    def no_count(*_: object, **__: object) -> None:
        raise AssertionError("an export reads every page: it has no use for include=total")

    monkeypatch.setattr(pagination, "count_capped", no_count)
    as_csv = {**tenant.headers, "Accept": "text/csv"}
    response = await client.get("/api/v1/leads", params={**params, "limit": 1}, headers=as_csv)
    assert [row["id"] for row in _csv_rows(response)] == [lead["id"] for lead in listed["items"]]
    future = {**params, "updated_since": "2099-01-01T00:00:00Z"}
    assert _csv_rows(await client.get("/api/v1/leads", params=future, headers=as_csv)) == []
