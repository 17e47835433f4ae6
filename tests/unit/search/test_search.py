"""The global search's pure rules: a phone number typed any way, and the ranking bands."""

from __future__ import annotations

import pytest

from app.domain.platform.custom_fields import FieldDefinition, FieldType, from_cells
from app.domain.platform.search import MatchKind, exact_phone, phone_digits, score


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("138 0013 8000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("+86 138 0013 8000", "8613800138000"),
        ("0086 138 0013 8000", "8613800138000"),
        ("(021) 5080.1234", "2150801234"),
        ("8000", "8000"),
        ("80", None),  # too short to mean a number
        ("申华", None),
        ("C000123", None),
        ("li.na@example.com", None),
    ],
)
def test_phone_digits_are_what_the_stored_e164_form_contains(typed, digits):
    assert phone_digits(typed) == digits
    if digits is not None and typed != "8000" and "021" not in typed:
        assert digits in "+8613800138000"


def test_an_exact_phone_is_a_whole_valid_number():
    assert exact_phone("138-0013-8000") == "+8613800138000"
    assert exact_phone("+86 21 5080 1234") == "+862150801234"
    assert exact_phone("0013 8000") is None
    assert exact_phone("申华 13800138000") is None


def test_the_bands_never_overlap():
    long_name = "上海申华建材有限公司华东分公司第三项目部"
    worst_exact = score(MatchKind.exact, "C1", long_name)
    best_prefix = score(MatchKind.name_prefix, "申华", "申华")
    worst_prefix = score(MatchKind.name_prefix, "申", long_name)
    best_substring = score(MatchKind.substring, "华建", "华建")
    assert worst_exact > best_prefix >= worst_prefix > best_substring
    assert 0 < score(MatchKind.substring, "a", long_name) < score(MatchKind.substring, "a", "ab") <= 100
    assert score(MatchKind.exact, "C000123", "C000123") <= 100


def test_spreadsheet_cells_become_booleans_only_for_boolean_fields():
    definitions = [FieldDefinition("signed", FieldType.boolean), FieldDefinition("note", FieldType.text)]
    cells = {"signed": "是", "note": "yes"}
    assert from_cells(cells, definitions) == {"signed": True, "note": "yes"}
    assert from_cells({"signed": "FALSE"}, definitions) == {"signed": False}
    assert from_cells({"signed": "maybe"}, definitions) == {"signed": "maybe"}
