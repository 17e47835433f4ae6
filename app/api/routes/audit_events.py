"""/audit-events: who changed what, when; read-only by design."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.api.deps import Cursor, Limit, ListOptionsDep, SessionDep, require
from app.api.display_names import with_names
from app.api.errors import problem_responses
from app.api.list_export import EXPORT_RESPONSES, ListExportDep
from app.api.routes import API_V1
from app.api.schemas.audit_events import AuditEventOut, AuditEventPage
from app.api.schemas.common import Timestamp
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.services.platform import audit_events

router = APIRouter(prefix=f"{API_V1}/audit-events", tags=["audit"])

CanRead = Annotated[Principal, Depends(require(Permission.audit_read))]


@router.get(
    "", response_model=AuditEventPage, responses={**EXPORT_RESPONSES, **problem_responses(401, 403, 422)}
)
async def list_audit_events(
    session: SessionDep,
    actor: CanRead,
    export: ListExportDep,
    options: ListOptionsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[str, Query(pattern=r"^-?occurred_at$")] = "-occurred_at",
    entity_type: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    entity_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    occurred_from: Timestamp | None = None,
    occurred_to: Timestamp | None = None,
) -> AuditEventPage | Response:
    async def read_page(limit: int, cursor: str | None) -> AuditEventPage:
        page = await audit_events.list_audit_events(
            session,
            actor=actor,
            options=options,
            limit=limit,
            cursor=cursor,
            sort=sort,
            entity_type=entity_type,
            entity_id=entity_id,
            actor_id=actor_id,
            action=action,
            occurred_from=occurred_from,
            occurred_to=occurred_to,
        )
        return AuditEventPage.of(
            page, await with_names(session, actor, [AuditEventOut.model_validate(e) for e in page.items])
        )

    return await export.answer(read_page, limit=limit, cursor=cursor)
