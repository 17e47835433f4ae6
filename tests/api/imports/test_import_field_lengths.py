"""An import cuts each text to its field's declared length (app/domain/leads/lead_fields.py,
app/domain/customers/customer_fields.py), the length the API takes: a customer's address was cut
at 200 characters, where POST /customers takes 500."""

from __future__ import annotations

CSV_MIME = "text/csv"


async def _import(client, tenant, app, kind: str, csv_text: str) -> dict:
    started = await client.post(
        f"/api/v1/{kind}/import",
        files={"file": (f"{kind}.csv", csv_text.encode(), CSV_MIME)},
        headers=tenant.headers,
    )
    assert started.status_code == 202, started.text
    await app.state.runtime.queue.drain()
    job = await client.get(f"/api/v1/import-jobs/{started.json()['id']}", headers=tenant.headers)
    return job.json()


async def test_an_imported_lead_keeps_the_first_characters_of_an_over_long_text(client, make_tenant, app):
    tenant = await make_tenant()
    company, notes, utm = "建" * 250, "记" * 6000, "u" * 300
    job = await _import(
        client,
        tenant,
        app,
        "leads",
        f"name,phone,company,notes,utm_source\n陈晨,13800138000,{company},{notes},{utm}\n",
    )
    assert (job["status"], job["created_count"]) == ("completed", 1), job
    lead = (await client.get("/api/v1/leads", headers=tenant.headers)).json()["items"][0]
    assert (lead["company"], lead["notes"], lead["utm_source"]) == (company[:200], notes[:5000], utm[:200])


async def test_an_imported_customer_keeps_the_first_characters_of_an_over_long_text(client, make_tenant, app):
    tenant = await make_tenant()
    name, address = "申" * 230, "路" * 600
    job = await _import(client, tenant, app, "customers", f"name,address,region\n{name},{address},华东\n")
    assert (job["status"], job["created_count"]) == ("completed", 1), job
    customer = (await client.get("/api/v1/customers", headers=tenant.headers)).json()["items"][0]
    assert (len(customer["name"]), len(customer["address"]), customer["region"]) == (200, 500, "华东")
    assert (customer["name"], customer["address"]) == (name[:200], address[:500])
