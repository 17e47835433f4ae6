"""Opportunities: create and edit them, and move them through their pipeline's gated stages.

Every move is checked against the target stage's gate and answers all unmet requirements at once;
the stage history row, the action-pack tasks, the audit row and the outbox event are written in
the same transaction as the move.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.models import (
    Activity,
    Attachment,
    AttachmentParent,
    Contact,
    Customer,
    Lead,
    Opportunity,
    OpportunityStatus,
    PipelineStage,
    StageStay,
    Task,
    User,
)
from app.domain.notifications.events import (
    OpportunityCreated,
    OpportunityLost,
    OpportunityStageChanged,
    OpportunityWon,
)
from app.domain.pipelines.pipelines import (
    LeadWork,
    Move,
    StageEvidence,
    StageKind,
    classify_move,
    task_due_dates,
    unmet_requirements,
)
from app.domain.platform.custom_fields import validate_custom_fields
from app.domain.platform.errors import Conflict, FieldError, InvalidInput, PermissionDenied
from app.domain.sla.sla import SlaKind, TimerState
from app.services.assignment.ownership import resolve_owner
from app.services.customers import customers
from app.services.marketing import campaigns
from app.services.organization.policy import policy_for
from app.services.pipelines import pipelines
from app.services.platform import audit, outbox
from app.services.platform.common import check_version, get_visible, matches, plan_for_these_values
from app.services.platform.list_filters import ANY_TIME, Period, in_teams, text_matches, within
from app.services.platform.pagination import (
    HIGHEST_AMOUNT,
    LOWEST_AMOUNT,
    NO_OPTIONS,
    ListOptions,
    MissingLast,
    Page,
    SortOrder,
    paginate,
)
from app.services.platform.visibility import visible_to
from app.services.scores import customer_health, win_probability
from app.services.sla import sla

AUDITED_FIELDS = (
    "name",
    "customer_id",
    "contact_id",
    "owner_id",
    "amount",
    "currency",
    "expected_close_date",
    "product_lines",
    "description",
    "competitors",
    "decision_process",
    "manual_win_probability",
    "campaign_id",
    "custom_fields",
)
EDITABLE_FIELDS = frozenset(AUDITED_FIELDS) - {"customer_id"}
# Moves that skip ahead or go back are abnormal: they need a reason and a supervisor or above.
ABNORMAL_MOVES = frozenset({Move.skip, Move.backward})
_OVERRIDE_ROLES = frozenset({Role.supervisor, Role.director, Role.admin})
SORTABLE: dict[str, Any] = {
    "created_at": Opportunity.created_at,
    "updated_at": Opportunity.updated_at,
    "win_probability": Opportunity.win_probability,
    "name": Opportunity.name,
    "amount": MissingLast(Opportunity.amount, lowest=LOWEST_AMOUNT, highest=HIGHEST_AMOUNT),
    "expected_close_date": MissingLast(Opportunity.expected_close_date, lowest=date.min, highest=date.max),
}


@dataclass(frozen=True)
class NewOpportunity:
    name: str
    customer_id: uuid.UUID
    pipeline_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    amount: Decimal | None = None
    currency: str = "CNY"
    expected_close_date: date | None = None
    source_lead_id: uuid.UUID | None = None
    product_lines: list[str] = field(default_factory=list)
    description: str | None = None
    competitors: str | None = None
    decision_process: str | None = None
    # Default: the source lead's campaign.
    campaign_id: uuid.UUID | None = None
    # What a person entered, checked against the organization's opportunity custom fields; None
    # for a deal the system opens itself (a lead's conversion), which starts with none.
    custom_fields: dict[str, Any] | None = None


@dataclass(frozen=True)
class StageChange:
    to_stage_id: uuid.UUID
    note: str | None = None
    reason: str | None = None
    attachment_ids: list[uuid.UUID] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)


def _money(amount: Decimal | None) -> Decimal | None:
    """As stored (two decimals), so the answer to a write reads like every later read."""
    return None if amount is None else amount.quantize(Decimal("0.01"))


def opportunity_visibility(actor: Principal) -> Any:
    return visible_to(actor, Opportunity.owner_id)


async def get_opportunity(
    session: AsyncSession, *, actor: Principal, opportunity_id: uuid.UUID, for_update: bool = False
) -> Opportunity:
    return await get_visible(
        session,
        Opportunity,
        opportunity_id,
        actor=actor,
        visible=opportunity_visibility(actor),
        for_update=for_update,
    )


async def _check_contact(session: AsyncSession, customer_id: uuid.UUID, contact_id: uuid.UUID | None) -> None:
    if contact_id is None:
        return
    found = await session.scalar(
        select(Contact.id).where(Contact.id == contact_id, Contact.customer_id == customer_id)
    )
    if found is None:
        raise InvalidInput(
            "The contact is not one of the customer's.",
            code="opportunity.invalid",
            errors=[FieldError("contact_id", "not_found", "not a contact of this customer")],
        )


async def _check_source_lead(
    session: AsyncSession, actor: Principal, lead_id: uuid.UUID | None
) -> uuid.UUID | None:
    """The lead a deal came from is one of the organization's that the actor may see; another
    tenant's (or a hidden) id is refused without saying whether it exists. Answers the lead's
    campaign, which the deal inherits."""
    if lead_id is None:
        return None
    found = await session.execute(
        select(Lead.id, Lead.campaign_id).where(
            Lead.id == lead_id,
            Lead.organization_id == actor.organization_id,
            visible_to(actor, Lead.owner_id),
        )
    )
    row = found.first()
    if row is None:
        raise InvalidInput(
            "The source lead is not one of your leads.",
            code="opportunity.invalid",
            errors=[FieldError("source_lead_id", "not_found", "no such lead among those you can see")],
        )
    campaign_id: uuid.UUID | None = row.campaign_id
    return campaign_id


async def create_opportunity(
    session: AsyncSession, *, actor: Principal, data: NewOpportunity, now: datetime
) -> Opportunity:
    customer = await customers.get_customer(session, actor=actor, customer_id=data.customer_id)
    await _check_contact(session, customer.id, data.contact_id)
    lead_campaign_id = await _check_source_lead(session, actor, data.source_lead_id)
    await campaigns.check_campaign(session, actor, data.campaign_id)
    data = replace(data, campaign_id=data.campaign_id or lead_campaign_id)
    flow = (
        await pipelines.get_pipeline(session, actor=actor, pipeline_id=data.pipeline_id)
        if data.pipeline_id
        else await pipelines.default_pipeline(session, actor=actor)
    )
    first = flow.stages[0]
    custom_fields = (
        {}
        if data.custom_fields is None
        else validate_custom_fields(
            data.custom_fields, list((await policy_for(session, actor)).opportunity_fields)
        )
    )
    owner_id = await resolve_owner(
        session, actor, data.owner_id, default=actor.user_id if actor.user_id else customer.owner_id
    )
    # The customer as resolved: a merged customer's id names its survivor.
    opportunity = _new_opportunity(
        actor, replace(data, customer_id=customer.id, custom_fields=custom_fields), owner_id, first, now
    )
    session.add(opportunity)
    await session.flush()
    session.add(_stay_in(opportunity, first, actor, now))
    await _create_action_tasks(session, actor, opportunity, first, now)
    await _start_stage_clock(session, opportunity, first, now)
    await audit.record_audit(
        session,
        actor=actor,
        action="opportunity.created",
        entity_type="opportunity",
        entity_id=opportunity.id,
        after={**audit.snapshot(opportunity, AUDITED_FIELDS), "stage": first.name},
    )
    outbox.record(
        session,
        organization_id=actor.organization_id,
        event=OpportunityCreated(
            opportunity_id=opportunity.id,
            opportunity_name=opportunity.name,
            stage=first.name,
            owner_id=owner_id,
        ),
    )
    await session.flush()
    return opportunity


def _new_opportunity(
    actor: Principal, data: NewOpportunity, owner_id: uuid.UUID | None, first: PipelineStage, now: datetime
) -> Opportunity:
    return Opportunity(
        organization_id=actor.organization_id,
        name=data.name,
        customer_id=data.customer_id,
        contact_id=data.contact_id,
        owner_id=owner_id,
        pipeline_id=first.pipeline_id,
        stage_id=first.id,
        stage_entered_at=now,
        win_probability=float(first.probability),
        amount=_money(data.amount),
        currency=data.currency,
        expected_close_date=data.expected_close_date,
        source_lead_id=data.source_lead_id,
        campaign_id=data.campaign_id,
        product_lines=list(dict.fromkeys(data.product_lines)),
        description=data.description,
        competitors=data.competitors,
        decision_process=data.decision_process,
        custom_fields=data.custom_fields or {},
    )


def _stay_in(
    opportunity: Opportunity,
    stage: PipelineStage,
    actor: Principal,
    now: datetime,
    *,
    move: Move | None = None,
    reason: str | None = None,
) -> StageStay:
    """The opportunity's open stay in `stage`, from now; a created deal's first has no move."""
    return StageStay(
        organization_id=opportunity.organization_id,
        opportunity_id=opportunity.id,
        pipeline_id=opportunity.pipeline_id,
        stage_id=stage.id,
        move=move,
        is_abnormal=move in ABNORMAL_MOVES,
        reason=reason,
        entered_at=now,
        entered_by_id=actor.user_id,
        amount=opportunity.amount,
    )


async def list_opportunities(
    session: AsyncSession,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    status: Sequence[OpportunityStatus] | None = None,
    owner_id: Sequence[uuid.UUID] | None = None,
    customer_id: Sequence[uuid.UUID] | None = None,
    lead_id: Sequence[uuid.UUID] | None = None,
    pipeline_id: Sequence[uuid.UUID] | None = None,
    stage_id: Sequence[uuid.UUID] | None = None,
    external_id: str | None = None,
    team_id: Sequence[uuid.UUID] | None = None,
    q: str | None = None,
    created: Period = ANY_TIME,
    closed: Period = ANY_TIME,
    sort: str = "-created_at",
    ids: Sequence[uuid.UUID] | None = None,
    options: ListOptions = NO_OPTIONS,
) -> Page[Opportunity]:
    order = SortOrder.parse(sort, SORTABLE)
    statement = select(Opportunity).where(
        Opportunity.organization_id == actor.organization_id, opportunity_visibility(actor)
    )
    for column, value in (
        (Opportunity.id, ids),
        (Opportunity.status, status),
        (Opportunity.owner_id, owner_id),
        (Opportunity.customer_id, customer_id),
        (Opportunity.source_lead_id, lead_id),
        (Opportunity.pipeline_id, pipeline_id),
        (Opportunity.stage_id, stage_id),
        (Opportunity.external_id, external_id),
    ):
        if value is not None:
            statement = statement.where(matches(column, value))
    if team_id is not None:
        statement = statement.where(in_teams(actor, Opportunity.owner_id, team_id))
    statement = statement.where(
        *within(Opportunity.created_at, created), *within(Opportunity.closed_at, closed)
    )
    if q:
        await plan_for_these_values(session)
        statement = statement.where(_named_or_of_a_customer_named(actor, q))
    return await paginate(
        session,
        statement,
        sort_column=SORTABLE[order.name],
        id_column=Opportunity.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )


def _named_or_of_a_customer_named(actor: Principal, q: str) -> ColumnElement[bool]:
    """`q` in the deal's name, or in its customer's name, code or phone."""
    customers = select(Customer.id).where(
        Customer.organization_id == actor.organization_id,
        text_matches(q, [Customer.name, Customer.code], [Customer.phone]),
    )
    return text_matches(q, [Opportunity.name]) | Opportunity.customer_id.in_(customers)


async def engaged_times(
    session: AsyncSession, *, actor: Principal, opportunity_ids: list[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    """Each opportunity's first stage entry (for an import, its engage date), for one page at once."""
    if not opportunity_ids:
        return {}
    rows = await session.execute(
        select(StageStay.opportunity_id, func.min(StageStay.entered_at))
        .where(
            StageStay.organization_id == actor.organization_id,
            StageStay.opportunity_id.in_(opportunity_ids),
        )
        .group_by(StageStay.opportunity_id)
    )
    return dict(rows.all())


