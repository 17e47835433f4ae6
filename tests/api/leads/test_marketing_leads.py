"""Marketing reads the leads it entered to their outcome (issue 19, point 13): who works them, whether
they were converted or disqualified and why, in lists, detail, search and exports; read-only, and
nobody else's."""

from __future__ import annotations

import csv
import io
from typing import Any

from tests.api.helpers import bearer, ok
from tests.factories import unique_phone


async def _enter(client, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {
        "name": "张伟",
        "company": "申华建材",
        "source": "exhibition",
        "phone": unique_phone(),
        **fields,
    }
    return ok(await client.post("/api/v1/leads", json=body, headers=headers), 201)


async def _assign(client, admin: dict[str, str], lead_id: str, user_id: str) -> None:
    ok(
        await client.post(
            f"/api/v1/leads/{lead_id}/assign", json={"user_id": user_id, "reason": "华东区域"}, headers=admin
        )
    )


def _ids(page: dict[str, Any]) -> set[str]:
    return {item["id"] for item in page["items"]}


async def test_marketing_follows_its_leads_to_their_outcome_read_only(client, app, make_tenant, make_user):
    tenant = await make_tenant()
    admin = tenant.headers
    marketing, marketing_token = await make_user(tenant, "marketing", display_name="市场部 李娜")
    rep, rep_token = await make_user(tenant, "rep", display_name="销售 王芳")
    as_marketing, as_rep = bearer(marketing_token), bearer(rep_token)
    won = await _enter(client, as_marketing, name="赵总")
    lost = await _enter(client, as_marketing, name="钱经理")
    assert won["created_by_id"] == marketing["id"]
    assert won["created_by_name"] == "市场部 李娜"
    # No rule routes them: the assignment job pools them; an admin gives them to the rep.
    await app.state.runtime.queue.drain()
    for lead in (won, lost):
        await _assign(client, admin, lead["id"], str(rep["id"]))

    mine = ok(await client.get("/api/v1/leads", headers=as_marketing))
    assert _ids(mine) == {won["id"], lost["id"]}
    assert {(item["owner_id"], item["owner_name"], item["status"]) for item in mine["items"]} == {
        (rep["id"], "销售 王芳", "assigned")
    }
    detail = ok(await client.get(f"/api/v1/leads/{won['id']}", headers=as_marketing))
    assert (detail["owner_name"], detail["created_by_name"]) == ("销售 王芳", "市场部 李娜")

    # Read-only: the lead is the rep's to work. 403 (marketing sees it), and nothing changes.
    for method, path, body in (
        ("PATCH", f"/api/v1/leads/{won['id']}", {"budget": "1.00"}),
        ("POST", f"/api/v1/leads/{won['id']}/disqualify", {"reason": "市场部不能关单"}),
        ("POST", f"/api/v1/leads/{won['id']}/convert", {}),
        ("POST", f"/api/v1/leads/{won['id']}/release", {"reason": "市场部不能释放"}),
        ("PUT", f"/api/v1/leads/{won['id']}/feedback", {"quality": 5}),
    ):
        refused = await client.request(method, path, json=body, headers=as_marketing)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "lead.read_only"
    unchanged = ok(await client.get(f"/api/v1/leads/{won['id']}", headers=as_marketing))
    assert (unchanged["budget"], unchanged["status"], unchanged["version"]) == (
        None,
        "assigned",
        detail["version"],
    )

    # Sales works them to an end; marketing reads the end.
    converted = ok(await client.post(f"/api/v1/leads/{won['id']}/convert", json={}, headers=as_rep))
    ok(
        await client.post(
            f"/api/v1/leads/{lost['id']}/disqualify", json={"reason": "无采购预算"}, headers=as_rep
        )
    )
    ok(
        await client.put(
            f"/api/v1/leads/{lost['id']}/feedback",
            json={"quality": 2, "reason_codes": ["no_budget"], "comment": "只是询价"},
            headers=as_rep,
        )
    )
    won_now = ok(await client.get(f"/api/v1/leads/{won['id']}", headers=as_marketing))
    assert (won_now["status"], won_now["customer_id"]) == ("converted", converted["customer"]["id"])
    lost_now = ok(await client.get(f"/api/v1/leads/{lost['id']}", headers=as_marketing))
    assert (lost_now["status"], lost_now["disqualified_reason"]) == ("disqualified", "无采购预算")
    assert (lost_now["feedback_quality"], lost_now["feedback_reasons"], lost_now["feedback_by_name"]) == (
        2,
        ["no_budget"],
        "销售 王芳",
    )
    # Filtered to a closed status (the list leaves the pool out then), and in the CSV export.
    closed = ok(
        await client.get(
            "/api/v1/leads", params={"status": ["converted", "disqualified"]}, headers=as_marketing
        )
    )
    assert _ids(closed) == {won["id"], lost["id"]}
    exported = await client.get("/api/v1/leads", headers={**as_marketing, "Accept": "text/csv"})
    assert exported.status_code == 200, exported.text
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert {(row["id"], row["status"], row["owner_name"]) for row in rows} == {
        (won["id"], "converted", "销售 王芳"),
        (lost["id"], "disqualified", "销售 王芳"),
    }
    found = ok(await client.get("/api/v1/search", params={"q": "钱经理"}, headers=as_marketing))
    assert [hit["id"] for hit in found["items"]] == [lost["id"]]


async def test_marketing_sees_no_one_elses_leads_nor_its_deleted_or_erased_ones(
    client, app, make_tenant, make_user
):
    tenant = await make_tenant()
    admin = tenant.headers
    _marketing, marketing_token = await make_user(tenant, "marketing")
    _colleague, colleague_token = await make_user(tenant, "marketing")
    rep, rep_token = await make_user(tenant, "rep")
    as_marketing = bearer(marketing_token)
    kept = await _enter(client, as_marketing, name="孙总")
    deleted = await _enter(client, as_marketing, name="周总")
    erased = await _enter(client, as_marketing, name="吴总")
    colleagues = await _enter(client, bearer(colleague_token), name="郑总")
    reps_own = await _enter(client, bearer(rep_token), name="冯总")
    await app.state.runtime.queue.drain()
    for lead in (kept, deleted, erased, colleagues):
        await _assign(client, admin, lead["id"], str(rep["id"]))
    assert (await client.delete(f"/api/v1/leads/{deleted['id']}", headers=admin)).status_code == 204
    ok(
        await client.post(
            f"/api/v1/leads/{erased['id']}/erase", json={"reason": "本人要求删除"}, headers=admin
        )
    )

    assert _ids(ok(await client.get("/api/v1/leads", headers=as_marketing))) == {kept["id"]}
    for hidden in (deleted, erased, colleagues, reps_own):
        missing = await client.get(f"/api/v1/leads/{hidden['id']}", headers=as_marketing)
        assert missing.status_code == 404, hidden["name"]
        assert missing.json()["code"] == "lead.not_found"
        # Not readable, so not "read-only" either: a write answers 404 as before.
        edit = await client.patch(
            f"/api/v1/leads/{hidden['id']}", json={"budget": "1.00"}, headers=as_marketing
        )
        assert edit.status_code == 404, hidden["name"]
    found = ok(await client.get("/api/v1/search", params={"q": "总"}, headers=as_marketing))
    assert [hit["id"] for hit in found["items"]] == [kept["id"]]
    # The rep does not gain marketing's view: he sees the four leads he works, as before.
    assert _ids(ok(await client.get("/api/v1/leads", headers=bearer(rep_token)))) == {
        kept["id"],
        erased["id"],
        colleagues["id"],
        reps_own["id"],
    }


async def test_marketing_follows_the_leads_its_web_forms_bring_in(client, app, make_tenant, make_user):
    """A web-form lead counts as entered by the user who set the form up: marketing reads it to its
    outcome like one it typed in; another marketer, whose form it is not, does not see it."""
    tenant = await make_tenant()
    marketing, marketing_token = await make_user(tenant, "marketing", display_name="市场部 李娜")
    _, other_marketing_token = await make_user(tenant, "marketing")
    rep, _ = await make_user(tenant, "rep", display_name="销售 王芳")
    as_marketing = bearer(marketing_token)
    form = ok(
        await client.post(
            "/api/v1/intake-forms",
            json={"name": "官网询价", "field_mapping": {"contact_name": "name", "mobile": "phone"}},
            headers=as_marketing,
        ),
        201,
    )
    submitted = await client.post(
        f"/api/v1/intake/{form['key']}", data={"contact_name": "孙总", "mobile": unique_phone()}
    )
    assert submitted.status_code == 202, submitted.text
    await app.state.runtime.queue.drain()
    [lead] = ok(await client.get("/api/v1/leads", params={"source": "web_form"}, headers=tenant.headers))[
        "items"
    ]
    assert (lead["created_by_id"], lead["created_by_name"]) == (marketing["id"], "市场部 李娜")
    await _assign(client, tenant.headers, lead["id"], str(rep["id"]))

    mine = ok(await client.get("/api/v1/leads", headers=as_marketing))
    assert [(item["id"], item["owner_name"], item["status"]) for item in mine["items"]] == [
        (lead["id"], "销售 王芳", "assigned")
    ]
    refused = await client.patch(f"/api/v1/leads/{lead['id']}", json={"budget": "1.00"}, headers=as_marketing)
    assert (refused.status_code, refused.json()["code"]) == (403, "lead.read_only")
    assert ok(await client.get("/api/v1/leads", headers=bearer(other_marketing_token)))["items"] == []
