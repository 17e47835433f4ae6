"""The playbook library (issue 21, points 4 and 7): entries are proposed, approved by a supervisor
and only then reach reps; Chinese full-text search ranks the entry matching all of the seed's three
terms first, on both dialects; a rep's objection answer from an activity reaches the approval queue;
"used this answer" counts every use once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from tests.api.helpers import bearer, ok
from tests.api.pipelines.test_pipelines import PROJECT, _pipelines
from tests.factories import create_customer, create_team, notifications_of

SEED_QUERY = "三甲医院 检验科 预算有限"


@dataclass
class Desk:
    tenant: Any
    rep: dict[str, Any]
    rep_headers: dict[str, str]
    other_rep_headers: dict[str, str]
    supervisor: dict[str, Any]
    supervisor_headers: dict[str, str]
    activity_id: str


async def _desk(client: httpx.AsyncClient, make_tenant, make_user) -> Desk:
    tenant = await make_tenant()
    rep, rep_token = await make_user(tenant, "rep")
    _, other_token = await make_user(tenant, "rep")
    supervisor, supervisor_token = await make_user(tenant, "supervisor")
    await create_team(client, tenant.headers, supervisor, [rep])
    rep_headers = bearer(rep_token)
    customer = await create_customer(client, rep_headers, name="华东某三甲医院")
    activity = {
        "type": "call",
        "occurred_at": "2026-11-23T01:00:00Z",
        "customer_id": customer["id"],
        "notes": "检验科主任说今年预算有限",
    }
    created = ok(await client.post("/api/v1/activities", json=activity, headers=rep_headers), 201)
    return Desk(
        tenant, rep, rep_headers, bearer(other_token), supervisor, bearer(supervisor_token), created["id"]
    )


async def _entry(client, headers, title: str, body: str, **fields: Any) -> dict[str, Any]:
    payload = {"kind": "objection_answer", "title": title, "body": body, **fields}
    return ok(await client.post("/api/v1/playbook-entries", json=payload, headers=headers), 201)


async def _approved(client, desk: Desk, title: str, body: str, **fields: Any) -> dict[str, Any]:
    entry = await _entry(client, desk.rep_headers, title, body, approval_state="pending", **fields)
    decision = {"decision": "approved", "reason": "可以推广"}
    url = f"/api/v1/playbook-entries/{entry['id']}/approval"
    return ok(await client.post(url, json=decision, headers=desk.supervisor_headers))


async def _search(client, headers, q: str, **params: str) -> list[dict[str, Any]]:
    listed = ok(await client.get("/api/v1/playbook-entries", params={"q": q, **params}, headers=headers))
    assert listed["next_cursor"] is None
    return listed["items"]


async def test_the_seed_query_finds_the_entry_with_all_three_terms_first(client, make_tenant, make_user):
    desk = await _desk(client, make_tenant, make_user)
    budget_only = await _approved(client, desk, "客户说预算有限怎么办", "强调投资回报，提出分期付款。")
    hospital_lab = await _approved(
        client, desk, "检验科设备更新案例", "某医院检验科更换生化仪，三个月回本。", tags={"industry": "医疗"}
    )
    all_three = await _approved(
        client,
        desk,
        "检验科主任：今年预算有限",
        "先确认预算周期，再提出按检测量结算，附上同级医院的成功案例。",
        tags={"customer_type": "三甲医院", "objection_type": "预算有限"},
    )
    await _approved(client, desk, "防水卷材报价技巧", "先讲质保年限，再谈价格。")

    found = await _search(client, desk.other_rep_headers, SEED_QUERY)

    assert [entry["id"] for entry in found] == [all_three["id"], hospital_lab["id"], budget_only["id"]]


async def test_tag_matches_then_usage_break_ties(client, make_tenant, make_user):
    desk = await _desk(client, make_tenant, make_user)
    in_body = await _approved(client, desk, "应对价格异议", "客户嫌贵时，讲清楚预算和回报。")
    in_tags = await _approved(client, desk, "应对价格异议", "讲清楚回报。", tags={"objection_type": "预算"})
    used = await _approved(client, desk, "应对价格异议", "客户嫌贵时，讲清楚预算和回报。")
    use = {"activity_id": desk.activity_id}
    ok(
        await client.post(f"/api/v1/playbook-entries/{used['id']}/uses", json=use, headers=desk.rep_headers),
        201,
    )

    found = await _search(client, desk.rep_headers, "预算")

    assert [entry["id"] for entry in found] == [in_tags["id"], used["id"], in_body["id"]]


async def test_only_approved_entries_reach_reps_and_drafts_stay_with_their_author(
    client, make_tenant, make_user
):
    desk = await _desk(client, make_tenant, make_user)
    draft = await _entry(client, desk.rep_headers, "三甲医院开场白", "您好，我是……", kind="script")
    pending = await _entry(client, desk.rep_headers, "三甲医院案例", "某院检验科……", approval_state="pending")

    assert await _search(client, desk.other_rep_headers, "三甲医院") == []
    for entry in (draft, pending):
        url = f"/api/v1/playbook-entries/{entry['id']}"
        assert (await client.get(url, headers=desk.other_rep_headers)).status_code == 404
    assert {e["id"] for e in await _search(client, desk.rep_headers, "三甲医院")} == {
        draft["id"],
        pending["id"],
    }
    queue = ok(
        await client.get(
            "/api/v1/playbook-entries", params={"approval_state": "pending"}, headers=desk.supervisor_headers
        )
    )["items"]
    assert [entry["id"] for entry in queue] == [pending["id"]]  # the draft is not in the queue

    decision = {"decision": "approved", "reason": "好"}
    ok(
        await client.post(
            f"/api/v1/playbook-entries/{pending['id']}/approval",
            json=decision,
            headers=desk.supervisor_headers,
        )
    )

    assert [e["id"] for e in await _search(client, desk.other_rep_headers, "三甲医院")] == [pending["id"]]


async def test_a_rep_proposes_an_objection_answer_from_an_activity_and_the_supervisor_approves_it(
    client, app, make_tenant, make_user
):
    desk = await _desk(client, make_tenant, make_user)

    proposed = await _entry(
        client,
        desk.rep_headers,
        "检验科说预算有限",
        "提出按检测量结算，首年零设备投入。",
        activity_id=desk.activity_id,
        approval_state="pending",
        tags={"objection_type": "预算有限"},
    )

    assert (proposed["approval_state"], proposed["activity_id"]) == ("pending", desk.activity_id)
    assert proposed["author_id"] == desk.rep["id"]
    await app.state.runtime.queue.drain()
    asked = await notifications_of(client, desk.supervisor_headers, topic="playbook.approval_requested")
    assert [n["data"]["entry_id"] for n in asked] == [proposed["id"]]
    url = f"/api/v1/playbook-entries/{proposed['id']}/approval"
    self_approval = await client.post(
        url, json={"decision": "approved", "reason": "x"}, headers=desk.rep_headers
    )
    assert self_approval.status_code == 403
    approved = ok(
        await client.post(
            url, json={"decision": "approved", "reason": "话术有效"}, headers=desk.supervisor_headers
        )
    )
    assert approved["approval_state"] == "approved"
    assert approved["approval_decided_by_id"] == desk.supervisor["id"]
    again = await client.post(
        url, json={"decision": "rejected", "reason": "x"}, headers=desk.supervisor_headers
    )
    assert (again.status_code, again.json()["code"]) == (409, "playbook_entry.not_pending")
    await app.state.runtime.queue.drain()
    told = await notifications_of(client, desk.rep_headers, topic="playbook.approval_decided")
    assert [n["data"]["decision"] for n in told] == ["approved"]
    assert [e["id"] for e in await _search(client, desk.other_rep_headers, "预算有限")] == [proposed["id"]]


async def test_a_rejected_entry_is_edited_and_sent_again(client, make_tenant, make_user):
    desk = await _desk(client, make_tenant, make_user)
    entry = await _entry(client, desk.rep_headers, "价格太高", "降价。", approval_state="pending")
    url = f"/api/v1/playbook-entries/{entry['id']}"
    rejected = ok(
        await client.post(
            f"{url}/approval",
            json={"decision": "rejected", "reason": "不能直接降价"},
            headers=desk.supervisor_headers,
        )
    )
    assert (rejected["approval_state"], rejected["approval_reason"]) == ("rejected", "不能直接降价")

    stale = await client.patch(url, json={"body": "x"}, headers={**desk.rep_headers, "If-Match": '"1"'})
    resent = ok(
        await client.patch(
            url,
            json={"body": "先讲价值，再给分期方案。", "approval_state": "pending"},
            headers={**desk.rep_headers, "If-Match": f'"{rejected["version"]}"'},
        )
    )

    assert stale.status_code == 412
    assert (resent["approval_state"], resent["approval_reason"], resent["body"]) == (
        "pending",
        None,
        "先讲价值，再给分期方案。",
    )
    assert [e["id"] for e in await _search(client, desk.supervisor_headers, "分期")] == [entry["id"]]
    assert await _search(client, desk.supervisor_headers, "降价") == []  # the old words left the index
    other = await client.patch(url, json={"title": "改"}, headers=desk.other_rep_headers)
    assert other.status_code == 404


async def test_used_this_answer_counts_each_activity_once_even_at_the_same_moment(
    client, make_tenant, make_user
):
    desk = await _desk(client, make_tenant, make_user)
    entry = await _approved(client, desk, "预算有限", "分期付款。")
    url = f"/api/v1/playbook-entries/{entry['id']}/uses"
    activities = [desk.activity_id]
    for minute in range(1, 4):
        body = {"type": "call", "occurred_at": f"2026-11-23T01:0{minute}:00Z", "notes": "用了分期话术"}
        body["customer_id"] = ok(
            await client.get(f"/api/v1/activities/{desk.activity_id}", headers=desk.rep_headers)
        )["customer_id"]
        activities.append(
            ok(await client.post("/api/v1/activities", json=body, headers=desk.rep_headers), 201)["id"]
        )

    answers = await asyncio.gather(
        *(client.post(url, json={"activity_id": a}, headers=desk.rep_headers) for a in activities)
    )
    repeated = await client.post(url, json={"activity_id": desk.activity_id}, headers=desk.rep_headers)

    assert sorted(a.status_code for a in answers) == [201] * 4
    assert (repeated.status_code, repeated.json()["code"]) == (409, "playbook_entry.use_recorded")
    got = ok(await client.get(f"/api/v1/playbook-entries/{entry['id']}", headers=desk.rep_headers))
    assert got["usage_count"] == 4


async def test_bad_input_is_refused_naming_the_field(client, make_tenant, make_user):
    desk = await _desk(client, make_tenant, make_user)
    unknown_stage = await client.post(
        "/api/v1/playbook-entries",
        json={"kind": "case", "title": "t", "body": "b", "tags": {"stage_id": desk.activity_id}},
        headers=desk.rep_headers,
    )
    approved_at_once = await client.post(
        "/api/v1/playbook-entries",
        json={"kind": "case", "title": "t", "body": "b", "approval_state": "approved"},
        headers=desk.rep_headers,
    )
    empty_query = await client.get(
        "/api/v1/playbook-entries", params={"q": "，。！"}, headers=desk.rep_headers
    )
    draft = await _entry(client, desk.rep_headers, "草稿", "内容")
    unapproved_use = await client.post(
        f"/api/v1/playbook-entries/{draft['id']}/uses",
        json={"activity_id": desk.activity_id},
        headers=desk.rep_headers,
    )

    assert unknown_stage.status_code == 422
    assert [e["field"] for e in unknown_stage.json()["errors"]] == ["tags.stage_id"]
    assert approved_at_once.status_code == 422
    assert (empty_query.status_code, [e["field"] for e in empty_query.json()["errors"]]) == (422, ["q"])
    assert (unapproved_use.status_code, unapproved_use.json()["code"]) == (409, "playbook_entry.not_approved")


async def test_stage_and_kind_filter_a_search(client, make_tenant, make_user):
    desk = await _desk(client, make_tenant, make_user)
    stage_id = (await _pipelines(client, desk.rep_headers))[PROJECT]["stages"][1]["id"]
    at_stage = await _approved(client, desk, "报价阶段：预算有限", "分期。", tags={"stage_id": stage_id})
    await _approved(client, desk, "预算有限", "分期。")

    found = await _search(client, desk.rep_headers, "预算有限", stage_id=stage_id, kind="objection_answer")

    assert [entry["id"] for entry in found] == [at_stage["id"]]
    assert found[0]["tags"]["stage_id"] == stage_id


async def test_an_opportunity_offers_the_approved_entries_matching_its_stage_and_industry(
    client, make_tenant, make_user
):
    desk = await _desk(client, make_tenant, make_user)
    customer = ok(
        await client.post(
            "/api/v1/customers", json={"name": "市一医院", "industry": "医疗"}, headers=desk.rep_headers
        ),
        201,
    )
    pipeline = (await _pipelines(client, desk.rep_headers))[PROJECT]
    deal = ok(
        await client.post(
            "/api/v1/opportunities",
            json={"name": "检验科试剂", "customer_id": customer["id"], "pipeline_id": pipeline["id"]},
            headers=desk.rep_headers,
        ),
        201,
    )
    both = await _approved(
        client, desk, "首访话术", "……", tags={"stage_id": deal["stage_id"], "industry": "医疗"}
    )
    industry = await _approved(client, desk, "医疗案例", "……", tags={"industry": "医疗"})
    await _approved(client, desk, "高校案例", "……", tags={"industry": "教育"})
    await _entry(client, desk.rep_headers, "待审", "……", approval_state="pending", tags={"industry": "医疗"})
    url = f"/api/v1/opportunities/{deal['id']}/playbook"

    offered = ok(await client.get(url, headers=desk.rep_headers))["items"]
    hidden = await client.get(url, headers=desk.other_rep_headers)

    assert [entry["id"] for entry in offered] == [both["id"], industry["id"]]
    assert hidden.status_code == 404
