"""Reading the audit trail; there is deliberately no way to change or delete it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.models import AuditEvent
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page, SortOrder, paginate

SORTABLE = {"occurred_at": AuditEvent.occurred_at}


async def list_audit_events(
    session: AsyncSession,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    sort: str = "-occurred_at",
    entity_type: str | None = None,
    entity_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: str | None = None,
    occurred_from: datetime | None = None,
    occurred_to: datetime | None = None,
    options: ListOptions = NO_OPTIONS,
) -> Page[AuditEvent]:
    order = SortOrder.parse(sort, SORTABLE)
    statement = select(AuditEvent).where(AuditEvent.organization_id == actor.organization_id)
    for column, value in (
        (AuditEvent.entity_type, entity_type),
        (AuditEvent.entity_id, entity_id),
        (AuditEvent.actor_id, actor_id),
        (AuditEvent.action, action),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if occurred_from is not None:
        statement = statement.where(AuditEvent.occurred_at >= occurred_from)
    if occurred_to is not None:
        statement = statement.where(AuditEvent.occurred_at < occurred_to)
    return await paginate(
        session,
        statement,
        sort_column=AuditEvent.occurred_at,
        id_column=AuditEvent.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )
