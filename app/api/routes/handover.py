"""POST /users/{id}/handover: a leaving rep's open work moves to a colleague, nothing is lost."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from app.api.deps import Idempotent, NowDep, SessionDep, require
from app.api.display_names import with_name
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.handover import HandoverCounts, HandoverOut, HandoverRequest
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.services.assignment import handover

router = APIRouter(prefix=f"{API_V1}/users", tags=["users"])

CanHandOver = Annotated[Principal, Depends(require(Permission.users_handover))]


@router.post(
    "/{user_id:uuid}/handover",
    response_model=HandoverOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
    dependencies=[Idempotent],
)
async def hand_over_user(
    session: SessionDep, actor: CanHandOver, now: NowDep, user_id: uuid.UUID, body: HandoverRequest
) -> HandoverOut:
    result = await handover.hand_over(
        session,
        actor=actor,
        from_user_id=user_id,
        to_user_id=body.to_user_id,
        deactivate=body.deactivate,
        now=now,
    )
    answer = HandoverOut(
        from_user_id=result.from_user_id,
        to_user_id=result.to_user_id,
        counts=HandoverCounts(**result.counts),
        deactivated=result.deactivated,
    )
    return await with_name(session, actor, answer)
