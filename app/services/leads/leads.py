"""Leads: create with de-duplication, read, update, convert to a customer, disqualify."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.activities.activities import ActivityType
from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.leads.lead_fields import LEAD_FIELDS
from app.domain.leads.leads import LeadSource, LeadStatus, ensure_open
from app.domain.models import Activity, Contact, Customer, Lead, Opportunity
from app.domain.notifications.events import LeadConverted, LeadCreated
from app.domain.platform.changes import ChangeOp
from app.domain.platform.custom_fields import validate_custom_fields
from app.domain.platform.dedup import customer_keys, normalise_company, normalise_contact
from app.domain.platform.errors import Conflict, FieldError, InvalidInput, NotFound, PermissionDenied
from app.services.assignment import assignment, contact_masking
from app.services.assignment.ownership import resolve_owner
from app.services.customers import customer_dedup, customers
from app.services.marketing import campaigns
from app.services.organization.policy import rules_for
from app.services.pipelines import opportunities
from app.services.platform import audit, change_log, outbox
from app.services.platform.common import (
    check_version,
    get_visible,
    insert_unless_conflict,
    matches,
    plan_for_these_values,
    refuse_taken_id,
)
from app.services.platform.list_filters import ANY_TIME, Period, in_teams, tagged, text_matches, within
from app.services.platform.pagination import (
    EARLIEST,
    LATEST,
    NO_OPTIONS,
    ListOptions,
    MissingLast,
    Page,
    SortOrder,
    paginate,
)
from app.services.platform.similar_names import SimilarNames
from app.services.platform.visibility import visible_to
from app.services.scores.lead_intent import rescore_leads, score_of_new_lead
from app.services.sla import sla

AUDITED_FIELDS = (*LEAD_FIELDS.audited, "status")
# A merged lead's id resolves to its survivor; a survivor merged in turn is followed this far.
MAX_ALIAS_HOPS = 10
SORTABLE: dict[str, Any] = {
    "created_at": Lead.created_at,
    "updated_at": Lead.updated_at,
    "score": Lead.score,
    "name": Lead.name,
    "last_follow_up_at": MissingLast(Lead.last_follow_up_at, lowest=EARLIEST, highest=LATEST),
}
# Lead fields the intent score reads: an edit of one rescores the lead.
SCORED_FIELDS = frozenset({"budget", "source"})


class OnDuplicate(StrEnum):
    reject = "reject"
    merge = "merge"


@dataclass(frozen=True)
class LeadMatch:
    """An existing lead as the caller may see it: its name and status only when it is in their
    view (or the pool), its owner's name either way, so a rep knows whom to ask. Its id is always
    given (the contract's 409), which tells no more than that it exists."""

    lead_id: uuid.UUID
    matched_field: str
    is_visible: bool
    owner_name: str | None
    name: str | None = None
    status: LeadStatus | None = None


class DuplicateLead(Conflict):
    code = "lead.duplicate"

    def __init__(self, match: LeadMatch) -> None:
        if match.is_visible:
            detail = (
                f"The lead {match.name} (status {match.status}, owner: {match.owner_name or 'nobody yet'}) "
                f"has the same {match.matched_field}."
            )
        else:
            detail = customer_dedup.hidden_duplicate_detail("lead", match.matched_field, match.owner_name)
        super().__init__(detail, errors=[FieldError(match.matched_field, "duplicate", detail)])
        self.extensions = {
            key: str(value)
            for key, value in (
                ("existing_id", match.lead_id),
                ("matched_field", match.matched_field),
                ("existing_name", match.name),
                ("existing_status", match.status),
                ("existing_owner_name", match.owner_name),
            )
            if value is not None
        }


async def duplicate_lead(
    session: AsyncSession, actor: Principal, existing: Lead, matched_field: str
) -> DuplicateLead:
    """The 409 for a lead that matched `existing`, saying as much of it as `actor` may see."""
    is_visible, owner_name = await customer_dedup.duplicate_holder(
        session, Lead, existing.id, existing.owner_id, lead_visibility(actor)
    )
    if not is_visible:
        return DuplicateLead(LeadMatch(existing.id, matched_field, False, owner_name))
    return DuplicateLead(
        LeadMatch(existing.id, matched_field, True, owner_name, name=existing.name, status=existing.status)
    )


@dataclass(frozen=True)
class NewLead:
    name: str
    source: LeadSource
    company: str | None = None
    phone: str | None = None
    email: str | None = None
    wechat: str | None = None
    region: str | None = None
    product_line: str | None = None
    industry: str | None = None
    budget: Decimal | None = None
    notes: str | None = None
    owner_id: uuid.UUID | None = None
    tags: list[str] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    id: uuid.UUID | None = None
    campaign_id: uuid.UUID | None = None
    # Who entered the lead when no user posts it: the user who set up the web form it came through.
    entered_by_id: uuid.UUID | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None


@dataclass(frozen=True)
class LeadKeys:
    phone: str | None
    email: str | None
    company: str | None


@dataclass(frozen=True)
class CreatedLead:
    lead: Lead
    merged: bool


def lead_keys(phone: str | None, email: str | None, company: str | None) -> LeadKeys:
    """Normalised matching keys, or InvalidInput naming every field that cannot be normalised."""
    phone_key, email_key = normalise_contact(phone, email)
    company_key = normalise_company(company) if company else None
    return LeadKeys(phone=phone_key, email=email_key, company=company_key or None)


async def find_exact_duplicate(
    session: AsyncSession, organization_id: uuid.UUID, keys: LeadKeys, *, exclude: uuid.UUID | None = None
) -> tuple[Lead, str] | None:
    conditions = []
    if keys.phone:
        conditions.append(Lead.phone_key == keys.phone)
    if keys.email:
        conditions.append(Lead.email_key == keys.email)
    if not conditions:
        return None
    statement = select(Lead).where(Lead.organization_id == organization_id, or_(*conditions))
    if exclude is not None:
        statement = statement.where(Lead.id != exclude)
    existing = (await session.scalars(statement.limit(2))).first()
    if existing is None:
        return None
    matched = "phone" if keys.phone and existing.phone_key == keys.phone else "email"
    # A merged lead keeps its keys (no new lead for that person) and answers with its survivor.
    return await _survivor_of(session, existing), matched


async def _survivor_of(session: AsyncSession, lead: Lead) -> Lead:
    for _ in range(MAX_ALIAS_HOPS):
        if lead.merged_into_id is None:
            break
        lead = await session.get_one(Lead, lead.merged_into_id)
    return lead


# Leads match leads by company; customers are matched on conversion (services/customers/customer_dedup.py).
# A merged lead is no candidate: its survivor is.
SIMILAR_LEADS = SimilarNames(Lead.id, Lead.company_key, Lead.organization_id, Lead.merged_into_id.is_(None))


async def _possible_duplicates(
    session: AsyncSession, organization_id: uuid.UUID, company_key: str | None, threshold: float
) -> list[dict[str, Any]]:
    matches = await SIMILAR_LEADS.find(session, organization_id, company_key, threshold=threshold)
    return [{"lead_id": str(m.key), "company_key": m.name, "score": round(m.score, 1)} for m in matches]


def _require_contact_route(data: NewLead) -> None:
    if not (data.phone or data.email or data.wechat):
        raise InvalidInput(
            "A lead needs a phone number, an e-mail address or a WeChat id.",
            code="lead.no_contact",
            errors=[FieldError("phone", "missing", "give phone, email or wechat")],
        )


async def _merge_into(
    session: AsyncSession, *, actor: Principal, existing: Lead, data: NewLead, now: datetime
) -> Lead:
    """`on_duplicate=merge`: the new information is kept as a note on the existing lead."""
    details = {
        key: str(value)
        for key, value in (
            ("name", data.name),
            ("company", data.company),
            ("phone", data.phone),
            ("email", data.email),
            ("wechat", data.wechat),
            ("source", data.source.value),
            ("region", data.region),
            ("product_line", data.product_line),
            ("industry", data.industry),
            ("budget", data.budget),
            ("notes", data.notes),
        )
        if value is not None
    }
    lines = [f"{key}: {value}" for key, value in details.items()]
    session.add(
        Activity(
            organization_id=actor.organization_id,
            type=ActivityType.note,
            occurred_at=now,
            owner_id=actor.user_id,
            lead_id=existing.id,
            customer_id=existing.customer_id,
            notes="Duplicate lead merged:\n" + "\n".join(lines),
            info_points={},
        )
    )
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="lead.merged",
        entity_type="lead",
        entity_id=existing.id,
        after={"merged": details},
    )
    return existing