async def _checked_fields(
    session: AsyncSession, actor: Principal, opportunity: Opportunity, changes: dict[str, Any]
) -> dict[str, Any]:
    """The changes as they will be stored, once each is known valid."""
    unknown = sorted(set(changes) - EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(
            "Some fields cannot be changed here.",
            code="opportunity.invalid",
            errors=[FieldError(name, "unknown", "not an editable opportunity field") for name in unknown],
        )
    if "contact_id" in changes:
        await _check_contact(session, opportunity.customer_id, changes["contact_id"])
    if "campaign_id" in changes:
        await campaigns.check_campaign(session, actor, changes["campaign_id"])
    if "owner_id" in changes:
        changes = {
            **changes,
            "owner_id": await resolve_owner(session, actor, changes["owner_id"], default=None),
        }
    if "amount" in changes:
        changes = {**changes, "amount": _money(changes["amount"])}
    if "custom_fields" in changes:
        definitions = list((await policy_for(session, actor)).opportunity_fields)
        changes = {**changes, "custom_fields": validate_custom_fields(changes["custom_fields"], definitions)}
    return changes


async def update_opportunity(
    session: AsyncSession,
    *,
    actor: Principal,
    opportunity_id: uuid.UUID,
    changes: dict[str, Any],
    expected_version: int | None,
) -> Opportunity:
    opportunity = await get_opportunity(session, actor=actor, opportunity_id=opportunity_id, for_update=True)
    values = await _checked_fields(session, actor, opportunity, changes)
    check_version(opportunity, expected_version)
    await audit.apply_edit(
        session, actor, opportunity, values, fields=AUDITED_FIELDS, entity_type="opportunity"
    )
    return opportunity


async def _lead_work(session: AsyncSession, opportunity: Opportunity) -> LeadWork:
    """Counted while the deal sits in the stay it was created in (the only stay opened without a
    move); a later stay in the same stage, after a move back, is not that first stay."""
    if opportunity.source_lead_id is None:
        return LeadWork.none
    first_stay = await session.scalar(
        select(StageStay.id).where(
            StageStay.opportunity_id == opportunity.id,
            StageStay.left_at.is_(None),
            StageStay.move.is_(None),
        )
    )
    return LeadWork.counted if first_stay is not None else LeadWork.past


async def _evidence(session: AsyncSession, opportunity: Opportunity, change: StageChange) -> StageEvidence:
    """What was gathered while the opportunity sat in its current stage, plus what the change brings:
    the activities on the deal since it entered the stage (and in its first stage, those on the lead
    it was converted from), the files on the deal uploaded since then and on those activities, and
    the files sent with the change."""
    lead_work = await _lead_work(session, opportunity)
    in_stage = and_(
        Activity.opportunity_id == opportunity.id, Activity.occurred_at >= opportunity.stage_entered_at
    )
    if lead_work is LeadWork.counted:
        in_stage = or_(in_stage, Activity.lead_id == opportunity.source_lead_id)
    activities = (
        await session.scalars(
            select(Activity).where(Activity.organization_id == opportunity.organization_id, in_stage)
        )
    ).all()
    notes = [len(a.notes or "") for a in activities] + [len(change.note or "")]
    info_points = frozenset(point for a in activities for point in a.info_points)
    await _check_sent_attachments(session, opportunity, change.attachment_ids)
    # An activity's attachment_ids holds the files uploaded onto it and those named when it was recorded.
    named = {uuid.UUID(i) for a in activities for i in a.attachment_ids} | set(change.attachment_ids)
    attachment_count = await session.scalar(
        select(func.count(Attachment.id)).where(
            Attachment.organization_id == opportunity.organization_id,
            or_(
                Attachment.id.in_(named),
                and_(
                    Attachment.parent_type == AttachmentParent.opportunity,
                    Attachment.parent_id == opportunity.id,
                    Attachment.created_at >= opportunity.stage_entered_at,
                ),
            ),
        )
    )
    return StageEvidence(
        activity_types=tuple(a.type for a in activities),
        info_points=info_points,
        longest_note_chars=max(notes),
        attachment_count=attachment_count or 0,
        lead_work=lead_work,
    )


async def _check_sent_attachments(
    session: AsyncSession, opportunity: Opportunity, ids: list[uuid.UUID]
) -> None:
    """The files sent with a move must be the deal's: filed on it, on one of its activities or on
    its customer. Another deal's or customer's file is refused rather than silently ignored."""
    if not ids:
        return
    found = set(
        await session.scalars(
            select(Attachment.id).where(
                Attachment.organization_id == opportunity.organization_id,
                Attachment.id.in_(ids),
                or_(
                    and_(
                        Attachment.parent_type == AttachmentParent.customer,
                        Attachment.parent_id == opportunity.customer_id,
                    ),
                    and_(
                        Attachment.parent_type == AttachmentParent.opportunity,
                        Attachment.parent_id == opportunity.id,
                    ),
                    and_(
                        Attachment.parent_type == AttachmentParent.activity,
                        Attachment.parent_id.in_(
                            select(Activity.id).where(Activity.opportunity_id == opportunity.id)
                        ),
                    ),
                ),
            )
        )
    )
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidInput(
            "Some attachments are not filed on this opportunity, its activities or its customer.",
            code="attachment.not_found",
            errors=[FieldError("attachment_ids", "attachment.not_found", str(i)) for i in missing],
        )


async def change_stage(
    session: AsyncSession, *, actor: Principal, opportunity_id: uuid.UUID, change: StageChange, now: datetime
) -> Opportunity:
    """Moves an open opportunity to another stage of its pipeline, if the target's gate is met."""
    opportunity = await get_opportunity(session, actor=actor, opportunity_id=opportunity_id, for_update=True)
    if opportunity.status is not OpportunityStatus.open:
        raise Conflict(
            f"The opportunity is {opportunity.status.value}; reopen it first.", code="opportunity.closed"
        )
    stages = await pipelines.active_stages(session, opportunity.pipeline_id)
    positions = {stage.id: index for index, stage in enumerate(stages)}
    if change.to_stage_id not in positions:
        raise InvalidInput(
            "The target stage is not in the opportunity's pipeline.",
            code="opportunity.stage_invalid",
            errors=[FieldError("to_stage_id", "not_found", "not a stage of this pipeline")],
        )
    if change.to_stage_id == opportunity.stage_id:
        raise Conflict("The opportunity is already in this stage.", code="opportunity.same_stage")
    current = await session.get_one(PipelineStage, opportunity.stage_id)
    target = stages[positions[change.to_stage_id]]
    specs = [pipelines.stage_spec(stage) for stage in stages]
    from_index = positions.get(current.id)
    move = classify_move(specs, from_index, positions[target.id]) if from_index is not None else Move.skip
    if move in ABNORMAL_MOVES:
        _check_override(actor, change, move)
    before = {**audit.snapshot(opportunity, AUDITED_FIELDS), "stage": current.name}
    if change.fields:
        for name, value in (await _checked_fields(session, actor, opportunity, dict(change.fields))).items():
            setattr(opportunity, name, value)
    if move is not Move.backward:
        evidence = await _evidence(session, opportunity, change)
        fields = {name: getattr(opportunity, name) for name in AUDITED_FIELDS}
        unmet = unmet_requirements(specs[positions[target.id]], fields, evidence)
        if unmet:
            raise InvalidInput(
                f"The gate of {target.name!r} is not met: {len(unmet)} requirement(s) missing.",
                code="opportunity.gate_unmet",
                errors=[FieldError(u.field, u.code, u.message) for u in unmet],
            )
    await _move(session, actor, opportunity, target, move=move, reason=change.reason, now=now)
    await audit.record_audit(
        session,
        actor=actor,
        action="opportunity.stage_changed",
        entity_type="opportunity",
        entity_id=opportunity.id,
        before=before,
        after={**audit.snapshot(opportunity, AUDITED_FIELDS), "stage": target.name, "move": move.value},
    )
    return opportunity


def _check_override(actor: Principal, change: StageChange, move: Move) -> None:
    if actor.role not in _OVERRIDE_ROLES:
        raise PermissionDenied(
            f"A {move.value} move needs a supervisor or above.", code="opportunity.move_not_allowed"
        )
    if not (change.reason and change.reason.strip()):
        raise InvalidInput(
            f"A {move.value} move needs a reason.",
            code="opportunity.reason_required",
            errors=[FieldError("reason", "missing", f"say why the opportunity {move.value}s")],
        )


async def _move(
    session: AsyncSession,
    actor: Principal,
    opportunity: Opportunity,
    target: PipelineStage,
    *,
    move: Move,
    reason: str | None,
    now: datetime,
) -> None:
    """Closes the current stay and opens the next; the partial unique index refuses a second open
    stay, so of two moves racing from the same stage only one commits."""
    stay = await session.scalar(
        select(StageStay).where(StageStay.opportunity_id == opportunity.id, StageStay.left_at.is_(None))
    )
    if stay is not None:
        stay.left_at = now
        stay.dwell_seconds = max(int((now - stay.entered_at).total_seconds()), 0)
    session.add(_stay_in(opportunity, target, actor, now, move=move, reason=reason))
    previous_stage_id = opportunity.stage_id
    _enter(opportunity, target, now)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "The opportunity was moved at the same time; reload it.", code="opportunity.moved"
        ) from exc
    await sla.stop_timers(
        session,
        organization_id=opportunity.organization_id,
        kind=SlaKind.stage_dwell,
        subject_id=opportunity.id,
        outcome=TimerState.met,
        now=now,
    )
    if target.kind is StageKind.open:
        await _create_action_tasks(session, actor, opportunity, target, now)
        await _start_stage_clock(session, opportunity, target, now)
    await win_probability.refresh_deal(session, opportunity, now)
    await _announce_move(session, opportunity, previous_stage_id, target, move, now)
    if target.kind is StageKind.won:
        # The won amount is one of the customer's health factors.
        await session.flush()
        await customer_health.refresh_customers(
            session,
            organization_id=opportunity.organization_id,
            customer_ids=[opportunity.customer_id],
            now=now,
        )


