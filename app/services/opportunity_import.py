"""Opportunity import: rows of another system's export, mapped by a mapping file, become
opportunities with their historical stage, dates and outcome, so KPIs and scores see the history.

Stage gates do not apply: an import records what happened, it does not ask for permission. A
closed deal gets two stays — its first stage from the engage date to the close date, then the won
or lost stage — because the source says no more about the stages in between.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.dedup import normalise_company
from app.domain.errors import FieldError
from app.domain.models import (
    AuditEvent,
    Customer,
    ImportJob,
    Opportunity,
    OpportunityStatus,
    Pipeline,
    Product,
    StageStay,
    User,
)
from app.domain.opportunity_import import OpportunityMapping, OpportunityRow, parse_mapping, parse_row
from app.domain.pipelines import Move, StageKind
from app.domain.policy import OrganizationPolicy
from app.domain.principal import Principal
from app.services import customers, pipelines
from app.services.import_rows import ChunkOutcome, ParsedChunk, among, audit_rows, insert_rows, random_ids
from app.services.pipelines import PipelineWithStages

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
                    Customer.organization_id == actor.organization_id, among(session, Customer.name_key, keys)
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
    flow = await _pipeline(session, actor, mapping)
    stages = {stage.name: stage for stage in flow.stages}
    first_stage = flow.stages[0]
    users = {
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
    seen: dict[str, str] = {
        external_id: "an existing opportunity"
        for external_id in await session.scalars(
            select(Opportunity.external_id).where(
                Opportunity.organization_id == actor.organization_id,
                among(session, Opportunity.external_id, external_ids),
            )
        )
        if external_id
    }

    accepted: list[tuple[int, OpportunityRow, uuid.UUID, uuid.UUID, Product | None]] = []
    for number, _, row in parsed.valid:
        errors = []
        stage = stages.get(row.stage)
        if stage is None:
            errors.append(
                FieldError("stage", "stage.unknown", f"{flow.pipeline.name} has no stage {row.stage!r}")
            )
        owner_id = users.get(row.owner.casefold())
        if owner_id is None:
            errors.append(FieldError("owner", "user.unknown", f"no user is named {row.owner!r}"))
        customer_id = customer_ids.get(normalise_company(row.customer))
        if customer_id is None:
            errors.append(
                FieldError("customer", "customer.unknown", f"no customer is named {row.customer!r}")
            )
        product = products.get(row.product.casefold()) if row.product else None
        if row.product and product is None:
            errors.append(FieldError("product", "product.unknown", f"no product is named {row.product!r}"))
        if row.external_id and row.external_id in seen:
            outcome.duplicates += 1
            errors.append(FieldError("external_id", "duplicate", f"duplicate of {seen[row.external_id]}"))
        if errors or owner_id is None or customer_id is None:
            for error in errors:
                outcome.fail(job, number, error)
            continue
        if row.external_id:
            seen[row.external_id] = f"row {number}"
        accepted.append((number, row, owner_id, customer_id, product))

    opportunity_rows: list[dict[str, Any]] = []
    stay_rows: list[dict[str, Any]] = []
    # A close on 3/1/2017 is that day where the source was kept, not the day before in UTC.
    timezone = mapping.timezone or policy.working_hours.timezone
    ids = random_ids(len(accepted))
    for index, (_, row, owner_id, customer_id, product) in enumerate(accepted):
        opportunity_id = ids[index]
        stage = stages[row.stage]
        engaged_at = _instant(row.engaged_on, timezone, now)
        closed_at = _instant(row.closed_on, timezone, now) if stage.kind is not StageKind.open else None
        opportunity_rows.append(
            {
                "id": opportunity_id,
                "organization_id": actor.organization_id,
                "created_at": now,
                "updated_at": now,
                "version": 1,
                "name": row.name,
                "external_id": row.external_id,
                "customer_id": customer_id,
                "contact_id": None,
                "owner_id": owner_id,
                "pipeline_id": flow.pipeline.id,
                "stage_id": stage.id,
                "stage_entered_at": closed_at or engaged_at,
                "status": _STATUS_BY_KIND[stage.kind],
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
            }
        )
        first = first_stage if closed_at is not None else stage
        stay_rows.append(_stay(actor, opportunity_id, flow, first.id, None, engaged_at, closed_at))
        if closed_at is not None:
            stay_rows.append(_stay(actor, opportunity_id, flow, stage.id, Move.close, closed_at, None))
    if opportunity_rows:
        await insert_rows(session, Opportunity, opportunity_rows)
        await insert_rows(session, StageStay, stay_rows)
        await insert_rows(
            session,
            AuditEvent,
            audit_rows(actor, "opportunity", [r["id"] for r in opportunity_rows], job, now),
        )
    outcome.record_created(job, parsed, [number for number, *_ in accepted])
    return outcome


def _stay(
    actor: Principal,
    opportunity_id: uuid.UUID,
    flow: PipelineWithStages,
    stage_id: uuid.UUID,
    move: Move | None,
    entered_at: datetime,
    left_at: datetime | None,
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
    }
