"""Opportunity import: rows of another system's export, mapped by a mapping file, become
opportunities with their historical stage, dates and outcome, so KPIs and scores see the history.

Stage gates do not apply: an import records what happened, it does not ask for permission. A
closed deal gets two stays — its first stage from the engage date to the close date, then the won
or lost stage — because the source says no more about the stages in between.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.principal import Principal
from app.domain.imports.opportunity_import import OpportunityMapping, OpportunityRow, parse_mapping, parse_row
from app.domain.models import (
    AuditEvent,
    Customer,
    ImportJob,
    Opportunity,
    OpportunityStatus,
    Pipeline,
    PipelineStage,
    Product,
    StageStay,
    User,
)
from app.domain.organization.policy import OrganizationPolicy
from app.domain.pipelines.pipelines import Move, StageKind
from app.domain.platform.custom_fields import FieldDefinition, from_cells, validate_custom_fields
from app.domain.platform.dedup import normalise_company
from app.domain.platform.errors import FieldError, InvalidInput
from app.services.customers import customers
from app.services.imports.import_rows import (
    ChunkOutcome,
    ParsedChunk,
    among,
    audit_rows,
    insert_rows,
    random_ids,
)
from app.services.pipelines import pipelines
from app.services.pipelines.pipelines import PipelineWithStages

_STATUS_BY_KIND = {
    StageKind.open: OpportunityStatus.open,
    StageKind.won: OpportunityStatus.won,
    StageKind.lost: OpportunityStatus.lost,
}


def parse_opportunities(
    rows: list[tuple[int, dict[str, Any]]], options: dict[str, Any]
) -> ParsedChunk[OpportunityRow]:
    mapping = parse_mapping(options)
    parsed = ParsedChunk[OpportunityRow](last_row=rows[-1][0])
    for number, raw in rows:
        row, errors, warnings = parse_row(raw, mapping)
        if warnings:
            parsed.warnings[number] = warnings
        if row is None:
            parsed.errors.extend((number, error) for error in errors)
        else:
            parsed.valid.append((number, raw, row))
    return parsed


def _instant(day: date | None, timezone: str, fallback: datetime) -> datetime:
    """A source date as the start of that day in the mapping's (or organization's) time zone."""
    return datetime.combine(day, time(0), ZoneInfo(timezone)) if day else fallback


async def _pipeline(
    session: AsyncSession, actor: Principal, mapping: OpportunityMapping
) -> PipelineWithStages:
    if mapping.pipeline is None:
        return await pipelines.default_pipeline(session, actor=actor)
    found = await session.scalar(
        select(Pipeline).where(
            Pipeline.organization_id == actor.organization_id, Pipeline.name == mapping.pipeline
        )
    )
    if found is None:
        return await pipelines.default_pipeline(session, actor=actor)
    return PipelineWithStages(found, await pipelines.active_stages(session, found.id))


async def _customer_ids(
    session: AsyncSession, actor: Principal, mapping: OpportunityMapping, names: set[str]
) -> dict[str, uuid.UUID]:
    """Customer id by name key; the mapping's placeholder customer is created when first needed."""
    keys = {normalise_company(name) for name in names}
    found: dict[str, uuid.UUID] = dict(
        (
            await session.execute(
                select(Customer.name_key, Customer.id).where(
                    Customer.organization_id == actor.organization_id,
                    Customer.merged_into_id.is_(None),  # a merged customer's deals go to its survivor
                    among(session, Customer.name_key, keys),
                )
            )
        ).all()
    )
    placeholder = mapping.missing_customer
    if placeholder is not None and normalise_company(placeholder) not in found and placeholder in names:
        created = await customers.create_customer(
            session, actor=actor, data=customers.NewCustomer(name=placeholder)
        )
        found[created.name_key] = created.id
    return found


@dataclass
class _References:
    """What a chunk's rows name, looked up once for the whole chunk."""

    flow: PipelineWithStages
    stages: dict[str, PipelineStage]
    user_ids: dict[str, uuid.UUID]
    products: dict[str, Product]
    customer_ids: dict[str, uuid.UUID]
    # Where each external id was first seen: an existing opportunity, or an earlier row.
    seen: dict[str, str]


