"""Quote pricing: Decimal totals and rounding, validation, the price-spread audit and the quote life cycle."""

from __future__ import annotations

import itertools
import uuid
from decimal import Decimal, localcontext

import pytest

from app.domain.organization.organization_settings import patched_settings
from app.domain.organization.policy import policy_from_settings
from app.domain.platform.errors import Conflict, InvalidInput
from app.domain.quotes.quotes import (
    DEFAULT_SPREAD_LIMIT,
    MAX_LINES,
    MONEY,
    SPREAD_CAP,
    LineInput,
    PeerPrice,
    PricedLine,
    PriceSpreadAlert,
    QuoteStatus,
    QuoteTotals,
    check_editable,
    check_transition,
    price_lines,
    price_spread_alerts,
)

STEEL = uuid.UUID("00000000-0000-4000-8000-000000000001")
CEMENT = uuid.UUID("00000000-0000-4000-8000-000000000002")
REP_A = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
REP_B = uuid.UUID("00000000-0000-4000-8000-0000000000b2")
REP_C = uuid.UUID("00000000-0000-4000-8000-0000000000c3")
QUOTE_A = uuid.UUID("00000000-0000-4000-8000-00000000aa01")
QUOTE_B = uuid.UUID("00000000-0000-4000-8000-00000000bb02")
QUOTE_C = uuid.UUID("00000000-0000-4000-8000-00000000cc03")


def line(
    unit: str, quantity: str = "1", list_price: str | None = None, product: uuid.UUID = STEEL
) -> LineInput:
    return LineInput(
        product_id=product,
        list_price=Decimal(list_price if list_price is not None else unit),
        unit_price=Decimal(unit),
        quantity=Decimal(quantity),
    )


def priced(unit: str, product: uuid.UUID = STEEL) -> PricedLine:
    return PricedLine(
        product_id=product,
        list_price=Decimal(unit),
        unit_price=Decimal(unit),
        quantity=Decimal("1.000"),
        discount=Decimal("0.0000"),
        amount=Decimal(unit).quantize(MONEY),
    )


def field_errors(exc: pytest.ExceptionInfo[InvalidInput]) -> list[tuple[str, str]]:
    return [(error.field, error.code) for error in exc.value.errors]


def test_three_lines_of_a_tenth_times_three_total_exactly_ninety_fen():
    # In floats 0.1 * 3 summed three times is 0.9000000000000001.
    lines, totals = price_lines([line("0.1", "3"), line("0.1", "3"), line("0.1", "3")])

    assert [str(priced_line.amount) for priced_line in lines] == ["0.30", "0.30", "0.30"]
    assert totals == QuoteTotals(
        list_total=Decimal("0.90"), total=Decimal("0.90"), discount_total=Decimal("0.00")
    )
    assert str(totals.total) == "0.90"


def test_fractional_quantity_amount_is_rounded_to_the_fen():
    lines, totals = price_lines([line("19.99", "3.333", list_price="21.50")])

    # 19.99 * 3.333 = 66.62667; 21.50 * 3.333 = 71.6595.
    assert lines[0].amount == Decimal("66.63")
    assert totals.list_total == Decimal("71.66")
    assert totals.discount_total == Decimal("5.03")
    assert lines[0].quantity == Decimal("3.333")


@pytest.mark.parametrize(
    ("unit", "quantity", "amount"),
    [
        # round(1.005, 2) and round(4.015, 2) are 1.0 and 4.01 in floats: the binary values sit just below.
        ("1.005", "1", "1.01"),
        ("4.015", "1", "4.02"),
        ("2.675", "1", "2.68"),
        # Half-even (Decimal's default) would give 0.12 and 0.00.
        ("0.125", "1", "0.13"),
        ("0.0025", "2", "0.01"),
        ("0.0024", "2", "0.00"),
    ],
)
def test_amounts_round_half_up_at_half_a_fen(unit, quantity, amount):
    lines, totals = price_lines([line(unit, quantity)])

    assert str(lines[0].amount) == amount
    assert str(totals.total) == amount


def test_lines_add_up_exactly_to_the_total():
    # Each 0.0025 * 2 = 0.005 rounds up to 0.01; rounding the exact sum (0.015) once would give 0.02.
    lines, totals = price_lines([line("0.0025", "2"), line("0.0025", "2"), line("0.0025", "2")])

    assert sum(priced_line.amount for priced_line in lines) == totals.total == Decimal("0.03")


