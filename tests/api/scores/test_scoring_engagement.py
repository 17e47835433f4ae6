"""Engagement events, temperature and the lead intent score, as an integrator and a rep see them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.workers.jobs import rescore_leads
from tests.api.helpers import bearer, ok
from tests.conftest import Clock, Tenant, eventually, sign_in
from tests.factories import create_lead

EVENTS = "/api/v1/engagement-events"


async def _key(client: httpx.AsyncClient, tenant: Tenant, *scopes: str) -> dict[str, str]:
    body = {"name": "mailer", "scopes": list(scopes)}
    return bearer(ok(await client.post("/api/v1/api-keys", json=body, headers=tenant.headers), 201)["secret"])


def _event(event_id: str, clock: Clock, kind: str = "trial_login", **reference: Any) -> dict[str, Any]:
    return {"event_id": event_id, "type": kind, "occurred_at": clock.now.isoformat(), **reference}


async def _get(client: httpx.AsyncClient, tenant: Tenant, path: str) -> dict[str, Any]:
    return ok(await client.get(path, headers=tenant.headers))  # type: ignore[no-any-return]


async def _pooled(client: httpx.AsyncClient, tenant: Tenant, lead_id: str) -> None:
    """Waits for the new lead's assignment (no rule: the pool), which moves its version."""

    async def pooled() -> bool:
        return bool((await _get(client, tenant, f"/api/v1/leads/{lead_id}"))["status"] == "pooled")

    await eventually(pooled)


@pytest.fixture
async def tenant(make_tenant: Any) -> Tenant:
    return await make_tenant()  # type: ignore[no-any-return]


async def test_the_same_event_id_counts_once(client: httpx.AsyncClient, tenant: Tenant, clock: Clock) -> None:
    key = await _key(client, tenant, "engagement:write")
    lead = await create_lead(client, tenant.headers, source="web_form", phone="13800138000")
    event = _event("trial-1", clock, lead_id=lead["id"])

    first = ok(await client.post(EVENTS, json=event, headers=key))
    again = ok(await client.post(EVENTS, json=event, headers=key))

    assert (first["created"], first["duplicates"], first["results"][0]["outcome"]) == (1, 0, "created")
    assert (again["created"], again["duplicates"], again["results"][0]["outcome"]) == (0, 1, "duplicate")
    assert again["results"][0]["lead_id"] == lead["id"]
    # trial_login weighs 8 by default: once, not twice.
    assert (await _get(client, tenant, f"/api/v1/leads/{lead['id']}"))["temperature"] == 8.0


async def test_a_batch_says_which_events_were_new(
    client: httpx.AsyncClient, tenant: Tenant, clock: Clock
) -> None:
    key = await _key(client, tenant, "engagement:write")
    lead = await create_lead(client, tenant.headers, source="web_form", phone="13800138000")
    ok(await client.post(EVENTS, json=_event("open-1", clock, "email_open", lead_id=lead["id"]), headers=key))
    batch = {
        "events": [
            _event("open-1", clock, "email_open", lead_id=lead["id"]),
            _event("click-1", clock, "link_click", lead_id=lead["id"]),
            _event("click-1", clock, "link_click", lead_id=lead["id"]),
            _event("form-1", clock, "form_submit", lead_id=lead["id"]),
        ]
    }

    answer = ok(await client.post(EVENTS, json=batch, headers=key))

    assert [r["outcome"] for r in answer["results"]] == ["duplicate", "created", "duplicate", "created"]
    assert [r["index"] for r in answer["results"]] == [0, 1, 2, 3]
    assert (answer["created"], answer["duplicates"]) == (2, 2)
    # 1 (the first e-mail open) + 3 (one click) + 10 (the form).
    assert (await _get(client, tenant, f"/api/v1/leads/{lead['id']}"))["temperature"] == 14.0


