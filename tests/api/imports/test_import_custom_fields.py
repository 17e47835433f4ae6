"""Lead and customer imports fill the organization's custom fields from mapped columns
(`custom_fields.<key>`), each cell read by its field's type and checked as the API checks it: a bad
or missing required value refuses its row, reported by number, and the other rows import."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

import httpx
import openpyxl

from tests.api.helpers import ok

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_LEAD_FIELDS = [
    {"key": "site_area", "type": "number", "required": True},
    {"key": "visit_on", "type": "date"},
    {"key": "is_developer", "type": "boolean"},
    {"key": "grade", "type": "choice", "options": ["甲", "乙"]},
]
_LEAD_MAPPING = {
    "面积": "custom_fields.site_area",
    "看房日期": "custom_fields.visit_on",
    "是否开发商": "custom_fields.is_developer",
    "等级": "custom_fields.grade",
}


def _xlsx(rows: list[list[Any]]) -> bytes:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def _define(client: httpx.AsyncClient, headers: dict[str, str], entity: str, fields: list) -> None:
    settings = {"custom_fields": {entity: fields}}
    ok(await client.patch("/api/v1/organization", json={"settings": settings}, headers=headers))


async def _import(
    client: httpx.AsyncClient, app, headers: dict[str, str], path: str, file: tuple, mapping: dict
) -> dict:
    started = await client.post(
        path, files={"file": file}, data={"column_mapping": json.dumps(mapping)}, headers=headers
    )
    job = ok(started, 202)
    await app.state.runtime.queue.drain()
    return dict(ok(await client.get(f"/api/v1/import-jobs/{job['id']}", headers=headers)))


def _errors(job: dict) -> set[tuple[int, str, str]]:
    return {(e["row_number"], e["field"], e["code"]) for e in job["errors"]}


async def test_a_lead_import_fills_custom_fields_and_reports_bad_cells_by_row(client, app, make_tenant):
    tenant = await make_tenant()
    await _define(client, tenant.headers, "lead", _LEAD_FIELDS)
    content = _xlsx(
        [
            ["姓名", "手机", "面积", "看房日期", "是否开发商", "等级"],
            ["张伟", "13800138000", 1200, datetime(2026, 12, 1), "是", "甲"],  # row 1
            ["李娜", "13800138001", "很大", None, None, None],  # row 2: not a number
            ["王强", "13800138002", None, "2026-12-02", "否", "乙"],  # row 3: required, empty
            ["赵敏", "13800138003", "80.5", "12/03", "maybe", "丙"],  # row 4: three wrong cells
            ["钱坤", "13800138004", "300", None, "no", None],  # row 5
        ]
    )
    job = await _import(
        client, app, tenant.headers, "/api/v1/leads/import", ("leads.xlsx", content, XLSX_MIME), _LEAD_MAPPING
    )

    assert (job["status"], job["created_count"], job["error_count"]) == ("completed", 2, 5), job["errors"]
    assert _errors(job) == {
        (2, "custom_fields.site_area", "custom_field.invalid"),
        (3, "custom_fields.site_area", "missing"),
        (4, "custom_fields.visit_on", "custom_field.invalid"),
        (4, "custom_fields.is_developer", "custom_field.invalid"),
        (4, "custom_fields.grade", "custom_field.invalid"),
    }
    leads = ok(await client.get("/api/v1/leads", headers=tenant.headers))["items"]
    assert {lead["name"]: lead["custom_fields"] for lead in leads} == {
        # A number cell keeps its text, as web forms and the opportunity import store it.
        "张伟": {"site_area": "1200", "visit_on": "2026-12-01", "is_developer": True, "grade": "甲"},
        "钱坤": {"site_area": "300", "is_developer": False},
    }


async def test_a_column_for_a_field_the_organization_does_not_define_refuses_its_rows(
    client, app, make_tenant
):
    tenant = await make_tenant()
    content = "姓名,手机,颜色\n张伟,13800138000,红\n李娜,13800138001,\n"
    job = await _import(
        client,
        app,
        tenant.headers,
        "/api/v1/leads/import",
        ("leads.csv", content.encode(), "text/csv"),
        {"颜色": "custom_fields.colour"},
    )
    assert (job["created_count"], _errors(job)) == (1, {(1, "custom_fields.colour", "custom_field.unknown")})

    refused = await client.post(
        "/api/v1/leads/import",
        files={"file": ("leads.csv", content.encode(), "text/csv")},
        data={"column_mapping": json.dumps({"颜色": "custom_fields."})},
        headers=tenant.headers,
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"field": "column_mapping", "code": "field.unknown", "message": "custom_fields."}
    ]


async def test_a_customer_import_checks_required_custom_fields(client, app, make_tenant):
    tenant = await make_tenant()
    await _define(
        client,
        tenant.headers,
        "customer",
        [{"key": "segment", "type": "choice", "options": ["经销", "直销"], "required": True}],
    )
    content = "客户名称,渠道类型\n申华建材,经销\n燕山建材,\n华南防水,=1+1\n"
    job = await _import(
        client,
        app,
        tenant.headers,
        "/api/v1/customers/import",
        ("customers.csv", content.encode(), "text/csv"),
        {"客户名称": "name", "渠道类型": "custom_fields.segment"},
    )
    assert (job["created_count"], _errors(job)) == (
        1,
        {(2, "custom_fields.segment", "missing"), (3, "custom_fields.segment", "custom_field.invalid")},
    )
    (customer,) = ok(await client.get("/api/v1/customers", headers=tenant.headers))["items"]
    assert (customer["name"], customer["custom_fields"]) == ("申华建材", {"segment": "经销"})

    # A file without the column: every row lacks the required field, and none is imported.
    unmapped = await _import(
        client,
        app,
        tenant.headers,
        "/api/v1/customers/import",
        ("customers.csv", "name\n东方建材\n".encode(), "text/csv"),
        {},
    )
    assert (unmapped["created_count"], _errors(unmapped)) == (0, {(1, "custom_fields.segment", "missing")})