def test_a_quote_priced_at_list_shows_no_discount():
    # Rounding the exact list sum once (0.010 -> 0.01) against a total of two rounded fen would show -0.01.
    _, totals = price_lines([line("0.005"), line("0.005")])

    assert totals == QuoteTotals(
        list_total=Decimal("0.02"), total=Decimal("0.02"), discount_total=Decimal("0.00")
    )


def test_totals_over_several_lines_and_products():
    lines, totals = price_lines(
        [
            line("4200", "12.5", list_price="4500"),  # steel, tons
            line("380.5", "40", list_price="400", product=CEMENT),
            line("4600", "2", list_price="4500"),  # the same steel again, above list
        ]
    )

    assert [priced_line.amount for priced_line in lines] == [
        Decimal("52500.00"),
        Decimal("15220.00"),
        Decimal("9200.00"),
    ]
    assert totals.list_total == Decimal("56250.00") + Decimal("16000.00") + Decimal("9000.00")
    assert totals.total == Decimal("76920.00")
    assert totals.discount_total == Decimal("4330.00")


def test_unit_prices_are_rounded_half_up_to_four_decimals_and_quantities_kept_to_three():
    lines, totals = price_lines([line("12.34565", "12.5", list_price="12.34564")])

    assert lines[0].unit_price == Decimal("12.3457")
    assert lines[0].list_price == Decimal("12.3456")
    assert str(lines[0].quantity) == "12.500"
    # 12.3457 * 12.5 = 154.32125
    assert lines[0].amount == Decimal("154.32")
    assert totals.total == Decimal("154.32")


def test_pricing_ignores_a_low_precision_caller_context():
    with localcontext() as context:
        context.prec = 5
        lines, totals = price_lines([line("123456.78", "3")])

    assert lines[0].amount == Decimal("370370.34")
    assert totals.total == Decimal("370370.34")


@pytest.mark.parametrize(
    ("list_price", "unit", "discount"),
    [
        ("100", "85", "0.1500"),
        ("100", "100", "0.0000"),
        ("100", "0", "1.0000"),
        ("3", "2", "0.3333"),
        # 1 - 1/3 = 0.66666...: rounds up.
        ("3", "1", "0.6667"),
        # Above list: a negative discount.
        ("100", "120", "-0.2000"),
        ("4500", "4600", "-0.0222"),
        # No list price to discount from.
        ("0", "5", "0.0000"),
        ("0", "0", "0.0000"),
    ],
)
def test_discount_is_the_share_off_list(list_price, unit, discount):
    lines, _ = price_lines([line(unit, "2", list_price=list_price)])

    assert str(lines[0].discount) == discount


def test_a_discount_that_rounds_to_zero_has_no_minus_sign():
    # 1 - 10000.4 / 10000 = -0.00004
    lines, _ = price_lines([line("10000.4", "1", list_price="10000")])

    assert str(lines[0].discount) == "0.0000"


def test_every_bad_field_is_reported_at_once_with_its_path():
    lines = [
        line("10", "1"),  # fine
        LineInput(STEEL, list_price=Decimal("-1"), unit_price=Decimal("-0.01"), quantity=Decimal("0")),
        LineInput(STEEL, list_price=10.5, unit_price=Decimal("NaN"), quantity=Decimal("1.2345")),  # type: ignore[arg-type]
        LineInput(CEMENT, list_price=Decimal("10"), unit_price=Decimal("9"), quantity=Decimal("-3")),
        LineInput(CEMENT, list_price=Decimal("10"), unit_price=True, quantity="2"),  # type: ignore[arg-type]
    ]

    with pytest.raises(InvalidInput) as exc:
        price_lines(lines)

    assert exc.value.code == "quote.invalid"
    assert field_errors(exc) == [
        ("lines[1].list_price", "value.out_of_range"),
        ("lines[1].unit_price", "value.out_of_range"),
        ("lines[1].quantity", "value.out_of_range"),
        ("lines[2].list_price", "number.invalid"),
        ("lines[2].unit_price", "number.invalid"),
        ("lines[2].quantity", "number.precision"),
        ("lines[3].quantity", "value.out_of_range"),
        ("lines[4].unit_price", "number.invalid"),
        ("lines[4].quantity", "number.invalid"),
    ]
    messages = {error.field: error.message for error in exc.value.errors}
    assert messages["lines[1].quantity"] == "must be more than zero"
    assert messages["lines[1].list_price"] == "must be zero or more"
    assert messages["lines[2].list_price"] == "must be a decimal number, not float"
    assert messages["lines[2].unit_price"] == "must be a finite number"


