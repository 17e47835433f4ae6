"""Fixtures of the service tier: a session that carries the test's clock, and an organization with
a supervisor and two reps made through the services. Each test's writes are flushed, never
committed, and rolled back at its end (the engine fixture also empties the tables before it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db import create_sessionmaker
from tests.conftest import Clock
from tests.services.scenario import Organization, new_organization


@pytest.fixture
async def session(engine: AsyncEngine, clock: Clock) -> AsyncIterator[AsyncSession]:
    """Rows stamped inside services follow the test's clock, as the app's do."""
    async with create_sessionmaker(engine, clock)() as db_session:
        yield db_session
        await db_session.rollback()


@pytest.fixture
async def organization(session: AsyncSession) -> Organization:
    return await new_organization(session)
