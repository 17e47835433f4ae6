"""The change log behind GET /changes: written in the same transaction as every change of a synced
record, read in an order a concurrent writer can never slip an entry behind, pruned by age.

Writers: one `after_flush` hook sees every record the ORM inserts, updates or deletes; the few
set-based statements that bypass the ORM (handover, merges, imports) call `record_changes`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from typing import cast as typed

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Table,
    Text,
    cast,
    delete,
    event,
    func,
    insert,
    inspect,
    literal,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, UOWTransaction

from app.db import utcnow
from app.domain.models import ChangeLogEntry
from app.domain.platform.changes import ChangeCursor, ChangeOp, EntityType
from app.domain.platform.errors import Gone

DEFAULT_RETENTION_DAYS = 30
_TYPE_OF_TABLE = {member.value: member for member in EntityType} | {
    "webhook_subscription": EntityType.webhook
}
_TABLE = typed(Table, ChangeLogEntry.__table__)
# A change that takes a record out of every list: soft delete, merge into another, erasure.
_GONE_WHEN_SET = ("deleted_at", "merged_into_id", "erased_at")


def entity_type_of(model: Any) -> EntityType | None:
    return _TYPE_OF_TABLE.get(getattr(model, "__tablename__", ""))


def _xact_id(dialect_name: str) -> ColumnElement[Any]:
    if dialect_name == "postgresql":
        # xid8 has no cast to bigint; through text it is exact (64-bit, never wraps).
        return cast(cast(func.pg_current_xact_id(), Text), BigInteger)
    return literal(0, BigInteger)


def _op_of_dirty(record: Any) -> ChangeOp:
    state = inspect(record)
    for name in _GONE_WHEN_SET:
        if not hasattr(type(record), name):
            continue
        history = state.attrs[name].history
        if history.added and history.added[0] is not None and all(old is None for old in history.deleted):
            return ChangeOp.deleted
    return ChangeOp.updated


def _entry(record: Any, op: ChangeOp, now: datetime) -> dict[str, Any] | None:
    entity_type = entity_type_of(type(record))
    if entity_type is None:
        return None
    return {
        "organization_id": record.organization_id,
        "entity_type": entity_type.value,
        "entity_id": record.id,
        "op": op.value,
        "changed_at": now,
    }


def _entries_of_flush(session: Session) -> list[dict[str, Any]]:
    now = utcnow()
    found = [_entry(record, ChangeOp.created, now) for record in session.new]
    found += [
        _entry(record, _op_of_dirty(record), now)
        for record in session.dirty
        # Only a net change of a synced record: an attribute set to its own value writes nothing.
        if entity_type_of(type(record)) is not None and session.is_modified(record, include_collections=False)
    ]
    found += [_entry(record, ChangeOp.deleted, now) for record in session.deleted]
    return [entry for entry in found if entry is not None]


@event.listens_for(Session, "after_flush")
def _log_flushed_changes(session: Session, _flush: UOWTransaction) -> None:
    """Every synced record the flush wrote gets its entry, in the flush's transaction."""
    entries = _entries_of_flush(session)
    if entries:
        connection = session.connection()
        statement = insert(_TABLE).values(xact_id=_xact_id(connection.dialect.name))
        connection.execute(statement, entries)


async def record_changes(
    session: AsyncSession,
    model: Any,
    organization_id: uuid.UUID,
    ids: Iterable[uuid.UUID],
    op: ChangeOp = ChangeOp.updated,
) -> None:
    """Entries for records a set-based statement changed, which the flush hook cannot see."""
    entity_type = entity_type_of(model)
    if entity_type is None:
        return
    now = utcnow()
    entries = [
        {
            "organization_id": organization_id,
            "entity_type": entity_type.value,
            "entity_id": entity_id,
            "op": op.value,
            "changed_at": now,
        }
        for entity_id in ids
    ]
    if entries:
        dialect = session.get_bind().dialect.name
        statement = insert(_TABLE).values(xact_id=_xact_id(dialect))
        await session.execute(statement, entries)


@dataclass(frozen=True)
class ChangePage:
    items: list[ChangeLogEntry]
    next_cursor: ChangeCursor
    has_more: bool


def _settled(session: AsyncSession) -> ColumnElement[bool] | None:
    """On PostgreSQL, entries of transactions that ended before every transaction still running
    began: no transaction can add an entry that sorts before them any more."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    horizon = cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)
    return ChangeLogEntry.xact_id < horizon


async def read_changes(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    after: ChangeCursor | None,
    limit: int,
    types: frozenset[EntityType] | None,
    now: datetime,
    retention_days: int,
) -> ChangePage:
    """The organization's entries after `after`, in (transaction, id) order, settled ones only."""
    if after is not None and after.issued_at < now - timedelta(days=retention_days):
        raise Gone(
            f"This cursor was issued more than {retention_days} days ago and the entries after it may "
            "have been pruned; sync in full (lists with updated_since) and start the feed again.",
            code="changes.cursor_expired",
        )
    statement = select(ChangeLogEntry).where(ChangeLogEntry.organization_id == organization_id)
    if after is not None:
        key = tuple_(ChangeLogEntry.xact_id, ChangeLogEntry.id)
        statement = statement.where(
            key > tuple_(literal(after.xact_id, BigInteger), literal(after.change_id, BigInteger))
        )
    settled = _settled(session)
    if settled is not None:
        statement = statement.where(settled)
    if types is not None:
        statement = statement.where(ChangeLogEntry.entity_type.in_(sorted(types)))
    statement = statement.order_by(ChangeLogEntry.xact_id, ChangeLogEntry.id).limit(limit + 1)
    rows = list((await session.scalars(statement)).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        position = ChangeCursor(xact_id=rows[-1].xact_id, change_id=rows[-1].id, issued_at=now)
    elif after is not None:
        position = ChangeCursor(xact_id=after.xact_id, change_id=after.change_id, issued_at=now)
    else:
        position = ChangeCursor(xact_id=0, change_id=0, issued_at=now)
    return ChangePage(items=rows, next_cursor=position, has_more=has_more)


async def prune(session: AsyncSession, *, now: datetime, retention_days: int) -> int:
    """Deletes entries older than the retention; cursors that old answer 410 (read_changes)."""
    result = await session.execute(
        delete(ChangeLogEntry).where(ChangeLogEntry.changed_at < now - timedelta(days=retention_days))
    )
    return int(getattr(result, "rowcount", 0) or 0)
