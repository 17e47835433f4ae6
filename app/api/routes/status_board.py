"""/status-board: open leads, opportunities and followed customers by how late their plan runs."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.api.deps import Cursor, Limit, NowDep, SessionDep, require
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.status_board import (
    BoardTimerOut,
    NextTaskOut,
    OwnerRagCountsOut,
    OwnerRefOut,
    RagCountsOut,
    RagThresholdsOut,
    StatusBoardItemOut,
    StatusBoardPage,
    StatusBoardSummaryOut,
)
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.sla.sla import RagStatus, SubjectType
from app.services.reports import status_board
from app.services.reports.status_board import BoardFilters, BoardItem, RagCounts

router = APIRouter(prefix=f"{API_V1}/status-board", tags=["status-board"])

CanRead = Annotated[Principal, Depends(require(Permission.sla_read))]
_HOUR = timedelta(hours=1)


async def board_filters(
    rag: Annotated[
        list[RagStatus] | None, Query(description="Only these colours; repeat for several.")
    ] = None,
    subject_type: SubjectType | None = None,
    owner_id: uuid.UUID | None = None,
    team_id: Annotated[uuid.UUID | None, Query(description="Records owned by the team's members.")] = None,
) -> BoardFilters:
    return BoardFilters(
        rags=frozenset(rag or ()), subject_type=subject_type, owner_id=owner_id, team_id=team_id
    )


Filters = Annotated[BoardFilters, Depends(board_filters)]


def _item(item: BoardItem) -> StatusBoardItemOut:
    return StatusBoardItemOut(
        subject_type=item.subject_type,
        subject_id=item.subject_id,
        name=item.name,
        owner=OwnerRefOut.model_validate(item.owner) if item.owner else None,
        plan_due_at=item.plan_due_at,
        late_by_seconds=int(item.late_by.total_seconds()) if item.late_by is not None else None,
        rag=item.rag,
        no_plan=item.plan_due_at is None,
        next_task=NextTaskOut.model_validate(item.next_task) if item.next_task else None,
        timer=BoardTimerOut.model_validate(item.timer) if item.timer else None,
    )


def _counts(counts: RagCounts) -> dict[str, int]:
    return {"green": counts.green, "yellow": counts.yellow, "red": counts.red, "total": counts.total}


@router.get("", response_model=StatusBoardPage, responses=problem_responses(401, 403, 422))
async def list_status_board(
    session: SessionDep,
    actor: CanRead,
    now: NowDep,
    filters: Filters,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> StatusBoardPage:
    """The records you may see, the longest overdue first and those without a plan last; colours
    follow the organization's thresholds (settings `rag_yellow_after_hours`, `rag_red_after_hours`)."""
    page = await status_board.list_board(
        session, actor=actor, now=now, filters=filters, limit=limit, cursor=cursor
    )
    return StatusBoardPage.of(page, [_item(i) for i in page.items])


@router.get("/summary", response_model=StatusBoardSummaryOut, responses=problem_responses(401, 403, 422))
async def get_status_board_summary(
    session: SessionDep, actor: CanRead, now: NowDep, filters: Filters
) -> StatusBoardSummaryOut:
    """How many records are green, yellow and red, overall and per owner, under the same filters as
    the list, and how many of the tasks you see are overdue."""
    summary = await status_board.summarize_board(session, actor=actor, now=now, filters=filters)
    return StatusBoardSummaryOut(
        as_of=now,
        thresholds=RagThresholdsOut(
            yellow_after_hours=summary.thresholds.yellow_after // _HOUR,
            red_after_hours=summary.thresholds.red_after // _HOUR,
        ),
        counts=RagCountsOut(**_counts(summary.counts)),
        owners=[
            OwnerRagCountsOut(
                owner=OwnerRefOut.model_validate(o.owner) if o.owner else None, **_counts(o.counts)
            )
            for o in summary.owners
        ],
        overdue_tasks=summary.overdue_tasks,
    )
