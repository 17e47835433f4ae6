"""CSV/XLSX imports of leads and customers, run as a resumable job.

Rows are processed in chunks; each chunk commits together with the job's progress counter, so a
job killed mid-way resumes after the last committed row and never imports a row twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any, Generic, NamedTuple, TypeVar

import structlog
from sqlalchemy import or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.customers.customer_fields import CUSTOMER_FIELDS
from app.domain.customers.customer_tier import format_customer_code, tier_for_annual_purchase
from app.domain.identity.principal import Principal
from app.domain.imports.import_mapping import (
    CUSTOMER_COLUMNS,
    LEAD_COLUMNS,
    parse_row,
    resolve_columns,
    unknown_mapping_targets,
)
from app.domain.imports.opportunity_import import OPPORTUNITY_FIELDS, parse_mapping
from app.domain.imports.opportunity_import import REQUIRED_COLUMNS as OPPORTUNITY_REQUIRED_COLUMNS
from app.domain.leads.lead_fields import LEAD_FIELDS
from app.domain.leads.leads import LeadSource, LeadStatus
from app.domain.models import (
    AuditEvent,
    Customer,
    ImportJob,
    ImportKind,
    ImportRowError,
    ImportStatus,
    Lead,
    Opportunity,
    User,
)
from app.domain.notifications.events import ImportFinished
from app.domain.organization.policy import OrganizationPolicy
from app.domain.platform.custom_fields import FieldDefinition, from_cells, validate_custom_fields
from app.domain.platform.dedup import normalise_company
from app.domain.platform.errors import FieldError, InvalidInput
from app.services.customers.customers import CODE_SEQUENCE
from app.services.imports.import_rows import (
    ChunkOutcome,
    ParsedChunk,
    among,
    audit_rows,
    insert_rows,
    random_ids,
)
from app.services.imports.opportunity_import import parse_opportunities, write_opportunities
from app.services.leads.leads import LeadKeys, lead_keys
from app.services.marketing import campaigns
from app.services.organization.policy import policy_for
from app.services.platform import outbox, sequences
from app.services.platform.common import get_visible
from app.services.platform.jobs import JobName, JobQueue, JobRequest, enqueue_after_commit
from app.services.platform.pagination import Page, SortOrder, paginate
from app.services.platform.spreadsheets import check_filename, read_rows
from app.services.platform.storage import FileStorage
from app.services.platform.unit_of_work import session_scope
from app.services.platform.visibility import visible_to
from app.services.scores.lead_intent import score_of_new_lead

log = structlog.get_logger(__name__)

CHUNK_SIZE = 1000
MAX_ROWS = 100_000
MAX_CHUNK_ATTEMPTS = 3
K = TypeVar("K")
FIELDS_BY_KIND = {
    ImportKind.leads: LEAD_COLUMNS,
    ImportKind.customers: CUSTOMER_COLUMNS,
    ImportKind.opportunities: OPPORTUNITY_FIELDS,
}
TARGET_TABLES = {
    ImportKind.leads: Lead.__tablename__,
    ImportKind.customers: Customer.__tablename__,
    ImportKind.opportunities: Opportunity.__tablename__,
}


def run_import_job(job_id: uuid.UUID) -> JobRequest:
    return JobRequest(JobName.run_import, args=(str(job_id),), job_id=f"import:{job_id}")


async def start_import(
    session: AsyncSession,
    *,
    actor: Principal,
    kind: ImportKind,
    filename: str,
    content: bytes,
    column_mapping: dict[str, Any],
    storage: FileStorage,
) -> ImportJob:
    """`column_mapping`: header -> field for leads and customers; for opportunities the whole
    mapping file (docs/imports.md)."""
    check_filename(filename)
    if kind is ImportKind.opportunities:
        parse_mapping(column_mapping)
    elif unknown := unknown_mapping_targets(column_mapping, FIELDS_BY_KIND[kind]):
        raise InvalidInput(
            "The column mapping names unknown fields.",
            code="import.mapping_invalid",
            errors=[FieldError("column_mapping", "field.unknown", name) for name in unknown],
        )
    job_id = uuid.uuid4()
    suffix = filename.lower().rsplit(".", 1)[-1]
    storage_key = f"imports/{actor.organization_id}/{job_id}.{suffix}"
    storage.save(storage_key, content)
    job = ImportJob(
        id=job_id,
        organization_id=actor.organization_id,
        kind=kind,
        filename=filename[:255],
        storage_key=storage_key,
        column_mapping=column_mapping,
        created_by_id=actor.user_id,
    )
    session.add(job)
    await session.flush()
    enqueue_after_commit(session, run_import_job(job.id))
    return job


async def waiting_import_jobs(session: AsyncSession, *, limit: int = 100) -> list[JobRequest]:
    """The runs of imports that never started: their job was lost with Redis or with the process of
    the in-process runner. Asking again is harmless: the job id is the import's, and a run that
    finds its import started or finished does nothing twice."""
    waiting = await session.scalars(
        select(ImportJob.id)
        .where(ImportJob.status == ImportStatus.queued)
        .order_by(ImportJob.created_at)
        .limit(limit)
    )
    return [run_import_job(job_id) for job_id in waiting]


async def get_import_job(session: AsyncSession, *, actor: Principal, job_id: uuid.UUID) -> ImportJob:
    # Row errors quote phone numbers and names, so a job is seen like a record its creator owns.
    return await get_visible(
        session, ImportJob, job_id, actor=actor, visible=visible_to(actor, ImportJob.created_by_id)
    )


async def list_row_report(
    session: AsyncSession,
    *,
    actor: Principal,
    job_id: uuid.UUID,
    warnings: bool,
    limit: int,
    cursor: str | None,
) -> Page[ImportRowError]:
    """A job's row errors (rows not imported, duplicates), or its warnings (about rows imported)."""
    job = await get_import_job(session, actor=actor, job_id=job_id)
    return await paginate(
        session,
        select(ImportRowError).where(
            ImportRowError.organization_id == actor.organization_id,
            ImportRowError.import_job_id == job.id,
            ImportRowError.is_warning == warnings,
        ),
        sort_column=ImportRowError.row_number,
        id_column=ImportRowError.id,
        order=SortOrder(name="row_number", descending=False),
        limit=limit,
        cursor=cursor,
    )


