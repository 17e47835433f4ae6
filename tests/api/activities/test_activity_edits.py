"""PATCH /activities/{id}: notes and custom fields may be corrected after the fact, by the author or
whoever oversees them, under If-Match; what happened (type, time, check-in, links) may not."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import bearer, ok
from tests.conftest import eventually
from tests.factories import create_customer

_FIELDS = [
    {"key": "visit_purpose", "type": "choice", "options": ["勘察", "回款"], "required": True},
    {"key": "people_met", "type": "number"},
]


async def _visit(client: httpx.AsyncClient, headers: dict[str, str], customer_id: str, **fields: Any) -> dict:
    body = {
        "type": "visit",
        "occurred_at": "2026-11-23T01:30:00Z",  # half an hour before the test clock's now
        "customer_id": customer_id,
        "notes": "现场勘察屋面",
        "geo": {"lat": 31.2036, "lng": 121.5912, "accuracy_m": 15},
        **fields,
    }
    return ok(await client.post("/api/v1/activities", json=body, headers=headers), 201)


def _problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return dict(response.json())


async def _changes_of(client: httpx.AsyncClient, headers: dict[str, str], entity_id: str, op: str) -> None:
    """Polls the change feed until it lists `op` for the record (on PostgreSQL an entry waits for the
    transactions that began before it)."""

    async def listed() -> bool:
        page = ok(await client.get("/api/v1/changes", params={"types": "activity"}, headers=headers))
        return any(e["entity_id"] == entity_id and e["op"] == op for e in page["items"])

    listed.__doc__ = f"a {op} change of {entity_id} in the feed"
    await eventually(listed, seconds=30)


async def test_the_author_corrects_notes_and_custom_fields_under_if_match(client, make_tenant):
    tenant = await make_tenant()
    settings = {"custom_fields": {"activity": _FIELDS}}
    ok(await client.patch("/api/v1/organization", json={"settings": settings}, headers=tenant.headers))
    customer = await create_customer(client, tenant.headers, name="申华建材")
    visit = await _visit(client, tenant.headers, customer["id"], custom_fields={"visit_purpose": "勘察"})
    path = f"/api/v1/activities/{visit['id']}"
    read = await client.get(path, headers=tenant.headers)
    assert read.headers["ETag"] == '"1"'

    correction = {
        "notes": "现场勘察屋面；补记：客户要求下周报价",
        "custom_fields": {"visit_purpose": "回款", "people_met": 3},
    }
    edited = await client.patch(
        path,
        json=correction,
        headers={**tenant.headers, "If-Match": read.headers["ETag"]},
    )
    body = ok(edited)
    assert edited.headers["ETag"] == '"2"'
    assert (body["version"], body["notes"], body["custom_fields"]) == (
        2,
        "现场勘察屋面；补记：客户要求下周报价",
        {"visit_purpose": "回款", "people_met": 3},
    )
    # What happened stays as recorded.
    assert {k: body[k] for k in ("type", "occurred_at", "geo", "customer_id", "is_effective")} == {
        k: visit[k] for k in ("type", "occurred_at", "geo", "customer_id", "is_effective")
    }
    assert body["customer_name"] == "申华建材"
    assert ok(await client.get(path, headers=tenant.headers))["notes"] == body["notes"]

    stale = await client.patch(path, json={"notes": "旧版本"}, headers={**tenant.headers, "If-Match": '"1"'})
    assert _problem(stale, 412)["code"] == "version.mismatch"
    assert ok(await client.get(path, headers=tenant.headers))["notes"] == body["notes"]

    audit = ok(
        await client.get(
            "/api/v1/audit-events",
            params={"entity_id": visit["id"], "action": "activity.updated"},
            headers=tenant.headers,
        )
    )["items"]
    assert [(e["before"], e["after"]) for e in audit] == [
        (
            {"notes": "现场勘察屋面", "custom_fields": {"visit_purpose": "勘察"}},
            {"notes": body["notes"], "custom_fields": {"visit_purpose": "回款", "people_met": 3}},
        )
    ]
    await _changes_of(client, tenant.headers, visit["id"], "updated")

    cleared = ok(await client.patch(path, json={"notes": None}, headers=tenant.headers))
    assert cleared["notes"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("occurred_at", "2026-11-23T00:30:00Z"),
        ("geo", {"lat": 31.0, "lng": 121.0, "accuracy_m": 5}),
        ("type", "meeting"),
        ("customer_id", "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901"),
        ("info_points", {"needs": "屋面防水", "budget": "60万", "timeline": "明年"}),
        ("call_outcome", "connected"),
        ("colour", "red"),
    ],
)
async def test_what_happened_cannot_be_edited(client, make_tenant, field, value):
    """Back-dating, moving the check-in or turning a visit into an effective follow-up after the
    SLA clock was judged is refused with the field named, and nothing changes."""
    tenant = await make_tenant()
    customer = await create_customer(client, tenant.headers)
    visit = await _visit(client, tenant.headers, customer["id"])
    path = f"/api/v1/activities/{visit['id']}"

    refused = await client.patch(path, json={"notes": "改", field: value}, headers=tenant.headers)
    problem = _problem(refused, 422)
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [(field, "extra_forbidden")]
    assert ok(await client.get(path, headers=tenant.headers)) == visit


async def test_custom_fields_are_checked_as_on_create(client, make_tenant):
    tenant = await make_tenant()
    customer = await create_customer(client, tenant.headers)
    visit = await _visit(client, tenant.headers, customer["id"])
    settings = {"custom_fields": {"activity": _FIELDS}}
    ok(await client.patch("/api/v1/organization", json={"settings": settings}, headers=tenant.headers))
    path = f"/api/v1/activities/{visit['id']}"

    wrong = await client.patch(
        path,
        json={"notes": "改", "custom_fields": {"people_met": "many", "colour": "red"}},
        headers=tenant.headers,
    )
    problem = _problem(wrong, 422)
    assert problem["code"] == "custom_fields.invalid"
    assert {(e["field"], e["code"]) for e in problem["errors"]} == {
        ("custom_fields.visit_purpose", "missing"),
        ("custom_fields.people_met", "custom_field.invalid"),
        ("custom_fields.colour", "custom_field.unknown"),
    }
    unchanged = ok(await client.get(path, headers=tenant.headers))
    assert (unchanged["notes"], unchanged["custom_fields"], unchanged["version"]) == ("现场勘察屋面", {}, 1)
    assert _problem(await client.patch(path, json={"custom_fields": None}, headers=tenant.headers), 422)

    # A note only: the custom fields are not touched, so the new required field is not asked for.
    assert ok(await client.patch(path, json={"notes": "补记"}, headers=tenant.headers))["version"] == 2


async def test_the_author_and_those_over_him_edit_others_who_see_it_may_not(client, make_tenant, make_user):
    tenant = await make_tenant()
    author, author_token = await make_user(tenant, "rep")
    supervisor, supervisor_token = await make_user(tenant, "supervisor")
    _, other_supervisor_token = await make_user(tenant, "supervisor")
    account_owner, account_owner_token = await make_user(tenant, "rep")
    ok(
        await client.post(
            "/api/v1/teams",
            json={"name": "华东一组", "supervisor_id": supervisor["id"], "member_ids": [author["id"]]},
            headers=tenant.headers,
        ),
        201,
    )
    # The author visited while the customer was his; it has since gone to another rep, who sees
    # the visit on his customer's timeline, but it is not his to rewrite.
    customer = ok(
        await client.post(
            "/api/v1/customers", json={"name": "申华建材", "owner_id": author["id"]}, headers=tenant.headers
        ),
        201,
    )
    visit = await _visit(client, bearer(author_token), customer["id"])
    ok(
        await client.patch(
            f"/api/v1/customers/{customer['id']}",
            json={"owner_id": account_owner["id"]},
            headers=tenant.headers,
        )
    )
    path = f"/api/v1/activities/{visit['id']}"

    assert ok(await client.get(path, headers=bearer(account_owner_token)))["id"] == visit["id"]
    forbidden = await client.patch(path, json={"notes": "改写"}, headers=bearer(account_owner_token))
    assert _problem(forbidden, 403)["code"] == "activity.edit_forbidden"
    hidden = await client.patch(path, json={"notes": "改写"}, headers=bearer(other_supervisor_token))
    assert _problem(hidden, 404)["code"] == "activity.not_found"
    assert ok(await client.get(path, headers=tenant.headers))["notes"] == "现场勘察屋面"

    by_author = ok(await client.patch(path, json={"notes": "作者补记"}, headers=bearer(author_token)))
    by_supervisor = ok(await client.patch(path, json={"notes": "主管批注"}, headers=bearer(supervisor_token)))
    by_admin = ok(await client.patch(path, json={"notes": "管理员更正"}, headers=tenant.headers))
    assert [by_author["version"], by_supervisor["version"], by_admin["version"]] == [2, 3, 4]
    assert by_admin["owner_id"] == author["id"]  # editing never changes whose work it was


async def test_a_deleted_activity_cannot_be_edited(client, make_tenant):
    tenant = await make_tenant()
    customer = await create_customer(client, tenant.headers)
    visit = await _visit(client, tenant.headers, customer["id"])
    path = f"/api/v1/activities/{visit['id']}"
    assert (await client.delete(path, headers=tenant.headers)).status_code == 204
    gone = await client.patch(path, json={"notes": "改"}, headers=tenant.headers)
    assert _problem(gone, 404)["code"] == "activity.not_found"
