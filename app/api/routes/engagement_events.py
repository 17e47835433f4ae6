"""/engagement-events: what leads and customers did, reported by integrations; warms their temperature."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.api.deps import Idempotent, NowDep, SessionDep, require
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.engagement import (
    EngagementBatchIn,
    EngagementEventIn,
    EngagementEventsIn,
    EngagementEventsOut,
    EngagementOutcome,
    EngagementResult,
)
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.platform.errors import FieldError, InvalidInput
from app.services.marketing import engagement

router = APIRouter(prefix=f"{API_V1}/engagement-events", tags=["engagement"])

CanWrite = Annotated[Principal, Depends(require(Permission.engagement_write))]


@router.post(
    "",
    response_model=EngagementEventsOut,
    responses=problem_responses(401, 403, 413, 422),
    dependencies=[Idempotent],
)
async def record_engagement_events(
    session: SessionDep, actor: CanWrite, now: NowDep, body: EngagementEventsIn
) -> EngagementEventsOut:
    """Records one event, or a batch (`{"events": [...]}`, at most 1,000), each belonging to a lead,
    a contact or a customer: by id, by customer code, or by phone or e-mail (a lead's first, else a
    contact's). An event that matches nothing refuses the whole batch (422, `errors` naming each
    `events[i]`), and nothing is recorded. A repeated `event_id` is accepted and not counted again;
    each result says `created` or `duplicate`. A single event sent as itself has its errors named by
    its own fields (`lead_id`). Scope `engagement:write`."""
    batch = isinstance(body, EngagementBatchIn)
    events = body.events if isinstance(body, EngagementBatchIn) else [body]
    try:
        recorded = await engagement.record_engagement_events(
            session, actor=actor, events=[_new_event(event) for event in events], now=now
        )
    except InvalidInput as refused:
        if batch:
            raise
        # A single event was sent as itself, not as a batch: its fields are named as it sent them.
        raise InvalidInput(
            refused.detail,
            code=refused.code,
            errors=[
                FieldError(e.field.removeprefix("events[0]."), e.code, e.message) for e in refused.errors
            ],
        ) from None
    results = [
        EngagementResult(
            index=index,
            event_id=item.event_id,
            outcome=EngagementOutcome.created if item.is_new else EngagementOutcome.duplicate,
            lead_id=item.target.lead_id,
            contact_id=item.target.contact_id,
            customer_id=item.target.customer_id,
        )
        for index, item in enumerate(recorded)
    ]
    created = sum(result.outcome is EngagementOutcome.created for result in results)
    return EngagementEventsOut(created=created, duplicates=len(results) - created, results=results)


def _new_event(event: EngagementEventIn) -> engagement.NewEngagementEvent:
    return engagement.NewEngagementEvent(**event.model_dump())
