"""/changes: the feed of created, updated and deleted records an integrator syncs by."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.api.deps import Limit, NowDep, RuntimeDep, SessionDep, require
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.changes import ChangeOut, ChangePage
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.platform.changes import ChangeCursor, EntityType, parse_entity_types
from app.domain.platform.errors import FieldError, InvalidInput
from app.services.platform import change_log
from app.services.platform.pagination import CURSOR_PATTERN

router = APIRouter(prefix=f"{API_V1}/changes", tags=["changes"])

CanRead = Annotated[Principal, Depends(require(Permission.changes_read))]
_TYPES = ",".join(member.value for member in EntityType)


def _since(text: str | None) -> ChangeCursor | None:
    if text is None:
        return None
    cursor = ChangeCursor.decode(text)
    if cursor is None:
        raise InvalidInput(
            "`since` is not a cursor of this feed.",
            code="request.cursor_invalid",
            errors=[FieldError("since", "cursor.invalid", "use next_cursor of the previous page unchanged")],
        )
    return cursor


def _types(text: str | None) -> frozenset[EntityType] | None:
    try:
        return parse_entity_types(text)
    except ValueError as error:
        raise InvalidInput(
            f"`types` names record types from: {_TYPES}.",
            errors=[FieldError("types", "enum", str(error))],
        ) from error


@router.get("", response_model=ChangePage, responses=problem_responses(401, 403, 410, 422))
async def list_changes(
    session: SessionDep,
    actor: CanRead,
    runtime: RuntimeDep,
    now: NowDep,
    limit: Limit = 100,
    since: Annotated[
        str | None,
        Query(
            max_length=512,
            pattern=CURSOR_PATTERN,
            description="next_cursor of the previous page; absent: from the oldest entry kept.",
        ),
    ] = None,
    types: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=r"^[a-z_]+(,[a-z_]+)*$",
            description=f"Comma-separated record types, of: {_TYPES}. Absent: all.",
            examples=["lead,customer"],
        ),
    ] = None,
) -> ChangePage:
    """The organization's changes in the order to apply them: each record created, updated or
    deleted (soft delete, merge, erasure) since the cursor, as ids; fetch the records themselves
    from their lists. An entry appears once every transaction that began before it has ended, so a
    sync that follows `next_cursor` misses nothing and sees nothing twice. Entries are kept
    `CRM_CHANGE_LOG_RETENTION_DAYS` days; a cursor older than that answers 410 (sync in full, then
    start again without `since`)."""
    page = await change_log.read_changes(
        session,
        organization_id=actor.organization_id,
        after=_since(since),
        limit=limit,
        types=_types(types),
        now=now,
        retention_days=runtime.settings.change_log_retention_days,
    )
    return ChangePage(
        items=[
            ChangeOut(
                change_id=entry.id,
                entity_type=EntityType(entry.entity_type),
                entity_id=entry.entity_id,
                op=entry.op,
                changed_at=entry.changed_at,
            )
            for entry in page.items
        ],
        next_cursor=page.next_cursor.encode(),
        has_more=page.has_more,
    )
