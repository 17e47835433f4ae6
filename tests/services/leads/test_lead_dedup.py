"""Lead de-duplication at the service level: the phone and e-mail keys, not their spelling, decide
whether a new lead is one the organization already has."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.activities.activities import ActivityType
from app.domain.models import Activity, Lead
from app.services.leads import leads
from app.services.leads.leads import DuplicateLead, OnDuplicate
from tests.conftest import Clock
from tests.services.scenario import Organization, add_lead, new_organization


async def _lead_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Lead)) or 0)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"phone": "13800138000"}, {"phone": "+86 138-0013-8000"}),
        ({"phone": "13800138000"}, {"phone": "8613800138000"}),
        (
            {"phone": None, "email": "Zhang.Wei@Example.COM"},
            {"phone": None, "email": "zhang.wei@example.com"},
        ),
    ],
    ids=["phone-notation", "phone-country-code", "email-case"],
)
async def test_the_same_contact_in_another_spelling_is_refused_naming_the_existing_lead(
    session: AsyncSession, organization: Organization, clock: Clock, first: dict, second: dict
) -> None:
    existing = await add_lead(session, organization.system, clock.now, name="张伟", **first)

    with pytest.raises(DuplicateLead) as refused:
        await add_lead(session, organization.system, clock.now, name="另一个人", **second)

    matched = "phone" if first.get("phone") else "email"
    assert refused.value.extensions["existing_id"] == str(existing.id)
    assert refused.value.extensions["matched_field"] == matched
    assert [(e.field, e.code) for e in refused.value.errors] == [(matched, "duplicate")]
    assert await _lead_count(session) == 1


async def test_asked_to_merge_a_duplicate_keeps_the_new_details_as_a_note_on_the_existing_lead(
    session: AsyncSession, organization: Organization, clock: Clock
) -> None:
    existing = await add_lead(session, organization.system, clock.now, phone="13800138000")

    created = await leads.create_lead(
        session,
        actor=organization.system,
        data=leads.NewLead(name="张伟", source=existing.source, phone="+8613800138000", notes="第二次留资"),
        now=clock.now,
        on_duplicate=OnDuplicate.merge,
    )

    assert created.merged is True
    assert created.lead.id == existing.id
    (note,) = (await session.scalars(select(Activity).where(Activity.lead_id == existing.id))).all()
    assert note.type is ActivityType.note
    assert "phone: +8613800138000" in note.notes
    assert "第二次留资" in note.notes
    assert await _lead_count(session) == 1


async def test_the_same_phone_in_another_organization_is_a_new_lead(
    session: AsyncSession, organization: Organization, clock: Clock
) -> None:
    other = await new_organization(session, reps=0)
    await add_lead(session, organization.system, clock.now, phone="13800138000")

    theirs = await add_lead(session, other.system, clock.now, phone="13800138000")

    assert theirs.organization_id == other.id
    assert await _lead_count(session) == 2
