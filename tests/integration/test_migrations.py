"""Alembic migrations run upgrade -> downgrade -> upgrade on both dialects and match the models."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from cryptography.fernet import Fernet
from sqlalchemy import inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import Base, JSONType, UTCDateTime
from app.encryption import KeyRing, use_keys
from tests.conftest import emptied_postgres_database, unavailable, worker_database

ROOT = Path(__file__).resolve().parents[2]
# Overridable so engineers sharing one PostgreSQL server do not drop each other's database.
MIGRATION_DB = worker_database(os.environ.get("CRM_TEST_MIGRATION_DB", "crm_migration_test"))


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


@pytest.fixture(params=["sqlite", "postgresql"])
def migration_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    try:
        return asyncio.run(emptied_postgres_database(MIGRATION_DB))
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


_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
_CONFIG = {"access_token": "dingtalk-token-0123456789abcdef", "secret": "SEC0123456789abcdef"}


def _table(table_name: str, **columns: Any) -> sa.TableClause:
    """The table as revision 0013 has it, with the columns given as name=type (None: a string)."""
    stamps = {"created_at": UTCDateTime(), "updated_at": UTCDateTime()}
    common = {"id": sa.Uuid(), "version": sa.Integer(), **stamps}
    return sa.table(table_name, *(sa.column(n, t) for n, t in {**common, **columns}.items()))


async def _insert_plain_secrets(url: str) -> None:
    """A webhook and a DingTalk channel as revision 0013 stored them: secrets in the clear."""
    now, organization_id = datetime.now(UTC), uuid.uuid4()
    common = {"version": 1, "created_at": now, "updated_at": now}
    tenant_flags = {"organization_id": sa.Uuid(), "event_types": JSONType, "is_active": sa.Boolean()}
    for_every_event = {"organization_id": organization_id, "event_types": ["*"], "is_active": True, **common}
    organization = _table(
        "organization", name=None, slug=None, timezone=None, currency=None, locale=None, settings=JSONType
    )
    webhook = _table("webhook_subscription", **tenant_flags, url=None, secret=None)
    channel = _table("notification_channel", **tenant_flags, name=None, kind=None, config=JSONType)
    replay = sa.table(
        "idempotency_record",
        *(sa.column(n, t) for n, t in {"id": sa.Uuid(), "organization_id": sa.Uuid()}.items()),
        *(sa.column(n) for n in ("principal", "key", "request_fingerprint", "response_status")),
        *(sa.column(n, UTCDateTime()) for n in ("created_at", "expires_at")),
        sa.column("response_body", sa.LargeBinary()),
    )
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            sa.insert(organization).values(
                id=organization_id,
                name="Acme",
                slug="acme",
                timezone="Asia/Shanghai",
                currency="CNY",
                locale="zh-CN",
                settings={},
                **common,
            )
        )
        await connection.execute(
            sa.insert(webhook).values(
                id=uuid.uuid4(), url="https://erp.example.com/hooks", secret=_SECRET, **for_every_event
            )
        )
        await connection.execute(
            sa.insert(channel).values(
                id=uuid.uuid4(), name="华东群", kind="dingtalk_robot", config=_CONFIG, **for_every_event
            )
        )
        await connection.execute(
            sa.insert(replay).values(
                id=uuid.uuid4(),
                organization_id=organization_id,
                principal="user:1",
                key="create-hook",
                request_fingerprint="0" * 64,
                created_at=now,
                expires_at=now,
                response_status=201,
                response_body=json.dumps({"id": "1", "secret": _SECRET}).encode(),
            )
        )
    await engine.dispose()


async def _stored_secrets(url: str) -> tuple[str, str, bytes]:
    """The secret, the config and the stored answer as the database holds them, read without the
    models' types."""
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        (secret,) = (await connection.exec_driver_sql("SELECT secret FROM webhook_subscription")).one()
        (config,) = (await connection.exec_driver_sql("SELECT config FROM notification_channel")).one()
        (answer,) = (await connection.exec_driver_sql("SELECT response_body FROM idempotency_record")).one()
    await engine.dispose()
    return str(secret), config if isinstance(config, str) else json.dumps(config), bytes(answer)