def test_zero_prices_are_allowed_and_int_prices_are_exact():
    lines, totals = price_lines(
        [
            LineInput(STEEL, list_price=Decimal("0"), unit_price=Decimal("0"), quantity=Decimal("5")),
            LineInput(CEMENT, list_price=7, unit_price=7, quantity=3),  # type: ignore[arg-type]
        ]
    )

    assert [priced_line.amount for priced_line in lines] == [Decimal("0.00"), Decimal("21.00")]
    assert totals.total == Decimal("21.00")


def test_quantities_with_trailing_zeros_beyond_three_places_are_fine():
    lines, _ = price_lines([line("10", "2.50000")])

    assert str(lines[0].quantity) == "2.500"
    assert lines[0].amount == Decimal("25.00")


def test_a_quote_needs_at_least_one_line():
    with pytest.raises(InvalidInput) as exc:
        price_lines([])

    assert exc.value.code == "quote.invalid"
    assert field_errors(exc) == [("lines", "missing")]


def test_two_hundred_lines_are_the_most_a_quote_takes():
    lines, totals = price_lines([line("1.5", "2")] * MAX_LINES)

    assert MAX_LINES == 200
    assert len(lines) == 200
    assert totals.total == Decimal("600.00")

    with pytest.raises(InvalidInput) as exc:
        price_lines([line("1.5", "2")] * 201)
    assert field_errors(exc) == [("lines", "too_many")]
    assert exc.value.errors[0].message == "at most 200 lines; got 201"


def test_too_many_lines_and_bad_lines_are_reported_together():
    lines = [line("1", "1")] * 200 + [line("1", "0")]

    with pytest.raises(InvalidInput) as exc:
        price_lines(lines)

    assert field_errors(exc) == [("lines", "too_many"), ("lines[200].quantity", "value.out_of_range")]


def test_values_the_quote_columns_cannot_hold_are_refused_as_fields():
    lines = [
        line("100000000000000", "1"),  # unit and list price: 1e14
        line("99999999999999.99995", "1", list_price="1"),  # rounds up onto the limit
        line("1", "1000000000000000"),  # quantity 1e15
        line("10000000000", "1000000", list_price="1"),  # 1e16 amount; discount under -99999.9999
        line("10000000000", "1000000"),  # 1e16 amount at list
        line("1", "1", list_price="0.00001"),  # list rounds to 0: discount 0, not -100000
    ]

    with pytest.raises(InvalidInput) as exc:
        price_lines(lines)

    assert field_errors(exc) == [
        ("lines[0].list_price", "value.out_of_range"),
        ("lines[0].unit_price", "value.out_of_range"),
        ("lines[1].unit_price", "value.out_of_range"),
        ("lines[2].quantity", "value.out_of_range"),
        ("lines[3].unit_price", "value.out_of_range"),
        ("lines[4]", "value.out_of_range"),
    ]


def test_a_quote_total_the_column_cannot_hold_is_refused():
    with pytest.raises(InvalidInput) as exc:
        price_lines([line("9000000000", "1000000")] * 2)

    assert field_errors(exc) == [("lines", "value.out_of_range")]


# The seed story: the same customer was quoted 100, 118 and 129 for the same steel by three reps.
SEED_PEERS = {
    STEEL: [
        PeerPrice(QUOTE_A, REP_A, Decimal("100.0000")),
        PeerPrice(QUOTE_B, REP_B, Decimal("118.0000")),
    ]
}


def test_the_seed_story_alerts_against_the_farthest_peer():
    alerts = price_spread_alerts([priced("129.0000")], SEED_PEERS, DEFAULT_SPREAD_LIMIT)

    assert alerts == [
        PriceSpreadAlert(
            product_id=STEEL,
            unit_price=Decimal("129.0000"),
            peer_quote_id=QUOTE_A,
            peer_rep_id=REP_A,
            peer_unit_price=Decimal("100.0000"),
            spread=Decimal("0.2900"),
            limit=Decimal("0.10"),
        )
    ]


@pytest.mark.parametrize(
    ("unit", "peer_prices", "expected_peer", "spread"),
    [
        # 118 vs 100 is 18 %, vs 129 only 11 / 118 = 9.3 %.
        ("118", ["100", "129"], "100", "0.1800"),
        # The cheapest quote is 29 % below the dearest.
        ("100", ["118", "129"], "129", "0.2900"),
        # Farthest by spread, not by yuan: 137 is 19 yuan away but 19 / 118 = 16.1 %; 100 is 18 / 100.
        ("118", ["137", "100"], "100", "0.1800"),
        # A tie keeps the first peer: 80 and 125 are both 25 % from 100.
        ("100", ["80", "125"], "80", "0.2500"),
        ("100", ["125", "80"], "125", "0.2500"),
    ],
)
def test_the_farthest_peer_by_spread_is_chosen(unit, peer_prices, expected_peer, spread):
    peers = {
        STEEL: [
            PeerPrice(quote_id, rep_id, Decimal(price))
            for quote_id, rep_id, price in zip([QUOTE_A, QUOTE_B], [REP_A, REP_C], peer_prices, strict=True)
        ]
    }

    [alert] = price_spread_alerts([priced(unit)], peers, Decimal("0.10"))

    assert alert.peer_unit_price == Decimal(expected_peer)
    assert alert.spread == Decimal(spread)