@dataclass(frozen=True)
class _Accepted:
    number: int  # the row's line in the file
    row: OpportunityRow
    stage: PipelineStage
    owner_id: uuid.UUID
    customer_id: uuid.UUID
    product: Product | None
    custom_fields: dict[str, Any]


async def write_opportunities(
    session: AsyncSession,
    actor: Principal,
    job: ImportJob,
    parsed: ParsedChunk[OpportunityRow],
    policy: OrganizationPolicy,
    now: datetime,
) -> ChunkOutcome:
    outcome = ChunkOutcome.of(job, parsed)
    if not parsed.valid:
        return outcome
    mapping = parse_mapping(job.column_mapping)
    references = await _resolve_references(session, actor, mapping, parsed)
    accepted = _accept_rows(job, parsed, references, outcome, list(policy.opportunity_fields))
    # A close on 3/1/2017 is that day where the source was kept, not the day before in UTC.
    timezone = mapping.timezone or policy.working_hours.timezone
    opportunity_rows: list[dict[str, Any]] = []
    stay_rows: list[dict[str, Any]] = []
    for opportunity_id, deal in zip(random_ids(len(accepted)), accepted, strict=True):
        engaged_at = _instant(deal.row.engaged_on, timezone, now)
        is_closed = deal.stage.kind is not StageKind.open
        closed_at = _instant(deal.row.closed_on, timezone, now) if is_closed else None
        opportunity_rows.append(
            _opportunity_values(
                actor, mapping, references.flow, deal, opportunity_id, now, engaged_at, closed_at
            )
        )
        stay_rows.extend(_stays(actor, mapping, references.flow, deal, opportunity_id, engaged_at, closed_at))
    if opportunity_rows:
        await insert_rows(session, Opportunity, opportunity_rows)
        await insert_rows(session, StageStay, stay_rows)
        await insert_rows(
            session,
            AuditEvent,
            audit_rows(actor, "opportunity", [r["id"] for r in opportunity_rows], job, now),
        )
    outcome.record_created(job, parsed, [deal.number for deal in accepted])
    return outcome


async def _resolve_references(
    session: AsyncSession, actor: Principal, mapping: OpportunityMapping, parsed: ParsedChunk[OpportunityRow]
) -> _References:
    flow = await _pipeline(session, actor, mapping)
    user_ids = {
        name.casefold(): user_id
        for user_id, name in await session.execute(
            select(User.id, User.display_name).where(User.organization_id == actor.organization_id)
        )
    }
    products = {
        product.name.casefold(): product
        for product in await session.scalars(
            select(Product).where(Product.organization_id == actor.organization_id)
        )
    }
    customer_ids = await _customer_ids(session, actor, mapping, {row.customer for _, _, row in parsed.valid})
    external_ids = {row.external_id for _, _, row in parsed.valid if row.external_id}
    existing = await session.scalars(
        select(Opportunity.external_id).where(
            Opportunity.organization_id == actor.organization_id,
            among(session, Opportunity.external_id, external_ids),
        )
    )
    return _References(
        flow=flow,
        stages={stage.name: stage for stage in flow.stages},
        user_ids=user_ids,
        products=products,
        customer_ids=customer_ids,
        seen={external_id: "an existing opportunity" for external_id in existing if external_id},
    )


def _accept_rows(
    job: ImportJob,
    parsed: ParsedChunk[OpportunityRow],
    references: _References,
    outcome: ChunkOutcome,
    custom_fields: list[FieldDefinition],
) -> list[_Accepted]:
    """The rows whose references all resolve and whose external id is new; the others' errors go
    to the outcome."""
    accepted = []
    for number, _, row in parsed.valid:
        deal, errors = _resolve_row(number, row, references, custom_fields)
        if row.external_id and row.external_id in references.seen:
            outcome.duplicates += 1
            errors.append(
                FieldError("external_id", "duplicate", f"duplicate of {references.seen[row.external_id]}")
            )
        if errors or deal is None:
            for error in errors:
                outcome.fail(job, number, error)
            continue
        if row.external_id:
            references.seen[row.external_id] = f"row {number}"
        accepted.append(deal)
    return accepted


