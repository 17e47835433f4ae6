"""Engine, session factory and the declarative Base shared by every entity."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, ForeignKey, Index, MetaData, TypeDecorator, Uuid, event
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    mapped_column,
    with_loader_criteria,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def str_enum(enum_type: type[StrEnum]) -> SAEnum:
    """A StrEnum stored as its value in a VARCHAR (no native enum type to migrate), read back as the enum."""
    return SAEnum(
        enum_type,
        native_enum=False,
        length=max(len(member.value) for member in enum_type),
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime,
        dict[str, Any]: JSONType,
        list[str]: JSONType,
        list[dict[str, Any]]: JSONType,
        uuid.UUID: Uuid,
    }


@event.listens_for(Base.metadata, "before_create")
def _create_trigram_extension(_metadata: MetaData, connection: Connection, **_kw: Any) -> None:
    """The trigram indexes need pg_trgm; a schema made from the models (the tests') creates it as
    the migrations do."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")


def trigram_index(table: str, column: str) -> Index:
    """A PostgreSQL trigram index on `column`: what `ILIKE '%text%'` search uses for three
    characters or more, where a b-tree cannot help. SQLite has no such index and scans."""
    return Index(
        f"ix_{table}_{column}_trgm",
        column,
        postgresql_using="gin",
        postgresql_ops={column: "gin_trgm_ops"},
    ).ddl_if(dialect="postgresql")


def tags_index(table: str) -> Index:
    """A PostgreSQL GIN index on a JSONB list of tags: what `?tag=` (containment, `@>`) reads, so a
    rare tag does not walk the whole list. SQLite has no such index and scans."""
    return Index(f"ix_{table}_tags", "tags", postgresql_using="gin").ddl_if(dialect="postgresql")


class Entity(Base):
    """A tenant-scoped record with optimistic concurrency (`version`) and audit timestamps."""

    __abstract__ = True

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class SoftDeletable:
    """A record that is deleted by marking it (`deleted_at`, `deleted_by_id`) and can be restored.

    Every ORM SELECT leaves marked rows out (`_hide_deleted_records`), so lists, searches, details,
    the pool, de-duplication and KPIs never meet them; a statement that must see them (restore, the
    list of deleted records, a personal-data export) runs with `INCLUDE_DELETED`.
    """

    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


# Execution options of a statement that reads soft-deleted records too.
INCLUDE_DELETED = {"include_deleted": True}


@event.listens_for(Session, "do_orm_execute")
def _hide_deleted_records(state: ORMExecuteState) -> None:
    """Soft-deleted rows are absent from every ORM SELECT, in joins and subqueries too, unless the
    statement asks for them: one rule instead of a filter each query could forget."""
    if (
        state.is_select
        and not state.is_column_load
        and not state.is_relationship_load
        and not state.execution_options.get("include_deleted", False)
    ):
        state.statement = state.statement.options(
            with_loader_criteria(SoftDeletable, lambda cls: cls.deleted_at.is_(None), include_aliases=True)
        )


def create_engine(
    database_url: str, *, pool_size: int = 10, ping_after_idle_seconds: float = 5.0
) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, connect_args={"timeout": 30}, hide_parameters=True)
        _serialise_sqlite_writers(engine)
        return engine
    # hide_parameters: an error's text (logged) shows the SQL but never the values, which are
    # customers' names and phone numbers. jit off: the service's statements read at most a few
    # hundred thousand rows, where compiling the plan (triggered by its cost estimate alone) took
    # longer than running it: 852 of the 1,167 ms of a lead-response KPI at 100k leads.
    engine = create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        hide_parameters=True,
        connect_args={"server_settings": {"jit": "off"}},
    )
    _ping_connections_idle_for(engine, ping_after_idle_seconds)
    return engine


_IDLE_SINCE = "idle_since"


def _ping_connections_idle_for(engine: AsyncEngine, seconds: float) -> None:
    """Checks that a pooled connection is alive before use when it has sat idle for `seconds`.

    `pool_pre_ping` checks on every checkout, and on asyncpg a check is three round trips (BEGIN,
    a ping, ROLLBACK): about a third of PostgreSQL's CPU for a created lead (bench/RESULTS.md).
    What kills a pooled connection mostly strikes idle ones (a database restart at a quiet hour, an
    idle timeout in a firewall or pgbouncer), and one used a moment ago is most likely alive. One
    that died in between fails its request with 503 and retry advice (app/api/errors.py), and the
    pool then replaces every connection older than the failure.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _mark_idle(dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < seconds:
            return  # just connected, or used a moment ago
        try:
            dbapi_connection.ping()
        except (engine.dialect.loaded_dbapi.Error, OSError) as error:
            # As pool_pre_ping does: the pool replaces every connection as old as this one (the
            # database likely restarted) and checks out a fresh one.
            raise InvalidatePoolError(f"the idle connection is dead: {error!r}") from error


def _serialise_sqlite_writers(engine: AsyncEngine) -> None:
    # SQLite upgrades a deferred read transaction to a write lazily and then fails at once with
    # "database is locked" when another writer got in first. BEGIN IMMEDIATE takes the write lock
    # up front, so concurrent requests queue on the busy timeout instead of failing.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(
    engine: AsyncEngine, clock: Callable[[], datetime] = utcnow
) -> async_sessionmaker[AsyncSession]:
    """Sessions carry the app's clock, so rows stamped inside services agree with injected time."""
    return async_sessionmaker(engine, expire_on_commit=False, info={"clock": clock})


def session_now(session: AsyncSession) -> datetime:
    clock: Callable[[], datetime] = session.info.get("clock", utcnow)
    return clock()


# Columns stamped with the session's clock when a row is created without a value for them.
_STAMPED_ON_CREATE = ("created_at", "updated_at", "occurred_at", "next_attempt_at", "failed_at")


@event.listens_for(Session, "before_flush")
def _stamp_with_session_clock(session: Session, _context: Any, _instances: Any) -> None:
    """Timestamps follow the clock the session was made with (the app's, or a test's), not the
    wall clock: sweeps and KPIs compare them with that clock."""
    clock: Callable[[], datetime] | None = session.info.get("clock")
    if clock is None:
        return
    now = clock()
    for instance in session.new:
        for name in _STAMPED_ON_CREATE:
            if hasattr(instance, name) and getattr(instance, name) is None:
                setattr(instance, name, now)
    for instance in session.dirty:
        if isinstance(instance, Entity) and session.is_modified(instance, include_collections=False):
            instance.updated_at = now
