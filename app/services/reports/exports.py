"""Exports of lists as CSV or XLSX files: the files written, each export kept in the audit trail, and
the export job (`POST /exports`) that writes a list of any length page by page, as the user who
asked for it, into file storage."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.models import ExportJob, User
from app.domain.platform.errors import Conflict, DomainError, FieldError, InvalidInput, PermissionDenied
from app.domain.reports.exports import (
    EXPORT_AUDIT_ACTION,
    EXPORT_ENTITY_TYPE,
    FINISHED,
    MAX_EXPORT_ATTEMPTS,
    TOO_MANY_ROWS,
    ExportFormat,
    ExportStatus,
)
from app.services.platform import audit
from app.services.platform.common import get_visible
from app.services.platform.jobs import JobName, JobQueue, JobRequest, enqueue_after_commit
from app.services.platform.pagination import MAX_LIMIT, NO_OPTIONS, ListOptions, Page, SortOrder, paginate
from app.services.platform.spreadsheets import CsvSheet, XlsxSheet, write_csv, write_xlsx
from app.services.platform.storage import FileStorage
from app.services.platform.unit_of_work import session_scope

log = structlog.get_logger(__name__)

# Rows read a page at a time: the list's largest page.
PAGE_ROWS = MAX_LIMIT
# A running export whose progress has not moved for this long lost its worker: the sweep runs it again.
STALE_AFTER = timedelta(minutes=10)


def write_file(
    format_: ExportFormat, header: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str
) -> bytes:
    if format_ is ExportFormat.xlsx:
        return write_xlsx(header, rows, title=title)
    return write_csv(header, rows)


async def record_export(
    session: AsyncSession,
    *,
    actor: Principal,
    export_id: uuid.UUID,
    resource: str,
    format_: ExportFormat,
    filters: Mapping[str, Any],
    rows: int,
) -> None:
    """One audit entry per export: who (the entry's actor), which list, with which filters, how
    many rows, in which format."""
    await audit.record_audit(
        session,
        actor=actor,
        action=EXPORT_AUDIT_ACTION,
        entity_type=EXPORT_ENTITY_TYPE,
        entity_id=export_id,
        after={"resource": resource, "format": format_.value, "filters": dict(filters), "rows": rows},
    )


@dataclass(frozen=True)
class ListPage:
    """One page of a list as file rows: the columns, the rows' cells, the cursor of the next page,
    and (when asked for) the rows of the whole list, counted up to the cap asked for."""

    columns: list[str]
    rows: list[list[Any]]
    next_cursor: str | None
    total: int | None = None


class ListReader(Protocol):
    """Port: reads a list page by page exactly as its `GET` route answers it to the given user (the
    same filters, validation, visibility and row shape). Implemented over the API's list routes
    (app/api/list_readers.py) and handed to jobs by the composition root, so an export job writes the
    rows the `Accept` path writes without a second copy of any list."""

    def lists(self) -> Collection[str]: ...

    async def check_filters(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        list_name: str,
        filters: Mapping[str, Any],
        now: datetime,
    ) -> None:
        """Raises what the list route would answer to these filters (422 naming them, 403, 404)."""
        ...

    async def read_page(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        list_name: str,
        filters: Mapping[str, Any],
        now: datetime,
        limit: int,
        cursor: str | None,
        count_up_to: int | None = None,
    ) -> ListPage: ...


def run_export_job(export_id: uuid.UUID) -> JobRequest:
    return JobRequest(JobName.run_export, args=(str(export_id),), job_id=f"export:{export_id}")


async def start_export(
    session: AsyncSession,
    *,
    actor: Principal,
    reader: ListReader,
    list_name: str,
    filters: Mapping[str, Any],
    format_: ExportFormat,
    now: datetime,
) -> ExportJob:
    """Checks the list and its filters as the list itself would, then queues the job that writes the
    file; the job runs after the request's commit."""
    if actor.user_id is None:
        raise PermissionDenied(
            "An export runs as the user who asks for it; an API key pages through the JSON list.",
            code="export.user_only",
        )
    if list_name not in reader.lists():
        raise InvalidInput(
            f"{list_name!r} is not a list that exports.",
            code="export.unknown_list",
            errors=[FieldError("list", "export.unknown_list", "one of " + ", ".join(sorted(reader.lists())))],
        )
    await reader.check_filters(session, actor=actor, list_name=list_name, filters=filters, now=now)
    export = ExportJob(
        organization_id=actor.organization_id,
        created_by_id=actor.user_id,
        list_name=list_name,
        filters=dict(filters),
        format=format_,
    )
    session.add(export)
    await session.flush()
    enqueue_after_commit(session, run_export_job(export.id))
    return export


def _visible_exports(actor: Principal) -> Any:
    """An export holds what its user could see: it is theirs, and admins', to read."""
    return None if actor.role is Role.admin else ExportJob.created_by_id == actor.user_id


async def get_export(session: AsyncSession, *, actor: Principal, export_id: uuid.UUID) -> ExportJob:
    return await get_visible(session, ExportJob, export_id, actor=actor, visible=_visible_exports(actor))


_EXPORT_SORTABLE = {"created_at": ExportJob.created_at, "updated_at": ExportJob.updated_at}


async def list_exports(
    session: AsyncSession,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    options: ListOptions = NO_OPTIONS,
    sort: str = "-created_at",
) -> Page[ExportJob]:
    """The caller's own exports, newest first."""
    order = SortOrder.parse(sort, _EXPORT_SORTABLE)
    return await paginate(
        session,
        select(ExportJob).where(
            ExportJob.organization_id == actor.organization_id, ExportJob.created_by_id == actor.user_id
        ),
        sort_column=_EXPORT_SORTABLE[order.name],
        id_column=ExportJob.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )


async def finished_export(session: AsyncSession, *, actor: Principal, export_id: uuid.UUID) -> ExportJob:
    """An export whose file can be downloaded: 404 as `get_export`, 409 until it is done."""
    export = await get_export(session, actor=actor, export_id=export_id)
    if export.status is ExportStatus.failed:
        raise Conflict(f"The export failed: {export.error}", code="export.failed")
    if export.status is not ExportStatus.done or export.storage_key is None:
        raise Conflict(
            f"The export is {export.status.value}; its file is there once its status is done.",
            code="export.not_ready",
        )
    return export


def export_filename(export: ExportJob) -> str:
    return f"{export.list_name}.{export.format.value}"


async def stale_exports(session: AsyncSession, *, now: datetime, limit: int = 100) -> list[JobRequest]:
    """The runs to begin again: exports whose job was lost before it started (Redis down, the
    in-process runner's process gone) and running ones whose progress stopped (their worker died).
    A run begun again writes the file from the start; after MAX_EXPORT_ATTEMPTS starts it fails."""
    waiting = await session.scalars(
        select(ExportJob.id)
        .where(
            (ExportJob.status == ExportStatus.queued)
            | ((ExportJob.status == ExportStatus.running) & (ExportJob.updated_at < now - STALE_AFTER))
        )
        .order_by(ExportJob.created_at)
        .limit(limit)
    )
    return [run_export_job(export_id) for export_id in waiting]


@dataclass(frozen=True)
class _Run:
    export_id: uuid.UUID
    attempt: int
    actor: Principal
    list_name: str
    filters: dict[str, Any]
    format: ExportFormat


class _Superseded(Exception):
    """A later run of the same export has begun (the sweep took this one for dead): this one stops."""


async def run_export(
    sessionmaker: async_sessionmaker[AsyncSession],
    queue: JobQueue,
    *,
    export_id: uuid.UUID,
    clock: Callable[[], datetime],
    storage: FileStorage,
    reader: ListReader,
    max_rows: int,
) -> ExportStatus:
    """Writes an export's file page by page and stores it; returns the export's final status.
    Safe to call twice: a finished export is left alone, and of two runs the later one wins."""
    run = await _begin(sessionmaker, queue, export_id, clock)
    if isinstance(run, ExportStatus):
        return run
    try:
        written = await _write_file(sessionmaker, queue, run, clock, storage, reader, max_rows)
    except _Superseded:
        log.info("export.superseded", export_id=str(export_id), attempt=run.attempt)
        return ExportStatus.running
    except DomainError as refused:
        # The list refused the run as it would refuse the request: the user lost the right, a
        # filtered record went away, the list outgrew the limit.
        return await _fail(sessionmaker, queue, run, clock(), refused.detail)
    except Exception:
        log.exception("export.failed", export_id=str(export_id))
        return await _fail(sessionmaker, queue, run, clock(), "The export stopped on an unexpected error.")
    return written


async def _begin(
    sessionmaker: async_sessionmaker[AsyncSession],
    queue: JobQueue,
    export_id: uuid.UUID,
    clock: Callable[[], datetime],
) -> _Run | ExportStatus:
    async with session_scope(sessionmaker, queue) as session:
        export = await session.get(ExportJob, export_id, with_for_update=True)
        if export is None:
            return ExportStatus.failed
        if export.status in FINISHED:
            return export.status
        if export.attempts >= MAX_EXPORT_ATTEMPTS:
            export.status = ExportStatus.failed
            export.finished_at = clock()
            export.error = f"The export was interrupted {export.attempts} times; ask for it again, narrower."
            return export.status
        user = await session.get(User, export.created_by_id)
        if user is None or not user.is_active:
            export.status = ExportStatus.failed
            export.finished_at = clock()
            export.error = "The user who asked for the export is no longer active."
            return export.status
        export.status = ExportStatus.running
        export.attempts += 1
        export.started_at = clock()
        export.rows_written = 0
        export.total_rows = None
        # The list is read with the user's role as it is now: a rep promoted or demoted meanwhile
        # exports what they may see today.
        return _Run(
            export_id=export.id,
            attempt=export.attempts,
            actor=Principal.for_user(user.organization_id, user.id, user.role),
            list_name=export.list_name,
            filters=dict(export.filters),
            format=export.format,
        )


async def _write_file(
    sessionmaker: async_sessionmaker[AsyncSession],
    queue: JobQueue,
    run: _Run,
    clock: Callable[[], datetime],
    storage: FileStorage,
    reader: ListReader,
    max_rows: int,
) -> ExportStatus:
    now = clock()
    rows_written = 0
    cursor: str | None = None
    with ExitStack() as cleanup:
        directory = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="export-")))
        path = directory / f"{run.export_id}.{run.format.value}"
        target = cleanup.enter_context(path.open("wb"))
        sheet: CsvSheet | XlsxSheet | None = None
        while True:
            async with session_scope(sessionmaker, queue) as session:
                page = await reader.read_page(
                    session,
                    actor=run.actor,
                    list_name=run.list_name,
                    filters=run.filters,
                    now=now,
                    limit=PAGE_ROWS,
                    cursor=cursor,
                    count_up_to=max_rows if sheet is None else None,
                )
            if page.total is not None and page.total > max_rows:
                raise _too_many_rows(max_rows)
            if sheet is None:
                sheet = (
                    XlsxSheet(target, page.columns, title=run.list_name)
                    if run.format is ExportFormat.xlsx
                    else CsvSheet(target, page.columns)
                )
            rows_written += len(page.rows)
            if rows_written > max_rows:
                raise _too_many_rows(max_rows)
            # A page of XLSX cells is CPU work: off the event loop, which may be serving requests.
            await asyncio.to_thread(sheet.extend, page.rows)
            await _report_progress(sessionmaker, queue, run, rows_written, page.total)
            cursor = page.next_cursor
            if not cursor:
                break
        await asyncio.to_thread(sheet.close)
        target.close()
        storage_key = f"exports/{run.actor.organization_id}/{run.export_id}.{run.format.value}"
        size = path.stat().st_size
        await asyncio.to_thread(storage.save_file, storage_key, path)
    return await _finish(sessionmaker, queue, run, clock(), storage_key, size, rows_written)