async def create_lead(
    session: AsyncSession,
    *,
    actor: Principal,
    data: NewLead,
    now: datetime,
    on_duplicate: OnDuplicate = OnDuplicate.reject,
) -> CreatedLead:
    _require_contact_route(data)
    await campaigns.check_campaign(session, actor, data.campaign_id)
    keys = lead_keys(data.phone, data.email, data.company)
    policy = await rules_for(session, actor.organization_id)
    custom_fields = validate_custom_fields(data.custom_fields, list(policy.lead_fields))
    # A rep who captures a lead works it; leads from marketing, integrations and managers wait
    # for assignment.
    owner_id = await resolve_owner(
        session, actor, data.owner_id, default=actor.user_id if actor.role is Role.rep else None
    )
    possible_duplicates = await _possible_duplicates(
        session, actor.organization_id, keys.company, policy.company_match_threshold
    )
    values = {
        **_lead_values(actor, data, keys, owner_id, custom_fields, possible_duplicates, now),
        **score_of_new_lead(policy, data.source, data.budget, now),
    }
    # The unique keys on phone and e-mail decide, in one statement: no check-then-insert race and
    # no savepoint. Nothing returned means an existing lead holds this phone or e-mail.
    lead = await session.scalar(insert_unless_conflict(session, Lead, returning=True), values)
    if lead is None:
        return await _settle_conflict(session, actor, data, keys, now, on_duplicate)
    # An INSERT statement, not a flush: the change log's flush hook does not see it.
    await change_log.record_changes(session, Lead, actor.organization_id, [lead.id], ChangeOp.created)
    await _announce_new_lead(session, actor, lead, now)
    return CreatedLead(lead, False)