def _enter(opportunity: Opportunity, target: PipelineStage, now: datetime) -> None:
    """The stage, and the status its kind gives: a won or lost stage closes the deal, an open one
    reopens it."""
    opportunity.stage_id = target.id
    opportunity.stage_entered_at = now
    if target.kind is StageKind.won:
        opportunity.status, opportunity.closed_at = OpportunityStatus.won, now
    elif target.kind is StageKind.lost:
        opportunity.status, opportunity.closed_at = OpportunityStatus.lost, now
    else:
        opportunity.status, opportunity.closed_at, opportunity.lose_reason = (
            OpportunityStatus.open,
            None,
            None,
        )


async def _announce_move(
    session: AsyncSession,
    opportunity: Opportunity,
    previous_stage_id: uuid.UUID,
    target: PipelineStage,
    move: Move,
    now: datetime,
) -> None:
    changed = OpportunityStageChanged(
        opportunity_id=opportunity.id,
        opportunity_name=opportunity.name,
        from_stage_id=previous_stage_id,
        to_stage_id=target.id,
        stage=target.name,
        move=move,
        abnormal=move in ABNORMAL_MOVES,
    )
    outbox.record(session, organization_id=opportunity.organization_id, event=changed)
    closed = {StageKind.won: OpportunityWon, StageKind.lost: OpportunityLost}.get(target.kind)
    if closed is not None:
        customer = await session.get_one(Customer, opportunity.customer_id)
        owner = await session.get(User, opportunity.owner_id) if opportunity.owner_id else None
        outbox.record(
            session,
            organization_id=opportunity.organization_id,
            event=closed.of(
                changed,
                amount=opportunity.amount,
                currency=opportunity.currency,
                customer_id=customer.id,
                customer_name=customer.name,
                owner_id=opportunity.owner_id,
                owner_name=owner.display_name if owner else "",
                closed_at=now,
            ),
        )


