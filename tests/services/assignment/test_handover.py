"""Handover at the service level: a leaving rep's open work moves to a colleague in one call;
closed leads stay as the history of who worked them."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.leads.leads import LeadStatus
from app.domain.models import Lead, LeadAssignment
from app.domain.platform.errors import InvalidInput
from app.services.assignment.handover import hand_over
from app.services.customers import customers
from app.services.leads import leads
from tests.conftest import Clock
from tests.services.scenario import Organization, add_lead


async def test_a_handover_moves_open_leads_and_customers_and_leaves_closed_leads_with_the_leaver(
    session: AsyncSession, organization: Organization, clock: Clock
) -> None:
    leaving, receiving = organization.reps
    as_leaving = organization.actor(leaving)
    open_leads = [await add_lead(session, as_leaving, clock.now) for _ in range(2)]
    closed = await add_lead(session, as_leaving, clock.now)
    await leads.disqualify_lead(session, actor=as_leaving, lead_id=closed.id, reason="无需求", now=clock.now)
    customer = await customers.create_customer(
        session, actor=as_leaving, data=customers.NewCustomer(name="申华建材", owner_id=leaving.id)
    )

    result = await hand_over(
        session,
        actor=organization.actor(organization.admin),
        from_user_id=leaving.id,
        to_user_id=receiving.id,
        deactivate=True,
        now=clock.now,
    )

    assert (result.counts["leads"], result.counts["customers"]) == (2, 1)
    owners = {row.id: row.owner_id for row in await session.execute(select(Lead.id, Lead.owner_id))}
    assert {owners[lead.id] for lead in open_leads} == {receiving.id}
    assert owners[closed.id] == leaving.id
    assert (await session.get_one(Lead, closed.id)).status is LeadStatus.disqualified
    await session.refresh(customer)
    assert customer.owner_id == receiving.id
    await session.refresh(leaving)
    assert leaving.is_active is False
    # Each moved lead keeps a history row naming the handover, so its timeline tells who had it.
    reasons = (
        await session.scalars(select(LeadAssignment.reason).where(LeadAssignment.user_id == receiving.id))
    ).all()
    assert reasons == [f"handover from {leaving.display_name}"] * 2


async def test_a_handover_to_the_leaving_user_is_refused_and_moves_nothing(
    session: AsyncSession, organization: Organization, clock: Clock
) -> None:
    rep = organization.reps[0]
    lead = await add_lead(session, organization.actor(rep), clock.now)

    with pytest.raises(InvalidInput) as refused:
        await hand_over(
            session,
            actor=organization.actor(organization.admin),
            from_user_id=rep.id,
            to_user_id=rep.id,
            deactivate=False,
            now=clock.now,
        )

    assert refused.value.code == "handover.same_user"
    assert [(e.field, e.code) for e in refused.value.errors] == [("to_user_id", "same_user")]
    assert (await session.get_one(Lead, lead.id)).owner_id == rep.id