def _parse_leads(rows: list[tuple[int, dict[str, Any]]], _options: dict[str, Any]) -> ParsedChunk[LeadKeys]:
    parsed = ParsedChunk[LeadKeys](last_row=rows[-1][0])
    for number, raw in rows:
        row = parse_row(raw, LEAD_FIELDS, default_source=LeadSource.import_)
        if row.warnings:
            parsed.warnings[number] = row.warnings
        errors = list(row.errors)
        values = row.values
        keys = None
        if not errors and not (values.get("phone") or values.get("email") or values.get("wechat")):
            errors.append(FieldError("phone", "missing", "give phone, email or wechat"))
        if not errors:
            try:
                keys = lead_keys(values.get("phone"), values.get("email"), values.get("company"))
            except InvalidInput as invalid:
                errors.extend(invalid.errors)
        if errors or keys is None:
            parsed.errors.extend((number, error) for error in errors)
            continue
        parsed.valid.append((number, values, keys))
    return parsed


async def _import_leads(
    session: AsyncSession,
    actor: Principal,
    job: ImportJob,
    parsed: ParsedChunk[LeadKeys],
    policy: OrganizationPolicy,
    now: datetime,
) -> ChunkOutcome:
    outcome = ChunkOutcome.of(job, parsed)
    candidates = _with_custom_fields(job, outcome, parsed.valid, list(policy.lead_fields))
    candidates = await _with_campaigns(session, actor, job, outcome, candidates)
    phones = {keys.phone for _, _, keys in candidates if keys.phone}
    emails = {keys.email for _, _, keys in candidates if keys.email}
    seen: dict[str, str] = {}
    if phones or emails:
        existing = await session.execute(
            select(Lead.id, Lead.phone_key, Lead.email_key).where(
                Lead.organization_id == actor.organization_id,
                or_(among(session, Lead.phone_key, phones), among(session, Lead.email_key, emails)),
            )
        )
        for lead_id, phone_key, email_key in existing:
            for key in (f"phone:{phone_key}", f"email:{email_key}"):
                seen.setdefault(key, f"existing lead {lead_id}")

    accepted = []
    for number, values, keys in candidates:
        identities = [f"{name}:{key}" for name, key in (("phone", keys.phone), ("email", keys.email)) if key]
        duplicate_of = next((identity for identity in identities if identity in seen), None)
        if duplicate_of is not None:
            outcome.duplicates += 1
            field_name = duplicate_of.split(":", 1)[0]
            outcome.fail(
                job, number, FieldError(field_name, "duplicate", f"duplicate of {seen[duplicate_of]}")
            )
            continue
        for identity in identities:
            seen[identity] = f"row {number}"
        accepted.append((number, values, keys))
    new_leads = [
        _lead_row(actor, lead_id, values, keys, now)
        | score_of_new_lead(policy, values["source"], values.get("budget"), now)
        for lead_id, (_, values, keys) in zip(random_ids(len(accepted)), accepted, strict=True)
    ]
    if new_leads:
        await insert_rows(session, Lead, new_leads)
        await insert_rows(
            session, AuditEvent, audit_rows(actor, "lead", [r["id"] for r in new_leads], job, now)
        )
    outcome.record_created(job, parsed, [number for number, _, _ in accepted])
    return outcome