async def _start_stage_clock(
    session: AsyncSession, opportunity: Opportunity, stage: PipelineStage, now: datetime
) -> None:
    """Stage-dwell policies time the stay; a policy without a target uses the stage's maximum."""
    await sla.start_timers(
        session,
        organization_id=opportunity.organization_id,
        kind=SlaKind.stage_dwell,
        subject_type="opportunity",
        subject_id=opportunity.id,
        owner_id=opportunity.owner_id,
        fields={"stage_id": str(stage.id)},
        now=now,
        default_target_minutes=stage.max_dwell_hours * 60 if stage.max_dwell_hours else None,
    )


async def _create_action_tasks(
    session: AsyncSession, actor: Principal, opportunity: Opportunity, stage: PipelineStage, now: datetime
) -> None:
    """The stage's standard action pack, due in business time from entering the stage."""
    spec = pipelines.stage_spec(stage)
    if not spec.actions:
        return
    policy = await policy_for(session, Principal.system(opportunity.organization_id))
    for action, due_at in task_due_dates(spec, now, policy.business_calendar):
        session.add(
            Task(
                organization_id=opportunity.organization_id,
                title=action.title,
                assignee_id=opportunity.owner_id,
                due_at=due_at,
                opportunity_id=opportunity.id,
                customer_id=opportunity.customer_id,
                stage_id=stage.id,
            )
        )
    await session.flush()


