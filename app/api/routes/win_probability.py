"""Win probability: a deal's, explained, and the organization's model (retrain, quality)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from app.api.deps import NowDep, SessionDep, require
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.win_probability import (
    CurrentModelOut,
    FactorOut,
    ModelRefOut,
    RetrainAcceptedOut,
    RetrainIn,
    WinProbabilityOut,
)
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.models import WinModel
from app.domain.platform.errors import NotFound
from app.services.pipelines import opportunities
from app.services.scores import win_probability

router = APIRouter(prefix=API_V1, tags=["win-probability"])

CanRead = Annotated[Principal, Depends(require(Permission.opportunities_read))]
CanManage = Annotated[Principal, Depends(require(Permission.scoring_manage))]
_CURRENT = f"{API_V1}/scoring/models/current"


def _model_ref(model: WinModel | None) -> ModelRefOut | None:
    if model is None:
        return None
    return ModelRefOut(
        version=model.number,
        trained_at=model.trained_at,
        kind=model.chosen,
        signal=model.signal,
        closed_deals=model.closed_deals,
    )


@router.get(
    "/opportunities/{opportunity_id:uuid}/win-probability",
    response_model=WinProbabilityOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_win_probability(
    session: SessionDep, actor: CanRead, now: NowDep, opportunity_id: uuid.UUID
) -> WinProbabilityOut:
    """As of now: the model's probability with the factors pushing it up and down (with too few
    closed deals, the stage's configured probability), and the rep's own figure when set."""
    opportunity = await opportunities.get_opportunity(session, actor=actor, opportunity_id=opportunity_id)
    answer = await win_probability.explain(session, opportunity, now)
    up, down = answer.factors()
    return WinProbabilityOut(
        opportunity_id=opportunity.id,
        probability=answer.probability,
        source=answer.source,
        automatic_probability=answer.automatic_probability,
        automatic_source=answer.automatic_source,
        manual_probability=opportunity.manual_win_probability,
        intercept=answer.prediction.intercept if answer.prediction else None,
        factors_up=[FactorOut(name=f.name, value=f.value, contribution=f.contribution) for f in up],
        factors_down=[FactorOut(name=f.name, value=f.value, contribution=f.contribution) for f in down],
        model=_model_ref(answer.model),
        as_of=answer.as_of,
    )


@router.post(
    "/scoring/models/retrain",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RetrainAcceptedOut,
    responses=problem_responses(401, 403, 413, 422),
)
async def retrain_win_model(
    session: SessionDep, actor: CanManage, response: Response, body: RetrainIn | None = None
) -> RetrainAcceptedOut:
    """Admins only. Trains as a job (a large history takes seconds of CPU, more than a request
    should hold) and then re-scores every open deal; the new version shows at `location`."""
    win_probability.request_retrain(session, actor=actor, cut_on=body.cut_date if body else None)
    response.headers["Location"] = _CURRENT
    return RetrainAcceptedOut(status="queued", location=_CURRENT)


@router.get(
    "/scoring/models/current",
    response_model=CurrentModelOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_current_win_model(session: SessionDep, actor: CanRead) -> CurrentModelOut:
    """The newest model version: holdout AUC, log loss, Brier score and calibration for the chosen
    model and the naive Bayes baseline, the constant base-rate forecast, row counts, and whether it
    found any usable signal."""
    model = await win_probability.current_model(session, actor.organization_id)
    if model is None:
        raise NotFound("No win-probability model has been trained yet.", code="win_model.not_found")
    return CurrentModelOut.of(
        model.metrics,
        version=model.number,
        trained_at=model.trained_at,
        status="trained" if model.model is not None else "insufficient_data",
        kind=model.chosen,
        signal=model.signal,
        closed_deals=model.closed_deals,
        cut_at=model.cut_at,
    )
