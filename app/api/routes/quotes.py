"""/products and /quotes: the price list, and the prices reps offer, audited line by line."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.api.deps import (
    ETAG_HEADER,
    SORT_BY_CHANGE,
    Cursor,
    ExpectedVersion,
    Idempotent,
    Limit,
    ListOptionsDep,
    NowDep,
    SessionDep,
    TrueOrFalse,
    etag_for,
    require,
    with_etag,
)
from app.api.display_names import with_name, with_names
from app.api.errors import problem_responses
from app.api.list_export import EXPORT_RESPONSES, ListExportDep
from app.api.list_filters import CreatedPeriod, DecidedPeriod, IdFilter, OwnerIds, TeamIds, text_query
from app.api.routes import API_V1
from app.api.schemas.audit_events import AuditEventOut
from app.api.schemas.quotes import (
    ProductCreate,
    ProductOut,
    ProductPage,
    ProductUpdate,
    QuoteApprovalIn,
    QuoteCreate,
    QuoteLineIn,
    QuoteLineOut,
    QuoteLinesIn,
    QuoteOut,
    QuotePage,
    QuotePriceHistory,
    QuoteStatusIn,
)
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.models import Quote, QuoteLine
from app.domain.quotes.quotes import QuoteStatus
from app.services.quotes import quotes

router = APIRouter(prefix=API_V1, tags=["quotes"])

CanReadProducts = Annotated[Principal, Depends(require(Permission.products_read))]
CanWriteProducts = Annotated[Principal, Depends(require(Permission.products_write))]
CanReadQuotes = Annotated[Principal, Depends(require(Permission.quotes_read))]
CanWriteQuotes = Annotated[Principal, Depends(require(Permission.quotes_write))]


@router.post(
    "/products",
    status_code=status.HTTP_201_CREATED,
    response_model=ProductOut,
    responses=problem_responses(401, 403, 409, 413, 422),
    dependencies=[Idempotent],
)
async def create_product(
    session: SessionDep, actor: CanWriteProducts, body: ProductCreate, response: Response
) -> ProductOut:
    """SKUs are unique in the organization (409)."""
    product = await quotes.create_product(session, actor=actor, data=quotes.NewProduct(**body.model_dump()))
    response.headers["Location"] = f"{API_V1}/products/{product.id}"
    return with_etag(response, ProductOut.model_validate(product))


@router.get("/products", response_model=ProductPage, responses=problem_responses(401, 403, 422))
async def list_products(
    session: SessionDep,
    actor: CanReadProducts,
    options: ListOptionsDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        str, Query(pattern=r"^-?(created_at|updated_at)$", description=SORT_BY_CHANGE)
    ] = "created_at",
    active: TrueOrFalse | None = None,
) -> ProductPage:
    page = await quotes.list_products(
        session, actor=actor, options=options, sort=sort, limit=limit, cursor=cursor, active=active
    )
    return ProductPage.of(page, [ProductOut.model_validate(p) for p in page.items])


@router.get(
    "/products/{product_id:uuid}",
    response_model=ProductOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_product(
    session: SessionDep, actor: CanReadProducts, product_id: uuid.UUID, response: Response
) -> ProductOut:
    product = await quotes.get_product(session, actor=actor, product_id=product_id)
    return with_etag(response, ProductOut.model_validate(product))


@router.patch(
    "/products/{product_id:uuid}",
    response_model=ProductOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 409, 412, 413, 422)},
)
async def update_product(
    session: SessionDep,
    actor: CanWriteProducts,
    product_id: uuid.UUID,
    body: ProductUpdate,
    expected_version: ExpectedVersion,
    response: Response,
) -> ProductOut:
    """A new list price applies to quotes priced from now on; existing quote lines keep theirs."""
    product = await quotes.update_product(
        session, actor=actor, product_id=product_id, changes=body.changes(), expected_version=expected_version
    )
    return with_etag(response, ProductOut.model_validate(product))


async def _quote_out(
    session: SessionDep,
    quote: Quote,
    response: Response | None = None,
    lines: Sequence[QuoteLine] | None = None,
) -> QuoteOut:
    if lines is None:
        lines = await quotes.quote_lines(session, quote.id)
    out = QuoteOut(
        id=quote.id,
        version=quote.version,
        created_at=quote.created_at,
        updated_at=quote.updated_at,
        opportunity_id=quote.opportunity_id,
        customer_id=quote.customer_id,
        owner_id=quote.owner_id,
        status=quote.status,
        currency=quote.currency,
        list_total=quote.list_total,
        total=quote.total,
        discount_total=quote.discount_total,
        lines=[QuoteLineOut.model_validate(line) for line in lines],
        price_alerts=quote.price_alerts,
        sent_at=quote.sent_at,
        closed_at=quote.closed_at,
        approval_level=quote.approval_level,
        approval_decision=quote.approval_decision,
        approval_decided_by_id=quote.approval_decided_by_id,
        approval_decided_at=quote.approval_decided_at,
        approval_reason=quote.approval_reason,
    )
    if response is not None:
        response.headers["ETag"] = etag_for(out.version)
    return out


def _requested(lines: list[QuoteLineIn]) -> list[quotes.RequestedLine]:
    return [quotes.RequestedLine(l.product_id, l.unit_price, l.quantity) for l in lines]  # noqa: E741


@router.post(
    "/quotes",
    status_code=status.HTTP_201_CREATED,
    response_model=QuoteOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
    dependencies=[Idempotent],
)
async def create_quote(
    session: SessionDep, actor: CanWriteQuotes, now: NowDep, body: QuoteCreate, response: Response
) -> QuoteOut:
    """List prices come from the products; totals are exact decimals. Lines priced far from other
    reps' recent quotes to the same customer carry `price_alerts`."""
    quote = await quotes.create_quote(
        session, actor=actor, opportunity_id=body.opportunity_id, lines=_requested(body.lines), now=now
    )
    response.headers["Location"] = f"{API_V1}/quotes/{quote.id}"
    return await with_name(session, actor, await _quote_out(session, quote, response))


