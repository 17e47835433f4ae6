"""CSV/XLSX imports of leads, customers and opportunities (run as jobs), and their progress."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Response, UploadFile, status

from app.api.deps import Cursor, Idempotent, Limit, RuntimeDep, SessionDep, require
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.imports import ImportJobOut, ImportRowErrorOut, ImportRowErrorPage
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.models import ImportJob, ImportKind
from app.domain.platform.errors import FieldError, InvalidInput
from app.services.imports import imports

router = APIRouter(prefix=API_V1, tags=["imports"])

CanImportLeads = Annotated[Principal, Depends(require(Permission.leads_write))]
CanImportCustomers = Annotated[Principal, Depends(require(Permission.customers_write))]
CanImportOpportunities = Annotated[Principal, Depends(require(Permission.opportunities_write))]
CanReadLeads = Annotated[Principal, Depends(require(Permission.leads_read))]
UploadedFile = Annotated[
    UploadFile, File(description="CSV (UTF-8 or GBK) or XLSX, at most 20 MB / 100k rows.")
]
MappingField = Annotated[
    str | None,
    Form(
        max_length=10_000,
        description='JSON object from file header to field, e.g. {"客户名称": "company"}, or to a custom '
        'field, e.g. {"面积": "custom_fields.site_area"}; built-in Chinese and English headers need no '
        "mapping.",
    ),
]
INLINE_REPORT = 200  # errors, and warnings, shown with the job


def _mapping_file(raw: str) -> dict[str, Any]:
    try:
        mapping = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            "mapping is not JSON.",
            code="import.mapping_invalid",
            errors=[FieldError("mapping", "json_invalid", str(exc))],
        ) from exc
    if not isinstance(mapping, dict):
        raise InvalidInput(
            "mapping must be a JSON object.",
            code="import.mapping_invalid",
            errors=[FieldError("mapping", "type", "an object")],
        )
    return mapping


def _mapping(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        mapping = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            "column_mapping is not JSON.",
            code="import.mapping_invalid",
            errors=[FieldError("column_mapping", "json_invalid", str(exc))],
        ) from exc
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise InvalidInput(
            "column_mapping must map header names to field names.",
            code="import.mapping_invalid",
            errors=[FieldError("column_mapping", "type", "an object of strings")],
        )
    return mapping


async def _job_out(session: SessionDep, actor: Principal, job: ImportJob) -> ImportJobOut:
    inline = {
        name: await imports.list_row_report(
            session, actor=actor, job_id=job.id, warnings=warnings, limit=INLINE_REPORT, cursor=None
        )
        for name, warnings in (("errors", False), ("warnings", True))
    }
    return ImportJobOut.model_validate(job).model_copy(
        update={
            name: [ImportRowErrorOut.model_validate(e) for e in page.items] for name, page in inline.items()
        }
    )


async def _start(
    session: SessionDep,
    runtime: RuntimeDep,
    actor: Principal,
    kind: ImportKind,
    file: UploadFile,
    mapping: dict[str, Any],
) -> ImportJobOut:
    job = await imports.start_import(
        session,
        actor=actor,
        kind=kind,
        filename=file.filename or "upload",
        content=await file.read(),
        column_mapping=mapping,
        storage=runtime.storage,
    )
    return ImportJobOut.model_validate(job)


_START_RESPONSES = problem_responses(401, 403, 413, 422)


@router.post(
    "/leads/import",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportJobOut,
    responses=_START_RESPONSES,
    dependencies=[Idempotent],
)
async def import_leads(
    session: SessionDep,
    runtime: RuntimeDep,
    actor: CanImportLeads,
    file: UploadedFile,
    response: Response,
    column_mapping: MappingField = None,
) -> ImportJobOut:
    job = await _start(session, runtime, actor, ImportKind.leads, file, _mapping(column_mapping))
    response.headers["Location"] = f"{API_V1}/import-jobs/{job.id}"
    return job


@router.post(
    "/customers/import",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportJobOut,
    responses=_START_RESPONSES,
    dependencies=[Idempotent],
)
async def import_customers(
    session: SessionDep,
    runtime: RuntimeDep,
    actor: CanImportCustomers,
    file: UploadedFile,
    response: Response,
    column_mapping: MappingField = None,
) -> ImportJobOut:
    job = await _start(session, runtime, actor, ImportKind.customers, file, _mapping(column_mapping))
    response.headers["Location"] = f"{API_V1}/import-jobs/{job.id}"
    return job


@router.post(
    "/opportunities/import",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportJobOut,
    responses=_START_RESPONSES,
    dependencies=[Idempotent],
)
async def import_opportunities(
    session: SessionDep,
    runtime: RuntimeDep,
    actor: CanImportOpportunities,
    file: UploadedFile,
    response: Response,
    mapping: Annotated[
        str,
        Form(
            max_length=20_000,
            description="The mapping file as JSON: columns, pipeline, stages, date_format, products, "
            "missing_customer, currency, name_template (docs/imports.md; docs/mappings/maven-crm.json).",
        ),
    ],
) -> ImportJobOut:
    """Historical deals with their stage, dates and outcome; owners, customers and products are
    matched by name, and every row is either created or reported with its row number."""
    job = await _start(session, runtime, actor, ImportKind.opportunities, file, _mapping_file(mapping))
    response.headers["Location"] = f"{API_V1}/import-jobs/{job.id}"
    return job


@router.get(
    "/import-jobs/{job_id:uuid}", response_model=ImportJobOut, responses=problem_responses(401, 403, 404, 422)
)
async def get_import_job(session: SessionDep, actor: CanReadLeads, job_id: uuid.UUID) -> ImportJobOut:
    """Progress and counts, with the first 200 row errors and the first 200 warnings; page through
    all of them at /errors and /warnings."""
    job = await imports.get_import_job(session, actor=actor, job_id=job_id)
    return await _job_out(session, actor, job)


async def _row_report(
    session: SessionDep,
    actor: Principal,
    job_id: uuid.UUID,
    *,
    warnings: bool,
    limit: int,
    cursor: str | None,
) -> ImportRowErrorPage:
    page = await imports.list_row_report(
        session, actor=actor, job_id=job_id, warnings=warnings, limit=limit, cursor=cursor
    )
    return ImportRowErrorPage.of(page, [ImportRowErrorOut.model_validate(e) for e in page.items])


@router.get(
    "/import-jobs/{job_id:uuid}/errors",
    response_model=ImportRowErrorPage,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_import_errors(
    session: SessionDep, actor: CanReadLeads, job_id: uuid.UUID, limit: Limit = 50, cursor: Cursor = None
) -> ImportRowErrorPage:
    """Rows not imported, with the reason, and duplicates, by row number."""
    return await _row_report(session, actor, job_id, warnings=False, limit=limit, cursor=cursor)


@router.get(
    "/import-jobs/{job_id:uuid}/warnings",
    response_model=ImportRowErrorPage,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_import_warnings(
    session: SessionDep, actor: CanReadLeads, job_id: uuid.UUID, limit: Limit = 50, cursor: Cursor = None
) -> ImportRowErrorPage:
    """Cells of imported rows to look at, by row number: a formula stored as text
    (`import.formula_stored_as_text`), a workbook formula whose saved result was imported
    (`import.formula_result_imported`)."""
    return await _row_report(session, actor, job_id, warnings=True, limit=limit, cursor=cursor)
