"""Names next to ids (issue 19, point 4): list and detail answers carry `<reference>_name` beside each
`<reference>_id` a screen shows, resolved per page (no query per row); `ids` looks records up in batch."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from tests.api.helpers import bearer, ok
from tests.api.pipelines.test_pipelines import PROJECT, _pipelines, _quote
from tests.factories import (
    create_campaign,
    create_contact,
    create_customer,
    create_lead,
    create_opportunity,
    create_product,
    create_team,
)


def _earlier(clock: Any) -> str:
    return (clock() - timedelta(hours=1)).isoformat()


async def _rep(
    make_user, tenant, display_name: str, role: str = "rep"
) -> tuple[dict[str, Any], dict[str, str]]:
    user, token = await make_user(tenant, role, display_name=display_name)
    return user, bearer(token)


async def _deal(
    client, tenant, owner: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A customer owned by `owner`, a contact, and an opportunity on it in the project pipeline."""
    customer = await create_customer(client, tenant.headers, name="申华建材")
    ok(
        await client.patch(
            f"/api/v1/customers/{customer['id']}", json={"owner_id": owner["id"]}, headers=tenant.headers
        )
    )
    contact = await create_contact(client, tenant.headers, customer["id"])
    pipeline = (await _pipelines(client, tenant.headers))[PROJECT]
    deal = await create_opportunity(
        client,
        tenant.headers,
        customer["id"],
        pipeline_id=pipeline["id"],
        owner_id=owner["id"],
        contact_id=contact["id"],
    )
    return customer, contact, deal


async def test_leads_customers_and_opportunities_name_their_references(client, make_tenant, make_user):
    tenant = await make_tenant()
    rep, _ = await _rep(make_user, tenant, "王芳")
    customer, contact, deal = await _deal(client, tenant, rep)
    lead = await create_lead(client, tenant.headers, owner_id=rep["id"])
    pipeline = (await _pipelines(client, tenant.headers))[PROJECT]
    first_stage = next(s for s in pipeline["stages"] if s["id"] == deal["stage_id"])

    for answer in (
        ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers)),
        ok(await client.get("/api/v1/leads", headers=tenant.headers))["items"][0],
    ):
        assert (answer["owner_id"], answer["owner_name"]) == (rep["id"], "王芳")
        assert answer["customer_name"] is None
        assert answer["previous_owner_name"] is None
    for answer in (
        ok(await client.get(f"/api/v1/customers/{customer['id']}", headers=tenant.headers)),
        ok(await client.get("/api/v1/customers", headers=tenant.headers))["items"][0],
    ):
        assert answer["owner_name"] == "王芳"
    for answer in (
        deal,
        ok(await client.get(f"/api/v1/opportunities/{deal['id']}", headers=tenant.headers)),
        ok(await client.get("/api/v1/opportunities", headers=tenant.headers))["items"][0],
    ):
        assert answer["owner_name"] == "王芳"
        assert answer["customer_name"] == "申华建材"
        assert answer["contact_name"] == contact["name"]
        assert answer["pipeline_name"] == PROJECT
        assert answer["stage_name"] == first_stage["name"]
    contacts = ok(await client.get(f"/api/v1/customers/{customer['id']}/contacts", headers=tenant.headers))
    everyones = ok(await client.get("/api/v1/contacts", headers=tenant.headers))
    one = ok(await client.get(f"/api/v1/contacts/{contact['id']}", headers=tenant.headers))
    edited = ok(
        await client.patch(
            f"/api/v1/contacts/{contact['id']}", json={"title": "采购经理"}, headers=tenant.headers
        )
    )
    assert [c["customer_name"] for c in contacts["items"] + everyones["items"]] == ["申华建材"] * 2
    assert one["customer_name"] == edited["customer_name"] == "申华建材"
    history = ok(
        await client.get(f"/api/v1/opportunities/{deal['id']}/stage-history", headers=tenant.headers)
    )
    assert history["items"][0]["stage_name"] == first_stage["name"]


