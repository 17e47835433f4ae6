"""Campaigns, their costs, and the campaign and UTM tags of leads and deals (issue 21, point 2)."""

from __future__ import annotations

import uuid

from tests.api.helpers import bearer, ok
from tests.factories import create_campaign, create_lead

_CAMPAIGN = {
    "name": "2026上海建材展",
    "channel": "exhibition",
    "starts_on": "2026-11-10",
    "ends_on": "2026-11-12",
}


async def _campaign(client, headers, **fields: object) -> dict:
    """A campaign over _CAMPAIGN's three days, with a name of its own."""
    dates = {"starts_on": _CAMPAIGN["starts_on"], "ends_on": _CAMPAIGN["ends_on"]}
    return await create_campaign(client, headers, **{**dates, **fields})


async def test_marketing_runs_a_campaign_and_everyone_who_sells_reads_it(client, make_tenant, make_user):
    tenant = await make_tenant()
    _, marketing = await make_user(tenant, "marketing")
    _, rep = await make_user(tenant, "rep")

    created = await client.post(
        "/api/v1/campaigns",
        json={**_CAMPAIGN, "budget": "50000.00", "notes": "N3馆"},
        headers=bearer(marketing),
    )

    campaign = ok(created, 201)
    assert created.headers["Location"] == f"/api/v1/campaigns/{campaign['id']}"
    assert created.headers["ETag"] == '"1"'
    assert {k: campaign[k] for k in ("name", "channel", "starts_on", "ends_on", "budget", "currency")} == {
        "name": "2026上海建材展",
        "channel": "exhibition",
        "starts_on": "2026-11-10",
        "ends_on": "2026-11-12",
        "budget": "50000.00",
        "currency": "CNY",
    }
    assert campaign["is_archived"] is False
    read = ok(await client.get(f"/api/v1/campaigns/{campaign['id']}", headers=bearer(rep)))
    assert read == campaign
    refused = await client.post("/api/v1/campaigns", json={**_CAMPAIGN, "name": "x"}, headers=bearer(rep))
    assert refused.status_code == 403
    again = await client.post("/api/v1/campaigns", json=_CAMPAIGN, headers=bearer(marketing))
    assert again.status_code == 409
    assert again.json()["code"] == "campaign.name_taken"
    backwards = await client.post(
        "/api/v1/campaigns",
        json={**_CAMPAIGN, "name": "倒序", "starts_on": "2026-11-12", "ends_on": "2026-11-10"},
        headers=bearer(marketing),
    )
    assert backwards.status_code == 422
    assert [e["field"] for e in backwards.json()["errors"]] == ["ends_on"]
    assert backwards.headers["content-type"].startswith("application/problem+json")
    listed = ok(await client.get("/api/v1/campaigns", headers=tenant.headers))["items"]
    assert [c["name"] for c in listed] == ["2026上海建材展"]


async def test_the_list_filters_by_channel_running_day_archive_and_name(client, make_tenant):
    tenant = await make_tenant()
    fair = await _campaign(client, tenant.headers, name="秋季展会")
    ads = await _campaign(
        client, tenant.headers, name="百度竞价", channel="online_ad", starts_on="2026-11-01", ends_on=None
    )
    old = await _campaign(client, tenant.headers, name="旧名单", channel="bought_list", ends_on="2026-11-10")
    ok(
        await client.patch(
            f"/api/v1/campaigns/{old['id']}",
            json={"is_archived": True},
            headers={**tenant.headers, "If-Match": '"1"'},
        )
    )

    async def names(**params: object) -> list[str]:
        found = ok(await client.get("/api/v1/campaigns", params=params, headers=tenant.headers))["items"]
        return sorted(c["name"] for c in found)

    assert await names(channel="online_ad") == ["百度竞价"]
    assert await names(channel=["online_ad", "exhibition"]) == ["百度竞价", "秋季展会"]
    assert await names(active_on="2026-11-11") == ["百度竞价", "秋季展会"]
    assert await names(active_on="2026-11-10") == ["旧名单", "百度竞价", "秋季展会"]
    assert await names(active_on="2027-03-01") == ["百度竞价"]
    assert await names(is_archived="false") == ["百度竞价", "秋季展会"]
    assert await names(is_archived="true") == ["旧名单"]
    assert await names(q="展会") == [fair["name"]]
    assert (
        await client.get("/api/v1/campaigns", params={"is_archived": "1"}, headers=tenant.headers)
    ).status_code == 422
    assert (
        await client.get("/api/v1/campaigns", params={"channel": "tv"}, headers=tenant.headers)
    ).status_code == 422
    assert ads["ends_on"] is None