async def test_events_find_a_lead_by_phone_and_a_contact_by_email(
    client: httpx.AsyncClient, tenant: Tenant, clock: Clock
) -> None:
    key = await _key(client, tenant, "engagement:write")
    lead = await create_lead(client, tenant.headers, source="web_form", phone="138-0013-8000")
    customer = ok(
        await client.post("/api/v1/customers", json={"name": "申华建材"}, headers=tenant.headers), 201
    )
    contact = ok(
        await client.post(
            f"/api/v1/customers/{customer['id']}/contacts",
            json={"name": "李娜", "email": "Li.Na@Shenhua.example"},
            headers=tenant.headers,
        ),
        201,
    )
    batch = {
        "events": [
            _event("v-1", clock, "video_view", phone="+86 138 0013 8000"),
            _event("w-1", clock, "wechat_reply", email="li.na@shenhua.example"),
            _event("d-1", clock, "doc_view", customer_code=customer["code"]),
        ]
    }

    results = ok(await client.post(EVENTS, json=batch, headers=key))["results"]

    assert results[0]["lead_id"] == lead["id"]
    assert (results[1]["contact_id"], results[1]["customer_id"]) == (contact["id"], customer["id"])
    assert results[2]["customer_id"] == customer["id"]
    assert (await _get(client, tenant, f"/api/v1/leads/{lead['id']}"))["temperature"] == 5.0
    # A contact's engagement warms its customer: 6 (WeChat reply) + 5 (document view).
    shown = await _get(client, tenant, f"/api/v1/customers/{customer['id']}")
    assert shown["temperature"] == 11.0
    assert shown["last_engaged_at"] is not None


async def test_an_event_matching_nothing_refuses_the_batch_and_records_nothing(
    client: httpx.AsyncClient, tenant: Tenant, clock: Clock, make_tenant: Any
) -> None:
    key = await _key(client, tenant, "engagement:write")
    lead = await create_lead(client, tenant.headers, source="web_form", phone="13800138000")
    stranger = await create_lead(
        client, (await make_tenant("Other")).headers, source="web_form", phone="13900139000"
    )
    batch = {
        "events": [
            _event("ok-1", clock, lead_id=lead["id"]),
            _event("no-1", clock, email="nobody@nowhere.example"),
            _event("no-2", clock, lead_id=stranger["id"]),
            _event("no-3", clock, phone="12345"),
        ]
    }

    refused = await client.post(EVENTS, json=batch, headers=key)

    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["code"] == "engagement.unmatched"
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [
        ("events[1].email", "not_found"),
        ("events[2].lead_id", "not_found"),
        ("events[3].phone", "invalid"),
    ]
    assert (await _get(client, tenant, f"/api/v1/leads/{lead['id']}"))["temperature"] == 0.0
    # Nothing was stored: the valid event is new when sent again.
    retry = ok(await client.post(EVENTS, json=_event("ok-1", clock, lead_id=lead["id"]), headers=key))
    assert retry["created"] == 1


async def test_a_key_without_engagement_write_is_refused(
    client: httpx.AsyncClient, tenant: Tenant, clock: Clock, make_user: Any
) -> None:
    lead = await create_lead(client, tenant.headers, source="web_form", phone="13800138000")
    event = _event("e-1", clock, lead_id=lead["id"])
    reader = await _key(client, tenant, "leads:read", "leads:write")
    _, rep_token = await make_user(tenant, "rep")

    assert (await client.post(EVENTS, json=event, headers=reader)).status_code == 403
    assert (await client.post(EVENTS, json=event, headers=bearer(rep_token))).status_code == 403
    assert (await client.post(EVENTS, json=event, headers=tenant.headers)).status_code == 200


async def test_a_batch_of_1001_is_refused(client: httpx.AsyncClient, tenant: Tenant, clock: Clock) -> None:
    key = await _key(client, tenant, "engagement:write")
    lead = await create_lead(client, tenant.headers, source="web_form", phone="13800138000")
    batch = {"events": [_event(f"e-{n}", clock, "email_open", lead_id=lead["id"]) for n in range(1001)]}

    refused = await client.post(EVENTS, json=batch, headers=key)

    assert refused.status_code == 422, refused.text
    assert (await _get(client, tenant, f"/api/v1/leads/{lead['id']}"))["temperature"] == 0.0
    batch["events"] = batch["events"][:1000]
    assert ok(await client.post(EVENTS, json=batch, headers=key))["created"] == 1000


async def test_an_event_needs_exactly_one_reference(
    client: httpx.AsyncClient, tenant: Tenant, clock: Clock
) -> None:
    lead = await create_lead(client, tenant.headers, source="web_form", phone="13800138000")
    both = _event("e-1", clock, lead_id=lead["id"], phone="13800138000")
    neither = _event("e-2", clock)

    for body in (both, neither, {"events": []}):
        assert (await client.post(EVENTS, json=body, headers=tenant.headers)).status_code == 422


