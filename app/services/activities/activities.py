"""Activities: record sales work on a lead or customer, idempotently for offline clients."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.activities.activities import (
    ActivityType,
    CallOutcome,
    check_not_before_record,
    check_occurred_at,
    is_effective_follow_up,
)
from app.domain.activities.geo import GeoPoint, distance_m
from app.domain.activities.links import LeadLink, OpportunityLink, check_links
from app.domain.identity.principal import Principal
from app.domain.leads.leads import status_after_contact
from app.domain.models import Activity, Attachment, Customer, Lead, Opportunity, Pipeline, StageStay
from app.domain.organization.policy import OrganizationPolicy
from app.domain.pipelines.pipelines import OrderingMode, ordering_violations, parse_ordering_rules
from app.domain.platform.custom_fields import validate_custom_fields
from app.domain.platform.errors import FieldError, InvalidInput, PermissionDenied
from app.domain.sla.sla import SlaKind, TimerState
from app.services.customers import customers
from app.services.leads import leads
from app.services.organization.policy import policy_for
from app.services.pipelines import opportunities
from app.services.platform import audit
from app.services.platform.common import (
    check_version,
    get_visible,
    matches,
    plan_for_these_values,
    refuse_taken_id,
)
from app.services.platform.list_filters import ANY_TIME, Period, in_teams, text_matches, within
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page, SortOrder, paginate
from app.services.platform.visibility import visible_to
from app.services.scores import customer_health, win_probability
from app.services.scores.lead_intent import rescore_leads
from app.services.sla import sla

SORTABLE = {
    "occurred_at": Activity.occurred_at,
    "created_at": Activity.created_at,
    "updated_at": Activity.updated_at,
}


# What an edit may change: the rep's words and the organization's own fields. The type, the time,
# the check-in, the outcome and info points (which decide is_effective), the linked records and the
# attachments are the audit trail's facts and SLA clocks and KPIs were derived from them when the
# activity was recorded (docs/leads-and-customers.md, "Editing an activity").
EDITABLE_FIELDS = ("notes", "custom_fields")


@dataclass(frozen=True)
class CheckIn:
    latitude: float
    longitude: float
    accuracy_m: float


@dataclass(frozen=True)
class NewActivity:
    type: ActivityType
    occurred_at: datetime
    lead_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    opportunity_id: uuid.UUID | None = None
    notes: str | None = None
    info_points: dict[str, str] = field(default_factory=dict)
    call_outcome: CallOutcome | None = None
    duration_seconds: int | None = None
    geo: CheckIn | None = None
    attachment_ids: list[uuid.UUID] = field(default_factory=list)
    client_id: str | None = None
    satisfaction: int | None = None
    # What a person entered, checked against the organization's activity custom fields; None for an
    # activity the system records itself (a sent quote), which nobody could have filled in.
    custom_fields: dict[str, Any] | None = None
    id: uuid.UUID | None = None


@dataclass(frozen=True)
class RecordedActivity:
    activity: Activity
    created: bool


async def _by_client_id(session: AsyncSession, actor: Principal, client_id: str) -> Activity | None:
    return await session.scalar(
        select(Activity).where(
            Activity.organization_id == actor.organization_id, Activity.client_id == client_id
        )
    )


def _validate_shape(data: NewActivity, now: datetime) -> None:
    errors = []
    if data.lead_id is None and data.customer_id is None and data.opportunity_id is None:
        errors.append(FieldError("lead_id", "missing", "give lead_id, customer_id or opportunity_id"))
    if data.type is ActivityType.visit and data.geo is None:
        errors.append(FieldError("geo", "missing", "a visit needs a geo check-in"))
    if data.call_outcome is not None and data.type is not ActivityType.call:
        errors.append(FieldError("call_outcome", "not_a_call", "only calls have an outcome"))
    if errors:
        raise InvalidInput("The activity is not valid.", code="activity.invalid", errors=errors)
    check_occurred_at(data.occurred_at, now)
    if data.geo is not None:
        GeoPoint(data.geo.latitude, data.geo.longitude)


async def _check_attachments(
    session: AsyncSession, actor: Principal, attachment_ids: list[uuid.UUID]
) -> list[str]:
    if not attachment_ids:
        return []
    found = set(
        (
            await session.scalars(
                select(Attachment.id).where(
                    Attachment.organization_id == actor.organization_id, Attachment.id.in_(attachment_ids)
                )
            )
        ).all()
    )
    missing = [a for a in attachment_ids if a not in found]
    if missing:
        raise InvalidInput(
            "Some attachments do not exist.",
            code="activity.attachment_unknown",
            errors=[FieldError("attachment_ids", "attachment.not_found", str(a)) for a in missing],
        )
    return [str(a) for a in attachment_ids]


@dataclass(frozen=True)
class _Subjects:
    """The records an activity is about; the lead and the customer locked, as the activity
    changes them."""

    lead: Lead | None
    customer: Customer | None
    opportunity: Opportunity | None
    warnings: list[str]

    def records(self) -> list[Lead | Customer | Opportunity]:
        return [r for r in (self.lead, self.customer, self.opportunity) if r is not None]


async def record_activity(
    session: AsyncSession, *, actor: Principal, data: NewActivity, now: datetime
) -> RecordedActivity:
    if data.client_id is not None:
        existing = await _by_client_id(session, actor, data.client_id)
        if existing is not None:
            return RecordedActivity(existing, created=False)
    _validate_shape(data, now)
    policy = await policy_for(session, actor)
    if data.custom_fields is not None:
        data = replace(
            data, custom_fields=validate_custom_fields(data.custom_fields, list(policy.activity_fields))
        )
    subjects = await _resolve_subjects(session, actor, data)
    check_not_before_record(data.occurred_at, await _records_began(session, subjects), policy.activity_entry)
    attachment_ids = await _check_attachments(session, actor, data.attachment_ids)
    await refuse_taken_id(session, Activity, data.id, actor=actor, entity="activity")
    recorded = await _insert_once(
        session, actor, _new_activity(actor, data, subjects, attachment_ids, policy, now)
    )
    if not recorded.created:
        return recorded
    activity = recorded.activity
    answered_at = policy.activity_entry.counted_response_at(activity.occurred_at, now)
    if subjects.lead is not None:
        _touch_lead(subjects.lead, activity, answered_at)
        await rescore_leads(session, [subjects.lead], policy=policy, now=now)
    if subjects.customer is not None:
        customer = subjects.customer
        customer.last_follow_up_at = max(filter(None, (customer.last_follow_up_at, activity.occurred_at)))
    if activity.is_effective:
        await _meet_timers(session, subjects.lead, subjects.customer, answered_at, now)
    await session.flush()
    if subjects.customer is not None:
        # In this transaction, on the customer it already holds: the next read shows the new
        # health, and no job can be lost between the activity and its effect.
        await customer_health.refresh_customers(
            session, organization_id=actor.organization_id, customer_ids=[subjects.customer.id], now=now
        )
    if subjects.opportunity is not None:
        await win_probability.refresh_deal(session, subjects.opportunity, now)
    await audit.record_audit(
        session,
        actor=actor,
        action="activity.created",
        entity_type="activity",
        entity_id=activity.id,
        after=audit.snapshot(
            activity, ("type", "occurred_at", "lead_id", "customer_id", "opportunity_id", "is_effective")
        ),
    )
    return recorded


async def _resolve_subjects(session: AsyncSession, actor: Principal, data: NewActivity) -> _Subjects:
    """The lead, the opportunity (with the order-of-work warnings it gives) and the customer: the
    one given, else the lead's or the opportunity's."""
    lead = None
    if data.lead_id is not None:
        lead = await leads.get_lead(session, actor=actor, lead_id=data.lead_id, for_update=True)
    opportunity = None
    warnings: list[str] = []
    if data.opportunity_id is not None:
        opportunity = await opportunities.get_opportunity(
            session, actor=actor, opportunity_id=data.opportunity_id
        )
        warnings = await _ordering_warnings(session, opportunity, data.type)
    customer_id = (
        data.customer_id
        or (lead.customer_id if lead else None)
        or (opportunity.customer_id if opportunity else None)
    )
    customer = None
    if customer_id is not None:
        # A merged customer's old id resolves to its survivor, which its leads and deals moved to.
        customer = await customers.get_customer(
            session, actor=actor, customer_id=customer_id, for_update=True
        )
    _check_links(customer.id if customer and data.customer_id else None, lead, opportunity)
    return _Subjects(lead, customer, opportunity, warnings)


async def _records_began(session: AsyncSession, subjects: _Subjects) -> datetime:
    """When the earliest record the activity is logged on began: created here, or for a deal
    imported with its history, when it entered its first stage (its engage date)."""
    began = [record.created_at for record in subjects.records()]
    if subjects.opportunity is not None:
        first_stage = await session.scalar(
            select(func.min(StageStay.entered_at)).where(
                StageStay.organization_id == subjects.opportunity.organization_id,
                StageStay.opportunity_id == subjects.opportunity.id,
            )
        )
        if first_stage is not None:
            began.append(first_stage)
    return min(began)


def _check_links(customer_id: uuid.UUID | None, lead: Lead | None, opportunity: Opportunity | None) -> None:
    """The records an activity names must be one customer's (app/domain/activities/links.py): `customer_id`
    as resolved (a merged customer's survivor), the lead converted into it, its opportunity.
    Otherwise the activity would count on one account and show on another."""
    check_links(
        customer_id=customer_id,
        lead=LeadLink(lead.id, lead.customer_id) if lead is not None else None,
        opportunity=(
            OpportunityLink(opportunity.customer_id, opportunity.source_lead_id)
            if opportunity is not None
            else None
        ),
        record="activity",
    )


def _new_activity(
    actor: Principal,
    data: NewActivity,
    subjects: _Subjects,
    attachment_ids: list[str],
    policy: OrganizationPolicy,
    now: datetime,
) -> Activity:
    lead, customer, opportunity = subjects.lead, subjects.customer, subjects.opportunity
    distance = None
    if data.geo is not None and customer is not None and customer.latitude is not None:
        assert customer.longitude is not None
        distance = distance_m(data.geo.latitude, data.geo.longitude, customer.latitude, customer.longitude)
    return Activity(
        id=data.id or uuid.uuid4(),
        organization_id=actor.organization_id,
        type=data.type,
        occurred_at=data.occurred_at,
        owner_id=actor.user_id,
        lead_id=lead.id if lead else None,
        customer_id=customer.id if customer else None,
        opportunity_id=opportunity.id if opportunity else None,
        warnings=subjects.warnings,
        notes=data.notes,
        info_points=dict(data.info_points),
        call_outcome=data.call_outcome,
        duration_seconds=data.duration_seconds,
        latitude=data.geo.latitude if data.geo else None,
        longitude=data.geo.longitude if data.geo else None,
        accuracy_m=data.geo.accuracy_m if data.geo else None,
        distance_m=distance,
        has_geo_mismatch=distance is not None and distance > policy.geo_mismatch_m,
        is_effective=is_effective_follow_up(
            data.type, list(data.info_points), data.call_outcome, policy.follow_up_rule
        ),
        attachment_ids=attachment_ids,
        client_id=data.client_id,
        late_entry=policy.activity_entry.is_late(data.occurred_at, now),
        satisfaction=data.satisfaction,
        custom_fields=data.custom_fields or {},
    )


async def _insert_once(session: AsyncSession, actor: Principal, activity: Activity) -> RecordedActivity:
    try:
        async with session.begin_nested():
            session.add(activity)
            await session.flush()
    except IntegrityError:
        # The same offline entry arrived twice at once; the unique client_id kept one.
        if activity.client_id is None:
            raise
        existing = await _by_client_id(session, actor, activity.client_id)
        if existing is None:
            raise
        return RecordedActivity(existing, created=False)
    return RecordedActivity(activity, created=True)


async def _ordering_warnings(
    session: AsyncSession, opportunity: Opportunity, activity_type: ActivityType
) -> list[str]:
    """The pipeline's ordering rules this activity breaks: refused (422) or returned as warnings."""
    pipeline = await session.get_one(Pipeline, opportunity.pipeline_id)
    rules = parse_ordering_rules(pipeline.ordering_rules)
    earlier = (
        await session.scalars(select(Activity.type).where(Activity.opportunity_id == opportunity.id))
    ).all()
    broken = ordering_violations(rules, list(earlier), activity_type)
    messages = [f"{rule.then.value} before any {rule.first.value}" for rule in broken]
    refused = [m for rule, m in zip(broken, messages, strict=True) if rule.mode is OrderingMode.reject]
    if refused:
        raise InvalidInput(
            "The activity breaks the pipeline's order of work.",
            code="activity.out_of_order",
            errors=[FieldError("type", "out_of_order", message) for message in refused],
        )
    return messages


async def _meet_timers(
    session: AsyncSession, lead: Lead | None, customer: Customer | None, answered_at: datetime, now: datetime
) -> None:
    """An effective follow-up answers the lead's first-response and handover clocks, and restarts
    the customer's follow-up clock: only clocks that were running when it happened (work done
    before an assignment does not answer it)."""
    if lead is not None:
        for kind in (SlaKind.first_response, SlaKind.handover_response):
            await sla.stop_timers(
                session,
                organization_id=lead.organization_id,
                kind=kind,
                subject_id=lead.id,
                outcome=TimerState.met,
                now=now,
                started_by=answered_at,
            )
    if customer is not None:
        await sla.stop_timers(
            session,
            organization_id=customer.organization_id,
            kind=SlaKind.follow_up,
            subject_id=customer.id,
            outcome=TimerState.met,
            now=now,
            started_by=answered_at,
        )
        # Starts the next clock; a clock the activity did not answer keeps running (one live timer).
        await sla.start_follow_up(session, customer, now)


def _touch_lead(lead: Lead, activity: Activity, answered_at: datetime) -> None:
    """First response, follow-up timestamps and the contacted status, kept as columns for KPIs.
    Work before the lead was assigned is kept but is no response to the assignment, so a response
    time is never negative."""
    if activity.type is ActivityType.note:
        return
    responds = lead.assigned_at is not None and answered_at >= lead.assigned_at
    if responds and (lead.first_response_at is None or answered_at < lead.first_response_at):
        lead.first_response_at = answered_at
    lead.last_follow_up_at = max(filter(None, (lead.last_follow_up_at, activity.occurred_at)))
    if activity.is_effective:
        lead.last_effective_follow_up_at = max(
            filter(None, (lead.last_effective_follow_up_at, activity.occurred_at))
        )
    lead.status = status_after_contact(lead.status)


def activity_visibility(actor: Principal) -> Any:
    """Own activities, and those on leads and customers the actor may see.

    The lead and the customer are looked up by key for each activity read, so a list read in its
    index order stops after a page. Written as `lead_id IN (visible leads)`, or as EXISTS (which
    PostgreSQL turns into the same hashed set when it expects many rows), every visible lead was
    read first, and for a rep those include the whole pool: 2.5 s a page at a million leads.
    Scalar subqueries are never hashed.
    """
    if actor.sees_whole_organization:
        return true()
    lead_visible = (
        select(leads.lead_visibility(actor))
        .where(Lead.id == Activity.lead_id, Lead.organization_id == actor.organization_id)
        .scalar_subquery()
    )
    customer_visible = (
        select(visible_to(actor, Customer.owner_id))
        .where(Customer.id == Activity.customer_id, Customer.organization_id == actor.organization_id)
        .scalar_subquery()
    )
    return or_(visible_to(actor, Activity.owner_id), lead_visible, customer_visible)


async def get_activity(
    session: AsyncSession, *, actor: Principal, activity_id: uuid.UUID, for_update: bool = False
) -> Activity:
    return await get_visible(
        session, Activity, activity_id, actor=actor, visible=activity_visibility(actor), for_update=for_update
    )


async def update_activity(
    session: AsyncSession,
    *,
    actor: Principal,
    activity_id: uuid.UUID,
    changes: dict[str, Any],
    expected_version: int | None,
) -> Activity:
    """Edits an activity's notes and custom fields. Whoever may read it sees it; its author, the
    author's supervisors, directors and admins may edit it, as they may delete it."""
    activity = await get_activity(session, actor=actor, activity_id=activity_id, for_update=True)
    may_edit = await session.scalar(
        select(Activity.id).where(Activity.id == activity.id, visible_to(actor, Activity.owner_id))
    )
    if may_edit is None:
        raise PermissionDenied(
            "Only its author, the author's supervisor, a director or an admin edits an activity.",
            code="activity.edit_forbidden",
        )
    changes = dict(changes)
    if "custom_fields" in changes:
        definitions = list((await policy_for(session, actor)).activity_fields)
        changes["custom_fields"] = validate_custom_fields(changes["custom_fields"], definitions)
    check_version(activity, expected_version)
    await audit.apply_edit(session, actor, activity, changes, fields=EDITABLE_FIELDS, entity_type="activity")
    return activity


async def list_activities(
    session: AsyncSession,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    sort: str = "-occurred_at",
    filters: dict[str, Any] | None = None,
    team_id: Sequence[uuid.UUID] | None = None,
    occurred: Period = ANY_TIME,
    created: Period = ANY_TIME,
    options: ListOptions = NO_OPTIONS,
    q: str | None = None,
) -> Page[Activity]:
    """`q`: part of the notes."""
    order = SortOrder.parse(sort, SORTABLE)
    statement = select(Activity).where(
        Activity.organization_id == actor.organization_id, activity_visibility(actor)
    )
    for name, value in (filters or {}).items():
        if value is not None:
            statement = statement.where(matches(getattr(Activity, name), value))
    if team_id is not None:
        statement = statement.where(in_teams(actor, Activity.owner_id, team_id))
    statement = statement.where(
        *within(Activity.occurred_at, occurred), *within(Activity.created_at, created)
    )
    if q:
        await plan_for_these_values(session)
        statement = statement.where(text_matches(q, [Activity.notes]))
    return await paginate(
        session,
        statement,
        sort_column=SORTABLE[order.name],
        id_column=Activity.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )
