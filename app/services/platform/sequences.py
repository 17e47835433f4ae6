"""Gap-tolerant, concurrency-safe counters per organization (customer codes)."""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.models.sequence import SequenceCounter


async def next_value(session: AsyncSession, *, organization_id: uuid.UUID, name: str) -> int:
    return await reserve(session, organization_id=organization_id, name=name, count=1)


async def reserve(session: AsyncSession, *, organization_id: uuid.UUID, name: str, count: int) -> int:
    """Reserves `count` numbers and returns the last; UPDATE ... RETURNING takes the row lock,
    so concurrent callers get distinct blocks."""
    increment = (
        update(SequenceCounter)
        .where(SequenceCounter.organization_id == organization_id, SequenceCounter.name == name)
        .values(value=SequenceCounter.value + count)
        .returning(SequenceCounter.value)
    )
    value = await session.scalar(increment)
    if value is None:
        try:
            async with session.begin_nested():
                session.add(SequenceCounter(organization_id=organization_id, name=name, value=0))
        except IntegrityError:
            pass  # another transaction created the counter first; the UPDATE below waits for it
        value = await session.scalar(increment)
    assert value is not None
    return int(value)
