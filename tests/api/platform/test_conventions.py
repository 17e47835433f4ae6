"""Cross-cutting API conventions: idempotency, optimistic concurrency, limits, problems, paging."""

from __future__ import annotations

import asyncio
import uuid

from tests.conftest import PASSWORD, eventually, sign_in


def _new_user(name: str) -> dict[str, str]:
    return {"username": name, "display_name": name, "password": PASSWORD, "role": "rep"}


async def _count_users(client, tenant, q: str) -> int:
    response = await client.get("/api/v1/users", params={"q": q, "limit": 200}, headers=tenant.headers)
    return len(response.json()["items"])


async def test_idempotency_key_replays_the_first_answer(client, make_tenant):
    tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": "create-li-lei"}
    first = await client.post("/api/v1/users", json=_new_user("li.lei"), headers=headers)
    second = await client.post("/api/v1/users", json=_new_user("li.lei"), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await _count_users(client, tenant, "li.lei") == 1


async def test_same_key_with_a_different_body_is_refused(client, make_tenant):
    tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": "k-1"}
    assert (await client.post("/api/v1/users", json=_new_user("han.mei"), headers=headers)).status_code == 201
    reused = await client.post("/api/v1/users", json=_new_user("other.name"), headers=headers)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency.key_reused"
    assert await _count_users(client, tenant, "other.name") == 0


async def test_same_key_with_other_query_parameters_is_refused(client, make_tenant):
    """The query is part of the request: a retry that changes `on_duplicate` (or sends one no lead
    creation takes) is another request, not a replay of the first answer."""
    tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": "lead-k-1"}
    body = {"name": "张伟", "source": "exhibition", "phone": "13800138077"}
    assert (await client.post("/api/v1/leads", json=body, headers=headers)).status_code == 201
    for query in ({"on_duplicate": "merge"}, {"on_duplicate": "not-a-choice"}):
        reused = await client.post("/api/v1/leads", json=body, params=query, headers=headers)
        assert (reused.status_code, reused.json()["code"]) == (422, "idempotency.key_reused"), query
    replayed = await client.post("/api/v1/leads", json=body, headers=headers)
    assert (replayed.status_code, replayed.headers["idempotent-replayed"]) == (201, "true")


async def test_keys_are_scoped_per_caller_and_expire_after_a_day(client, make_tenant, clock):
    tenant = await make_tenant()
    other = await make_tenant("Other")
    key = {"Idempotency-Key": "shared-key"}
    mine = await client.post("/api/v1/users", json=_new_user("wei.one"), headers={**tenant.headers, **key})
    theirs = await client.post("/api/v1/users", json=_new_user("wei.two"), headers={**other.headers, **key})
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    clock.advance(hours=24, seconds=1)
    fresh_token = await sign_in(client, tenant.admin_username)
    replay_after_expiry = await client.post(
        "/api/v1/users", json=_new_user("wei.one"), headers={"Authorization": f"Bearer {fresh_token}", **key}
    )
    assert replay_after_expiry.status_code == 409  # executed again: the username now exists


async def test_concurrent_requests_with_one_key_execute_once(client, make_tenant):
    tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": f"burst-{uuid.uuid4()}"}
    responses = await asyncio.gather(
        *(client.post("/api/v1/users", json=_new_user("burst.user"), headers=headers) for _ in range(8))
    )
    assert [r.status_code for r in responses] == [201] * 8
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 7
    assert await _count_users(client, tenant, "burst.user") == 1


async def test_failed_request_does_not_burn_its_key(client, make_tenant):
    tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": "retry-me"}
    bad = await client.post(
        "/api/v1/users", json={**_new_user("zhao.lei"), "role": "emperor"}, headers=headers
    )
    assert bad.status_code == 422
    good = await client.post("/api/v1/users", json=_new_user("zhao.lei"), headers=headers)
    assert good.status_code == 201


async def test_stale_if_match_answers_412_and_changes_nothing(client, make_tenant, make_user):
    tenant = await make_tenant()
    rep, _ = await make_user(tenant, "rep")
    read = await client.get(f"/api/v1/users/{rep['id']}", headers=tenant.headers)
    etag = read.headers["etag"]
    first = await client.patch(
        f"/api/v1/users/{rep['id']}",
        json={"display_name": "First"},
        headers={**tenant.headers, "If-Match": etag},
    )
    assert first.status_code == 200
    assert first.headers["etag"] != etag
    second = await client.patch(
        f"/api/v1/users/{rep['id']}",
        json={"display_name": "Second"},
        headers={**tenant.headers, "If-Match": etag},
    )
    assert second.status_code == 412
    assert second.json()["code"] == "version.mismatch"
    current = await client.get(f"/api/v1/users/{rep['id']}", headers=tenant.headers)
    assert current.json()["display_name"] == "First"
    garbage = await client.patch(
        f"/api/v1/users/{rep['id']}",
        json={"display_name": "x"},
        headers={**tenant.headers, "If-Match": "nonsense"},
    )
    assert garbage.status_code == 422


async def test_organization_patch_honours_if_match(client, make_tenant):
    tenant = await make_tenant()
    read = await client.get("/api/v1/organization", headers=tenant.headers)
    assert read.json()["timezone"] == "Asia/Shanghai"
    ok = await client.patch(
        "/api/v1/organization",
        json={"locale": "en"},
        headers={**tenant.headers, "If-Match": read.headers["etag"]},
    )
    assert ok.status_code == 200
    assert ok.json()["locale"] == "en"
    stale = await client.patch(
        "/api/v1/organization",
        json={"locale": "zh-CN"},
        headers={**tenant.headers, "If-Match": read.headers["etag"]},
    )
    assert stale.status_code == 412
    bad_zone = await client.patch(
        "/api/v1/organization", json={"timezone": "Mars/Olympus"}, headers=tenant.headers
    )
    assert bad_zone.status_code == 422
    assert bad_zone.json()["errors"][0]["field"] == "timezone"


async def test_oversized_body_answers_413_problem(client, make_tenant, settings):
    tenant = await make_tenant()
    body = {**_new_user("big.body"), "display_name": "x" * (settings.max_request_bytes + 10)}
    response = await client.post("/api/v1/users", json=body, headers=tenant.headers)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "request.too_large"

    async def chunks():
        yield b'{"username": "streamed", "display_name": "'
        for _ in range(settings.max_request_bytes // 1000 + 2):
            yield b"y" * 1000
        yield b'"}'

    streamed = await client.post(
        "/api/v1/users", content=chunks(), headers={**tenant.headers, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert await _count_users(client, tenant, "streamed") == 0


async def test_errors_are_problem_json_for_404_405_and_422(client, make_tenant):
    tenant = await make_tenant()
    not_found = await client.get("/api/v1/nowhere", headers=tenant.headers)
    wrong_method = await client.put("/api/v1/users", headers=tenant.headers)
    invalid = await client.post(
        "/api/v1/users", json={"username": "x", "password": "short", "role": "rep"}, headers=tenant.headers
    )
    malformed = await client.post(
        "/api/v1/users", content=b"{not json", headers={**tenant.headers, "Content-Type": "application/json"}
    )
    for response, status in ((not_found, 404), (wrong_method, 405), (invalid, 422), (malformed, 422)):
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == status
        assert problem["type"].startswith("https://")
        assert problem["title"]
        assert problem["detail"]
        assert problem["request_id"] == response.headers["x-request-id"]
    fields = {(e["field"], e["code"]) for e in invalid.json()["errors"]}
    assert ("username", "string_too_short") in fields
    assert ("password", "string_too_short") in fields
    assert ("display_name", "missing") in fields


async def test_request_id_is_echoed_or_generated(client):
    echoed = await client.get("/healthz", headers={"X-Request-ID": "trace-abc.123"})
    assert echoed.headers["x-request-id"] == "trace-abc.123"
    generated = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert len(generated.headers["x-request-id"]) == 32


async def test_cursor_pagination_neither_skips_nor_repeats_while_rows_are_inserted(
    client, make_tenant, clock
):
    tenant = await make_tenant()
    for i in range(7):
        clock.advance(seconds=1)
        created = await client.post("/api/v1/users", json=_new_user(f"page.{i}"), headers=tenant.headers)
        assert created.status_code == 201
    for sort in ("created_at", "-created_at", "username"):
        seen: list[str] = []
        cursor = None
        inserted = 0
        while True:
            params = {"limit": 3, "sort": sort, "q": "page."}
            if cursor:
                params["cursor"] = cursor
            page = await client.get("/api/v1/users", params=params, headers=tenant.headers)
            assert page.status_code == 200, page.text
            seen.extend(u["username"] for u in page.json()["items"])
            cursor = page.json()["next_cursor"]
            # Rows inserted between pages land before the cursor (newest) or after it (oldest-first).
            clock.advance(seconds=1)
            name = f"page.{sort.strip('-')}.{inserted}"
            await client.post("/api/v1/users", json=_new_user(name), headers=tenant.headers)
            inserted += 1
            if cursor is None:
                break
        assert len(seen) == len(set(seen)), f"{sort}: repeated rows {seen}"
        original = {f"page.{i}" for i in range(7)}
        assert original <= set(seen), f"{sort}: skipped {original - set(seen)}"
        expected_order = sorted(seen, reverse=sort.startswith("-")) if sort == "username" else None
        if expected_order:
            assert seen == expected_order


async def test_cursor_from_another_sort_or_garbage_is_a_422(client, make_tenant):
    tenant = await make_tenant()
    for i in range(3):
        await client.post("/api/v1/users", json=_new_user(f"cur.{i}"), headers=tenant.headers)
    page = await client.get("/api/v1/users", params={"limit": 1}, headers=tenant.headers)
    cursor = page.json()["next_cursor"]
    assert cursor
    mixed = await client.get(
        "/api/v1/users", params={"limit": 1, "cursor": cursor, "sort": "-username"}, headers=tenant.headers
    )
    assert mixed.status_code == 422
    assert mixed.json()["errors"][0]["field"] == "cursor"
    garbage = await client.get("/api/v1/users", params={"cursor": "!!!"}, headers=tenant.headers)
    assert garbage.status_code == 422
    too_many = await client.get("/api/v1/users", params={"limit": 201}, headers=tenant.headers)
    assert too_many.status_code == 422


async def test_an_unknown_query_parameter_is_422_naming_it_not_silently_ignored(client, make_tenant):
    tenant = await make_tenant()

    refused = await client.get(
        "/api/v1/activities",
        params={"deal_id": "x", "limit": 5, "colour": "red"},
        headers=tenant.headers,
    )

    assert refused.status_code == 422
    assert refused.json()["code"] == "request.unknown_parameter"
    assert [e["field"] for e in refused.json()["errors"]] == ["colour", "deal_id"]
    # Declared parameters, aliased ones included, pass.
    assert (
        await client.get("/api/v1/activities", params={"type": "call", "limit": 5}, headers=tenant.headers)
    ).status_code == 200


async def test_a_repeated_filter_means_either_value(client, make_tenant):
    tenant = await make_tenant()
    made = {}
    for n, name in enumerate(("new one", "disqualified one", "another new one")):
        created = await client.post(
            "/api/v1/leads",
            json={"name": name, "source": "web_form", "phone": f"1390000{n:04d}"},
            headers=tenant.headers,
        )
        assert created.status_code == 201, created.text
        made[name] = created.json()["id"]
    disqualified = await client.post(
        f"/api/v1/leads/{made['disqualified one']}/disqualify",
        json={"reason": "spam"},
        headers=tenant.headers,
    )
    assert disqualified.status_code == 200, disqualified.text

    async def assignment_settled() -> bool:
        listed = (await client.get("/api/v1/leads", headers=tenant.headers)).json()["items"]
        return all(lead["status"] != "new" for lead in listed)

    # Assignment runs as a job after the answer; until it has run, the two waiting leads may differ.
    await eventually(assignment_settled)
    waiting = (await client.get(f"/api/v1/leads/{made['new one']}", headers=tenant.headers)).json()["status"]

    either = await client.get(
        "/api/v1/leads", params=[("status", waiting), ("status", "disqualified")], headers=tenant.headers
    )
    one = await client.get("/api/v1/leads", params={"status": "disqualified"}, headers=tenant.headers)

    assert either.status_code == 200, either.text
    assert {lead["status"] for lead in either.json()["items"]} == {waiting, "disqualified"}
    assert len(either.json()["items"]) == 3
    assert [lead["id"] for lead in one.json()["items"]] == [made["disqualified one"]]


async def test_a_parameter_that_takes_one_value_given_twice_is_422_not_the_last_one(client, make_tenant):
    tenant = await make_tenant()

    refused = await client.get(
        "/api/v1/leads",
        params=[("limit", "5"), ("limit", "500"), ("q", "a"), ("q", "b")],
        headers=tenant.headers,
    )

    assert refused.status_code == 422
    assert refused.json()["code"] == "request.repeated_parameter"
    assert [e["field"] for e in refused.json()["errors"]] == ["limit", "q"]


async def test_a_list_answers_304_while_it_is_unchanged_and_200_once_it_changes(client, make_tenant):
    tenant = await make_tenant()
    first = await client.get("/api/v1/users", headers=tenant.headers)
    etag = first.headers["etag"]
    assert etag.startswith('W/"')

    unchanged = await client.get("/api/v1/users", headers={**tenant.headers, "If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag

    assert (
        await client.post("/api/v1/users", json=_new_user("new.colleague"), headers=tenant.headers)
    ).status_code == 201
    changed = await client.get("/api/v1/users", headers={**tenant.headers, "If-None-Match": etag})
    assert changed.status_code == 200
    assert "new.colleague" in {user["username"] for user in changed.json()["items"]}
    assert changed.headers["etag"] != etag


async def test_a_record_keeps_its_version_as_etag_and_always_answers_in_full(client, make_tenant):
    tenant = await make_tenant()
    created = await client.post("/api/v1/users", json=_new_user("zhao.lei"), headers=tenant.headers)
    url = created.headers["location"]
    version = (await client.get(url, headers=tenant.headers)).headers["etag"]
    assert not version.startswith("W/")
    again = await client.get(url, headers={**tenant.headers, "If-None-Match": version})
    assert again.status_code == 200
    assert again.json()["username"] == "zhao.lei"


async def test_answers_over_a_kilobyte_are_gzipped_for_clients_that_accept_it(client, make_tenant):
    tenant = await make_tenant()
    for index in range(8):
        await client.post("/api/v1/users", json=_new_user(f"rep.{index}"), headers=tenant.headers)
    large = await client.get("/api/v1/users", headers={**tenant.headers, "Accept-Encoding": "gzip"})
    assert large.headers["content-encoding"] == "gzip"
    assert len(large.json()["items"]) >= 9  # httpx decompressed what the client asked for
    plain = await client.get("/api/v1/users", headers={**tenant.headers, "Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    small = await client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers


async def test_a_tagged_unions_errors_name_the_clients_own_fields(client, make_tenant):
    tenant = await make_tenant()
    lead_id = str(uuid.uuid4())

    async def fields(path: str, body: dict) -> list[str]:
        response = await client.post(path, json=body, headers=tenant.headers)
        assert response.status_code == 422, response.text
        return [e["field"] for e in response.json()["errors"]]

    # pydantic puts the member's tag ("release") in the path and an unknown tag on the body.
    assert await fields("/api/v1/leads/bulk", {"action": "release", "lead_ids": [lead_id]}) == ["reason"]
    assert await fields("/api/v1/leads/bulk", {"action": "delete", "lead_ids": [lead_id]}) == ["action"]
    assert await fields("/api/v1/leads/bulk", {"lead_ids": [lead_id]}) == ["action"]
    channel = {"name": "群", "kind": "fax", "config": {}, "event_types": ["lead.assigned"]}
    assert await fields("/api/v1/notification-channels", channel) == ["kind"]
    robot = {"name": "群", "kind": "wecom_robot", "config": {}, "event_types": ["lead.assigned"]}
    assert await fields("/api/v1/notification-channels", robot) == ["config.key"]
