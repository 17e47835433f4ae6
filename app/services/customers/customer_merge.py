"""Merging a duplicate customer into a survivor, and undoing it within 7 days.

Every record that belongs to the duplicate moves with one set-based UPDATE per kind, which returns
the ids it moved; the merge row keeps them, so an undo moves back exactly those and nothing added
to the survivor since.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.models import (
    Activity,
    Attachment,
    AttachmentParent,
    Contact,
    Customer,
    CustomerHealthSnapshot,
    CustomerMerge,
    EngagementEvent,
    Lead,
    Opportunity,
    Quote,
    SlaTimer,
    Task,
)
from app.domain.notifications.events import CustomerMerged, CustomerMergeUndone
from app.domain.platform.dedup import CustomerKeys
from app.domain.platform.errors import Conflict, FieldError
from app.services.customers import customer_dedup
from app.services.platform import merging
from app.services.platform.common import get_visible
from app.services.platform.merging import Follower
from app.services.platform.visibility import visible_to

FOLLOWERS = (
    Follower("contacts", Contact, Contact.customer_id),
    Follower("leads", Lead, Lead.customer_id),
    Follower("opportunities", Opportunity, Opportunity.customer_id),
    Follower("activities", Activity, Activity.customer_id),
    Follower("quotes", Quote, Quote.customer_id),
    Follower("tasks", Task, Task.customer_id),
    Follower(
        "attachments", Attachment, Attachment.parent_id, Attachment.parent_type == AttachmentParent.customer
    ),
    Follower("sla_timers", SlaTimer, SlaTimer.subject_id, SlaTimer.subject_type == "customer"),
    Follower("engagement_events", EngagementEvent, EngagementEvent.customer_id),
    # The duplicate's health history joins the survivor's on the days the survivor has none.
    Follower(
        "health_snapshots",
        CustomerHealthSnapshot,
        CustomerHealthSnapshot.customer_id,
        versioned=False,
        unique_with=CustomerHealthSnapshot.snapshot_on,
    ),
)


def undo_deadline(merge: CustomerMerge) -> datetime:
    return merging.undo_deadline(merge.merged_at)


async def _lock_live_pair(
    session: AsyncSession, actor: Principal, survivor_id: uuid.UUID, duplicate_id: uuid.UUID
) -> tuple[Customer, Customer]:
    """Both customers, visible to the actor and not merged, locked in id order (two merges of one
    pair in opposite directions wait for each other instead of deadlocking)."""
    locked = {}
    for customer_id in sorted({survivor_id, duplicate_id}):
        customer = await get_visible(
            session,
            Customer,
            customer_id,
            actor=actor,
            visible=visible_to(actor, Customer.owner_id),
            for_update=True,
        )
        if customer.merged_into_id is not None:
            raise Conflict(
                f"The customer {customer.code} was already merged into another customer.",
                code="customer.already_merged",
            )
        locked[customer_id] = customer
    return locked[survivor_id], locked[duplicate_id]


async def merge_customers(
    session: AsyncSession, *, actor: Principal, survivor_id: uuid.UUID, duplicate_id: uuid.UUID, now: datetime
) -> CustomerMerge:
    """Moves the duplicate's contacts, leads, opportunities, activities, quotes, tasks, attachments
    and SLA timers to the survivor; the duplicate is marked merged and its id and code resolve to
    the survivor from then on."""
    merging.refuse_merging_into_itself(survivor_id, duplicate_id, entity="customer")
    survivor, duplicate = await _lock_live_pair(session, actor, survivor_id, duplicate_id)
    stopped = await merging.stop_timers(
        session, actor.organization_id, duplicate_id=duplicate.id, now=now, clashing_with=survivor.id
    )
    moved = await merging.move_all(
        session, FOLLOWERS, actor.organization_id, from_id=duplicate.id, to_id=survivor.id, now=now
    )
    merge = CustomerMerge(
        organization_id=actor.organization_id,
        survivor_id=survivor.id,
        duplicate_id=duplicate.id,
        merged_by_id=actor.user_id,
        merged_at=now,
        moved=moved,
        stopped_timers=stopped,
        previous_last_follow_up_at=survivor.last_follow_up_at,
    )
    session.add(merge)
    follow_ups = [at for at in (survivor.last_follow_up_at, duplicate.last_follow_up_at) if at is not None]
    survivor.last_follow_up_at = max(follow_ups, default=None)
    duplicate.merged_into_id, duplicate.merged_at = survivor.id, now
    await session.flush()
    await _announce(session, actor, merge, survivor, duplicate, undone=False)
    return merge


async def undo_merge(
    session: AsyncSession, *, actor: Principal, survivor_id: uuid.UUID, duplicate_id: uuid.UUID, now: datetime
) -> CustomerMerge:
    """Moves back exactly what the merge moved and makes the duplicate a customer again; refused
    (409) after 7 days, when the survivor was merged in turn, when moved records are no longer on
    the survivor, or when a live customer took the duplicate's name or uscc since."""
    survivor = await get_visible(
        session,
        Customer,
        survivor_id,
        actor=actor,
        visible=visible_to(actor, Customer.owner_id),
        for_update=True,
    )
    merge = await merging.pending_merge(session, CustomerMerge, survivor, duplicate_id, entity="customer")
    duplicate = await session.get_one(Customer, merge.duplicate_id, with_for_update=True)
    merging.refuse_late_or_chained(
        merged_at=merge.merged_at,
        survivor_merged=survivor.merged_into_id is not None,
        now=now,
        entity="customer",
    )
    await _refuse_taken_keys(session, actor, duplicate)
    await merging.give_back(session, FOLLOWERS, merge, now=now, entity="customer")
    duplicate.merged_into_id, duplicate.merged_at = None, None
    survivor.last_follow_up_at = merge.previous_last_follow_up_at
    merge.undone_at, merge.undone_by_id = now, actor.user_id
    await session.flush()
    await _announce(session, actor, merge, survivor, duplicate, undone=True)
    return merge


async def _refuse_taken_keys(session: AsyncSession, actor: Principal, duplicate: Customer) -> None:
    """A customer created (or changed) since with the duplicate's name key, uscc, phone or e-mail
    blocks its return."""
    keys = CustomerKeys(
        name=duplicate.name_key, uscc=duplicate.uscc, phone=duplicate.phone, email=duplicate.email
    )
    taken = await customer_dedup.find_exact_matches(
        session, actor.organization_id, keys, exclude=duplicate.id
    )
    if taken:
        customer, matched_field = taken[0]
        raise Conflict(
            f"The customer {customer.code} now has this customer's {matched_field}; rename one first.",
            code="customer.merge_undo_clash",
            errors=[FieldError(matched_field, "duplicate", customer.code)],
        )


async def _announce(
    session: AsyncSession,
    actor: Principal,
    merge: CustomerMerge,
    survivor: Customer,
    duplicate: Customer,
    *,
    undone: bool,
) -> None:
    await merging.announce(
        session,
        actor,
        merge,
        survivor,
        duplicate,
        entity="customer",
        undone=undone,
        duplicate_named={"duplicate_code": duplicate.code},
        event=functools.partial(
            CustomerMergeUndone if undone else CustomerMerged,
            merge_id=merge.id,
            customer_id=survivor.id,
            customer_code=survivor.code,
            customer_name=survivor.name,
            duplicate_id=duplicate.id,
            duplicate_code=duplicate.code,
            duplicate_name=duplicate.name,
        ),
    )
