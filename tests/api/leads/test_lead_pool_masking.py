"""The lead pool masks phone, e-mail and WeChat id until a seller claims the lead (settings
`lead_pool.mask_contacts`, default on): in the pool, the lead list and detail, exports and search;
management sees them in full, de-duplication still compares the full values."""

from __future__ import annotations

import csv
import io
from typing import Any

from tests.api.helpers import bearer, ok

PHONE, MASKED_PHONE = "+8613912342222", "+86139****2222"
EMAIL, MASKED_EMAIL = "chen@dongfang.cn", "c***@dongfang.cn"
WECHAT, MASKED_WECHAT = "chen_dongfang", "c***g"
FULL = (PHONE, EMAIL, WECHAT)
MASKED = (MASKED_PHONE, MASKED_EMAIL, MASKED_WECHAT)


def _contacts(lead: dict[str, Any]) -> tuple[str, str, str]:
    return lead["phone"], lead["email"], lead["wechat"]


async def _pooled_lead(client, app, headers: dict[str, str]) -> dict[str, Any]:
    body = {"name": "陈东方", "company": "东方建材", "source": "exhibition", "phone": "139 1234 2222"}
    created = ok(
        await client.post("/api/v1/leads", json={**body, "email": EMAIL, "wechat": WECHAT}, headers=headers),
        201,
    )
    # No rule routes it: the assignment job puts it in the pool.
    await app.state.runtime.queue.drain()
    return created


async def _as_seen(client, headers: dict[str, str], lead_id: str) -> dict[str, tuple[str, str, str]]:
    """The lead's contacts as each answer showing it gives them to this caller."""
    pool = ok(await client.get("/api/v1/lead-pool", headers=headers))["items"]
    listed = ok(await client.get("/api/v1/leads", headers=headers))["items"]
    exported = await client.get("/api/v1/lead-pool", headers={**headers, "Accept": "text/csv"})
    assert exported.status_code == 200, exported.text
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    return {
        "pool": _contacts(next(item for item in pool if item["id"] == lead_id)),
        "list": _contacts(next(item for item in listed if item["id"] == lead_id)),
        "detail": _contacts(ok(await client.get(f"/api/v1/leads/{lead_id}", headers=headers))),
        # A cell starting with "+" is kept as text by a leading apostrophe (formula guard).
        "export": _contacts(
            {
                key: value.removeprefix("'")
                for key, value in next(r for r in rows if r["id"] == lead_id).items()
            }
        ),
    }


def _everywhere(contacts: tuple[str, str, str]) -> dict[str, tuple[str, str, str]]:
    return dict.fromkeys(("pool", "list", "detail", "export"), contacts)


async def test_pool_contacts_are_masked_for_sellers_until_claimed(client, app, make_tenant, make_user):
    tenant = await make_tenant()
    admin = tenant.headers
    rep, rep_token = await make_user(tenant, "rep")
    _, other_rep_token = await make_user(tenant, "rep")
    _, supervisor_token = await make_user(tenant, "supervisor")
    _, director_token = await make_user(tenant, "director")
    _, marketing_token = await make_user(tenant, "marketing")
    lead = await _pooled_lead(client, app, admin)
    as_rep = bearer(rep_token)

    for seller in (as_rep, bearer(supervisor_token), bearer(marketing_token)):
        assert await _as_seen(client, seller, lead["id"]) == _everywhere(MASKED)
    for manager in (admin, bearer(director_token)):
        assert await _as_seen(client, manager, lead["id"]) == _everywhere(FULL)

    # Part of the number does not find it (typing digit after digit would read the number back);
    # the whole number, which the rep already knows, does, as do its name and company.
    for text in ("12342222", "139 1234"):
        assert ok(await client.get("/api/v1/leads", params={"q": text}, headers=as_rep))["items"] == []
        assert ok(await client.get("/api/v1/search", params={"q": text}, headers=as_rep))["items"] == []
        assert [
            h["id"]
            for h in ok(await client.get("/api/v1/search", params={"q": text}, headers=admin))["items"]
        ] == [lead["id"]]
    for text in ("13912342222", "东方建材", EMAIL):
        hits = ok(await client.get("/api/v1/search", params={"q": text}, headers=as_rep))["items"]
        assert [hit["id"] for hit in hits] == [lead["id"]], text
        assert hits[0]["subtitle"] == "东方建材"

    # De-duplication compares the full values, whoever enters the lead.
    duplicate = await client.post(
        "/api/v1/leads", json={"name": "陈", "source": "referral", "phone": "13912342222"}, headers=as_rep
    )
    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.json()["existing_id"] == lead["id"]

    claimed = ok(await client.post(f"/api/v1/leads/{lead['id']}/claim", headers=as_rep))
    assert (claimed["owner_id"], _contacts(claimed)) == (rep["id"], FULL)
    assert _contacts(ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=as_rep))) == FULL
    assert (
        ok(await client.get("/api/v1/leads", params={"q": "12342222"}, headers=as_rep))["items"][0]["id"]
        == lead["id"]
    )
    # Another rep no longer sees it at all.
    assert (
        await client.get(f"/api/v1/leads/{lead['id']}", headers=bearer(other_rep_token))
    ).status_code == 404