def test_a_spread_exactly_at_the_limit_does_not_alert():
    peers = {STEEL: [PeerPrice(QUOTE_A, REP_A, Decimal("100"))]}

    assert price_spread_alerts([priced("110")], peers, Decimal("0.10")) == []
    assert price_spread_alerts([priced("90.9091")], peers, Decimal("0.10")) == []  # 9.0909 / 90.9091 = 0.1000
    # Rounds to 0.1000: an alert would report a spread equal to its limit.
    assert price_spread_alerts([priced("110.0004")], peers, Decimal("0.10")) == []
    [alert] = price_spread_alerts([priced("110.01")], peers, Decimal("0.10"))
    assert alert.spread == Decimal("0.1001")


def test_within_the_limit_there_is_no_alert():
    assert price_spread_alerts([priced("118")], SEED_PEERS, Decimal("0.18")) == []
    assert price_spread_alerts([priced("129")], SEED_PEERS, Decimal("0.30")) == []


def test_a_zero_price_against_a_non_zero_one_alerts_with_the_capped_spread():
    peers = {STEEL: [PeerPrice(QUOTE_A, REP_A, Decimal("50.0000"))]}

    [free_line] = price_spread_alerts([priced("0.0000")], peers, Decimal("0.10"))
    assert free_line.spread == SPREAD_CAP == Decimal("99.9999")
    assert free_line.peer_unit_price == Decimal("50.0000")

    free_peer = {STEEL: [PeerPrice(QUOTE_A, REP_A, Decimal("0.0000"))]}
    [alert] = price_spread_alerts([priced("50.0000")], free_peer, Decimal("0.10"))
    assert alert.spread == Decimal("99.9999")

    # Even the loosest limit an organization can set is below the cap.
    assert len(price_spread_alerts([priced("0")], peers, Decimal("10"))) == 1


def test_two_zero_prices_do_not_alert_and_do_not_hide_a_real_gap():
    zero_peer = PeerPrice(QUOTE_A, REP_A, Decimal("0"))

    assert price_spread_alerts([priced("0")], {STEEL: [zero_peer]}, Decimal("0.10")) == []

    peers = {STEEL: [zero_peer, PeerPrice(QUOTE_B, REP_B, Decimal("5"))]}
    [alert] = price_spread_alerts([priced("0")], peers, Decimal("0.10"))
    assert alert.peer_quote_id == QUOTE_B


def test_huge_finite_spreads_are_capped_too():
    peers = {STEEL: [PeerPrice(QUOTE_A, REP_A, Decimal("0.0001"))]}

    [alert] = price_spread_alerts([priced("1000000")], peers, Decimal("0.10"))

    assert alert.spread == Decimal("99.9999")


def test_one_alert_per_line_and_one_per_line_of_a_repeated_product():
    peers = {
        STEEL: [
            PeerPrice(QUOTE_A, REP_A, Decimal("100")),
            PeerPrice(QUOTE_B, REP_B, Decimal("118")),
            PeerPrice(QUOTE_C, REP_C, Decimal("70")),
        ],
        CEMENT: [PeerPrice(QUOTE_A, REP_A, Decimal("400"))],
    }
    lines = [priced("150"), priced("130"), priced("405", product=CEMENT), priced("9", product=uuid.uuid4())]

    alerts = price_spread_alerts(lines, peers, Decimal("0.10"))

    assert [(alert.unit_price, alert.peer_quote_id, alert.spread) for alert in alerts] == [
        (Decimal("150"), QUOTE_C, Decimal("1.1429")),
        (Decimal("130"), QUOTE_C, Decimal("0.8571")),
    ]


def test_no_peers_no_alerts():
    assert price_spread_alerts([priced("129")], {}, Decimal("0.10")) == []
    assert price_spread_alerts([priced("129")], {STEEL: []}, Decimal("0.10")) == []
    assert price_spread_alerts([], SEED_PEERS, Decimal("0.10")) == []


