"""GET /search: leads, customers, contacts and opportunities the caller may see, ranked (issue 19)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import bearer, ok


async def _post(client: httpx.AsyncClient, path: str, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    return ok(await client.post(f"/api/v1{path}", json=body, headers=headers), 201)


async def _search(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    return list(ok(await client.get("/api/v1/search", params=params, headers=headers))["items"])


async def test_exact_code_and_phone_first_then_name_prefix_then_anywhere(client, make_tenant):
    tenant = await make_tenant()
    admin = tenant.headers
    shenhua = await _post(client, "/customers", admin, name="申华建材")
    shanghai = await _post(client, "/customers", admin, name="上海申华防水")
    project = await _post(client, "/leads", admin, name="申华项目部", phone="13900000001", source="api")
    contact = await _post(
        client, f"/customers/{shanghai['id']}/contacts", admin, name="王工", phone="13800138000"
    )
    lead = await _post(client, "/leads", admin, name="赵工", phone="+86 138 0013 8000", source="api")
    deal = await _post(client, "/opportunities", admin, name="屋面工程", customer_id=shanghai["id"])

    hits = await _search(client, admin, q="申华")
    assert [(h["type"], h["name"]) for h in hits] == [
        ("customer", "申华建材"),
        ("lead", "申华项目部"),
        ("customer", "上海申华防水"),
    ]
    assert hits[0]["score"] > hits[1]["score"] > hits[2]["score"]
    assert hits[1]["score"] >= 36 > hits[2]["score"]
    assert (hits[0]["id"], hits[0]["subtitle"]) == (shenhua["id"], shenhua["code"])
    assert hits[1]["id"] == project["id"]

    # A customer code typed in lower case is an exact match, above a name that merely contains it.
    coded = await _post(client, "/customers", admin, name=f"{shanghai['code']} 旧编号公司")
    by_code = await _search(client, admin, q=shanghai["code"].lower())
    assert [h["id"] for h in by_code] == [shanghai["id"], coded["id"]]
    assert by_code[0]["score"] >= 70 > by_code[1]["score"]

    # A phone number typed any way finds the contact and the lead holding it, as exact matches.
    for typed in ("138 0013 8000", "138-0013-8000", "+86 138 0013 8000", "13800138000", "0086 13800138000"):
        found = await _search(client, admin, q=typed)
        assert {(h["type"], h["id"]) for h in found} == {("contact", contact["id"]), ("lead", lead["id"])}, (
            typed
        )
        assert all(h["score"] >= 70 for h in found), typed
    part = await _search(client, admin, q="0013 8000")
    assert {h["id"] for h in part} == {contact["id"], lead["id"]}
    assert all(h["score"] < 36 for h in part)
    # A contact and a deal show their customer's name.
    assert next(h for h in part if h["type"] == "contact")["subtitle"] == "上海申华防水"
    found_deal = await _search(client, admin, q="屋面")
    assert [(h["type"], h["id"], h["subtitle"]) for h in found_deal] == [
        ("opportunity", deal["id"], "上海申华防水")
    ]


async def test_a_rep_does_not_find_another_teams_records(client, make_tenant, make_user):
    tenant = await make_tenant()
    supervisor, supervisor_token = await make_user(tenant, "supervisor")
    rep, rep_token = await make_user(tenant, "rep")
    _other, other_token = await make_user(tenant, "rep")
    ok(
        await client.post(
            "/api/v1/teams",
            json={"name": "华东", "supervisor_id": supervisor["id"], "member_ids": [rep["id"]]},
            headers=tenant.headers,
        ),
        201,
    )
    mine = await _post(client, "/customers", bearer(rep_token), name="申华建材")
    theirs = await _post(client, "/customers", bearer(other_token), name="申华南方")
    their_contact = await _post(
        client,
        f"/customers/{theirs['id']}/contacts",
        bearer(other_token),
        name="申华联系人",
        phone="13700137000",
    )
    their_deal = await _post(
        client, "/opportunities", bearer(other_token), name="申华南方工程", customer_id=theirs["id"]
    )

    def ids(hits: list[dict[str, Any]]) -> set[str]:
        return {h["id"] for h in hits}

    assert ids(await _search(client, bearer(rep_token), q="申华")) == {mine["id"]}
    assert await _search(client, bearer(rep_token), q="137 0013 7000") == []
    assert ids(await _search(client, bearer(supervisor_token), q="申华")) == {mine["id"]}
    assert ids(await _search(client, tenant.headers, q="申华")) == {
        mine["id"],
        theirs["id"],
        their_contact["id"],
        their_deal["id"],
    }
    foreign = await make_tenant("Another Org")
    assert await _search(client, foreign.headers, q="申华") == []


async def test_merged_and_deleted_records_are_not_found(client, make_tenant):
    tenant = await make_tenant()
    admin = tenant.headers
    survivor = await _post(client, "/customers", admin, name="申华建材")
    duplicate = await _post(client, "/customers", admin, name="申华防水工程")
    deleted = await _post(client, "/customers", admin, name="申华已删除")
    ok(
        await client.post(
            f"/api/v1/customers/{survivor['id']}/merge", json={"duplicate_id": duplicate["id"]}, headers=admin
        )
    )
    assert (await client.delete(f"/api/v1/customers/{deleted['id']}", headers=admin)).status_code == 204

    assert [h["id"] for h in await _search(client, admin, q="申华")] == [survivor["id"]]
    assert await _search(client, admin, q=duplicate["code"]) == []


async def test_types_limit_and_who_may_search(client, app, make_tenant, make_user):
    tenant = await make_tenant()
    admin = tenant.headers
    for index in range(3):
        await _post(client, "/customers", admin, name=f"申华{index}号")
    lead = await _post(client, "/leads", admin, name="申华线索", phone="13900000009", source="api")
    # With no rep to take it, the assignment job sends the lead to the pool every seller sees.
    await app.state.runtime.queue.drain()
    pooled = ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=admin))
    assert pooled["status"] == "pooled"

    assert [h["type"] for h in await _search(client, admin, q="申华", types="lead")] == ["lead"]
    assert len(await _search(client, admin, q="申华", types=["customer"], limit=2)) == 2
    assert len(await _search(client, admin, q="申华", limit=3)) == 3

    # Marketing reads leads (here the pooled one), not customers: it finds the lead only.
    _marketing, marketing_token = await make_user(tenant, "marketing")
    assert [h["id"] for h in await _search(client, bearer(marketing_token), q="申华")] == [lead["id"]]
    refused = await client.get(
        "/api/v1/search", params={"q": "申华", "types": "customer"}, headers=bearer(marketing_token)
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"

    for bad in ({"q": ""}, {"q": "   "}, {"q": "申华", "limit": 51}, {"q": "申华", "types": "task"}, {}):
        response = await client.get("/api/v1/search", params=bad, headers=admin)
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == "application/problem+json"
    # Wildcards are text.
    assert await _search(client, admin, q="%") == []
    assert await _search(client, admin, q="申_") == []
