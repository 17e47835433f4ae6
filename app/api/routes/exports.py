"""/exports: a list of any length written to a CSV or XLSX file by a job, its progress and its file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Response, status
from fastapi.responses import StreamingResponse

from app.api.deps import (
    CreatedSort,
    CurrentPrincipal,
    Cursor,
    Idempotent,
    Limit,
    ListOptionsDep,
    NowDep,
    RuntimeDep,
    SessionDep,
)
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.exports import ExportCreate, ExportOut, ExportPage
from app.domain.reports.exports import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, ExportFormat
from app.services.platform.storage import FileStorage
from app.services.reports import exports

router = APIRouter(prefix=f"{API_V1}/exports", tags=["exports"])

_CHUNK_BYTES = 1024 * 1024
_MEDIA_TYPES = {ExportFormat.csv: CSV_MEDIA_TYPE + "; charset=utf-8", ExportFormat.xlsx: XLSX_MEDIA_TYPE}
_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The export's file, as the list's `Accept` export writes it (docs/exports.md).",
        "content": {
            CSV_MEDIA_TYPE: {"schema": {"type": "string"}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExportOut,
    responses=problem_responses(401, 403, 404, 413, 422),
    dependencies=[Idempotent],
)
async def create_export(
    session: SessionDep,
    runtime: RuntimeDep,
    actor: CurrentPrincipal,
    now: NowDep,
    body: ExportCreate,
    response: Response,
) -> ExportOut:
    """Queues a job that writes the whole filtered list, as the caller sees it, into one file. The
    list and its filters are checked now, as the list checks them (422 naming the filter, 403
    without the list's permission); poll the Location for progress, then download `file_url`."""
    export = await exports.start_export(
        session,
        actor=actor,
        reader=runtime.list_reader,
        list_name=body.list_,
        filters=body.filters,
        format_=body.format,
        now=now,
    )
    response.headers["Location"] = f"{API_V1}/exports/{export.id}"
    return ExportOut.model_validate(export)


@router.get("", response_model=ExportPage, responses=problem_responses(401, 403, 422))
async def list_exports(
    session: SessionDep,
    actor: CurrentPrincipal,
    options: ListOptionsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: CreatedSort = "-created_at",
) -> ExportPage:
    """The caller's own exports, newest first."""
    page = await exports.list_exports(
        session, actor=actor, limit=limit, cursor=cursor, options=options, sort=sort
    )
    return ExportPage.of(page, [ExportOut.model_validate(export) for export in page.items])


@router.get("/{export_id:uuid}", response_model=ExportOut, responses=problem_responses(401, 403, 404, 422))
async def get_export(session: SessionDep, actor: CurrentPrincipal, export_id: uuid.UUID) -> ExportOut:
    """An export's status and progress; seen by the user who asked for it and by admins."""
    return ExportOut.model_validate(await exports.get_export(session, actor=actor, export_id=export_id))


@router.get(
    "/{export_id:uuid}/file",
    response_class=Response,
    responses={**_FILE_RESPONSES, **problem_responses(401, 403, 404, 409, 422)},
)
async def download_export(
    session: SessionDep, runtime: RuntimeDep, actor: CurrentPrincipal, export_id: uuid.UUID
) -> StreamingResponse:
    """The finished file; 409 `export.not_ready` while it is queued or running, `export.failed` when
    it failed."""
    export = await exports.finished_export(session, actor=actor, export_id=export_id)
    assert export.storage_key is not None
    return StreamingResponse(
        _file_chunks(runtime.storage, export.storage_key),
        media_type=_MEDIA_TYPES[export.format],
        headers={
            "Content-Disposition": f'attachment; filename="{exports.export_filename(export)}"',
            "X-Export-Id": str(export.id),
        },
    )


def _file_chunks(storage: FileStorage, key: str) -> Iterator[bytes]:
    # Streamed from storage: a file of a million rows never sits in memory whole.
    with storage.local_path(key) as path, path.open("rb") as file:
        while chunk := file.read(_CHUNK_BYTES):
            yield chunk
