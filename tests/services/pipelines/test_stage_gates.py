"""Stage gates at the service level: moving an opportunity forward needs the target stage's required
fields and the evidence gathered in the current stage (notes, info points); a refused move lists
every unmet requirement and changes nothing."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.activities.activities import ActivityType
from app.domain.models import Opportunity, Pipeline, PipelineStage
from app.domain.platform.errors import InvalidInput
from app.services.activities import activities
from app.services.customers import customers
from app.services.pipelines import opportunities
from app.services.pipelines.opportunities import StageChange
from tests.conftest import Clock
from tests.services.scenario import Organization

B2B = "B2B 标准流程"
NEEDS_CONFIRMED = "需求确认"
NOTE = "客户确认屋面及地下室防水需求，采购经理负责对接，预算已批。" * 2


async def _stage(session: AsyncSession, organization: Organization, name: str) -> PipelineStage:
    return await session.scalar(
        select(PipelineStage)
        .join(Pipeline, Pipeline.id == PipelineStage.pipeline_id)
        .where(Pipeline.organization_id == organization.id, Pipeline.name == B2B, PipelineStage.name == name)
    )


async def _deal(
    session: AsyncSession, organization: Organization, now: datetime
) -> tuple[Opportunity, uuid.UUID]:
    """A B2B opportunity of the first rep's, on a customer with one contact; answers both."""
    rep = organization.actor(organization.reps[0])
    customer = await customers.create_customer(
        session, actor=rep, data=customers.NewCustomer(name="申华建材")
    )
    contact = await customers.add_contact(
        session, actor=rep, customer_id=customer.id, data=customers.NewContact(name="李娜", title="采购经理")
    )
    pipeline_id = (await _stage(session, organization, NEEDS_CONFIRMED)).pipeline_id
    data = opportunities.NewOpportunity(
        name="申华大厦屋面防水工程", customer_id=customer.id, pipeline_id=pipeline_id
    )
    return await opportunities.create_opportunity(session, actor=rep, data=data, now=now), contact.id


async def _call(
    session: AsyncSession, organization: Organization, deal: Opportunity, now: datetime, notes: str
) -> None:
    call = activities.NewActivity(
        type=ActivityType.call, occurred_at=now, opportunity_id=deal.id, notes=notes
    )
    await activities.record_activity(
        session, actor=organization.actor(organization.reps[0]), data=call, now=now
    )


async def test_a_move_missing_a_required_field_and_the_notes_evidence_lists_both_and_changes_nothing(
    session: AsyncSession, organization: Organization, clock: Clock
) -> None:
    deal, _ = await _deal(session, organization, clock.now)
    first_stage = deal.stage_id
    target = await _stage(session, organization, NEEDS_CONFIRMED)

    with pytest.raises(InvalidInput) as refused:
        await opportunities.change_stage(
            session,
            actor=organization.actor(organization.reps[0]),
            opportunity_id=deal.id,
            change=StageChange(to_stage_id=target.id),
            now=clock.now + timedelta(minutes=1),
        )

    assert refused.value.code == "opportunity.gate_unmet"
    assert [(e.field, e.code) for e in refused.value.errors] == [
        ("contact_id", "stage.field_missing"),
        ("evidence[0]", "stage.evidence_notes"),
    ]
    assert (
        refused.value.errors[1].message
        == "needs a note of at least 30 characters in this stage; the longest has 0"
    )
    assert (await session.get_one(Opportunity, deal.id)).stage_id == first_stage


async def test_a_call_note_long_enough_is_the_evidence_one_character_short_is_not(
    session: AsyncSession, organization: Organization, clock: Clock
) -> None:
    deal, contact_id = await _deal(session, organization, clock.now)
    target = await _stage(session, organization, NEEDS_CONFIRMED)
    move = StageChange(to_stage_id=target.id, fields={"contact_id": contact_id})
    rep = organization.actor(organization.reps[0])

    clock.advance(minutes=1)
    await _call(session, organization, deal, clock.now, NOTE[:29])
    with pytest.raises(InvalidInput) as refused:
        await opportunities.change_stage(
            session, actor=rep, opportunity_id=deal.id, change=move, now=clock.now
        )
    assert [(e.field, e.code) for e in refused.value.errors] == [("evidence[0]", "stage.evidence_notes")]

    clock.advance(minutes=1)
    await _call(session, organization, deal, clock.now, NOTE[:30])
    moved = await opportunities.change_stage(
        session, actor=rep, opportunity_id=deal.id, change=move, now=clock.now
    )

    assert moved.stage_id == target.id
    assert moved.contact_id == contact_id
