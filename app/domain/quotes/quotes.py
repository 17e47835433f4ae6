"""Quotes: pricing lines into totals, the quote life cycle, and the price-spread audit across reps.

Money is Decimal throughout and rounded half-up to the fen, as Chinese invoices are. The service loads
products, peer quote lines and the organization's settings; everything here is arithmetic and rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext
from enum import StrEnum

from app.domain.platform.errors import Conflict, FieldError, InvalidInput

MONEY = Decimal("0.01")
UNIT_PRICE = Decimal("0.0001")
QUANTITY = Decimal("0.001")
RATIO = Decimal("0.0001")

MAX_LINES = 200

# Upper bounds mirror the quote and quote_line columns (Numeric(18, 4) prices, Numeric(18, 3) quantities,
# Numeric(18, 2) amounts, Numeric(9, 4) discounts): a value refused here would otherwise fail at the database
# as a server error instead of a field the client can fix.
_PRICE_LIMIT = Decimal("1e14")
_QUANTITY_LIMIT = Decimal("1e15")
_AMOUNT_LIMIT = Decimal("1e16")
_DISCOUNT_FLOOR = Decimal("-99999.9999")

DEFAULT_SPREAD_LIMIT = Decimal("0.10")
MAX_SPREAD_LIMIT = Decimal("10")
# A zero price against a non-zero one is an infinite spread, but Decimal('Infinity') is not valid JSON for the
# alert stored on the quote and cannot be shown as a percentage, so reported spreads stop at this cap. It lies
# above MAX_SPREAD_LIMIT so a capped spread still exceeds every limit an organization can set, and applies to
# finite spreads too, so a free line never looks milder than a merely huge gap.
SPREAD_CAP = Decimal("99.9999")

# Enough digits that no product or quotient of bounded inputs is rounded before the explicit quantize,
# whatever context the caller has set.
_ARITHMETIC = Context(prec=60, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow])


def _quantize(value: Decimal, step: Decimal) -> Decimal:
    rounded = value.quantize(step, rounding=ROUND_HALF_UP)
    # -0.0000 is equal to zero but would be stored and shown with its sign.
    return rounded.copy_abs() if rounded.is_zero() else rounded


def _plain(value: Decimal) -> str:
    # str() switches to exponent notation for some values (Decimal("1E+2")); clients expect plain digits.
    return f"{value:f}"


@dataclass(frozen=True)
class LineInput:
    product_id: uuid.UUID
    list_price: Decimal
    unit_price: Decimal
    quantity: Decimal


@dataclass(frozen=True)
class PricedLine:
    product_id: uuid.UUID
    list_price: Decimal
    unit_price: Decimal
    quantity: Decimal
    # Share off the list price; negative when the line is priced above list, 0 when the list price is 0.
    discount: Decimal
    amount: Decimal


@dataclass(frozen=True)
class QuoteTotals:
    list_total: Decimal
    total: Decimal
    discount_total: Decimal


def _number(value: object, field: str, errors: list[FieldError]) -> Decimal | None:
    # A float has already lost the exact price (0.1 is 0.1000000000000000055...); only exact types are money.
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        errors.append(
            FieldError(field, "number.invalid", f"must be a decimal number, not {type(value).__name__}")
        )
        return None
    number = Decimal(value)
    if not number.is_finite():
        errors.append(FieldError(field, "number.invalid", "must be a finite number"))
        return None
    return number


def _price(value: object, field: str, errors: list[FieldError]) -> Decimal | None:
    number = _number(value, field, errors)
    if number is None:
        return None
    if number < 0:
        errors.append(FieldError(field, "value.out_of_range", "must be zero or more"))
        return None
    # Checked before and after rounding: the raw value must be small enough to quantize, and rounding half-up
    # can carry it onto the limit.
    if number >= _PRICE_LIMIT or (price := _quantize(number, UNIT_PRICE)) >= _PRICE_LIMIT:
        errors.append(FieldError(field, "value.out_of_range", f"must be less than {_PRICE_LIMIT:f}"))
        return None
    return price


def _quantity(value: object, field: str, errors: list[FieldError]) -> Decimal | None:
    number = _number(value, field, errors)
    if number is None:
        return None
    if number <= 0:
        errors.append(FieldError(field, "value.out_of_range", "must be more than zero"))
        return None
    if number >= _QUANTITY_LIMIT:
        errors.append(FieldError(field, "value.out_of_range", f"must be less than {_QUANTITY_LIMIT:f}"))
        return None
    # Refused rather than rounded: unlike a price, rounding a quantity changes what is being sold.
    if number != number.quantize(QUANTITY):
        errors.append(FieldError(field, "number.precision", "at most 3 decimal places"))
        return None
    return number.quantize(QUANTITY)


def _discount(list_price: Decimal, unit_price: Decimal) -> Decimal:
    if list_price.is_zero():
        return Decimal("0.0000")
    return _quantize(1 - unit_price / list_price, RATIO)


def price_lines(lines: Sequence[LineInput]) -> tuple[list[PricedLine], QuoteTotals]:
    """Validate and price the lines of a quote, in order.

    Every problem is reported in one InvalidInput (code "quote.invalid"), with paths such as
    "lines[2].quantity", so a rep fixes a 50-line quote in one round trip. A product may appear on several
    lines (e.g. the same steel at two delivery dates). Prices are rounded to 4 decimals, amounts to the fen.
    """
    errors: list[FieldError] = []
    if not lines:
        errors.append(FieldError("lines", "missing", "a quote needs at least one line"))
    elif len(lines) > MAX_LINES:
        errors.append(FieldError("lines", "too_many", f"at most {MAX_LINES} lines; got {len(lines)}"))

    priced: list[PricedLine] = []
    list_amounts: list[Decimal] = []
    with localcontext(_ARITHMETIC):
        for index, line in enumerate(lines):
            result = _price_line(line, f"lines[{index}]", errors)
            if result is not None:
                priced.append(result[0])
                list_amounts.append(result[1])
        if errors:
            raise InvalidInput("The quote lines are not valid.", code="quote.invalid", errors=errors)
        totals = _totals(priced, list_amounts)
    return priced, totals


def _price_line(line: LineInput, where: str, errors: list[FieldError]) -> tuple[PricedLine, Decimal] | None:
    """The priced line and its amount at list price, or None with its problems added to `errors`."""
    list_price = _price(line.list_price, f"{where}.list_price", errors)
    unit_price = _price(line.unit_price, f"{where}.unit_price", errors)
    quantity = _quantity(line.quantity, f"{where}.quantity", errors)
    if list_price is None or unit_price is None or quantity is None:
        return None
    discount = _discount(list_price, unit_price)
    if discount < _DISCOUNT_FLOOR:
        errors.append(
            FieldError(
                f"{where}.unit_price", "value.out_of_range", "must be at most 100,000 times the list price"
            )
        )
        return None
    amount = _quantize(unit_price * quantity, MONEY)
    list_amount = _quantize(list_price * quantity, MONEY)
    if max(amount, list_amount) >= _AMOUNT_LIMIT:
        errors.append(
            FieldError(where, "value.out_of_range", f"the line must come to less than {_AMOUNT_LIMIT:f}")
        )
        return None
    return PricedLine(line.product_id, list_price, unit_price, quantity, discount, amount), list_amount


def _totals(priced: list[PricedLine], list_amounts: list[Decimal]) -> QuoteTotals:
    total = sum((line.amount for line in priced), Decimal("0.00"))
    # Summed from per-line rounded amounts, like the total, so a quote priced at list shows no discount
    # at all instead of a stray fen left over from rounding the two sums differently.
    list_total = sum(list_amounts, Decimal("0.00"))
    if max(total, list_total) >= _AMOUNT_LIMIT:
        raise InvalidInput(
            "The quote lines are not valid.",
            code="quote.invalid",
            errors=[
                FieldError(
                    "lines", "value.out_of_range", f"the quote must come to less than {_AMOUNT_LIMIT:f}"
                )
            ],
        )
    return QuoteTotals(list_total=list_total, total=total, discount_total=list_total - total)


@dataclass(frozen=True)
class PeerPrice:
    """A recent quote line by another rep to the same customer for the same product."""

    quote_id: uuid.UUID
    rep_id: uuid.UUID
    unit_price: Decimal


@dataclass(frozen=True)
class PriceSpreadAlert:
    product_id: uuid.UUID
    unit_price: Decimal
    peer_quote_id: uuid.UUID
    peer_rep_id: uuid.UUID
    peer_unit_price: Decimal
    # |unit - peer| / min(unit, peer), 4 decimals, at most SPREAD_CAP: 0.1800 is 18 %.
    spread: Decimal
    limit: Decimal

    def as_dict(self) -> dict[str, str]:
        # Strings, not JSON numbers, so no client parses the prices back into floats.
        return {
            "product_id": str(self.product_id),
            "unit_price": _plain(self.unit_price),
            "peer_quote_id": str(self.peer_quote_id),
            "peer_rep_id": str(self.peer_rep_id),
            "peer_unit_price": _plain(self.peer_unit_price),
            "spread": _plain(self.spread),
            "limit": _plain(self.limit),
        }


def _spread(unit_price: Decimal, peer_price: Decimal) -> Decimal | None:
    """None when both prices are zero: two free lines agree, so there is nothing to compare."""
    low = min(unit_price, peer_price)
    if low.is_zero():
        return None if max(unit_price, peer_price).is_zero() else SPREAD_CAP
    exact = abs(unit_price - peer_price) / low
    # SPREAD_CAP is on the 4-decimal grid, so anything below it cannot round past it.
    return SPREAD_CAP if exact >= SPREAD_CAP else _quantize(exact, RATIO)


def price_spread_alerts(
    lines: Sequence[PricedLine], peers: Mapping[uuid.UUID, Sequence[PeerPrice]], limit: Decimal
) -> list[PriceSpreadAlert]:
    """Alert on lines priced too far from what other reps recently quoted the same customer.

    `peers` maps a product to other reps' recent prices for it; `limit` comes from parse_spread_limit. Each
    line is compared with the peer price farthest from it by spread (the first such peer on a tie) and alerts
    when that spread is strictly above the limit, so a line gets one alert at most and a product on two lines
    may get two. The rounded spread is what is compared, so an alert never shows a spread equal to its limit.
    """
    alerts: list[PriceSpreadAlert] = []
    with localcontext(_ARITHMETIC):
        for line in lines:
            farthest: tuple[Decimal, PeerPrice] | None = None
            for peer in peers.get(line.product_id, ()):
                spread = _spread(line.unit_price, peer.unit_price)
                if spread is not None and (farthest is None or spread > farthest[0]):
                    farthest = (spread, peer)
            if farthest is None or farthest[0] <= limit:
                continue
            spread, peer = farthest
            alerts.append(
                PriceSpreadAlert(
                    product_id=line.product_id,
                    unit_price=line.unit_price,
                    peer_quote_id=peer.quote_id,
                    peer_rep_id=peer.rep_id,
                    peer_unit_price=peer.unit_price,
                    spread=spread,
                    limit=limit,
                )
            )
    return alerts


class QuoteStatus(StrEnum):
    draft = "draft"
    # Its prices are beyond its author's discount limit or a product's floor: it cannot be sent
    # until someone with the authority approves them (app/domain/quotes/quote_approval.py).
    pending_approval = "pending_approval"
    sent = "sent"
    accepted = "accepted"
    rejected = "rejected"


_TRANSITIONS: dict[QuoteStatus, frozenset[QuoteStatus]] = {
    QuoteStatus.draft: frozenset({QuoteStatus.sent}),
    # Left only by an approver's decision (services/quotes.decide_approval) or by new lines.
    QuoteStatus.pending_approval: frozenset(),
    # Back to draft is how a sent quote is revised: the customer asked for changes before deciding.
    QuoteStatus.sent: frozenset({QuoteStatus.accepted, QuoteStatus.rejected, QuoteStatus.draft}),
    # The customer's answer is history; a new offer is a new quote.
    QuoteStatus.accepted: frozenset(),
    QuoteStatus.rejected: frozenset(),
}


def check_transition(current: QuoteStatus, target: QuoteStatus) -> None:
    # Conflict, not InvalidInput: the request is well formed, the quote's current state is what refuses it.
    if target not in _TRANSITIONS[current]:
        raise Conflict(
            f"A quote cannot go from {current.value} to {target.value}.",
            code="quote.transition",
        )


def check_editable(status: QuoteStatus) -> None:
    """Only unsent quotes change lines: what a customer was sent must stay what they were sent."""
    if status not in (QuoteStatus.draft, QuoteStatus.pending_approval):
        raise Conflict(
            f"The quote is {status.value}; only a draft's lines can be changed.", code="quote.not_editable"
        )
