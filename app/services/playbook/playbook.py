"""The playbook library: entries reps and marketing propose, supervisors approve, and everyone
finds by Chinese full-text search (rules and segmentation in app/domain/playbook/playbook.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, false, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.permissions import Permission, Role
from app.domain.identity.principal import Principal
from app.domain.models import Customer, PipelineStage, PlaybookEntry, PlaybookTerm, PlaybookUse, User
from app.domain.notifications.events import PlaybookApprovalDecided, PlaybookApprovalRequested
from app.domain.platform.errors import Conflict, FieldError, InvalidInput, PermissionDenied
from app.domain.playbook.playbook import (
    AUTHOR_STATES,
    ApprovalState,
    PlaybookKind,
    Tags,
    entry_terms,
    may_edit,
    query_terms,
)
from app.services.activities import activities
from app.services.assignment.ownership import supervisors_of
from app.services.pipelines import opportunities
from app.services.platform import audit, outbox
from app.services.platform.common import check_version, get_visible
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page, SortOrder, paginate

ENTRY_FIELDS = (
    "kind",
    "title",
    "industry",
    "customer_type",
    "stage_id",
    "product_line",
    "objection_type",
    "approval_state",
    "activity_id",
)
# Terms of one search at most: a pasted paragraph is cut here rather than scanning the index.
MAX_QUERY_TERMS = 32


@dataclass(frozen=True)
class NewEntry:
    kind: PlaybookKind
    title: str
    body: str
    tags: Tags = field(default_factory=Tags)
    stage_id: uuid.UUID | None = None
    activity_id: uuid.UUID | None = None
    approval_state: ApprovalState = ApprovalState.draft


@dataclass(frozen=True)
class EntryFilters:
    kind: PlaybookKind | None = None
    stage_id: uuid.UUID | None = None
    approval_state: ApprovalState | None = None
    author_id: uuid.UUID | None = None


def entry_visibility(actor: Principal) -> ColumnElement[bool]:
    """Approved entries for everyone; one's own in any state; approvers also every entry sent for
    approval or decided. A draft is its author's alone."""
    own = PlaybookEntry.author_id == actor.user_id if actor.user_id is not None else false()
    if actor.can(Permission.playbook_approve):
        return or_(PlaybookEntry.approval_state != ApprovalState.draft, own)
    return or_(PlaybookEntry.approval_state == ApprovalState.approved, own)


async def get_entry(
    session: AsyncSession, *, actor: Principal, entry_id: uuid.UUID, for_update: bool = False
) -> PlaybookEntry:
    return await get_visible(
        session, PlaybookEntry, entry_id, actor=actor, visible=entry_visibility(actor), for_update=for_update
    )


async def _check_stage(session: AsyncSession, actor: Principal, stage_id: uuid.UUID | None) -> None:
    if stage_id is None:
        return
    found = await session.scalar(
        select(PipelineStage.id).where(
            PipelineStage.id == stage_id, PipelineStage.organization_id == actor.organization_id
        )
    )
    if found is None:
        raise InvalidInput(
            f"No pipeline stage {stage_id} in this organization.",
            code="playbook_entry.unknown_stage",
            errors=[FieldError("tags.stage_id", "not_found", "no such pipeline stage")],
        )


def _tags(entry: PlaybookEntry) -> Tags:
    return Tags(
        industry=entry.industry,
        customer_type=entry.customer_type,
        product_line=entry.product_line,
        objection_type=entry.objection_type,
    )


async def _index(session: AsyncSession, entry: PlaybookEntry) -> None:
    """The entry's terms, rewritten: the column for reading, the term rows for searching."""
    indexed = entry_terms(entry.title, entry.body, _tags(entry))
    entry.search_terms = indexed.text
    await session.flush()
    await session.execute(delete(PlaybookTerm).where(PlaybookTerm.entry_id == entry.id))
    if indexed.terms:
        await session.execute(
            insert(PlaybookTerm),
            [
                {
                    "entry_id": entry.id,
                    "term": term,
                    "organization_id": entry.organization_id,
                    "is_tag": term in indexed.tag_terms,
                }
                for term in indexed.terms
            ],
        )