def test_alert_as_dict_is_all_plain_strings():
    [alert] = price_spread_alerts(
        [priced("129.0000")],
        {STEEL: [PeerPrice(QUOTE_A, REP_A, Decimal("1E+2"))]},
        Decimal("0.1000"),
    )

    assert alert.as_dict() == {
        "product_id": "00000000-0000-4000-8000-000000000001",
        "unit_price": "129.0000",
        "peer_quote_id": "00000000-0000-4000-8000-00000000aa01",
        "peer_rep_id": "00000000-0000-4000-8000-0000000000a1",
        "peer_unit_price": "100",
        "spread": "0.2900",
        "limit": "0.1000",
    }


def test_priced_lines_feed_the_spread_audit():
    lines, _ = price_lines([line("129", "10", list_price="130")])

    [alert] = price_spread_alerts(lines, SEED_PEERS, DEFAULT_SPREAD_LIMIT)

    assert alert.as_dict()["unit_price"] == "129.0000"
    assert alert.spread == Decimal("0.2900")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.15", "0.15"),
        (0.15, "0.15"),
        (Decimal("0.15"), "0.15"),
        ("0.10", "0.10"),
        (0.1, "0.1"),
        (1, "1"),
        ("10", "10"),
        (10.0, "10"),
        ("0.0001", "0.0001"),
        # Float noise is rounded away at the precision spreads are compared at.
        (0.1 + 0.2, "0.3"),
        ("0.123456", "0.1235"),
        # Read as the float's repr, 0.00015 rounds up; its binary value (0.000149999...) would round down.
        (0.00015, "0.0002"),
    ],
)
def test_the_spread_limit_setting_accepts_shares(raw, expected):
    limit = policy_from_settings({"price_spread_limit": raw}).price_spread_limit

    assert isinstance(limit, Decimal)
    assert limit == Decimal(expected)


@pytest.mark.parametrize(
    "raw",
    [
        0,
        -1,
        "abc",
        True,
        False,
        "",
        "NaN",
        "Infinity",
        float("inf"),
        "-0.1",
        "10.0001",
        11,
        "0.00004",
        [0.1],
    ],
)
def test_the_spread_limit_setting_refuses_everything_else(raw):
    with pytest.raises(InvalidInput) as exc:
        patched_settings({}, {"price_spread_limit": raw})

    assert exc.value.code == "organization.settings_invalid"
    assert {error.field for error in exc.value.errors} == {"settings.price_spread_limit"}


def test_default_spread_limit_is_ten_percent():
    assert str(DEFAULT_SPREAD_LIMIT) == "0.10"
    assert policy_from_settings({}).price_spread_limit == DEFAULT_SPREAD_LIMIT


ALLOWED = {
    (QuoteStatus.draft, QuoteStatus.sent),
    (QuoteStatus.sent, QuoteStatus.accepted),
    (QuoteStatus.sent, QuoteStatus.rejected),
    (QuoteStatus.sent, QuoteStatus.draft),
}
REFUSED = sorted(set(itertools.product(QuoteStatus, repeat=2)) - ALLOWED)


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_transitions(current, target):
    assert check_transition(current, target) is None


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_refused_transitions_name_both_statuses(current, target):
    with pytest.raises(Conflict) as exc:
        check_transition(current, target)

    assert exc.value.code == "quote.transition"
    assert exc.value.detail == f"A quote cannot go from {current.value} to {target.value}."


def test_refused_transitions_cover_the_rest_of_the_grid():
    # 5 x 5 pairs less the 4 allowed; pending_approval is left only by an approver's decision.
    assert len(REFUSED) == 21
    assert (QuoteStatus.pending_approval, QuoteStatus.sent) in REFUSED
    assert (QuoteStatus.draft, QuoteStatus.pending_approval) in REFUSED
    assert (QuoteStatus.accepted, QuoteStatus.draft) in REFUSED
    assert (QuoteStatus.draft, QuoteStatus.accepted) in REFUSED
    assert (QuoteStatus.draft, QuoteStatus.draft) in REFUSED


def test_only_unsent_quotes_are_editable():
    assert check_editable(QuoteStatus.draft) is None
    assert check_editable(QuoteStatus.pending_approval) is None
    for status in (QuoteStatus.sent, QuoteStatus.accepted, QuoteStatus.rejected):
        with pytest.raises(Conflict) as exc:
            check_editable(status)
        assert exc.value.code == "quote.not_editable"
        assert status.value in exc.value.detail


def test_quote_status_values():
    assert [status.value for status in QuoteStatus] == [
        "draft",
        "pending_approval",
        "sent",
        "accepted",
        "rejected",
    ]
