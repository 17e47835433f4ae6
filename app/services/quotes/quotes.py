"""Products and quotes: the price list, and the prices reps offer, every change of which is audited.

A quote line's unit price is compared with the prices other reps quoted the same customer for the
same product recently; beyond the organization's limit the quote carries `price_alerts` and a
`quote.price_spread` event goes to the rep's supervisors.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.activities.activities import ActivityType
from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.models import AuditEvent, Customer, Opportunity, Product, Quote, QuoteLine, User
from app.domain.notifications.events import QuotePriceSpread
from app.domain.platform.errors import Conflict, FieldError, InvalidInput, PermissionDenied
from app.domain.quotes.quote_approval import may_approve
from app.domain.quotes.quotes import (
    UNIT_PRICE,
    LineInput,
    PeerPrice,
    PricedLine,
    QuoteStatus,
    check_editable,
    check_transition,
    price_lines,
    price_spread_alerts,
)
from app.services.activities import activities
from app.services.assignment.ownership import supervisors_of
from app.services.organization.policy import policy_for
from app.services.pipelines import opportunities
from app.services.platform import audit, outbox
from app.services.platform.common import check_version, get_visible, matches, plan_for_these_values
from app.services.platform.list_filters import ANY_TIME, Period, in_teams, text_matches, within
from app.services.platform.pagination import NO_OPTIONS, ListOptions, Page, SortOrder, paginate
from app.services.quotes import quote_approval

PRODUCT_FIELDS = ("sku", "name", "product_line", "unit", "list_price", "floor_price", "currency", "is_active")
# Quotes to the same customer within this window are the peers a new price is compared with.
PEER_WINDOW = timedelta(days=180)


@dataclass(frozen=True)
class NewProduct:
    sku: str
    name: str
    list_price: Decimal
    floor_price: Decimal | None = None
    product_line: str | None = None
    unit: str | None = None
    currency: str = "CNY"
    is_active: bool = True


@dataclass(frozen=True)
class RequestedLine:
    product_id: uuid.UUID
    unit_price: Decimal
    quantity: Decimal


def _stored_prices(values: dict[str, Any]) -> dict[str, Any]:
    """Prices as stored (four decimals), so the answer to a write reads like every later read."""
    return {
        name: value.quantize(UNIT_PRICE)
        if name in ("list_price", "floor_price") and value is not None
        else value
        for name, value in values.items()
    }


async def create_product(session: AsyncSession, *, actor: Principal, data: NewProduct) -> Product:
    product = Product(organization_id=actor.organization_id, **_stored_prices(data.__dict__))
    try:
        async with session.begin_nested():
            session.add(product)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"A product with SKU {data.sku!r} exists.",
            code="product.sku_taken",
            errors=[FieldError("sku", "unique", "already in use")],
        ) from exc
    await audit.record_audit(
        session,
        actor=actor,
        action="product.created",
        entity_type="product",
        entity_id=product.id,
        after=audit.snapshot(product, PRODUCT_FIELDS),
    )
    return product


async def get_product(session: AsyncSession, *, actor: Principal, product_id: uuid.UUID) -> Product:
    return await get_visible(session, Product, product_id, actor=actor)


# Sorted by updated_at (ties by id), a list pages through records in the order they last changed.
_PRODUCT_SORTABLE = {"created_at": Product.created_at, "updated_at": Product.updated_at}


async def list_products(
    session: AsyncSession,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    active: bool | None = None,
    options: ListOptions = NO_OPTIONS,
    sort: str = "created_at",
) -> Page[Product]:
    order = SortOrder.parse(sort, _PRODUCT_SORTABLE)
    statement = select(Product).where(Product.organization_id == actor.organization_id)
    if active is not None:
        statement = statement.where(Product.is_active.is_(active))
    return await paginate(
        session,
        statement,
        sort_column=_PRODUCT_SORTABLE[order.name],
        id_column=Product.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )


async def update_product(
    session: AsyncSession,
    *,
    actor: Principal,
    product_id: uuid.UUID,
    changes: dict[str, Any],
    expected_version: int | None,
) -> Product:
    product = await get_visible(session, Product, product_id, actor=actor, for_update=True)
    check_version(product, expected_version)
    before = audit.snapshot(product, PRODUCT_FIELDS)
    for name, value in _stored_prices(changes).items():
        setattr(product, name, value)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"A product with SKU {changes.get('sku')!r} exists.",
            code="product.sku_taken",
            errors=[FieldError("sku", "unique", "already in use")],
        ) from exc
    await audit.record_edit(session, actor, product, before, entity_type="product")
    return product


async def _priced(
    session: AsyncSession, actor: Principal, requested: list[RequestedLine]
) -> tuple[list[PricedLine], Any]:
    ids = {line.product_id for line in requested}
    products = {
        p.id: p
        for p in await session.scalars(
            select(Product).where(Product.organization_id == actor.organization_id, Product.id.in_(ids))
        )
    }
    errors = [
        FieldError(f"lines[{index}].product_id", "not_found", "no such product")
        for index, line in enumerate(requested)
        if line.product_id not in products
    ] + [
        FieldError(f"lines[{index}].product_id", "inactive", "the product is no longer sold")
        for index, line in enumerate(requested)
        if line.product_id in products and not products[line.product_id].is_active
    ]
    if errors:
        raise InvalidInput("Some quote lines name unknown products.", code="quote.invalid", errors=errors)
    return price_lines(
        [
            LineInput(
                product_id=line.product_id,
                list_price=products[line.product_id].list_price,
                unit_price=line.unit_price,
                quantity=line.quantity,
            )
            for line in requested
        ]
    )


def _line_prices(lines: list[QuoteLine] | list[PricedLine]) -> list[dict[str, str]]:
    return [
        {
            "product_id": str(line.product_id),
            "unit_price": str(line.unit_price),
            "quantity": str(line.quantity),
        }
        for line in lines
    ]


async def _peer_prices(
    session: AsyncSession, quote: Quote, product_ids: set[uuid.UUID], now: datetime
) -> dict[uuid.UUID, list[PeerPrice]]:
    rows = await session.execute(
        select(QuoteLine.product_id, Quote.id, Quote.owner_id, QuoteLine.unit_price)
        .join(Quote, Quote.id == QuoteLine.quote_id)
        .where(
            Quote.organization_id == quote.organization_id,
            Quote.customer_id == quote.customer_id,
            Quote.id != quote.id,
            Quote.owner_id != quote.owner_id,
            Quote.created_at >= now - PEER_WINDOW,
            QuoteLine.product_id.in_(product_ids),
        )
    )
    peers: dict[uuid.UUID, list[PeerPrice]] = defaultdict(list)
    for product_id, quote_id, rep_id, unit_price in rows:
        if rep_id is not None:
            peers[product_id].append(PeerPrice(quote_id=quote_id, rep_id=rep_id, unit_price=unit_price))
    return peers


async def _write_lines(
    session: AsyncSession, quote: Quote, lines: list[PricedLine], totals: Any, now: datetime
) -> None:
    await session.execute(delete(QuoteLine).where(QuoteLine.quote_id == quote.id))
    session.add_all(
        QuoteLine(
            organization_id=quote.organization_id,
            quote_id=quote.id,
            position=index,
            product_id=line.product_id,
            list_price=line.list_price,
            unit_price=line.unit_price,
            quantity=line.quantity,
            discount=line.discount,
            amount=line.amount,
        )
        for index, line in enumerate(lines)
    )
    quote.list_total, quote.total, quote.discount_total = (
        totals.list_total,
        totals.total,
        totals.discount_total,
    )
    limit = (await policy_for(session, Principal.system(quote.organization_id))).price_spread_limit
    peers = await _peer_prices(session, quote, {line.product_id for line in lines}, now)
    alerts = price_spread_alerts(lines, peers, limit)
    quote.price_alerts = [alert.as_dict() for alert in alerts]
    await session.flush()
    if alerts:
        supervisors = (
            await supervisors_of(session, quote.organization_id, quote.owner_id) if quote.owner_id else []
        )
        customer = await session.get_one(Customer, quote.customer_id)
        rep = await session.get(User, quote.owner_id) if quote.owner_id else None
        outbox.record(
            session,
            organization_id=quote.organization_id,
            event=QuotePriceSpread(
                quote_id=quote.id,
                opportunity_id=quote.opportunity_id,
                customer_id=quote.customer_id,
                alerts=quote.price_alerts,
                customer_name=customer.name,
                rep_name=rep.display_name if rep else "",
                max_spread=f"{max(alert.spread for alert in alerts):.0%}",
                alert_count=len(alerts),
                notify_user_ids=tuple(supervisors),
            ),
        )


async def create_quote(
    session: AsyncSession,
    *,
    actor: Principal,
    opportunity_id: uuid.UUID,
    lines: list[RequestedLine],
    now: datetime,
) -> Quote:
    opportunity = await opportunities.get_opportunity(session, actor=actor, opportunity_id=opportunity_id)
    priced, totals = await _priced(session, actor, lines)
    quote = Quote(
        organization_id=actor.organization_id,
        opportunity_id=opportunity.id,
        customer_id=opportunity.customer_id,
        owner_id=actor.user_id or opportunity.owner_id,
        currency=opportunity.currency,
        list_total=totals.list_total,
        total=totals.total,
        discount_total=totals.discount_total,
    )
    session.add(quote)
    await session.flush()
    await _write_lines(session, quote, priced, totals, now)
    await quote_approval.require_approval(session, actor, quote, priced)
    await audit.record_audit(
        session,
        actor=actor,
        action="quote.created",
        entity_type="quote",
        entity_id=quote.id,
        after={"lines": _line_prices(priced), "total": str(totals.total)},
    )
    return quote


def quote_visibility(actor: Principal) -> Any:
    return Quote.opportunity_id.in_(
        select(Opportunity.id).where(
            Opportunity.organization_id == actor.organization_id, opportunities.opportunity_visibility(actor)
        )
    )


async def get_quote(
    session: AsyncSession, *, actor: Principal, quote_id: uuid.UUID, for_update: bool = False
) -> Quote:
    return await get_visible(
        session, Quote, quote_id, actor=actor, visible=quote_visibility(actor), for_update=for_update
    )


async def quote_lines(session: AsyncSession, quote_id: uuid.UUID) -> list[QuoteLine]:
    return (await lines_of_quotes(session, [quote_id])).get(quote_id, [])


async def lines_of_quotes(
    session: AsyncSession, quote_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[QuoteLine]]:
    """The lines of a page of quotes in one query, by quote, in their order."""
    lines: dict[uuid.UUID, list[QuoteLine]] = {}
    if quote_ids:
        rows = await session.scalars(
            select(QuoteLine)
            .where(QuoteLine.quote_id.in_(quote_ids))
            .order_by(QuoteLine.quote_id, QuoteLine.position)
        )
        for line in rows:
            lines.setdefault(line.quote_id, []).append(line)
    return lines


_QUOTE_SORTABLE = {"created_at": Quote.created_at, "updated_at": Quote.updated_at, "total": Quote.total}


def _quote_text_matches(actor: Principal, q: str) -> ColumnElement[bool]:
    """Through the customer's and the deal's own (trigram) indexes: a quote has no text of its own."""
    customers = select(Customer.id).where(
        Customer.organization_id == actor.organization_id,
        text_matches(q, [Customer.name, Customer.code], [Customer.phone]),
    )
    deals = select(Opportunity.id).where(
        Opportunity.organization_id == actor.organization_id, text_matches(q, [Opportunity.name])
    )
    return or_(Quote.customer_id.in_(customers), Quote.opportunity_id.in_(deals))


async def list_quotes(
    session: AsyncSession,
    *,
    actor: Principal,
    limit: int,
    cursor: str | None,
    opportunity_id: Sequence[uuid.UUID] | None = None,
    customer_id: Sequence[uuid.UUID] | None = None,
    owner_id: Sequence[uuid.UUID] | None = None,
    team_id: Sequence[uuid.UUID] | None = None,
    status: Sequence[QuoteStatus] | None = None,
    created: Period = ANY_TIME,
    closed: Period = ANY_TIME,
    q: str | None = None,
    options: ListOptions = NO_OPTIONS,
    sort: str = "-created_at",
) -> Page[Quote]:
    """`q`: part of the customer's name, code or phone, or of the deal's name."""
    order = SortOrder.parse(sort, _QUOTE_SORTABLE)
    statement = select(Quote).where(Quote.organization_id == actor.organization_id, quote_visibility(actor))
    for column, value in (
        (Quote.opportunity_id, opportunity_id),
        (Quote.customer_id, customer_id),
        (Quote.owner_id, owner_id),
        (Quote.status, status),
    ):
        if value is not None:
            statement = statement.where(matches(column, value))
    if team_id is not None:
        statement = statement.where(in_teams(actor, Quote.owner_id, team_id))
    statement = statement.where(*within(Quote.created_at, created), *within(Quote.closed_at, closed))
    if q:
        await plan_for_these_values(session)
        statement = statement.where(_quote_text_matches(actor, q))
    return await paginate(
        session,
        statement,
        sort_column=_QUOTE_SORTABLE[order.name],
        id_column=Quote.id,
        order=order,
        limit=limit,
        cursor=cursor,
        options=options,
    )


async def replace_lines(
    session: AsyncSession,
    *,
    actor: Principal,
    quote_id: uuid.UUID,
    lines: list[RequestedLine],
    expected_version: int | None,
    now: datetime,
) -> Quote:
    """A draft's lines, replaced; the audit row keeps every old and new price."""
    quote = await get_quote(session, actor=actor, quote_id=quote_id, for_update=True)
    priced, totals = await _priced(session, actor, lines)
    check_version(quote, expected_version)
    check_editable(quote.status)
    before = _line_prices(await quote_lines(session, quote.id))
    await _write_lines(session, quote, priced, totals, now)
    await quote_approval.require_approval(session, actor, quote, priced)
    quote.updated_at = now
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action="quote.prices_changed",
        entity_type="quote",
        entity_id=quote.id,
        before={"lines": before},
        after={"lines": _line_prices(priced), "total": str(totals.total)},
    )
    return quote