async def test_activities_tasks_quotes_teams_and_playbook_name_their_references(
    client, clock, make_tenant, make_user
):
    tenant = await make_tenant()
    rep, rep_headers = await _rep(make_user, tenant, "王芳")
    boss, _ = await _rep(make_user, tenant, "李主管", role="supervisor")
    customer, _, deal = await _deal(client, tenant, rep)
    admin = ok(await client.get("/api/v1/users/me", headers=tenant.headers))

    activity = ok(
        await client.post(
            "/api/v1/activities",
            json={"type": "call", "occurred_at": _earlier(clock), "customer_id": customer["id"]},
            headers=rep_headers,
        ),
        201,
    )
    for answer in (
        activity,
        ok(await client.get(f"/api/v1/activities/{activity['id']}", headers=rep_headers)),
        ok(await client.get("/api/v1/activities", headers=rep_headers))["items"][0],
    ):
        assert (answer["owner_name"], answer["customer_name"], answer["lead_name"]) == (
            "王芳",
            "申华建材",
            None,
        )
    timeline = ok(await client.get(f"/api/v1/customers/{customer['id']}/timeline", headers=rep_headers))
    assert {item["actor_name"] for item in timeline["items"] if item["actor_id"] == rep["id"]} == {"王芳"}

    task = ok(
        await client.post(
            "/api/v1/tasks",
            json={
                "title": "送样",
                "due_at": "2026-11-26T10:00:00+08:00",
                "assignee_id": rep["id"],
                "opportunity_id": deal["id"],
            },
            headers=tenant.headers,
        ),
        201,
    )
    for answer in (
        task,
        ok(await client.get(f"/api/v1/tasks/{task['id']}", headers=tenant.headers)),
        ok(await client.get("/api/v1/tasks", params={"opportunity_id": deal["id"]}, headers=tenant.headers))[
            "items"
        ][0],
    ):
        assert answer["assignee_name"] == "王芳"
        assert answer["created_by_name"] == admin["display_name"]
        assert answer["opportunity_name"] == deal["name"]
        assert answer["customer_name"] == "申华建材"

    product = await create_product(client, tenant.headers, list_price="100.0000")
    quote = ok(await _quote(client, tenant.headers, deal["id"], (product["id"], "100", "2")), 201)
    for answer in (
        quote,
        ok(await client.get(f"/api/v1/quotes/{quote['id']}", headers=tenant.headers)),
        ok(await client.get("/api/v1/quotes", headers=tenant.headers))["items"][0],
    ):
        assert (answer["customer_name"], answer["opportunity_name"]) == ("申华建材", deal["name"])
        assert answer["lines"][0]["product_name"] == product["name"]

    await create_team(client, tenant.headers, boss, [rep])
    teams = ok(await client.get("/api/v1/teams", headers=tenant.headers))["items"]
    assert [t["supervisor_name"] for t in teams] == ["李主管"]
    team = ok(await client.get(f"/api/v1/teams/{teams[0]['id']}", headers=tenant.headers))
    assert team["supervisor_name"] == "李主管"

    entry = ok(
        await client.post(
            "/api/v1/playbook-entries",
            json={"kind": "script", "title": "开场白", "body": "您好，我是申华建材的王芳。"},
            headers=rep_headers,
        ),
        201,
    )
    assert entry["author_name"] == "王芳"
    listed = ok(await client.get("/api/v1/playbook-entries", headers=rep_headers))["items"]
    assert [e["author_name"] for e in listed] == ["王芳"]


async def test_sla_timers_name_their_policy_subject_and_owner(app, client, make_tenant, make_user):
    from tests.api.sla.test_sla import _first_response_policy

    tenant = await make_tenant()
    rep, _ = await _rep(make_user, tenant, "王芳")
    policy = await _first_response_policy(client, tenant)
    lead = await create_lead(client, tenant.headers, name="赵敏")
    ok(
        await client.post(
            f"/api/v1/leads/{lead['id']}/assign",
            json={"user_id": rep["id"], "reason": "区域"},
            headers=tenant.headers,
        )
    )
    await app.state.runtime.queue.drain()
    timers = ok(
        await client.get("/api/v1/sla-timers", params={"subject_id": lead["id"]}, headers=tenant.headers)
    )
    (timer,) = timers["items"]
    assert (timer["policy_name"], timer["subject_name"], timer["owner_name"]) == (
        policy["name"],
        "赵敏",
        "王芳",
    )


