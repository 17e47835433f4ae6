"""Contacts as records of their own: GET/PATCH /contacts/{id}, the global GET /contacts and the
buying role that orders a customer's decision chain (issue 19)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.helpers import bearer, ok
from tests.factories import create_contact, create_customer


async def test_a_contact_is_read_and_edited_by_its_id_with_if_match(client, make_tenant):
    tenant = await make_tenant()
    customer = await create_customer(client, tenant.headers, name="申华建材")
    contact = await create_contact(client, tenant.headers, customer["id"], name="李娜", phone="139 1234 5678")

    read = await client.get(f"/api/v1/contacts/{contact['id']}", headers=tenant.headers)
    assert ok(read)["phone"] == "+8613912345678"
    assert read.headers["ETag"] == '"1"'
    assert read.json()["buying_role"] is None
    assert read.json()["role_note"] is None

    edited = await client.patch(
        f"/api/v1/contacts/{contact['id']}",
        json={
            "title": "采购总监",
            "phone": "+86 139-8765-4321",
            "buying_role": "influencer",
            "role_note": "技术评估",
        },
        headers={**tenant.headers, "If-Match": '"1"'},
    )
    body = ok(edited)
    assert edited.headers["ETag"] == '"2"'
    assert body["version"] == 2
    assert body["title"] == "采购总监"
    assert body["phone"] == "+8613987654321"
    assert (body["buying_role"], body["role_note"], body["is_decision_maker"]) == (
        "influencer",
        "技术评估",
        False,
    )

    stale = await client.patch(
        f"/api/v1/contacts/{contact['id']}",
        json={"title": "经理"},
        headers={**tenant.headers, "If-Match": '"1"'},
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert (
        ok(await client.get(f"/api/v1/contacts/{contact['id']}", headers=tenant.headers))["title"]
        == "采购总监"
    )


async def test_a_bad_edit_is_refused_whole(client, make_tenant):
    tenant = await make_tenant()
    customer = await create_customer(client, tenant.headers, name="申华建材")
    contact = await create_contact(client, tenant.headers, customer["id"], name="李娜")
    path = f"/api/v1/contacts/{contact['id']}"

    bad_phone = await client.patch(path, json={"title": "总监", "phone": "12"}, headers=tenant.headers)
    assert bad_phone.status_code == 422
    assert [e["field"] for e in bad_phone.json()["errors"]] == ["phone"]
    bad_role = await client.patch(path, json={"buying_role": "boss"}, headers=tenant.headers)
    assert bad_role.status_code == 422
    null_name = await client.patch(path, json={"name": None}, headers=tenant.headers)
    assert null_name.status_code == 422
    unchanged = ok(await client.get(path, headers=tenant.headers))
    assert (unchanged["title"], unchanged["version"]) == (None, 1)


async def test_the_buying_role_and_the_v1_decision_maker_flag_stay_in_step(client, make_tenant):
    tenant = await make_tenant()
    customer = await create_customer(client, tenant.headers, name="申华建材")
    flagged = await create_contact(
        client, tenant.headers, customer["id"], name="王总", is_decision_maker=True
    )
    assert (flagged["buying_role"], flagged["is_decision_maker"]) == ("decision_maker", True)
    role = await create_contact(
        client, tenant.headers, customer["id"], name="赵工", buying_role="decision_maker"
    )
    assert role["is_decision_maker"] is True

    path = f"/api/v1/contacts/{flagged['id']}"
    demoted = ok(await client.patch(path, json={"is_decision_maker": False}, headers=tenant.headers))
    assert (demoted["buying_role"], demoted["is_decision_maker"]) == (None, False)
    gatekeeper = ok(await client.patch(path, json={"buying_role": "gatekeeper"}, headers=tenant.headers))
    assert (gatekeeper["buying_role"], gatekeeper["is_decision_maker"]) == ("gatekeeper", False)
    cleared = ok(await client.patch(path, json={"buying_role": None}, headers=tenant.headers))
    assert cleared["buying_role"] is None


async def test_a_customers_contacts_list_as_its_decision_chain(client, make_tenant):
    tenant = await make_tenant()
    customer = await create_customer(client, tenant.headers, name="申华建材")
    for name, role in (
        ("甲 无角色", None),
        ("乙 守门人", "gatekeeper"),
        ("丙 使用者", "user"),
        ("丁 决策人", "decision_maker"),
        ("戊 影响者", "influencer"),
        ("己 其他", "other"),
    ):
        await create_contact(client, tenant.headers, customer["id"], name=name, buying_role=role)

    path = f"/api/v1/customers/{customer['id']}/contacts"
    first = ok(await client.get(path, params={"limit": 4}, headers=tenant.headers))
    rest = ok(
        await client.get(path, params={"limit": 4, "cursor": first["next_cursor"]}, headers=tenant.headers)
    )
    assert rest["next_cursor"] is None
    roles = [c["buying_role"] for c in first["items"] + rest["items"]]
    assert roles == ["decision_maker", "influencer", "user", "gatekeeper", "other", None]


async def test_the_global_list_shows_the_contacts_of_customers_the_caller_may_see(
    client, make_tenant, make_user
):
    tenant = await make_tenant()
    supervisor, supervisor_token = await make_user(tenant, "supervisor")
    rep, rep_token = await make_user(tenant, "rep")
    _other_rep, other_token = await make_user(tenant, "rep")
    ok(
        await client.post(
            "/api/v1/teams",
            json={"name": "华东", "supervisor_id": supervisor["id"], "member_ids": [rep["id"]]},
            headers=tenant.headers,
        ),
        201,
    )
    mine = await create_customer(client, bearer(rep_token), name="申华建材")
    theirs = await create_customer(client, bearer(other_token), name="华南建材")
    my_contact = await create_contact(client, bearer(rep_token), mine["id"], name="李娜")
    their_contact = await create_contact(client, bearer(other_token), theirs["id"], name="陈明")

    def ids(page: dict[str, Any]) -> set[str]:
        return {c["id"] for c in page["items"]}

    assert ids(ok(await client.get("/api/v1/contacts", headers=bearer(rep_token)))) == {my_contact["id"]}
    assert ids(ok(await client.get("/api/v1/contacts", headers=bearer(supervisor_token)))) == {
        my_contact["id"]
    }
    assert ids(ok(await client.get("/api/v1/contacts", headers=tenant.headers))) == {
        my_contact["id"],
        their_contact["id"],
    }
    hidden = await client.get(f"/api/v1/contacts/{their_contact['id']}", headers=bearer(rep_token))
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "contact.not_found"
    refused = await client.patch(
        f"/api/v1/contacts/{their_contact['id']}", json={"title": "x"}, headers=bearer(rep_token)
    )
    assert refused.status_code == 404

    foreign = await make_tenant("Another Org")
    assert (
        await client.get(f"/api/v1/contacts/{my_contact['id']}", headers=foreign.headers)
    ).status_code == 404
    assert ok(await client.get("/api/v1/contacts", headers=foreign.headers))["items"] == []


async def test_the_global_list_filters_and_sorts(client, make_tenant, make_user, clock):
    tenant = await make_tenant()
    rep, rep_token = await make_user(tenant, "rep")
    rep_customer = await create_customer(client, bearer(rep_token), name="申华建材")
    admin_customer = await create_customer(client, tenant.headers, name="华南建材")
    li = await create_contact(
        client,
        bearer(rep_token),
        rep_customer["id"],
        name="李娜",
        phone="13800138000",
        email="Li.Na@Shenhua.example",
        buying_role="decision_maker",
    )
    clock.advance(minutes=1)
    wang = await create_contact(client, tenant.headers, admin_customer["id"], name="王强", buying_role="user")
    clock.advance(minutes=1)
    zhang = await create_contact(
        client, tenant.headers, admin_customer["id"], name="张伟", phone="021-5080 1234"
    )

    async def names(**params: Any) -> list[str]:
        page = ok(await client.get("/api/v1/contacts", params=params, headers=tenant.headers))
        return [c["name"] for c in page["items"]]

    assert await names(customer_id=admin_customer["id"], sort="name") == sorted(["王强", "张伟"])
    assert await names(owner_id=rep["id"]) == ["李娜"]
    mine = ok(await client.get("/api/v1/contacts", params={"owner_id": "me"}, headers=bearer(rep_token)))
    assert [c["id"] for c in mine["items"]] == [li["id"]]
    assert await names(buying_role=["decision_maker", "user"], sort="created_at") == ["李娜", "王强"]
    for typed in ("138 0013 8000", "138-0013-8000", "+86 138 0013 8000", "0086 13800138000", "8000"):
        assert await names(q=typed) == ["李娜"], typed
    assert await names(q="021 5080") == ["张伟"]
    assert await names(q="li.na@") == ["李娜"]
    assert await names(q="王") == ["王强"]
    assert await names(sort="-created_at") == ["张伟", "王强", "李娜"]
    clock.advance(minutes=1)
    updated = ok(
        await client.patch(f"/api/v1/contacts/{wang['id']}", json={"title": "主管"}, headers=tenant.headers)
    )
    assert await names(updated_since=updated["updated_at"]) == ["王强"]
    assert await names(created_from=zhang["created_at"]) == ["张伟"]
    assert await names(created_to=zhang["created_at"], sort="created_at") == ["李娜", "王强"]

    for bad in ({"sort": "phone"}, {"owner_id": "you"}, {"buying_role": "boss"}, {"colour": "red"}):
        response = await client.get("/api/v1/contacts", params=bad, headers=tenant.headers)
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == "application/problem+json"


async def test_an_api_key_is_nobodys_me(client, make_tenant):
    tenant = await make_tenant()
    key = ok(
        await client.post(
            "/api/v1/api-keys", json={"name": "erp", "scopes": ["customers:read"]}, headers=tenant.headers
        ),
        201,
    )
    response = await client.get("/api/v1/contacts", params={"owner_id": "me"}, headers=bearer(key["secret"]))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "owner_id"


async def test_deleted_and_erased_contacts(client, make_tenant):
    tenant = await make_tenant()
    customer = await create_customer(client, tenant.headers, name="申华建材")
    gone = await create_contact(client, tenant.headers, customer["id"], name="删除")
    erased = await create_contact(
        client, tenant.headers, customer["id"], name="擦除", role_note="老板的亲戚", buying_role="influencer"
    )
    assert (await client.delete(f"/api/v1/contacts/{gone['id']}", headers=tenant.headers)).status_code == 204
    assert (await client.get(f"/api/v1/contacts/{gone['id']}", headers=tenant.headers)).status_code == 404
    listed = ok(await client.get("/api/v1/contacts", headers=tenant.headers))
    assert gone["id"] not in {c["id"] for c in listed["items"]}

    # A deleted customer's contacts leave the list with it, and come back with it.
    other = await create_customer(client, tenant.headers, name="华南建材")
    kept = await create_contact(client, tenant.headers, other["id"], name="留下")
    deleted = await client.delete(f"/api/v1/customers/{other['id']}", headers=tenant.headers)
    assert deleted.status_code == 204
    listed = ok(await client.get("/api/v1/contacts", headers=tenant.headers))
    assert kept["id"] not in {c["id"] for c in listed["items"]}
    assert (await client.get(f"/api/v1/contacts/{kept['id']}", headers=tenant.headers)).status_code == 404
    ok(await client.post(f"/api/v1/customers/{other['id']}/restore", headers=tenant.headers))
    listed = ok(await client.get("/api/v1/contacts", headers=tenant.headers))
    assert kept["id"] in {c["id"] for c in listed["items"]}

    wiped = ok(
        await client.post(
            f"/api/v1/contacts/{erased['id']}/erase", json={"reason": "本人要求删除"}, headers=tenant.headers
        )
    )
    assert (wiped["name"], wiped["role_note"]) == ("erased", None)
    refused = await client.patch(
        f"/api/v1/contacts/{erased['id']}", json={"phone": "13800138000"}, headers=tenant.headers
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "contact.erased"


async def test_a_contact_edit_is_audited(client, make_tenant):
    tenant = await make_tenant()
    customer = await create_customer(client, tenant.headers, name="申华建材")
    contact = await create_contact(client, tenant.headers, customer["id"], name="李娜")
    ok(
        await client.patch(
            f"/api/v1/contacts/{contact['id']}",
            json={"buying_role": "decision_maker"},
            headers=tenant.headers,
        )
    )
    events = ok(
        await client.get(
            "/api/v1/audit-events",
            params={"entity_type": "contact", "entity_id": contact["id"]},
            headers=tenant.headers,
        )
    )
    updated = [e for e in events["items"] if e["action"] == "contact.updated"]
    assert len(updated) == 1
    assert updated[0]["after"]["buying_role"] == "decision_maker"
    assert updated[0]["before"]["buying_role"] is None
    assert uuid.UUID(updated[0]["entity_id"]) == uuid.UUID(contact["id"])
