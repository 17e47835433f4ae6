"""Leads: de-duplication (exact and fuzzy), merge, races, visibility, convert and disqualify."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event


def _lead(**fields: object) -> dict[str, object]:
    return {"name": "张伟", "source": "exhibition", **fields}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("138-0013-8000", "+86 13800138000"),
        ("+86 13800138000", "8613800138000"),
        ("13800138000", "(0086) 138 0013 8000"),
    ],
)
async def test_the_same_phone_in_another_format_is_a_409_naming_the_existing_lead(
    client, make_tenant, first, second
):
    tenant = await make_tenant()
    created = await client.post("/api/v1/leads", json=_lead(phone=first), headers=tenant.headers)
    assert created.status_code == 201, created.text
    assert created.json()["phone"] == "+8613800138000"
    again = await client.post(
        "/api/v1/leads", json=_lead(name="另一个人", phone=second), headers=tenant.headers
    )
    assert again.status_code == 409
    problem = again.json()
    assert problem["code"] == "lead.duplicate"
    assert problem["existing_id"] == created.json()["id"]
    assert problem["errors"] == [{"field": "phone", "code": "duplicate", "message": problem["detail"]}]


async def test_a_duplicate_lead_is_named_as_far_as_the_caller_may_see_it(client, make_tenant, make_user):
    """The admin sees the lead it matched by name, status and owner; a rep who may not see that
    lead learns only that it exists and whose it is."""
    tenant = await make_tenant()
    owner, _ = await make_user(tenant, "rep", display_name="王芳")
    _, other_rep = await make_user(tenant, "rep")
    created = await client.post(
        "/api/v1/leads", json=_lead(phone="13800138001", owner_id=owner["id"]), headers=tenant.headers
    )
    assert created.status_code == 201, created.text

    seen = await client.post(
        "/api/v1/leads", json=_lead(name="李工", phone="13800138001"), headers=tenant.headers
    )
    assert seen.status_code == 409
    assert seen.json()["detail"] == "The lead 张伟 (status assigned, owner: 王芳) has the same phone."
    assert {key: seen.json().get(key) for key in ("existing_id", "existing_name", "existing_status")} == {
        "existing_id": created.json()["id"],
        "existing_name": "张伟",
        "existing_status": "assigned",
    }
    assert seen.json()["existing_owner_name"] == "王芳"

    unseen = await client.post(
        "/api/v1/leads",
        json=_lead(name="李工", phone="+86 138 0013 8001"),
        headers={"Authorization": f"Bearer {other_rep}"},
    )
    assert unseen.status_code == 409
    problem = unseen.json()
    assert problem["detail"] == (
        "A lead with the same phone exists under a colleague (owner: 王芳); ask them or your supervisor."
    )
    assert problem["errors"] == [{"field": "phone", "code": "duplicate", "message": problem["detail"]}]
    assert "张伟" not in unseen.text
    assert not {"existing_name", "existing_status"} & problem.keys()
    assert problem["existing_owner_name"] == "王芳"


async def test_leads_with_different_empty_fields_share_one_insert_statement(app, client, make_tenant):
    """One statement for every lead: PostgreSQL prepares and plans it once per connection, instead of
    once for each combination of fields a form left empty."""
    tenant = await make_tenant()
    statements: list[str] = []

    def record(connection, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO lead "):
            statements.append(statement)

    engine = app.state.runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        for fields in (
            {"phone": "13800138000", "company": "华东建材"},
            {"email": "li@example.com", "region": "华东"},
        ):
            created = await client.post("/api/v1/leads", json=_lead(**fields), headers=tenant.headers)
            assert created.status_code == 201, created.text
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(statements) == 2
    assert len(set(statements)) == 1
    assert created.json()["company"] is None
    assert created.json()["phone"] is None


async def test_email_duplicates_ignore_case(client, make_tenant):
    tenant = await make_tenant()
    created = await client.post(
        "/api/v1/leads", json=_lead(email="Zhang.Wei@Example.COM"), headers=tenant.headers
    )
    assert created.json()["email"] == "zhang.wei@example.com"
    again = await client.post(
        "/api/v1/leads", json=_lead(email="zhang.wei@example.com"), headers=tenant.headers
    )
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "email"


async def test_invalid_contact_details_are_422_naming_each_field(client, make_tenant):
    tenant = await make_tenant()
    bad = await client.post(
        "/api/v1/leads", json=_lead(phone="123", email="not-an-email"), headers=tenant.headers
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"phone", "email"}
    none = await client.post("/api/v1/leads", json=_lead(), headers=tenant.headers)
    assert none.status_code == 422
    assert none.json()["code"] == "lead.no_contact"


async def test_similar_company_is_reported_as_possible_duplicate(client, make_tenant):
    tenant = await make_tenant()
    first = await client.post(
        "/api/v1/leads",
        json=_lead(phone="13800138000", company="上海申华建材有限公司"),
        headers=tenant.headers,
    )
    similar = await client.post(
        "/api/v1/leads",
        json=_lead(phone="13900139000", company="上海申华建材股份有限公司"),
        headers=tenant.headers,
    )
    different = await client.post(
        "/api/v1/leads", json=_lead(phone="13700137000", company="北京燕山水泥厂"), headers=tenant.headers
    )
    assert similar.status_code == 201
    assert [d["lead_id"] for d in similar.json()["possible_duplicates"]] == [first.json()["id"]]
    assert similar.json()["possible_duplicates"][0]["score"] >= 90
    assert different.json()["possible_duplicates"] == []


async def test_near_duplicates_are_found_among_hundreds_of_names_with_the_same_beginning(client, make_tenant):
    """More leads share the name's first characters than the look-up compares against: it must
    compare against the names sorting nearest to the new one, on either side, not whichever it
    happens to read first."""
    tenant = await make_tenant()

    async def lead(phone: str, company: str) -> dict:
        created = await client.post(
            "/api/v1/leads", json=_lead(phone=phone, company=company), headers=tenant.headers
        )
        assert created.status_code == 201, created.text
        return created.json()

    for n in range(150):  # names sorting before 上海申华… and after it
        await lead(f"139{n:08d}", f"上海申一物流{n:03d}有限公司")
        await lead(f"137{n:08d}", f"上海申通物流{n:03d}有限公司")
    first = await lead("13800138000", "上海申华建材有限公司")

    after_it = await lead("13600136000", "上海申华建材厂")
    before_it = await lead("13500135000", "上海申华建有限公司")

    assert [d["lead_id"] for d in after_it["possible_duplicates"]] == [first["id"]]
    assert [d["lead_id"] for d in before_it["possible_duplicates"]] == [first["id"]]


async def test_merge_appends_the_new_information_to_the_existing_lead(client, make_tenant):
    tenant = await make_tenant()
    created = await client.post("/api/v1/leads", json=_lead(phone="13800138000"), headers=tenant.headers)
    merged = await client.post(
        "/api/v1/leads",
        params={"on_duplicate": "merge"},
        json=_lead(phone="+8613800138000", budget="300000", notes="第二次留资"),
        headers=tenant.headers,
    )
    assert merged.status_code == 200
    assert merged.json()["id"] == created.json()["id"]
    notes = await client.get(
        "/api/v1/activities", params={"lead_id": created.json()["id"]}, headers=tenant.headers
    )
    [note] = notes.json()["items"]
    assert note["type"] == "note"
    assert "budget: 300000" in note["notes"]
    assert "第二次留资" in note["notes"]
    listed = await client.get("/api/v1/leads", headers=tenant.headers)
    assert len(listed.json()["items"]) == 1


async def test_fifty_concurrent_identical_posts_create_exactly_one_lead(client, make_tenant):
    tenant = await make_tenant()
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/leads", json=_lead(phone="13800138000", company="并发建材"), headers=tenant.headers
            )
            for _ in range(50)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 49
    created_id = next(r.json()["id"] for r in responses if r.status_code == 201)
    assert {r.json()["existing_id"] for r in responses if r.status_code == 409} == {created_id}
    listed = await client.get("/api/v1/leads", params={"limit": 200}, headers=tenant.headers)
    assert len(listed.json()["items"]) == 1


async def test_rep_sees_own_leads_and_the_pool_supervisor_the_team_and_others_get_404(
    client, make_tenant, make_user, app
):
    tenant = await make_tenant()
    supervisor, supervisor_token = await make_user(tenant, "supervisor")
    rep, rep_token = await make_user(tenant, "rep")
    other_rep, other_token = await make_user(tenant, "rep")
    await client.post(
        "/api/v1/teams",
        json={"name": "East", "supervisor_id": supervisor["id"], "member_ids": [rep["id"]]},
        headers=tenant.headers,
    )

    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    mine = await client.post("/api/v1/leads", json=_lead(phone="13800138000"), headers=auth(rep_token))
    theirs = await client.post("/api/v1/leads", json=_lead(phone="13900139000"), headers=auth(other_token))
    assert mine.json()["owner_id"] == rep["id"]
    assert mine.json()["status"] == "assigned"
    by_admin = await client.post("/api/v1/leads", json=_lead(phone="13700137000"), headers=tenant.headers)
    assert by_admin.json()["owner_id"] is None
    assert by_admin.json()["status"] == "new"
    await app.state.runtime.queue.drain()  # no assignment rule: the lead goes to the pool

    async def ids(token: str) -> set[str]:
        return {
            lead["id"] for lead in (await client.get("/api/v1/leads", headers=auth(token))).json()["items"]
        }

    assert await ids(rep_token) == {mine.json()["id"], by_admin.json()["id"]}
    assert await ids(supervisor_token) == {mine.json()["id"], by_admin.json()["id"]}
    hidden = await client.get(f"/api/v1/leads/{theirs.json()['id']}", headers=auth(rep_token))
    assert hidden.status_code == 404
    give_away = await client.post(
        f"/api/v1/leads/{mine.json()['id']}/assign",
        json={"user_id": other_rep["id"], "reason": "too busy"},
        headers=auth(rep_token),
    )
    assert give_away.status_code == 403


async def test_convert_creates_customer_and_contact_in_one_go(client, make_tenant, make_user):
    tenant = await make_tenant()
    lead = await client.post(
        "/api/v1/leads",
        json=_lead(
            phone="13800138000", email="zw@example.com", company="上海申华建材有限公司", region="华东"
        ),
        headers=tenant.headers,
    )
    converted = await client.post(
        f"/api/v1/leads/{lead.json()['id']}/convert", json={}, headers=tenant.headers
    )
    assert converted.status_code == 200, converted.text
    body = converted.json()
    assert body["customer_created"] is True
    assert body["lead"]["status"] == "converted"
    assert body["customer"]["name"] == "上海申华建材有限公司"
    assert body["customer"]["code"] == "C000001"
    assert body["customer"]["region"] == "华东"
    assert body["contact"]["phone"] == "+8613800138000"
    assert body["lead"]["customer_id"] == body["customer"]["id"]
    again = await client.post(f"/api/v1/leads/{lead.json()['id']}/convert", json={}, headers=tenant.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "lead.closed"

    second = await client.post("/api/v1/leads", json=_lead(phone="13900139000"), headers=tenant.headers)
    linked = await client.post(
        f"/api/v1/leads/{second.json()['id']}/convert",
        json={"customer_id": body["customer"]["id"]},
        headers=tenant.headers,
    )
    assert linked.json()["customer_created"] is False
    assert linked.json()["customer"]["code"] == "C000001"
    contacts = await client.get(
        f"/api/v1/customers/{body['customer']['id']}/contacts", headers=tenant.headers
    )
    assert len(contacts.json()["items"]) == 2


async def test_convert_can_open_an_opportunity_in_the_same_transaction(client, make_tenant):
    tenant = await make_tenant()
    lead = await client.post(
        "/api/v1/leads", json=_lead(phone="13800138000", product_line="防水材料"), headers=tenant.headers
    )
    converted = await client.post(
        f"/api/v1/leads/{lead.json()['id']}/convert",
        json={
            "customer_name": "申华建材",
            "opportunity_name": "屋面防水工程",
            "opportunity_amount": "860000",
        },
        headers=tenant.headers,
    )
    assert converted.status_code == 200, converted.text
    deal = converted.json()["opportunity"]
    assert deal["name"] == "屋面防水工程"
    assert deal["amount"] == "860000.00"
    assert deal["customer_id"] == converted.json()["customer"]["id"]
    assert deal["contact_id"] == converted.json()["contact"]["id"]
    assert deal["source_lead_id"] == lead.json()["id"]
    assert deal["product_lines"] == ["防水材料"]
    pipelines = await client.get("/api/v1/pipelines", headers=tenant.headers)
    default = next(p for p in pipelines.json()["items"] if p["is_default"])
    assert deal["pipeline_id"] == default["id"]
    assert deal["stage_id"] == default["stages"][0]["id"]

    bad_pipeline = await client.post(
        "/api/v1/leads",
        json=_lead(phone="13900139000"),
        headers=tenant.headers,
    )
    refused = await client.post(
        f"/api/v1/leads/{bad_pipeline.json()['id']}/convert",
        json={"opportunity_name": "x", "pipeline_id": "00000000-0000-4000-8000-000000000000"},
        headers=tenant.headers,
    )
    assert refused.status_code == 404
    still_open = await client.get(f"/api/v1/leads/{bad_pipeline.json()['id']}", headers=tenant.headers)
    assert still_open.json()["status"] != "converted"  # nothing half-written


async def test_disqualify_needs_a_reason_and_closes_the_lead(client, make_tenant):
    tenant = await make_tenant()
    lead = await client.post("/api/v1/leads", json=_lead(phone="13800138000"), headers=tenant.headers)
    no_reason = await client.post(
        f"/api/v1/leads/{lead.json()['id']}/disqualify", json={}, headers=tenant.headers
    )
    assert no_reason.status_code == 422
    done = await client.post(
        f"/api/v1/leads/{lead.json()['id']}/disqualify", json={"reason": "无预算"}, headers=tenant.headers
    )
    assert done.json()["status"] == "disqualified"
    assert done.json()["disqualified_reason"] == "无预算"
    edit = await client.patch(
        f"/api/v1/leads/{lead.json()['id']}", json={"name": "x"}, headers=tenant.headers
    )
    assert edit.status_code == 409
