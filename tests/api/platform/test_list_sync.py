"""Every list takes `updated_since` and `sort=updated_at` (a keyset on updated_at and id) for
incremental sync, and `include=total` for a capped count."""

from __future__ import annotations

import re

import pytest

from app.services.platform import pagination
from tests.api.helpers import bearer, ok
from tests.factories import create_campaign, create_lead

SYNCED_LISTS = (
    "/api/v1/leads",
    "/api/v1/customers",
    "/api/v1/activities",
    "/api/v1/opportunities",
    "/api/v1/tasks",
    "/api/v1/quotes",
    "/api/v1/products",
    "/api/v1/users",
    "/api/v1/teams",
    "/api/v1/pipelines",
    "/api/v1/lead-pool",
    "/api/v1/api-keys",
    "/api/v1/assignment-rules",
    "/api/v1/business-calendars",
    "/api/v1/notification-channels",
    "/api/v1/sla-policies",
    "/api/v1/sla-timers",
    "/api/v1/webhooks",
    "/api/v1/playbook-entries",
    "/api/v1/contacts",
    "/api/v1/campaigns",
    "/api/v1/intake-forms",
    "/api/v1/exports",
    # Deleted records: updated_at is moved by the deletion.
    "/api/v1/leads/deleted",
    "/api/v1/customers/deleted",
)
# Append-only records keep their own order; updated_since reads the instant they were written.
APPEND_ONLY_LISTS = ("/api/v1/audit-events", "/api/v1/notifications")
# The lists that take neither or only updated_since, and why (docs/operations.md says the same).
NOT_SYNCED_BY_UPDATED_AT = {
    "/api/v1/audit-events": "append-only, no updated_at: sorted by occurred_at",
    "/api/v1/notifications": "append-only, no updated_at: newest first",
    "/api/v1/webhooks/{webhook_id}/deliveries": "append-only delivery log, no updated_at",
    "/api/v1/notification-channels/{channel_id}/deliveries": "append-only delivery log, no updated_at",
    "/api/v1/import-jobs/{job_id}/errors": "an import's row report, no updated_at",
    "/api/v1/import-jobs/{job_id}/warnings": "an import's row report, no updated_at",
    "/api/v1/customers/{customer_id}/timeline": "a view over several records",
    "/api/v1/opportunities/{opportunity_id}/playbook": "a search, ranked",
    "/api/v1/status-board": "a view, computed",
    "/api/v1/changes": "the change feed itself, by its own cursor",
}


async def _pages(client, headers, path: str, params: dict, *, between=None) -> list[dict]:
    items: list[dict] = []
    cursor = None
    while True:
        page = ok(
            await client.get(
                path, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers
            )
        )
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        if between is not None:
            await between(len(items))


async def test_paging_by_updated_at_with_equal_timestamps_misses_nothing_and_repeats_nothing(
    client, make_tenant, make_user, clock
):
    tenant = await make_tenant()
    leaving, token = await make_user(tenant, "rep")
    receiver, _ = await make_user(tenant, "rep")
    ids = {(await create_lead(client, bearer(token)))["id"] for _ in range(7)}
    clock.advance(hours=2)  # past every lead's own timestamps
    since = clock.now.isoformat()
    # A handover moves all seven in one UPDATE: one updated_at for all, so only the id orders them.
    handover = {"to_user_id": receiver["id"]}
    ok(await client.post(f"/api/v1/users/{leaving['id']}/handover", json=handover, headers=tenant.headers))

    params = {"updated_since": since, "sort": "updated_at", "limit": 2}
    seen = await _pages(client, tenant.headers, "/api/v1/leads", params)

    assert [lead["id"] for lead in seen] == sorted(ids, key=lambda i: i.replace("-", ""))
    assert len({lead["updated_at"] for lead in seen}) == 1
    # updated_since includes the instant itself, and nothing was changed after it.
    at_the_instant = ok(
        await client.get(
            "/api/v1/leads", params={"updated_since": since, "limit": 200}, headers=tenant.headers
        )
    )
    clock.advance(seconds=1)
    later = ok(
        await client.get(
            "/api/v1/leads",
            params={"updated_since": clock.now.isoformat(), "limit": 200},
            headers=tenant.headers,
        )
    )
    assert {lead["id"] for lead in at_the_instant["items"]} == ids
    assert later["items"] == []


