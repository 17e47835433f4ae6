"""Organization settings as a client sees them: every key with its effective value, changed by a JSON
Merge Patch checked against the typed settings, errors naming the field, old stored keys harmless."""

from __future__ import annotations

from sqlalchemy import update

from app.domain.models import Organization
from app.services.platform.unit_of_work import session_scope
from tests.api.helpers import bearer, ok


async def _patch(client, headers, settings: dict):
    return await client.patch("/api/v1/organization", json={"settings": settings}, headers=headers)


async def _settings(client, headers) -> dict:
    return ok(await client.get("/api/v1/organization", headers=headers))["settings"]


async def test_a_new_organization_shows_every_setting_with_its_default(client, make_tenant):
    tenant = await make_tenant()

    settings = await _settings(client, tenant.headers)

    assert settings["lead_pool"] == {
        "first_follow_up_business_hours": 72,
        "idle_days": 30,
        "reclaim_block_days": 7,
        "max_claims_per_day": 20,
        "max_open_leads": 200,
        "mask_contacts": True,
    }
    assert settings["tier_thresholds"] == {"a_min": "500000", "b_min": "100000"}
    assert (settings["rag_yellow_after_hours"], settings["rag_red_after_hours"]) == (24, 72)
    assert settings["tasks"] == {"overdue_after_minutes": 60}
    assert settings["scoring"]["health"]["bands"] == {"green_min": 70, "yellow_min": 50}
    assert settings["price_spread_limit"] == "0.10"


async def test_a_patch_merges_and_a_null_returns_the_key_to_its_default(client, make_tenant):
    tenant = await make_tenant()

    ok(await _patch(client, tenant.headers, {"lead_pool": {"idle_days": 9, "max_open_leads": 40}}))
    after_rag = ok(
        await _patch(client, tenant.headers, {"rag_yellow_after_hours": 4, "rag_red_after_hours": 24})
    )
    assert (
        after_rag["settings"]["lead_pool"]["idle_days"],
        after_rag["settings"]["lead_pool"]["max_open_leads"],
    ) == (
        9,
        40,
    )
    after_null = ok(await _patch(client, tenant.headers, {"lead_pool": {"idle_days": None}}))["settings"]

    assert after_null["lead_pool"]["idle_days"] == 30
    assert after_null["lead_pool"]["max_open_leads"] == 40
    assert (after_null["rag_yellow_after_hours"], after_null["rag_red_after_hours"]) == (4, 24)
    assert await _settings(client, tenant.headers) == after_null


async def test_an_unknown_key_is_refused_naming_it_and_nothing_is_stored(client, make_tenant):
    tenant = await make_tenant()
    before = await _settings(client, tenant.headers)

    refused = await _patch(
        client, tenant.headers, {"colour": "red", "lead_pool": {"bogus": 1, "idle_days": 3}}
    )

    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert {error["field"] for error in refused.json()["errors"]} == {
        "settings.colour",
        "settings.lead_pool.bogus",
    }
    assert await _settings(client, tenant.headers) == before


async def test_a_bad_decimal_names_its_field_in_words_and_nothing_is_stored(client, make_tenant):
    tenant = await make_tenant()
    ok(await _patch(client, tenant.headers, {"tier_thresholds": {"b_min": "200000"}}))
    before = await _settings(client, tenant.headers)

    refused = await _patch(
        client, tenant.headers, {"tier_thresholds": {"a_min": "abc"}, "tasks": {"overdue_after_minutes": 5}}
    )

    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["field"] == "settings.tier_thresholds.a_min"
    assert error["message"] == "Input should be a valid decimal"
    assert await _settings(client, tenant.headers) == before


async def test_working_hours_are_local_times_without_an_offset(client, make_tenant):
    """The contract types them as HH:MM[:SS] (not JSON Schema's `time`, which needs an offset);
    an offset is refused naming the field (it was a 500: a time with an offset cannot be compared
    with one without)."""
    tenant = await make_tenant()

    for start in ("09:00+08:00", "09:00:00Z"):
        refused = await _patch(client, tenant.headers, {"working_hours": {"start": start}})
        assert refused.status_code == 422, refused.text
        [error] = refused.json()["errors"]
        assert error["field"] == "settings.working_hours.start"
        assert "without an offset" in error["message"]

    accepted = await _patch(client, tenant.headers, {"working_hours": {"start": "08:30", "end": "17:30:00"}})
    assert ok(accepted)["settings"]["working_hours"] == {
        "start": "08:30:00",
        "end": "17:30:00",
        "weekdays": [1, 2, 3, 4, 5],
    }


async def test_a_rule_across_fields_is_checked_on_the_merged_settings(client, make_tenant):
    tenant = await make_tenant()
    ok(await _patch(client, tenant.headers, {"rag_red_after_hours": 30}))

    refused = await _patch(
        client, tenant.headers, {"rag_yellow_after_hours": 40, "tier_thresholds": {"b_min": 600000}}
    )

    assert refused.status_code == 422
    assert refused.json()["code"] == "organization.settings_invalid"
    assert {(e["field"], e["message"]) for e in refused.json()["errors"]} == {
        ("settings.rag_red_after_hours", "must be at least rag_yellow_after_hours"),
        ("settings.tier_thresholds.b_min", "must be below a_min"),
    }
    assert (await _settings(client, tenant.headers))["rag_yellow_after_hours"] == 24


async def test_only_the_holder_of_organization_write_changes_settings(client, make_tenant, make_user):
    tenant = await make_tenant()
    _, rep_token = await make_user(tenant, "rep")
    _, director_token = await make_user(tenant, "director")

    for token in (rep_token, director_token):
        refused = await _patch(client, bearer(token), {"lead_pool": {"idle_days": 3}})
        assert refused.status_code == 403
    assert (await _settings(client, tenant.headers))["lead_pool"]["idle_days"] == 30


async def test_keys_stored_before_the_settings_were_typed_are_ignored_and_dropped_on_the_next_write(
    app, client, make_tenant
):
    tenant = await make_tenant()
    runtime = app.state.runtime
    async with session_scope(runtime.sessionmaker, runtime.queue) as session:
        await session.execute(
            update(Organization)
            .where(Organization.id == tenant.organization_id)
            .values(settings={"colour": "red", "lead_pool": {"bogus": 1, "idle_days": 9}, "tasks": "soon"})
        )

    read = await _settings(client, tenant.headers)
    assert "colour" not in read
    assert read["lead_pool"]["idle_days"] == 9
    assert read["tasks"] == {"overdue_after_minutes": 60}
    # The leads screen still works on the old row (the rules are read from the same settings).
    assert (await client.get("/api/v1/leads", headers=tenant.headers)).status_code == 200

    ok(await _patch(client, tenant.headers, {"lead_pool": {"max_open_leads": 50}}))
    async with session_scope(runtime.sessionmaker, runtime.queue) as session:
        stored = (await session.get_one(Organization, tenant.organization_id)).settings
    assert stored == {"lead_pool": {"idle_days": 9, "max_open_leads": 50}}