async def test_a_patch_honours_if_match_and_keeps_names_unique(client, make_tenant):
    tenant = await make_tenant()
    first = await _campaign(client, tenant.headers, name="一")
    await _campaign(client, tenant.headers, name="二")
    url = f"/api/v1/campaigns/{first['id']}"

    stale = await client.patch(url, json={"budget": "8000.00"}, headers={**tenant.headers, "If-Match": '"7"'})
    taken = await client.patch(url, json={"name": "二"}, headers={**tenant.headers, "If-Match": '"1"'})
    backwards = await client.patch(url, json={"ends_on": "2026-11-01"}, headers=tenant.headers)
    changed = await client.patch(
        url, json={"budget": "8000.00", "channel": "wecom"}, headers={**tenant.headers, "If-Match": '"1"'}
    )

    assert stale.status_code == 412
    assert taken.status_code == 409
    assert backwards.status_code == 422
    body = ok(changed)
    assert (body["budget"], body["channel"], body["version"], body["name"]) == ("8000.00", "wecom", 2, "一")
    assert changed.headers["ETag"] == '"2"'
    null_name = await client.patch(url, json={"name": None}, headers=tenant.headers)
    assert null_name.status_code == 422


async def test_costs_are_booked_listed_and_deleted_in_the_campaigns_currency(client, make_tenant, make_user):
    tenant = await make_tenant()
    _, rep = await make_user(tenant, "rep")
    campaign = await _campaign(client, tenant.headers)
    url = f"/api/v1/campaigns/{campaign['id']}/costs"

    booth = ok(
        await client.post(
            url,
            json={"incurred_on": "2026-11-10", "amount": "1200", "note": "展位费"},
            headers=tenant.headers,
        ),
        201,
    )
    ok(
        await client.post(
            url, json={"incurred_on": "2026-11-11", "amount": "300.50"}, headers=tenant.headers
        ),
        201,
    )
    foreign_currency = await client.post(
        url, json={"incurred_on": "2026-11-11", "amount": "10", "currency": "USD"}, headers=tenant.headers
    )
    zero = await client.post(url, json={"incurred_on": "2026-11-11", "amount": "0"}, headers=tenant.headers)
    by_rep = await client.post(url, json={"incurred_on": "2026-11-11", "amount": "1"}, headers=bearer(rep))

    assert (booth["amount"], booth["currency"], booth["campaign_id"]) == ("1200.00", "CNY", campaign["id"])
    assert foreign_currency.status_code == 422
    assert foreign_currency.json()["code"] == "campaign_cost.currency_mismatch"
    assert zero.status_code == 422
    assert by_rep.status_code == 403
    listed = ok(await client.get(url, headers=bearer(rep)))["items"]
    assert sorted(c["amount"] for c in listed) == ["1200.00", "300.50"]

    stale = await client.delete(f"{url}/{booth['id']}", headers={**tenant.headers, "If-Match": '"9"'})
    deleted = await client.delete(f"{url}/{booth['id']}", headers=tenant.headers)
    again = await client.delete(f"{url}/{booth['id']}", headers=tenant.headers)

    assert (stale.status_code, deleted.status_code, again.status_code) == (412, 204, 404)
    assert [c["amount"] for c in ok(await client.get(url, headers=tenant.headers))["items"]] == ["300.50"]
    audit = ok(
        await client.get("/api/v1/audit-events", params={"entity_id": booth["id"]}, headers=tenant.headers)
    )["items"]
    assert {e["action"] for e in audit} == {"campaign_cost.created", "campaign_cost.deleted"}


