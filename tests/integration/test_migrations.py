"""Alembic migrations run upgrade -> downgrade -> upgrade on both dialects and match the models."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import Base
from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get(
    "CRM_TEST_POSTGRES_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
MIGRATION_DB = "crm_migration_test"


def _config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    return config


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names - {"alembic_version"}


async def _recreate_postgres_database() -> str:
    engine = create_async_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{MIGRATION_DB}" WITH (FORCE)')
            await connection.exec_driver_sql(f'CREATE DATABASE "{MIGRATION_DB}"')
    finally:
        await engine.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{MIGRATION_DB}"


@pytest.fixture(params=["sqlite", "postgresql"])
def migration_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    try:
        return asyncio.run(_recreate_postgres_database())
    except (OSError, Exception) as exc:
        unavailable("postgresql", exc)
        raise


def test_upgrade_downgrade_upgrade_and_no_drift(migration_url: str) -> None:
    # Alembic's env.py runs its own event loop, so this test is synchronous.
    config = _config(migration_url)
    expected = set(Base.metadata.tables)

    command.upgrade(config, "head")
    assert asyncio.run(_tables(migration_url)) == expected
    command.downgrade(config, "base")
    assert asyncio.run(_tables(migration_url)) == set()
    command.upgrade(config, "head")
    assert asyncio.run(_tables(migration_url)) == expected
    # `alembic check` raises when the models would autogenerate a new migration.
    command.check(config)
