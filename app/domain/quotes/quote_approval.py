"""Price floors and discount approval: how far below list each role may quote on its own, and who
must approve a quote that goes further.

A rep may give up to `rep` off list (default 10 %), a supervisor `supervisor` (20 %), a director
`director` (30 %); an admin has no limit. A quote whose deepest discount is beyond its author's limit
waits for the lowest role above the author whose limit covers it. A price below a product's floor
price needs at least a director. Nobody approves their own quote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from app.domain.identity.permissions import Role

# Who approves, lowest first; a role's rank is its place here (a rep, marketing or an API key: -1).
APPROVERS = (Role.supervisor, Role.director, Role.admin)


def rank(role: Role | None) -> int:
    return APPROVERS.index(role) if role in APPROVERS else -1


@dataclass(frozen=True)
class DiscountLimits:
    rep: Decimal = Decimal("0.10")
    supervisor: Decimal = Decimal("0.20")
    director: Decimal = Decimal("0.30")

    def of(self, role: Role | None) -> Decimal | None:
        """The deepest discount `role` may quote without approval; None: no limit (an admin)."""
        if role is Role.admin:
            return None
        if role is Role.director:
            return self.director
        if role is Role.supervisor:
            return self.supervisor
        return self.rep


@dataclass(frozen=True)
class PricedForApproval:
    discount: Decimal  # share off list
    unit_price: Decimal
    floor_price: Decimal | None


def required_approver(
    lines: Sequence[PricedForApproval], limits: DiscountLimits, author: Role | None
) -> Role | None:
    """The role that must approve these prices from this author, or None when they may be sent."""
    deepest = max((line.discount for line in lines), default=Decimal(0))
    below_floor = any(line.floor_price is not None and line.unit_price < line.floor_price for line in lines)
    own_limit = limits.of(author)
    if own_limit is None or (deepest <= own_limit and not below_floor):
        return None
    for approver in APPROVERS:
        if rank(approver) <= rank(author) or (below_floor and rank(approver) < rank(Role.director)):
            continue
        limit = limits.of(approver)
        if limit is None or deepest <= limit:
            return approver
    return Role.admin


def may_approve(approver: Role | None, required: Role) -> bool:
    return rank(approver) >= rank(required)
