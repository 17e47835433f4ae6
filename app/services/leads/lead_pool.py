"""The public lead pool, and hands-on ownership changes: claim, release, manual assign, recycle."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.leads.leads import CLOSED_STATUSES, LeadStatus, ensure_open
from app.domain.models import AssignmentKind, Lead, LeadAssignment, Organization, User
from app.domain.organization.policy import OrganizationPolicy
from app.domain.platform.errors import Conflict, NotFound, PermissionDenied
from app.domain.sla.calendars import add_business_minutes
from app.services.assignment import lead_ownership
from app.services.assignment.assignment import start_of_day
from app.services.assignment.ownership import resolve_owner
from app.services.leads.leads import get_lead, lead_visibility
from app.services.organization.policy import policy_for
from app.services.platform.common import get_visible, like_pattern
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page, SortOrder, paginate
from app.services.platform.visibility import visible_to

RECYCLE_BATCH = 500
WORKED_STATUSES = (LeadStatus.assigned, LeadStatus.contacted, LeadStatus.qualified)


_POOL_SORTABLE = {"pooled_at": Lead.pooled_at, "updated_at": Lead.updated_at}


async def list_pool(
    session: AsyncSession,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    region: str | None = None,
    product_line: str | None = None,
    q: str | None = None,
    options: ListOptions = NO_OPTIONS,
    sort: str = "-pooled_at",
) -> Page[Lead]:
    order = SortOrder.parse(sort, _POOL_SORTABLE)
    statement = select(Lead).where(
        Lead.organization_id == actor.organization_id, Lead.status == LeadStatus.pooled
    )
    if region:
        statement = statement.where(Lead.region == region)
    if product_line:
        statement = statement.where(Lead.product_line == product_line)
    if q:
        pattern = like_pattern(q)
        statement = statement.where(
            Lead.name.ilike(pattern, escape="\\") | Lead.company.ilike(pattern, escape="\\")
        )
    return await paginate(
        session,
        statement,
        sort_column=_POOL_SORTABLE[order.name],
        id_column=Lead.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )


async def _count_since(session: AsyncSession, actor: Principal, kind: AssignmentKind, since: datetime) -> int:
    count = await session.scalar(
        select(func.count()).where(
            LeadAssignment.organization_id == actor.organization_id,
            LeadAssignment.user_id == actor.user_id,
            LeadAssignment.kind == kind,
            LeadAssignment.occurred_at >= since,
        )
    )
    return count or 0


async def _open_lead_count(session: AsyncSession, actor: Principal, policy: OrganizationPolicy) -> int:
    count = await session.scalar(
        select(func.count()).where(
            Lead.organization_id == actor.organization_id,
            Lead.owner_id == actor.user_id,
            Lead.status.in_(policy.assignment.open_statuses),
        )
    )
    return count or 0


# How long a lead claimed from the pool still answers "someone claimed it" to another rep.
_RECENT_CLAIM = timedelta(hours=1)


async def _may_know_of(session: AsyncSession, actor: Principal, lead: Lead, now: datetime) -> bool:
    """A lead outside the pool is the actor's to know of when they may see it, or when it was
    claimed from the pool a moment ago (they saw it there); otherwise it is as if it did not exist."""
    visible = await session.scalar(
        select(Lead.id).where(Lead.id == lead.id, visible_to(actor, Lead.owner_id))
    )
    if visible is not None:
        return True
    claimed = await session.scalar(
        select(func.count()).where(
            LeadAssignment.organization_id == actor.organization_id,
            LeadAssignment.lead_id == lead.id,
            LeadAssignment.kind == AssignmentKind.claim,
            LeadAssignment.occurred_at >= now - _RECENT_CLAIM,
        )
    )
    return bool(claimed)


async def claim_lead(session: AsyncSession, *, actor: Principal, lead_id: uuid.UUID, now: datetime) -> Lead:
    """A rep takes a lead from the pool. The lead's row lock makes one claim win; the claimer's
    row lock makes their daily and open-lead limits hold under concurrent claims."""
    if actor.user_id is None:
        raise PermissionDenied("Only a user can claim a lead.", code="lead.claim_user_only")
    await session.scalar(select(User.id).where(User.id == actor.user_id).with_for_update())
    lead = await get_visible(session, Lead, lead_id, actor=actor, for_update=True)
    if lead.status is not LeadStatus.pooled:
        if not await _may_know_of(session, actor, lead, now):
            raise NotFound(f"Lead {lead.id} was not found.", code="lead.not_found")
        raise Conflict("The lead is not in the pool; someone may have claimed it.", code="lead.not_in_pool")
    policy = await policy_for(session, actor)
    limits = policy.lead_pool
    if lead.previous_owner_id == actor.user_id and lead.pooled_at is not None:
        blocked_until = lead.pooled_at + timedelta(days=limits.reclaim_block_days)
        if now < blocked_until:
            raise Conflict(
                f"You released this lead; you may claim it again from {blocked_until.isoformat()}.",
                code="lead.reclaim_blocked",
            )
    claims_today = await _count_since(
        session, actor, AssignmentKind.claim, start_of_day(now, policy.working_hours.timezone)
    )
    if claims_today >= limits.max_claims_per_day:
        raise Conflict(
            f"You have claimed {claims_today} leads today; the limit is {limits.max_claims_per_day}.",
            code="lead.claim_limit",
        )
    open_leads = await _open_lead_count(session, actor, policy)
    if open_leads >= limits.max_open_leads:
        raise Conflict(
            f"You have {open_leads} open leads; claim more when below {limits.max_open_leads}.",
            code="lead.open_limit",
        )
    await lead_ownership.give_to(
        session,
        lead,
        owner_id=actor.user_id,
        kind=AssignmentKind.claim,
        actor=actor,
        now=now,
        reason="claimed from the pool",
    )
    await session.flush()
    return lead


async def release_lead(
    session: AsyncSession, *, actor: Principal, lead_id: uuid.UUID, reason: str, now: datetime
) -> Lead:
    """The owner (or their manager) gives a lead back to the pool."""
    lead = await get_lead(session, actor=actor, lead_id=lead_id, for_update=True)
    ensure_open(lead.status, action="released")
    if lead.owner_id is None:
        raise Conflict("The lead has no owner to release it from.", code="lead.not_owned")
    if actor.role is Role.rep and lead.owner_id != actor.user_id:
        raise PermissionDenied("Only the owner can release a lead.", code="lead.not_owner")
    await lead_ownership.put_in_pool(
        session, lead, kind=AssignmentKind.release, actor=actor, now=now, reason=reason
    )
    await session.flush()
    return lead


async def assign_manually(
    session: AsyncSession,
    *,
    actor: Principal,
    lead_id: uuid.UUID,
    user_id: uuid.UUID,
    reason: str,
    now: datetime,
) -> Lead:
    """A supervisor (or above) assigns or reassigns a lead with a reason. Unowned leads are the
    organization's, so a supervisor may assign them; owned ones only within their teams."""
    lead = await get_visible(
        session,
        Lead,
        lead_id,
        actor=actor,
        visible=or_(lead_visibility(actor), Lead.owner_id.is_(None)),
        for_update=True,
    )
    ensure_open(lead.status, action="assigned")
    owner_id = await resolve_owner(session, actor, user_id, default=None, field="user_id")
    if owner_id is None or owner_id == lead.owner_id:
        raise Conflict("The lead already belongs to this user.", code="lead.same_owner")
    await lead_ownership.give_to(
        session, lead, owner_id=owner_id, kind=AssignmentKind.manual, actor=actor, now=now, reason=reason
    )
    await session.flush()
    return lead