def test_the_upgrade_encrypts_the_secrets_already_stored_and_the_downgrade_restores_them(
    migration_url: str,
) -> None:
    key = Fernet.generate_key().decode()
    use_keys([key])
    config = _config(migration_url)
    command.upgrade(config, "0013")
    asyncio.run(_insert_plain_secrets(migration_url))

    command.upgrade(config, "0016")

    secret, channel_config, answer = asyncio.run(_stored_secrets(migration_url))
    assert _SECRET not in secret
    assert not any(value in channel_config for value in _CONFIG.values())
    assert json.loads(answer) == {"id": "1", "secret": None}
    ring = KeyRing([key])
    assert ring.decrypt(secret) == _SECRET
    assert json.loads(ring.decrypt(channel_config)) == _CONFIG

    command.downgrade(config, "0013")

    secret, channel_config, _ = asyncio.run(_stored_secrets(migration_url))
    assert (secret, json.loads(channel_config)) == (_SECRET, _CONFIG)


async def _insert_customers_sharing_a_name_key(url: str) -> None:
    """Customers as revision 0021 accepted them: two with one name key, created a day apart."""
    now, organization_id = datetime.now(UTC), uuid.uuid4()
    common = {"version": 1, "updated_at": now}
    organization = _table(
        "organization", name=None, slug=None, timezone=None, currency=None, locale=None, settings=JSONType
    )
    customer = _table(
        "customer",
        organization_id=sa.Uuid(),
        code=None,
        name=None,
        name_key=None,
        tier=None,
        tags=JSONType,
        custom_fields=JSONType,
    )
    rows = [
        ("C000002", "申华建材股份有限公司", "申华建材", now),
        ("C000001", "申华建材有限公司", "申华建材", now - timedelta(days=1)),
        ("C000003", "钱江水泥", "钱江水泥", now),
    ]
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            sa.insert(organization).values(
                id=organization_id,
                name="Acme",
                slug="acme",
                timezone="Asia/Shanghai",
                currency="CNY",
                locale="zh-CN",
                settings={},
                created_at=now,
                **common,
            )
        )
        for code, name, name_key, created_at in rows:
            await connection.execute(
                sa.insert(customer).values(
                    id=uuid.uuid4(),
                    organization_id=organization_id,
                    code=code,
                    name=name,
                    name_key=name_key,
                    tier="C",
                    tags=[],
                    custom_fields={},
                    created_at=created_at,
                    **common,
                )
            )
    await engine.dispose()


async def _name_keys(url: str) -> dict[str, str]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        rows = (await connection.exec_driver_sql("SELECT code, name_key FROM customer")).all()
    await engine.dispose()
    return {str(code): str(name_key) for code, name_key in rows}


def test_customers_already_sharing_a_name_key_keep_the_oldest_and_mark_the_others(
    migration_url: str,
) -> None:
    config = _config(migration_url)
    command.upgrade(config, "0021")
    asyncio.run(_insert_customers_sharing_a_name_key(migration_url))

    command.upgrade(config, "0025")

    assert asyncio.run(_name_keys(migration_url)) == {
        "C000001": "申华建材",
        "C000002": "申华建材#C000002",
        "C000003": "钱江水泥",
    }


async def _insert_customers_sharing_a_phone_and_an_email(url: str) -> None:
    """Customers as revision 0025 accepted them: distinct names, but one phone and one e-mail shared."""
    now, organization_id = datetime.now(UTC), uuid.uuid4()
    common = {"version": 1, "updated_at": now}
    organization = _table(
        "organization", name=None, slug=None, timezone=None, currency=None, locale=None, settings=JSONType
    )
    customer = _table(
        "customer",
        organization_id=sa.Uuid(),
        code=None,
        name=None,
        name_key=None,
        phone=None,
        email=None,
        tier=None,
        tags=JSONType,
        custom_fields=JSONType,
        possible_duplicates=JSONType,
    )
    rows = [
        ("C000002", "申华建材", "+862588881234", "sales@shenhua.example.com", now),
        ("C000001", "申华贸易", "+862588881234", None, now - timedelta(days=1)),
        ("C000003", "钱江水泥", None, "sales@shenhua.example.com", now - timedelta(days=2)),
        ("C000004", "华东石材", "+862588885678", "info@huadong.example.com", now),
    ]
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            sa.insert(organization).values(
                id=organization_id,
                name="Acme",
                slug="acme",
                timezone="Asia/Shanghai",
                currency="CNY",
                locale="zh-CN",
                settings={},
                created_at=now,
                **common,
            )
        )
        for code, name, phone, email, created_at in rows:
            await connection.execute(
                sa.insert(customer).values(
                    id=uuid.uuid4(),
                    organization_id=organization_id,
                    code=code,
                    name=name,
                    name_key=name,
                    phone=phone,
                    email=email,
                    tier="C",
                    tags=[],
                    custom_fields={},
                    possible_duplicates=[],
                    created_at=created_at,
                    **common,
                )
            )
    await engine.dispose()


