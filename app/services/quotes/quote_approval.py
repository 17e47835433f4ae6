"""Discount approval of a quote's prices: whether they need an approver, who is told, and whether
the quote may be sent (rules in app/domain/quotes/quote_approval.py)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.models import Customer, Product, Quote, User
from app.domain.notifications.events import QuoteApprovalDecided, QuoteApprovalRequested
from app.domain.platform.errors import Conflict
from app.domain.quotes.quote_approval import APPROVERS, PricedForApproval, rank, required_approver
from app.domain.quotes.quotes import PricedLine, QuoteStatus
from app.services.assignment.ownership import supervisors_of
from app.services.organization.policy import policy_for
from app.services.platform import outbox

APPROVED = "approved"
REJECTED = "rejected"


async def require_approval(
    session: AsyncSession, actor: Principal, quote: Quote, lines: list[PricedLine]
) -> None:
    """New prices: a draft when the writer may quote them, else pending approval with the
    approvers told. Any earlier decision was about other prices and is cleared."""
    floors = dict(
        (
            await session.execute(
                select(Product.id, Product.floor_price).where(
                    Product.organization_id == quote.organization_id,
                    Product.id.in_({line.product_id for line in lines}),
                )
            )
        ).all()
    )
    limits = (await policy_for(session, actor)).discount_limits
    priced = [
        PricedForApproval(line.discount, line.unit_price, floors.get(line.product_id)) for line in lines
    ]
    approver = required_approver(priced, limits, actor.role)
    quote.approval_level = approver.value if approver else None
    quote.approval_decision = quote.approval_decided_by_id = quote.approval_decided_at = None
    quote.approval_reason = None
    quote.status = QuoteStatus.pending_approval if approver else QuoteStatus.draft
    if approver is None:
        return
    customer = await session.get_one(Customer, quote.customer_id)
    author = await session.get(User, quote.owner_id) if quote.owner_id else None
    deepest = max((line.discount for line in lines), default=Decimal(0))
    outbox.record(
        session,
        organization_id=quote.organization_id,
        event=QuoteApprovalRequested(
            quote_id=quote.id,
            opportunity_id=quote.opportunity_id,
            customer_id=quote.customer_id,
            customer_name=customer.name,
            rep_name=author.display_name if author else "",
            max_discount=f"{deepest:.0%}",
            below_floor=any(p.floor_price is not None and p.unit_price < p.floor_price for p in priced),
            approver_role=approver.value,
            total=quote.total,
            currency=quote.currency,
            notify_user_ids=tuple(await _approvers(session, quote, approver)),
        ),
    )


async def _approvers(session: AsyncSession, quote: Quote, level: Role) -> list[uuid.UUID]:
    """The owner's supervisors for a supervisor's approval (directors when the owner has none);
    every active user of the role otherwise."""
    if level is Role.supervisor and quote.owner_id is not None:
        supervisors = await supervisors_of(session, quote.organization_id, quote.owner_id)
        if supervisors:
            return supervisors
        level = Role.director
    roles = [role for role in APPROVERS if rank(role) >= rank(level)]
    found = await session.scalars(
        select(User.id)
        .where(User.organization_id == quote.organization_id, User.role.in_(roles), User.is_active)
        .order_by(User.id)
    )
    return [user_id for user_id in found if user_id != quote.owner_id]


def ensure_sendable(quote: Quote) -> None:
    if quote.approval_level is None or quote.approval_decision == APPROVED:
        return
    if quote.approval_decision == REJECTED:
        raise Conflict(
            f"The quote's prices were rejected: {quote.approval_reason}. Change them before sending.",
            code="quote.approval_rejected",
        )
    raise Conflict(
        f"The quote's prices wait for a {quote.approval_level}'s approval.", code="quote.approval_pending"
    )


async def announce_decision(session: AsyncSession, quote: Quote, approver: Principal) -> None:
    customer = await session.get_one(Customer, quote.customer_id)
    deciding = await session.get(User, approver.user_id) if approver.user_id else None
    outbox.record(
        session,
        organization_id=quote.organization_id,
        event=QuoteApprovalDecided(
            quote_id=quote.id,
            opportunity_id=quote.opportunity_id,
            customer_id=quote.customer_id,
            customer_name=customer.name,
            decision=quote.approval_decision or "",
            reason=quote.approval_reason or "",
            approver_name=deciding.display_name if deciding else "",
            notify_user_ids=(quote.owner_id,) if quote.owner_id else (),
        ),
    )
