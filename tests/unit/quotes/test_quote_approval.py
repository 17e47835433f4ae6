"""Who must approve a quote's prices (app/domain/quotes/quote_approval.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.identity.permissions import Role
from app.domain.organization.organization_settings import patched_settings
from app.domain.organization.policy import policy_from_settings
from app.domain.platform.errors import InvalidInput
from app.domain.quotes.quote_approval import (
    DiscountLimits,
    PricedForApproval,
    may_approve,
    required_approver,
)

LIMITS = DiscountLimits()  # rep 10 %, supervisor 20 %, director 30 %


def _line(discount: str, unit_price: str = "90", floor: str | None = None) -> PricedForApproval:
    return PricedForApproval(Decimal(discount), Decimal(unit_price), Decimal(floor) if floor else None)


@pytest.mark.parametrize(
    ("author", "discount", "approver"),
    [
        (Role.rep, "0.10", None),
        (Role.rep, "0.1001", Role.supervisor),
        (Role.rep, "0.25", Role.director),
        (Role.rep, "0.93", Role.admin),
        (None, "0.15", Role.supervisor),  # an API key quotes as a rep
        (Role.supervisor, "0.20", None),
        (Role.supervisor, "0.21", Role.director),
        (Role.director, "0.31", Role.admin),
        (Role.admin, "0.99", None),
    ],
)
def test_the_lowest_role_above_the_author_whose_limit_covers_the_deepest_discount(author, discount, approver):
    lines = [_line("0.05"), _line(discount)]

    assert required_approver(lines, LIMITS, author) == approver


def test_a_price_below_the_floor_needs_a_director_whatever_the_discount():
    below = [_line("0.02", unit_price="98", floor="99")]

    assert required_approver(below, LIMITS, Role.rep) is Role.director
    assert required_approver(below, LIMITS, Role.supervisor) is Role.director
    assert required_approver(below, LIMITS, Role.director) is Role.admin  # nobody approves their own
    assert required_approver([_line("0.02", unit_price="99", floor="99")], LIMITS, Role.rep) is None


def test_an_approver_of_higher_rank_may_approve():
    assert may_approve(Role.director, Role.supervisor)
    assert may_approve(Role.supervisor, Role.supervisor)
    assert not may_approve(Role.supervisor, Role.director)
    assert not may_approve(Role.rep, Role.supervisor)
    assert not may_approve(None, Role.supervisor)


def test_limits_come_from_settings_and_must_rise_with_the_role():
    assert policy_from_settings({}).discount_limits == LIMITS
    settings = {"quote_approval": {"max_discount": {"rep": "0.05", "director": 0.4}}}
    assert policy_from_settings(settings).discount_limits == (
        DiscountLimits(Decimal("0.05"), Decimal("0.20"), Decimal("0.4"))
    )
    for bad in (
        {"max_discount": {"rep": "0.3"}},  # above the supervisor's 0.20
        {"max_discount": {"rep": "1.5"}},
        {"max_discount": {"rep": True}},
        {"max_discount": {"intern": "0.1"}},
        {"max_discount": {"rep": "ten"}},
        [],
    ):
        with pytest.raises(InvalidInput) as refused:
            patched_settings({}, {"quote_approval": bad})
        assert all(e.field.startswith("settings.quote_approval") for e in refused.value.errors)