async def create_entry(session: AsyncSession, *, actor: Principal, data: NewEntry) -> PlaybookEntry:
    """A draft, or an entry sent for approval at once (a rep's answer proposed from an activity)."""
    if data.approval_state not in AUTHOR_STATES:
        raise InvalidInput(
            "A new entry is a draft or sent for approval.",
            code="playbook_entry.invalid_state",
            errors=[FieldError("approval_state", "enum", "draft or pending")],
        )
    await _check_stage(session, actor, data.stage_id)
    if data.activity_id is not None:
        await activities.get_activity(session, actor=actor, activity_id=data.activity_id)
    entry = PlaybookEntry(
        organization_id=actor.organization_id,
        kind=data.kind,
        title=data.title,
        body=data.body,
        stage_id=data.stage_id,
        activity_id=data.activity_id,
        author_id=actor.user_id,
        approval_state=data.approval_state,
        **data.tags.__dict__,
    )
    session.add(entry)
    await _index(session, entry)
    await audit.record_audit(
        session,
        actor=actor,
        action="playbook_entry.created",
        entity_type="playbook_entry",
        entity_id=entry.id,
        after=audit.snapshot(entry, ENTRY_FIELDS),
    )
    if entry.approval_state is ApprovalState.pending:
        await _request_approval(session, entry)
    return entry


async def update_entry(
    session: AsyncSession,
    *,
    actor: Principal,
    entry_id: uuid.UUID,
    changes: dict[str, Any],
    expected_version: int | None,
    now: datetime,
) -> PlaybookEntry:
    """Authors edit their entries until approved, and send them for approval (again) or take them
    back to draft; approvers may edit approved entries, which stay approved."""
    entry = await get_entry(session, actor=actor, entry_id=entry_id, for_update=True)
    check_version(entry, expected_version)
    is_author = actor.user_id is not None and entry.author_id == actor.user_id
    if not may_edit(
        entry.approval_state, is_author=is_author, is_approver=actor.can(Permission.playbook_approve)
    ):
        raise PermissionDenied(
            "Only its author edits an entry before approval; an approved one, a supervisor or above.",
            code="playbook_entry.edit_forbidden",
        )
    before = audit.snapshot(entry, ENTRY_FIELDS)
    state = changes.pop("approval_state", None)
    if "tags" in changes:
        tags = dict(changes.pop("tags") or {})
        stage_id = tags.pop("stage_id", None)
        await _check_stage(session, actor, stage_id)
        for name, value in {**Tags().__dict__, **tags, "stage_id": stage_id}.items():
            setattr(entry, name, value)
    for name, value in changes.items():
        setattr(entry, name, value)
    if state is not None:
        _move(entry, ApprovalState(state), is_author=is_author)
    entry.updated_at = now
    await _index(session, entry)
    await audit.record_audit(
        session,
        actor=actor,
        action="playbook_entry.updated",
        entity_type="playbook_entry",
        entity_id=entry.id,
        before=before,
        after=audit.snapshot(entry, ENTRY_FIELDS),
    )
    if state is not None and before["approval_state"] != entry.approval_state.value and state == "pending":
        await _request_approval(session, entry)
    return entry


def _move(entry: PlaybookEntry, state: ApprovalState, *, is_author: bool) -> None:
    if state is entry.approval_state:
        return
    if not is_author or state not in AUTHOR_STATES:
        raise PermissionDenied(
            "Only its author sends an entry for approval or takes it back to draft; approvers decide "
            "through the approval.",
            code="playbook_entry.state_forbidden",
        )
    if entry.approval_state is ApprovalState.approved:
        raise Conflict("An approved entry stays approved.", code="playbook_entry.approved")
    entry.approval_state = state
    entry.approval_decided_by_id = entry.approval_decided_at = entry.approval_reason = None


async def _approvers(session: AsyncSession, entry: PlaybookEntry) -> list[uuid.UUID]:
    """The author's supervisors; the directors and admins when the author has none."""
    if entry.author_id is not None:
        supervisors = await supervisors_of(session, entry.organization_id, entry.author_id)
        if supervisors:
            return supervisors
    found = await session.scalars(
        select(User.id)
        .where(
            User.organization_id == entry.organization_id,
            User.role.in_([Role.director, Role.admin]),
            User.is_active,
        )
        .order_by(User.id)
    )
    return [user_id for user_id in found if user_id != entry.author_id]


