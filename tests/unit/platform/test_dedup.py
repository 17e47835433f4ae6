"""De-duplication keys: phone, e-mail and company normalisation, fuzzy company matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.platform.dedup import (
    CustomerKeys,
    company_similarity,
    comparable_name_key,
    customer_keys,
    find_similar_companies,
    normalise_company,
    normalise_email,
    normalise_phone,
    normalise_uscc,
    prefix_range,
)
from app.domain.platform.errors import InvalidInput


@pytest.mark.parametrize(
    "raw",
    [
        "138-0013-8000",
        "+86 13800138000",
        "8613800138000",
        "(0086) 138 0013 8000",
        "13800138000",
        "+86-138 0013 8000",
    ],
)
def test_one_mobile_number_in_every_common_notation(raw):
    assert normalise_phone(raw) == "+8613800138000"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("021-6234 5678", "+862162345678"),
        ("010 8888 6666", "+861088886666"),
        ("+1 (650) 253-0000", "+16502530000"),
        ("12", None),
        ("12345", None),
        ("abc", None),
        ("1380013800", None),  # one digit short
        ("", None),
    ],
)
def test_landlines_foreign_numbers_and_garbage(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Zhang.Wei@Example.COM", "zhang.wei@example.com"),
        ("  li.na@shenhua.cn ", "li.na@shenhua.cn"),
        ("not-an-email", None),
        ("a@b", None),
        ("two@@example.com", None),
    ],
)
def test_email_normalisation(raw, expected):
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("上海申华建材有限公司", "上海申华建材"),
        ("上海申华建材股份有限公司", "上海申华建材"),
        ("上海申华建材集团有限公司", "上海申华建材"),
        ("（上海）申华建材", "上海申华建材"),
        ("ＡＣＭＥ　Ｃｏ．，Ｌｔｄ．", "acme"),
        ("ACME Co., Ltd.", "acme"),
        ("Acme Limited", "acme"),
        ("Acme Inc.", "acme"),
        ("公司", "公司"),  # a name that is only a suffix is kept
    ],
)
def test_company_normalisation_strips_legal_forms_and_punctuation(name, expected):
    assert normalise_company(name) == expected


@given(st.text(max_size=40))
def test_company_normalisation_is_idempotent(name):
    once = normalise_company(name)
    assert normalise_company(once) == once


@given(st.text(alphabet="0123456789 +-()", max_size=20))
def test_phone_normalisation_is_idempotent(raw):
    once = normalise_phone(raw)
    if once is not None:
        assert normalise_phone(once) == once


def test_similarity_separates_same_company_from_same_trade_elsewhere():
    assert company_similarity("上海申华建材有限公司", "上海申华建材股份有限公司") == 100
    assert company_similarity("上海申华建材", "上海申华建材厂") >= 90
    assert company_similarity("北京建材", "上海建材") < 90
    assert company_similarity("ACME Co., Ltd.", "Acme Limited") == 100


def test_find_similar_companies_orders_by_score_and_applies_threshold():
    candidates = [(1, "上海申华建材"), (2, "上海申华建材厂"), (3, "北京燕山水泥")]
    matches = find_similar_companies("上海申华建材", candidates, threshold=90, limit=5)
    assert [m.key for m in matches] == [1, 2]
    assert matches[0].score == 100
    assert find_similar_companies("", candidates, threshold=90, limit=5) == []
    assert find_similar_companies("上海申华建材", [], threshold=90, limit=5) == []


@given(prefix=st.text(min_size=1, max_size=4), rest=st.text(max_size=6), other=st.text(max_size=10))
def test_prefix_range_holds_exactly_the_strings_with_that_prefix(prefix, rest, other):
    low, high = prefix_range(prefix)

    def inside(text: str) -> bool:
        # UTF-8 bytes compare as SQLite and a "C" collation do.
        encoded = text.encode("utf-8", "surrogatepass")
        above = encoded >= low.encode("utf-8", "surrogatepass")
        return above and (high is None or encoded < high.encode("utf-8", "surrogatepass"))

    assert inside(prefix + rest)
    assert inside(other) is other.startswith(prefix)


def test_prefix_range_skips_surrogates_and_stops_at_the_last_code_point():
    assert prefix_range("上海申") == ("上海申", "上海甴")
    assert prefix_range("a\ud7ff") == ("a\ud7ff", "a\ue000")
    assert prefix_range("a\U0010ffff") == ("a\U0010ffff", "b")
    assert prefix_range("\U0010ffff") == ("\U0010ffff", None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("91310115MA1K3YJ877", "91310115MA1K3YJ877"),
        ("91110000802100433B", "91110000802100433B"),
        ("91110000802100433b", "91110000802100433B"),  # lower case is read, stored upper
        (" 9111 0000 8021 0043 3B ", "91110000802100433B"),  # spaces as people type them
        ("91110000802100433A", None),  # wrong check character
        ("9111000080210043", None),  # 16 characters
        ("91110000802100433BB", None),  # 19 characters
        ("91110000802I00433B", None),  # I is not in the alphabet (nor O, S, V, Z)
    ],
)
def test_unified_social_credit_codes_are_read_by_gb_32100(raw, expected):
    assert normalise_uscc(raw) == expected


def test_customer_keys_name_every_unreadable_field_at_once():
    with pytest.raises(InvalidInput) as refused:
        customer_keys("申华建材", uscc="91110000802100433A", phone="123", email="not-an-address")

    assert [e.field for e in refused.value.errors] == ["uscc", "phone", "email"]


def test_customer_keys_normalise_like_leads_and_keep_a_legacy_mark_out_of_comparisons():
    keys = customer_keys("上海申华建材股份有限公司", uscc="91110000802100433b", phone="138-0013-8000")

    assert keys == CustomerKeys(name="上海申华建材", uscc="91110000802100433B", phone="+8613800138000")
    assert comparable_name_key("上海申华建材#C000007") == "上海申华建材"
