"""Merging a duplicate lead into a survivor, and undoing it within 7 days.

The duplicate's activities, attachments, engagement events, SLA timers and the opportunities it
was the source of move with one set-based UPDATE per kind (services/platform/merging.py, shared with
customer merge); the fields and custom fields the survivor lacks are filled from it. The merge row
keeps what moved and what was filled, so an undo gives back exactly those.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.leads.lead_fields import LEAD_FIELDS
from app.domain.leads.leads import LeadStatus
from app.domain.models import (
    Activity,
    Attachment,
    AttachmentParent,
    Customer,
    EngagementEvent,
    Lead,
    LeadMerge,
    Opportunity,
    SlaTimer,
    Task,
)
from app.domain.notifications.events import LeadMerged, LeadMergeUndone
from app.domain.platform.errors import Conflict, FieldError
from app.services.leads.leads import lead_visibility
from app.services.organization.policy import rules_for
from app.services.platform import merging
from app.services.platform.common import get_visible
from app.services.platform.merging import Follower
from app.services.scores.lead_intent import rescore_leads

FOLLOWERS = (
    Follower("activities", Activity, Activity.lead_id),
    Follower(
        "attachments", Attachment, Attachment.parent_id, Attachment.parent_type == AttachmentParent.lead
    ),
    Follower("engagement_events", EngagementEvent, EngagementEvent.lead_id),
    Follower("sla_timers", SlaTimer, SlaTimer.subject_id, SlaTimer.subject_type == "lead"),
    Follower("opportunities", Opportunity, Opportunity.source_lead_id),
    Follower("tasks", Task, Task.lead_id),
)
# Fields the survivor takes from the duplicate when it has none (its contact keys stay its own).
FILLABLE = LEAD_FIELDS.filled_on_merge
# Follow-up times the survivor takes when the duplicate's are later (its moved activities).
LATEST = ("last_follow_up_at", "last_effective_follow_up_at")


def undo_deadline(merge: LeadMerge) -> datetime:
    return merging.undo_deadline(merge.merged_at)


async def merge_leads(
    session: AsyncSession, *, actor: Principal, survivor_id: uuid.UUID, duplicate_id: uuid.UUID, now: datetime
) -> LeadMerge:
    """Moves the duplicate's records to the survivor and fills what the survivor lacks; the
    duplicate's live SLA timers are closed first. The duplicate becomes `merged`: out of lists,
    the pool and de-duplication, its id an alias of the survivor."""
    merging.refuse_merging_into_itself(survivor_id, duplicate_id, entity="lead")
    survivor, duplicate = await _lock_live_pair(session, actor, survivor_id, duplicate_id)
    await _refuse_converted_apart(session, survivor, duplicate)
    stopped = await merging.stop_timers(session, actor.organization_id, duplicate_id=duplicate.id, now=now)
    moved = await merging.move_all(
        session, FOLLOWERS, actor.organization_id, from_id=duplicate.id, to_id=survivor.id, now=now
    )
    merge = LeadMerge(
        organization_id=actor.organization_id,
        survivor_id=survivor.id,
        duplicate_id=duplicate.id,
        merged_by_id=actor.user_id,
        merged_at=now,
        moved=moved,
        stopped_timers=stopped,
        duplicate_status=duplicate.status,
        filled=_fill(survivor, duplicate),
    )
    session.add(merge)
    duplicate.status, duplicate.merged_into_id, duplicate.merged_at = LeadStatus.merged, survivor.id, now
    await _rescore_if_filled(session, actor, survivor, merge, now)
    await session.flush()
    await _announce(session, actor, merge, survivor, duplicate, undone=False)
    return merge


async def _lock_live_pair(
    session: AsyncSession, actor: Principal, survivor_id: uuid.UUID, duplicate_id: uuid.UUID
) -> tuple[Lead, Lead]:
    """Both leads, visible to the actor and not merged, locked in id order (two merges of one pair
    in opposite directions wait for each other instead of deadlocking)."""
    locked = {}
    for lead_id in sorted({survivor_id, duplicate_id}):
        lead = await get_visible(
            session, Lead, lead_id, actor=actor, visible=lead_visibility(actor), for_update=True
        )
        if lead.merged_into_id is not None:
            raise Conflict(
                f"The lead {lead.name} was already merged into another lead.", code="lead.already_merged"
            )
        locked[lead_id] = lead
    return locked[survivor_id], locked[duplicate_id]


async def _refuse_converted_apart(session: AsyncSession, survivor: Lead, duplicate: Lead) -> None:
    """Two leads converted into different customers are two customers' history: merge those first."""
    if survivor.customer_id is None or duplicate.customer_id is None:
        return
    if survivor.customer_id == duplicate.customer_id:
        return
    codes = {
        customer.id: customer.code
        for customer in await session.scalars(
            select(Customer).where(Customer.id.in_([survivor.customer_id, duplicate.customer_id]))
        )
    }
    raise Conflict(
        f"The leads were converted into different customers ({codes.get(survivor.customer_id)} and "
        f"{codes.get(duplicate.customer_id)}); merge those customers first.",
        code="lead.merge_converted_apart",
        errors=[FieldError("duplicate_id", "converted_apart", "converted into another customer")],
    )


