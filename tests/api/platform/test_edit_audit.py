"""An edit leaves one `<record>.updated` audit row naming only the fields whose value moved, before
and after; an edit that moves nothing leaves none."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import ok


async def _product(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    body = {"sku": "JC-001", "name": "卷材", "list_price": "42.5000"}
    return ok(await client.post("/api/v1/products", json=body, headers=headers), 201)


async def _campaign(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    body = {"name": "春季展会", "channel": "exhibition"}
    return ok(await client.post("/api/v1/campaigns", json=body, headers=headers), 201)


async def _opportunity(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    customer = ok(await client.post("/api/v1/customers", json={"name": "申华建材"}, headers=headers), 201)
    deal = {"name": "屋面工程", "customer_id": customer["id"]}
    return ok(await client.post("/api/v1/opportunities", json=deal, headers=headers), 201)


# record: (how to create one, its path, an edit, its audited before and after)
EDITS = {
    "product": (_product, "/api/v1/products", {"name": "防水卷材"}, {"name": "卷材"}, {"name": "防水卷材"}),
    "campaign": (
        _campaign,
        "/api/v1/campaigns",
        {"name": "秋季展会"},
        {"name": "春季展会"},
        {"name": "秋季展会"},
    ),
    "opportunity": (
        _opportunity,
        "/api/v1/opportunities",
        {"name": "地下室工程"},
        {"name": "屋面工程"},
        {"name": "地下室工程"},
    ),
}


async def _audited(client: Any, headers: dict[str, str], entity: str, record_id: str) -> list[Any]:
    params = {"entity_id": record_id, "action": f"{entity}.updated"}
    page = ok(await client.get("/api/v1/audit-events", params=params, headers=headers))
    return [(e["entity_type"], e["before"], e["after"]) for e in page["items"]]


@pytest.mark.parametrize("entity", EDITS)
async def test_an_edit_is_audited_with_the_fields_it_moved_and_an_idle_edit_is_not(
    client, make_tenant, entity
):
    tenant = await make_tenant()
    create, path, edit, before, after = EDITS[entity]
    record = await create(client, tenant.headers)

    ok(await client.patch(f"{path}/{record['id']}", json=edit, headers=tenant.headers))
    ok(await client.patch(f"{path}/{record['id']}", json=edit, headers=tenant.headers))

    assert await _audited(client, tenant.headers, entity, record["id"]) == [(entity, before, after)]