def _resolve_row(
    number: int, row: OpportunityRow, references: _References, definitions: list[FieldDefinition]
) -> tuple[_Accepted | None, list[FieldError]]:
    errors = []
    custom_fields: dict[str, Any] = {}
    try:
        custom_fields = validate_custom_fields(from_cells(row.custom_fields, definitions), definitions)
    except InvalidInput as invalid:
        errors.extend(invalid.errors)
    stage = references.stages.get(row.stage)
    if stage is None:
        errors.append(
            FieldError(
                "stage", "stage.unknown", f"{references.flow.pipeline.name} has no stage {row.stage!r}"
            )
        )
    owner_id = references.user_ids.get(row.owner.casefold())
    if owner_id is None:
        errors.append(FieldError("owner", "user.unknown", f"no user is named {row.owner!r}"))
    customer_id = references.customer_ids.get(normalise_company(row.customer))
    if customer_id is None:
        errors.append(FieldError("customer", "customer.unknown", f"no customer is named {row.customer!r}"))
    product = references.products.get(row.product.casefold()) if row.product else None
    if row.product and product is None:
        errors.append(FieldError("product", "product.unknown", f"no product is named {row.product!r}"))
    if stage is None or owner_id is None or customer_id is None or errors:
        return None, errors
    return _Accepted(number, row, stage, owner_id, customer_id, product, custom_fields), errors


def _opportunity_values(
    actor: Principal,
    mapping: OpportunityMapping,
    flow: PipelineWithStages,
    deal: _Accepted,
    opportunity_id: uuid.UUID,
    now: datetime,
    engaged_at: datetime,
    closed_at: datetime | None,
) -> dict[str, Any]:
    row, product = deal.row, deal.product
    return {
        "id": opportunity_id,
        "organization_id": actor.organization_id,
        "created_at": now,
        "updated_at": now,
        "version": 1,
        "name": row.name,
        "external_id": row.external_id,
        "customer_id": deal.customer_id,
        "contact_id": None,
        "owner_id": deal.owner_id,
        "pipeline_id": flow.pipeline.id,
        "stage_id": deal.stage.id,
        "stage_entered_at": closed_at or engaged_at,
        "status": _STATUS_BY_KIND[deal.stage.kind],
        "amount": row.amount,
        "currency": mapping.currency,
        "expected_close_date": row.expected_close_date,
        "source_lead_id": None,
        "product_lines": [product.product_line or product.name] if product else [],
        "description": f"imported: {row.source_stage}" + (f", {product.name}" if product else ""),
        "competitors": None,
        "decision_process": None,
        "closed_at": closed_at,
        "lose_reason": None,
        # The stage's probability until a model scores it (won 100, lost 0).
        "win_probability": float(deal.stage.probability),
        "manual_win_probability": None,
        "custom_fields": deal.custom_fields,
    }


def _stays(
    actor: Principal,
    mapping: OpportunityMapping,
    flow: PipelineWithStages,
    deal: _Accepted,
    opportunity_id: uuid.UUID,
    engaged_at: datetime,
    closed_at: datetime | None,
) -> list[dict[str, Any]]:
    """An open deal stays in its stage since it engaged; a closed one in the first stage until it
    closed, then in its won or lost stage. A closed deal's amount is known from its close only,
    unless the mapping says the source's amount was known all along: exports often give the close
    value (Maven's is 0 on every lost deal), which no one knew before."""
    amount = deal.row.amount
    if closed_at is None:
        return [_stay(actor, opportunity_id, flow, deal.stage.id, None, engaged_at, None, amount)]
    before_close = amount if mapping.amount_known_before_close else None
    return [
        _stay(actor, opportunity_id, flow, flow.stages[0].id, None, engaged_at, closed_at, before_close),
        _stay(actor, opportunity_id, flow, deal.stage.id, Move.close, closed_at, None, amount),
    ]


def _stay(
    actor: Principal,
    opportunity_id: uuid.UUID,
    flow: PipelineWithStages,
    stage_id: uuid.UUID,
    move: Move | None,
    entered_at: datetime,
    left_at: datetime | None,
    amount: Decimal | None,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "organization_id": actor.organization_id,
        "opportunity_id": opportunity_id,
        "pipeline_id": flow.pipeline.id,
        "stage_id": stage_id,
        "move": move,
        "is_abnormal": False,
        "reason": "imported",
        "entered_at": entered_at,
        "entered_by_id": None,
        "left_at": left_at,
        "dwell_seconds": max(int((left_at - entered_at).total_seconds()), 0) if left_at else None,
        "amount": amount,
    }