def _lead_values(
    actor: Principal,
    data: NewLead,
    keys: LeadKeys,
    owner_id: uuid.UUID | None,
    custom_fields: dict[str, Any],
    possible_duplicates: list[dict[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": data.id or uuid.uuid4(),
        "organization_id": actor.organization_id,
        # A Core insert is not stamped by the session's clock; the service's clock is the one
        # sweeps, KPIs and the activity-date rule compare with.
        "created_at": now,
        "updated_at": now,
        **{name: getattr(data, name) for name in LEAD_FIELDS.stored_as_given},
        "phone": keys.phone,
        "email": keys.email,
        "phone_key": keys.phone,
        "email_key": keys.email,
        "company_key": keys.company,
        "status": LeadStatus.assigned if owner_id else LeadStatus.new,
        "owner_id": owner_id,
        "created_by_id": actor.user_id or data.entered_by_id,
        "assigned_at": now if owner_id else None,
        "tags": sorted(set(data.tags)),
        "custom_fields": custom_fields,
        "possible_duplicates": possible_duplicates,
    }


async def _settle_conflict(
    session: AsyncSession,
    actor: Principal,
    data: NewLead,
    keys: LeadKeys,
    now: datetime,
    on_duplicate: OnDuplicate,
) -> CreatedLead:
    """The insert met an existing lead: merged into it when asked, else refused naming it."""
    duplicate = await find_exact_duplicate(session, actor.organization_id, keys)
    if duplicate is None:
        # Only the id can have collided: refused without saying where it is taken.
        await refuse_taken_id(session, Lead, data.id, actor=actor, entity="lead")
        raise Conflict("The lead conflicts with a concurrent change; retry.", code="lead.id_taken")
    existing, matched = duplicate
    if on_duplicate is OnDuplicate.merge:
        return CreatedLead(
            await _merge_into(session, actor=actor, existing=existing, data=data, now=now), True
        )
    raise await duplicate_lead(session, actor, existing, matched)


async def _announce_new_lead(session: AsyncSession, actor: Principal, lead: Lead, now: datetime) -> None:
    """Audit and event; then the handover clock for marketing's leads, assignment for unowned ones."""
    await audit.record_audit(
        session,
        actor=actor,
        action="lead.created",
        entity_type="lead",
        entity_id=lead.id,
        after=audit.snapshot(lead, AUDITED_FIELDS),
    )
    outbox.record(
        session,
        organization_id=actor.organization_id,
        event=LeadCreated(
            lead_id=lead.id,
            lead_name=lead.name,
            company=lead.company or "",
            source=lead.source,
            owner_id=lead.owner_id,
        ),
    )
    if actor.role is Role.marketing:
        await sla.start_handover_response(session, lead, now)
    if lead.owner_id is None:
        assignment.request_assignment(session, lead)


def lead_visibility(actor: Principal) -> Any:
    """The leads the actor works: own (or the team's) leads, and the public pool, which every
    seller may look into."""
    return or_(visible_to(actor, Lead.owner_id), Lead.status == LeadStatus.pooled)


def _entered_by(actor: Principal) -> ColumnElement[bool] | None:
    """Marketing's leads: those it entered, for as long as it reports on them (issue 19, point
    13), except an erased one; None for every other role."""
    if actor.role is not Role.marketing:
        return None
    return and_(Lead.created_by_id == actor.user_id, Lead.erased_at.is_(None))


def lead_read_visibility(actor: Principal) -> Any:
    """The leads the actor may read: those it works, and marketing's own whoever works them now
    (read-only: every change goes through `get_lead`, which sees only the leads the actor works)."""
    entered = _entered_by(actor)
    return lead_visibility(actor) if entered is None else or_(lead_visibility(actor), entered)


async def _find_lead(
    session: AsyncSession, actor: Principal, lead_id: uuid.UUID, visible: Any, *, for_update: bool
) -> Lead:
    # A merged lead is followed whoever owned it: what counts is whether the survivor is visible.
    visible_or_alias = or_(visible, Lead.merged_into_id.is_not(None))
    for _ in range(MAX_ALIAS_HOPS):
        lead = await get_visible(
            session, Lead, lead_id, actor=actor, visible=visible_or_alias, for_update=for_update
        )
        if lead.merged_into_id is None:
            return lead
        lead_id = lead.merged_into_id
    raise NotFound(f"Lead {lead_id} was not found.", code="lead.not_found")


async def read_lead(session: AsyncSession, *, actor: Principal, lead_id: uuid.UUID) -> Lead:
    """The lead as the actor may read it; a merged one's id gives its survivor (an alias)."""
    return await _find_lead(session, actor, lead_id, lead_read_visibility(actor), for_update=False)


async def get_lead(
    session: AsyncSession, *, actor: Principal, lead_id: uuid.UUID, for_update: bool = False
) -> Lead:
    """The lead the actor works, to change or to work on; a merged one's id gives its survivor (the
    id stays an alias). A lead marketing only reads (one it entered) answers 403, not 404: it can
    see the lead, it may not change it."""
    try:
        return await _find_lead(session, actor, lead_id, lead_visibility(actor), for_update=for_update)
    except NotFound:
        if _entered_by(actor) is None:
            raise
        await read_lead(session, actor=actor, lead_id=lead_id)
        raise PermissionDenied(
            "Marketing reads the leads it entered; sales works them.", code="lead.read_only"
        ) from None


async def list_leads(
    session: AsyncSession,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    sort: str = "-created_at",
    filters: dict[str, Any] | None = None,
    team_id: Sequence[uuid.UUID] | None = None,
    tags: Sequence[str] | None = None,
    q: str | None = None,
    created: Period = ANY_TIME,
    options: ListOptions = NO_OPTIONS,
) -> Page[Lead]:
    order = SortOrder.parse(sort, SORTABLE)
    statuses = (filters or {}).get("status")
    # Filtered to another status, the pool's share of visibility selects nothing; left in, its OR
    # keeps the planner off the owner-and-status index (0.55 s for a rep's contacted leads at a
    # million leads).
    if statuses is None or LeadStatus.pooled in statuses:
        visible = lead_read_visibility(actor)
    else:
        entered = _entered_by(actor)
        owned = visible_to(actor, Lead.owner_id)
        visible = owned if entered is None else or_(owned, entered)
    statement = select(Lead).where(
        Lead.organization_id == actor.organization_id, visible, Lead.merged_into_id.is_(None)
    )
    for name, value in (filters or {}).items():
        if value is not None:
            statement = statement.where(matches(getattr(Lead, name), value))
    if team_id is not None:
        statement = statement.where(in_teams(actor, Lead.owner_id, team_id))
    if tags is not None:
        statement = statement.where(tagged(session, Lead.tags, tags))
    statement = statement.where(*within(Lead.created_at, created))
    if q:
        await plan_for_these_values(session)
        masking = await contact_masking.masking_for(session, actor)
        statement = statement.where(
            or_(
                text_matches(q, [Lead.name, Lead.company]),
                contact_masking.unmasked(masking, text_matches(q, [], [Lead.phone])),
            )
        )
    return await paginate(
        session,
        statement,
        sort_column=SORTABLE[order.name],
        id_column=Lead.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )


async def update_lead(
    session: AsyncSession,
    *,
    actor: Principal,
    lead_id: uuid.UUID,
    changes: dict[str, Any],
    expected_version: int | None,
    now: datetime,
) -> Lead:
    lead = await get_lead(session, actor=actor, lead_id=lead_id, for_update=True)
    ensure_open(lead.status, action="edited")
    keys = None
    if {"phone", "email", "company"} & changes.keys():
        keys = lead_keys(
            changes.get("phone", lead.phone),
            changes.get("email", lead.email),
            changes.get("company", lead.company),
        )
        duplicate = await find_exact_duplicate(session, actor.organization_id, keys, exclude=lead.id)
        if duplicate is not None and duplicate[0].id == lead.id:
            raise Conflict(
                f"A lead merged into this one keeps this {duplicate[1]} (so it finds this lead already).",
                code="lead.duplicate",
                errors=[FieldError(duplicate[1], "merged_duplicate", "kept by a lead merged into this one")],
            )
        if duplicate is not None:
            raise await duplicate_lead(session, actor, *duplicate)
        changes = {**changes, "phone": keys.phone, "email": keys.email}
    if "custom_fields" in changes:
        policy = await rules_for(session, actor.organization_id)
        changes["custom_fields"] = validate_custom_fields(changes["custom_fields"], list(policy.lead_fields))
    if "tags" in changes:
        changes["tags"] = sorted(set(changes["tags"]))
    if "campaign_id" in changes:
        await campaigns.check_campaign(session, actor, changes["campaign_id"])
    check_version(lead, expected_version)
    before = audit.snapshot(lead, AUDITED_FIELDS)
    if keys is not None:
        lead.phone_key, lead.email_key, lead.company_key = keys.phone, keys.email, keys.company
    for name, value in changes.items():
        setattr(lead, name, value)
    if SCORED_FIELDS & changes.keys():
        await rescore_leads(session, [lead], policy=await rules_for(session, actor.organization_id), now=now)
    await session.flush()
    await audit.record_edit(session, actor, lead, before, entity_type="lead")
    return lead


@dataclass(frozen=True)
class Conversion:
    lead: Lead
    customer: Customer
    contact: Contact
    customer_created: bool
    opportunity: Opportunity | None = None


@dataclass(frozen=True)
class NewDeal:
    name: str
    amount: Decimal | None = None
    pipeline_id: uuid.UUID | None = None


async def convert_lead(
    session: AsyncSession,
    *,
    actor: Principal,
    lead_id: uuid.UUID,
    customer_id: uuid.UUID | None,
    customer_name: str | None,
    now: datetime,
    opportunity: NewDeal | None = None,
) -> Conversion:
    """Creates (or links) the customer, a contact and optionally an opportunity from the lead, in
    the request's transaction."""
    lead = await get_lead(session, actor=actor, lead_id=lead_id, for_update=True)
    ensure_open(lead.status, action="converted")
    if customer_id is not None:
        customer = await customers.get_customer(session, actor=actor, customer_id=customer_id)
        customer_created = False
    else:
        customer, customer_created = await _matched_or_new_customer(session, actor, lead, customer_name)
    contact = await customers.add_contact(
        session,
        actor=actor,
        customer_id=customer.id,
        data=customers.NewContact(name=lead.name, phone=lead.phone, email=lead.email, wechat_id=lead.wechat),
    )
    await _mark_converted(session, actor, lead, customer, now)
    deal = None
    if opportunity is not None:
        deal = await _open_deal(session, actor, lead, customer, contact, opportunity, now)
    return Conversion(lead, customer, contact, customer_created, deal)


async def _matched_or_new_customer(
    session: AsyncSession, actor: Principal, lead: Lead, customer_name: str | None
) -> tuple[Customer, bool]:
    """The live customer the lead's company, phone or e-mail already names (linked, not created
    again), else a new one. A match the converting user may not see is refused with its owner's
    name, for a supervisor to decide."""
    name = customer_name or lead.company or lead.name
    keys = customer_keys(name, phone=lead.phone, email=lead.email)
    found = await customer_dedup.find_exact_matches(session, actor.organization_id, keys)
    if found:
        existing, matched_field = found[0]
        match = await customer_dedup.describe(session, actor, existing, matched_field)
        if not match.is_visible:
            raise customer_dedup.DuplicateCustomer(match)
        return existing, False
    created = await customers.create_customer(
        session,
        actor=actor,
        data=customers.NewCustomer(
            name=name, industry=lead.industry, region=lead.region, owner_id=lead.owner_id or actor.user_id
        ),
    )
    return created, True


async def _mark_converted(
    session: AsyncSession, actor: Principal, lead: Lead, customer: Customer, now: datetime
) -> None:
    before = audit.snapshot(lead, ("status", "customer_id"))
    lead.status = LeadStatus.converted
    lead.customer_id = customer.id
    lead.converted_at = now
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="lead.converted",
        entity_type="lead",
        entity_id=lead.id,
        before=before,
        after=audit.snapshot(lead, ("status", "customer_id")),
    )
    outbox.record(
        session,
        organization_id=actor.organization_id,
        event=LeadConverted(
            lead_id=lead.id, lead_name=lead.name, customer_id=customer.id, customer_name=customer.name
        ),
    )


async def _open_deal(
    session: AsyncSession,
    actor: Principal,
    lead: Lead,
    customer: Customer,
    contact: Contact,
    deal: NewDeal,
    now: datetime,
) -> Opportunity:
    return await opportunities.create_opportunity(
        session,
        actor=actor,
        data=opportunities.NewOpportunity(
            name=deal.name,
            customer_id=customer.id,
            contact_id=contact.id,
            pipeline_id=deal.pipeline_id,
            amount=deal.amount,
            source_lead_id=lead.id,
            campaign_id=lead.campaign_id,
            product_lines=[lead.product_line] if lead.product_line else [],
            owner_id=lead.owner_id if lead.owner_id != actor.user_id else None,
        ),
        now=now,
    )


async def disqualify_lead(
    session: AsyncSession, *, actor: Principal, lead_id: uuid.UUID, reason: str, now: datetime
) -> Lead:
    lead = await get_lead(session, actor=actor, lead_id=lead_id, for_update=True)
    ensure_open(lead.status, action="disqualified")
    before = audit.snapshot(lead, ("status",))
    lead.status = LeadStatus.disqualified
    lead.disqualified_at = now
    lead.disqualified_reason = reason
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="lead.disqualified",
        entity_type="lead",
        entity_id=lead.id,
        before=before,
        after={"status": lead.status, "reason": reason},
    )
    return lead
