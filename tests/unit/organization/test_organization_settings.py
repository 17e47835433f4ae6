"""The typed organization settings: the merge-patch schema derived from them, what a stored document
this version cannot use turns into, and the checks on a merged document."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.domain.organization.organization_settings import (
    OrganizationSettings,
    effective_settings,
    patched_settings,
    usable_settings,
)
from app.domain.platform.errors import InvalidInput
from app.domain.platform.merge_patch import patch_model

SettingsPatch = patch_model(OrganizationSettings)


def test_the_patch_schema_takes_any_part_and_nulls_but_keeps_types_bounds_and_known_keys():
    patch = SettingsPatch.model_validate({"lead_pool": {"idle_days": None, "max_open_leads": 5}})
    assert patch.model_dump(exclude_unset=True) == {"lead_pool": {"idle_days": None, "max_open_leads": 5}}
    for bad, field in (
        ({"lead_pool": {"idle_days": -1}}, ("lead_pool", "idle_days")),
        ({"lead_pool": {"idle_days": "3"}}, ("lead_pool", "idle_days")),
        ({"lead_pool": {"bogus": 1}}, ("lead_pool", "bogus")),
        ({"colour": "red"}, ("colour",)),
    ):
        with pytest.raises(ValidationError) as refused:
            SettingsPatch.model_validate(bad)
        assert [error["loc"] for error in refused.value.errors()] == [field]


def test_a_per_key_map_keeps_the_defaults_of_the_keys_it_leaves_out():
    weights = effective_settings(
        {"scoring": {"temperature": {"weights": {"email_open": 2}}}}
    ).scoring.temperature
    assert weights.weights["email_open"] == 2
    assert weights.weights["meeting_attended"] == 15


def test_what_a_stored_document_cannot_use_falls_back_to_its_default_and_the_rest_stays():
    # b_min above a_min: without b_min the default 100000 is still above a_min 50, so the section goes.
    stored = {
        "colour": "red",
        "lead_pool": {"bogus": 1, "idle_days": 9, "max_claims_per_day": "many"},
        "tier_thresholds": {"a_min": "50", "b_min": "60"},
        "custom_fields": {"lead": [{"key": "site", "type": "shape"}]},
        "scoring": {"temperature": {"weights": {"fax_sent": 1, "email_open": 2}}},
    }
    assert usable_settings(stored) == {
        "lead_pool": {"idle_days": 9},
        "custom_fields": {},
        "scoring": {"temperature": {"weights": {"email_open": 2}}},
    }
    assert stored["colour"] == "red"  # the stored document itself is left as it was
    assert usable_settings("not an object") == {}


def test_a_patch_is_merged_into_the_usable_part_and_the_result_checked_as_a_whole():
    merged = patched_settings(
        {"colour": "red", "tasks": {"overdue_after_minutes": 5}}, {"rag_red_after_hours": 30}
    )
    assert merged == {"tasks": {"overdue_after_minutes": 5}, "rag_red_after_hours": 30}
    with pytest.raises(InvalidInput) as refused:
        patched_settings(merged, {"rag_yellow_after_hours": 31, "working_hours": {"start": "19:00"}})
    assert {(error.field, error.message) for error in refused.value.errors} == {
        ("settings.rag_red_after_hours", "must be at least rag_yellow_after_hours"),
        ("settings.working_hours.end", "must be after start"),
    }


def test_lead_qualification_names_lead_fields_or_defined_lead_custom_fields():
    lead_field = {"custom_fields": {"lead": [{"key": "site_area", "type": "number"}]}}
    criteria = {"lead_qualification": {"fields": ["budget", "custom_fields.site_area"]}}
    assert patched_settings(lead_field, criteria)["lead_qualification"] == criteria["lead_qualification"]
    with pytest.raises(InvalidInput) as refused:
        patched_settings({}, criteria)
    [error] = refused.value.errors
    assert error.field == "settings.lead_qualification"
    assert "custom_fields.site_area" in error.message