def _too_many_rows(max_rows: int) -> InvalidInput:
    return InvalidInput(
        f"The list has more than {max_rows} rows, more than an export carries: narrow the filters.",
        code=TOO_MANY_ROWS,
    )


async def _locked_run(session: AsyncSession, run: _Run) -> ExportJob:
    export = await session.get_one(ExportJob, run.export_id, with_for_update=True)
    if export.attempts != run.attempt or export.status is not ExportStatus.running:
        raise _Superseded
    return export


async def _report_progress(
    sessionmaker: async_sessionmaker[AsyncSession],
    queue: JobQueue,
    run: _Run,
    rows_written: int,
    total_rows: int | None,
) -> None:
    # Each page moves updated_at too, the heartbeat the sweep reads.
    async with session_scope(sessionmaker, queue) as session:
        export = await _locked_run(session, run)
        export.rows_written = rows_written
        if total_rows is not None:
            export.total_rows = total_rows


async def _finish(
    sessionmaker: async_sessionmaker[AsyncSession],
    queue: JobQueue,
    run: _Run,
    now: datetime,
    storage_key: str,
    size: int,
    rows_written: int,
) -> ExportStatus:
    async with session_scope(sessionmaker, queue) as session:
        export = await _locked_run(session, run)
        export.status = ExportStatus.done
        export.rows_written = rows_written
        export.storage_key = storage_key
        export.size_bytes = size
        export.finished_at = now
        await record_export(
            session,
            actor=run.actor,
            export_id=run.export_id,
            resource=run.list_name,
            format_=run.format,
            filters=run.filters,
            rows=rows_written,
        )
    return ExportStatus.done


async def _fail(
    sessionmaker: async_sessionmaker[AsyncSession],
    queue: JobQueue,
    run: _Run,
    now: datetime,
    error: str,
) -> ExportStatus:
    async with session_scope(sessionmaker, queue) as session:
        await session.execute(
            update(ExportJob)
            .where(
                ExportJob.id == run.export_id,
                ExportJob.attempts == run.attempt,
                ExportJob.status == ExportStatus.running,
            )
            .values(status=ExportStatus.failed, finished_at=now, error=error[:2000])
            .execution_options(synchronize_session=False)
        )
    return ExportStatus.failed