async def close_opportunity(
    session: AsyncSession,
    *,
    actor: Principal,
    opportunity_id: uuid.UUID,
    won: bool,
    note: str | None,
    lose_reason: str | None,
    fields: dict[str, Any],
    attachment_ids: list[uuid.UUID],
    now: datetime,
) -> Opportunity:
    """Win (through the won stage's gate) or lose (with a reason) an open opportunity."""
    opportunity = await get_opportunity(session, actor=actor, opportunity_id=opportunity_id)
    flow = await pipelines.get_pipeline(session, actor=actor, pipeline_id=opportunity.pipeline_id)
    kind = StageKind.won if won else StageKind.lost
    target = next(stage for stage in flow.stages if stage.kind is kind)
    if not won:
        reason = (lose_reason or "").strip()
        allowed = flow.pipeline.lose_reasons
        if not reason or (allowed and reason not in allowed):
            raise InvalidInput(
                "Say why the opportunity was lost.",
                code="opportunity.lose_reason_required",
                errors=[
                    FieldError(
                        "reason",
                        "invalid",
                        f"one of: {', '.join(allowed)}" if allowed else "a reason is required",
                    )
                ],
            )
    if not won:
        # The reason is part of the explanation a lost stage's notes gate asks for.
        note = " ".join(filter(None, (lose_reason, note)))
    closed = await change_stage(
        session,
        actor=actor,
        opportunity_id=opportunity_id,
        change=StageChange(to_stage_id=target.id, note=note, attachment_ids=attachment_ids, fields=fields),
        now=now,
    )
    if not won:
        closed.lose_reason = lose_reason
        await session.flush()
    return closed


