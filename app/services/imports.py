"""CSV/XLSX imports of leads and customers, run as a resumable job.

Rows are processed in chunks; each chunk commits together with the job's progress counter, so a
job killed mid-way resumes after the last committed row and never imports a row twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

import structlog
from sqlalchemy import insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.customer_tier import format_customer_code, tier_for_annual_purchase
from app.domain.dedup import normalise_company
from app.domain.errors import FieldError, InvalidInput
from app.domain.import_mapping import (
    CUSTOMER_FIELDS,
    LEAD_FIELDS,
    parse_row,
    resolve_columns,
    unknown_mapping_targets,
)
from app.domain.leads import LeadSource, LeadStatus
from app.domain.models import (
    AuditEvent,
    Customer,
    ImportJob,
    ImportKind,
    ImportRowError,
    ImportStatus,
    Lead,
    User,
)
from app.domain.policy import OrganizationPolicy
from app.domain.principal import Principal
from app.services import outbox, sequences
from app.services.common import get_visible
from app.services.customers import CODE_SEQUENCE
from app.services.jobs import JobQueue, JobRequest, enqueue_after_commit
from app.services.leads import lead_keys
from app.services.pagination import Page, SortOrder, paginate
from app.services.policy import policy_for
from app.services.spreadsheets import check_filename, count_data_rows, iter_rows
from app.services.storage import FileStorage
from app.services.unit_of_work import session_scope
from app.services.visibility import visible_to

log = structlog.get_logger(__name__)

RUN_IMPORT_JOB = "run_import"
CHUNK_SIZE = 1000
MAX_ROWS = 100_000
MAX_CHUNK_ATTEMPTS = 3
FIELDS_BY_KIND = {ImportKind.leads: LEAD_FIELDS, ImportKind.customers: CUSTOMER_FIELDS}


def run_import_job(job_id: uuid.UUID) -> JobRequest:
    return JobRequest(RUN_IMPORT_JOB, args=(str(job_id),), job_id=f"import:{job_id}")


async def start_import(
    session: AsyncSession,
    *,
    actor: Principal,
    kind: ImportKind,
    filename: str,
    content: bytes,
    column_mapping: dict[str, str],
    storage: FileStorage,
) -> ImportJob:
    check_filename(filename)
    unknown = unknown_mapping_targets(column_mapping, FIELDS_BY_KIND[kind])
    if unknown:
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


async def get_import_job(session: AsyncSession, *, actor: Principal, job_id: uuid.UUID) -> ImportJob:
    # Row errors quote phone numbers and names, so a job is seen like a record its creator owns.
    return await get_visible(
        session, ImportJob, job_id, actor=actor, visible=visible_to(actor, ImportJob.created_by_id)
    )


async def list_row_errors(
    session: AsyncSession, *, actor: Principal, job_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[ImportRowError]:
    job = await get_import_job(session, actor=actor, job_id=job_id)
    return await paginate(
        session,
        select(ImportRowError).where(
            ImportRowError.organization_id == actor.organization_id, ImportRowError.import_job_id == job.id
        ),
        sort_column=ImportRowError.row_number,
        id_column=ImportRowError.id,
        order=SortOrder(name="row_number", descending=False),
        limit=limit,
        cursor=cursor,
    )


@dataclass
class ChunkOutcome:
    created: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, job: ImportJob, row: int, error: FieldError) -> None:
        self.errors.append(
            {
                "id": uuid.uuid4(),
                "organization_id": job.organization_id,
                "import_job_id": job.id,
                "row_number": row,
                "field": error.field,
                "code": error.code,
                "message": error.message[:500],
            }
        )


def _audit_rows(
    actor: Principal, entity_type: str, ids: list[uuid.UUID], job: ImportJob, now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "id": uuid.uuid4(),
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
        for entity_id in ids
    ]


async def _import_leads(
    session: AsyncSession,
    actor: Principal,
    job: ImportJob,
    rows: list[tuple[int, dict[str, Any]]],
    policy: OrganizationPolicy,
    now: datetime,
) -> ChunkOutcome:
    outcome = ChunkOutcome()
    candidates = []
    for number, raw in rows:
        parsed = parse_row(raw, default_source=LeadSource.import_)
        errors = list(parsed.errors)
        values = parsed.values
        keys = None
        if not errors and not (values.get("phone") or values.get("email") or values.get("wechat")):
            errors.append(FieldError("phone", "missing", "give phone, email or wechat"))
        if not errors:
            try:
                keys = lead_keys(values.get("phone"), values.get("email"), values.get("company"))
            except InvalidInput as invalid:
                errors.extend(invalid.errors)
        if errors or keys is None:
            for error in errors:
                outcome.fail(job, number, error)
            continue
        candidates.append((number, values, keys))

    phones = {keys.phone for _, _, keys in candidates if keys.phone}
    emails = {keys.email for _, _, keys in candidates if keys.email}
    seen: dict[str, str] = {}
    if phones or emails:
        existing = await session.execute(
            select(Lead.id, Lead.phone_key, Lead.email_key).where(
                Lead.organization_id == actor.organization_id,
                or_(Lead.phone_key.in_(phones), Lead.email_key.in_(emails)),
            )
        )
        for lead_id, phone_key, email_key in existing:
            for key in (f"phone:{phone_key}", f"email:{email_key}"):
                seen.setdefault(key, f"existing lead {lead_id}")

    new_leads = []
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
        new_leads.append(
            {
                "id": uuid.uuid4(),
                "organization_id": actor.organization_id,
                "created_at": now,
                "updated_at": now,
                "version": 1,
                "name": values["name"][:100],
                "company": values.get("company"),
                "phone": keys.phone,
                "email": keys.email,
                "wechat": values.get("wechat", "")[:64] or None,
                "phone_key": keys.phone,
                "email_key": keys.email,
                "company_key": keys.company,
                "source": values["source"],
                "region": values.get("region", "")[:64] or None,
                "product_line": values.get("product_line", "")[:64] or None,
                "industry": values.get("industry", "")[:64] or None,
                "budget": values.get("budget"),
                "notes": values.get("notes"),
                "status": LeadStatus.new,
                "possible_duplicates": [],
                "tags": values.get("tags", []),
                "custom_fields": {},
            }
        )
    if new_leads:
        await session.execute(insert(Lead), new_leads)
        await session.execute(
            insert(AuditEvent), _audit_rows(actor, "lead", [r["id"] for r in new_leads], job, now)
        )
    outcome.created = len(new_leads)
    return outcome


async def _import_customers(
    session: AsyncSession,
    actor: Principal,
    job: ImportJob,
    rows: list[tuple[int, dict[str, Any]]],
    policy: OrganizationPolicy,
    now: datetime,
) -> ChunkOutcome:
    outcome = ChunkOutcome()
    candidates = []
    for number, raw in rows:
        parsed = parse_row(raw, default_source=None)
        if parsed.errors:
            for error in parsed.errors:
                outcome.fail(job, number, error)
            continue
        candidates.append((number, parsed.values, normalise_company(parsed.values["name"])))
    seen: dict[str, str] = {}
    names = {key for _, _, key in candidates}
    if names:
        existing = await session.execute(
            select(Customer.code, Customer.name_key).where(
                Customer.organization_id == actor.organization_id, Customer.name_key.in_(names)
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
        accepted.append((values, name_key))
    if accepted:
        last = await sequences.reserve(
            session, organization_id=actor.organization_id, name=CODE_SEQUENCE, count=len(accepted)
        )
        first = last - len(accepted) + 1
        new_customers = [
            {
                "id": uuid.uuid4(),
                "organization_id": actor.organization_id,
                "created_at": now,
                "updated_at": now,
                "version": 1,
                "code": format_customer_code(first + offset),
                "name": values["name"],
                "name_key": name_key,
                "industry": values.get("industry", "")[:64] or None,
                "region": values.get("region", "")[:64] or None,
                "address": values.get("address"),
                "latitude": values.get("latitude"),
                "longitude": values.get("longitude"),
                "annual_purchase": values.get("annual_purchase"),
                "tier": (
                    tier_for_annual_purchase(values["annual_purchase"], policy.tier_thresholds)
                    if values.get("annual_purchase") is not None
                    else values.get("tier", "C")
                ),
                "owner_id": actor.user_id,
                "tags": values.get("tags", []),
                "custom_fields": {},
            }
            for offset, (values, name_key) in enumerate(accepted)
        ]
        await session.execute(insert(Customer), new_customers)
        await session.execute(
            insert(AuditEvent), _audit_rows(actor, "customer", [c["id"] for c in new_customers], job, now)
        )
    outcome.created = len(accepted)
    return outcome


_IMPORTERS = {ImportKind.leads: _import_leads, ImportKind.customers: _import_customers}


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
            total = count_data_rows(path, filename)
            if total > MAX_ROWS:
                raise InvalidInput(f"The file has {total} rows; at most {MAX_ROWS} can be imported at once.")
            rows = iter_rows(path, filename)
            header = next(rows, None)
            if header is None:
                raise InvalidInput("The file is empty.")
            columns = resolve_columns(list(header), mapping, FIELDS_BY_KIND[kind])
            if "name" not in columns.values():
                raise InvalidInput(
                    "No column holds the name (姓名 / name / 公司名称 ...); map one with column_mapping."
                )
            async with session_scope(sessionmaker, queue) as session:
                job = await session.get_one(ImportJob, job_id, with_for_update=True)
                job.total_rows = total
                start = job.processed_rows
            for chunk in _chunks(rows, columns, start):
                await _commit_chunk(sessionmaker, queue, job_id=job_id, kind=kind, chunk=chunk, clock=clock)
                if on_progress is not None:
                    on_progress(chunk[-1][0], total)
    except InvalidInput as invalid:
        return await _finish(
            sessionmaker, queue, job_id, ImportStatus.failed, clock(), failure=invalid.detail
        )
    return await _finish(sessionmaker, queue, job_id, ImportStatus.completed, clock())


async def _commit_chunk(
    sessionmaker: async_sessionmaker[AsyncSession],
    queue: JobQueue,
    *,
    job_id: uuid.UUID,
    kind: ImportKind,
    chunk: list[tuple[int, dict[str, Any]]],
    clock: Callable[[], datetime],
) -> None:
    for attempt in range(1, MAX_CHUNK_ATTEMPTS + 1):
        try:
            async with session_scope(sessionmaker, queue) as session:
                job = await session.get_one(ImportJob, job_id, with_for_update=True)
                if job.processed_rows >= chunk[-1][0]:
                    return  # another run already committed these rows
                actor = await _actor_of(session, job)
                policy = await policy_for(session, actor)
                outcome = await _IMPORTERS[kind](session, actor, job, chunk, policy, clock())
                if outcome.errors:
                    await session.execute(insert(ImportRowError), outcome.errors)
                job.processed_rows = chunk[-1][0]
                job.created_count += outcome.created
                job.duplicate_count += outcome.duplicates
                job.error_count += len(outcome.errors) - outcome.duplicates
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
        await outbox.record_event(
            session,
            organization_id=job.organization_id,
            topic="import.finished",
            payload={
                "import_job_id": str(job.id),
                "filename": job.filename,
                "status": status.value,
                "created": job.created_count,
                "duplicates": job.duplicate_count,
                "errors": job.error_count,
                "notify_user_ids": [str(job.created_by_id)] if job.created_by_id else [],
            },
        )
    return status