def _with_custom_fields(
    job: ImportJob,
    outcome: ChunkOutcome,
    candidates: list[tuple[int, dict[str, Any], K]],
    definitions: list[FieldDefinition],
) -> list[tuple[int, dict[str, Any], K]]:
    """Each row's custom field cells read by their field's type and checked as the API checks them
    (the organization's definitions, required ones included); a row with a wrong or missing value
    is reported field by field, not imported without it."""
    kept = []
    for number, values, key in candidates:
        try:
            cells = from_cells(values["custom_fields"], definitions)
            custom_fields = validate_custom_fields(cells, definitions)
        except InvalidInput as invalid:
            for error in invalid.errors:
                outcome.fail(job, number, error)
            continue
        kept.append((number, {**values, "custom_fields": custom_fields}, key))
    return kept


async def _with_campaigns(
    session: AsyncSession,
    actor: Principal,
    job: ImportJob,
    outcome: ChunkOutcome,
    candidates: list[tuple[int, dict[str, Any], LeadKeys]],
) -> list[tuple[int, dict[str, Any], LeadKeys]]:
    """Each row's campaign cell, an id or an exact name, as the campaign's id; a row naming no
    campaign of the organization is reported, not imported without it."""
    found = await campaigns.campaigns_named(
        session,
        actor.organization_id,
        {values["campaign"] for _, values, _ in candidates if "campaign" in values},
    )
    kept = []
    for number, values, keys in candidates:
        reference = values.get("campaign")
        if reference is not None and reference not in found:
            outcome.fail(
                job, number, FieldError("campaign", "campaign.unknown", f"no campaign {reference!r}")
            )
            continue
        kept.append((number, {**values, "campaign_id": found.get(reference or "")}, keys))
    return kept


def _lead_row(
    actor: Principal, lead_id: uuid.UUID, values: dict[str, Any], keys: LeadKeys, now: datetime
) -> dict[str, Any]:
    return {
        "id": lead_id,
        "organization_id": actor.organization_id,
        "created_at": now,
        "updated_at": now,
        "version": 1,
        **LEAD_FIELDS.as_given(values),
        "phone": keys.phone,
        "email": keys.email,
        "phone_key": keys.phone,
        "email_key": keys.email,
        "company_key": keys.company,
        "status": LeadStatus.new,
        "created_by_id": actor.user_id,
        "possible_duplicates": [],
        "tags": values.get("tags", []),
        "custom_fields": values["custom_fields"],
    }


