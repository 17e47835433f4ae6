"""Fixed-window counters in the database (the `login_throttle` table): atomic on SQLite and
PostgreSQL, shared by every API process, with or without Redis. Sign-in failures and web-form
submissions are counted here, each under keys of their own."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.models import LoginThrottle
from app.domain.platform.errors import RateLimited
from app.services.platform.common import dialect_insert


async def count_in_window(
    session: AsyncSession, key: str, now: datetime, window: timedelta
) -> tuple[int, datetime]:
    """One atomic statement: +1 in the key's current window, or 1 in a new one; answers the count
    and the window's start. The row lock of the upsert orders concurrent calls, so each sees a
    different count and no more than the limit get through."""
    expired = LoginThrottle.window_started_at <= now - window
    statement = (
        dialect_insert(session)(LoginThrottle)
        .values(key=key, window_started_at=now, failures=1)
        .on_conflict_do_update(
            index_elements=[LoginThrottle.key],
            set_={
                "failures": case((expired, 1), else_=LoginThrottle.failures + 1),
                "window_started_at": case((expired, now), else_=LoginThrottle.window_started_at),
            },
        )
        .returning(LoginThrottle.failures, LoginThrottle.window_started_at)
    )
    count, started = (await session.execute(statement)).one()
    return count, started


async def take_one(
    session: AsyncSession, *, key: str, limit: int, window: timedelta, now: datetime, detail: str
) -> None:
    """Counts one under `key`; RateLimited (with the seconds until the window ends) past `limit`.
    The caller's rollback of a refusal leaves the count as it was."""
    count, started = await count_in_window(session, key, now, window)
    if count > limit:
        retry_after = max(1, int((started + window - now).total_seconds()) + 1)
        raise RateLimited(detail, retry_after_seconds=retry_after)
