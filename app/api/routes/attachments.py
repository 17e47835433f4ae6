"""/attachments: upload a photo, scan, recording or contract for a lead, customer, opportunity or activity;
download it if you may see its record."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Response, UploadFile, status

from app.api.deps import Idempotent, NowDep, RuntimeDep, SessionDep, require
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.attachments import AttachmentOut
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.models import AttachmentParent
from app.services.activities import attachments

router = APIRouter(prefix=f"{API_V1}/attachments", tags=["attachments"])

CanWrite = Annotated[Principal, Depends(require(Permission.activities_write))]
CanRead = Annotated[Principal, Depends(require(Permission.activities_read))]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentOut,
    responses=problem_responses(401, 403, 404, 413, 422),
    dependencies=[Idempotent],
)
async def upload_attachment(
    session: SessionDep,
    runtime: RuntimeDep,
    actor: CanWrite,
    now: NowDep,
    file: Annotated[
        UploadFile, File(description="JPEG/PNG/WebP/HEIC photo, PDF scan, audio or text; 10 MB.")
    ],
    parent_type: Annotated[AttachmentParent, Form(description="The kind of record the file belongs to.")],
    parent_id: Annotated[
        uuid.UUID,
        Form(description="That record's id; one the caller may read (404 otherwise, as its GET answers)."),
    ],
    response: Response,
) -> AttachmentOut:
    """Multipart form: `file`, `parent_type` (lead, customer, opportunity, activity), `parent_id`.

    The file's kind is read from its bytes, not its name. A file on an opportunity counts toward the
    gate of the stage it is in; one uploaded onto an activity joins the activity's `attachment_ids`.
    """
    attachment = await attachments.upload_attachment(
        session,
        actor=actor,
        parent_type=parent_type,
        parent_id=parent_id,
        filename=file.filename or "file",
        content=await file.read(runtime.settings.max_attachment_bytes + 1),
        max_bytes=runtime.settings.max_attachment_bytes,
        storage=runtime.storage,
        now=now,
    )
    response.headers["Location"] = f"{API_V1}/attachments/{attachment.id}"
    return AttachmentOut.model_validate(attachment)


@router.get(
    "/{attachment_id:uuid}",
    response_class=Response,
    responses={
        200: {
            "description": "The file, with its sniffed media type",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        },
        **problem_responses(401, 403, 404, 422),
    },
)
async def download_attachment(
    session: SessionDep, runtime: RuntimeDep, actor: CanRead, attachment_id: uuid.UUID
) -> Response:
    download = await attachments.download_attachment(
        session, actor=actor, attachment_id=attachment_id, storage=runtime.storage
    )
    attachment = download.attachment
    return Response(
        content=download.content,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(attachment.filename)}",
            "ETag": f'"{attachment.sha256}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