async def test_temperature_cools_as_time_passes_on_lead_and_converted_customer(
    client: httpx.AsyncClient, tenant: Tenant, clock: Clock
) -> None:
    # A key does not expire with the clock moved by weeks, as a sign-in's token does.
    reader = await _key(client, tenant, "leads:read", "customers:read")
    lead = await create_lead(client, tenant.headers, source="web_form", phone="13800138000")
    converted = ok(await client.post(f"/api/v1/leads/{lead['id']}/convert", json={}, headers=tenant.headers))
    customer_id = converted["customer"]["id"]
    assert converted["customer"]["temperature"] == 0.0
    event = _event("m-1", clock, "meeting_attended", lead_id=lead["id"])
    ok(await client.post(EVENTS, json=event, headers=tenant.headers))

    def read(path: str) -> Any:
        return client.get(path, headers=reader)

    assert ok(await read(f"/api/v1/leads/{lead['id']}"))["temperature"] == 15.0
    clock.advance(days=14)  # the default half-life
    assert ok(await read(f"/api/v1/leads/{lead['id']}"))["temperature"] == 7.5
    assert ok(await read(f"/api/v1/customers/{customer_id}"))["temperature"] == 7.5
    admin = bearer(await sign_in(client, tenant.admin_username))
    half_life = {"settings": {"scoring": {"temperature": {"half_life_days": 7}}}}
    ok(await client.patch("/api/v1/organization", json=half_life, headers=admin))
    # Two seven-day half-lives since the meeting: 15 / 4.
    assert ok(await read(f"/api/v1/customers/{customer_id}"))["temperature"] == 3.8


async def test_unreadable_scoring_settings_are_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for scoring in (
        {"temperature": {"half_life_days": 0}},
        {"temperature": {"weights": {"fax": 1}}},
        {"lead_intent": {"weights": {"temperature": "high"}}},
    ):
        answer = await client.patch(
            "/api/v1/organization", json={"settings": {"scoring": scoring}}, headers=tenant.headers
        )
        assert answer.status_code == 422, answer.text


def _points(lead: dict[str, Any]) -> dict[str, int]:
    assert sum(item["points"] for item in lead["score_breakdown"]) == lead["score"]
    return {item["signal"]: item["points"] for item in lead["score_breakdown"]}


async def test_the_score_breakdown_sums_to_the_score_and_follows_its_inputs(
    client: httpx.AsyncClient, tenant: Tenant, clock: Clock
) -> None:
    lead = await create_lead(client, tenant.headers, source="web_form", phone="13800138000")
    path = f"/api/v1/leads/{lead['id']}"
    assert lead["score"] == 5
    assert _points(lead)["source_quality"] == 5

    budgeted = ok(await client.patch(path, json={"budget": "250000.00"}, headers=tenant.headers))
    assert (budgeted["score"], _points(budgeted)["budget_known"]) == (15, 10)

    call = {
        "type": "call",
        "occurred_at": clock.now.isoformat(),
        "lead_id": lead["id"],
        "call_outcome": "connected",
        "info_points": {"timeline": "Q1 2027"},
    }
    ok(await client.post("/api/v1/activities", json=call, headers=tenant.headers), 201)
    called = await _get(client, tenant, path)
    # One activity of five in 30 days: 25 / 5 = 5; the timeframe is now known: 10.
    assert (_points(called)["contact_frequency"], _points(called)["timeframe_known"]) == (5, 10)
    assert called["score"] == 30

    ok(
        await client.post(
            EVENTS, json=_event("m-1", clock, "meeting_attended", lead_id=lead["id"]), headers=tenant.headers
        )
    )
    met = await _get(client, tenant, path)
    # A meeting (of two in full): 10; temperature 15 of 30: 12.5, rounded with the rest to 53.
    assert _points(met)["meeting_attendance"] == 10
    assert met["score"] == 53
    reasons = {item["signal"]: item["reason"] for item in met["score_breakdown"]}
    assert reasons["meeting_attendance"] == "1 meeting attended; 2 or more score in full."