async def _contact_keys(url: str) -> dict[str, tuple[str | None, ...]]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        rows = (
            await connection.exec_driver_sql("SELECT code, phone, phone_key, email, email_key FROM customer")
        ).all()
    await engine.dispose()
    return {str(row[0]): tuple(row[1:]) for row in rows}


def test_customers_already_sharing_a_phone_or_email_keep_them_shown_and_only_later_keys_are_marked(
    migration_url: str,
) -> None:
    config = _config(migration_url)
    command.upgrade(config, "0025")
    asyncio.run(_insert_customers_sharing_a_phone_and_an_email(migration_url))

    command.upgrade(config, "0032")

    assert asyncio.run(_contact_keys(migration_url)) == {
        "C000001": ("+862588881234", "+862588881234", None, None),
        "C000002": (
            "+862588881234",
            "+862588881234#C000002",
            "sales@shenhua.example.com",
            "sales@shenhua.example.com#C000002",
        ),
        "C000003": (None, None, "sales@shenhua.example.com", "sales@shenhua.example.com"),
        "C000004": ("+862588885678", "+862588885678", "info@huadong.example.com", "info@huadong.example.com"),
    }
    command.downgrade(config, "0025")


async def _insert_users_sharing_a_wecom_userid(url: str) -> None:
    """Users as revision 0029 accepted them: two of one organization given the same WeCom account."""
    now, organization_id = datetime.now(UTC), uuid.uuid4()
    organization = _table(
        "organization", name=None, slug=None, timezone=None, currency=None, locale=None, settings=JSONType
    )
    user = _table(
        "user",
        organization_id=sa.Uuid(),
        username=None,
        display_name=None,
        role=None,
        is_active=sa.Boolean(),
        is_available=sa.Boolean(),
        password_hash=None,
        wecom_userid=None,
    )
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            sa.insert(organization).values(
                id=organization_id,
                name="Acme",
                slug="acme",
                timezone="Asia/Shanghai",
                currency="CNY",
                locale="zh-CN",
                settings={},
                created_at=now,
                updated_at=now,
                version=1,
            )
        )
        for username, wecom_userid, created_at in (
            ("li.lei", "LiLei", now - timedelta(days=1)),
            ("li.lei2", "LiLei", now),
            ("han.mei", "HanMei", now),
        ):
            await connection.execute(
                sa.insert(user).values(
                    id=uuid.uuid4(),
                    organization_id=organization_id,
                    username=username,
                    display_name=username,
                    role="rep",
                    is_active=True,
                    is_available=True,
                    password_hash="x",
                    wecom_userid=wecom_userid,
                    created_at=created_at,
                    updated_at=now,
                    version=1,
                )
            )
    await engine.dispose()


async def _wecom_userids(url: str) -> dict[str, str | None]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        rows = (await connection.exec_driver_sql('SELECT username, wecom_userid FROM "user"')).all()
    await engine.dispose()
    return {str(row[0]): row[1] for row in rows}


def test_users_already_sharing_a_wecom_account_leave_it_to_the_oldest(migration_url: str) -> None:
    config = _config(migration_url)
    command.upgrade(config, "0029")
    asyncio.run(_insert_users_sharing_a_wecom_userid(migration_url))

    command.upgrade(config, "0033")

    assert asyncio.run(_wecom_userids(migration_url)) == {
        "li.lei": "LiLei",
        "li.lei2": None,
        "han.mei": "HanMei",
    }