def _encode(value: Any) -> Any:
    """A field's value as the merge row's JSON keeps it (and compares it on undo)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _fill(survivor: Lead, duplicate: Lead) -> dict[str, Any]:
    """Gives the survivor what it lacks of the duplicate's fields, custom fields and latest
    follow-ups; returns {field: {"before", "after"}} of what changed."""
    filled: dict[str, Any] = {}
    for name in FILLABLE:
        if getattr(survivor, name) is None and getattr(duplicate, name) is not None:
            filled[name] = {"before": None, "after": _encode(getattr(duplicate, name))}
            setattr(survivor, name, getattr(duplicate, name))
    for name in LATEST:
        mine, theirs = getattr(survivor, name), getattr(duplicate, name)
        if theirs is not None and (mine is None or theirs > mine):
            filled[name] = {"before": _encode(mine), "after": _encode(theirs)}
            setattr(survivor, name, theirs)
    missing = {
        key: value for key, value in duplicate.custom_fields.items() if key not in survivor.custom_fields
    }
    if missing:
        filled["custom_fields"] = {"before": None, "after": missing}
        survivor.custom_fields = {**survivor.custom_fields, **missing}
    return filled


async def _rescore_if_filled(
    session: AsyncSession, actor: Principal, survivor: Lead, merge: LeadMerge, now: datetime
) -> None:
    if "budget" in merge.filled:
        await rescore_leads(
            session, [survivor], policy=await rules_for(session, actor.organization_id), now=now
        )


async def undo_merge(
    session: AsyncSession, *, actor: Principal, survivor_id: uuid.UUID, duplicate_id: uuid.UUID, now: datetime
) -> LeadMerge:
    """Moves back exactly what the merge moved, takes back what it filled (where the survivor still
    holds it) and makes the duplicate a lead again; refused (409) after 7 days, when the survivor
    was merged in turn, or when moved records are no longer on the survivor."""
    survivor = await get_visible(
        session, Lead, survivor_id, actor=actor, visible=lead_visibility(actor), for_update=True
    )
    merge = await merging.pending_merge(session, LeadMerge, survivor, duplicate_id, entity="lead")
    duplicate = await session.get_one(Lead, merge.duplicate_id, with_for_update=True)
    merging.refuse_late_or_chained(
        merged_at=merge.merged_at, survivor_merged=survivor.merged_into_id is not None, now=now, entity="lead"
    )
    await merging.give_back(session, FOLLOWERS, merge, now=now, entity="lead")
    _take_back_filled(survivor, merge.filled)
    duplicate.status, duplicate.merged_into_id, duplicate.merged_at = merge.duplicate_status, None, None
    merge.undone_at, merge.undone_by_id = now, actor.user_id
    await _rescore_if_filled(session, actor, survivor, merge, now)
    await session.flush()
    await _announce(session, actor, merge, survivor, duplicate, undone=True)
    return merge


def _take_back_filled(survivor: Lead, filled: dict[str, Any]) -> None:
    """A filled value the survivor still holds goes; one edited since stays (someone chose it)."""
    for name, change in filled.items():
        if name == "custom_fields":
            survivor.custom_fields = {
                key: value
                for key, value in survivor.custom_fields.items()
                if key not in change["after"] or change["after"][key] != value
            }
        elif _encode(getattr(survivor, name)) == change["after"]:
            before = change["before"]
            setattr(survivor, name, datetime.fromisoformat(before) if name in LATEST and before else before)


async def _announce(
    session: AsyncSession,
    actor: Principal,
    merge: LeadMerge,
    survivor: Lead,
    duplicate: Lead,
    *,
    undone: bool,
) -> None:
    await merging.announce(
        session,
        actor,
        merge,
        survivor,
        duplicate,
        entity="lead",
        undone=undone,
        duplicate_named={"duplicate_name": duplicate.name},
        audited={"filled": sorted(merge.filled)},
        event=functools.partial(
            LeadMergeUndone if undone else LeadMerged,
            merge_id=merge.id,
            lead_id=survivor.id,
            lead_name=survivor.name,
            company=survivor.company or "",
            duplicate_id=duplicate.id,
            duplicate_name=duplicate.name,
        ),
    )