async def test_a_record_changed_while_a_client_pages_by_updated_at_comes_again_at_the_end(
    client, make_tenant, clock
):
    tenant = await make_tenant()
    ids = []
    for n in range(6):
        body = {"name": f"建材{n}号"}
        ids.append(ok(await client.post("/api/v1/customers", json=body, headers=tenant.headers), 201)["id"])
    changed: list[str] = []

    async def edit_the_first(count: int) -> None:
        if count == 2 and not changed:
            changed.append(ids[0])
            clock.advance(minutes=1)
            edit = {"industry": "建材"}
            ok(await client.patch(f"/api/v1/customers/{ids[0]}", json=edit, headers=tenant.headers))

    params = {"sort": "updated_at", "limit": 2}
    seen = await _pages(client, tenant.headers, "/api/v1/customers", params, between=edit_the_first)
    order = [customer["id"] for customer in seen]
    assert set(order) == set(ids)
    assert order[-1] == ids[0]  # seen again, with the edit: a sync by updated_at misses no change
    assert len(order) == len(ids) + (1 if ids[0] in order[:2] else 0)
    stamps = [(customer["updated_at"], customer["id"]) for customer in seen]
    assert stamps[2:] == sorted(stamps[2:])


@pytest.mark.parametrize("path", SYNCED_LISTS)
async def test_every_synced_list_takes_updated_since_sort_by_updated_at_and_include_total(
    client, make_tenant, path
):
    """The parameters are accepted and the count fields answered on every list; a fresh tenant's
    lists are mostly empty, so the counting itself is checked on customers below."""
    tenant = await make_tenant()
    for sort in ("updated_at", "-updated_at"):
        params = {"updated_since": "2026-01-01T00:00:00Z", "sort": sort, "include": "total", "limit": 1}
        page = ok(await client.get(path, params=params, headers=tenant.headers))
        assert isinstance(page["total"], int)
        assert page["total_capped"] is False
        assert page["total"] >= len(page["items"])
    future = {"updated_since": "2099-01-01T00:00:00Z", "include": "total"}
    assert ok(await client.get(path, params=future, headers=tenant.headers))["total"] == 0


@pytest.mark.parametrize("path", APPEND_ONLY_LISTS)
async def test_append_only_lists_take_updated_since_and_include_total(client, make_tenant, path):
    tenant = await make_tenant()
    params = {"updated_since": "2026-01-01T00:00:00Z", "include": "total", "limit": 1}
    page = ok(await client.get(path, params=params, headers=tenant.headers))
    assert isinstance(page["total"], int)
    future = {"updated_since": "2099-01-01T00:00:00Z", "include": "total"}
    assert ok(await client.get(path, params=future, headers=tenant.headers))["total"] == 0


async def test_contacts_take_them_too(client, make_tenant):
    tenant = await make_tenant()
    customer = ok(
        await client.post("/api/v1/customers", json={"name": "申华建材"}, headers=tenant.headers), 201
    )
    path = f"/api/v1/customers/{customer['id']}/contacts"
    ok(await client.post(path, json={"name": "王工", "phone": "13800138000"}, headers=tenant.headers), 201)
    page = ok(
        await client.get(path, params={"sort": "-updated_at", "include": "total"}, headers=tenant.headers)
    )
    assert page["total"] == 1


async def test_include_total_counts_every_page_and_is_capped(client, make_tenant, monkeypatch):
    tenant = await make_tenant()
    for n in range(4):
        ok(await client.post("/api/v1/customers", json={"name": f"建材{n}号"}, headers=tenant.headers), 201)

    plain = ok(await client.get("/api/v1/customers", params={"limit": 1}, headers=tenant.headers))
    assert plain["total"] is None
    counted = ok(
        await client.get("/api/v1/customers", params={"limit": 1, "include": "total"}, headers=tenant.headers)
    )
    assert (counted["total"], counted["total_capped"]) == (4, False)
    second = ok(
        await client.get(
            "/api/v1/customers",
            params={"limit": 1, "include": "total", "cursor": counted["next_cursor"]},
            headers=tenant.headers,
        )
    )
    assert second["total"] == 4  # the list's count, not what is left after the cursor

    monkeypatch.setattr(pagination, "TOTAL_CAP", 3)
    capped = ok(await client.get("/api/v1/customers", params={"include": "total"}, headers=tenant.headers))
    assert (capped["total"], capped["total_capped"]) == (3, True)
    assert len(capped["items"]) == 4