async def set_status(
    session: AsyncSession, *, actor: Principal, quote_id: uuid.UUID, status: QuoteStatus, now: datetime
) -> Quote:
    """Sending a quote records a quote_sent activity on the opportunity, where the pipeline's
    order-of-work rules (no quote before a demo) apply to it."""
    quote = await get_quote(session, actor=actor, quote_id=quote_id, for_update=True)
    if status is QuoteStatus.sent:
        quote_approval.ensure_sendable(quote)
    check_transition(quote.status, status)
    before = {"status": quote.status.value}
    quote.status = status
    if status in (QuoteStatus.accepted, QuoteStatus.rejected):
        quote.closed_at = now
    if status is QuoteStatus.sent:
        quote.sent_at = now
        await activities.record_activity(
            session,
            actor=actor,
            data=activities.NewActivity(
                type=ActivityType.quote_sent,
                occurred_at=now,
                opportunity_id=quote.opportunity_id,
                notes=f"报价 {quote.total} {quote.currency}",
            ),
            now=now,
        )
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action=f"quote.{status.value}",
        entity_type="quote",
        entity_id=quote.id,
        before=before,
        after={"status": status.value},
    )
    return quote


async def decide_approval(
    session: AsyncSession, *, actor: Principal, quote_id: uuid.UUID, approve: bool, reason: str, now: datetime
) -> Quote:
    """An approver of the required rank (not the quote's author) approves the prices, so the quote
    may be sent, or rejects them, so they must change first. The audit row names who decided on
    which prices."""
    quote = await get_quote(session, actor=actor, quote_id=quote_id, for_update=True)
    if quote.status is not QuoteStatus.pending_approval or quote.approval_level is None:
        raise Conflict("The quote is not waiting for an approval.", code="quote.not_pending_approval")
    required = Role(quote.approval_level)
    if not may_approve(actor.role, required) or actor.user_id in (None, quote.owner_id):
        raise PermissionDenied(
            f"Only a {required.value} or above, other than its author, decides on this quote.",
            code="quote.approval_forbidden",
        )
    decision = quote_approval.APPROVED if approve else quote_approval.REJECTED
    quote.status = QuoteStatus.draft
    quote.approval_decision = decision
    quote.approval_decided_by_id = actor.user_id
    quote.approval_decided_at = now
    quote.approval_reason = reason
    await session.flush()
    await audit.record_audit(
        session,
        actor=actor,
        action=f"quote.prices_{decision}",
        entity_type="quote",
        entity_id=quote.id,
        before={"status": QuoteStatus.pending_approval.value, "approval_level": required.value},
        after={
            "decision": decision,
            "reason": reason,
            "lines": _line_prices(await quote_lines(session, quote.id)),
        },
    )
    await quote_approval.announce_decision(session, quote, actor)
    return quote


# The audit rows that record a quote's prices: as written, as changed, as decided on.
PRICE_ACTIONS = ("quote.created", "quote.prices_changed", "quote.prices_approved", "quote.prices_rejected")
MAX_PRICE_HISTORY = 500


async def price_history(session: AsyncSession, *, actor: Principal, quote_id: uuid.UUID) -> list[AuditEvent]:
    """Who set or approved which prices on a quote, oldest first: readable by whoever may read the
    quote (a rep their own), where the audit log as a whole is a manager's."""
    quote = await get_quote(session, actor=actor, quote_id=quote_id)
    rows = await session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.organization_id == actor.organization_id,
            AuditEvent.entity_type == "quote",
            AuditEvent.entity_id == quote.id,
            AuditEvent.action.in_(PRICE_ACTIONS),
        )
        .order_by(AuditEvent.occurred_at, AuditEvent.id)
        .limit(MAX_PRICE_HISTORY)
    )
    return list(rows)