async def test_the_pool_names_the_previous_owner(client, make_tenant, make_user):
    tenant = await make_tenant()
    rep, rep_headers = await _rep(make_user, tenant, "王芳")
    lead = await create_lead(client, tenant.headers, owner_id=rep["id"])
    released = ok(
        await client.post(
            f"/api/v1/leads/{lead['id']}/release", json={"reason": "联系不上"}, headers=rep_headers
        )
    )
    assert (released["owner_name"], released["previous_owner_name"]) == (None, "王芳")
    pool = ok(await client.get("/api/v1/lead-pool", headers=rep_headers))["items"]
    assert [(p["id"], p["previous_owner_name"]) for p in pool] == [(lead["id"], "王芳")]


async def test_a_renamed_user_shows_the_new_name_and_a_deleted_record_none(
    client, clock, make_tenant, make_user
):
    tenant = await make_tenant()
    rep, _ = await _rep(make_user, tenant, "王芳")
    lead = await create_lead(client, tenant.headers, owner_id=rep["id"])
    ok(
        await client.patch(
            f"/api/v1/users/{rep['id']}", json={"display_name": "王芳芳"}, headers=tenant.headers
        )
    )
    assert (
        ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers))["owner_name"] == "王芳芳"
    )

    activity = ok(
        await client.post(
            "/api/v1/activities",
            json={"type": "call", "occurred_at": _earlier(clock), "lead_id": lead["id"]},
            headers=tenant.headers,
        ),
        201,
    )
    assert activity["lead_name"] == "张伟"
    deleted = await client.delete(f"/api/v1/leads/{lead['id']}", headers=tenant.headers)
    assert deleted.status_code == 204, deleted.text
    after = ok(await client.get(f"/api/v1/activities/{activity['id']}", headers=tenant.headers))
    assert (after["lead_id"], after["lead_name"]) == (lead["id"], None)

    other = await create_lead(client, tenant.headers, name="赵敏")
    called = ok(
        await client.post(
            "/api/v1/activities",
            json={"type": "call", "occurred_at": _earlier(clock), "lead_id": other["id"]},
            headers=tenant.headers,
        ),
        201,
    )
    assert called["lead_name"] == "赵敏"
    erase = {"reason": "PIPL-117"}
    ok(await client.post(f"/api/v1/leads/{other['id']}/erase", json=erase, headers=tenant.headers))
    after = ok(await client.get(f"/api/v1/activities/{called['id']}", headers=tenant.headers))
    assert (after["lead_id"], after["lead_name"]) == (other["id"], None)


