"""Alembic migrations run upgrade -> downgrade -> upgrade on both dialects and match the models."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect
from sqlalchemy.dialects import postgresql
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


async def _collations(url: str) -> set[tuple[str, str, str]]:
    """(table, column, collation) of the columns that name their own collation."""
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        rows = await connection.exec_driver_sql(
            """SELECT c.relname, a.attname, co.collname FROM pg_attribute a
               JOIN pg_class c ON c.oid = a.attrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
               JOIN pg_collation co ON co.oid = a.attcollation
               WHERE c.relkind = 'r' AND a.attnum > 0 AND co.collname <> 'default'"""
        )
        found = {(table, column, collation) for table, column, collation in rows}
    await engine.dispose()
    return found


def _model_collations() -> set[tuple[str, str, str]]:
    dialect = postgresql.dialect()
    return {
        (table.name, column.name, collation)
        for table in Base.metadata.tables.values()
        for column in table.columns
        if (collation := getattr(column.type.dialect_impl(dialect), "collation", None))
    }


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
    # `alembic check` raises when the models would autogenerate a new migration; it does not
    # compare collations, so those are compared here.
    command.check(config)
    if migration_url.startswith("postgresql"):
        assert asyncio.run(_collations(migration_url)) == _model_collations()
