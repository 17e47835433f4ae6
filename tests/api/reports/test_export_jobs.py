"""Export jobs (POST /exports): a list longer than the Accept limit written page by page to CSV or
XLSX as the user who asked, polled to done and downloaded; the caller's visibility, who may see an
export, filters checked up front, the audit entry, and runs lost or cut short."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

import openpyxl
import pytest

from app.bootstrap import build_infrastructure
from app.domain.models import ExportJob
from app.domain.reports.exports import ExportFormat, ExportStatus
from app.services.platform.unit_of_work import session_scope
from app.services.reports import exports
from tests.api.helpers import bearer, ok
from tests.conftest import PASSWORD, new_tenant, serving, sign_in
from tests.factories import lead_body
from tests.workers.burst import burst_worker


def _csv_rows(content: bytes) -> list[dict[str, str]]:
    assert content.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def _xlsx_rows(content: bytes) -> list[dict[str, Any]]:
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    header, *rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(header, row, strict=True)) for row in rows]


async def _user(
    client: Any, tenant: Any, role: str, **fields: object
) -> tuple[dict[str, Any], dict[str, str]]:
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    body = {"username": username, "display_name": username, "password": PASSWORD, "role": role, **fields}
    user = ok(await client.post("/api/v1/users", json=body, headers=tenant.headers), 201)
    return user, bearer(await sign_in(client, username))


async def _export(app: Any, client: Any, headers: dict[str, str], **body: object) -> dict[str, Any]:
    """Asks for an export, lets the job run to its end, and answers the export as polled."""
    created = await client.post("/api/v1/exports", json=body, headers=headers)
    export = ok(created, 202)
    assert created.headers["location"] == f"/api/v1/exports/{export['id']}"
    assert export["status"] in ("queued", "running", "done")
    await app.state.runtime.queue.drain()
    return ok(await client.get(created.headers["location"], headers=headers))


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pages of two rows, so a handful of leads takes the job through several pages and progress steps.
    monkeypatch.setattr(exports, "PAGE_ROWS", 2)


async def test_a_list_over_the_accept_limit_exports_by_job_as_csv_and_xlsx(
    settings, clock, engine, small_pages
):
    async with serving(settings.model_copy(update={"export_max_rows": 2}), clock) as (app, client):
        tenant = await new_tenant(app, client)
        created: list[dict[str, Any]] = []
        for number, (region, name) in enumerate(
            [
                ("华东", '=HYPERLINK("http://evil","点我")'),
                ("华南", "李雷"),
                ("华东", "韩梅梅"),
                ("华东", "王芳"),
                ("华东", "赵强"),
            ]
        ):
            lead = lead_body(phone=f"1380000010{number}", region=region, name=name, tags=["展会"])
            created.append(ok(await client.post("/api/v1/leads", json=lead, headers=tenant.headers), 201))
        formula_id = created[0]["id"]
        filters = {"region": "华东", "sort": "created_at"}
        listed = ok(
            await client.get("/api/v1/leads", params={**filters, "limit": 200}, headers=tenant.headers)
        )
        expected_ids = [lead["id"] for lead in listed["items"]]
        assert len(expected_ids) == 4

        refused = await client.get(
            "/api/v1/leads", params=filters, headers={**tenant.headers, "Accept": "text/csv"}
        )
        assert refused.status_code == 422
        assert "POST /api/v1/exports" in refused.json()["detail"]

        as_csv = await _export(app, client, tenant.headers, list="leads", filters=filters, format="csv")
        assert as_csv["status"] == "done", as_csv
        assert (as_csv["rows_written"], as_csv["total_rows"], as_csv["progress"]) == (4, 4, 1.0)
        assert (as_csv["list"], as_csv["filters"], as_csv["error"]) == ("leads", filters, None)
        assert as_csv["file_url"] == f"/api/v1/exports/{as_csv['id']}/file"
        downloaded = await client.get(as_csv["file_url"], headers=tenant.headers)
        assert downloaded.status_code == 200
        assert downloaded.headers["content-type"] == "text/csv; charset=utf-8"
        assert downloaded.headers["content-disposition"] == 'attachment; filename="leads.csv"'
        rows = _csv_rows(downloaded.content)
        assert [row["id"] for row in rows] == expected_ids
        # The same columns as the list's JSON item (and its Accept export), formulas kept as text.
        assert list(rows[0]) == list(listed["items"][0])
        formula = next(row for row in rows if row["id"] == formula_id)
        assert formula["name"] == '\'=HYPERLINK("http://evil","点我")'

        clock.now += timedelta(seconds=1)
        as_xlsx = await _export(app, client, tenant.headers, list="leads", filters=filters, format="xlsx")
        assert as_xlsx["status"] == "done", as_xlsx
        downloaded = await client.get(as_xlsx["file_url"], headers=tenant.headers)
        assert downloaded.headers["content-disposition"] == 'attachment; filename="leads.xlsx"'
        cells = _xlsx_rows(downloaded.content)
        assert [row["id"] for row in cells] == expected_ids
        formula = next(row for row in cells if row["id"] == formula_id)
        assert formula["name"] == '\'=HYPERLINK("http://evil","点我")'

        # Each export is one audit entry, as the Accept path records it, with the export's id.
        entries = ok(
            await client.get(
                "/api/v1/audit-events", params={"action": "records.exported"}, headers=tenant.headers
            )
        )["items"]
        by_id = {entry["entity_id"]: entry for entry in entries}
        assert set(by_id) == {as_csv["id"], as_xlsx["id"]}
        assert by_id[as_csv["id"]]["actor_id"] == str(tenant.admin_id)
        assert by_id[as_csv["id"]]["after"] == {
            "resource": "leads",
            "format": "csv",
            "filters": filters,
            "rows": 4,
        }

        mine = ok(await client.get("/api/v1/exports", headers=tenant.headers))["items"]
        assert [export["id"] for export in mine] == [as_xlsx["id"], as_csv["id"]]


async def test_a_reps_export_holds_only_their_records_and_only_they_and_admins_see_it(
    settings, clock, engine, small_pages
):
    async with serving(settings, clock) as (app, client):
        tenant = await new_tenant(app, client)
        rep, rep_headers = await _user(client, tenant, "rep")
        other, other_headers = await _user(client, tenant, "rep", email="other@example.com")
        _director, director_headers = await _user(client, tenant, "director", email="dir@example.com")
        for number, owner in enumerate([rep, rep, rep, other, other]):
            customer = {"name": f"申华建材{number}号有限公司", "owner_id": owner["id"]}
            ok(await client.post("/api/v1/customers", json=customer, headers=tenant.headers), 201)
        reps_list = ok(await client.get("/api/v1/customers", params={"limit": 200}, headers=rep_headers))[
            "items"
        ]
        assert [customer["owner_id"] for customer in reps_list] == [rep["id"]] * 3

        export = await _export(app, client, rep_headers, list="customers")
        assert export["status"] == "done", export
        rows = _csv_rows((await client.get(export["file_url"], headers=rep_headers)).content)
        assert sorted(row["id"] for row in rows) == sorted(customer["id"] for customer in reps_list)

        for headers in (other_headers, director_headers):
            for path in (f"/api/v1/exports/{export['id']}", export["file_url"]):
                hidden = await client.get(path, headers=headers)
                assert hidden.status_code == 404, hidden.text
                assert hidden.headers["content-type"] == "application/problem+json"
            assert ok(await client.get("/api/v1/exports", headers=headers))["items"] == []
        assert (
            ok(await client.get(f"/api/v1/exports/{export['id']}", headers=tenant.headers))["status"]
            == "done"
        )
        assert (await client.get(export["file_url"], headers=tenant.headers)).status_code == 200


async def test_filters_are_checked_as_the_list_checks_them_when_the_export_is_asked_for(
    settings, clock, engine
):
    async with serving(settings, clock) as (app, client):
        tenant = await new_tenant(app, client)
        _rep, rep_headers = await _user(client, tenant, "marketing")
        cases = [
            ({"list": "leads", "filters": {"colour": "red"}}, "filters.colour", "parameter.unknown"),
            ({"list": "leads", "filters": {"status": ["new", "sold"]}}, "filters.status", "enum"),
            ({"list": "leads", "filters": {"created_from": "yesterday"}}, "filters.created_from", None),
            ({"list": "leads", "filters": {"limit": "5"}}, "filters.limit", "parameter.unknown"),
            ({"list": "users", "filters": {"is_active": "yes"}}, "filters.is_active", None),
            ({"list": "contacts", "filters": {}}, "filters.customer_id", "missing"),
            ({"list": "pipelines"}, "list", "export.unknown_list"),
            ({"list": "leads", "format": "pdf"}, "format", None),
        ]
        for body, field, code in cases:
            refused = await client.post("/api/v1/exports", json=body, headers=tenant.headers)
            assert refused.status_code == 422, (body, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
            errors = refused.json()["errors"]
            assert field in [error["field"] for error in errors], (body, errors)
            if code is not None:
                assert code in [error["code"] for error in errors], (body, errors)
        # A list the caller may not read answers as the list does: 403.
        forbidden = await client.post("/api/v1/exports", json={"list": "audit-events"}, headers=rep_headers)
        assert forbidden.status_code == 403, forbidden.text
        # Refused, so nothing was queued.
        assert ok(await client.get("/api/v1/exports", headers=tenant.headers))["items"] == []
        assert ok(await client.get("/api/v1/exports", headers=rep_headers))["items"] == []


async def test_every_list_that_answers_a_file_exports_by_job(settings, clock, engine):
    async with serving(settings, clock) as (app, client):
        tenant = await new_tenant(app, client)
        customer = ok(
            await client.post(
                "/api/v1/customers", json={"name": "上海申华建材有限公司"}, headers=tenant.headers
            ),
            201,
        )
        ok(
            await client.post(
                f"/api/v1/customers/{customer['id']}/contacts",
                json={"name": "王经理"},
                headers=tenant.headers,
            ),
            201,
        )
        lists = sorted(app.state.runtime.list_reader.lists())
        assert lists == [
            "activities",
            "audit-events",
            "contacts",
            "customers",
            "lead-pool",
            "leads",
            "opportunities",
            "quotes",
            "tasks",
            "users",
        ]
        for name in lists:
            filters = {"customer_id": customer["id"]} if name == "contacts" else {}
            json_list = ok(
                await client.get(
                    f"/api/v1/customers/{customer['id']}/contacts"
                    if name == "contacts"
                    else f"/api/v1/{name}",
                    params={"limit": 200},
                    headers=tenant.headers,
                )
            )["items"]
            export = await _export(app, client, tenant.headers, list=name, filters=filters, format="xlsx")
            assert export["status"] == "done", (name, export)
            downloaded = await client.get(export["file_url"], headers=tenant.headers)
            assert downloaded.status_code == 200, (name, downloaded.text)
            assert len(_xlsx_rows(downloaded.content)) == export["rows_written"] == len(json_list), name


async def test_a_file_is_there_only_once_the_export_is_done(settings, clock, engine):
    async with serving(settings, clock) as (app, client):
        tenant = await new_tenant(app, client)
        runtime = app.state.runtime
        async with session_scope(runtime.sessionmaker, runtime.queue) as session:
            waiting = ExportJob(
                organization_id=tenant.organization_id,
                created_by_id=tenant.admin_id,
                list_name="leads",
                format=ExportFormat.csv,
            )
            session.add(waiting)
        not_ready = await client.get(f"/api/v1/exports/{waiting.id}/file", headers=tenant.headers)
        assert not_ready.status_code == 409
        assert not_ready.json()["code"] == "export.not_ready"
        shown = ok(await client.get(f"/api/v1/exports/{waiting.id}", headers=tenant.headers))
        assert (shown["status"], shown["progress"], shown["file_url"]) == ("queued", None, None)


async def test_a_run_lost_or_cut_short_is_run_again_by_the_sweep_and_fails_after_three_starts(
    settings, clock, engine
):
    async with serving(settings, clock) as (app, client):
        tenant = await new_tenant(app, client)
        ok(
            await client.post("/api/v1/leads", json=lead_body(phone="13700000001"), headers=tenant.headers),
            201,
        )
        runtime = app.state.runtime
        async with session_scope(runtime.sessionmaker, runtime.queue) as session:
            # Its worker died mid-way: running, one start made, no progress for a while.
            cut_short = ExportJob(
                organization_id=tenant.organization_id,
                created_by_id=tenant.admin_id,
                list_name="leads",
                format=ExportFormat.csv,
                status=ExportStatus.running,
                attempts=1,
            )
            worn_out = ExportJob(
                organization_id=tenant.organization_id,
                created_by_id=tenant.admin_id,
                list_name="leads",
                format=ExportFormat.csv,
                status=ExportStatus.running,
                attempts=3,
            )
            session.add_all([cut_short, worn_out])
        async with session_scope(runtime.sessionmaker, runtime.queue) as session:
            assert await exports.stale_exports(session, now=clock()) == []  # still moving, as far as we know
            clock.now += exports.STALE_AFTER + timedelta(seconds=1)
            stale = await exports.stale_exports(session, now=clock())
        assert {job.args[0] for job in stale} == {str(cut_short.id), str(worn_out.id)}
        for job in stale:
            await runtime.queue.enqueue(job)
        await runtime.queue.drain()

        rerun = ok(await client.get(f"/api/v1/exports/{cut_short.id}", headers=tenant.headers))
        assert (rerun["status"], rerun["rows_written"]) == ("done", 1)
        failed = ok(await client.get(f"/api/v1/exports/{worn_out.id}", headers=tenant.headers))
        assert failed["status"] == "failed"
        assert "interrupted 3 times" in failed["error"]
        refused = await client.get(f"/api/v1/exports/{worn_out.id}/file", headers=tenant.headers)
        assert refused.status_code == 409
        assert refused.json()["code"] == "export.failed"


async def test_another_organizations_customer_and_an_api_key_are_refused_and_nothing_is_queued(
    settings, clock, engine
):
    async with serving(settings, clock) as (app, client):
        tenant = await new_tenant(app, client)
        foreign = await new_tenant(app, client, "Other Co")
        theirs = ok(
            await client.post("/api/v1/customers", json={"name": "外部公司"}, headers=foreign.headers), 201
        )
        hidden = await client.post(
            "/api/v1/exports",
            json={"list": "contacts", "filters": {"customer_id": theirs["id"]}},
            headers=tenant.headers,
        )
        assert hidden.status_code == 404, hidden.text
        assert hidden.headers["content-type"] == "application/problem+json"

        key = {"name": "BI", "scopes": ["leads:read"]}
        secret = ok(await client.post("/api/v1/api-keys", json=key, headers=tenant.headers), 201)["secret"]
        refused = await client.post("/api/v1/exports", json={"list": "leads"}, headers=bearer(secret))
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "export.user_only"
        assert ok(await client.get("/api/v1/exports", headers=tenant.headers))["items"] == []


async def test_an_arq_worker_runs_the_export_job(settings, clock, engine, redis_url, small_pages):
    """The same job under arq on Redis: the API enqueues it, a worker with the composition root's
    context writes the file the API then serves."""
    with_redis = settings.model_copy(update={"redis_url": redis_url})
    async with serving(with_redis, clock) as (app, client):
        tenant = await new_tenant(app, client)
        for number in range(5):
            ok(
                await client.post(
                    "/api/v1/leads", json=lead_body(phone=f"1360000000{number}"), headers=tenant.headers
                ),
                201,
            )
        created = ok(
            await client.post("/api/v1/exports", json={"list": "leads"}, headers=tenant.headers), 202
        )

        infrastructure = build_infrastructure(with_redis, clock=clock)
        worker = burst_worker(redis_url, infrastructure.job_context(app.state.runtime.queue), poll_delay=0)
        try:
            await worker.main()
        finally:
            await worker.close()
            await infrastructure.aclose()

        export = ok(await client.get(f"/api/v1/exports/{created['id']}", headers=tenant.headers))
        assert (export["status"], export["rows_written"]) == ("done", 5)
        listed = ok(await client.get("/api/v1/leads", params={"limit": 200}, headers=tenant.headers))["items"]
        rows = _csv_rows((await client.get(export["file_url"], headers=tenant.headers)).content)
        assert [row["id"] for row in rows] == [lead["id"] for lead in listed]