async def test_another_organizations_campaign_is_unknown_everywhere(client, make_tenant):
    tenant, other = await make_tenant("Own"), await make_tenant("Other")
    theirs = await _campaign(client, other.headers)

    got = await client.get(f"/api/v1/campaigns/{theirs['id']}", headers=tenant.headers)
    costs = await client.post(
        f"/api/v1/campaigns/{theirs['id']}/costs",
        json={"incurred_on": "2026-11-10", "amount": "1"},
        headers=tenant.headers,
    )
    lead = await client.post(
        "/api/v1/leads",
        json={"name": "王工", "source": "api", "phone": "13700990001", "campaign_id": theirs["id"]},
        headers=tenant.headers,
    )

    assert (got.status_code, costs.status_code) == (404, 404)
    assert lead.status_code == 422
    assert [e["field"] for e in lead.json()["errors"]] == ["campaign_id"]
    assert ok(await client.get("/api/v1/leads", headers=tenant.headers))["items"] == []
    assert ok(await client.get("/api/v1/campaigns", headers=tenant.headers))["items"] == []


async def test_a_lead_carries_its_campaign_and_utm_tags(client, make_tenant):
    tenant = await make_tenant()
    fair = await _campaign(client, tenant.headers)
    ads = await _campaign(client, tenant.headers, channel="online_ad")
    utm = {"utm_source": "baidu", "utm_medium": "cpc", "utm_campaign": "fangshui_q4", "utm_term": "屋面防水"}

    lead = await create_lead(client, tenant.headers, campaign_id=fair["id"], **utm)

    assert lead["campaign_id"] == fair["id"]
    assert {k: lead[k] for k in utm} == utm
    assert lead["utm_content"] is None
    url = f"/api/v1/leads/{lead['id']}"
    moved = ok(
        await client.patch(
            url, json={"campaign_id": ads["id"], "utm_content": "banner_a"}, headers=tenant.headers
        )
    )
    assert (moved["campaign_id"], moved["utm_content"], moved["utm_source"]) == (
        ads["id"],
        "banner_a",
        "baidu",
    )
    listed = ok(await client.get("/api/v1/leads", params={"campaign_id": ads["id"]}, headers=tenant.headers))
    assert [item["id"] for item in listed["items"]] == [lead["id"]]
    assert (
        ok(await client.get("/api/v1/leads", params={"campaign_id": fair["id"]}, headers=tenant.headers))[
            "items"
        ]
        == []
    )
    unknown = await client.patch(url, json={"campaign_id": str(uuid.uuid4())}, headers=tenant.headers)
    assert unknown.status_code == 422
    cleared = ok(
        await client.patch(url, json={"campaign_id": None, "utm_source": None}, headers=tenant.headers)
    )
    assert (cleared["campaign_id"], cleared["utm_source"]) == (None, None)
    too_long = await client.patch(url, json={"utm_term": "x" * 201}, headers=tenant.headers)
    assert too_long.status_code == 422