async def _queries_for(app, client: httpx.AsyncClient, url: str, headers: dict[str, str], limit: int) -> int:
    await app.state.runtime.queue.drain()  # jobs the writes asked for run now, not amid the count
    statements: list[str] = []

    def record(connection, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = app.state.runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        answer = ok(await client.get(url, params={"limit": limit}, headers=headers))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(answer["items"]) == limit
    return len(statements)


async def test_a_page_of_30_costs_the_queries_of_a_page_of_3(app, client, make_tenant, make_user):
    tenant = await make_tenant()
    reps = [(await _rep(make_user, tenant, f"销售{i}"))[0] for i in range(3)]
    customer, contact, _ = await _deal(client, tenant, reps[0])
    pipeline = (await _pipelines(client, tenant.headers))[PROJECT]
    for i in range(30):
        await create_lead(client, tenant.headers, owner_id=reps[i % 3]["id"])
        if i:
            await create_opportunity(
                client,
                tenant.headers,
                customer["id"],
                pipeline_id=pipeline["id"],
                owner_id=reps[i % 3]["id"],
                contact_id=contact["id"],
            )
    for url in ("/api/v1/leads", "/api/v1/opportunities"):
        ok(await client.get(url, headers=tenant.headers))  # warms the caches a first request fills
        few = await _queries_for(app, client, url, tenant.headers, 3)
        many = await _queries_for(app, client, url, tenant.headers, 30)
        assert many == few, url
    names = {
        o["owner_name"]
        for o in ok(await client.get("/api/v1/opportunities?limit=30", headers=tenant.headers))["items"]
    }
    assert names == {"销售0", "销售1", "销售2"}


async def test_a_page_of_quotes_costs_the_queries_of_a_shorter_one(app, client, make_tenant, make_user):
    tenant = await make_tenant()
    rep, _ = await _rep(make_user, tenant, "王芳")
    _, _, deal = await _deal(client, tenant, rep)
    product = await create_product(client, tenant.headers, list_price="100.0000")
    for _ in range(12):
        ok(await _quote(client, tenant.headers, deal["id"], (product["id"], "100", "2")), 201)
    ok(await client.get("/api/v1/quotes", headers=tenant.headers))
    few = await _queries_for(app, client, "/api/v1/quotes", tenant.headers, 3)
    many = await _queries_for(app, client, "/api/v1/quotes", tenant.headers, 12)
    assert many == few


async def test_ids_look_up_exactly_the_visible_records_asked_for(client, make_tenant, make_user):
    tenant = await make_tenant()
    rep_a, a_headers = await _rep(make_user, tenant, "甲")
    rep_b, _ = await _rep(make_user, tenant, "乙")
    lead_a = await create_lead(client, tenant.headers, owner_id=rep_a["id"])
    lead_b = await create_lead(client, tenant.headers, owner_id=rep_b["id"])
    lead_c = await create_lead(client, tenant.headers, owner_id=rep_a["id"])
    unknown = str(uuid.uuid4())

    def ids_of(answer: dict[str, Any]) -> set[str]:
        return {item["id"] for item in answer["items"]}

    asked = f"{lead_a['id']},{lead_b['id']},{unknown}"
    assert ids_of(ok(await client.get("/api/v1/leads", params={"ids": asked}, headers=a_headers))) == {
        lead_a["id"]
    }
    assert ids_of(ok(await client.get("/api/v1/leads", params={"ids": asked}, headers=tenant.headers))) == {
        lead_a["id"],
        lead_b["id"],
    }
    repeated = [("ids", lead_a["id"]), ("ids", f"{lead_b['id']},{lead_c['id']}"), ("owner_id", rep_a["id"])]
    assert ids_of(ok(await client.get("/api/v1/leads", params=repeated, headers=tenant.headers))) == {
        lead_a["id"],
        lead_c["id"],
    }

    users = ok(
        await client.get(
            "/api/v1/users", params={"ids": f"{rep_a['id']},{rep_b['id']}"}, headers=tenant.headers
        )
    )
    assert ids_of(users) == {rep_a["id"], rep_b["id"]}
    users = ok(
        await client.get("/api/v1/users", params={"ids": f"{rep_a['id']},{rep_b['id']}"}, headers=a_headers)
    )
    assert ids_of(users) == {rep_a["id"]}
    customer, _, deal = await _deal(client, tenant, rep_b)
    for resource, record in (("customers", customer), ("opportunities", deal)):
        both = {"ids": f"{record['id']},{unknown}"}
        assert ids_of(ok(await client.get(f"/api/v1/{resource}", params=both, headers=tenant.headers))) == {
            record["id"]
        }
        assert ids_of(ok(await client.get(f"/api/v1/{resource}", params=both, headers=a_headers))) == set()


@pytest.mark.parametrize("resource", ["users", "customers", "leads", "opportunities"])
async def test_ids_beyond_100_or_not_uuids_are_422_naming_the_parameter(client, make_tenant, resource):
    tenant = await make_tenant()
    many = ",".join(str(uuid.uuid4()) for _ in range(101))
    for value in (many, "not-a-uuid", f"{uuid.uuid4()},,"):
        refused = await client.get(f"/api/v1/{resource}", params={"ids": value}, headers=tenant.headers)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert {e["field"].split("[")[0] for e in refused.json()["errors"]} == {"ids"}
    hundred = ",".join(str(uuid.uuid4()) for _ in range(100))
    assert (
        ok(await client.get(f"/api/v1/{resource}", params={"ids": hundred}, headers=tenant.headers))["items"]
        == []
    )


async def test_campaigns_and_what_they_brought_in_name_the_campaign_and_who_entered_it(
    client, make_tenant, make_user
):
    tenant = await make_tenant()
    admin = ok(await client.get("/api/v1/users/me", headers=tenant.headers))
    marketer, marketing_headers = await _rep(make_user, tenant, "市场小刘", role="marketing")
    campaign = await create_campaign(
        client, marketing_headers, name="2026上海建材展", starts_on="2026-11-10", ends_on="2026-11-12"
    )
    costs = f"/api/v1/campaigns/{campaign['id']}/costs"
    cost = ok(
        await client.post(
            costs, json={"incurred_on": "2026-11-10", "amount": "1200"}, headers=tenant.headers
        ),
        201,
    )
    for answer in (
        campaign,
        ok(await client.get(f"/api/v1/campaigns/{campaign['id']}", headers=tenant.headers)),
        ok(await client.get("/api/v1/campaigns", headers=tenant.headers))["items"][0],
    ):
        assert answer["created_by_name"] == "市场小刘"
    for answer in (cost, ok(await client.get(costs, headers=tenant.headers))["items"][0]):
        assert (answer["campaign_name"], answer["created_by_name"]) == (
            "2026上海建材展",
            admin["display_name"],
        )

    lead = await create_lead(client, marketing_headers, campaign_id=campaign["id"])
    for answer in (
        lead,
        ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers)),
        ok(await client.get("/api/v1/leads", headers=tenant.headers))["items"][0],
    ):
        assert (answer["campaign_id"], answer["campaign_name"]) == (campaign["id"], "2026上海建材展")
    customer = await create_customer(client, tenant.headers, name="申华建材")
    pipeline = (await _pipelines(client, tenant.headers))[PROJECT]
    deal = await create_opportunity(
        client, tenant.headers, customer["id"], pipeline_id=pipeline["id"], campaign_id=campaign["id"]
    )
    listed = ok(await client.get("/api/v1/opportunities", headers=tenant.headers))["items"]
    assert deal["campaign_name"] == listed[0]["campaign_name"] == "2026上海建材展"

    form_body = {
        "name": "展会报名",
        "field_mapping": {"n": "name", "m": "phone"},
        "campaign_id": campaign["id"],
    }
    form = ok(await client.post("/api/v1/intake-forms", json=form_body, headers=tenant.headers), 201)
    for answer in (
        form,
        ok(await client.get(f"/api/v1/intake-forms/{form['id']}", headers=tenant.headers)),
        ok(await client.get("/api/v1/intake-forms", headers=tenant.headers))["items"][0],
    ):
        assert answer["campaign_name"] == "2026上海建材展"
    assert marketer["id"] == campaign["created_by_id"]


