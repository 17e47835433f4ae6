"""Idempotency-Key for POST: the first answer is stored and replayed for a day.

The key row is inserted in the request's own transaction. A concurrent request with the same
key waits on the unique index (PostgreSQL) or the write lock (SQLite) until the first commits,
then finds the stored answer and replays it, so the operation runs once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.models import IdempotencyRecord
from app.domain.platform.errors import FieldError, InvalidInput

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: dict[str, Any]
    body: bytes


def fingerprint(method: str, path: str, body: bytes, query: Sequence[tuple[str, str]] = ()) -> str:
    """What makes two requests the same request: method, path, body and query parameters (in any
    order; `?on_duplicate=merge` is another request than the same body without it). A request
    without a query hashes as it did before the query counted, so keys stored then still replay."""
    digest = hashlib.sha256()
    for part in (method.encode(), b"\0", path.encode(), b"\0", body):
        digest.update(part)
    for name, value in sorted(query):
        digest.update(b"\0" + name.encode() + b"=" + value.encode())
    return digest.hexdigest()


async def _find(session: AsyncSession, actor: Principal, key: str, now: datetime) -> IdempotencyRecord | None:
    return await session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.organization_id == actor.organization_id,
            IdempotencyRecord.principal == actor.key,
            IdempotencyRecord.key == key,
            IdempotencyRecord.expires_at > now,
        )
    )


def _replay(record: IdempotencyRecord, request_fingerprint: str) -> StoredResponse:
    if record.request_fingerprint != request_fingerprint:
        raise InvalidInput(
            "This Idempotency-Key was used with a different request.",
            code="idempotency.key_reused",
            errors=[FieldError("Idempotency-Key", "reused", "send a new key for a different request")],
        )
    assert record.response_status is not None
    return StoredResponse(record.response_status, record.response_headers or {}, record.response_body or b"")


async def claim_key(
    session: AsyncSession,
    *,
    actor: Principal,
    key: str,
    request_fingerprint: str,
    ttl: timedelta,
    now: datetime,
) -> IdempotencyRecord | StoredResponse:
    """Either a fresh record to complete with this request's answer, or the stored answer to replay."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            "Idempotency-Key must be 1 to 255 characters.",
            code="idempotency.key_invalid",
            errors=[FieldError("Idempotency-Key", "length", "1 to 255 characters")],
        )
    existing = await _find(session, actor, key, now)
    if existing is not None:
        return _replay(existing, request_fingerprint)
    await session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.organization_id == actor.organization_id,
            IdempotencyRecord.principal == actor.key,
            IdempotencyRecord.key == key,
        )
    )
    record = IdempotencyRecord(
        organization_id=actor.organization_id,
        principal=actor.key,
        key=key,
        request_fingerprint=request_fingerprint,
        created_at=now,
        expires_at=now + ttl,
    )
    try:
        async with session.begin_nested():
            session.add(record)
            await session.flush()
    except IntegrityError:
        # Another request with this key committed while we waited on the index: replay its answer.
        existing = await _find(session, actor, key, now)
        if existing is None:
            raise
        return _replay(existing, request_fingerprint)
    return record


def complete(record: IdempotencyRecord, response: StoredResponse) -> None:
    record.response_status = response.status
    record.response_headers = response.headers
    record.response_body = response.body


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)
