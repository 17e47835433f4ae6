"""Audit trail: one append-only row per change of a record, with before and after."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import session_now
from app.domain.identity.principal import Principal
from app.domain.models import AuditEvent
from app.observability import current_request_id


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def snapshot(entity: Any, fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    return {name: _jsonable(getattr(entity, name)) for name in fields}


async def record_audit(
    session: AsyncSession,
    *,
    actor: Principal,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        organization_id=actor.organization_id,
        occurred_at=session_now(session),
        actor_type=actor.actor_type,
        actor_id=actor.actor_id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        request_id=current_request_id(),
    )
    session.add(event)
    return event


async def record_audits(
    session: AsyncSession,
    *,
    actor: Principal,
    action: str,
    entity_type: str,
    changes: Sequence[tuple[uuid.UUID, dict[str, Any] | None, dict[str, Any] | None]],
) -> None:
    """One audit row per (entity id, before, after), in one statement: for changes made set-based."""
    if not changes:
        return
    now, request_id = session_now(session), current_request_id()
    await session.execute(
        insert(AuditEvent),
        [
            {
                "id": uuid.uuid4(),
                "organization_id": actor.organization_id,
                "occurred_at": now,
                "actor_type": actor.actor_type,
                "actor_id": actor.actor_id,
                "action": action,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "before": _jsonable(before) if before is not None else None,
                "after": _jsonable(after) if after is not None else None,
                "request_id": request_id,
            }
            for entity_id, before, after in changes
        ],
    )


async def record_edit(
    session: AsyncSession, actor: Principal, entity: Any, before: dict[str, Any], *, entity_type: str
) -> None:
    """Audits an edit (`<entity_type>.updated`) with only the fields whose value moved since `before`,
    a snapshot of those fields; an edit that moved none leaves no row."""
    old, new = changed_fields(before, snapshot(entity, list(before)))
    if new:
        await record_audit(
            session,
            actor=actor,
            action=f"{entity_type}.updated",
            entity_type=entity_type,
            entity_id=entity.id,
            before=old,
            after=new,
        )


async def apply_edit(
    session: AsyncSession,
    actor: Principal,
    entity: Any,
    changes: dict[str, Any],
    *,
    fields: list[str] | tuple[str, ...],
    entity_type: str,
) -> None:
    """Sets the changed fields, writes the entity and audits what moved among `fields`."""
    before = snapshot(entity, fields)
    for name, value in changes.items():
        setattr(entity, name, value)
    await session.flush()
    await record_edit(session, actor, entity, before, entity_type=entity_type)


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields whose value moved, so the trail shows what an edit really changed."""
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}
