"""/playbook-entries: the playbook library (cases, objection answers, scripts, policies,
recordings), its approval and its Chinese full-text search."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.api.deps import (
    ETAG_HEADER,
    SORT_BY_CHANGE,
    Cursor,
    ExpectedVersion,
    Idempotent,
    Limit,
    ListOptionsDep,
    NowDep,
    SessionDep,
    etag_for,
    require,
)
from app.api.display_names import with_name, with_names
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.playbook import (
    PlaybookApprovalIn,
    PlaybookEntryCreate,
    PlaybookEntryOut,
    PlaybookEntryPage,
    PlaybookEntryUpdate,
    PlaybookUseIn,
    PlaybookUseOut,
    TagsOut,
)
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.models import PlaybookEntry
from app.domain.playbook.playbook import ApprovalState, PlaybookKind, Tags
from app.services.playbook import playbook

router = APIRouter(prefix=API_V1, tags=["playbook"])

CanRead = Annotated[Principal, Depends(require(Permission.playbook_read))]
CanWrite = Annotated[Principal, Depends(require(Permission.playbook_write))]
CanApprove = Annotated[Principal, Depends(require(Permission.playbook_approve))]


def _out(entry: PlaybookEntry, response: Response | None = None) -> PlaybookEntryOut:
    out = PlaybookEntryOut(
        id=entry.id,
        version=entry.version,
        created_at=entry.created_at,
        updated_at=entry.updated_at,
        kind=entry.kind,
        title=entry.title,
        body=entry.body,
        tags=TagsOut(
            industry=entry.industry,
            customer_type=entry.customer_type,
            stage_id=entry.stage_id,
            product_line=entry.product_line,
            objection_type=entry.objection_type,
        ),
        author_id=entry.author_id,
        activity_id=entry.activity_id,
        approval_state=entry.approval_state,
        approval_decided_by_id=entry.approval_decided_by_id,
        approval_decided_at=entry.approval_decided_at,
        approval_reason=entry.approval_reason,
        usage_count=entry.usage_count,
    )
    if response is not None:
        response.headers["ETag"] = etag_for(out.version)
    return out


@router.post(
    "/playbook-entries",
    status_code=status.HTTP_201_CREATED,
    response_model=PlaybookEntryOut,
    responses=problem_responses(401, 403, 404, 413, 422),
    dependencies=[Idempotent],
)
async def create_playbook_entry(
    session: SessionDep, actor: CanWrite, body: PlaybookEntryCreate, response: Response
) -> PlaybookEntryOut:
    """A draft only its author sees, or an entry sent for approval (`approval_state: pending`), whose
    approvers are notified. With `activity_id`, a rep proposes the answer they gave on that call or
    visit (404 when the activity is not theirs to see)."""
    tags = body.tags.model_dump()
    stage_id = tags.pop("stage_id")
    entry = await playbook.create_entry(
        session,
        actor=actor,
        data=playbook.NewEntry(
            kind=body.kind,
            title=body.title,
            body=body.body,
            tags=Tags(**tags),
            stage_id=stage_id,
            activity_id=body.activity_id,
            approval_state=ApprovalState(body.approval_state),
        ),
    )
    response.headers["Location"] = f"{API_V1}/playbook-entries/{entry.id}"
    return await with_name(session, actor, _out(entry, response))


@router.get("/playbook-entries", response_model=PlaybookEntryPage, responses=problem_responses(401, 403, 422))
async def list_playbook_entries(
    session: SessionDep,
    actor: CanRead,
    options: ListOptionsDep,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Words to find, e.g. `三甲医院 检验科 预算有限`: entries matching the most of "
            "them first, then those matching in their tags, then the most used.",
        ),
    ] = None,
    kind: PlaybookKind | None = None,
    stage_id: uuid.UUID | None = None,
    approval_state: Annotated[
        ApprovalState | None, Query(description="`pending`: the approval queue (supervisors and up).")
    ] = None,
    author_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        str, Query(pattern=r"^-?(created_at|updated_at)$", description=SORT_BY_CHANGE)
    ] = "-created_at",
) -> PlaybookEntryPage:
    """Reps see approved entries and their own; supervisors and up also every entry sent for approval
    or decided. Without `q`, newest first, page by page."""
    filters = playbook.EntryFilters(
        kind=kind, stage_id=stage_id, approval_state=approval_state, author_id=author_id
    )
    if q is not None:
        found = await playbook.search_entries(session, actor=actor, q=q, filters=filters, limit=limit)
        return PlaybookEntryPage(
            items=await with_names(session, actor, [_out(entry) for entry in found]), next_cursor=None
        )
    page = await playbook.list_entries(
        session, actor=actor, options=options, sort=sort, filters=filters, limit=limit, cursor=cursor
    )
    return PlaybookEntryPage.of(page, await with_names(session, actor, [_out(entry) for entry in page.items]))


@router.get(
    "/playbook-entries/{playbook_entry_id:uuid}",
    response_model=PlaybookEntryOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_playbook_entry(
    session: SessionDep, actor: CanRead, playbook_entry_id: uuid.UUID, response: Response
) -> PlaybookEntryOut:
    return await with_name(
        session,
        actor,
        _out(await playbook.get_entry(session, actor=actor, entry_id=playbook_entry_id), response),
    )


@router.patch(
    "/playbook-entries/{playbook_entry_id:uuid}",
    response_model=PlaybookEntryOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 409, 412, 413, 422)},
)
async def update_playbook_entry(
    session: SessionDep,
    actor: CanWrite,
    now: NowDep,
    playbook_entry_id: uuid.UUID,
    body: PlaybookEntryUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> PlaybookEntryOut:
    """The author edits their entry until it is approved and sends it for approval
    (`approval_state: pending`, approvers notified) or takes it back to draft; supervisors and up
    edit approved entries, which stay approved (403 `playbook_entry.edit_forbidden` otherwise)."""
    entry = await playbook.update_entry(
        session,
        actor=actor,
        entry_id=playbook_entry_id,
        changes=body.changes(),
        expected_version=expected_version,
        now=now,
    )
    return await with_name(session, actor, _out(entry, response))


@router.post(
    "/playbook-entries/{playbook_entry_id:uuid}/approval",
    response_model=PlaybookEntryOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
)
async def decide_playbook_approval(
    session: SessionDep,
    actor: CanApprove,
    now: NowDep,
    playbook_entry_id: uuid.UUID,
    body: PlaybookApprovalIn,
    response: Response,
) -> PlaybookEntryOut:
    """A supervisor or above, other than its author, approves a pending entry (reps find it from now
    on) or rejects it; the author is notified (409 `playbook_entry.not_pending` when it is not
    waiting)."""
    entry = await playbook.decide_approval(
        session,
        actor=actor,
        entry_id=playbook_entry_id,
        approve=body.decision == "approved",
        reason=body.reason,
        now=now,
    )
    return await with_name(session, actor, _out(entry, response))


@router.post(
    "/playbook-entries/{playbook_entry_id:uuid}/uses",
    status_code=status.HTTP_201_CREATED,
    response_model=PlaybookUseOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
)
async def record_playbook_use(
    session: SessionDep, actor: CanWrite, playbook_entry_id: uuid.UUID, body: PlaybookUseIn
) -> PlaybookUseOut:
    """ "Used this answer" on a call or visit: the entry's `usage_count` goes up by one, once per
    activity (409 `playbook_entry.use_recorded` again; 409 `playbook_entry.not_approved` for an
    entry not approved)."""
    use, entry = await playbook.record_use(
        session, actor=actor, entry_id=playbook_entry_id, activity_id=body.activity_id
    )
    answer = PlaybookUseOut(
        id=use.id,
        entry_id=use.entry_id,
        activity_id=use.activity_id,
        user_id=use.user_id,
        created_at=use.created_at,
        usage_count=entry.usage_count,
    )
    return await with_name(session, actor, answer)


@router.get(
    "/opportunities/{opportunity_id:uuid}/playbook",
    response_model=PlaybookEntryPage,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_opportunity_playbook(
    session: SessionDep, actor: CanRead, opportunity_id: uuid.UUID, limit: Limit = 20
) -> PlaybookEntryPage:
    """The approved entries for this deal: tagged with its stage, its customer's industry or one of
    its product lines, the most matching first, then the most used (404 for a deal the caller does
    not see)."""
    found = await playbook.entries_for_opportunity(
        session, actor=actor, opportunity_id=opportunity_id, limit=limit
    )
    return PlaybookEntryPage(
        items=await with_names(session, actor, [_out(entry) for entry in found]), next_cursor=None
    )