async def test_whoever_entered_a_pooled_lead_sees_it_in_full(client, app, make_tenant, make_user):
    tenant = await make_tenant()
    _, marketing_token = await make_user(tenant, "marketing")
    _, rep_token = await make_user(tenant, "rep")
    lead = await _pooled_lead(client, app, bearer(marketing_token))

    assert await _as_seen(client, bearer(marketing_token), lead["id"]) == _everywhere(FULL)
    assert await _as_seen(client, bearer(rep_token), lead["id"]) == _everywhere(MASKED)


async def test_an_organization_may_turn_masking_off(client, app, make_tenant, make_user):
    tenant = await make_tenant()
    _, rep_token = await make_user(tenant, "rep")
    lead = await _pooled_lead(client, app, tenant.headers)

    for wrong in ("yes", 1, "true"):
        refused = await client.patch(
            "/api/v1/organization",
            json={"settings": {"lead_pool": {"mask_contacts": wrong}}},
            headers=tenant.headers,
        )
        assert refused.status_code == 422, wrong
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["field"] == "settings.lead_pool.mask_contacts"
        assert refused.json()["errors"][0]["code"] == "bool_type"
    off = await client.patch(
        "/api/v1/organization",
        json={"settings": {"lead_pool": {"mask_contacts": False}}},
        headers=tenant.headers,
    )
    assert off.status_code == 200, off.text
    assert off.json()["settings"]["lead_pool"]["mask_contacts"] is False
    assert await _as_seen(client, bearer(rep_token), lead["id"]) == _everywhere(FULL)
    assert ok(await client.get("/api/v1/leads", params={"q": "12342222"}, headers=bearer(rep_token)))["items"]

    # null returns the key to its default: masked again.
    ok(
        await client.patch(
            "/api/v1/organization",
            json={"settings": {"lead_pool": {"mask_contacts": None}}},
            headers=tenant.headers,
        )
    )
    assert await _as_seen(client, bearer(rep_token), lead["id"]) == _everywhere(MASKED)


async def test_notes_about_a_pooled_lead_do_not_give_its_contacts_away(client, app, make_tenant, make_user):
    """What a previous owner wrote (the lead's notes, its activities' notes and info points) is
    masked as the contact fields are, for whom the pool is masked; its writer and management read
    it as written, and a date in it stays a date."""
    tenant = await make_tenant()
    _, first_rep_token = await make_user(tenant, "rep")
    _, other_rep_token = await make_user(tenant, "rep")
    as_first, as_other = bearer(first_rep_token), bearer(other_rep_token)
    lead = await _pooled_lead(client, app, tenant.headers)
    ok(await client.post(f"/api/v1/leads/{lead['id']}/claim", headers=as_first))
    later = "；2026-12-09 10:30 再联系"
    written = f"12月7日 回电 139 1234-2222，邮件 {EMAIL}，微信 {WECHAT.upper()}{later}"
    shown = f"12月7日 回电 {MASKED_PHONE[3:]}，邮件 {MASKED_EMAIL}，微信 {MASKED_WECHAT}{later}"
    ok(await client.patch(f"/api/v1/leads/{lead['id']}", json={"notes": written}, headers=as_first))
    activity = ok(
        await client.post(
            "/api/v1/activities",
            json={
                "type": "call",
                "lead_id": lead["id"],
                "call_outcome": "connected",
                "occurred_at": "2026-11-23T01:00:00Z",
                "notes": written,
                "info_points": {"needs": f"屋面防水，决策人手机 {PHONE}"},
            },
            headers=as_first,
        ),
        201,
    )
    release = {"reason": "客户暂无需求"}
    ok(await client.post(f"/api/v1/leads/{lead['id']}/release", json=release, headers=as_first))

    def texts(activity: dict[str, Any]) -> tuple[str, str]:
        return activity["notes"], activity["info_points"]["needs"]

    listed = ok(await client.get("/api/v1/activities", params={"lead_id": lead["id"]}, headers=as_other))
    assert [texts(a) for a in listed["items"]] == [(shown, f"屋面防水，决策人手机 {MASKED_PHONE}")]
    alone = ok(await client.get(f"/api/v1/activities/{activity['id']}", headers=as_other))
    assert texts(alone) == (shown, f"屋面防水，决策人手机 {MASKED_PHONE}")
    assert ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=as_other))["notes"] == shown
    exported = await client.get(
        "/api/v1/activities", params={"lead_id": lead["id"]}, headers={**as_other, "Accept": "text/csv"}
    )
    assert exported.status_code == 200, exported.text
    for contact in ("1234-2222", PHONE[3:], EMAIL, WECHAT):
        assert contact not in exported.text

    for reader in (as_first, tenant.headers):
        assert texts(ok(await client.get(f"/api/v1/activities/{activity['id']}", headers=reader))) == (
            written,
            f"屋面防水，决策人手机 {PHONE}",
        )
    assert ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers))["notes"] == written