def _parse_customers(rows: list[tuple[int, dict[str, Any]]], _options: dict[str, Any]) -> ParsedChunk[str]:
    parsed = ParsedChunk[str](last_row=rows[-1][0])
    for number, raw in rows:
        row = parse_row(raw, CUSTOMER_FIELDS, default_source=None)
        if row.warnings:
            parsed.warnings[number] = row.warnings
        if row.errors:
            parsed.errors.extend((number, error) for error in row.errors)
            continue
        parsed.valid.append((number, row.values, normalise_company(row.values["name"])))
    return parsed


async def _import_customers(
    session: AsyncSession,
    actor: Principal,
    job: ImportJob,
    parsed: ParsedChunk[str],
    policy: OrganizationPolicy,
    now: datetime,
) -> ChunkOutcome:
    outcome = ChunkOutcome.of(job, parsed)
    candidates = _with_custom_fields(job, outcome, parsed.valid, list(policy.customer_fields))
    seen: dict[str, str] = {}
    names = {key for _, _, key in candidates}
    if names:
        existing = await session.execute(
            select(Customer.code, Customer.name_key).where(
                Customer.organization_id == actor.organization_id, among(session, Customer.name_key, names)
            )
        )
        seen = {name_key: f"customer {code}" for code, name_key in existing}
    accepted = []
    for number, values, name_key in candidates:
        if name_key in seen:
            outcome.duplicates += 1
            outcome.fail(job, number, FieldError("name", "duplicate", f"duplicate of {seen[name_key]}"))
            continue
        seen[name_key] = f"row {number}"
        accepted.append((number, values, name_key))
    if accepted:
        last = await sequences.reserve(
            session, organization_id=actor.organization_id, name=CODE_SEQUENCE, count=len(accepted)
        )
        first = last - len(accepted) + 1
        new_customers = [
            _customer_row(
                actor, customer_id, format_customer_code(first + offset), values, name_key, policy, now
            )
            for offset, (customer_id, (_, values, name_key)) in enumerate(
                zip(random_ids(len(accepted)), accepted, strict=True)
            )
        ]
        await insert_rows(session, Customer, new_customers)
        await insert_rows(
            session, AuditEvent, audit_rows(actor, "customer", [c["id"] for c in new_customers], job, now)
        )
    outcome.record_created(job, parsed, [number for number, _, _ in accepted])
    return outcome


def _customer_row(
    actor: Principal,
    customer_id: uuid.UUID,
    code: str,
    values: dict[str, Any],
    name_key: str,
    policy: OrganizationPolicy,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": customer_id,
        "organization_id": actor.organization_id,
        "created_at": now,
        "updated_at": now,
        "version": 1,
        "code": code,
        **CUSTOMER_FIELDS.as_given(values),
        "name_key": name_key,
        "tier": (
            tier_for_annual_purchase(values["annual_purchase"], policy.tier_thresholds)
            if values.get("annual_purchase") is not None
            else values.get("tier", "C")
        ),
        "owner_id": actor.user_id,
        "tags": values.get("tags", []),
        "custom_fields": values["custom_fields"],
        # Rows are inserted by COPY on PostgreSQL, which knows no model defaults.
        "possible_duplicates": [],
    }


class _Importer(NamedTuple, Generic[K]):
    # Pure, run in a worker thread while the previous chunk is written.
    parse: Callable[[list[tuple[int, dict[str, Any]]], dict[str, Any]], ParsedChunk[K]]
    write: Callable[
        [AsyncSession, Principal, ImportJob, ParsedChunk[K], OrganizationPolicy, datetime],
        Awaitable[ChunkOutcome],
    ]


_IMPORTERS: dict[ImportKind, _Importer[Any]] = {
    ImportKind.leads: _Importer(_parse_leads, _import_leads),
    ImportKind.customers: _Importer(_parse_customers, _import_customers),
    ImportKind.opportunities: _Importer(parse_opportunities, write_opportunities),
}