async def test_keys_audit_events_deleted_records_and_handovers_name_their_people(
    client, make_tenant, make_user
):
    tenant = await make_tenant()
    admin = ok(await client.get("/api/v1/users/me", headers=tenant.headers))
    leaving, leaving_headers = await _rep(make_user, tenant, "王芳")
    taking_over, _ = await _rep(make_user, tenant, "赵强")
    key = ok(
        await client.post(
            "/api/v1/api-keys", json={"name": "BI 同步", "scopes": ["leads:write"]}, headers=tenant.headers
        ),
        201,
    )
    for answer in (key, ok(await client.get("/api/v1/api-keys", headers=tenant.headers))["items"][0]):
        assert answer["created_by_name"] == admin["display_name"]

    by_key = await create_lead(client, bearer(key["secret"]), name="钱进")
    by_rep = await create_lead(client, leaving_headers, name="孙丽")
    actors = set()
    for lead in (by_key, by_rep):
        events = ok(
            await client.get("/api/v1/audit-events", params={"entity_id": lead["id"]}, headers=tenant.headers)
        )["items"]
        actors |= {(e["actor_type"], e["actor_name"]) for e in events if e["action"] == "lead.created"}
    assert actors == {("api_key", "BI 同步"), ("user", "王芳")}

    deleted = await client.delete(f"/api/v1/leads/{by_rep['id']}", headers=tenant.headers)
    assert deleted.status_code == 204, deleted.text
    (gone,) = ok(await client.get("/api/v1/leads/deleted", headers=tenant.headers))["items"]
    assert (gone["name"], gone["owner_name"], gone["deleted_by_name"]) == (
        "孙丽",
        "王芳",
        admin["display_name"],
    )

    handover = ok(
        await client.post(
            f"/api/v1/users/{leaving['id']}/handover",
            json={"to_user_id": taking_over["id"]},
            headers=tenant.headers,
        )
    )
    assert (handover["from_user_name"], handover["to_user_name"]) == ("王芳", "赵强")


