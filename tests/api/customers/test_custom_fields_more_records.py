"""Custom fields on opportunities, contacts and activities: the same definitions (organization
settings), types, required flags and validation as on leads and customers (issue 19)."""

from __future__ import annotations

import json

import httpx

from tests.api.helpers import ok
from tests.factories import create_customer

_FIELDS = [
    {"key": "budget_code", "type": "text", "required": True},
    {"key": "channel", "type": "choice", "options": ["直销", "经销"]},
    {"key": "floors", "type": "number"},
    {"key": "signed", "type": "boolean"},
    {"key": "visit_on", "type": "date"},
]
_VALID = {"budget_code": "B-7", "channel": "经销", "floors": 12, "signed": False, "visit_on": "2026-12-01"}
_WRONG = {"channel": "网店", "floors": "many", "signed": "yes", "visit_on": "12/01", "colour": "red"}
_WRONG_FIELDS = {
    "custom_fields.budget_code",
    "custom_fields.channel",
    "custom_fields.floors",
    "custom_fields.signed",
    "custom_fields.visit_on",
    "custom_fields.colour",
}


async def _define(client: httpx.AsyncClient, headers: dict[str, str], *entities: str) -> None:
    settings = {"custom_fields": dict.fromkeys(entities, _FIELDS)}
    ok(await client.patch("/api/v1/organization", json={"settings": settings}, headers=headers))


