"""Pipelines: the organization's staged sales flows, seeded from two templates and edited safely.

A stage keeps its id for life. Editing a pipeline sends its full stage list back; stages named by
id are changed in place, new ones are added, and stages left out are archived — refused while an
open opportunity sits in one — so no opportunity or stage history ever points at nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.models import Opportunity, OpportunityStatus, Pipeline, PipelineStage
from app.domain.pipelines.pipelines import (
    DEFAULT_ORDERING_RULES,
    TEMPLATES,
    StageSpec,
    parse_ordering_rules,
    parse_stages,
)
from app.domain.platform.errors import Conflict, FieldError, InvalidInput, NotFound
from app.services.platform import audit, change_log
from app.services.platform.common import OrganizationList, UniqueName, check_version, get_visible
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page

MAX_LOSE_REASONS = 30
DEFAULT_LOSE_REASONS = ("价格过高", "选择了竞品", "项目取消", "预算不足", "联系不上")

_NAME = UniqueName(Pipeline, "A pipeline")


@dataclass(frozen=True)
class PipelineWithStages:
    pipeline: Pipeline
    stages: list[PipelineStage]


def stage_spec(stage: PipelineStage) -> StageSpec:
    """The stored stage as the domain reads it (stored stages were validated when written, so one that
    no longer validates is broken data: pydantic's ValidationError, a ValueError)."""
    return StageSpec.model_validate(_stage_json(stage))


def _stage_json(stage: PipelineStage) -> dict[str, Any]:
    return {
        "name": stage.name,
        "kind": stage.kind.value,
        "probability": stage.probability,
        "required_fields": list(stage.required_fields),
        "required_evidence": list(stage.required_evidence),
        "max_dwell_hours": stage.max_dwell_hours,
        "actions": list(stage.actions),
    }


def _stage_values(spec: StageSpec) -> dict[str, Any]:
    return {**spec.model_dump(mode="json"), "kind": spec.kind}


def _lose_reasons(raw: Sequence[str]) -> list[str]:
    reasons = list(dict.fromkeys(r.strip() for r in raw if r.strip()))
    if len(reasons) > MAX_LOSE_REASONS:
        raise InvalidInput(
            f"At most {MAX_LOSE_REASONS} lose reasons.",
            code="pipeline.invalid",
            errors=[FieldError("lose_reasons", "too_many", f"at most {MAX_LOSE_REASONS}")],
        )
    return reasons


async def active_stages(session: AsyncSession, pipeline_id: uuid.UUID) -> list[PipelineStage]:
    rows = await session.scalars(
        select(PipelineStage)
        .where(PipelineStage.pipeline_id == pipeline_id, PipelineStage.archived_at.is_(None))
        .order_by(PipelineStage.position)
    )
    return list(rows)


async def _make_default(session: AsyncSession, actor: Principal, pipeline: Pipeline) -> None:
    demoted = await session.scalars(
        update(Pipeline)
        .where(
            Pipeline.organization_id == actor.organization_id,
            Pipeline.id != pipeline.id,
            Pipeline.is_default.is_(True),
        )
        .values(is_default=False, version=Pipeline.version + 1)
        .returning(Pipeline.id)
        .execution_options(synchronize_session=False)
    )
    await change_log.record_changes(session, Pipeline, actor.organization_id, demoted.all())
    pipeline.is_default = True


async def create_pipeline(
    session: AsyncSession,
    *,
    actor: Principal,
    name: str,
    stages: Sequence[Mapping[str, Any]],
    ordering_rules: Sequence[Mapping[str, Any]] = (),
    lose_reasons: Sequence[str] = DEFAULT_LOSE_REASONS,
    is_default: bool = False,
) -> PipelineWithStages:
    specs = parse_stages(stages)
    rules = parse_ordering_rules(ordering_rules)
    await _NAME.ensure_free(session, actor, name)
    pipeline = Pipeline(
        organization_id=actor.organization_id,
        name=name,
        ordering_rules=[rule.model_dump(mode="json") for rule in rules],
        lose_reasons=_lose_reasons(lose_reasons),
    )
    session.add(pipeline)
    await session.flush()
    if is_default or not await _has_default(session, actor.organization_id):
        await _make_default(session, actor, pipeline)
    created = [
        PipelineStage(
            organization_id=actor.organization_id,
            pipeline_id=pipeline.id,
            position=index,
            **_stage_values(spec),
        )
        for index, spec in enumerate(specs)
    ]
    session.add_all(created)
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="pipeline.created",
        entity_type="pipeline",
        entity_id=pipeline.id,
        after={"name": name, "stages": [s.name for s in specs]},
    )
    return PipelineWithStages(pipeline, created)


