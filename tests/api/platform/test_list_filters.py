"""The filters a list screen sends, as a client sends them: owner (`me`), team, repeated status, tag,
periods given as days (the organization's day, Asia/Shanghai here) or instants, `q` with a phone
number typed any way, the linked records, and the sort orders, each answering exactly the expected
records, within what the caller may see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.api.helpers import bearer, ok

# Monday 23 November, 17:00 in Shanghai; the late records straddle the local midnight, all within
# the 8 hours a token lasts.
AFTERNOON = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LATE_ON_THE_23RD = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)  # 23:30 local
EARLY_ON_THE_24TH = datetime(2026, 11, 23, 16, 30, tzinfo=UTC)  # 00:30 local, still the 23rd in UTC


@dataclass
class Scene:
    """Team East (east1, east2) and team West (west1); records owned by each, made at known times."""

    admin: dict[str, str]
    users: dict[str, dict[str, Any]]
    tokens: dict[str, dict[str, str]]
    teams: dict[str, str]
    leads: dict[str, str] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    deals: dict[str, dict[str, Any]] = field(default_factory=dict)


async def _scene(client: httpx.AsyncClient, make_tenant: Any, make_user: Any, clock: Any) -> Scene:
    clock.now = AFTERNOON
    tenant = await make_tenant()
    users, tokens = {}, {}
    for name in ("east1", "east2", "west1"):
        users[name], token = await make_user(tenant, "rep", display_name=name)
        tokens[name] = bearer(token)
    teams = {}
    for team, members in (("East", ["east1", "east2"]), ("West", ["west1"])):
        created = await client.post(
            "/api/v1/teams",
            json={"name": team, "member_ids": [users[m]["id"] for m in members]},
            headers=tenant.headers,
        )
        teams[team] = ok(created, 201)["id"]
    return Scene(tenant.headers, users, tokens, teams)


async def _ids(client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any) -> set[str]:
    listed = ok(await client.get(path, params=_query(params), headers=headers))
    assert listed["next_cursor"] is None
    return {item["id"] for item in listed["items"]}


async def _walk(client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any) -> list[str]:
    """Every id of the list in order, one record a page: the cursor carries the sort key."""
    ids: list[str] = []
    cursor = None
    while True:
        page = ok(
            await client.get(
                path,
                params=_query({**params, "limit": 1, **({"cursor": cursor} if cursor else {})}),
                headers=headers,
            )
        )
        ids.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def _query(params: dict[str, Any]) -> list[tuple[str, Any]]:
    # A list value is the parameter repeated.
    return [(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])]


async def _leads_scene(client: httpx.AsyncClient, clock: Any, scene: Scene) -> None:
    made = [
        ("l1", "east1", AFTERNOON, ["vip"], "13800138000"),
        ("l2", "east2", AFTERNOON, ["expo"], "13900000002"),
        ("l3", "west1", LATE_ON_THE_23RD, ["vip", "expo"], "13900000003"),
        ("l4", "east1", EARLY_ON_THE_24TH, [], "13900000004"),
    ]
    for key, owner, when, tags, phone in made:
        clock.now = when
        body = {
            "name": f"Lead {key}",
            "source": "web_form",
            "phone": phone,
            "owner_id": scene.users[owner]["id"],
            "tags": tags,
        }
        scene.leads[key] = ok(await client.post("/api/v1/leads", json=body, headers=scene.admin), 201)["id"]


async def test_leads_by_team_tag_owner_day_and_phone(client, make_tenant, make_user, clock):
    scene = await _scene(client, make_tenant, make_user, clock)
    await _leads_scene(client, clock, scene)
    lead = scene.leads

    async def ids(headers: dict[str, str] = scene.admin, **params: Any) -> set[str]:
        return await _ids(client, "/api/v1/leads", headers, **params)

    assert await ids(team_id=scene.teams["East"]) == {lead["l1"], lead["l2"], lead["l4"]}
    assert await ids(team_id=[scene.teams["East"], scene.teams["West"]]) == set(lead.values())
    assert await ids(tag="vip") == {lead["l1"], lead["l3"]}
    assert await ids(tag=["vip", "expo"]) == {lead["l1"], lead["l2"], lead["l3"]}
    assert await ids(owner_id=[scene.users["east2"]["id"], scene.users["west1"]["id"]]) == {
        lead["l2"],
        lead["l3"],
    }
    # A day is the organization's day: 23:30 in Shanghai is in the 23rd, 00:30 the next day is not.
    assert await ids(created_from="2026-11-23", created_to="2026-11-23") == {
        lead["l1"],
        lead["l2"],
        lead["l3"],
    }
    assert await ids(created_from="2026-11-24") == {lead["l4"]}
    assert await ids(created_from="2026-11-23T15:00:00Z", created_to="2026-11-23T16:00:00Z") == {lead["l3"]}
    assert await ids(updated_since="2026-11-24") == {lead["l4"]}
    for typed in ("138 0013 8000", "138-0013-8000", "+86 138 0013 8000", "0013800"):
        assert await ids(q=typed) == {lead["l1"]}, typed

    # `me` is the caller; a team never widens what a rep sees.
    east1 = scene.tokens["east1"]
    assert await ids(east1, owner_id="me") == {lead["l1"], lead["l4"]}
    assert await ids(east1, team_id=scene.teams["East"]) == {lead["l1"], lead["l4"]}
    assert await ids(east1, team_id=scene.teams["West"]) == set()
    assert await ids(east1, owner_id=scene.users["east2"]["id"]) == set()


async def test_leads_sort_by_name_and_by_last_follow_up_with_the_never_followed_up_last(
    client, make_tenant, make_user, clock
):
    scene = await _scene(client, make_tenant, make_user, clock)
    await _leads_scene(client, clock, scene)
    lead = scene.leads
    clock.now = EARLY_ON_THE_24TH
    for key in ("l3", "l1"):  # l3 followed up first, then l1
        clock.advance(minutes=10)
        body = {"type": "call", "occurred_at": clock.now.isoformat(), "lead_id": lead[key], "notes": "called"}
        ok(await client.post("/api/v1/activities", json=body, headers=scene.admin), 201)

    by_name = [lead[k] for k in ("l1", "l2", "l3", "l4")]
    assert await _walk(client, "/api/v1/leads", scene.admin, sort="name") == by_name
    assert await _walk(client, "/api/v1/leads", scene.admin, sort="-name") == by_name[::-1]
    oldest_first = await _walk(client, "/api/v1/leads", scene.admin, sort="last_follow_up_at")
    newest_first = await _walk(client, "/api/v1/leads", scene.admin, sort="-last_follow_up_at")
    assert oldest_first[:2] == [lead["l3"], lead["l1"]]
    assert newest_first[:2] == [lead["l1"], lead["l3"]]
    assert set(oldest_first[2:]) == set(newest_first[2:]) == {lead["l2"], lead["l4"]}


async def _customers_scene(client: httpx.AsyncClient, clock: Any, scene: Scene) -> None:
    made = [
        ("c1", "Alpha 华东建材", "east1", AFTERNOON, ["vip"], "13700137000"),
        ("c2", "Beta 申华防水", "east2", LATE_ON_THE_23RD, [], "13700000002"),
        ("c3", "Gamma 西部管业", "west1", EARLY_ON_THE_24TH, ["vip"], "13700000003"),
    ]
    for key, name, owner, when, tags, phone in made:
        clock.now = when
        body = {"name": name, "phone": phone, "owner_id": scene.users[owner]["id"], "tags": tags}
        scene.customers[key] = ok(await client.post("/api/v1/customers", json=body, headers=scene.admin), 201)


async def test_customers_and_their_contacts_by_team_tag_owner_day_and_phone(
    client, make_tenant, make_user, clock
):
    scene = await _scene(client, make_tenant, make_user, clock)
    await _customers_scene(client, clock, scene)
    c = {key: customer["id"] for key, customer in scene.customers.items()}

    async def ids(headers: dict[str, str] = scene.admin, **params: Any) -> set[str]:
        return await _ids(client, "/api/v1/customers", headers, **params)

    assert await ids(team_id=scene.teams["East"]) == {c["c1"], c["c2"]}
    assert await ids(tag="vip") == {c["c1"], c["c3"]}
    assert await ids(created_from="2026-11-23", created_to="2026-11-23") == {c["c1"], c["c2"]}
    assert await ids(created_to="2026-11-24T00:00:00+08:00") == {c["c1"], c["c2"]}
    assert await ids(q="137-0013-7000") == {c["c1"]}
    assert await ids(q=scene.customers["c3"]["code"]) == {c["c3"]}
    assert await ids(scene.tokens["east2"], owner_id="me") == {c["c2"]}
    assert await ids(scene.tokens["east2"], team_id=scene.teams["East"]) == {c["c2"]}
    assert await _walk(client, "/api/v1/customers", scene.admin, sort="name") == [c["c1"], c["c2"], c["c3"]]
    assert await _walk(client, "/api/v1/customers", scene.admin, sort="-name") == [c["c3"], c["c2"], c["c1"]]

    contacts = {}
    for key in c:
        created = await client.post(
            f"/api/v1/customers/{c[key]}/contacts", json={"name": f"联系人 {key}"}, headers=scene.admin
        )
        contacts[key] = ok(created, 201)["id"]
    assert await _ids(client, "/api/v1/contacts", scene.admin, team_id=scene.teams["West"]) == {
        contacts["c3"]
    }
    assert await _ids(client, "/api/v1/contacts", scene.tokens["east1"], team_id=scene.teams["East"]) == {
        contacts["c1"]
    }


async def test_opportunities_by_text_of_the_customer_lead_close_day_status_and_amount(
    client, make_tenant, make_user, clock
):
    scene = await _scene(client, make_tenant, make_user, clock)
    await _leads_scene(client, clock, scene)
    await _customers_scene(client, clock, scene)
    clock.now = AFTERNOON
    made = [
        ("o1", "一期屋面", "c1", "east1", "100000.00", "2026-12-20", scene.leads["l1"]),
        ("o2", "二期外墙", "c2", "east2", None, None, None),
        ("o3", "管材年单", "c3", "west1", "50000.00", "2026-12-10", None),
    ]
    for key, name, customer, owner, amount, close_on, lead_id in made:
        body = {
            "name": name,
            "customer_id": scene.customers[customer]["id"],
            "owner_id": scene.users[owner]["id"],
            "amount": amount,
            "expected_close_date": close_on,
            "source_lead_id": lead_id,
        }
        body = {k: v for k, v in body.items() if v is not None}
        scene.deals[key] = ok(await client.post("/api/v1/opportunities", json=body, headers=scene.admin), 201)
    o = {key: deal["id"] for key, deal in scene.deals.items()}
    clock.now = EARLY_ON_THE_24TH
    note = {
        "type": "note",
        "occurred_at": clock.now.isoformat(),
        "opportunity_id": o["o3"],
        "notes": "The buyer chose a cheaper supplier for this year's pipes.",
    }
    ok(await client.post("/api/v1/activities", json=note, headers=scene.admin), 201)
    ok(
        await client.post(
            f"/api/v1/opportunities/{o['o3']}/lose", json={"reason": "价格过高"}, headers=scene.admin
        )
    )

    async def ids(headers: dict[str, str] = scene.admin, **params: Any) -> set[str]:
        return await _ids(client, "/api/v1/opportunities", headers, **params)

    assert await ids(q="屋面") == {o["o1"]}
    assert await ids(q="申华") == {o["o2"]}  # the customer's name
    assert await ids(q=scene.customers["c3"]["code"]) == {o["o3"]}
    assert await ids(lead_id=scene.leads["l1"]) == {o["o1"]}
    assert await ids(customer_id=[scene.customers["c1"]["id"], scene.customers["c2"]["id"]]) == {
        o["o1"],
        o["o2"],
    }
    assert await ids(closed_from="2026-11-24", closed_to="2026-11-24") == {o["o3"]}
    assert await ids(closed_to="2026-11-23") == set()
    assert await ids(created_from="2026-11-23", created_to="2026-11-23") == set(o.values())
    assert await ids(status=["open", "lost"]) == set(o.values())
    assert await ids(status="lost") == {o["o3"]}
    assert await ids(stage_id=scene.deals["o2"]["stage_id"], status="open") == {o["o1"], o["o2"]}
    assert await ids(team_id=scene.teams["East"]) == {o["o1"], o["o2"]}
    assert await ids(scene.tokens["west1"], owner_id="me") == {o["o3"]}
    assert await ids(scene.tokens["west1"], team_id=scene.teams["East"]) == set()

    # Deals without an amount or a close date come last, whichever the direction.
    assert await _walk(client, "/api/v1/opportunities", scene.admin, sort="amount") == [
        o["o3"],
        o["o1"],
        o["o2"],
    ]
    assert await _walk(client, "/api/v1/opportunities", scene.admin, sort="-amount") == [
        o["o1"],
        o["o3"],
        o["o2"],
    ]
    assert await _walk(client, "/api/v1/opportunities", scene.admin, sort="expected_close_date") == [
        o["o3"],
        o["o1"],
        o["o2"],
    ]


async def test_activities_and_tasks_by_team_me_and_day(client, make_tenant, make_user, clock):
    scene = await _scene(client, make_tenant, make_user, clock)
    await _leads_scene(client, clock, scene)
    activities, tasks = {}, {}
    for key, who, lead_key, when in (
        ("a1", "east1", "l1", AFTERNOON),
        ("a2", "west1", "l3", LATE_ON_THE_23RD),
        ("a3", "east1", "l4", EARLY_ON_THE_24TH),
    ):
        clock.now = when
        body = {
            "type": "call",
            "occurred_at": when.isoformat(),
            "lead_id": scene.leads[lead_key],
            "notes": key,
        }
        activities[key] = ok(
            await client.post("/api/v1/activities", json=body, headers=scene.tokens[who]), 201
        )["id"]
        task = {
            "title": f"follow up {key}",
            "due_at": "2026-12-01T10:00:00+08:00",
            "lead_id": scene.leads[lead_key],
        }
        tasks[key] = ok(await client.post("/api/v1/tasks", json=task, headers=scene.tokens[who]), 201)["id"]

    async def ids(path: str, headers: dict[str, str] = scene.admin, **params: Any) -> set[str]:
        return await _ids(client, path, headers, **params)

    assert await ids("/api/v1/activities", team_id=scene.teams["East"]) == {
        activities["a1"],
        activities["a3"],
    }
    assert await ids("/api/v1/activities", occurred_from="2026-11-23", occurred_to="2026-11-23") == {
        activities["a1"],
        activities["a2"],
    }
    assert await ids("/api/v1/activities", lead_id=[scene.leads["l1"], scene.leads["l3"]]) == {
        activities["a1"],
        activities["a2"],
    }
    assert await ids("/api/v1/activities", scene.tokens["west1"], owner_id="me") == {activities["a2"]}
    assert await ids("/api/v1/tasks", team_id=scene.teams["West"]) == {tasks["a2"]}
    assert await ids("/api/v1/tasks", created_from="2026-11-24") == {tasks["a3"]}
    assert await ids("/api/v1/tasks", scene.tokens["east1"], assignee_id="me") == {tasks["a1"], tasks["a3"]}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/leads", {"created_from": "2026-13-01"}, "created_from"),
        ("/api/v1/leads", {"created_to": "2026-11-23T10:00:00"}, "created_to"),
        ("/api/v1/leads", {"owner_id": "someone"}, "owner_id"),
        ("/api/v1/leads", {"team_id": "east"}, "team_id"),
        ("/api/v1/leads", {"tag": ""}, "tag"),
        ("/api/v1/leads", {"status": ["new", "hot"]}, "status"),
        ("/api/v1/leads", {"sort": "-phone"}, "sort"),
        ("/api/v1/leads", {"updated_since": "yesterday"}, "updated_since"),
        ("/api/v1/customers", {"sort": "amount"}, "sort"),
        ("/api/v1/opportunities", {"closed_from": "20261123"}, "closed_from"),
        ("/api/v1/opportunities", {"lead_id": "1"}, "lead_id"),
        ("/api/v1/activities", {"occurred_to": "soon"}, "occurred_to"),
        ("/api/v1/tasks", {"assignee_id": "you"}, "assignee_id"),
        ("/api/v1/quotes", {"status": "maybe"}, "status"),
        ("/api/v1/quotes", {"closed_to": "tomorrow"}, "closed_to"),
        ("/api/v1/quotes", {"q": ""}, "q"),
        ("/api/v1/tasks", {"closed_from": "2026-02-30"}, "closed_from"),
        ("/api/v1/activities", {"q": "x" * 101}, "q"),
        ("/api/v1/contacts", {"team_id": "x"}, "team_id"),
    ],
)
async def test_an_invalid_filter_is_a_422_naming_it(client, make_tenant, path, params, field):
    tenant = await make_tenant()

    refused = await client.get(path, params=_query(params), headers=tenant.headers)

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    # The parameter, or one of its values (`status[1]`), and never a union's branch.
    named = [error["field"] for error in refused.json()["errors"]]
    assert set(named) <= {field, f"{field}[0]", f"{field}[1]"}, named


async def test_me_needs_a_signed_in_user(client, make_tenant):
    tenant = await make_tenant()
    created = await client.post(
        "/api/v1/api-keys", json={"name": "BI", "scopes": ["leads:read"]}, headers=tenant.headers
    )
    key = ok(created, 201)["secret"]

    refused = await client.get("/api/v1/leads", params={"owner_id": "me"}, headers=bearer(key))

    assert refused.status_code == 422
    assert [error["field"] for error in refused.json()["errors"]] == ["owner_id"]


async def test_quotes_and_tasks_by_closing_day_and_text_and_activities_by_their_notes(
    client, make_tenant, clock
):
    clock.now = AFTERNOON
    tenant = await make_tenant()
    headers = tenant.headers

    async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        return ok(await client.post(path, json=body, headers=headers), 201)

    shenhua = await post("/api/v1/customers", {"name": "申华建材"})
    yuandong = await post("/api/v1/customers", {"name": "远东涂料"})
    roof = await post("/api/v1/opportunities", {"name": "屋面防水", "customer_id": shenhua["id"]})
    wall = await post("/api/v1/opportunities", {"name": "外墙翻新", "customer_id": yuandong["id"]})
    product = await post("/api/v1/products", {"sku": "JS-1", "name": "涂料", "list_price": "30.0000"})
    line = {"product_id": product["id"], "quantity": "10", "unit_price": "30"}
    quotes = {
        key: (await post("/api/v1/quotes", {"opportunity_id": deal["id"], "lines": [line]}))["id"]
        for key, deal in (("accepted", roof), ("rejected", wall), ("open", wall))
    }
    for key, when in (("accepted", AFTERNOON), ("rejected", EARLY_ON_THE_24TH)):
        clock.now = when
        for status in ("sent", key):
            changed = await client.post(
                f"/api/v1/quotes/{quotes[key]}/status", json={"status": status}, headers=headers
            )
            ok(changed)
    tasks = {}
    for key, title, notes in (
        ("done", "回访申华", "带样板"),
        ("cancelled", "报价跟进", "申华要折扣"),
        ("open", "寄资料", None),
    ):
        clock.now = AFTERNOON
        body = {
            "title": title,
            "notes": notes,
            "due_at": "2026-12-01T10:00:00+08:00",
            "customer_id": shenhua["id"],
        }
        tasks[key] = (await post("/api/v1/tasks", body))["id"]
    for key, when, cancel in (("done", AFTERNOON, False), ("cancelled", EARLY_ON_THE_24TH, True)):
        clock.now = when
        ok(
            await client.post(
                f"/api/v1/tasks/{tasks[key]}/complete", json={"cancel": cancel}, headers=headers
            )
        )
    activities = {}
    for key, notes in (("samples", "客户要样板，下周送到"), ("price", "价格异议：比竞品高 5%")):
        body = {
            "type": "call",
            "occurred_at": AFTERNOON.isoformat(),
            "customer_id": shenhua["id"],
            "notes": notes,
        }
        activities[key] = (await post("/api/v1/activities", body))["id"]

    async def ids(path: str, **params: Any) -> set[str]:
        return await _ids(client, path, headers, **params)

    accepted = ok(await client.get(f"/api/v1/quotes/{quotes['accepted']}", headers=headers))
    assert datetime.fromisoformat(accepted["closed_at"]) == AFTERNOON
    on_the_23rd = {"closed_from": "2026-11-23", "closed_to": "2026-11-23"}
    assert await ids("/api/v1/quotes", **on_the_23rd) == {quotes["accepted"]}
    assert await ids("/api/v1/quotes", closed_from="2026-11-24") == {quotes["rejected"]}
    assert await ids("/api/v1/quotes", closed_to=EARLY_ON_THE_24TH.isoformat()) == {quotes["accepted"]}
    assert await ids("/api/v1/quotes", q="申华") == {quotes["accepted"]}
    assert await ids("/api/v1/quotes", q="外墙") == {quotes["rejected"], quotes["open"]}
    assert await ids("/api/v1/quotes", q=yuandong["code"]) == {quotes["rejected"], quotes["open"]}

    assert await ids("/api/v1/tasks", **on_the_23rd) == {tasks["done"]}
    assert await ids("/api/v1/tasks", closed_from="2026-11-24") == {tasks["cancelled"]}
    assert await ids("/api/v1/tasks", q="申华") == {tasks["done"], tasks["cancelled"]}
    assert await ids("/api/v1/tasks", q="样板") == {tasks["done"]}

    assert await ids("/api/v1/activities", q="样板") == {activities["samples"]}
    # The wildcards a client types are taken literally.
    assert await ids("/api/v1/activities", q="5%") == {activities["price"]}
    assert await ids("/api/v1/activities", q="%") == {activities["price"]}
    assert await ids("/api/v1/activities", q="_") == set()
