"""Ids a client sends are checked against its own organization, and no answer tells a client that a
record exists in another organization (or among records it may not see)."""

from __future__ import annotations

import uuid

import pytest

from tests.api.helpers import bearer, ok
from tests.factories import create_customer, create_lead


async def test_an_opportunity_cannot_name_another_organizations_lead_as_its_source(client, make_tenant):
    tenant, other = await make_tenant("A"), await make_tenant("B")
    foreign_lead = await create_lead(client, other.headers, phone="13811112222")
    customer = await create_customer(client, tenant.headers)

    refused = await client.post(
        "/api/v1/opportunities",
        json={"name": "屋面工程", "customer_id": customer["id"], "source_lead_id": foreign_lead["id"]},
        headers=tenant.headers,
    )

    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "source_lead_id"
    assert ok(await client.get("/api/v1/opportunities", headers=tenant.headers))["items"] == []


async def test_a_rep_cannot_name_a_colleagues_lead_as_the_source(client, make_tenant, make_user):
    tenant = await make_tenant()
    colleague, _ = await make_user(tenant, "rep")
    _, rep_token = await make_user(tenant, "rep")
    lead = await create_lead(client, tenant.headers, phone="13822223333", owner_id=colleague["id"])
    customer = await create_customer(client, bearer(rep_token))

    refused = await client.post(
        "/api/v1/opportunities",
        json={"name": "工程", "customer_id": customer["id"], "source_lead_id": lead["id"]},
        headers=bearer(rep_token),
    )

    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "source_lead_id"


async def test_the_fallback_team_in_settings_must_be_a_team_of_the_organization(client, make_tenant):
    tenant, other = await make_tenant("A"), await make_tenant("B")
    foreign_team = ok(await client.post("/api/v1/teams", json={"name": "华南"}, headers=other.headers), 201)
    before = ok(await client.get("/api/v1/organization", headers=tenant.headers))["settings"]

    refused = await client.patch(
        "/api/v1/organization",
        json={"settings": {"assignment": {"fallback_team_id": foreign_team["id"]}}},
        headers=tenant.headers,
    )

    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "settings.assignment.fallback_team_id"
    assert ok(await client.get("/api/v1/organization", headers=tenant.headers))["settings"] == before
    own_team = ok(await client.post("/api/v1/teams", json={"name": "华东"}, headers=tenant.headers), 201)
    ok(
        await client.patch(
            "/api/v1/organization",
            json={"settings": {"assignment": {"fallback_team_id": own_team["id"]}}},
            headers=tenant.headers,
        )
    )


async def _create_with_id(client, headers, kind: str, record_id: str, parent: dict) -> object:
    bodies = {
        "users": (
            "/api/v1/users",
            {
                "username": f"u{uuid.uuid4().hex[:12]}",
                "display_name": "x",
                "password": "p" * 12,
                "role": "rep",
            },
        ),
        "teams": ("/api/v1/teams", {"name": f"team {record_id[:8]}"}),
        "customers": ("/api/v1/customers", {"name": f"客户 {record_id[:8]}"}),
        "contacts": (f"/api/v1/customers/{parent['customer_id']}/contacts", {"name": "李娜"}),
        "activities": (
            "/api/v1/activities",
            {
                "type": "note",
                "occurred_at": "2026-11-23T01:00:00Z",
                "customer_id": parent["customer_id"],
                "notes": "x",
            },
        ),
        "leads": (
            "/api/v1/leads",
            {"name": "Sun", "phone": f"139{record_id[:8].encode().hex()[:8]}", "source": "api"},
        ),
    }
    path, body = bodies[kind]
    return await client.post(path, json={**body, "id": record_id}, headers=headers)


@pytest.mark.parametrize("kind", ["users", "teams", "customers", "contacts", "activities", "leads"])
async def test_an_id_taken_in_another_organization_is_unusable_not_existing(client, make_tenant, kind):
    tenant, other = await make_tenant("A"), await make_tenant("B")
    own_parent = {"customer_id": (await create_customer(client, tenant.headers))["id"]}
    other_parent = {"customer_id": (await create_customer(client, other.headers))["id"]}
    taken_elsewhere = "0b5f3c1e-7a2d-4c8e-9f10-" + "1" * 12
    ok(await _create_with_id(client, other.headers, kind, taken_elsewhere, other_parent), 201)

    refused = await _create_with_id(client, tenant.headers, kind, taken_elsewhere, own_parent)

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "request.id_unusable"
    assert "exist" not in refused.json()["detail"]
    # The caller's own record with that id is theirs to know of: that stays a 409.
    own_id = "0b5f3c1e-7a2d-4c8e-9f10-" + "2" * 12
    ok(await _create_with_id(client, tenant.headers, kind, own_id, own_parent), 201)
    again = await _create_with_id(client, tenant.headers, kind, own_id, own_parent)
    assert again.status_code == 409


async def test_claiming_a_lead_the_rep_cannot_see_is_404_but_one_just_claimed_is_409(
    client, make_tenant, make_user, clock
):
    tenant = await make_tenant()
    colleague, colleague_token = await make_user(tenant, "rep")
    _, rep_token = await make_user(tenant, "rep")
    owned = await create_lead(client, tenant.headers, phone="13833334444", owner_id=colleague["id"])

    hidden = await client.post(f"/api/v1/leads/{owned['id']}/claim", headers=bearer(rep_token))

    assert hidden.status_code == 404
    # A lead that left the pool by a claim a moment ago: the rep saw it there, so they learn why.
    ok(
        await client.post(
            f"/api/v1/leads/{owned['id']}/release",
            json={"reason": "not mine"},
            headers=bearer(colleague_token),
        )
    )
    _, third_token = await make_user(tenant, "rep")
    ok(await client.post(f"/api/v1/leads/{owned['id']}/claim", headers=bearer(third_token)))
    just_claimed = await client.post(f"/api/v1/leads/{owned['id']}/claim", headers=bearer(rep_token))
    assert just_claimed.status_code == 409
    assert just_claimed.json()["code"] == "lead.not_in_pool"
    clock.advance(hours=2)
    assert (
        await client.post(f"/api/v1/leads/{owned['id']}/claim", headers=bearer(rep_token))
    ).status_code == 404


async def test_organization_settings_are_a_merge_patch_not_a_replacement(client, make_tenant):
    tenant = await make_tenant()

    async def patch(settings: dict) -> dict:
        answer = await client.patch(
            "/api/v1/organization", json={"settings": settings}, headers=tenant.headers
        )
        return ok(answer)["settings"]

    await patch({"lead_pool": {"idle_days": 9, "max_open_leads": 40}})
    after_rag = await patch({"rag_yellow_after_hours": 4, "rag_red_after_hours": 24})
    assert (after_rag["lead_pool"]["idle_days"], after_rag["lead_pool"]["max_open_leads"]) == (9, 40)
    assert (after_rag["rag_yellow_after_hours"], after_rag["rag_red_after_hours"]) == (4, 24)
    after_null = await patch({"lead_pool": {"idle_days": None}, "rag_red_after_hours": None})
    # A null returns the key to its default; the answer shows every setting's effective value.
    assert (after_null["lead_pool"]["idle_days"], after_null["lead_pool"]["max_open_leads"]) == (30, 40)
    assert (after_null["rag_yellow_after_hours"], after_null["rag_red_after_hours"]) == (4, 72)