async def _actor_of(session: AsyncSession, job: ImportJob) -> Principal:
    user = await session.get(User, job.created_by_id) if job.created_by_id else None
    if user is None:
        return Principal.system(job.organization_id)
    return Principal.for_user(user.organization_id, user.id, user.role)


def _chunks(
    rows: Iterator[list[Any]], columns: dict[int, str], start: int
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    numbered = ((number, row) for number, row in enumerate(rows, start=1) if number > start)
    while True:
        chunk = [
            (number, {field: row[index] for index, field in columns.items() if index < len(row)})
            for number, row in islice(numbered, CHUNK_SIZE)
        ]
        if not chunk:
            return
        yield chunk


def _columns(kind: ImportKind, header: list[Any], mapping: dict[str, Any]) -> dict[int, str]:
    """Which column index feeds which field; InvalidInput when a needed column is missing."""
    if kind is ImportKind.opportunities:
        by_header = parse_mapping(mapping).columns
        columns = {
            index: by_header[str(h).strip()] for index, h in enumerate(header) if str(h).strip() in by_header
        }
        missing = [f for f in OPPORTUNITY_REQUIRED_COLUMNS if f not in columns.values()]
        if missing:
            raise InvalidInput(f"The file has no column mapped to {', '.join(missing)}.")
        return columns
    columns = resolve_columns(header, mapping, FIELDS_BY_KIND[kind])
    if "name" not in columns.values():
        raise InvalidInput(
            "No column holds the name (姓名 / name / 公司名称 ...); map one with column_mapping."
        )
    return columns


async def _parse_ahead(
    chunks: Iterator[list[tuple[int, dict[str, Any]]]],
    parse: Callable[[list[tuple[int, dict[str, Any]]]], ParsedChunk[K]],
) -> AsyncIterator[ParsedChunk[K]]:
    """Each chunk parsed, the next one in a worker thread while the caller writes this one.

    Parsing (phone and e-mail validation above all) is most of an import's CPU time, and writing a
    chunk is mostly waiting for the database; overlapped, the two take little longer than parsing.
    The rows are read here, on the event loop's thread; only the pure parsing runs in the thread.
    """
    loop = asyncio.get_running_loop()

    def parse_next() -> asyncio.Future[ParsedChunk[K]] | None:
        chunk = next(chunks, None)
        return None if chunk is None else loop.run_in_executor(None, parse, chunk)

    parsing = parse_next()
    try:
        while parsing is not None:
            parsed = await parsing
            parsing = parse_next()
            yield parsed
    finally:
        if parsing is not None:
            parsing.cancel()


async def run_import(
    sessionmaker: async_sessionmaker[AsyncSession],
    queue: JobQueue,
    *,
    job_id: uuid.UUID,
    clock: Callable[[], datetime],
    storage: FileStorage,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportStatus:
    """Runs (or resumes) an import; returns the job's final status. Safe to call twice.

    `on_progress(processed_rows, total_rows)` is called after each committed chunk (CLI progress bar).
    """
    async with session_scope(sessionmaker, queue) as session:
        job = await session.get(ImportJob, job_id, with_for_update=True)
        if job is None or job.status in (ImportStatus.completed, ImportStatus.failed):
            return job.status if job else ImportStatus.failed
        job.status = ImportStatus.running
        job.started_at = job.started_at or clock()
        filename, storage_key, kind, mapping = (
            job.filename,
            job.storage_key,
            job.kind,
            dict(job.column_mapping),
        )
    try:
        with storage.local_path(storage_key) as path:
            total, rows = read_rows(path, filename, max_rows=MAX_ROWS)
            if total > MAX_ROWS:
                raise InvalidInput(f"The file has {total} rows; at most {MAX_ROWS} can be imported at once.")
            header = next(rows, None)
            if header is None:
                raise InvalidInput("The file is empty.")
            columns = _columns(kind, list(header), mapping)
            async with session_scope(sessionmaker, queue) as session:
                job = await session.get_one(ImportJob, job_id, with_for_update=True)
                job.total_rows = total
                start = job.processed_rows
            analyze_after = CHUNK_SIZE
            importer = _IMPORTERS[kind]
            async for parsed in _parse_ahead(
                _chunks(rows, columns, start), lambda chunk: importer.parse(chunk, mapping)
            ):
                await _commit_chunk(sessionmaker, queue, job_id=job_id, kind=kind, parsed=parsed, clock=clock)
                if on_progress is not None:
                    on_progress(parsed.last_row, total)
                if parsed.last_row - start >= analyze_after:
                    await _refresh_statistics(sessionmaker, queue, kind)
                    analyze_after = 2 * (parsed.last_row - start)
    except InvalidInput as invalid:
        return await _finish(
            sessionmaker, queue, job_id, ImportStatus.failed, clock(), failure=invalid.detail
        )
    return await _finish(sessionmaker, queue, job_id, ImportStatus.completed, clock())


async def _refresh_statistics(
    sessionmaker: async_sessionmaker[AsyncSession], queue: JobQueue, kind: ImportKind
) -> None:
    """ANALYZE the table the import fills, so its duplicate look-ups keep using the unique keys.

    Planned on statistics that predate the rows this import wrote (autovacuum re-analyzes a table
    only after a tenth of it changed, at most once a minute, and not at all where it is off),
    PostgreSQL takes the tenant for a handful of rows and filters all of its leads on every chunk
    instead of probing the keys. Called each time the rows written have doubled, so the statistics
    are never off by more than half, for log2(rows / CHUNK_SIZE) ANALYZEs in all.
    """
    async with session_scope(sessionmaker, queue) as session:
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(text(f"ANALYZE {TARGET_TABLES[kind]}"))


async def _commit_chunk(
    sessionmaker: async_sessionmaker[AsyncSession],
    queue: JobQueue,
    *,
    job_id: uuid.UUID,
    kind: ImportKind,
    parsed: ParsedChunk[Any],
    clock: Callable[[], datetime],
) -> None:
    for attempt in range(1, MAX_CHUNK_ATTEMPTS + 1):
        try:
            async with session_scope(sessionmaker, queue) as session:
                job = await session.get_one(ImportJob, job_id, with_for_update=True)
                if job.processed_rows >= parsed.last_row:
                    return  # another run already committed these rows
                actor = await _actor_of(session, job)
                policy = await policy_for(session, actor)
                outcome = await _IMPORTERS[kind].write(session, actor, job, parsed, policy, clock())
                if outcome.errors or outcome.warnings:
                    await insert_rows(session, ImportRowError, outcome.errors + outcome.warnings)
                job.processed_rows = parsed.last_row
                job.created_count += outcome.created
                job.duplicate_count += outcome.duplicates
                job.error_count += len(outcome.errors) - outcome.duplicates
                job.warning_count += len(outcome.warnings)
            return
        except IntegrityError:
            # A lead with one of these phones was created through the API meanwhile; re-reading
            # the chunk turns it into a reported duplicate.
            if attempt == MAX_CHUNK_ATTEMPTS:
                raise
            log.info("import.chunk_retry", job_id=str(job_id), attempt=attempt)


async def _finish(
    sessionmaker: async_sessionmaker[AsyncSession],
    queue: JobQueue,
    job_id: uuid.UUID,
    status: ImportStatus,
    now: datetime,
    *,
    failure: str | None = None,
) -> ImportStatus:
    async with session_scope(sessionmaker, queue) as session:
        job = await session.get_one(ImportJob, job_id, with_for_update=True)
        job.status = status
        job.finished_at = now
        job.failure = failure
        outbox.record(
            session,
            organization_id=job.organization_id,
            event=ImportFinished(
                import_job_id=job.id,
                filename=job.filename,
                status=status,
                created=job.created_count,
                duplicates=job.duplicate_count,
                errors=job.error_count,
                notify_user_ids=(job.created_by_id,) if job.created_by_id else (),
            ),
        )
    return status