async def reopen_opportunity(
    session: AsyncSession, *, actor: Principal, opportunity_id: uuid.UUID, reason: str, now: datetime
) -> Opportunity:
    """A won or lost opportunity goes back to the last open stage it was in."""
    opportunity = await get_opportunity(session, actor=actor, opportunity_id=opportunity_id, for_update=True)
    if opportunity.status is OpportunityStatus.open:
        raise Conflict("The opportunity is open.", code="opportunity.open")
    last_open = await session.scalar(
        select(PipelineStage)
        .join(StageStay, StageStay.stage_id == PipelineStage.id)
        .where(
            StageStay.opportunity_id == opportunity.id,
            PipelineStage.kind == StageKind.open,
            PipelineStage.archived_at.is_(None),
        )
        .order_by(StageStay.entered_at.desc())
        .limit(1)
    )
    if last_open is None:
        last_open = (await pipelines.active_stages(session, opportunity.pipeline_id))[0]
    before = {"status": opportunity.status.value, "lose_reason": opportunity.lose_reason}
    await _move(session, actor, opportunity, last_open, move=Move.backward, reason=reason, now=now)
    await audit.record_audit(
        session,
        actor=actor,
        action="opportunity.reopened",
        entity_type="opportunity",
        entity_id=opportunity.id,
        before=before,
        after={"status": opportunity.status.value, "stage": last_open.name},
    )
    return opportunity


async def stage_history(
    session: AsyncSession, *, actor: Principal, opportunity_id: uuid.UUID
) -> list[StageStay]:
    opportunity = await get_opportunity(session, actor=actor, opportunity_id=opportunity_id)
    rows = await session.scalars(
        select(StageStay)
        .where(StageStay.opportunity_id == opportunity.id)
        .order_by(StageStay.entered_at, StageStay.id)
    )
    return list(rows)
