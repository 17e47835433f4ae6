"""The rules of web-to-lead intake as plain values: which mappings fit the lead, how a submission's
text becomes the lead's values, and the honeypot."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.leads.intake import (
    check_mapping,
    in_form_terms,
    is_honeypot_filled,
    map_submission,
)
from app.domain.platform.custom_fields import FieldDefinition, FieldType
from app.domain.platform.errors import FieldError, InvalidInput

CUSTOM = [
    FieldDefinition(key="site_area", type=FieldType.number),
    FieldDefinition(key="has_drawings", type=FieldType.boolean),
]
MAPPING = {
    "n": "name",
    "m": "phone",
    "b": "budget",
    "a": "custom_fields.site_area",
    "d": "custom_fields.has_drawings",
}


def _errors(exc: pytest.ExceptionInfo[InvalidInput]) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in exc.value.errors]


def test_a_fitting_mapping_passes() -> None:
    check_mapping(MAPPING, CUSTOM, honeypot_field="website")


@pytest.mark.parametrize(
    ("mapping", "honeypot", "expected"),
    [
        (
            {"n": "name", "m": "mobile"},
            None,
            [("field_mapping.m", "intake.unknown_lead_field"), ("field_mapping", "intake.contact_unmapped")],
        ),
        (
            {"n": "name", "m": "phone", "x": "custom_fields.nope"},
            None,
            [("field_mapping.x", "intake.unknown_lead_field")],
        ),
        ({"n": "name", "m": "phone", "p": "phone"}, None, [("field_mapping", "intake.target_repeated")]),
        ({"m": "phone"}, None, [("field_mapping", "intake.name_unmapped")]),
        (
            {"n": "name", "m": "phone", "website": "notes"},
            "website",
            [("field_mapping.website", "intake.reserved_field")],
        ),
        (
            {"n": "name", "m": "phone", "captcha_token": "notes"},
            None,
            [("field_mapping.captcha_token", "intake.reserved_field")],
        ),
    ],
)
def test_a_mapping_that_does_not_fit_names_each_fault(
    mapping: dict[str, str], honeypot: str | None, expected: list[tuple[str, str]]
) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_mapping(mapping, CUSTOM, honeypot_field=honeypot)
    assert refused.value.code == "intake.mapping_invalid"
    assert _errors(refused) == expected


def test_a_submission_maps_to_lead_values_and_custom_fields() -> None:
    mapped = map_submission(
        {"n": " 张伟 ", "m": "13800138000", "b": "250,000.5", "a": "1200", "d": "on", "extra": "ignored"},
        MAPPING,
        CUSTOM,
    )
    assert mapped.values == {"name": "张伟", "phone": "13800138000", "budget": Decimal("250000.50")}
    assert mapped.custom_fields == {"site_area": "1200", "has_drawings": True}


@pytest.mark.parametrize("budget", ["lots", "-1", "1e13", "NaN", "Infinity"])
def test_a_budget_that_is_no_amount_is_refused_naming_the_form_field(budget: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        map_submission({"n": "张伟", "b": budget}, MAPPING, CUSTOM)
    assert _errors(refused) == [("b", "invalid")]


def test_an_empty_name_and_an_overlong_value_are_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        map_submission({"n": "  ", "m": "1" * 33}, MAPPING, CUSTOM)
    assert _errors(refused) == [("m", "too_long"), ("n", "missing")]


def test_the_honeypot_counts_only_when_filled() -> None:
    assert is_honeypot_filled({"website": "http://spam"}, "website")
    assert not is_honeypot_filled({"website": "  "}, "website")
    assert not is_honeypot_filled({"website": "http://spam"}, None)


def test_a_refusal_of_the_lead_names_the_form_fields() -> None:
    refusal = InvalidInput("bad", code="contact.invalid", errors=[FieldError("phone", "phone.invalid", "no")])
    assert [e.field for e in in_form_terms(refusal, MAPPING).errors] == ["m"]