async def test_teams_and_assignment_rules_name_their_members_and_targets(app, client, make_tenant, make_user):
    tenant = await make_tenant()
    boss, _ = await _rep(make_user, tenant, "李主管", role="supervisor")
    first, _ = await _rep(make_user, tenant, "王芳")
    second, _ = await _rep(make_user, tenant, "赵强")
    team = ok(
        await client.post(
            "/api/v1/teams",
            json={"name": "华东一组", "supervisor_id": boss["id"], "member_ids": [second["id"], first["id"]]},
            headers=tenant.headers,
        ),
        201,
    )
    for answer in (
        team,
        ok(await client.get(f"/api/v1/teams/{team['id']}", headers=tenant.headers)),
        ok(await client.get("/api/v1/teams", headers=tenant.headers))["items"][0],
    ):
        named = dict(zip(answer["member_ids"], answer["member_names"], strict=True))
        assert named == {first["id"]: "王芳", second["id"]: "赵强"}

    rule_body = {
        "name": "华东大客户",
        "priority": 1,
        "strategy": "round_robin",
        "user_ids": [first["id"]],
        "team_ids": [team["id"]],
        "conditions": [{"field": "region", "operator": "eq", "value": "华东"}],
    }
    rule = ok(await client.post("/api/v1/assignment-rules", json=rule_body, headers=tenant.headers), 201)
    for answer in (
        rule,
        ok(await client.get("/api/v1/assignment-rules", headers=tenant.headers))["items"][0],
    ):
        assert (answer["user_names"], answer["team_names"]) == (["王芳"], ["华东一组"])
    simulated = ok(
        await client.post(
            "/api/v1/assignment-rules/simulate", json={"region": "华东"}, headers=tenant.headers
        )
    )
    lead = await create_lead(client, tenant.headers, region="华东")
    await app.state.runtime.queue.drain()
    assigned = ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers))
    names = {first["id"]: "王芳", second["id"]: "赵强"}
    assert simulated["chosen_user_name"] == names[simulated["chosen_user_id"]]
    assert (assigned["assignment_rule_name"], assigned["owner_name"]) == (
        "华东大客户",
        names[assigned["owner_id"]],
    )


async def test_pages_of_audit_events_deleted_leads_costs_and_teams_cost_what_shorter_ones_do(
    app, client, make_tenant, make_user
):
    tenant = await make_tenant()
    reps = [await _rep(make_user, tenant, f"销售{i}") for i in range(3)]
    campaign = await create_campaign(
        client, tenant.headers, name="双十一", starts_on="2026-11-10", ends_on="2026-11-12"
    )
    costs = f"/api/v1/campaigns/{campaign['id']}/costs"
    for i in range(12):
        rep, rep_headers = reps[i % 3]
        lead = await create_lead(client, rep_headers)
        assert (await client.delete(f"/api/v1/leads/{lead['id']}", headers=rep_headers)).status_code == 204
        cost = {"incurred_on": "2026-11-11", "amount": str(100 + i)}
        ok(await client.post(costs, json=cost, headers=tenant.headers), 201)
        team = {"name": f"小组{i}", "supervisor_id": rep["id"], "member_ids": [r["id"] for r, _ in reps]}
        ok(await client.post("/api/v1/teams", json=team, headers=tenant.headers), 201)
    for url in ("/api/v1/audit-events", "/api/v1/leads/deleted", costs, "/api/v1/teams"):
        ok(await client.get(url, headers=tenant.headers))  # warms the caches a first request fills
        few = await _queries_for(app, client, url, tenant.headers, 3)
        many = await _queries_for(app, client, url, tenant.headers, 12)
        assert many == few, url
    deleted = ok(await client.get("/api/v1/leads/deleted?limit=12", headers=tenant.headers))["items"]
    assert (
        {d["owner_name"] for d in deleted}
        == {d["deleted_by_name"] for d in deleted}
        == {"销售0", "销售1", "销售2"}
    )