@router.get(
    "/quotes", response_model=QuotePage, responses={**EXPORT_RESPONSES, **problem_responses(401, 403, 422)}
)
async def list_quotes(
    session: SessionDep,
    actor: CanReadQuotes,
    export: ListExportDep,
    options: ListOptionsDep,
    created: CreatedPeriod,
    closed: DecidedPeriod,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Annotated[
        str, Query(pattern=r"^-?(created_at|updated_at|total)$", description=SORT_BY_CHANGE)
    ] = "-created_at",
    q: Annotated[
        str | None,
        text_query("Part of the customer's name, code or phone (typed any way), or of the deal's name."),
    ] = None,
    opportunity_id: IdFilter = None,
    customer_id: IdFilter = None,
    owner_id: OwnerIds = None,
    team_id: TeamIds = None,
    status_: Annotated[list[QuoteStatus] | None, Query(alias="status", max_length=20)] = None,
) -> QuotePage | Response:
    """Newest first unless sorted otherwise. A filter given several times means any of its values."""

    async def read_page(limit: int, cursor: str | None) -> QuotePage:
        page = await quotes.list_quotes(
            session,
            actor=actor,
            options=options,
            sort=sort,
            limit=limit,
            cursor=cursor,
            opportunity_id=opportunity_id,
            customer_id=customer_id,
            owner_id=owner_id,
            team_id=team_id,
            status=status_,
            created=created,
            closed=closed,
            q=q,
        )
        lines = await quotes.lines_of_quotes(session, [q.id for q in page.items])
        return QuotePage.of(
            page,
            await with_names(
                session, actor, [await _quote_out(session, q, lines=lines.get(q.id, [])) for q in page.items]
            ),
        )

    return await export.answer(read_page, limit=limit, cursor=cursor)


@router.get(
    "/quotes/{quote_id:uuid}",
    response_model=QuoteOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 422)},
)
async def get_quote(
    session: SessionDep, actor: CanReadQuotes, quote_id: uuid.UUID, response: Response
) -> QuoteOut:
    quote = await quotes.get_quote(session, actor=actor, quote_id=quote_id)
    return await with_name(session, actor, await _quote_out(session, quote, response))


@router.get(
    "/quotes/{quote_id:uuid}/price-history",
    response_model=QuotePriceHistory,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_quote_price_history(
    session: SessionDep, actor: CanReadQuotes, quote_id: uuid.UUID
) -> QuotePriceHistory:
    """Every price the quote had, who set it and who approved or rejected it, oldest first (the
    audit rows `quote.created`, `quote.prices_changed`, `quote.prices_approved`,
    `quote.prices_rejected`); a rep reads their own quotes' history."""
    rows = await quotes.price_history(session, actor=actor, quote_id=quote_id)
    return QuotePriceHistory(
        items=await with_names(session, actor, [AuditEventOut.model_validate(row) for row in rows])
    )


@router.put(
    "/quotes/{quote_id:uuid}/lines",
    response_model=QuoteOut,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(401, 403, 404, 409, 412, 413, 422)},
)
async def replace_quote_lines(
    session: SessionDep,
    actor: CanWriteQuotes,
    now: NowDep,
    quote_id: uuid.UUID,
    body: QuoteLinesIn,
    expected_version: ExpectedVersion,
    response: Response,
) -> QuoteOut:
    """Drafts only (409 otherwise); the audit trail keeps every old and new price."""
    quote = await quotes.replace_lines(
        session,
        actor=actor,
        quote_id=quote_id,
        lines=_requested(body.lines),
        expected_version=expected_version,
        now=now,
    )
    return await with_name(session, actor, await _quote_out(session, quote, response))


@router.post(
    "/quotes/{quote_id:uuid}/status",
    response_model=QuoteOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
)
async def change_quote_status(
    session: SessionDep,
    actor: CanWriteQuotes,
    now: NowDep,
    quote_id: uuid.UUID,
    body: QuoteStatusIn,
    response: Response,
) -> QuoteOut:
    """Sending records a quote_sent activity on the opportunity (the pipeline's order-of-work rules apply).
    A quote whose prices wait for approval (409 `quote.approval_pending`) or were rejected (409
    `quote.approval_rejected`) cannot be sent."""
    quote = await quotes.set_status(session, actor=actor, quote_id=quote_id, status=body.status, now=now)
    return await with_name(session, actor, await _quote_out(session, quote, response))


@router.post(
    "/quotes/{quote_id:uuid}/approval",
    response_model=QuoteOut,
    responses=problem_responses(401, 403, 404, 409, 413, 422),
)
async def decide_quote_approval(
    session: SessionDep,
    actor: CanWriteQuotes,
    now: NowDep,
    quote_id: uuid.UUID,
    body: QuoteApprovalIn,
    response: Response,
) -> QuoteOut:
    """The approver's decision on prices beyond their author's discount limit or a floor price
    (`approval_level` names who may decide: that role or above, not the author). Approved, the
    quote may be sent; rejected, its prices must change first. The owner is notified and the audit
    trail keeps who decided on which prices."""
    quote = await quotes.decide_approval(
        session,
        actor=actor,
        quote_id=quote_id,
        approve=body.decision == "approved",
        reason=body.reason,
        now=now,
    )
    return await with_name(session, actor, await _quote_out(session, quote, response))