async def test_unknown_include_values_and_bad_instants_are_422(client, make_tenant):
    tenant = await make_tenant()
    for params, field in [
        ({"include": "everything"}, "include"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"sort": "updated"}, "sort"),
    ]:
        refused = await client.get("/api/v1/tasks", params=params, headers=tenant.headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == field


def _accepts(parameter: dict, value: str) -> bool:
    schema = parameter["schema"]
    return re.fullmatch(schema["pattern"], value) is not None if "pattern" in schema else False


async def test_every_list_declares_updated_since_and_sort_by_updated_at_or_is_a_documented_exemption(app):
    """Walks the lists (GET answering a *Page) in the contract, so a list added later is held to it."""
    missing = []
    lists = 0
    for path, item in app.openapi()["paths"].items():
        operation = item.get("get")
        schema = (operation or {}).get("responses", {}).get("200", {}).get("content", {})
        if not schema.get("application/json", {}).get("schema", {}).get("$ref", "").endswith("Page"):
            continue
        lists += 1
        parameters = {parameter["name"]: parameter for parameter in operation.get("parameters", [])}
        sort = parameters.get("sort")
        synced = (
            "updated_since" in parameters
            and sort is not None
            and _accepts(sort, "updated_at")
            and _accepts(sort, "-updated_at")
        )
        if not synced and path not in NOT_SYNCED_BY_UPDATED_AT:
            missing.append(path)
    assert missing == []
    assert lists >= len(SYNCED_LISTS) + len(NOT_SYNCED_BY_UPDATED_AT)


async def _campaign(client, headers, n: int) -> str:
    return str((await create_campaign(client, headers, name=f"展会{n}"))["id"])


async def _intake_form(client, headers, n: int) -> str:
    body = {"name": f"官网询价{n}", "field_mapping": {"contact_name": "name", "mobile": "phone"}}
    return str(ok(await client.post("/api/v1/intake-forms", json=body, headers=headers), 201)["id"])


@pytest.mark.parametrize(
    ("path", "create", "edit"),
    [
        ("/api/v1/campaigns", _campaign, {"notes": "N3馆"}),
        ("/api/v1/intake-forms", _intake_form, {"client_rate_limit": 10}),
    ],
)
async def test_campaigns_and_intake_forms_page_by_updated_at_since_an_instant(
    client, make_tenant, clock, path, create, edit
):
    tenant = await make_tenant()
    ids = [await create(client, tenant.headers, n) for n in range(4)]
    clock.advance(minutes=5)
    since = clock.now.isoformat()
    for record_id in (ids[2], ids[0]):
        clock.advance(seconds=1)
        ok(await client.patch(f"{path}/{record_id}", json=edit, headers=tenant.headers))

    changed = await _pages(
        client, tenant.headers, path, {"updated_since": since, "sort": "updated_at", "limit": 1}
    )
    newest_first = ok(await client.get(path, params={"sort": "-updated_at"}, headers=tenant.headers))["items"]

    assert [record["id"] for record in changed] == [ids[2], ids[0]]
    assert [record["id"] for record in newest_first][:2] == [ids[0], ids[2]]
    assert {record["id"] for record in newest_first} == set(ids)


async def test_a_campaigns_costs_and_the_callers_exports_take_them_too(client, make_tenant, clock):
    tenant = await make_tenant()
    campaign = (await create_campaign(client, tenant.headers))["id"]
    costs = f"/api/v1/campaigns/{campaign}/costs"
    booked = []
    for amount in ("100.00", "200.00"):
        clock.advance(seconds=1)
        cost = {"incurred_on": "2026-11-10", "amount": amount}
        booked.append(ok(await client.post(costs, json=cost, headers=tenant.headers), 201)["id"])
    page = ok(
        await client.get(costs, params={"sort": "updated_at", "include": "total"}, headers=tenant.headers)
    )
    assert [cost["id"] for cost in page["items"]] == booked
    assert page["total"] == 2
    future = {"updated_since": "2099-01-01", "sort": "-updated_at"}
    assert ok(await client.get(costs, params=future, headers=tenant.headers))["items"] == []
    assert ok(await client.get("/api/v1/exports", params=future, headers=tenant.headers))["items"] == []


async def test_deleted_records_page_by_updated_at(app, client, make_tenant, clock):
    tenant = await make_tenant()
    ids = [(await create_lead(client, tenant.headers))["id"] for _ in range(3)]
    # The assignment job updates each new lead after its commit: let it finish first.
    await app.state.runtime.queue.drain()
    for lead_id in (ids[1], ids[2], ids[0]):
        clock.advance(seconds=1)
        assert (await client.delete(f"/api/v1/leads/{lead_id}", headers=tenant.headers)).status_code == 204
    by_change = await _pages(
        client, tenant.headers, "/api/v1/leads/deleted", {"sort": "updated_at", "limit": 1}
    )
    assert [lead["id"] for lead in by_change] == [ids[1], ids[2], ids[0]]
