"""/assignment-rules: how new leads find their rep, and a dry run of it."""

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
from app.api.schemas.assignment import (
    CandidateOut,
    ConditionOut,
    RuleCreate,
    RuleEvaluationOut,
    RuleOut,
    RulePage,
    RuleUpdate,
    SimulationIn,
    SimulationOut,
)
from app.domain.assignment.assignment import CandidateVerdict
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.services.assignment import assignment_rules

router = APIRouter(prefix=f"{API_V1}/assignment-rules", tags=["assignment"])

CanRead = Annotated[Principal, Depends(require(Permission.assignment_rules_read))]
CanWrite = Annotated[Principal, Depends(require(Permission.assignment_rules_write))]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RuleOut,
    responses=problem_responses(401, 403, 409, 413, 422),
    dependencies=[Idempotent],
)
async def create_assignment_rule(
    session: SessionDep, actor: CanWrite, body: RuleCreate, response: Response
) -> RuleOut:
    """Conditions are checked now: an unknown field or operator answers 422 naming it."""
    rule = await assignment_rules.create_rule(
        session, actor=actor, data=assignment_rules.NewRule(**body.values())
    )
    response.headers["ETag"] = etag_for(rule.version)
    response.headers["Location"] = f"{API_V1}/assignment-rules/{rule.id}"
    return await with_name(session, actor, RuleOut.model_validate(rule))


@router.get("", response_model=RulePage, responses=problem_responses(401, 403, 422))
async def list_assignment_rules(
    session: SessionDep,
    actor: CanRead,
    options: ListOptionsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        str, Query(pattern=r"^-?(priority|updated_at)$", description=SORT_BY_CHANGE)
    ] = "priority",
) -> RulePage:
    """In the order they are tried: priority, lowest first."""
    page = await assignment_rules.list_rules(
        session, actor=actor, options=options, sort=sort, limit=limit, cursor=cursor
    )
    return RulePage.of(
        page, await with_names(session, actor, [RuleOut.model_validate(r) for r in page.items])
    )


@router.get(
    "/{rule_id:uuid}",
    response_model=RuleOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_assignment_rule(
    session: SessionDep, actor: CanRead, rule_id: uuid.UUID, response: Response
) -> RuleOut:
    rule = await assignment_rules.get_rule(session, actor=actor, rule_id=rule_id)
    response.headers["ETag"] = etag_for(rule.version)
    return await with_name(session, actor, RuleOut.model_validate(rule))


@router.patch(
    "/{rule_id:uuid}",
    response_model=RuleOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 409, 412, 413, 422)},
)
async def update_assignment_rule(
    session: SessionDep,
    actor: CanWrite,
    rule_id: uuid.UUID,
    body: RuleUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> RuleOut:
    rule = await assignment_rules.update_rule(
        session, actor=actor, rule_id=rule_id, changes=body.rule_changes(), expected_version=expected_version
    )
    response.headers["ETag"] = etag_for(rule.version)
    return await with_name(session, actor, RuleOut.model_validate(rule))


@router.delete(
    "/{rule_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_assignment_rule(session: SessionDep, actor: CanWrite, rule_id: uuid.UUID) -> None:
    await assignment_rules.delete_rule(session, actor=actor, rule_id=rule_id)


def _candidates(verdicts: list[CandidateVerdict]) -> list[CandidateOut]:
    return [
        CandidateOut(
            user_id=v.candidate.user_id,
            name=v.candidate.name,
            open_leads=v.candidate.open_leads,
            new_today=v.candidate.new_today,
            weight=v.candidate.weight,
            eligible=v.eligible,
            ineligible_reason=v.reason,
        )
        for v in verdicts
    ]


@router.post(
    "/simulate",
    response_model=SimulationOut,
    responses=problem_responses(401, 403, 413, 422),
)
async def simulate_assignment(
    session: SessionDep, actor: CanRead, now: NowDep, body: SimulationIn
) -> SimulationOut:
    """Who would get a lead with these fields right now, and why; nothing is written."""
    simulation = await assignment_rules.simulate(
        session, actor=actor, fields=body.model_dump(mode="python"), now=now
    )
    decision = simulation.decision
    answer = SimulationOut(
        matched_rule_id=decision.rule.id if decision.rule else None,
        matched_rule_name=decision.rule.name if decision.rule else None,
        strategy=decision.rule.strategy if decision.rule else None,
        evaluations=[
            RuleEvaluationOut(
                rule_id=e.rule.id,
                rule_name=e.rule.name,
                matched=e.matched,
                failed_conditions=[ConditionOut(**c.as_dict()) for c in e.failed],
            )
            for e in decision.evaluations
        ],
        candidates=_candidates(decision.verdicts),
        fallback=decision.fallback,
        fallback_candidates=_candidates(decision.fallback_verdicts),
        chosen_user_id=decision.user_id,
        outcome="assigned" if decision.user_id else "pooled",
        reason=simulation.explanation,
    )
    return await with_name(session, actor, answer)