async def test_a_deal_inherits_its_leads_campaign_on_conversion_and_from_its_source_lead(client, make_tenant):
    tenant = await make_tenant()
    fair = await _campaign(client, tenant.headers)
    other = await _campaign(client, tenant.headers)
    owner = str(tenant.admin_id)
    converted = await create_lead(
        client, tenant.headers, campaign_id=fair["id"], owner_id=owner, company="申华建材"
    )

    conversion = ok(
        await client.post(
            f"/api/v1/leads/{converted['id']}/convert",
            json={"opportunity_name": "屋面工程", "opportunity_amount": "90000.00"},
            headers=tenant.headers,
        )
    )

    deal = conversion["opportunity"]
    assert deal["campaign_id"] == fair["id"]
    assert (
        ok(await client.get(f"/api/v1/opportunities/{deal['id']}", headers=tenant.headers))["campaign_id"]
        == fair["id"]
    )
    customer_id = conversion["customer"]["id"]
    source = await create_lead(client, tenant.headers, campaign_id=fair["id"], owner_id=owner)
    inherited = ok(
        await client.post(
            "/api/v1/opportunities",
            json={"name": "二期", "customer_id": customer_id, "source_lead_id": source["id"]},
            headers=tenant.headers,
        ),
        201,
    )
    chosen = ok(
        await client.post(
            "/api/v1/opportunities",
            json={
                "name": "三期",
                "customer_id": customer_id,
                "source_lead_id": source["id"],
                "campaign_id": other["id"],
            },
            headers=tenant.headers,
        ),
        201,
    )
    plain = ok(
        await client.post(
            "/api/v1/opportunities", json={"name": "四期", "customer_id": customer_id}, headers=tenant.headers
        ),
        201,
    )
    assert (inherited["campaign_id"], chosen["campaign_id"], plain["campaign_id"]) == (
        fair["id"],
        other["id"],
        None,
    )
    patched = ok(
        await client.patch(
            f"/api/v1/opportunities/{plain['id']}", json={"campaign_id": other["id"]}, headers=tenant.headers
        )
    )
    assert patched["campaign_id"] == other["id"]
    unknown = await client.patch(
        f"/api/v1/opportunities/{plain['id']}",
        json={"campaign_id": str(uuid.uuid4())},
        headers=tenant.headers,
    )
    assert unknown.status_code == 422
    assert [e["field"] for e in unknown.json()["errors"]] == ["campaign_id"]


async def test_an_import_names_the_campaign_by_id_or_exact_name_and_keeps_utm_tags(client, make_tenant, app):
    tenant = await make_tenant()
    fair = await _campaign(client, tenant.headers, name="秋季展会")
    ads = await _campaign(client, tenant.headers, name="百度竞价", channel="online_ad")
    content = (
        "姓名,手机,市场活动,utm_source,UTM Medium\n"
        f"张一,13711110001,秋季展会,,\n"
        f"张二,13711110002,{ads['id']},baidu,cpc\n"
        f"张三,13711110003,秋季展,,\n"
        f"张四,13711110004,,wechat,\n"
    ).encode()

    started = await client.post(
        "/api/v1/leads/import", files={"file": ("l.csv", content, "text/csv")}, headers=tenant.headers
    )
    job_id = ok(started, 202)["id"]
    await app.state.runtime.queue.drain()
    job = ok(await client.get(f"/api/v1/import-jobs/{job_id}", headers=tenant.headers))

    assert (job["status"], job["created_count"]) == ("completed", 3)
    assert [(e["row_number"], e["field"], e["code"]) for e in job["errors"]] == [
        (3, "campaign", "campaign.unknown")
    ]
    leads = {
        lead["name"]: lead for lead in ok(await client.get("/api/v1/leads", headers=tenant.headers))["items"]
    }
    assert sorted(leads) == ["张一", "张二", "张四"]
    assert leads["张一"]["campaign_id"] == fair["id"]
    assert (leads["张二"]["campaign_id"], leads["张二"]["utm_source"], leads["张二"]["utm_medium"]) == (
        ads["id"],
        "baidu",
        "cpc",
    )
    assert (leads["张四"]["campaign_id"], leads["张四"]["utm_source"]) == (None, "wechat")


async def test_days_are_iso_dates_not_numbers(client, make_tenant):
    tenant = await make_tenant()

    listed = await client.get("/api/v1/campaigns", params={"active_on": "0"}, headers=tenant.headers)
    created = await client.post(
        "/api/v1/campaigns",
        json={"name": "春季展", "channel": "exhibition", "starts_on": 0},
        headers=tenant.headers,
    )

    assert (listed.status_code, listed.json()["errors"][0]["field"]) == (422, "active_on")
    assert (created.status_code, created.json()["errors"][0]["field"]) == (422, "starts_on")
    assert ok(await client.get("/api/v1/campaigns", headers=tenant.headers))["items"] == []