async def _has_default(session: AsyncSession, organization_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(Pipeline.id).where(Pipeline.organization_id == organization_id, Pipeline.is_default.is_(True))
    )
    return found is not None


async def seed_templates(session: AsyncSession, *, organization_id: uuid.UUID) -> None:
    """Every new organization starts with the two standard flows; the first is the default."""
    actor = Principal.system(organization_id)
    for index, (name, stages) in enumerate(TEMPLATES.items()):
        await create_pipeline(
            session,
            actor=actor,
            name=name,
            stages=[stage.model_dump(mode="json") for stage in stages],
            ordering_rules=[rule.model_dump(mode="json") for rule in DEFAULT_ORDERING_RULES],
            is_default=index == 0,
        )


async def get_pipeline(
    session: AsyncSession, *, actor: Principal, pipeline_id: uuid.UUID
) -> PipelineWithStages:
    pipeline = await get_visible(session, Pipeline, pipeline_id, actor=actor)
    return PipelineWithStages(pipeline, await active_stages(session, pipeline.id))


async def default_pipeline(session: AsyncSession, *, actor: Principal) -> PipelineWithStages:
    pipeline = await session.scalar(
        select(Pipeline).where(
            Pipeline.organization_id == actor.organization_id, Pipeline.is_default.is_(True)
        )
    )
    if pipeline is None:
        raise NotFound("The organization has no default pipeline; name one.", code="pipeline.not_found")
    return PipelineWithStages(pipeline, await active_stages(session, pipeline.id))


# Sorted by updated_at (ties by id), a list pages through records in the order they last changed.
_SORTABLE = {"created_at": Pipeline.created_at, "updated_at": Pipeline.updated_at}
_list_pipelines = OrganizationList(Pipeline, _SORTABLE, default_sort="created_at")


async def list_pipelines(
    session: AsyncSession,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    options: ListOptions = NO_OPTIONS,
    sort: str = "created_at",
) -> tuple[Page[Pipeline], dict[uuid.UUID, list[PipelineStage]]]:
    page = await _list_pipelines(session, actor=actor, limit=limit, cursor=cursor, options=options, sort=sort)
    stages = {pipeline.id: await active_stages(session, pipeline.id) for pipeline in page.items}
    return page, stages


async def update_pipeline(
    session: AsyncSession,
    *,
    actor: Principal,
    pipeline_id: uuid.UUID,
    changes: Mapping[str, Any],
    expected_version: int | None,
    now: datetime,
) -> PipelineWithStages:
    pipeline = await get_visible(session, Pipeline, pipeline_id, actor=actor, for_update=True)
    current_stages = await active_stages(session, pipeline.id)
    if "name" in changes and changes["name"] != pipeline.name:
        await _NAME.ensure_free(session, actor, changes["name"], exclude=pipeline.id)
    rules = parse_ordering_rules(changes["ordering_rules"]) if "ordering_rules" in changes else None
    lose_reasons = _lose_reasons(changes["lose_reasons"]) if "lose_reasons" in changes else None
    stage_plan = _plan_stages(current_stages, changes["stages"]) if "stages" in changes else None
    check_version(pipeline, expected_version)
    before = {"name": pipeline.name, "stages": [s.name for s in current_stages]}
    if "name" in changes:
        pipeline.name = changes["name"]
    if rules is not None:
        pipeline.ordering_rules = [rule.model_dump(mode="json") for rule in rules]
    if lose_reasons is not None:
        pipeline.lose_reasons = lose_reasons
    if changes.get("is_default"):
        await _make_default(session, actor, pipeline)
    if stage_plan is not None:
        await _replace_stages(session, actor, pipeline, stage_plan, now)
    pipeline.updated_at = now  # the stages changed even when no pipeline column did
    await session.flush()
    stages = await active_stages(session, pipeline.id)
    await audit.record_audit(
        session,
        actor=actor,
        action="pipeline.updated",
        entity_type="pipeline",
        entity_id=pipeline.id,
        before=before,
        after={"name": pipeline.name, "stages": [s.name for s in stages]},
    )
    return PipelineWithStages(pipeline, stages)


