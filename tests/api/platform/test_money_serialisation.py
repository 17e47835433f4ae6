"""Decimal amounts read the same in the answer to a write and in every later read (issue 19, point
11): `"600000"` sent is `"600000.00"` answered, on create and on update, on both databases."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import ok


async def _read_back(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, written: dict[str, Any]
) -> None:
    """A later GET of the record shows each of the answer's amounts as the answer did."""
    read = ok(await client.get(url, headers=headers))
    assert {name: read[name] for name in written} == written


def _amounts(record: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: record[name] for name in names}


async def test_every_amount_reads_the_same_on_write_and_on_read(client, make_tenant):
    tenant = await make_tenant()
    headers = tenant.headers

    lead = ok(
        await client.post(
            "/api/v1/leads",
            json={"name": "李工", "source": "phone_400", "phone": "13700000001", "budget": "600000"},
            headers=headers,
        ),
        201,
    )
    assert lead["budget"] == "600000.00"
    await _read_back(client, headers, f"/api/v1/leads/{lead['id']}", _amounts(lead, "budget"))
    lead = ok(await client.patch(f"/api/v1/leads/{lead['id']}", json={"budget": "700000"}, headers=headers))
    assert lead["budget"] == "700000.00"
    await _read_back(client, headers, f"/api/v1/leads/{lead['id']}", _amounts(lead, "budget"))

    customer = ok(
        await client.post(
            "/api/v1/customers", json={"name": "申华建材", "annual_purchase": "600000"}, headers=headers
        ),
        201,
    )
    assert customer["annual_purchase"] == "600000.00"
    url = f"/api/v1/customers/{customer['id']}"
    await _read_back(client, headers, url, _amounts(customer, "annual_purchase"))
    customer = ok(await client.patch(url, json={"annual_purchase": "700000.5"}, headers=headers))
    assert customer["annual_purchase"] == "700000.50"
    await _read_back(client, headers, url, _amounts(customer, "annual_purchase"))

    deal = ok(
        await client.post(
            "/api/v1/opportunities",
            json={"name": "屋面防水工程", "customer_id": customer["id"], "amount": "860000"},
            headers=headers,
        ),
        201,
    )
    assert deal["amount"] == "860000.00"
    url = f"/api/v1/opportunities/{deal['id']}"
    await _read_back(client, headers, url, _amounts(deal, "amount"))
    deal = ok(await client.patch(url, json={"amount": "920000"}, headers=headers))
    assert deal["amount"] == "920000.00"
    await _read_back(client, headers, url, _amounts(deal, "amount"))

    product = ok(
        await client.post(
            "/api/v1/products",
            json={"sku": "FS-0001", "name": "SBS卷材", "list_price": "42.5", "floor_price": "40"},
            headers=headers,
        ),
        201,
    )
    assert _amounts(product, "list_price", "floor_price") == {
        "list_price": "42.5000",
        "floor_price": "40.0000",
    }
    url = f"/api/v1/products/{product['id']}"
    await _read_back(client, headers, url, _amounts(product, "list_price", "floor_price"))
    product = ok(await client.patch(url, json={"list_price": "44"}, headers=headers))
    assert product["list_price"] == "44.0000"
    await _read_back(client, headers, url, _amounts(product, "list_price", "floor_price"))

    quote = ok(
        await client.post(
            "/api/v1/quotes",
            json={
                "opportunity_id": deal["id"],
                "lines": [{"product_id": product["id"], "unit_price": "43", "quantity": "120"}],
            },
            headers=headers,
        ),
        201,
    )
    line_amounts = ("list_price", "unit_price", "quantity", "discount", "amount")
    assert _amounts(quote["lines"][0], *line_amounts) == {
        "list_price": "44.0000",
        "unit_price": "43.0000",
        "quantity": "120.000",
        "discount": "0.0227",
        "amount": "5160.00",
    }
    assert _amounts(quote, "list_total", "total", "discount_total") == {
        "list_total": "5280.00",
        "total": "5160.00",
        "discount_total": "120.00",
    }
    url = f"/api/v1/quotes/{quote['id']}"
    await _read_back(client, headers, url, _amounts(quote, "lines", "list_total", "total", "discount_total"))
    quote = ok(
        await client.put(
            f"{url}/lines",
            json={"lines": [{"product_id": product["id"], "unit_price": "42", "quantity": "10"}]},
            headers=headers,
        )
    )
    assert (quote["lines"][0]["unit_price"], quote["total"]) == ("42.0000", "420.00")
    await _read_back(client, headers, url, _amounts(quote, "lines", "list_total", "total", "discount_total"))

    campaign = ok(
        await client.post(
            "/api/v1/campaigns",
            json={
                "name": "2026上海建材展",
                "channel": "exhibition",
                "starts_on": "2026-11-10",
                "budget": "8000",
            },
            headers=headers,
        ),
        201,
    )
    assert campaign["budget"] == "8000.00"
    url = f"/api/v1/campaigns/{campaign['id']}"
    await _read_back(client, headers, url, _amounts(campaign, "budget"))
    campaign = ok(await client.patch(url, json={"budget": "9000"}, headers=headers))
    assert campaign["budget"] == "9000.00"
    await _read_back(client, headers, url, _amounts(campaign, "budget"))

    cost = ok(
        await client.post(
            f"{url}/costs", json={"incurred_on": "2026-11-10", "amount": "1200"}, headers=headers
        ),
        201,
    )
    assert cost["amount"] == "1200.00"
    costs = ok(await client.get(f"{url}/costs", headers=headers))["items"]
    assert [c["amount"] for c in costs if c["id"] == cost["id"]] == ["1200.00"]
