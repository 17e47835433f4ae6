"""Soft delete and restore of leads, customers, contacts and activities (gone from lists, search,
the pool, de-duplication and KPIs, kept for audit), and a person's data under PIPL: erasure that
keeps the sales facts, and the export of everything stored about one phone number or e-mail."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select

from app.domain.models import Delivery, Notification, OutboxEvent
from tests.api.helpers import bearer, ok
from tests.api.kpis.kpi_helpers import NOVEMBER, kpi
from tests.factories import record_activity

NOTE = "客户王建国说下周三再联系, 手机13900001111"


async def _lead(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    return ok(await client.post("/api/v1/leads", json={"source": "api", **body}, headers=headers), 201)


async def _activity(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    """A connected call at a fixed time."""
    return await record_activity(
        client, headers, "2026-11-23T01:30:00Z", **{"call_outcome": "connected", **body}
    )


async def _ids(client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any) -> list[str]:
    page = ok(await client.get(path, params={"limit": 200, **params}, headers=headers))
    return [item["id"] for item in page["items"]]


async def _delete(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> None:
    response = await client.delete(path, headers=headers)
    assert response.status_code == 204, response.text


async def _on_the_board(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    page = ok(await client.get("/api/v1/status-board", params={"limit": 200}, headers=headers))
    return [item["subject_id"] for item in page["items"]]


async def _stored_messages(app: Any) -> str:
    """Every stored copy of what events said: outbox payloads, deliveries, in-app notifications."""
    async with app.state.runtime.sessionmaker() as session:
        stored = [
            *(await session.scalars(select(OutboxEvent.payload))),
            *(await session.scalars(select(Delivery.payload))),
            *[(n.title, n.body, n.data) for n in await session.scalars(select(Notification))],
        ]
    return json.dumps(stored, ensure_ascii=False)


async def _topics(app: Any) -> list[tuple[str, dict[str, Any]]]:
    async with app.state.runtime.sessionmaker() as session:
        events = (await session.scalars(select(OutboxEvent).order_by(OutboxEvent.created_at))).all()
    return [(event.topic, event.payload) for event in events]


async def _audit(client: httpx.AsyncClient, headers: dict[str, str], entity_id: str) -> list[dict[str, Any]]:
    page = ok(await client.get("/api/v1/audit-events", params={"entity_id": entity_id}, headers=headers))
    return list(page["items"])


async def test_a_deleted_lead_leaves_lists_search_and_kpis_and_comes_back_with_its_activities(
    app, client, make_tenant, make_user
):
    tenant = await make_tenant()
    rep, rep_token = await make_user(tenant, "rep")
    _, director_token = await make_user(tenant, "director")
    headers = bearer(rep_token)
    lead = await _lead(client, headers, name="王建国", company="申华建材", phone="13900001111")
    call = await _activity(client, headers, lead_id=lead["id"])
    received = await kpi(client, tenant.headers, "lead-utilization", **NOVEMBER)
    assert [row["received"] for row in ok(received)["rows"]] == [1]
    assert lead["id"] in await _on_the_board(client, tenant.headers)

    deleted = await client.delete(f"/api/v1/leads/{lead['id']}", headers=headers)

    assert deleted.status_code == 204, deleted.text
    assert (await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers)).status_code == 404
    assert await _ids(client, "/api/v1/leads", tenant.headers) == []
    assert await _ids(client, "/api/v1/leads", tenant.headers, q="申华") == []
    assert lead["id"] not in await _on_the_board(client, tenant.headers)
    after = ok(await kpi(client, tenant.headers, "lead-utilization", **NOVEMBER))["rows"]
    assert [row["received"] for row in after] in ([], [0])
    listed = ok(await client.get("/api/v1/leads/deleted", headers=bearer(director_token)))
    assert [(item["id"], item["deleted_by_id"]) for item in listed["items"]] == [(lead["id"], rep["id"])]
    assert (await client.get("/api/v1/leads/deleted", headers=headers)).status_code == 403
    since = {"deleted_since": "2026-11-23T02:00:00Z"}
    assert await _ids(client, "/api/v1/leads/deleted", tenant.headers, **since) == [lead["id"]]
    later = {"deleted_since": "2026-11-23T02:00:01Z"}
    assert await _ids(client, "/api/v1/leads/deleted", tenant.headers, **later) == []

    restored = ok(await client.post(f"/api/v1/leads/{lead['id']}/restore", headers=headers))

    assert (restored["name"], restored["phone"], restored["owner_id"]) == (
        "王建国",
        "+8613900001111",
        rep["id"],
    )
    assert await _ids(client, "/api/v1/activities", headers, lead_id=lead["id"]) == [call["id"]]
    assert await _ids(client, "/api/v1/leads", tenant.headers, q="申华") == [lead["id"]]
    again = await client.post(f"/api/v1/leads/{lead['id']}/restore", headers=headers)
    assert (again.status_code, again.json()["code"]) == (409, "lead.not_deleted")
    # Restored, it de-duplicates again.
    duplicate = await client.post(
        "/api/v1/leads", json={"name": "王", "phone": "13900001111", "source": "api"}, headers=headers
    )
    assert (duplicate.status_code, duplicate.json()["existing_id"]) == (409, lead["id"])
    topics = [
        (topic, payload["lead_id"]) for topic, payload in await _topics(app) if topic.startswith("lead.")
    ]
    assert ("lead.deleted", lead["id"]) in topics
    assert ("lead.restored", lead["id"]) in topics


async def test_a_deleted_lead_blocks_no_new_lead_with_its_phone_and_its_restore_waits_for_that_one(
    client, make_tenant
):
    tenant = await make_tenant()
    old = await _lead(client, tenant.headers, name="李四", phone="13900002222", email="li@example.cn")
    await _delete(client, f"/api/v1/leads/{old['id']}", tenant.headers)

    new = await _lead(client, tenant.headers, name="李四", phone="13900002222")

    refused = await client.post(f"/api/v1/leads/{old['id']}/restore", headers=tenant.headers)
    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["existing_id"]) == ("lead.duplicate", new["id"])
    assert await _ids(client, "/api/v1/leads", tenant.headers) == [new["id"]]


async def test_a_deleted_pool_lead_leaves_the_pool(client, make_tenant, make_user):
    tenant = await make_tenant()
    _, rep_token = await make_user(tenant, "rep")
    lead = await _lead(client, bearer(rep_token), name="赵六", phone="13900003333")
    ok(
        await client.post(
            f"/api/v1/leads/{lead['id']}/release", json={"reason": "不在我的区域"}, headers=bearer(rep_token)
        )
    )
    assert await _ids(client, "/api/v1/lead-pool", bearer(rep_token)) == [lead["id"]]
    # Unowned now: the rep who released it may no longer delete it, the admin may.
    refused = await client.delete(f"/api/v1/leads/{lead['id']}", headers=bearer(rep_token))
    assert refused.status_code == 404

    await _delete(client, f"/api/v1/leads/{lead['id']}", tenant.headers)

    assert await _ids(client, "/api/v1/lead-pool", bearer(rep_token)) == []


async def test_who_may_delete_a_lead(client, make_tenant, make_user):
    tenant = await make_tenant()
    owner, owner_token = await make_user(tenant, "rep")
    _, other_token = await make_user(tenant, "rep")
    _, marketing_token = await make_user(tenant, "marketing")
    supervisor, supervisor_token = await make_user(tenant, "supervisor")
    ok(
        await client.post(
            "/api/v1/teams",
            json={"name": "华东一组", "supervisor_id": supervisor["id"], "member_ids": [owner["id"]]},
            headers=tenant.headers,
        ),
        201,
    )
    lead = await _lead(client, bearer(owner_token), name="周七", phone="13900004444")
    path = f"/api/v1/leads/{lead['id']}"

    assert (await client.delete(path, headers=bearer(other_token))).status_code == 404
    assert (await client.delete(path, headers=bearer(marketing_token))).status_code == 403
    assert (await client.delete(path, headers=bearer(supervisor_token))).status_code == 204
    assert (await client.post(f"{path}/restore", headers=bearer(other_token))).status_code == 404
    assert ok(await client.post(f"{path}/restore", headers=bearer(owner_token)))["id"] == lead["id"]
    assert (
        await client.post(f"{path}/erase", json={"reason": "x"}, headers=bearer(owner_token))
    ).status_code == 403


async def test_a_customer_with_an_open_deal_is_not_deleted_and_one_without_keeps_its_records(
    app, client, make_tenant
):
    tenant = await make_tenant()
    headers = tenant.headers
    customer = ok(
        await client.post("/api/v1/customers", json={"name": "上海申华建材有限公司"}, headers=headers), 201
    )
    contact = ok(
        await client.post(
            f"/api/v1/customers/{customer['id']}/contacts",
            json={"name": "李娜", "phone": "13900005555"},
            headers=headers,
        ),
        201,
    )
    call = await _activity(client, headers, customer_id=customer["id"])
    deal = ok(
        await client.post(
            "/api/v1/opportunities", json={"name": "屋面工程", "customer_id": customer["id"]}, headers=headers
        ),
        201,
    )

    refused = await client.delete(f"/api/v1/customers/{customer['id']}", headers=headers)

    assert refused.status_code == 409
    assert refused.json()["code"] == "customer.has_open_opportunities"
    assert [error["message"] for error in refused.json()["errors"]] == [deal["id"]]
    lose = {"reason": "价格过高", "note": "客户选择了报价更低的本地品牌，差价约百分之十五"}
    ok(await client.post(f"/api/v1/opportunities/{deal['id']}/lose", json=lose, headers=headers))
    await _delete(client, f"/api/v1/customers/{customer['id']}", headers)
    assert await _ids(client, "/api/v1/customers", headers) == []
    assert (await client.get(f"/api/v1/customers/{customer['id']}", headers=headers)).status_code == 404
    # The name is free while it is deleted; the restore then meets the new customer.
    twin = ok(
        await client.post("/api/v1/customers", json={"name": "上海申华建材有限公司"}, headers=headers), 201
    )
    blocked = await client.post(f"/api/v1/customers/{customer['id']}/restore", headers=headers)
    assert (blocked.status_code, blocked.json()["code"]) == (409, "customer.duplicate")
    await _delete(client, f"/api/v1/customers/{twin['id']}", headers)
    listed = ok(await client.get("/api/v1/customers/deleted", headers=headers))
    assert {item["id"] for item in listed["items"]} == {customer["id"], twin["id"]}

    restored = ok(await client.post(f"/api/v1/customers/{customer['id']}/restore", headers=headers))

    assert restored["code"] == customer["code"]
    assert await _ids(client, f"/api/v1/customers/{customer['id']}/contacts", headers) == [contact["id"]]
    assert await _ids(client, "/api/v1/activities", headers, customer_id=customer["id"]) == [call["id"]]
    assert await _ids(client, "/api/v1/opportunities", headers, customer_id=customer["id"]) == [deal["id"]]
    topics = [topic for topic, _ in await _topics(app)]
    assert topics.count("customer.deleted") == 2
    assert topics.count("customer.restored") == 1


async def test_contacts_and_activities_are_deleted_and_restored(app, client, make_tenant):
    tenant = await make_tenant()
    headers = tenant.headers
    customer = ok(await client.post("/api/v1/customers", json={"name": "南京长江防水"}, headers=headers), 201)
    contact = ok(
        await client.post(
            f"/api/v1/customers/{customer['id']}/contacts", json={"name": "陈工"}, headers=headers
        ),
        201,
    )
    call = await _activity(client, headers, customer_id=customer["id"])

    await _delete(client, f"/api/v1/contacts/{contact['id']}", headers)
    await _delete(client, f"/api/v1/activities/{call['id']}", headers)

    assert await _ids(client, f"/api/v1/customers/{customer['id']}/contacts", headers) == []
    assert await _ids(client, "/api/v1/activities", headers) == []
    assert (await client.get(f"/api/v1/activities/{call['id']}", headers=headers)).status_code == 404
    assert (await client.delete(f"/api/v1/activities/{call['id']}", headers=headers)).status_code == 404
    ok(await client.post(f"/api/v1/contacts/{contact['id']}/restore", headers=headers))
    ok(await client.post(f"/api/v1/activities/{call['id']}/restore", headers=headers))
    assert await _ids(client, f"/api/v1/customers/{customer['id']}/contacts", headers) == [contact["id"]]
    assert await _ids(client, "/api/v1/activities", headers) == [call["id"]]
    topics = {topic for topic, _ in await _topics(app)}
    assert {"contact.deleted", "contact.restored", "activity.deleted", "activity.restored"} <= topics


async def test_erasing_a_lead_keeps_the_sales_facts_and_no_copy_of_the_personal_values(
    app, client, make_tenant, make_user
):
    tenant = await make_tenant()
    _, director_token = await make_user(tenant, "director")
    personal = {
        "name": "王建国",
        "phone": "13900001111",
        "email": "wang.jianguo@example.cn",
        "wechat": "wjg1975",
    }
    lead = await _lead(
        client, tenant.headers, company="申华建材", budget="50000.00", notes="家住浦东", **personal
    )
    ok(
        await client.patch(
            f"/api/v1/leads/{lead['id']}",
            json={"name": "王建国先生", "email": "wjg@example.cn"},
            headers=tenant.headers,
        )
    )
    call = await _activity(client, tenant.headers, lead_id=lead["id"], notes=NOTE)
    exported = ok(
        await client.get("/api/v1/people/export", params={"phone": "139 0000 1111"}, headers=tenant.headers)
    )
    assert [item["id"] for item in exported["leads"]] == [lead["id"]]
    assert [item["id"] for item in exported["activities"]] == [call["id"]]
    assert exported["phone"] == "+8613900001111"
    refused = await client.post(
        f"/api/v1/leads/{lead['id']}/erase", json={"reason": "PIPL-117"}, headers=bearer(director_token)
    )
    assert refused.status_code == 403
    before = ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers))
    assert "王建国" in await _stored_messages(app)

    erased = ok(
        await client.post(
            f"/api/v1/leads/{lead['id']}/erase", json={"reason": "PIPL-117"}, headers=tenant.headers
        )
    )

    assert (erased["name"], erased["phone"], erased["email"], erased["wechat"]) == (
        "erased",
        None,
        None,
        None,
    )
    assert (erased["company"], erased["budget"], erased["status"]) == (
        "申华建材",
        "50000.00",
        before["status"],
    )
    activity = ok(await client.get(f"/api/v1/activities/{call['id']}", headers=tenant.headers))
    assert (activity["type"], activity["call_outcome"], activity["notes"]) == ("call", "connected", None)
    trail = await _audit(client, tenant.headers, lead["id"])
    text = json.dumps(trail, ensure_ascii=False)
    for value in ("王建国", "13900001111", "wang.jianguo", "wjg@example.cn", "wjg1975", "浦东"):
        assert value not in text, value
    erasure = next(row for row in trail if row["action"] == "lead.erased")
    assert (erasure["actor_id"], erasure["after"]["reason"]) == (str(tenant.admin_id), "PIPL-117")
    assert {row["action"] for row in trail} >= {"lead.created", "lead.updated", "lead.erased"}
    assert "王建国" not in await _stored_messages(app)
    after = ok(
        await client.get("/api/v1/people/export", params={"phone": "13900001111"}, headers=tenant.headers)
    )
    assert (after["leads"], after["activities"]) == ([], [])
    assert ("lead.erased", lead["id"]) in [(t, p.get("lead_id")) for t, p in await _topics(app)]
    # The phone is free for a new lead.
    await _lead(client, tenant.headers, name="新客户", phone="13900001111")


async def test_erasing_a_contact_and_exporting_a_person(app, client, make_tenant, make_user):
    tenant = await make_tenant()
    _, director_token = await make_user(tenant, "director")
    customer = ok(
        await client.post("/api/v1/customers", json={"name": "杭州钱塘建设"}, headers=tenant.headers), 201
    )
    body = {"name": "孙丽", "title": "采购经理", "phone": "13900006666", "email": "sun.li@example.cn"}
    contact = ok(
        await client.post(f"/api/v1/customers/{customer['id']}/contacts", json=body, headers=tenant.headers),
        201,
    )
    visit = await _activity(
        client, tenant.headers, customer_id=customer["id"], notes="孙丽经理(13900006666)要样品"
    )
    deleted_lead = await _lead(client, tenant.headers, name="孙丽", email="SUN.LI@example.cn")
    await _delete(client, f"/api/v1/leads/{deleted_lead['id']}", tenant.headers)

    exported = ok(
        await client.get(
            "/api/v1/people/export", params={"email": "Sun.Li@example.cn"}, headers=tenant.headers
        )
    )

    assert [item["id"] for item in exported["contacts"]] == [contact["id"]]
    by_phone = ok(
        await client.get("/api/v1/people/export", params={"phone": "13900006666"}, headers=tenant.headers)
    )
    assert [item["id"] for item in by_phone["activities"]] == [visit["id"]]
    assert [item["id"] for item in exported["leads"]] == [deleted_lead["id"]]
    assert exported["deleted_ids"] == [deleted_lead["id"]]
    assert (await client.get("/api/v1/people/export", headers=tenant.headers)).json()["errors"][0][
        "field"
    ] == "phone"
    assert (
        await client.get(
            "/api/v1/people/export", params={"phone": "13900006666"}, headers=bearer(director_token)
        )
    ).status_code == 403

    erased = ok(
        await client.post(
            f"/api/v1/contacts/{contact['id']}/erase", json={"reason": "PIPL-118"}, headers=tenant.headers
        )
    )

    assert (erased["name"], erased["title"], erased["phone"], erased["email"]) == ("erased", None, None, None)
    assert erased["customer_id"] == customer["id"]
    text = json.dumps(await _audit(client, tenant.headers, contact["id"]), ensure_ascii=False)
    for value in ("孙丽", "采购经理", "13900006666", "sun.li"):
        assert value not in text, value
    after = ok(
        await client.get("/api/v1/people/export", params={"phone": "13900006666"}, headers=tenant.headers)
    )
    assert after["contacts"] == []
    assert after["activities"] == []
    noted = ok(await client.get(f"/api/v1/activities/{visit['id']}", headers=tenant.headers))
    assert noted["notes"] == "[erased]经理([erased])要样品"
    assert "contact.erased" in {topic for topic, _ in await _topics(app)}
