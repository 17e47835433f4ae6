"""/pipelines: the organization's staged sales flows."""

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
    with_etag,
)
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.pipelines import PipelineCreate, PipelineOut, PipelinePage, PipelineUpdate, StageOut
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.services.pipelines import pipelines
from app.services.pipelines.pipelines import PipelineWithStages

router = APIRouter(prefix=f"{API_V1}/pipelines", tags=["pipelines"])

CanRead = Annotated[Principal, Depends(require(Permission.pipelines_read))]
CanWrite = Annotated[Principal, Depends(require(Permission.pipelines_write))]


def pipeline_out(flow: PipelineWithStages) -> PipelineOut:
    pipeline = flow.pipeline
    return PipelineOut(
        id=pipeline.id,
        version=pipeline.version,
        created_at=pipeline.created_at,
        updated_at=pipeline.updated_at,
        name=pipeline.name,
        is_default=pipeline.is_default,
        ordering_rules=pipeline.ordering_rules,
        lose_reasons=pipeline.lose_reasons,
        stages=[StageOut.model_validate(stage) for stage in flow.stages],
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PipelineOut,
    responses=problem_responses(401, 403, 409, 413, 422),
    dependencies=[Idempotent],
)
async def create_pipeline(
    session: SessionDep, actor: CanWrite, body: PipelineCreate, response: Response
) -> PipelineOut:
    """Stages are checked as a whole: every problem answers together in one 422."""
    flow = await pipelines.create_pipeline(
        session,
        actor=actor,
        name=body.name,
        stages=body.stage_dicts(),
        ordering_rules=body.ordering_rule_dicts(),
        lose_reasons=body.lose_reasons if body.lose_reasons is not None else pipelines.DEFAULT_LOSE_REASONS,
        is_default=body.is_default,
    )
    response.headers["ETag"] = etag_for(flow.pipeline.version)
    response.headers["Location"] = f"{API_V1}/pipelines/{flow.pipeline.id}"
    return pipeline_out(flow)


@router.get("", response_model=PipelinePage, responses=problem_responses(401, 403, 422))
async def list_pipelines(
    session: SessionDep,
    actor: CanRead,
    options: ListOptionsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        str, Query(pattern=r"^-?(created_at|updated_at)$", description=SORT_BY_CHANGE)
    ] = "created_at",
) -> PipelinePage:
    page, stages = await pipelines.list_pipelines(
        session, actor=actor, options=options, sort=sort, limit=limit, cursor=cursor
    )
    return PipelinePage.of(page, [pipeline_out(PipelineWithStages(p, stages[p.id])) for p in page.items])


@router.get(
    "/{pipeline_id:uuid}",
    response_model=PipelineOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_pipeline(
    session: SessionDep, actor: CanRead, pipeline_id: uuid.UUID, response: Response
) -> PipelineOut:
    flow = await pipelines.get_pipeline(session, actor=actor, pipeline_id=pipeline_id)
    return with_etag(response, pipeline_out(flow))


@router.patch(
    "/{pipeline_id:uuid}",
    response_model=PipelineOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 409, 412, 413, 422)},
)
async def update_pipeline(
    session: SessionDep,
    actor: CanWrite,
    now: NowDep,
    pipeline_id: uuid.UUID,
    body: PipelineUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> PipelineOut:
    """`stages` replaces the list: keep a stage by sending its id; a stage left out is archived,
    which answers 409 while open opportunities are in it."""
    flow = await pipelines.update_pipeline(
        session,
        actor=actor,
        pipeline_id=pipeline_id,
        changes=body.pipeline_changes(),
        expected_version=expected_version,
        now=now,
    )
    return with_etag(response, pipeline_out(flow))