@dataclass(frozen=True)
class _StagePlan:
    """A pipeline's new stage list, validated: each spec with the id of the stage it keeps, if any."""

    specs: list[StageSpec]
    kept_ids: list[uuid.UUID | None]
    current: dict[uuid.UUID, PipelineStage]


def _plan_stages(current_stages: list[PipelineStage], raw: Sequence[Mapping[str, Any]]) -> _StagePlan:
    # `id` names the stored stage a written one keeps; it is no part of the stage's configuration.
    specs = parse_stages([{key: value for key, value in stage.items() if key != "id"} for stage in raw])
    current = {stage.id: stage for stage in current_stages}
    kept_ids = [stage.get("id") for stage in raw]
    _check_kept_ids(kept_ids, current)
    return _StagePlan(specs, kept_ids, current)


async def _replace_stages(
    session: AsyncSession, actor: Principal, pipeline: Pipeline, plan: _StagePlan, now: datetime
) -> None:
    specs, kept_ids, current = plan.specs, plan.kept_ids, plan.current
    removed = [stage for stage_id, stage in current.items() if stage_id not in set(kept_ids)]
    # A stage that turns from open into won or lost (or back) would leave its deals with a status
    # that contradicts their stage, so it may only change kind while empty.
    rekinded = [
        current[stage_id]
        for stage_id, spec in zip(kept_ids, specs, strict=True)
        if stage_id is not None and current[stage_id].kind is not spec.kind
    ]
    await _refuse_occupied(session, removed=removed, rekinded=rekinded)
    for stage in removed:
        stage.archived_at = now
    for index, (stage_id, spec) in enumerate(zip(kept_ids, specs, strict=True)):
        values = _stage_values(spec)
        if stage_id is None:
            session.add(
                PipelineStage(
                    organization_id=actor.organization_id, pipeline_id=pipeline.id, position=index, **values
                )
            )
            continue
        stage = current[stage_id]
        stage.position = index
        for name, value in values.items():
            setattr(stage, name, value)
    await session.flush()


def _check_kept_ids(kept_ids: list[Any], current: Mapping[Any, PipelineStage]) -> None:
    """A stage given with an id keeps that stage: one of this pipeline's, listed once."""
    unknown = [
        FieldError(f"stages[{index}].id", "not_found", "not a stage of this pipeline")
        for index, stage_id in enumerate(kept_ids)
        if stage_id is not None and stage_id not in current
    ]
    repeated = [
        FieldError(f"stages[{index}].id", "value.duplicate", "the same stage is listed twice")
        for index, stage_id in enumerate(kept_ids)
        if stage_id is not None and stage_id in kept_ids[:index]
    ]
    if unknown or repeated:
        raise InvalidInput(
            "Some stage ids are not in this pipeline or are listed twice.",
            code="pipeline.invalid",
            errors=unknown + repeated,
        )


async def _refuse_occupied(
    session: AsyncSession, *, removed: list[PipelineStage], rekinded: list[PipelineStage]
) -> None:
    problems = [
        FieldError(
            "stages", "in_use", f"{stage.name}: {count} open opportunities; move them before removing it"
        )
        for stage, count in await _occupied(session, removed, only_open=True)
    ] + [
        FieldError("stages", "in_use", f"{stage.name}: {count} opportunities; its kind cannot change")
        for stage, count in await _occupied(session, rekinded, only_open=False)
    ]
    if problems:
        raise Conflict(
            "Stages holding opportunities cannot be removed or change kind.",
            code="pipeline.stage_in_use",
            errors=problems,
        )


async def _occupied(
    session: AsyncSession, stages: list[PipelineStage], *, only_open: bool
) -> list[tuple[PipelineStage, int]]:
    """The stages that hold opportunities (open ones only, if asked), with how many."""
    if not stages:
        return []
    statement = select(Opportunity.stage_id, func.count()).where(
        Opportunity.stage_id.in_([s.id for s in stages])
    )
    if only_open:
        statement = statement.where(Opportunity.status == OpportunityStatus.open)
    counts = dict((await session.execute(statement.group_by(Opportunity.stage_id))).all())
    return [(stage, counts[stage.id]) for stage in stages if stage.id in counts]
