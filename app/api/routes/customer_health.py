"""/customers/{id}/health: a customer's health now, explained, and its daily history."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.api.deps import NowDep, SessionDep, require
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.common import Day
from app.api.schemas.customer_health import (
    CustomerHealthHistoryOut,
    CustomerHealthOut,
    HealthFactorOut,
    HealthSnapshotOut,
)
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.scores.customer_health import factor_reason
from app.services.scores import customer_health

router = APIRouter(prefix=f"{API_V1}/customers", tags=["customers"])

CanRead = Annotated[Principal, Depends(require(Permission.customers_read))]


@router.get(
    "/{customer_id:uuid}/health",
    response_model=CustomerHealthOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_customer_health(
    session: SessionDep, actor: CanRead, customer_id: uuid.UUID, now: NowDep
) -> CustomerHealthOut:
    report = await customer_health.customer_health(session, actor=actor, customer_id=customer_id, now=now)
    return CustomerHealthOut(
        customer_id=report.customer.id,
        score=report.score.score,
        band=report.score.band,
        computed_at=report.at,
        green_min=report.policy.green_min,
        yellow_min=report.policy.yellow_min,
        factors=[
            HealthFactorOut(
                factor=factor.factor,
                value=round(factor.value, 3),
                weight=factor.weight,
                contribution=factor.contribution,
                reason=factor_reason(factor.factor, report.facts, report.policy, report.at),
            )
            for factor in report.score.factors
        ],
    )


@router.get(
    "/{customer_id:uuid}/health/history",
    response_model=CustomerHealthHistoryOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_customer_health_history(
    session: SessionDep,
    actor: CanRead,
    customer_id: uuid.UUID,
    now: NowDep,
    since: Annotated[
        Day | None,
        Query(alias="from", description="First day (organization's time zone); default 89 days before `to`."),
    ] = None,
    until: Annotated[Day | None, Query(alias="to", description="Last day, included; default today.")] = None,
) -> CustomerHealthHistoryOut:
    since, until, rows = await customer_health.health_history(
        session, actor=actor, customer_id=customer_id, since=since, until=until, now=now
    )
    return CustomerHealthHistoryOut(
        customer_id=customer_id,
        since=since,
        until=until,
        items=[HealthSnapshotOut.model_validate(row) for row in rows],
    )
