"""Excel/CSV imports reporting bad rows by number, resuming without duplicates; attachments."""

from __future__ import annotations

import io
import uuid

import openpyxl
import pytest
from sqlalchemy import func, select

from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.models import ImportJob, ImportKind, ImportStatus, Lead
from app.services.imports import imports
from app.services.platform.unit_of_work import session_scope
from app.workers.jobs import resume_imports
from tests.conftest import NullQueue
from tests.workbooks import BOMBS

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64


def _xlsx(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _import(client, tenant, app, content: bytes, filename: str, mapping: str | None = None) -> dict:
    data = {"column_mapping": mapping} if mapping else {}
    started = await client.post(
        "/api/v1/leads/import",
        files={"file": (filename, content, XLSX_MIME)},
        data=data,
        headers=tenant.headers,
    )
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "queued"
    await app.state.runtime.queue.drain()
    job = await client.get(f"/api/v1/import-jobs/{started.json()['id']}", headers=tenant.headers)
    assert job.status_code == 200
    return job.json()


async def test_xlsx_import_reports_each_bad_row_by_number(client, make_tenant, app):
    tenant = await make_tenant()
    existing = await client.post(
        "/api/v1/leads",
        json={"name": "老客户", "source": "referral", "phone": "13900139000"},
        headers=tenant.headers,
    )
    assert existing.status_code == 201
    content = _xlsx(
        [
            ["姓名", "公司名称", "手机", "邮箱", "来源", "区域", "预算"],
            [
                "张伟",
                "上海申华建材有限公司",
                "138-0013-8000",
                "zw@example.com",
                "展会",
                "华东",
                "250000",
            ],  # row 1
            [None, "无名公司", "13700137000", None, "展会", "华东", None],  # row 2: missing name
            ["李娜", "北京燕山建材", "12345", None, "广告", "华北", None],  # row 3: bad phone
            [
                "王强",
                "申华建材",
                "+86 138 0013 8000",
                None,
                "展会",
                "华东",
                None,
            ],  # row 4: duplicate of row 1
            ["赵敏", "老客户公司", "8613900139000", None, "推荐", "华南", None],  # row 5: existing lead
            ["孙丽", "广州建材", "13600136000", None, "官网", "华南", "不知道"],  # row 6: bad budget
            ["周杰", "深圳建材", 13500135000, None, None, "华南", 80000],  # row 7: numeric phone cell
        ]
    )
    job = await _import(client, tenant, app, content, "展会线索.xlsx")
    assert job["status"] == "completed"
    assert job["total_rows"] == 7
    assert job["processed_rows"] == 7
    assert job["created_count"] == 2
    assert job["duplicate_count"] == 2
    assert job["error_count"] == 3
    by_row = {(e["row_number"], e["field"], e["code"]) for e in job["errors"]}
    assert by_row == {
        (2, "name", "missing"),
        (3, "phone", "phone.invalid"),
        (4, "phone", "duplicate"),
        (5, "phone", "duplicate"),
        (6, "budget", "number.invalid"),
    }
    messages = {e["row_number"]: e["message"] for e in job["errors"]}
    assert messages[4] == "duplicate of row 1"
    assert messages[5] == f"duplicate of existing lead {existing.json()['id']}"

    leads = await client.get("/api/v1/leads", params={"source": "exhibition"}, headers=tenant.headers)
    [zhang] = leads.json()["items"]
    assert zhang["phone"] == "+8613800138000"
    assert zhang["budget"] == "250000.00"
    zhou = await client.get("/api/v1/leads", params={"q": "周杰"}, headers=tenant.headers)
    assert zhou.json()["items"][0]["phone"] == "+8613500135000"
    assert zhou.json()["items"][0]["source"] == "import"

    errors_page = await client.get(
        f"/api/v1/import-jobs/{job['id']}/errors", params={"limit": 2}, headers=tenant.headers
    )
    assert [e["row_number"] for e in errors_page.json()["items"]] == [2, 3]
    assert errors_page.json()["next_cursor"]


async def test_csv_in_gbk_with_a_column_mapping(client, make_tenant, app):
    tenant = await make_tenant()
    csv_text = "客户名称,手机号码,客户单位\n陈晨,13800138000,杭州建材\n"
    job = await _import(
        client,
        tenant,
        app,
        csv_text.encode("gb18030"),
        "leads.csv",
        mapping='{"客户名称": "name", "客户单位": "company"}',
    )
    assert job["status"] == "completed", job
    assert job["created_count"] == 1
    lead = (await client.get("/api/v1/leads", headers=tenant.headers)).json()["items"][0]
    assert (lead["name"], lead["company"]) == ("陈晨", "杭州建材")


async def test_import_without_a_name_column_fails_with_a_reason(client, make_tenant, app):
    tenant = await make_tenant()
    job = await _import(client, tenant, app, _xlsx([["foo", "bar"], ["1", "2"]]), "x.xlsx")
    assert job["status"] == "failed"
    assert "name" in job["failure"]
    bad_type = await client.post(
        "/api/v1/leads/import",
        files={"file": ("x.exe", b"MZ", "application/octet-stream")},
        headers=tenant.headers,
    )
    assert bad_type.status_code == 422
    bad_mapping = await client.post(
        "/api/v1/leads/import",
        files={"file": ("x.csv", b"name\nx\n", "text/csv")},
        data={"column_mapping": '{"x": "salary"}'},
        headers=tenant.headers,
    )
    assert bad_mapping.status_code == 422
    assert bad_mapping.json()["errors"][0]["message"] == "salary"


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("bombs")
    return {name: build(folder / f"{name}.xlsx").read_bytes() for name, (build, _) in BOMBS.items()}


@pytest.mark.parametrize("bomb", sorted(BOMBS))
async def test_a_workbook_that_expands_beyond_the_bounds_fails_the_job_with_the_reason(
    client, make_tenant, app, bombs, bomb
):
    tenant = await make_tenant()
    job = await _import(client, tenant, app, bombs[bomb], f"{bomb}.xlsx")
    assert job["status"] == "failed"
    assert BOMBS[bomb][1] in job["failure"]
    assert (job["processed_rows"], job["created_count"]) == (0, 0)
    leads = await client.get("/api/v1/leads", headers=tenant.headers)
    assert leads.json()["items"] == []


async def test_legacy_workbook_formats_are_refused_at_upload(client, make_tenant):
    tenant = await make_tenant()
    for filename in ("old.xls", "calc.ods"):
        refused = await client.post(
            "/api/v1/leads/import",
            files={"file": (filename, b"\xd0\xcf\x11\xe0", "application/vnd.ms-excel")},
            headers=tenant.headers,
        )
        assert refused.status_code == 422
        assert refused.json()["code"] == "import.file_type"
        assert ".xlsx" in refused.json()["detail"]


async def test_a_resumed_import_never_imports_a_row_twice(app, make_tenant, clock, client, monkeypatch):
    tenant = await make_tenant()
    runtime = app.state.runtime
    rows = [["姓名", "手机"]] + [[f"客户{i}", f"1380013{i:04d}"] for i in range(10)]
    started = await client.post(
        "/api/v1/leads/import", files={"file": ("r.xlsx", _xlsx(rows), XLSX_MIME)}, headers=tenant.headers
    )
    job_id = uuid.UUID(started.json()["id"])
    await runtime.queue.drain()  # first run completes
    async with runtime.sessionmaker() as session:
        first = await session.scalar(select(func.count()).select_from(Lead))
    assert first == 10

    # Rewind the job to "crashed after the first chunk of 4 rows" and run it again, in chunks of 4.
    monkeypatch.setattr(imports, "CHUNK_SIZE", 4)
    async with runtime.sessionmaker() as session:
        job = await session.get_one(ImportJob, job_id)
        job.status = ImportStatus.running
        job.processed_rows = 4
        await session.commit()
        await session.execute(
            Lead.__table__.delete().where(Lead.phone.in_([f"+86138001300{i:02d}" for i in range(4, 10)]))
        )
        await session.commit()
    status = await imports.run_import(
        runtime.sessionmaker, NullQueue(), job_id=job_id, clock=clock, storage=runtime.storage
    )
    assert status is ImportStatus.completed
    async with runtime.sessionmaker() as session:
        total = await session.scalar(select(func.count()).select_from(Lead))
        job = await session.get_one(ImportJob, job_id)
    assert total == 10
    assert job.processed_rows == 10
    again = await imports.run_import(
        runtime.sessionmaker, NullQueue(), job_id=job_id, clock=clock, storage=runtime.storage
    )
    assert again is ImportStatus.completed


async def test_an_import_whose_run_was_lost_is_run_by_the_sweep(app, make_tenant, client):
    tenant = await make_tenant()
    runtime = app.state.runtime
    lost = NullQueue()  # the run goes nowhere, as with Redis down or the process gone
    async with session_scope(runtime.sessionmaker, lost) as session:
        job = await imports.start_import(
            session,
            actor=Principal.for_user(tenant.organization_id, tenant.admin_id, Role.admin),
            kind=ImportKind.leads,
            filename="lost.csv",
            content="name,phone\n陈晨,13800138000\n".encode(),
            column_mapping={},
            storage=runtime.storage,
        )
    assert [request.function for request in lost.jobs] == ["run_import"]

    context = {"sessionmaker": runtime.sessionmaker, "queue": runtime.queue, "clock": runtime.clock}
    assert await resume_imports(context) == 1
    await runtime.queue.drain()
    ran = await client.get(f"/api/v1/import-jobs/{job.id}", headers=tenant.headers)
    assert (ran.json()["status"], ran.json()["created_count"]) == ("completed", 1)
    assert await resume_imports(context) == 0


async def test_attachments_are_checked_by_content_and_served_only_to_who_sees_the_parent(
    client, make_tenant, make_user
):
    tenant = await make_tenant()
    _, rep_token = await make_user(tenant, "rep")
    _, other_token = await make_user(tenant, "rep")
    rep_auth = {"Authorization": f"Bearer {rep_token}"}
    customer = await client.post("/api/v1/customers", json={"name": "现场客户"}, headers=rep_auth)
    uploaded = await client.post(
        "/api/v1/attachments",
        files={"file": ("site.jpg", PNG, "image/jpeg")},
        data={"parent_type": "customer", "parent_id": customer.json()["id"]},
        headers=rep_auth,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["content_type"] == "image/png"  # the bytes decide, not the name
    assert uploaded.json()["size_bytes"] == len(PNG)
    import hashlib

    assert uploaded.json()["sha256"] == hashlib.sha256(PNG).hexdigest()

    downloaded = await client.get(f"/api/v1/attachments/{uploaded.json()['id']}", headers=rep_auth)
    assert downloaded.status_code == 200
    assert downloaded.content == PNG
    assert downloaded.headers["content-type"] == "image/png"
    hidden = await client.get(
        f"/api/v1/attachments/{uploaded.json()['id']}", headers={"Authorization": f"Bearer {other_token}"}
    )
    assert hidden.status_code == 404

    exe = await client.post(
        "/api/v1/attachments",
        files={"file": ("photo.jpg", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 100, "image/jpeg")},
        data={"parent_type": "customer", "parent_id": customer.json()["id"]},
        headers=rep_auth,
    )
    assert exe.status_code == 422
    assert exe.json()["code"] == "attachment.type_not_allowed"

    activity = await client.post(
        "/api/v1/activities",
        json={
            "type": "note",
            "occurred_at": "2026-11-23T01:00:00Z",
            "customer_id": customer.json()["id"],
            "attachment_ids": [uploaded.json()["id"], str(uuid.uuid4())],
        },
        headers=rep_auth,
    )
    assert activity.status_code == 422
    assert activity.json()["code"] == "activity.attachment_unknown"


async def test_attachment_over_the_limit_is_413(client, make_tenant, settings):
    tenant = await make_tenant()
    customer = await client.post("/api/v1/customers", json={"name": "x"}, headers=tenant.headers)
    big = PNG + b"\x00" * settings.max_attachment_bytes
    response = await client.post(
        "/api/v1/attachments",
        files={"file": ("big.png", big, "image/png")},
        data={"parent_type": "customer", "parent_id": customer.json()["id"]},
        headers=tenant.headers,
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