def _is_due(lead: Lead, policy: OrganizationPolicy, now: datetime) -> str | None:
    """Why the lead goes back to the pool now, or None."""
    if lead.assigned_at is None:
        return None
    limits = policy.lead_pool
    followed_up = lead.last_effective_follow_up_at
    if followed_up is None or followed_up < lead.assigned_at:
        deadline = add_business_minutes(
            policy.business_calendar, lead.assigned_at, limits.first_follow_up_business_hours * 60
        )
        if now >= deadline:
            return f"no effective follow-up within {limits.first_follow_up_business_hours} business hours"
        return None
    if now - followed_up >= timedelta(days=limits.idle_days):
        return f"no effective follow-up for {limits.idle_days} days"
    return None


async def recycle_due_leads(session: AsyncSession, *, organization_id: uuid.UUID, now: datetime) -> int:
    """Releases one batch of an organization's overdue leads; returns how many. Idempotent: a
    released lead is pooled and no longer a candidate."""
    organization = await session.get_one(Organization, organization_id)
    actor = Principal.system(organization_id)
    policy = await policy_for(session, actor)
    limits = policy.lead_pool
    # Business hours are never shorter than wall-clock hours, so this bound only narrows the scan.
    earliest = now - timedelta(hours=limits.first_follow_up_business_hours)
    idle_since = now - timedelta(days=limits.idle_days)
    candidates = await session.scalars(
        select(Lead)
        .where(
            Lead.organization_id == organization.id,
            Lead.status.in_(WORKED_STATUSES),
            Lead.owner_id.is_not(None),
            Lead.assigned_at <= earliest,
            or_(
                Lead.last_effective_follow_up_at.is_(None),
                Lead.last_effective_follow_up_at < Lead.assigned_at,
                Lead.last_effective_follow_up_at <= idle_since,
            ),
        )
        .order_by(Lead.assigned_at)
        .limit(RECYCLE_BATCH)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    released = 0
    for lead in candidates.all():
        reason = _is_due(lead, policy, now)
        if reason is None or lead.status in CLOSED_STATUSES:
            continue
        await lead_ownership.put_in_pool(
            session,
            lead,
            kind=AssignmentKind.recycle,
            actor=actor,
            now=now,
            reason=reason,
            notify_supervisors=True,
        )
        released += 1
    await session.flush()
    return released


async def organization_ids(session: AsyncSession) -> list[uuid.UUID]:
    rows = await session.scalars(select(Organization.id).order_by(Organization.id))
    return list(rows)
