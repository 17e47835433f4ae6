"""Web-to-lead intake (issue 21, point 1): web forms post leads with no user token; the lead goes
through the same de-duplication, assignment and SLA as POST /leads, behind rate limits, a honeypot
and an optional captcha check against a fake provider on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from app.services.leads import captcha
from tests.api.helpers import bearer, ok
from tests.conftest import new_tenant, serving
from tests.factories import unique_phone

MAPPING = {"contact_name": "name", "mobile": "phone", "mail": "email", "area": "region", "msg": "notes"}


async def _form(client, headers, **fields: object) -> dict:
    body = {"name": "官网询价", "field_mapping": MAPPING, "honeypot_field": "website", **fields}
    return ok(await client.post("/api/v1/intake-forms", json=body, headers=headers), 201)


def _submission(**fields: str) -> dict[str, str]:
    return {"contact_name": "张伟", "mobile": unique_phone(), "area": "华东", **fields}


async def _leads(client, tenant) -> list[dict]:
    return ok(await client.get("/api/v1/leads", params={"source": "web_form"}, headers=tenant.headers))[
        "items"
    ]


async def _rule_for_east(client, tenant, rep: dict) -> None:
    rule = {
        "name": "华东",
        "priority": 10,
        "strategy": "round_robin",
        "user_ids": [rep["id"]],
        "conditions": [{"field": "region", "operator": "eq", "value": "华东"}],
    }
    ok(await client.post("/api/v1/assignment-rules", json=rule, headers=tenant.headers), 201)
    policy = {"name": "首响30分钟", "kind": "first_response", "target_minutes": 30}
    ok(await client.post("/api/v1/sla-policies", json=policy, headers=tenant.headers), 201)


async def test_json_and_form_posts_become_leads_assigned_by_the_rules_with_a_first_response_timer(
    app, client, make_tenant, make_user
):
    tenant = await make_tenant()
    rep, _ = await make_user(tenant, "rep")
    await _rule_for_east(client, tenant, rep)
    form = await _form(client, tenant.headers)
    path = f"/api/v1/intake/{form['key']}"

    as_form = await client.post(path, data=_submission(contact_name="王磊", msg="屋面防水报价"))
    as_json = await client.post(path, json=_submission(contact_name="李娜", mail="li.na@example.com"))
    await app.state.runtime.queue.drain()

    assert [as_form.status_code, as_json.status_code] == [202, 202]
    assert as_form.json() == as_json.json() == {"status": "accepted"}
    leads = {lead["name"]: lead for lead in await _leads(client, tenant)}
    assert set(leads) == {"王磊", "李娜"}
    assert leads["王磊"]["notes"] == "屋面防水报价"
    assert leads["李娜"]["email"] == "li.na@example.com"
    for lead in leads.values():
        assert (lead["owner_id"], lead["status"], lead["source"]) == (rep["id"], "assigned", "web_form")
        timers = ok(
            await client.get("/api/v1/sla-timers", params={"subject_id": lead["id"]}, headers=tenant.headers)
        )
        assert [(t["kind"], t["state"]) for t in timers["items"]] == [("first_response", "running")]
    audit = ok(
        await client.get(
            "/api/v1/audit-events", params={"entity_id": leads["王磊"]["id"]}, headers=tenant.headers
        )
    )["items"]
    created = next(e for e in audit if e["action"] == "lead.created")
    assert (created["actor_type"], created["actor_id"]) == ("intake_form", form["id"])
    received = next(e for e in audit if e["action"] == "lead.received_from_intake_form")
    assert received["after"]["intake_form"] == "intake form 官网询价"


async def test_a_duplicate_answers_the_same_202_and_is_merged_into_the_existing_lead(
    app, client, make_tenant
):
    tenant = await make_tenant()
    form = await _form(client, tenant.headers)
    existing = ok(
        await client.post(
            "/api/v1/leads",
            json={"name": "张伟", "phone": "13911112222", "source": "exhibition"},
            headers=tenant.headers,
        ),
        201,
    )

    again = await client.post(
        f"/api/v1/intake/{form['key']}", data=_submission(mobile="139 1111 2222", msg="再次咨询")
    )

    assert again.status_code == 202
    assert again.json() == {"status": "accepted"}
    leads = ok(await client.get("/api/v1/leads", headers=tenant.headers))["items"]
    assert [lead["id"] for lead in leads] == [existing["id"]]
    notes = ok(
        await client.get("/api/v1/activities", params={"lead_id": existing["id"]}, headers=tenant.headers)
    )["items"]
    assert len(notes) == 1
    assert "再次咨询" in notes[0]["notes"]
    assert "Duplicate lead merged" in notes[0]["notes"]


async def test_a_filled_honeypot_answers_like_a_success_and_stores_nothing(client, make_tenant):
    tenant = await make_tenant()
    form = await _form(client, tenant.headers)

    bot = await client.post(f"/api/v1/intake/{form['key']}", data=_submission(website="http://spam.example"))

    assert bot.status_code == 202
    assert bot.json() == {"status": "accepted"}
    assert await _leads(client, tenant) == []


async def test_per_form_and_per_address_limits_answer_429_until_the_window_passes(settings, clock):
    proxied = settings.model_copy(update={"trusted_proxies": [ipaddress.ip_network("127.0.0.0/8")]})
    async with serving(proxied, clock) as (application, http):
        tenant = await new_tenant(application, http)
        form = await _form(http, tenant.headers, form_rate_limit=3, client_rate_limit=2)
        path = f"/api/v1/intake/{form['key']}"

        def post(address: str):  # type: ignore[no-untyped-def]
            return http.post(path, data=_submission(), headers={"X-Forwarded-For": address})

        per_address = [(await post("198.51.100.7")).status_code for _ in range(3)]
        other_address = (await post("203.0.113.9")).status_code
        per_form = await post("203.0.113.10")
        clock.advance(seconds=61)
        after_window = (await post("198.51.100.7")).status_code
        leads = await _leads(http, tenant)

    assert per_address == [202, 202, 429]
    assert other_address == 202
    assert per_form.status_code == 429
    assert per_form.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(per_form.headers["Retry-After"]) <= 61
    assert after_window == 202
    assert len(leads) == 4


async def test_concurrent_submissions_from_one_address_pass_the_limit_no_more_often_than_it_allows(
    client, make_tenant
):
    tenant = await make_tenant()
    form = await _form(client, tenant.headers, client_rate_limit=3)

    answers = await asyncio.gather(
        *(client.post(f"/api/v1/intake/{form['key']}", data=_submission()) for _ in range(8))
    )

    assert sorted(a.status_code for a in answers) == [202] * 3 + [429] * 5
    assert len(await _leads(client, tenant)) == 3


async def test_a_rotated_key_replaces_the_old_one_and_an_inactive_or_deleted_form_answers_404(
    client, make_tenant
):
    tenant = await make_tenant()
    form = await _form(client, tenant.headers)
    assert "key" not in ok(await client.get(f"/api/v1/intake-forms/{form['id']}", headers=tenant.headers))

    rotated = ok(await client.post(f"/api/v1/intake-forms/{form['id']}/rotate-key", headers=tenant.headers))

    assert rotated["key"] != form["key"]
    assert rotated["key_prefix"] == rotated["key"][:12]
    old = await client.post(f"/api/v1/intake/{form['key']}", data=_submission())
    assert old.status_code == 404
    assert old.json()["code"] == "intake_form.not_found"
    assert (await client.post(f"/api/v1/intake/{rotated['key']}", data=_submission())).status_code == 202
    off = await client.patch(
        f"/api/v1/intake-forms/{form['id']}",
        json={"is_active": False},
        headers={**tenant.headers, "If-Match": f'"{rotated["version"]}"'},
    )
    assert ok(off)["is_active"] is False
    assert (await client.post(f"/api/v1/intake/{rotated['key']}", data=_submission())).status_code == 404
    assert (
        await client.delete(f"/api/v1/intake-forms/{form['id']}", headers=tenant.headers)
    ).status_code == 204
    assert (await client.post(f"/api/v1/intake/{rotated['key']}", data=_submission())).status_code == 404
    assert len(await _leads(client, tenant)) == 1


async def test_a_mapping_to_a_missing_lead_field_and_a_submission_that_does_not_fit_answer_422(
    client, make_tenant
):
    tenant = await make_tenant()
    ok(
        await client.patch(
            "/api/v1/organization",
            json={"settings": {"custom_fields": {"lead": [{"key": "site_area", "type": "number"}]}}},
            headers=tenant.headers,
        )
    )
    bad = await client.post(
        "/api/v1/intake-forms",
        json={
            "name": "坏表单",
            "field_mapping": {"n": "name", "m": "mobile_phone", "a": "custom_fields.nope"},
        },
        headers=tenant.headers,
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "intake.mapping_invalid"
    assert {e["field"] for e in bad.json()["errors"]} == {
        "field_mapping.m",
        "field_mapping.a",
        "field_mapping",
    }
    form = await _form(
        client,
        tenant.headers,
        field_mapping={**MAPPING, "budget": "budget", "sqm": "custom_fields.site_area"},
    )

    refused = await client.post(
        f"/api/v1/intake/{form['key']}", data=_submission(contact_name="", budget="lots", sqm="大约")
    )
    accepted = await client.post(
        f"/api/v1/intake/{form['key']}", data=_submission(budget="250,000", sqm="1200")
    )

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "intake.fields_invalid"
    assert {e["field"] for e in refused.json()["errors"]} == {"contact_name", "budget"}
    assert accepted.status_code == 202, accepted.text
    not_a_phone = await client.post(f"/api/v1/intake/{form['key']}", data=_submission(mobile="call me"))
    assert not_a_phone.status_code == 422
    assert [(e["field"], e["code"]) for e in not_a_phone.json()["errors"]] == [("mobile", "phone.invalid")]
    [lead] = await _leads(client, tenant)
    assert (lead["budget"], lead["custom_fields"]) == ("250000.00", {"site_area": "1200"})


def _fake_captcha(server: HTTPServer, seen: list[dict]) -> str:
    def verify(request: Request) -> Response:
        seen.append(dict(request.form))
        passed = request.form.get("secret") == "captcha-secret" and request.form.get("response") == "good"
        return Response(json.dumps({"success": passed}), content_type="application/json")

    server.expect_request("/siteverify", method="POST").respond_with_handler(verify)
    return server.url_for("/siteverify")


async def test_a_captcha_form_accepts_a_token_the_provider_passes_and_refuses_others(
    client, make_tenant, httpserver: HTTPServer
):
    tenant = await make_tenant()
    seen: list[dict] = []
    url = _fake_captcha(httpserver, seen)
    form = await _form(client, tenant.headers, captcha_verify_url=url, captcha_secret="captcha-secret")
    assert form["has_captcha_secret"] is True
    assert "captcha_secret" not in form
    path = f"/api/v1/intake/{form['key']}"

    missing = await client.post(path, data=_submission())
    failed = await client.post(path, data=_submission(captcha_token="forged"))
    passed = await client.post(path, json=_submission(captcha_token="good"))

    assert [missing.status_code, failed.status_code, passed.status_code] == [403, 403, 202]
    assert failed.json()["code"] == "intake.captcha_failed"
    assert [call["response"] for call in seen] == ["forged", "good"]
    assert seen[0]["secret"] == "captcha-secret"
    assert len(await _leads(client, tenant)) == 1


async def test_a_captcha_provider_that_trickles_its_answer_is_cut_off_at_the_deadline(
    client, make_tenant, httpserver: HTTPServer, monkeypatch
):
    monkeypatch.setattr(captcha, "TIMEOUT_SECONDS", 1.0)

    def trickle(request: Request) -> Response:
        # Each byte comes well within httpx's per-read timeout; the whole answer takes 3 s.
        def body():  # type: ignore[no-untyped-def]
            for _ in range(10):
                time.sleep(0.3)
                yield b" "
            yield b'{"success": true}'

        return Response(body(), content_type="application/json")

    httpserver.expect_request("/siteverify", method="POST").respond_with_handler(trickle)
    tenant = await make_tenant()
    form = await _form(
        client, tenant.headers, captcha_verify_url=httpserver.url_for("/siteverify"), captcha_secret="s"
    )

    started = time.monotonic()
    answer = await client.post(f"/api/v1/intake/{form['key']}", json=_submission(captcha_token="good"))

    assert (answer.status_code, answer.json()["code"]) == (503, "intake.captcha_unavailable")
    assert time.monotonic() - started < 2.5
    assert await _leads(client, tenant) == []


async def test_marketing_manages_forms_and_a_rep_cannot(client, make_tenant, make_user):
    tenant = await make_tenant()
    _, marketing = await make_user(tenant, "marketing")
    _, rep = await make_user(tenant, "rep")

    form = await _form(client, bearer(marketing))
    listed = ok(await client.get("/api/v1/intake-forms", headers=bearer(marketing)))
    changed = ok(
        await client.patch(
            f"/api/v1/intake-forms/{form['id']}", json={"client_rate_limit": 10}, headers=bearer(marketing)
        )
    )
    refused = [
        (await client.get("/api/v1/intake-forms", headers=bearer(rep))).status_code,
        (await client.post("/api/v1/intake-forms", json={"name": "x"}, headers=bearer(rep))).status_code,
        (await client.post(f"/api/v1/intake-forms/{form['id']}/rotate-key", headers=bearer(rep))).status_code,
    ]

    assert form["key"].startswith("ifk_")
    assert [f["id"] for f in listed["items"]] == [form["id"]]
    assert "key" not in listed["items"][0]
    assert changed["client_rate_limit"] == 10
    assert changed["version"] == form["version"] + 1
    assert refused == [403, 403, 403]


async def test_a_forms_campaign_reaches_its_leads_and_must_be_the_organizations(client, make_tenant):
    tenant, other = await make_tenant(), await make_tenant()

    async def campaign(t) -> str:
        body = {"name": "官网投放", "channel": "online_ad"}
        return ok(await client.post("/api/v1/campaigns", json=body, headers=t.headers), 201)["id"]

    ours, theirs = await campaign(tenant), await campaign(other)
    refused = await client.post(
        "/api/v1/intake-forms",
        json={"name": "官网询价", "field_mapping": MAPPING, "campaign_id": theirs},
        headers=tenant.headers,
    )
    form = await _form(client, tenant.headers, campaign_id=ours)
    ok(await client.post(f"/api/v1/intake/{form['key']}", json=_submission(contact_name="赵敏")), 202)

    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "campaign_id"
    assert [(lead["name"], lead["campaign_id"]) for lead in await _leads(client, tenant)] == [("赵敏", ours)]
