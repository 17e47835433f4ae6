"""POST /leads/bulk and /customers/bulk: supervisors and above, a result per item in request order,
an item in error left exactly as it was, one audit entry per item changed."""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.helpers import bearer, ok
from tests.factories import create_team, lead_body


async def _team(client, tenant, make_user) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A supervisor with two reps in his team, and a rep of nobody's team."""
    supervisor, supervisor_token = await make_user(tenant, "supervisor")
    rep_a, rep_a_token = await make_user(tenant, "rep")
    rep_b, rep_b_token = await make_user(tenant, "rep")
    outsider, outsider_token = await make_user(tenant, "rep")
    await create_team(client, tenant.headers, supervisor, [rep_a, rep_b], name="East")
    return {
        "supervisor": bearer(supervisor_token),
        "rep_a": (rep_a, bearer(rep_a_token)),
        "rep_b": (rep_b, bearer(rep_b_token)),
        "outsider": (outsider, bearer(outsider_token)),
    }


async def _audit(client, tenant, entity_id: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    page = await client.get("/api/v1/audit-events", params={"entity_id": entity_id}, headers=tenant.headers)
    return list(ok(page)["items"])


async def test_bulk_assign_answers_each_item_and_a_failing_item_changes_nothing(
    client, make_tenant, make_user
):
    tenant = await make_tenant()
    team = await _team(client, tenant, make_user)
    _, rep_a_headers = team["rep_a"]
    rep_b, rep_b_headers = team["rep_b"]
    _, outsider_headers = team["outsider"]
    movable = ok(
        await client.post("/api/v1/leads", json=lead_body(phone="13800000101"), headers=rep_a_headers), 201
    )
    hidden = ok(
        await client.post("/api/v1/leads", json=lead_body(phone="13800000102"), headers=outsider_headers), 201
    )
    already = ok(
        await client.post("/api/v1/leads", json=lead_body(phone="13800000103"), headers=rep_b_headers), 201
    )
    unknown = str(uuid.uuid4())
    audit_before = {lead["id"]: len(await _audit(client, tenant, lead["id"])) for lead in (hidden, already)}

    response = await client.post(
        "/api/v1/leads/bulk",
        json={
            "action": "assign",
            "lead_ids": [movable["id"], hidden["id"], already["id"], unknown],
            "owner_id": rep_b["id"],
            "reason": "区域调整",
        },
        headers=team["supervisor"],
    )
    body = ok(response)
    assert body["action"] == "assign"
    assert (body["succeeded"], body["failed"]) == (1, 3)
    results = body["results"]
    assert [r["id"] for r in results] == [movable["id"], hidden["id"], already["id"], unknown]
    assert [r["status"] for r in results] == ["ok", "error", "error", "error"]
    assert "problem" not in results[0] or results[0]["problem"] is None
    assert (results[1]["problem"]["status"], results[1]["problem"]["code"]) == (404, "lead.not_found")
    assert (results[2]["problem"]["status"], results[2]["problem"]["code"]) == (409, "lead.same_owner")
    assert results[3]["problem"]["status"] == 404

    moved = ok(await client.get(f"/api/v1/leads/{movable['id']}", headers=tenant.headers))
    assert moved["owner_id"] == rep_b["id"]
    assert sorted(e["action"] for e in await _audit(client, tenant, movable["id"])) == [
        "lead.assigned",
        "lead.created",
    ]
    kept = ok(await client.get(f"/api/v1/leads/{hidden['id']}", headers=tenant.headers))
    assert (kept["owner_id"], kept["version"]) == (hidden["owner_id"], hidden["version"])
    for lead in (hidden, already):
        assert len(await _audit(client, tenant, lead["id"])) == audit_before[lead["id"]]


async def test_bulk_tag_untag_release_and_disqualify_run_the_single_use_cases(client, make_tenant, make_user):
    tenant = await make_tenant()
    team = await _team(client, tenant, make_user)
    _, rep_headers = team["rep_a"]
    first = ok(
        await client.post(
            "/api/v1/leads", json=lead_body(phone="13800000111", tags=["老客户"]), headers=rep_headers
        ),
        201,
    )
    second = ok(
        await client.post("/api/v1/leads", json=lead_body(phone="13800000112"), headers=rep_headers), 201
    )
    both = [first["id"], second["id"]]
    supervisor = team["supervisor"]

    tagged = ok(
        await client.post(
            "/api/v1/leads/bulk",
            json={"action": "tag", "lead_ids": both, "tags": ["展会"]},
            headers=supervisor,
        )
    )
    assert tagged["succeeded"] == 2
    ok(
        await client.post(
            "/api/v1/leads/bulk",
            json={"action": "untag", "lead_ids": both, "tags": ["老客户"]},
            headers=supervisor,
        )
    )
    for lead_id in both:
        lead = ok(await client.get(f"/api/v1/leads/{lead_id}", headers=tenant.headers))
        assert lead["tags"] == ["展会"]
    updates = [e for e in await _audit(client, tenant, first["id"]) if e["action"] == "lead.updated"]
    assert len(updates) == 2  # one entry per item and action, not one per request or two per item

    released = ok(
        await client.post(
            "/api/v1/leads/bulk",
            json={"action": "release", "lead_ids": [first["id"]], "reason": "暂无需求"},
            headers=supervisor,
        )
    )
    assert released["results"] == [{"id": first["id"], "status": "ok", "problem": None}]
    pooled = ok(await client.get(f"/api/v1/leads/{first['id']}", headers=tenant.headers))
    assert (pooled["status"], pooled["owner_id"]) == ("pooled", None)

    disqualified = ok(
        await client.post(
            "/api/v1/leads/bulk",
            json={"action": "set_status", "lead_ids": both, "status": "disqualified", "reason": "无预算"},
            headers=supervisor,
        )
    )
    assert [r["status"] for r in disqualified["results"]] == ["ok", "ok"]
    again = ok(
        await client.post(
            "/api/v1/leads/bulk",
            json={"action": "tag", "lead_ids": both, "tags": ["晚了"]},
            headers=supervisor,
        )
    )
    # Closed leads are history (the first, pooled and then disqualified, is no longer the team's).
    assert [r["status"] for r in again["results"]] == ["error", "error"]
    assert again["results"][1]["problem"]["code"] == "lead.closed"


async def test_bulk_customers_reassign_and_tag_within_the_supervisors_team(client, make_tenant, make_user):
    tenant = await make_tenant()
    team = await _team(client, tenant, make_user)
    _, rep_a_headers = team["rep_a"]
    rep_b, _ = team["rep_b"]
    _, outsider_headers = team["outsider"]
    ours = ok(await client.post("/api/v1/customers", json={"name": "上海建材"}, headers=rep_a_headers), 201)
    theirs = ok(
        await client.post("/api/v1/customers", json={"name": "北京五金"}, headers=outsider_headers), 201
    )

    body = ok(
        await client.post(
            "/api/v1/customers/bulk",
            json={"action": "reassign", "customer_ids": [theirs["id"], ours["id"]], "owner_id": rep_b["id"]},
            headers=team["supervisor"],
        )
    )
    assert [r["status"] for r in body["results"]] == ["error", "ok"]
    assert body["results"][0]["problem"]["status"] == 404
    assert (
        ok(await client.get(f"/api/v1/customers/{ours['id']}", headers=tenant.headers))["owner_id"]
        == rep_b["id"]
    )
    untouched = ok(await client.get(f"/api/v1/customers/{theirs['id']}", headers=tenant.headers))
    assert untouched["owner_id"] == theirs["owner_id"]
    assert [e["action"] for e in await _audit(client, tenant, ours["id"])].count(
        "customer.owner_changed"
    ) == 1

    tagged = ok(
        await client.post(
            "/api/v1/customers/bulk",
            json={"action": "tag", "customer_ids": [ours["id"]], "tags": ["重点"]},
            headers=tenant.headers,
        )
    )
    assert tagged["succeeded"] == 1
    assert ok(await client.get(f"/api/v1/customers/{ours['id']}", headers=tenant.headers))["tags"] == ["重点"]


async def test_reps_may_not_bulk_edit_and_bad_bodies_are_422(client, make_tenant, make_user):
    tenant = await make_tenant()
    team = await _team(client, tenant, make_user)
    rep, rep_headers = team["rep_a"]
    lead = ok(
        await client.post("/api/v1/leads", json=lead_body(phone="13800000121"), headers=rep_headers), 201
    )

    refused = await client.post(
        "/api/v1/leads/bulk",
        json={"action": "release", "lead_ids": [lead["id"]], "reason": "不要了"},
        headers=rep_headers,
    )
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Your role lacks the permission records:bulk_edit."
    customers = await client.post(
        "/api/v1/customers/bulk",
        json={"action": "tag", "customer_ids": [str(uuid.uuid4())], "tags": ["x"]},
        headers=rep_headers,
    )
    assert customers.status_code == 403
    assert (
        ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers))["owner_id"] == rep["id"]
    )

    for body, field in (
        ({"action": "release", "lead_ids": [lead["id"]]}, "reason"),
        ({"action": "assign", "lead_ids": [lead["id"]], "reason": "x1"}, "owner_id"),
        ({"action": "assign", "lead_ids": [lead["id"]], "owner_id": rep["id"]}, "reason"),
        ({"action": "set_status", "lead_ids": [lead["id"]], "status": "disqualified"}, "reason"),
        ({"action": "set_status", "lead_ids": [lead["id"]], "status": "converted", "reason": "xx"}, "status"),
        ({"action": "tag", "lead_ids": [lead["id"], lead["id"]], "tags": ["x"]}, "lead_ids"),
        ({"action": "tag", "lead_ids": [str(uuid.uuid4()) for _ in range(201)], "tags": ["x"]}, "lead_ids"),
        ({"action": "tag", "lead_ids": [], "tags": ["x"]}, "lead_ids"),
        ({"action": "delete", "lead_ids": [lead["id"]]}, "action"),
    ):
        response = await client.post("/api/v1/leads/bulk", json=body, headers=team["supervisor"])
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [field], (body, response.text)


async def test_bulk_tagging_keeps_a_record_within_twenty_tags(client, make_tenant, make_user):
    tenant = await make_tenant()
    team = await _team(client, tenant, make_user)
    _, rep_headers = team["rep_a"]
    full = ok(
        await client.post(
            "/api/v1/leads",
            json=lead_body(phone="13800000131", tags=[f"t{i}" for i in range(15)]),
            headers=rep_headers,
        ),
        201,
    )
    roomy = ok(
        await client.post("/api/v1/leads", json=lead_body(phone="13800000132"), headers=rep_headers), 201
    )

    tagged = ok(
        await client.post(
            "/api/v1/leads/bulk",
            json={
                "action": "tag",
                "lead_ids": [full["id"], roomy["id"]],
                "tags": [f"n{i}" for i in range(10)],
            },
            headers=team["supervisor"],
        )
    )

    assert [(r["id"], r["status"]) for r in tagged["results"]] == [(full["id"], "error"), (roomy["id"], "ok")]
    assert tagged["results"][0]["problem"]["code"] == "tags.too_many"
    after = ok(await client.get(f"/api/v1/leads/{full['id']}", headers=tenant.headers))
    assert (len(after["tags"]), after["version"]) == (15, full["version"])
