"""Next-best actions of an open deal (mined from the organization's won deals) and the golden hour
of a customer's calls (docs/playbook.md, "Next actions")."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from app.api.deps import NowDep, SessionDep, require
from app.api.display_names import with_name
from app.api.errors import problem_responses
from app.api.routes import API_V1
from app.api.schemas.next_actions import (
    ContactTimesOut,
    HistoryOut,
    NextActionsOut,
    PackTaskOut,
    SlotOut,
    SuggestionOut,
)
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.services.pipelines import next_actions
from app.services.pipelines.next_actions import CustomerContactTimes

router = APIRouter(prefix=API_V1, tags=["next-actions"])

CanReadDeals = Annotated[Principal, Depends(require(Permission.opportunities_read))]
CanReadCustomers = Annotated[Principal, Depends(require(Permission.customers_read))]
_NEXT_ACTIONS_ERRORS = problem_responses(401, 403, 404, 409, 422)
_NEXT_ACTIONS_ERRORS[409] = {
    **_NEXT_ACTIONS_ERRORS[409],
    "description": "The deal is won or lost (`opportunity.closed`): next actions are for open deals.",
}


def _contact_times_out(found: CustomerContactTimes) -> ContactTimesOut:
    advice = found.advice
    return ContactTimesOut(
        customer_id=found.customer_id,
        basis=advice.basis,
        timezone=found.timezone,
        since=found.since,
        min_customer_calls=found.min_customer_calls,
        customer_calls=advice.customer_calls,
        attempts=advice.attempts,
        connected=advice.connected,
        connect_rate=advice.connect_rate,
        best_slots=[
            SlotOut(
                weekday=s.weekday,
                hour=s.hour,
                attempts=s.attempts,
                connected=s.connected,
                connect_rate=s.connect_rate or 0.0,
            )
            for s in advice.best_slots
        ],
    )


@router.get(
    "/opportunities/{opportunity_id:uuid}/next-actions",
    response_model=NextActionsOut,
    responses=_NEXT_ACTIONS_ERRORS,
)
async def get_opportunity_next_actions(
    session: SessionDep, actor: CanReadDeals, now: NowDep, opportunity_id: uuid.UUID
) -> NextActionsOut:
    """Up to three activities this open deal has not done since entering its stage, mined from what
    the organization's deals closed in the past year (setting `next_actions`) did in that stage
    (support, win rate, lift, timing), the stage's unfinished action-pack tasks, and when to call the
    customer (404 for a deal the caller does not see, 409 `opportunity.closed` for a won or lost
    one)."""
    found = await next_actions.next_actions(session, actor=actor, opportunity_id=opportunity_id, now=now)
    mined, deal = found.mined, found.opportunity
    answer = NextActionsOut(
        opportunity_id=deal.id,
        pipeline_id=deal.pipeline_id,
        stage_id=deal.stage_id,
        stage_name=found.stage.name,
        stage_entered_at=deal.stage_entered_at,
        basis=mined.basis,
        history=HistoryOut(
            since=found.since,
            closed_deals=mined.history.closed,
            won_deals=mined.history.won,
            base_win_rate=mined.history.base_win_rate,
            min_support=found.rules.min_support,
        ),
        suggestions=[
            SuggestionOut(
                activity_type=s.activity_type,
                support=s.won_with,
                closed_with=s.closed_with,
                win_rate=s.win_rate,
                lift=s.lift,
                median_hours_after_entry=s.median_hours,
                due_by=s.due_by,
                overdue=s.is_overdue,
            )
            for s in mined.suggestions
        ],
        action_pack_tasks=[
            PackTaskOut(
                id=t.id, title=t.title, due_at=t.due_at, assignee_id=t.assignee_id, overdue=t.is_overdue
            )
            for t in found.tasks
        ],
        contact_times=_contact_times_out(found.contact_times),
        generated_at=now,
    )
    return await with_name(session, actor, answer)


@router.get(
    "/customers/{customer_id:uuid}/contact-times",
    response_model=ContactTimesOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_customer_contact_times(
    session: SessionDep, actor: CanReadCustomers, now: NowDep, customer_id: uuid.UUID
) -> ContactTimesOut:
    """The golden hour: when this customer's calls connect, by weekday and hour in the organization's
    time zone, from its calls of the past 180 days; with fewer than
    `next_actions.min_customer_calls` (10), the organization's pattern (`basis` says which). 404 for
    a customer the caller does not see."""
    found = await next_actions.customer_contact_times(session, actor=actor, customer_id=customer_id, now=now)
    return _contact_times_out(found)