def _refused(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "custom_fields.invalid"
    return {error["field"] for error in response.json()["errors"]}


async def test_opportunity_custom_fields_on_create_patch_and_read(client, make_tenant):
    tenant = await make_tenant()
    await _define(client, tenant.headers, "opportunity")
    customer = await create_customer(client, tenant.headers)
    body = {"name": "屋面工程", "customer_id": customer["id"]}

    missing = await client.post("/api/v1/opportunities", json=body, headers=tenant.headers)
    assert _refused(missing) == {"custom_fields.budget_code"}
    assert missing.json()["errors"][0]["code"] == "missing"
    wrong = await client.post(
        "/api/v1/opportunities", json={**body, "custom_fields": _WRONG}, headers=tenant.headers
    )
    assert _refused(wrong) == _WRONG_FIELDS
    listed = ok(await client.get("/api/v1/opportunities", headers=tenant.headers))
    assert listed["items"] == []  # nothing half-written

    created = ok(
        await client.post(
            "/api/v1/opportunities", json={**body, "custom_fields": _VALID}, headers=tenant.headers
        ),
        201,
    )
    assert created["custom_fields"] == _VALID
    path = f"/api/v1/opportunities/{created['id']}"
    assert ok(await client.get(path, headers=tenant.headers))["custom_fields"] == _VALID

    bad_edit = await client.patch(
        path, json={"amount": "1000.00", "custom_fields": {"floors": 3}}, headers=tenant.headers
    )
    assert _refused(bad_edit) == {"custom_fields.budget_code"}
    unchanged = ok(await client.get(path, headers=tenant.headers))
    assert (unchanged["amount"], unchanged["custom_fields"], unchanged["version"]) == (None, _VALID, 1)

    edited = ok(
        await client.patch(
            path, json={"custom_fields": {"budget_code": "B-8", "signed": True}}, headers=tenant.headers
        )
    )
    assert edited["custom_fields"] == {"budget_code": "B-8", "signed": True}


async def test_contact_custom_fields_on_create_patch_and_read(client, make_tenant):
    tenant = await make_tenant()
    await _define(client, tenant.headers, "contact")
    customer = await create_customer(client, tenant.headers)
    path = f"/api/v1/customers/{customer['id']}/contacts"

    assert _refused(await client.post(path, json={"name": "李娜"}, headers=tenant.headers)) == {
        "custom_fields.budget_code"
    }
    wrong = await client.post(path, json={"name": "李娜", "custom_fields": _WRONG}, headers=tenant.headers)
    assert _refused(wrong) == _WRONG_FIELDS
    assert ok(await client.get(path, headers=tenant.headers))["items"] == []

    contact = ok(
        await client.post(path, json={"name": "李娜", "custom_fields": _VALID}, headers=tenant.headers), 201
    )
    assert contact["custom_fields"] == _VALID
    one = f"/api/v1/contacts/{contact['id']}"
    bad_edit = await client.patch(
        one, json={"title": "总监", "custom_fields": {"budget_code": 7}}, headers=tenant.headers
    )
    assert _refused(bad_edit) == {"custom_fields.budget_code"}
    unchanged = ok(await client.get(one, headers=tenant.headers))
    assert (unchanged["title"], unchanged["custom_fields"]) == (None, _VALID)
    edited = ok(
        await client.patch(one, json={"custom_fields": {"budget_code": "B-9"}}, headers=tenant.headers)
    )
    assert edited["custom_fields"] == {"budget_code": "B-9"}
    listed = ok(await client.get("/api/v1/contacts", headers=tenant.headers))
    assert listed["items"][0]["custom_fields"] == {"budget_code": "B-9"}


async def test_activity_custom_fields_on_create_and_read(client, make_tenant):
    tenant = await make_tenant()
    await _define(client, tenant.headers, "activity")
    customer = await create_customer(client, tenant.headers)
    body = {
        "type": "note",
        "occurred_at": "2026-11-23T01:00:00Z",
        "customer_id": customer["id"],
        "notes": "x",
    }

    assert _refused(await client.post("/api/v1/activities", json=body, headers=tenant.headers)) == {
        "custom_fields.budget_code"
    }
    wrong = await client.post(
        "/api/v1/activities", json={**body, "custom_fields": _WRONG}, headers=tenant.headers
    )
    assert _refused(wrong) == _WRONG_FIELDS
    assert ok(await client.get("/api/v1/activities", headers=tenant.headers))["items"] == []

    created = ok(
        await client.post(
            "/api/v1/activities", json={**body, "custom_fields": _VALID}, headers=tenant.headers
        ),
        201,
    )
    assert created["custom_fields"] == _VALID
    read = ok(await client.get(f"/api/v1/activities/{created['id']}", headers=tenant.headers))
    assert read["custom_fields"] == _VALID


async def test_records_the_system_creates_start_without_custom_fields(client, make_tenant):
    """A lead's conversion opens a contact and a deal nobody could fill in: the required fields of
    contacts and opportunities do not block it."""
    tenant = await make_tenant()
    await _define(client, tenant.headers, "contact", "opportunity")
    lead = ok(
        await client.post(
            "/api/v1/leads",
            json={"name": "张伟", "phone": "13800138000", "company": "申华建材", "source": "api"},
            headers=tenant.headers,
        ),
        201,
    )
    converted = ok(
        await client.post(
            f"/api/v1/leads/{lead['id']}/convert",
            json={"opportunity_name": "屋面工程"},
            headers=tenant.headers,
        )
    )
    assert converted["contact"]["custom_fields"] == {}
    assert converted["opportunity"]["custom_fields"] == {}


async def test_each_kind_of_record_has_its_own_definitions(client, make_tenant):
    tenant = await make_tenant()
    await _define(client, tenant.headers, "activity")
    customer = await create_customer(client, tenant.headers)
    assert customer["custom_fields"] == {}
    opportunity = await client.post(
        "/api/v1/opportunities",
        json={"name": "屋面工程", "customer_id": customer["id"], "custom_fields": {"budget_code": "B-1"}},
        headers=tenant.headers,
    )
    assert _refused(opportunity) == {"custom_fields.budget_code"}
    assert opportunity.json()["errors"][0]["code"] == "custom_field.unknown"


async def test_the_opportunity_import_maps_columns_to_custom_fields(client, app, make_tenant, make_user):
    tenant = await make_tenant()
    await _define(client, tenant.headers, "opportunity")
    rep, _ = await make_user(tenant, "rep")
    await create_customer(client, tenant.headers, name="申华建材")  # the import names it
    pipelines = ok(await client.get("/api/v1/pipelines", headers=tenant.headers))
    pipeline = pipelines["items"][0]
    first_stage = pipeline["stages"][0]["name"]
    mapping = {
        "columns": {
            "id": "external_id",
            "agent": "owner",
            "account": "customer",
            "stage": "stage",
            "budget": "custom_fields.budget_code",
            "signed": "custom_fields.signed",
            "visit": "custom_fields.visit_on",
            "floors": "custom_fields.floors",
        },
        "stages": {"Prospecting": first_stage},
        "pipeline": pipeline["name"],
    }
    rows = (
        "id,agent,account,stage,budget,signed,visit,floors\n"
        f"D1,{rep['display_name']},申华建材,Prospecting,B-1,是,2026-12-01,12\n"
        f"D2,{rep['display_name']},申华建材,Prospecting,,maybe,12/01/2026,\n"
    )
    started = await client.post(
        "/api/v1/opportunities/import",
        files={"file": ("deals.csv", rows.encode(), "text/csv")},
        data={"mapping": json.dumps(mapping)},
        headers=tenant.headers,
    )
    assert started.status_code == 202, started.text
    await app.state.runtime.queue.drain()
    job = ok(await client.get(f"/api/v1/import-jobs/{started.json()['id']}", headers=tenant.headers))
    assert (job["created_count"], job["error_count"]) == (1, 3), job["errors"]
    assert {(e["row_number"], e["field"]) for e in job["errors"]} == {
        (2, "custom_fields.budget_code"),
        (2, "custom_fields.signed"),
        (2, "custom_fields.visit_on"),
    }
    (deal,) = ok(await client.get("/api/v1/opportunities", headers=tenant.headers))["items"]
    assert deal["external_id"] == "D1"
    assert deal["custom_fields"] == {
        "budget_code": "B-1",
        "signed": True,
        "visit_on": "2026-12-01",
        "floors": "12",
    }

    unknown = await client.post(
        "/api/v1/opportunities/import",
        files={"file": ("deals.csv", rows.encode(), "text/csv")},
        data={"mapping": json.dumps({**mapping, "columns": {**mapping["columns"], "x": "custom_fields."}})},
        headers=tenant.headers,
    )
    assert unknown.status_code == 422
    assert "mapping.columns.x" in {e["field"] for e in unknown.json()["errors"]}