async def _request_approval(session: AsyncSession, entry: PlaybookEntry) -> None:
    author = await session.get(User, entry.author_id) if entry.author_id else None
    outbox.record(
        session,
        organization_id=entry.organization_id,
        event=PlaybookApprovalRequested(
            entry_id=entry.id,
            kind=entry.kind.value,
            title=entry.title,
            author_name=author.display_name if author else "",
            activity_id=entry.activity_id,
            notify_user_ids=tuple(await _approvers(session, entry)),
        ),
    )


async def decide_approval(
    session: AsyncSession, *, actor: Principal, entry_id: uuid.UUID, approve: bool, reason: str, now: datetime
) -> PlaybookEntry:
    """A supervisor or above, not the author, approves a pending entry (reps find it from now on)
    or rejects it (its author may change it and send it again)."""
    entry = await get_entry(session, actor=actor, entry_id=entry_id, for_update=True)
    if entry.approval_state is not ApprovalState.pending:
        raise Conflict("The entry is not waiting for an approval.", code="playbook_entry.not_pending")
    if actor.user_id is None or actor.user_id == entry.author_id:
        raise PermissionDenied(
            "Nobody approves their own playbook entry.", code="playbook_entry.approval_forbidden"
        )
    entry.approval_state = ApprovalState.approved if approve else ApprovalState.rejected
    entry.approval_decided_by_id = actor.user_id
    entry.approval_decided_at = now
    entry.approval_reason = reason
    entry.updated_at = now
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action=f"playbook_entry.{entry.approval_state.value}",
        entity_type="playbook_entry",
        entity_id=entry.id,
        before={"approval_state": ApprovalState.pending.value},
        after={"approval_state": entry.approval_state.value, "reason": reason},
    )
    approver = await session.get(User, actor.user_id)
    outbox.record(
        session,
        organization_id=entry.organization_id,
        event=PlaybookApprovalDecided(
            entry_id=entry.id,
            kind=entry.kind.value,
            title=entry.title,
            decision=entry.approval_state.value,
            reason=reason,
            approver_name=approver.display_name if approver else "",
            notify_user_ids=(entry.author_id,) if entry.author_id else (),
        ),
    )
    return entry


def _filtered(actor: Principal, filters: EntryFilters) -> list[ColumnElement[bool]]:
    conditions = [PlaybookEntry.organization_id == actor.organization_id, entry_visibility(actor)]
    for column, value in (
        (PlaybookEntry.kind, filters.kind),
        (PlaybookEntry.stage_id, filters.stage_id),
        (PlaybookEntry.approval_state, filters.approval_state),
        (PlaybookEntry.author_id, filters.author_id),
    ):
        if value is not None:
            conditions.append(column == value)
    return conditions


_ENTRY_SORTABLE = {"created_at": PlaybookEntry.created_at, "updated_at": PlaybookEntry.updated_at}


async def list_entries(
    session: AsyncSession,
    *,
    actor: Principal,
    filters: EntryFilters,
    limit: int,
    cursor: str | None,
    options: ListOptions = NO_OPTIONS,
    sort: str = "-created_at",
) -> Page[PlaybookEntry]:
    order = SortOrder.parse(sort, _ENTRY_SORTABLE)
    return await paginate(
        session,
        select(PlaybookEntry).where(*_filtered(actor, filters)),
        sort_column=_ENTRY_SORTABLE[order.name],
        id_column=PlaybookEntry.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )


async def search_entries(
    session: AsyncSession, *, actor: Principal, q: str, filters: EntryFilters, limit: int
) -> list[PlaybookEntry]:
    """The best `limit` entries for `q`: most query terms matched first, then most of them in the
    tags, then the most used. One index-only lookup of the terms, counted per entry."""
    terms = query_terms(q)[:MAX_QUERY_TERMS]
    if not terms:
        raise InvalidInput(
            "The search has no words to look for.",
            code="playbook_entry.empty_query",
            errors=[FieldError("q", "empty", "give at least one word")],
        )
    matched = (
        select(
            PlaybookTerm.entry_id,
            func.count().label("hits"),
            func.sum(case((PlaybookTerm.is_tag, 1), else_=0)).label("tag_hits"),
        )
        .where(PlaybookTerm.organization_id == actor.organization_id, PlaybookTerm.term.in_(terms))
        .group_by(PlaybookTerm.entry_id)
        # Counted once, then joined: without table statistics PostgreSQL otherwise re-ran the count
        # for each entry (87 s at 10k entries, bench/RESULTS.md).
        .cte("matched")
        .prefix_with("MATERIALIZED")
    )
    # The ranking joins narrow rows (ids and sort keys); only the best `limit` entries are read whole.
    ranked = (
        select(PlaybookEntry.id)
        .join(matched, matched.c.entry_id == PlaybookEntry.id)
        .where(and_(*_filtered(actor, filters)))
        .order_by(
            matched.c.hits.desc(),
            matched.c.tag_hits.desc(),
            PlaybookEntry.usage_count.desc(),
            PlaybookEntry.created_at.desc(),
            PlaybookEntry.id,
        )
        .limit(limit)
    )
    ids = list(await session.scalars(ranked))
    found = {
        entry.id: entry
        for entry in await session.scalars(select(PlaybookEntry).where(PlaybookEntry.id.in_(ids)))
    }
    return [found[entry_id] for entry_id in ids]


async def record_use(
    session: AsyncSession, *, actor: Principal, entry_id: uuid.UUID, activity_id: uuid.UUID
) -> tuple[PlaybookUse, PlaybookEntry]:
    """ "Used this answer" on an activity: once per entry and activity (409 again), and only for an
    approved entry. The count goes up in the database, so simultaneous uses all count."""
    entry = await get_entry(session, actor=actor, entry_id=entry_id)
    await activities.get_activity(session, actor=actor, activity_id=activity_id)
    use = PlaybookUse(
        organization_id=actor.organization_id,
        entry_id=entry.id,
        activity_id=activity_id,
        user_id=actor.user_id,
    )
    try:
        async with session.begin_nested():
            session.add(use)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "This entry's use on this activity is already recorded.", code="playbook_entry.use_recorded"
        ) from exc
    counted = await session.execute(
        update(PlaybookEntry)
        .where(PlaybookEntry.id == entry.id, PlaybookEntry.approval_state == ApprovalState.approved)
        .values(usage_count=PlaybookEntry.usage_count + 1)
        .execution_options(synchronize_session=False)
    )
    if counted.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("Only an approved entry is used.", code="playbook_entry.not_approved")
    await session.refresh(entry, ["usage_count"])
    return use, entry


async def entries_for_opportunity(
    session: AsyncSession, *, actor: Principal, opportunity_id: uuid.UUID, limit: int
) -> list[PlaybookEntry]:
    """Approved entries whose tags match the deal: its stage, its customer's industry, one of its
    product lines; the most matching first, then the most used (issue 21, point 5)."""
    deal = await opportunities.get_opportunity(session, actor=actor, opportunity_id=opportunity_id)
    industry = await session.scalar(select(Customer.industry).where(Customer.id == deal.customer_id))
    conditions = [PlaybookEntry.stage_id == deal.stage_id]
    if industry:
        conditions.append(PlaybookEntry.industry == industry)
    if deal.product_lines:
        conditions.append(PlaybookEntry.product_line.in_(deal.product_lines))
    matched = sum(
        (case((condition, 1), else_=0) for condition in conditions[1:]), case((conditions[0], 1), else_=0)
    )
    statement = (
        select(PlaybookEntry)
        .where(
            PlaybookEntry.organization_id == actor.organization_id,
            PlaybookEntry.approval_state == ApprovalState.approved,
            or_(*conditions),
        )
        .order_by(
            matched.desc(),
            PlaybookEntry.usage_count.desc(),
            PlaybookEntry.created_at.desc(),
            PlaybookEntry.id,
        )
        .limit(limit)
    )
    return list(await session.scalars(statement))
