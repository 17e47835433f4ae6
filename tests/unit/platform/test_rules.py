"""Pure rules: geo distance, follow-up effectiveness, tiers, codes, custom fields, import rows, cursors,
red/yellow/green thresholds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.activities.activities import (
    ActivityType,
    CallOutcome,
    FollowUpRule,
    check_occurred_at,
    is_effective_follow_up,
)
from app.domain.activities.geo import GeoPoint, distance_m, is_geo_mismatch
from app.domain.customers.customer_tier import (
    Tier,
    TierThresholds,
    format_customer_code,
    tier_for_annual_purchase,
)
from app.domain.identity.permissions import API_KEY_SCOPES, Permission, Role, role_allows
from app.domain.imports.import_mapping import (
    LEAD_COLUMNS,
    parse_row,
    resolve_columns,
    unknown_mapping_targets,
)
from app.domain.leads.lead_fields import LEAD_FIELDS
from app.domain.leads.leads import LeadSource
from app.domain.organization.organization_settings import patched_settings
from app.domain.organization.policy import policy_from_settings
from app.domain.platform.custom_fields import FieldDefinition, FieldType, validate_custom_fields
from app.domain.platform.errors import InvalidInput
from app.domain.sla.sla import RagStatus, RagThresholds, rag_status
from app.services.platform.pagination import SortOrder, decode_cursor, encode_cursor

latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)


def test_known_distances():
    # One degree along a meridian on the mean-radius sphere: pi / 180 * 6,371,008.8 m.
    assert distance_m(0, 0, 1, 0) == pytest.approx(111_195.08, abs=0.01)
    # Beijing Tiananmen to Shanghai People's Square: about 1,067 km great-circle.
    assert distance_m(39.9042, 116.4074, 31.2304, 121.4737) == pytest.approx(1_067_000, rel=0.01)


@given(latitudes, longitudes, latitudes, longitudes)
def test_distance_is_symmetric_non_negative_and_zero_for_the_same_point(lat1, lng1, lat2, lng2):
    assert distance_m(lat1, lng1, lat2, lng2) == pytest.approx(distance_m(lat2, lng2, lat1, lng1), abs=1e-6)
    assert distance_m(lat1, lng1, lat2, lng2) >= 0
    assert distance_m(lat1, lng1, lat1, lng1) == pytest.approx(0, abs=1e-6)


def test_geo_mismatch_and_coordinate_ranges():
    customer = GeoPoint(31.2035, 121.5914)
    assert not is_geo_mismatch(GeoPoint(31.2036, 121.5912), customer, 1000)
    assert is_geo_mismatch(GeoPoint(31.3, 121.5914), customer, 1000)
    assert not is_geo_mismatch(GeoPoint(0, 0), None, 1000)
    with pytest.raises(InvalidInput):
        GeoPoint(91, 0)


@pytest.mark.parametrize(
    ("activity_type", "points", "outcome", "expected"),
    [
        (ActivityType.visit, ["needs", "budget", "timeline"], None, True),
        (ActivityType.visit, ["needs", "budget"], None, False),
        (ActivityType.call, [], CallOutcome.connected, True),
        (ActivityType.call, [], CallOutcome.no_answer, False),
        (ActivityType.note, ["needs", "budget", "timeline", "competitors"], None, False),
        (ActivityType.meeting, ["needs", "needs", "unknown", "budget"], None, False),
    ],
)
def test_effective_follow_up(activity_type, points, outcome, expected):
    assert is_effective_follow_up(activity_type, points, outcome, FollowUpRule()) is expected


def test_connected_calls_can_be_switched_off_and_threshold_changed():
    rule = FollowUpRule(min_info_points=1, connected_call_counts=False)
    assert not is_effective_follow_up(ActivityType.call, [], CallOutcome.connected, rule)
    assert is_effective_follow_up(ActivityType.call, ["needs"], CallOutcome.connected, rule)


def test_occurred_at_at_most_five_minutes_ahead():
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    check_occurred_at(now + timedelta(minutes=5), now)
    check_occurred_at(now - timedelta(days=3), now)
    with pytest.raises(InvalidInput) as raised:
        check_occurred_at(now + timedelta(minutes=5, seconds=1), now)
    assert raised.value.errors[0].field == "occurred_at"


@pytest.mark.parametrize(
    ("amount", "tier"),
    [("500000", Tier.A), ("499999.99", Tier.B), ("100000", Tier.B), ("99999", Tier.C), ("0", Tier.C)],
)
def test_tier_boundaries_are_inclusive(amount, tier):
    assert tier_for_annual_purchase(Decimal(amount), TierThresholds()) is tier


def test_tier_thresholds_must_be_ordered():
    with pytest.raises(InvalidInput):
        TierThresholds(a_min=Decimal("100"), b_min=Decimal("100"))


def test_customer_codes_pad_to_six_digits_and_grow_beyond():
    assert format_customer_code(123) == "C000123"
    assert format_customer_code(1_234_567) == "C1234567"


def test_custom_fields_report_every_problem():
    definitions = [
        FieldDefinition("credit_days", FieldType.number, is_required=True),
        FieldDefinition("channel", FieldType.choice, options=("直销", "经销")),
        FieldDefinition("vip", FieldType.boolean),
        FieldDefinition("since", FieldType.date),
    ]
    assert validate_custom_fields(
        {"credit_days": 30, "channel": "经销", "vip": True, "since": "2024-01-31"}, definitions
    )
    with pytest.raises(InvalidInput) as raised:
        validate_custom_fields({"channel": "网店", "vip": "yes", "since": "31/01/2024", "x": 1}, definitions)
    assert {e.field for e in raised.value.errors} == {
        "custom_fields.credit_days",
        "custom_fields.channel",
        "custom_fields.vip",
        "custom_fields.since",
        "custom_fields.x",
    }


def test_import_headers_in_chinese_and_english_with_explicit_mapping_winning():
    columns = resolve_columns(
        ["姓名", "Company Name", "手机号码", "客户单位", "???"], {"客户单位": "industry"}, LEAD_COLUMNS
    )
    assert columns == {0: "name", 1: "company", 2: "phone", 3: "industry"}


def test_import_columns_map_to_custom_fields_only_explicitly():
    mapping = {"面积": "custom_fields.site_area", "楼层": "custom_fields.", "客户单位": "colour"}
    columns = resolve_columns(["姓名", "面积", "楼层", "site_area"], mapping, LEAD_COLUMNS)
    assert columns == {0: "name", 1: "custom_fields.site_area"}
    assert unknown_mapping_targets(mapping, LEAD_COLUMNS) == ["colour", "custom_fields."]


def test_import_row_parsing():
    parsed = parse_row(
        {
            "name": " 张伟 ",
            "phone": 13800138000.0,
            "budget": "¥250,000",
            "source": "展会",
            "tags": "A，B,A",
            "custom_fields.site_area": 1200.0,
            "custom_fields.visit_on": datetime(2026, 12, 1, 0, 0),
            "custom_fields.note": "  ",
        },
        LEAD_FIELDS,
        default_source=LeadSource.import_,
    )
    assert parsed.errors == []
    assert parsed.values == {
        "name": "张伟",
        "phone": "13800138000",
        "budget": Decimal("250000.00"),
        "source": LeadSource.exhibition,
        "tags": ["A", "B"],
        # Read as the API would receive them; their types are checked on writing (definitions).
        "custom_fields": {"site_area": "1200", "visit_on": "2026-12-01"},
    }
    bad = parse_row(
        {"name": "", "budget": "lots", "source": "pigeon"}, LEAD_FIELDS, default_source=LeadSource.import_
    )
    assert {(e.field, e.code) for e in bad.errors} == {
        ("name", "missing"),
        ("budget", "number.invalid"),
        ("source", "source.invalid"),
    }


def test_permission_matrix():
    assert role_allows(Role.admin, Permission.users_write)
    assert not role_allows(Role.rep, Permission.users_write)
    assert not role_allows(Role.marketing, Permission.customers_read)
    assert role_allows(Role.director, Permission.users_handover)
    assert not role_allows(Role.supervisor, Permission.users_handover)
    assert Permission.api_keys_manage not in API_KEY_SCOPES


def test_cursor_round_trip_and_mismatch():
    order = SortOrder(name="created_at", descending=True)
    moment = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    row_id = uuid.uuid4()
    assert decode_cursor(encode_cursor(order, moment, row_id), order) == (moment, row_id)
    with pytest.raises(InvalidInput):
        decode_cursor(encode_cursor(order, moment, row_id), SortOrder(name="created_at", descending=False))
    with pytest.raises(InvalidInput):
        decode_cursor("not-a-cursor", order)
    with pytest.raises(InvalidInput):  # hand-made, without an offset
        decode_cursor(encode_cursor(order, moment.replace(tzinfo=None), row_id), order)


@pytest.mark.parametrize(
    ("late", "colour"),
    [
        (timedelta(hours=-5), RagStatus.green),
        (timedelta(hours=24) - timedelta(seconds=1), RagStatus.green),
        (timedelta(hours=24), RagStatus.yellow),
        (timedelta(hours=72), RagStatus.yellow),
        (timedelta(hours=72, seconds=1), RagStatus.red),
    ],
)
def test_rag_boundaries_by_default(late, colour):
    now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    assert rag_status(now - late, now, RagThresholds()) is colour
    assert rag_status(None, now, RagThresholds()) is RagStatus.green


def test_rag_thresholds_come_from_settings_and_bad_ones_are_all_reported():
    assert policy_from_settings({}).rag_thresholds == RagThresholds(timedelta(hours=24), timedelta(hours=72))
    hours = {"rag_yellow_after_hours": 4, "rag_red_after_hours": 8}
    assert policy_from_settings(hours).rag_thresholds == RagThresholds(timedelta(hours=4), timedelta(hours=8))
    with pytest.raises(InvalidInput) as refused:
        patched_settings({}, {"rag_yellow_after_hours": -1, "rag_red_after_hours": "72"})
    assert {e.field for e in refused.value.errors} == {
        "settings.rag_yellow_after_hours",
        "settings.rag_red_after_hours",
    }
    with pytest.raises(InvalidInput) as unordered:
        patched_settings({}, {"rag_yellow_after_hours": 48, "rag_red_after_hours": 24})
    assert [(e.field, e.message) for e in unordered.value.errors] == [
        ("settings.rag_red_after_hours", "must be at least rag_yellow_after_hours")
    ]
