"""What every import kind shares: a parsed chunk, its outcome, and fast bulk writes of new rows."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import ColumnElement, String, any_, insert, literal
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.db import Base
from app.domain.identity.principal import Principal
from app.domain.models import ImportJob
from app.domain.platform.changes import ChangeOp
from app.domain.platform.errors import FieldError
from app.services.platform import change_log

K = TypeVar("K")


@dataclass
class ParsedChunk(Generic[K]):
    """A chunk after the checks that need no database: each valid row with its de-duplication
    key(s), the errors of the others, and the warnings of any row, by row number."""

    last_row: int
    valid: list[tuple[int, dict[str, Any], K]] = field(default_factory=list)
    errors: list[tuple[int, FieldError]] = field(default_factory=list)
    warnings: dict[int, list[FieldError]] = field(default_factory=dict)


@dataclass
class ChunkOutcome:
    created: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, job: ImportJob, parsed: ParsedChunk[Any]) -> ChunkOutcome:
        outcome = cls()
        for row, error in parsed.errors:
            outcome.fail(job, row, error)
        return outcome

    def fail(self, job: ImportJob, row: int, error: FieldError) -> None:
        self.errors.append(_report(job, row, error, is_warning=False))

    def record_created(self, job: ImportJob, parsed: ParsedChunk[Any], rows: list[int]) -> None:
        """Counts the rows created, with their warnings: a warning tells what a stored row holds."""
        self.created = len(rows)
        self.warnings += [
            _report(job, row, warning, is_warning=True)
            for row in rows
            for warning in parsed.warnings.get(row, ())
        ]


def _report(job: ImportJob, row: int, problem: FieldError, *, is_warning: bool) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "organization_id": job.organization_id,
        "import_job_id": job.id,
        "row_number": row,
        "field": problem.field,
        "code": problem.code,
        "message": problem.message[:500],
        "is_warning": is_warning,
    }


async def insert_rows(session: AsyncSession, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """INSERT rows that all name the same columns; on PostgreSQL by COPY.

    For a chunk of 1000 leads an executemany INSERT took 0.25 s (0.095 s of it CPU here), a binary
    COPY 0.15 s (0.06 s). The values are converted by the columns' own bind processors, as the
    INSERT would convert them, and a unique violation is raised as the IntegrityError it raises.
    """
    await _copy_rows(session, model, rows)
    if {"id", "organization_id"} <= rows[0].keys():
        # COPY and executemany bypass the ORM's flush, so the change log hears of these here.
        ids = [row["id"] for row in rows]
        await change_log.record_changes(session, model, rows[0]["organization_id"], ids, ChangeOp.created)


async def _copy_rows(session: AsyncSession, model: type[Base], rows: list[dict[str, Any]]) -> None:
    if session.get_bind().dialect.name != "postgresql":
        await session.execute(insert(model), rows)
        return
    connection = await session.connection()
    dialect, table = connection.dialect, model.__table__
    columns = [(name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in rows[0]]
    records = [
        [row[name] if process is None else process(row[name]) for name, process in columns] for row in rows
    ]
    driver: Any = (await connection.get_raw_connection()).driver_connection
    try:
        await driver.copy_records_to_table(
            model.__tablename__, records=records, columns=[name for name, _ in columns]
        )
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(f"COPY {model.__tablename__}", None, exc) from exc


def random_ids(count: int) -> list[uuid.UUID]:
    """`count` version-4 UUIDs, as uuid.uuid4() makes them but from one read of the OS's randomness
    instead of one each: every read lets the parsing thread take the GIL for up to 5 ms."""
    randomness = os.urandom(16 * count)
    return [uuid.UUID(bytes=randomness[at : at + 16], version=4) for at in range(0, 16 * count, 16)]


def among(
    session: AsyncSession, column: InstrumentedAttribute[str | None], values: set[str]
) -> ColumnElement[bool]:
    """`column IN values`, on PostgreSQL as one array parameter (`= ANY($1)`): a parameter per value
    costs more CPU to render and bind than the database takes to find the rows."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(sorted(values), ARRAY(String)))
    return column.in_(values)


def audit_rows(
    actor: Principal, entity_type: str, ids: list[uuid.UUID], job: ImportJob, now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "id": event_id,
            "organization_id": actor.organization_id,
            "occurred_at": now,
            "actor_type": actor.actor_type,
            "actor_id": actor.actor_id,
            "action": f"{entity_type}.created",
            "entity_type": entity_type,
            "entity_id": entity_id,
            "before": None,
            "after": {"import_job_id": str(job.id)},
            "request_id": None,
        }
        for event_id, entity_id in zip(random_ids(len(ids)), ids, strict=True)
    ]