async def test_sort_by_score_puts_whom_to_follow_up_first(
    client: httpx.AsyncClient, tenant: Tenant, clock: Clock
) -> None:
    cold = await create_lead(client, tenant.headers, source="web_form", phone="13800000001")
    warm = await create_lead(client, tenant.headers, source="web_form", phone="13800000002", budget="1000.00")
    hot = await create_lead(client, tenant.headers, source="web_form", phone="13800000003", budget="9000.00")
    ok(
        await client.post(
            EVENTS, json=_event("f-1", clock, "form_submit", lead_id=hot["id"]), headers=tenant.headers
        )
    )

    listed = await _get(client, tenant, "/api/v1/leads?sort=-score")
    ascending = await _get(client, tenant, "/api/v1/leads?sort=score")

    assert [lead["id"] for lead in listed["items"]] == [hot["id"], warm["id"], cold["id"]]
    assert [lead["id"] for lead in ascending["items"]] == [cold["id"], warm["id"], hot["id"]]
    scores = [lead["score"] for lead in listed["items"]]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[1] > scores[2]
    # Page by page, the cursor keeps the order.
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"sort": "-score", "limit": 1} | ({"cursor": cursor} if cursor else {})
        page = ok(await client.get("/api/v1/leads", params=params, headers=tenant.headers))
        seen += [lead["id"] for lead in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [hot["id"], warm["id"], cold["id"]]


async def test_an_event_from_the_future_is_refused(
    client: httpx.AsyncClient, tenant: Tenant, clock: Clock
) -> None:
    lead = await create_lead(client, tenant.headers, source="web_form", phone="13800138000")
    an_hour_ahead = (clock.now + timedelta(hours=1)).isoformat()
    batch = {"events": [_event("e-1", clock, lead_id=lead["id"]), _event("e-2", clock, lead_id=lead["id"])]}
    batch["events"][1]["occurred_at"] = an_hour_ahead

    refused = await client.post(EVENTS, json=batch, headers=tenant.headers)

    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["events[1].occurred_at"]
    assert (await _get(client, tenant, f"/api/v1/leads/{lead['id']}"))["temperature"] == 0.0


async def test_engagement_warms_and_rescores_without_moving_the_version_a_client_edits_against(
    client: httpx.AsyncClient, tenant: Tenant, clock: Clock
) -> None:
    key = await _key(client, tenant, "engagement:write")
    lead = await create_lead(client, tenant.headers, source="web_form", phone="13800138000")
    customer = ok(
        await client.post("/api/v1/customers", json={"name": "申华建材"}, headers=tenant.headers), 201
    )
    await _pooled(client, tenant, lead["id"])  # what the rep reads, once assignment is done
    lead_read = await client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers)
    customer_read = await client.get(f"/api/v1/customers/{customer['id']}", headers=tenant.headers)
    batch = {
        "events": [
            _event("form-1", clock, "form_submit", lead_id=lead["id"]),
            _event("trial-1", clock, "trial_login", customer_id=customer["id"]),
        ]
    }
    ok(await client.post(EVENTS, json=batch, headers=key))

    warmed = await _get(client, tenant, f"/api/v1/leads/{lead['id']}")
    assert (warmed["temperature"], warmed["version"]) == (10.0, lead_read.json()["version"])
    assert warmed["score"] > lead_read.json()["score"]
    # The rep's edit, made against what they read before the events, is not refused.
    edit = await client.patch(
        f"/api/v1/leads/{lead['id']}",
        json={"notes": "回访"},
        headers={**tenant.headers, "If-Match": lead_read.headers["etag"]},
    )
    assert edit.status_code == 200, edit.text
    edit = await client.patch(
        f"/api/v1/customers/{customer['id']}",
        json={"industry": "建材"},
        headers={**tenant.headers, "If-Match": customer_read.headers["etag"]},
    )
    assert edit.status_code == 200, edit.text
    assert edit.json()["temperature"] == 8.0


async def test_the_nightly_rescore_lowers_a_score_that_time_alone_cooled(
    client: httpx.AsyncClient, tenant: Tenant, clock: Clock, app: Any
) -> None:
    reader = await _key(client, tenant, "leads:read", "engagement:write")
    lead = await create_lead(client, tenant.headers, source="web_form", phone="13800138000")
    await _pooled(client, tenant, lead["id"])
    ok(
        await client.post(
            EVENTS, json=_event("m-1", clock, "meeting_attended", lead_id=lead["id"]), headers=reader
        )
    )
    warm = ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=reader))
    runtime = app.state.runtime
    context = {"sessionmaker": runtime.sessionmaker, "queue": runtime.queue, "clock": runtime.clock}

    clock.advance(days=28)  # two half-lives: the temperature is a quarter of what it was
    stored = ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=reader))
    assert (stored["temperature"], stored["score"]) == (3.8, warm["score"])  # read now; stored then
    assert await rescore_leads(context) >= 1
    cooled = ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=reader))
    assert cooled["score"] < warm["score"]
    temperature = next(s for s in cooled["score_breakdown"] if s["signal"] == "temperature")
    assert temperature["value"] == 3.8
    assert cooled["version"] == warm["version"]
    assert await rescore_leads(context) == 0  # once per local day
