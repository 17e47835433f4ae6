"""Pipelines, gated stage changes, stage history, action-pack tasks, win/lose/reopen, products and quotes.

Everything goes through the HTTP API and asserts what a client sees: status codes, problem+json codes
and field errors, and the fields of the records returned.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.api.helpers import bearer, ok
from tests.factories import (
    activity_body,
    create_contact,
    create_customer,
    create_opportunity,
    create_product,
    create_team,
    update_settings,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
PROJECT = "项目型销售"
B2B = "B2B 标准流程"
DEFAULT_LOSE_REASONS = ["价格过高", "选择了竞品", "项目取消", "预算不足", "联系不上"]
# Friday 2026-11-27, 16:30 in Shanghai (the organization's time zone): 90 working minutes left that week.
FRIDAY_AFTERNOON = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)


# --- helpers -------------------------------------------------------------------------------------


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _note(chars: int) -> str:
    """A note of exactly `chars` characters."""
    text = ("客户确认屋面及地下室防水需求，采购经理负责对接，预算已批。" * 20)[:chars]
    assert len(text) == chars
    return text


def _errors(response: httpx.Response) -> list[tuple[str, str]]:
    return [(e["field"], e["code"]) for e in response.json()["errors"]]


def _plain_stages(*open_names: str) -> list[dict[str, Any]]:
    """Open stages without gates, then a won and a lost stage."""
    return [
        *({"name": name, "kind": "open", "probability": 10 * (i + 1)} for i, name in enumerate(open_names)),
        {"name": "赢单", "kind": "won", "probability": 100},
        {"name": "输单", "kind": "lost", "probability": 0},
    ]


def _kept(pipeline: dict[str, Any], *, without: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The pipeline's stages as a PATCH sends them back (ids kept), leaving out the named ones."""
    keys = ("id", "name", "kind", "probability", "required_fields", "required_evidence", "actions")
    return [{k: s[k] for k in keys} for s in pipeline["stages"] if s["name"] not in without]


def _stage_id(pipeline: dict[str, Any], name: str) -> str:
    return next(s["id"] for s in pipeline["stages"] if s["name"] == name)


async def _pipelines(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    listed = ok(await client.get("/api/v1/pipelines", headers=headers))
    return {p["name"]: p for p in listed["items"]}


async def _plain_pipeline(
    client: httpx.AsyncClient, headers: dict[str, str], *open_names: str, **fields: Any
) -> dict[str, Any]:
    body = {
        "name": "直销流程",
        "stages": _plain_stages(*(open_names or ("线索", "拜访", "方案", "谈判"))),
        **fields,
    }
    return ok(await client.post("/api/v1/pipelines", json=body, headers=headers), 201)


async def _move(
    client: httpx.AsyncClient, headers: dict[str, str], opportunity_id: str, to_stage_id: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/opportunities/{opportunity_id}/stage-changes",
        json={"to_stage_id": to_stage_id, **body},
        headers=headers,
    )


async def _activity(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    opportunity_id: str,
    type_: str,
    now: datetime,
    **fields: Any,
) -> httpx.Response:
    body = activity_body(now, type=type_, opportunity_id=opportunity_id, **fields)
    return await client.post("/api/v1/activities", json=body, headers=headers)


async def _attachment(client: httpx.AsyncClient, headers: dict[str, str], customer_id: str) -> str:
    uploaded = await client.post(
        "/api/v1/attachments",
        files={"file": ("contract.png", PNG, "image/png")},
        data={"parent_type": "customer", "parent_id": customer_id},
        headers=headers,
    )
    return str(ok(uploaded, 201)["id"])


async def _history(
    client: httpx.AsyncClient, headers: dict[str, str], opportunity_id: str
) -> list[dict[str, Any]]:
    return ok(await client.get(f"/api/v1/opportunities/{opportunity_id}/stage-history", headers=headers))[
        "items"
    ]


async def _get_opportunity(
    client: httpx.AsyncClient, headers: dict[str, str], opportunity_id: str
) -> dict[str, Any]:
    return ok(await client.get(f"/api/v1/opportunities/{opportunity_id}", headers=headers))


@dataclass
class Deal:
    """An opportunity on the organization's B2B pipeline, with a customer that has a contact."""

    pipeline: dict[str, Any]
    customer: dict[str, Any]
    contact: dict[str, Any]
    opportunity: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.opportunity["id"])

    def stage(self, name: str) -> str:
        return _stage_id(self.pipeline, name)


async def _b2b_deal(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> Deal:
    pipeline = (await _pipelines(client, headers))[B2B]
    customer = await create_customer(client, headers)
    contact = await create_contact(client, headers, customer["id"])
    opportunity = await create_opportunity(
        client, headers, customer["id"], pipeline_id=pipeline["id"], **fields
    )
    return Deal(pipeline, customer, contact, opportunity)


async def _to_needs_confirmed(
    client: httpx.AsyncClient, headers: dict[str, str], deal: Deal, clock: Any
) -> None:
    clock.advance(minutes=1)
    moved = await _move(
        client,
        headers,
        deal.id,
        deal.stage("需求确认"),
        note=_note(30),
        fields={"contact_id": deal.contact["id"]},
    )
    ok(moved)


async def _to_solution_demo(
    client: httpx.AsyncClient, headers: dict[str, str], deal: Deal, clock: Any
) -> None:
    clock.advance(minutes=1)
    points = {"needs": "屋面防水 3000㎡", "budget": "约60万", "timeline": "明年3月开工"}
    ok(await _activity(client, headers, deal.id, "meeting", clock.now, info_points=points), 201)
    clock.advance(minutes=1)
    ok(await _move(client, headers, deal.id, deal.stage("方案演示"), fields={"product_lines": ["防水材料"]}))


def _negotiation_fields() -> dict[str, Any]:
    return {"amount": "860000.00", "expected_close_date": "2027-01-15"}


async def _to_negotiation(client: httpx.AsyncClient, headers: dict[str, str], deal: Deal, clock: Any) -> None:
    clock.advance(minutes=1)
    ok(await _activity(client, headers, deal.id, "demo", clock.now), 201)
    clock.advance(minutes=1)
    ok(await _move(client, headers, deal.id, deal.stage("报价谈判"), fields=_negotiation_fields()))


async def _quote(
    client: httpx.AsyncClient, headers: dict[str, str], opportunity_id: str, *lines: tuple[str, str, str]
) -> httpx.Response:
    body = {
        "opportunity_id": opportunity_id,
        "lines": [{"product_id": p, "unit_price": price, "quantity": qty} for p, price, qty in lines],
    }
    return await client.post("/api/v1/quotes", json=body, headers=headers)


@dataclass
class SpreadCase:
    """Rep A quoted a customer 100 for a product, then rep B (in a supervisor's team) quoted 129."""

    rep_a: dict[str, Any]
    rep_a_token: str
    supervisor_token: str
    product: dict[str, Any]
    first: dict[str, Any]
    second: dict[str, Any]


async def _two_reps_quote_one_customer(client: httpx.AsyncClient, tenant: Any, make_user: Any) -> SpreadCase:
    rep_a, token_a = await make_user(tenant, "rep")
    rep_b, token_b = await make_user(tenant, "rep")
    supervisor, supervisor_token = await make_user(tenant, "supervisor")
    await create_team(client, tenant.headers, supervisor, [rep_b])
    pipeline_id = (await _pipelines(client, tenant.headers))[PROJECT]["id"]
    customer = await create_customer(client, tenant.headers, name="申华建材")
    deal_a = await create_opportunity(
        client, tenant.headers, customer["id"], pipeline_id=pipeline_id, owner_id=rep_a["id"]
    )
    deal_b = await create_opportunity(
        client, tenant.headers, customer["id"], pipeline_id=pipeline_id, owner_id=rep_b["id"]
    )
    product = await create_product(client, tenant.headers, list_price="120.0000")
    first = ok(await _quote(client, bearer(token_a), deal_a["id"], (product["id"], "100", "10")), 201)
    second = ok(await _quote(client, bearer(token_b), deal_b["id"], (product["id"], "129", "10")), 201)
    return SpreadCase(rep_a, token_a, supervisor_token, product, first, second)


# --- templates -----------------------------------------------------------------------------------


async def test_a_new_organization_lists_both_template_pipelines_with_project_sales_as_default(
    client, make_tenant
):
    tenant = await make_tenant()
    pipelines = await _pipelines(client, tenant.headers)

    assert {name: p["is_default"] for name, p in pipelines.items()} == {PROJECT: True, B2B: False}
    assert [
        (s["name"], s["kind"], s["probability"], s["position"]) for s in pipelines[PROJECT]["stages"]
    ] == [
        ("初步接触", "open", 10, 0),
        ("需求诊断", "open", 25, 1),
        ("方案呈现", "open", 50, 2),
        ("异议处理", "open", 70, 3),
        ("签约交付", "won", 100, 4),
        ("输单", "lost", 0, 5),
    ]
    assert [(s["name"], s["kind"], s["probability"], s["position"]) for s in pipelines[B2B]["stages"]] == [
        ("触达", "open", 10, 0),
        ("需求确认", "open", 20, 1),
        ("方案演示", "open", 40, 2),
        ("报价谈判", "open", 70, 3),
        ("赢单", "won", 100, 4),
        ("输单", "lost", 0, 5),
    ]
    needs = pipelines[B2B]["stages"][1]
    assert needs["required_fields"] == ["contact_id"]
    assert needs["required_evidence"] == [{"kind": "notes", "min_chars": 30}]
    assert pipelines[B2B]["stages"][3]["actions"] == [
        {"title": "发送案例资料", "due_after_business_hours": 48},
        {"title": "满意度回访", "due_after_business_hours": 72},
    ]
    assert pipelines[B2B]["lose_reasons"] == DEFAULT_LOSE_REASONS

    customer = await create_customer(client, tenant.headers)
    without_pipeline = ok(
        await client.post(
            "/api/v1/opportunities",
            json={"name": "默认流程商机", "customer_id": customer["id"]},
            headers=tenant.headers,
        ),
        201,
    )
    assert without_pipeline["pipeline_id"] == pipelines[PROJECT]["id"]
    assert without_pipeline["stage_id"] == _stage_id(pipelines[PROJECT], "初步接触")
    assert without_pipeline["status"] == "open"


async def test_a_rep_reads_pipelines_but_cannot_create_one(client, make_tenant, make_user):
    tenant = await make_tenant()
    _, rep_token = await make_user(tenant, "rep")
    assert set(await _pipelines(client, bearer(rep_token))) == {PROJECT, B2B}
    attempt = await client.post(
        "/api/v1/pipelines",
        json={"name": "自建流程", "stages": _plain_stages("线索")},
        headers=bearer(rep_token),
    )
    assert attempt.status_code == 403


async def test_making_another_pipeline_the_default_moves_the_flag(client, make_tenant):
    tenant = await make_tenant()
    b2b = (await _pipelines(client, tenant.headers))[B2B]

    patched = await client.patch(
        f"/api/v1/pipelines/{b2b['id']}", json={"is_default": True}, headers=tenant.headers
    )

    assert ok(patched)["is_default"] is True
    pipelines = await _pipelines(client, tenant.headers)
    assert {name: p["is_default"] for name, p in pipelines.items()} == {PROJECT: False, B2B: True}
    customer = await create_customer(client, tenant.headers)
    created = await client.post(
        "/api/v1/opportunities",
        json={"name": "新默认", "customer_id": customer["id"]},
        headers=tenant.headers,
    )
    assert ok(created, 201)["pipeline_id"] == b2b["id"]


# --- gates ---------------------------------------------------------------------------------------


async def test_a_move_missing_a_required_field_and_evidence_lists_both_at_once(client, make_tenant):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)

    refused = await _move(client, tenant.headers, deal.id, deal.stage("需求确认"))

    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "opportunity.gate_unmet"
    assert _errors(refused) == [
        ("contact_id", "stage.field_missing"),
        ("evidence[0]", "stage.evidence_notes"),
    ]
    assert refused.json()["errors"][1]["message"] == (
        "needs a note of at least 30 characters in this stage; the longest has 0"
    )


async def test_a_note_one_character_short_fails_only_the_notes_evidence_and_changes_nothing(
    client, make_tenant
):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)

    short = await _move(
        client,
        tenant.headers,
        deal.id,
        deal.stage("需求确认"),
        note=_note(29),
        fields={"contact_id": deal.contact["id"]},
    )

    assert short.status_code == 422
    assert _errors(short) == [("evidence[0]", "stage.evidence_notes")]
    assert "the longest has 29" in short.json()["errors"][0]["message"]
    unchanged = await _get_opportunity(client, tenant.headers, deal.id)
    assert unchanged["stage_id"] == deal.stage("触达")
    assert unchanged["contact_id"] is None  # the fields sent with a refused move are not kept


async def test_a_move_with_the_contact_and_a_long_enough_note_enters_the_stage(client, make_tenant, clock):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)
    clock.advance(minutes=5)

    moved = await _move(
        client,
        tenant.headers,
        deal.id,
        deal.stage("需求确认"),
        note=_note(30),
        fields={"contact_id": deal.contact["id"]},
    )

    body = ok(moved)
    assert body["stage_id"] == deal.stage("需求确认")
    assert body["contact_id"] == deal.contact["id"]
    assert _at(body["stage_entered_at"]) == clock.now
    assert body["status"] == "open"


async def test_notes_written_on_an_activity_in_the_stage_meet_the_notes_gate(client, make_tenant, clock):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)
    clock.advance(minutes=1)
    short_call = await _activity(client, tenant.headers, deal.id, "call", clock.now, notes=_note(12))
    ok(short_call, 201)
    still_short = await _move(
        client, tenant.headers, deal.id, deal.stage("需求确认"), fields={"contact_id": deal.contact["id"]}
    )
    assert _errors(still_short) == [("evidence[0]", "stage.evidence_notes")]

    ok(await _activity(client, tenant.headers, deal.id, "call", clock.now, notes=_note(40)), 201)
    moved = await _move(
        client, tenant.headers, deal.id, deal.stage("需求确认"), fields={"contact_id": deal.contact["id"]}
    )
    assert ok(moved)["stage_id"] == deal.stage("需求确认")


async def test_info_points_evidence_counts_distinct_points_gathered_in_the_stage(client, make_tenant, clock):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)
    await _to_needs_confirmed(client, tenant.headers, deal, clock)
    clock.advance(minutes=1)
    two_points = {"needs": "屋面防水", "budget": "约60万"}
    ok(await _activity(client, tenant.headers, deal.id, "call", clock.now, info_points=two_points), 201)
    target = deal.stage("方案演示")

    refused = await _move(client, tenant.headers, deal.id, target, fields={"product_lines": ["防水材料"]})

    assert refused.status_code == 422
    assert refused.json()["code"] == "opportunity.gate_unmet"
    assert refused.json()["errors"] == [
        {
            "field": "evidence[0]",
            "code": "stage.evidence_info_points",
            "message": "needs 3 distinct info points collected in this stage; found 2 (budget, needs)",
        }
    ]
    # The same point twice is still one point; a new one makes three.
    again = {"budget": "60万以内", "timeline": "明年3月"}
    ok(await _activity(client, tenant.headers, deal.id, "call", clock.now, info_points=again), 201)
    moved = await _move(client, tenant.headers, deal.id, target, fields={"product_lines": ["防水材料"]})
    assert ok(moved)["stage_id"] == target


async def test_activity_evidence_needs_an_activity_of_the_named_type(client, make_tenant, clock):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)
    await _to_needs_confirmed(client, tenant.headers, deal, clock)
    await _to_solution_demo(client, tenant.headers, deal, clock)
    clock.advance(minutes=1)
    ok(await _activity(client, tenant.headers, deal.id, "call", clock.now), 201)
    target = deal.stage("报价谈判")

    refused = await _move(client, tenant.headers, deal.id, target, fields=_negotiation_fields())

    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "field": "evidence[0]",
            "code": "stage.evidence_activity",
            "message": "needs 1 activity of type demo in this stage; found 0",
        }
    ]
    ok(await _activity(client, tenant.headers, deal.id, "demo", clock.now), 201)
    assert (
        ok(await _move(client, tenant.headers, deal.id, target, fields=_negotiation_fields()))["stage_id"]
        == target
    )


async def test_evidence_gathered_before_entering_the_current_stage_does_not_count(client, make_tenant, clock):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)
    await _to_needs_confirmed(client, tenant.headers, deal, clock)
    clock.advance(minutes=1)
    ok(await _activity(client, tenant.headers, deal.id, "demo", clock.now), 201)  # too early: in 需求确认
    await _to_solution_demo(client, tenant.headers, deal, clock)

    refused = await _move(
        client, tenant.headers, deal.id, deal.stage("报价谈判"), fields=_negotiation_fields()
    )

    assert refused.status_code == 422
    assert _errors(refused) == [("evidence[0]", "stage.evidence_activity")]


async def test_an_unknown_attachment_on_a_move_answers_422_naming_it(client, make_tenant):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)
    missing = "00000000-0000-4000-8000-000000000001"

    refused = await _move(
        client,
        tenant.headers,
        deal.id,
        deal.stage("需求确认"),
        note=_note(30),
        fields={"contact_id": deal.contact["id"]},
        attachment_ids=[missing],
    )

    assert refused.status_code == 422
    assert refused.json()["code"] == "attachment.not_found"
    assert refused.json()["errors"] == [
        {"field": "attachment_ids", "code": "attachment.not_found", "message": missing}
    ]


async def test_a_stage_of_another_pipeline_or_a_contact_of_another_customer_answers_422(client, make_tenant):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)
    project = (await _pipelines(client, tenant.headers))[PROJECT]

    foreign_stage = await _move(client, tenant.headers, deal.id, _stage_id(project, "需求诊断"))
    assert foreign_stage.status_code == 422
    assert foreign_stage.json()["code"] == "opportunity.stage_invalid"
    assert _errors(foreign_stage) == [("to_stage_id", "not_found")]

    stranger = await create_contact(
        client, tenant.headers, (await create_customer(client, tenant.headers, name="别家公司"))["id"]
    )
    foreign_contact = await _move(
        client,
        tenant.headers,
        deal.id,
        deal.stage("需求确认"),
        note=_note(30),
        fields={"contact_id": stranger["id"]},
    )
    assert foreign_contact.status_code == 422
    assert foreign_contact.json()["code"] == "opportunity.invalid"
    assert _errors(foreign_contact) == [("contact_id", "not_found")]


# --- stage history -------------------------------------------------------------------------------


async def test_stage_history_has_a_row_per_stay_with_the_exact_dwell_of_each_left_stay(
    client, make_tenant, clock
):
    tenant = await make_tenant()
    pipeline = await _plain_pipeline(client, tenant.headers)
    customer = await create_customer(client, tenant.headers)
    started = clock.now
    opportunity = await create_opportunity(client, tenant.headers, customer["id"], pipeline_id=pipeline["id"])
    clock.advance(hours=2, minutes=30, seconds=15)
    first_move = clock.now
    ok(await _move(client, tenant.headers, opportunity["id"], _stage_id(pipeline, "拜访")))
    clock.advance(hours=3, minutes=7, seconds=9)
    second_move = clock.now
    ok(await _move(client, tenant.headers, opportunity["id"], _stage_id(pipeline, "方案")))

    stays = await _history(client, tenant.headers, opportunity["id"])

    assert [s["stage_id"] for s in stays] == [_stage_id(pipeline, n) for n in ("线索", "拜访", "方案")]
    assert [s["move"] for s in stays] == [None, "forward", "forward"]
    assert [s["is_abnormal"] for s in stays] == [False, False, False]
    assert [_at(s["entered_at"]) for s in stays] == [started, first_move, second_move]
    assert [s["left_at"] and _at(s["left_at"]) for s in stays] == [first_move, second_move, None]
    assert [s["dwell_seconds"] for s in stays] == [2 * 3600 + 30 * 60 + 15, 3 * 3600 + 7 * 60 + 9, None]
    assert {s["entered_by_id"] for s in stays} == {str(tenant.admin_id)}


async def test_moving_to_the_stage_the_opportunity_is_in_answers_409(client, make_tenant):
    tenant = await make_tenant()
    pipeline = await _plain_pipeline(client, tenant.headers)
    customer = await create_customer(client, tenant.headers)
    opportunity = await create_opportunity(client, tenant.headers, customer["id"], pipeline_id=pipeline["id"])

    same = await _move(client, tenant.headers, opportunity["id"], _stage_id(pipeline, "线索"))

    assert same.status_code == 409
    assert same.json()["code"] == "opportunity.same_stage"
    assert len(await _history(client, tenant.headers, opportunity["id"])) == 1


# --- abnormal moves ------------------------------------------------------------------------------


async def test_a_rep_skipping_a_stage_is_refused_with_403_even_with_a_reason(client, make_tenant, make_user):
    tenant = await make_tenant()
    _, rep_token = await make_user(tenant, "rep")
    rep = bearer(rep_token)
    pipeline = await _plain_pipeline(client, tenant.headers)
    customer = await create_customer(client, rep)
    opportunity = await create_opportunity(client, rep, customer["id"], pipeline_id=pipeline["id"])

    for body in ({}, {"reason": "客户直接要方案"}):
        skipped = await _move(client, rep, opportunity["id"], _stage_id(pipeline, "方案"), **body)
        assert skipped.status_code == 403
        assert skipped.json()["code"] == "opportunity.move_not_allowed"
    assert (await _get_opportunity(client, rep, opportunity["id"]))["stage_id"] == _stage_id(pipeline, "线索")
    assert len(await _history(client, rep, opportunity["id"])) == 1


async def test_a_supervisor_skip_needs_a_reason_and_is_recorded_as_an_abnormal_skip(
    client, make_tenant, make_user, clock
):
    tenant = await make_tenant()
    rep, rep_token = await make_user(tenant, "rep")
    supervisor, supervisor_token = await make_user(tenant, "supervisor")
    await create_team(client, tenant.headers, supervisor, [rep])
    pipeline = await _plain_pipeline(client, tenant.headers)
    customer = await create_customer(client, bearer(rep_token))
    opportunity = await create_opportunity(
        client, bearer(rep_token), customer["id"], pipeline_id=pipeline["id"]
    )
    target = _stage_id(pipeline, "谈判")
    clock.advance(minutes=10)

    no_reason = await _move(client, bearer(supervisor_token), opportunity["id"], target)
    assert no_reason.status_code == 422
    assert no_reason.json()["code"] == "opportunity.reason_required"
    assert _errors(no_reason) == [("reason", "missing")]

    skipped = await _move(
        client, bearer(supervisor_token), opportunity["id"], target, reason="客户已内定，直接谈判"
    )
    assert ok(skipped)["stage_id"] == target
    stays = await _history(client, bearer(rep_token), opportunity["id"])
    assert len(stays) == 2
    assert stays[-1]["stage_id"] == target
    assert stays[-1]["move"] == "skip"
    assert stays[-1]["is_abnormal"] is True
    assert stays[-1]["reason"] == "客户已内定，直接谈判"
    assert stays[-1]["entered_by_id"] == supervisor["id"]


async def test_moving_back_needs_a_supervisor_and_is_recorded_as_an_abnormal_backward_move(
    client, make_tenant, make_user, clock
):
    tenant = await make_tenant()
    rep, rep_token = await make_user(tenant, "rep")
    supervisor, supervisor_token = await make_user(tenant, "supervisor")
    await create_team(client, tenant.headers, supervisor, [rep])
    pipeline = await _plain_pipeline(client, tenant.headers)
    customer = await create_customer(client, bearer(rep_token))
    opportunity = await create_opportunity(
        client, bearer(rep_token), customer["id"], pipeline_id=pipeline["id"]
    )
    clock.advance(minutes=10)
    ok(await _move(client, bearer(rep_token), opportunity["id"], _stage_id(pipeline, "拜访")))
    back = _stage_id(pipeline, "线索")
    clock.advance(minutes=10)

    by_rep = await _move(client, bearer(rep_token), opportunity["id"], back, reason="客户换了对接人")
    assert by_rep.status_code == 403
    assert by_rep.json()["code"] == "opportunity.move_not_allowed"
    without_reason = await _move(client, bearer(supervisor_token), opportunity["id"], back, reason="  ")
    assert without_reason.status_code == 422
    moved = await _move(client, bearer(supervisor_token), opportunity["id"], back, reason="客户换了对接人")

    assert ok(moved)["stage_id"] == back
    stays = await _history(client, bearer(rep_token), opportunity["id"])
    assert [(s["move"], s["is_abnormal"]) for s in stays] == [
        (None, False),
        ("forward", False),
        ("backward", True),
    ]
    assert stays[-1]["reason"] == "客户换了对接人"
    assert stays[1]["dwell_seconds"] == 600


# --- ordering rules ------------------------------------------------------------------------------


async def test_the_default_b2b_pipeline_flags_a_quote_sent_before_any_demo(client, make_tenant, clock):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)

    sent = await _activity(client, tenant.headers, deal.id, "quote_sent", clock.now)

    assert sent.status_code == 201, sent.text
    assert deal.pipeline["ordering_rules"] == [{"first": "demo", "then": "quote_sent", "mode": "flag"}]
    assert sent.json()["warnings"] == ["quote_sent before any demo"]


async def test_a_reject_ordering_rule_refuses_a_quote_sent_before_a_demo_and_accepts_it_after(
    client, make_tenant, clock
):
    tenant = await make_tenant()
    rule = {"first": "demo", "then": "quote_sent", "mode": "reject"}
    pipeline = await _plain_pipeline(client, tenant.headers, ordering_rules=[rule])
    assert pipeline["ordering_rules"] == [rule]
    customer = await create_customer(client, tenant.headers)
    opportunity = await create_opportunity(client, tenant.headers, customer["id"], pipeline_id=pipeline["id"])

    early = await _activity(client, tenant.headers, opportunity["id"], "quote_sent", clock.now)
    assert early.status_code == 422
    assert early.json()["code"] == "activity.out_of_order"
    assert early.json()["errors"] == [
        {"field": "type", "code": "out_of_order", "message": "quote_sent before any demo"}
    ]

    demo = await _activity(client, tenant.headers, opportunity["id"], "demo", clock.now)
    assert ok(demo, 201)["warnings"] == []
    clock.advance(minutes=1)
    after = await _activity(client, tenant.headers, opportunity["id"], "quote_sent", clock.now)
    assert ok(after, 201)["warnings"] == []


async def test_patching_a_pipeline_to_reject_applies_to_its_open_opportunities(client, make_tenant, clock):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)
    rule = {"first": "demo", "then": "quote_sent", "mode": "reject"}
    patched = await client.patch(
        f"/api/v1/pipelines/{deal.pipeline['id']}", json={"ordering_rules": [rule]}, headers=tenant.headers
    )
    assert ok(patched)["ordering_rules"] == [rule]

    refused = await _activity(client, tenant.headers, deal.id, "quote_sent", clock.now)
    assert refused.status_code == 422
    assert refused.json()["code"] == "activity.out_of_order"
    call = await _activity(client, tenant.headers, deal.id, "call", clock.now)
    assert ok(call, 201)["warnings"] == []


async def test_invalid_ordering_rules_answer_422_naming_each_problem(client, make_tenant):
    tenant = await make_tenant()
    pipeline = (await _pipelines(client, tenant.headers))[B2B]
    rules = [
        {"first": "demo", "then": "demo"},
        {"first": "dinner", "then": "quote_sent", "mode": "block"},
    ]

    refused = await client.patch(
        f"/api/v1/pipelines/{pipeline['id']}", json={"ordering_rules": rules}, headers=tenant.headers
    )

    assert refused.status_code == 422
    assert refused.json()["code"] == "request.invalid"
    assert set(_errors(refused)) == {
        ("ordering_rules[0].then", "value.invalid"),
        ("ordering_rules[1].first", "activity_type.unknown"),
        ("ordering_rules[1].mode", "mode.unknown"),
    }
    assert (await _pipelines(client, tenant.headers))[B2B]["ordering_rules"] == pipeline["ordering_rules"]


# --- action packs and tasks ----------------------------------------------------------------------


async def test_entering_quote_negotiation_gives_the_owner_tasks_due_in_business_hours(
    client, make_tenant, make_user, clock
):
    clock.now = FRIDAY_AFTERNOON - timedelta(hours=7)  # Friday 09:30 in Shanghai
    tenant = await make_tenant()
    await update_settings(
        client,
        tenant.headers,
        settings={"working_hours": {"start": "09:00", "end": "18:00", "weekdays": [1, 2, 3, 4, 5]}},
    )
    rep, rep_token = await make_user(tenant, "rep")
    deal = await _b2b_deal(client, tenant.headers, owner_id=rep["id"])
    await _to_needs_confirmed(client, tenant.headers, deal, clock)
    await _to_solution_demo(client, tenant.headers, deal, clock)
    clock.now = FRIDAY_AFTERNOON - timedelta(hours=1)
    ok(await _activity(client, tenant.headers, deal.id, "demo", clock.now), 201)
    clock.now = FRIDAY_AFTERNOON
    ok(await _move(client, tenant.headers, deal.id, deal.stage("报价谈判"), fields=_negotiation_fields()))

    listed = ok(
        await client.get("/api/v1/tasks", params={"opportunity_id": deal.id}, headers=bearer(rep_token))
    )

    tasks = listed["items"]
    # 48 working hours from Fri 16:30: 1.5 h on Friday, then 5 full days, then 1.5 h into Monday Dec 7.
    # 72 working hours: 1.5 h + 7 full days (63 h) + 7.5 h into Wednesday Dec 9.
    assert [(t["title"], _at(t["due_at"])) for t in tasks] == [
        ("发送案例资料", datetime(2026, 12, 7, 2, 30, tzinfo=UTC)),  # Mon 10:30 Shanghai
        ("满意度回访", datetime(2026, 12, 9, 8, 30, tzinfo=UTC)),  # Wed 16:30 Shanghai
    ]
    assert {t["assignee_id"] for t in tasks} == {rep["id"]}
    assert {t["stage_id"] for t in tasks} == {deal.stage("报价谈判")}
    assert {t["customer_id"] for t in tasks} == {deal.customer["id"]}
    assert {t["status"] for t in tasks} == {"open"}


async def test_an_action_task_completes_once_and_a_second_completion_answers_409(client, make_tenant, clock):
    tenant = await make_tenant()
    stages = _plain_stages("线索", "方案")
    stages[1]["actions"] = [{"title": "发送方案", "due_after_business_hours": 4}]
    pipeline = ok(
        await client.post(
            "/api/v1/pipelines", json={"name": "带任务流程", "stages": stages}, headers=tenant.headers
        ),
        201,
    )
    customer = await create_customer(client, tenant.headers)
    opportunity = await create_opportunity(client, tenant.headers, customer["id"], pipeline_id=pipeline["id"])
    ok(await _move(client, tenant.headers, opportunity["id"], _stage_id(pipeline, "方案")))
    tasks = ok(
        await client.get(
            "/api/v1/tasks", params={"opportunity_id": opportunity["id"]}, headers=tenant.headers
        )
    )["items"]
    assert [t["title"] for t in tasks] == ["发送方案"]
    # Monday 10:00 in Shanghai plus four working hours.
    assert _at(tasks[0]["due_at"]) == clock.now + timedelta(hours=4)
    clock.advance(hours=1)

    done = await client.post(f"/api/v1/tasks/{tasks[0]['id']}/complete", json={}, headers=tenant.headers)
    again = await client.post(f"/api/v1/tasks/{tasks[0]['id']}/complete", json={}, headers=tenant.headers)

    assert ok(done)["status"] == "done"
    assert _at(done.json()["completed_at"]) == clock.now
    assert again.status_code == 409
    assert again.json()["code"] == "task.closed"


# --- win, lose, reopen ---------------------------------------------------------------------------


async def test_winning_a_b2b_deal_needs_the_won_stage_attachment_then_closes_it_as_won(
    client, make_tenant, clock
):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)
    await _to_needs_confirmed(client, tenant.headers, deal, clock)
    await _to_solution_demo(client, tenant.headers, deal, clock)
    await _to_negotiation(client, tenant.headers, deal, clock)
    url = f"/api/v1/opportunities/{deal.id}/win"

    refused = await client.post(url, json={"note": "合同已签"}, headers=tenant.headers)
    assert refused.status_code == 422
    assert refused.json()["code"] == "opportunity.gate_unmet"
    assert refused.json()["errors"] == [
        {
            "field": "evidence[0]",
            "code": "stage.evidence_attachment",
            "message": "needs 1 attachment in this stage (uploaded to the deal or one of its activities, "
            "or sent with the change); found 0",
        }
    ]
    assert (await _get_opportunity(client, tenant.headers, deal.id))["status"] == "open"

    other_customer = await create_customer(client, tenant.headers, name="另一家客户")
    someone_elses = await _attachment(client, tenant.headers, other_customer["id"])
    wrong_file = await client.post(
        url, json={"note": "合同已签", "attachment_ids": [someone_elses]}, headers=tenant.headers
    )
    assert wrong_file.status_code == 422
    assert wrong_file.json()["code"] == "attachment.not_found"

    contract = await _attachment(client, tenant.headers, deal.customer["id"])
    clock.advance(minutes=30)
    won = ok(
        await client.post(
            url, json={"note": "合同已签", "attachment_ids": [contract]}, headers=tenant.headers
        )
    )

    assert won["status"] == "won"
    assert won["amount"] == "860000.00"
    assert won["stage_id"] == deal.stage("赢单")
    assert _at(won["closed_at"]) == clock.now
    assert won["lose_reason"] is None
    stays = await _history(client, tenant.headers, deal.id)
    assert (stays[-1]["stage_id"], stays[-1]["move"], stays[-1]["left_at"]) == (
        deal.stage("赢单"),
        "close",
        None,
    )


async def test_winning_lists_every_unmet_requirement_of_the_won_stage(client, make_tenant):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)

    refused = await client.post(f"/api/v1/opportunities/{deal.id}/win", json={}, headers=tenant.headers)

    assert refused.status_code == 422
    assert _errors(refused) == [
        ("amount", "stage.field_missing"),
        ("expected_close_date", "stage.field_missing"),
        ("evidence[0]", "stage.evidence_attachment"),
    ]


async def test_losing_needs_a_reason_from_the_pipelines_list(client, make_tenant, clock):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)
    url = f"/api/v1/opportunities/{deal.id}/lose"

    missing = await client.post(url, json={}, headers=tenant.headers)
    assert missing.status_code == 422
    assert missing.json()["code"] == "request.invalid"
    assert [e["field"] for e in missing.json()["errors"]] == ["reason"]
    blank = await client.post(url, json={"reason": "   "}, headers=tenant.headers)
    assert blank.status_code == 422
    unlisted = await client.post(
        url, json={"reason": "客户搬迁", "note": "客户整体搬迁到外地，项目不再推进"}, headers=tenant.headers
    )
    assert unlisted.status_code == 422
    assert unlisted.json()["code"] == "opportunity.lose_reason_required"
    assert unlisted.json()["errors"] == [
        {"field": "reason", "code": "invalid", "message": "one of: " + ", ".join(DEFAULT_LOSE_REASONS)}
    ]
    assert (await _get_opportunity(client, tenant.headers, deal.id))["status"] == "open"

    clock.advance(minutes=5)
    lost = ok(
        await client.post(
            url, json={"reason": "价格过高", "note": "对方报价低于我方15%"}, headers=tenant.headers
        )
    )
    assert lost["status"] == "lost"
    assert lost["lose_reason"] == "价格过高"
    assert lost["stage_id"] == deal.stage("输单")
    assert _at(lost["closed_at"]) == clock.now


async def test_a_listed_reason_alone_is_too_short_for_the_b2b_lost_stage_notes_gate(client, make_tenant):
    """The B2B lost stage asks for 10 characters of notes; the reason counts towards them."""
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)

    refused = await client.post(
        f"/api/v1/opportunities/{deal.id}/lose", json={"reason": "价格过高"}, headers=tenant.headers
    )

    assert refused.status_code == 422
    assert refused.json()["code"] == "opportunity.gate_unmet"
    assert _errors(refused) == [("evidence[0]", "stage.evidence_notes")]


async def test_a_pipeline_without_lose_reasons_accepts_any_reason(client, make_tenant):
    tenant = await make_tenant()
    pipeline = await _plain_pipeline(client, tenant.headers, lose_reasons=[])
    assert pipeline["lose_reasons"] == []
    customer = await create_customer(client, tenant.headers)
    opportunity = await create_opportunity(client, tenant.headers, customer["id"], pipeline_id=pipeline["id"])

    lost = await client.post(
        f"/api/v1/opportunities/{opportunity['id']}/lose", json={"reason": "客户搬迁"}, headers=tenant.headers
    )

    assert ok(lost)["lose_reason"] == "客户搬迁"


async def test_reopening_returns_to_the_last_open_stage_as_an_abnormal_backward_move(
    client, make_tenant, clock
):
    tenant = await make_tenant()
    pipeline = await _plain_pipeline(client, tenant.headers)
    customer = await create_customer(client, tenant.headers)
    opportunity = await create_opportunity(client, tenant.headers, customer["id"], pipeline_id=pipeline["id"])
    url = f"/api/v1/opportunities/{opportunity['id']}"
    clock.advance(minutes=5)
    ok(await _move(client, tenant.headers, opportunity["id"], _stage_id(pipeline, "拜访")))
    clock.advance(minutes=5)
    ok(await client.post(f"{url}/lose", json={"reason": "预算不足"}, headers=tenant.headers))
    clock.advance(minutes=5)

    reopened = ok(
        await client.post(f"{url}/reopen", json={"reason": "客户重新启动招标"}, headers=tenant.headers)
    )

    assert reopened["status"] == "open"
    assert reopened["stage_id"] == _stage_id(pipeline, "拜访")
    assert reopened["closed_at"] is None
    assert reopened["lose_reason"] is None
    stays = await _history(client, tenant.headers, opportunity["id"])
    assert [s["stage_id"] for s in stays] == [
        _stage_id(pipeline, n) for n in ("线索", "拜访", "输单", "拜访")
    ]
    assert (stays[-1]["move"], stays[-1]["is_abnormal"], stays[-1]["reason"]) == (
        "backward",
        True,
        "客户重新启动招标",
    )
    assert stays[2]["dwell_seconds"] == 300
    again = await client.post(f"{url}/reopen", json={"reason": "再次打开"}, headers=tenant.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "opportunity.open"


async def test_a_closed_opportunity_cannot_change_stage_until_reopened(client, make_tenant):
    tenant = await make_tenant()
    pipeline = await _plain_pipeline(client, tenant.headers)
    customer = await create_customer(client, tenant.headers)
    opportunity = await create_opportunity(client, tenant.headers, customer["id"], pipeline_id=pipeline["id"])
    ok(
        await client.post(
            f"/api/v1/opportunities/{opportunity['id']}/lose",
            json={"reason": "预算不足"},
            headers=tenant.headers,
        )
    )

    moved = await _move(client, tenant.headers, opportunity["id"], _stage_id(pipeline, "拜访"))

    assert moved.status_code == 409
    assert moved.json()["code"] == "opportunity.closed"


# --- pipeline edits with live opportunities ------------------------------------------------------


async def test_leaving_out_a_stage_that_holds_an_open_opportunity_answers_409_and_changes_nothing(
    client, make_tenant
):
    tenant = await make_tenant()
    pipeline = await _plain_pipeline(client, tenant.headers)
    customer = await create_customer(client, tenant.headers)
    await create_opportunity(client, tenant.headers, customer["id"], pipeline_id=pipeline["id"])
    url = f"/api/v1/pipelines/{pipeline['id']}"

    refused = await client.patch(
        url, json={"name": "改名的流程", "stages": _kept(pipeline, without=("线索",))}, headers=tenant.headers
    )

    assert refused.status_code == 409
    assert refused.json()["code"] == "pipeline.stage_in_use"
    assert _errors(refused) == [("stages", "in_use")]
    assert refused.json()["errors"][0]["message"].startswith("线索: 1 open opportunities")
    after = ok(await client.get(url, headers=tenant.headers))
    assert after["name"] == "直销流程"
    assert after["version"] == pipeline["version"]
    assert [(s["id"], s["name"]) for s in after["stages"]] == [
        (s["id"], s["name"]) for s in pipeline["stages"]
    ]


async def test_renaming_a_stage_by_its_id_keeps_the_opportunities_in_it(client, make_tenant):
    tenant = await make_tenant()
    pipeline = await _plain_pipeline(client, tenant.headers)
    customer = await create_customer(client, tenant.headers)
    opportunity = await create_opportunity(client, tenant.headers, customer["id"], pipeline_id=pipeline["id"])
    stages = _kept(pipeline)
    stages[0]["name"] = "初次接洽"
    stages[0]["probability"] = 5

    renamed = ok(
        await client.patch(
            f"/api/v1/pipelines/{pipeline['id']}", json={"stages": stages}, headers=tenant.headers
        )
    )

    first = renamed["stages"][0]
    assert (first["id"], first["name"], first["probability"]) == (stages[0]["id"], "初次接洽", 5)
    assert (await _get_opportunity(client, tenant.headers, opportunity["id"]))["stage_id"] == first["id"]
    in_stage = ok(
        await client.get("/api/v1/opportunities", params={"stage_id": first["id"]}, headers=tenant.headers)
    )
    assert [o["id"] for o in in_stage["items"]] == [opportunity["id"]]
    moved = await _move(client, tenant.headers, opportunity["id"], _stage_id(pipeline, "拜访"))
    assert ok(moved)["stage_id"] == _stage_id(pipeline, "拜访")


async def test_removing_an_empty_stage_archives_it_and_its_history_rows_still_read(
    client, make_tenant, clock
):
    tenant = await make_tenant()
    pipeline = await _plain_pipeline(client, tenant.headers)
    customer = await create_customer(client, tenant.headers)
    opportunity = await create_opportunity(client, tenant.headers, customer["id"], pipeline_id=pipeline["id"])
    first = _stage_id(pipeline, "线索")
    clock.advance(minutes=20)
    ok(await _move(client, tenant.headers, opportunity["id"], _stage_id(pipeline, "拜访")))

    patched = ok(
        await client.patch(
            f"/api/v1/pipelines/{pipeline['id']}",
            json={"stages": _kept(pipeline, without=("线索",))},
            headers=tenant.headers,
        )
    )

    assert [s["name"] for s in patched["stages"]] == ["拜访", "方案", "谈判", "赢单", "输单"]
    assert [s["position"] for s in patched["stages"]] == [0, 1, 2, 3, 4]
    fetched = ok(await client.get(f"/api/v1/pipelines/{pipeline['id']}", headers=tenant.headers))
    assert first not in [s["id"] for s in fetched["stages"]]
    stays = await _history(client, tenant.headers, opportunity["id"])
    assert [(s["stage_id"], s["dwell_seconds"]) for s in stays] == [
        (first, 1200),
        (_stage_id(pipeline, "拜访"), None),
    ]
    back = await _move(client, tenant.headers, opportunity["id"], first, reason="回到线索")
    assert back.status_code == 422
    assert back.json()["code"] == "opportunity.stage_invalid"


async def test_an_invalid_stage_list_answers_422_listing_every_problem(client, make_tenant):
    tenant = await make_tenant()
    stages = [
        {
            "name": "线索",
            "kind": "open",
            "probability": 10,
            "required_evidence": [{"kind": "notes", "min_chars": 5}],
        },
        {"name": "赢单", "kind": "won", "probability": 90},
        {"name": "线索", "kind": "open", "probability": 150, "required_fields": ["budget"]},
    ]

    created = await client.post(
        "/api/v1/pipelines", json={"name": "坏流程", "stages": stages}, headers=tenant.headers
    )

    assert created.status_code == 422
    assert created.json()["code"] == "request.invalid"
    assert set(_errors(created)) == {
        ("stages[0].required_evidence", "evidence.first_stage"),
        ("stages[1].probability", "probability.mismatch"),
        ("stages[2].probability", "value.out_of_range"),
        ("stages[2].required_fields[0]", "field.unknown"),
        ("stages[2].name", "name.duplicate"),
        ("stages[2].kind", "stages.order"),
        ("stages", "stages.lost_missing"),
    }
    assert "坏流程" not in await _pipelines(client, tenant.headers)


async def test_a_pipeline_s_schema_and_gate_mistakes_come_in_one_422(client, make_tenant):
    """A stage probability that is no number (the schema's) and an unknown required field, an
    unknown kind of evidence and an unknown activity type in the ordering rules (the pipeline's
    rules) are listed together; a stage whose own field the schema refused is not judged twice."""
    tenant = await make_tenant()
    stages = [
        {"name": "线索", "kind": "open", "probability": 10},
        {"name": "方案", "kind": "open", "probability": "high", "required_fields": ["budget"]},
        {"name": "谈判", "kind": "open", "probability": 60, "required_evidence": [{"kind": "photo"}]},
        {"name": "赢单", "kind": "won", "probability": 100},
        {"name": "输单", "kind": "lost", "probability": 0},
    ]
    body = {"name": "坏流程", "stages": stages, "ordering_rules": [{"first": "demo", "then": "fax"}]}

    created = await client.post("/api/v1/pipelines", json=body, headers=tenant.headers)

    assert created.status_code == 422
    assert created.json()["code"] == "request.invalid"
    assert set(_errors(created)) == {
        ("stages[1].probability", "value.invalid"),
        ("stages[1].required_fields[0]", "field.unknown"),
        ("stages[2].required_evidence[0].kind", "kind.unknown"),
        ("ordering_rules[0].then", "activity_type.unknown"),
    }
    assert "坏流程" not in await _pipelines(client, tenant.headers)


async def test_patching_an_invalid_stage_list_answers_422_and_keeps_the_stages(client, make_tenant):
    tenant = await make_tenant()
    pipeline = (await _pipelines(client, tenant.headers))[B2B]
    stages = _kept(pipeline, without=("赢单",))
    stages[0]["id"] = "00000000-0000-4000-8000-000000000002"
    stages[1]["required_evidence"] = [{"kind": "photo", "min_count": 1}]

    refused = await client.patch(
        f"/api/v1/pipelines/{pipeline['id']}", json={"stages": stages}, headers=tenant.headers
    )

    assert refused.status_code == 422
    assert refused.json()["code"] == "request.invalid"
    assert set(_errors(refused)) == {
        ("stages[1].required_evidence[0].kind", "kind.unknown"),
        ("stages", "stages.won_missing"),
    }
    assert (await _pipelines(client, tenant.headers))[B2B]["stages"] == pipeline["stages"]

    unknown_id = _kept(pipeline)
    unknown_id[0]["id"] = "00000000-0000-4000-8000-000000000002"
    refused = await client.patch(
        f"/api/v1/pipelines/{pipeline['id']}", json={"stages": unknown_id}, headers=tenant.headers
    )
    assert refused.status_code == 422
    assert _errors(refused) == [("stages[0].id", "not_found")]


async def test_sending_the_same_stage_id_twice_answers_422(client, make_tenant):
    tenant = await make_tenant()
    pipeline = await _plain_pipeline(client, tenant.headers)
    stages = _kept(pipeline)
    stages[1] = {**stages[1], "id": stages[0]["id"], "name": "复制的线索"}

    refused = await client.patch(
        f"/api/v1/pipelines/{pipeline['id']}", json={"stages": stages}, headers=tenant.headers
    )

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "pipeline.invalid"
    assert [field for field, _ in _errors(refused)] == ["stages[1].id"]


async def test_turning_a_stage_that_holds_a_deal_into_a_lost_stage_answers_409(client, make_tenant):
    tenant = await make_tenant()
    pipeline = await _plain_pipeline(client, tenant.headers)
    customer = await create_customer(client, tenant.headers)
    opportunity = await create_opportunity(client, tenant.headers, customer["id"], pipeline_id=pipeline["id"])
    ok(await _move(client, tenant.headers, opportunity["id"], _stage_id(pipeline, "拜访")))
    stages = _kept(pipeline)
    visit = stages.pop(1)
    stages.append({**visit, "kind": "lost", "probability": 0})  # open stages first, then the closed ones

    refused = await client.patch(
        f"/api/v1/pipelines/{pipeline['id']}", json={"stages": stages}, headers=tenant.headers
    )

    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "pipeline.stage_in_use"
    assert _errors(refused) == [("stages", "in_use")]
    assert refused.json()["errors"][0]["message"].startswith("拜访: 1 opportunities")
    after = ok(await client.get(f"/api/v1/pipelines/{pipeline['id']}", headers=tenant.headers))
    assert [(s["name"], s["kind"]) for s in after["stages"]][:2] == [("线索", "open"), ("拜访", "open")]


# --- concurrency ---------------------------------------------------------------------------------


async def test_two_concurrent_moves_from_the_same_stage_give_one_success_and_one_open_stay(
    client, make_tenant, clock
):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)
    clock.advance(minutes=1)
    body = {"note": _note(30), "fields": {"contact_id": deal.contact["id"]}}

    answers = await asyncio.gather(
        *(_move(client, tenant.headers, deal.id, deal.stage("需求确认"), **body) for _ in range(2))
    )

    statuses = sorted(a.status_code for a in answers)
    assert statuses[0] == 200, [a.text for a in answers]
    assert statuses[1] in (409, 422), [a.text for a in answers]
    loser = next(a for a in answers if a.status_code != 200)
    assert loser.json()["code"] in {"opportunity.moved", "opportunity.same_stage", "conflict.constraint"}
    stays = await _history(client, tenant.headers, deal.id)
    assert len(stays) == 2
    assert [s["left_at"] is None for s in stays] == [False, True]
    assert stays[-1]["stage_id"] == deal.stage("需求确认")


# --- products and quotes -------------------------------------------------------------------------


async def test_a_duplicate_sku_answers_409_within_the_organization_only(client, make_tenant):
    tenant = await make_tenant()
    body = {"sku": "FS-SBS-4MM", "name": "SBS改性沥青防水卷材 4mm", "list_price": "42.5"}
    created = ok(await client.post("/api/v1/products", json=body, headers=tenant.headers), 201)
    assert (created["sku"], created["list_price"], created["is_active"]) == ("FS-SBS-4MM", "42.5000", True)

    duplicate = await client.post("/api/v1/products", json={**body, "name": "另一个"}, headers=tenant.headers)

    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "product.sku_taken"
    assert _errors(duplicate) == [("sku", "unique")]
    other = await make_tenant("Other Materials")
    assert (await client.post("/api/v1/products", json=body, headers=other.headers)).status_code == 201


async def test_quote_totals_are_exact_decimals_rounded_half_up_to_the_fen(client, make_tenant):
    tenant = await make_tenant()
    customer = await create_customer(client, tenant.headers)
    opportunity = await create_opportunity(
        client,
        tenant.headers,
        customer["id"],
        pipeline_id=(await _pipelines(client, tenant.headers))[PROJECT]["id"],
    )
    membrane = await create_product(client, tenant.headers, list_price="25.0000")
    primer = await create_product(client, tenant.headers, list_price="0.1000")
    sealant = await create_product(client, tenant.headers, list_price="3.0000")

    created = await _quote(
        client,
        tenant.headers,
        opportunity["id"],
        (membrane["id"], "19.99", "3.333"),  # 66.62667 -> 66.63; list 83.325 -> 83.33
        (primer["id"], "0.1", "3"),  # 0.30 exactly, where floats give 0.30000000000000004
        (sealant["id"], "2.675", "1"),  # 2.68 half-up, where round(2.675, 2) gives 2.67
    )

    quote = ok(created, 201)
    expected_lines = [
        {
            "list_price": "25.0000",
            "unit_price": "19.9900",
            "quantity": "3.333",
            "discount": "0.2004",
            "amount": "66.63",
        },
        {
            "list_price": "0.1000",
            "unit_price": "0.1000",
            "quantity": "3.000",
            "discount": "0.0000",
            "amount": "0.30",
        },
        {
            "list_price": "3.0000",
            "unit_price": "2.6750",
            "quantity": "1.000",
            "discount": "0.1083",
            "amount": "2.68",
        },
    ]
    keys = ("list_price", "unit_price", "quantity", "discount", "amount")
    assert [{k: line[k] for k in keys} for line in quote["lines"]] == expected_lines
    assert (quote["total"], quote["list_total"], quote["discount_total"]) == ("69.61", "86.63", "17.02")
    assert quote["status"] == "draft"
    assert quote["price_alerts"] == []
    fetched = ok(await client.get(f"/api/v1/quotes/{quote['id']}", headers=tenant.headers))
    assert [{k: line[k] for k in keys} for line in fetched["lines"]] == expected_lines
    assert (fetched["total"], fetched["list_total"], fetched["discount_total"]) == ("69.61", "86.63", "17.02")


async def test_replacing_a_drafts_lines_is_audited_with_the_old_and_new_prices(client, make_tenant):
    tenant = await make_tenant()
    customer = await create_customer(client, tenant.headers)
    opportunity = await create_opportunity(
        client,
        tenant.headers,
        customer["id"],
        pipeline_id=(await _pipelines(client, tenant.headers))[PROJECT]["id"],
    )
    membrane = await create_product(client, tenant.headers, list_price="25.0000")
    created = await _quote(client, tenant.headers, opportunity["id"], (membrane["id"], "19.99", "3.333"))
    quote = ok(created, 201)

    replaced = await client.put(
        f"/api/v1/quotes/{quote['id']}/lines",
        json={"lines": [{"product_id": membrane["id"], "unit_price": "18.50", "quantity": "3.333"}]},
        headers={**tenant.headers, "If-Match": created.headers["ETag"]},
    )

    assert ok(replaced)["total"] == "61.66"  # 18.5 x 3.333 = 61.6605
    trail = ok(
        await client.get(
            "/api/v1/audit-events",
            params={"entity_type": "quote", "entity_id": quote["id"], "action": "quote.prices_changed"},
            headers=tenant.headers,
        )
    )["items"]
    assert len(trail) == 1
    assert trail[0]["before"] == {
        "lines": [{"product_id": membrane["id"], "unit_price": "19.9900", "quantity": "3.333"}]
    }
    assert trail[0]["after"] == {
        "lines": [{"product_id": membrane["id"], "unit_price": "18.5000", "quantity": "3.333"}],
        "total": "61.66",
    }
    assert trail[0]["actor_id"] == str(tenant.admin_id)


async def test_a_sent_quote_cannot_change_its_lines_and_leaves_a_quote_sent_activity(
    client, make_tenant, clock
):
    tenant = await make_tenant()
    customer = await create_customer(client, tenant.headers)
    opportunity = await create_opportunity(
        client,
        tenant.headers,
        customer["id"],
        pipeline_id=(await _pipelines(client, tenant.headers))[PROJECT]["id"],
    )
    membrane = await create_product(client, tenant.headers, list_price="25.0000")
    quote = ok(
        await _quote(client, tenant.headers, opportunity["id"], (membrane["id"], "19.99", "3.333")), 201
    )
    clock.advance(minutes=3)

    sent = ok(
        await client.post(
            f"/api/v1/quotes/{quote['id']}/status", json={"status": "sent"}, headers=tenant.headers
        )
    )
    assert sent["status"] == "sent"
    assert _at(sent["sent_at"]) == clock.now
    locked = await client.put(
        f"/api/v1/quotes/{quote['id']}/lines",
        json={"lines": [{"product_id": membrane["id"], "unit_price": "1.00", "quantity": "1"}]},
        headers=tenant.headers,
    )

    assert locked.status_code == 409
    assert locked.json()["code"] == "quote.not_editable"
    assert ok(await client.get(f"/api/v1/quotes/{quote['id']}", headers=tenant.headers))["total"] == "66.63"
    activities = ok(
        await client.get(
            "/api/v1/activities",
            params={"customer_id": customer["id"], "type": "quote_sent"},
            headers=tenant.headers,
        )
    )["items"]
    assert [(a["opportunity_id"], a["notes"]) for a in activities] == [(opportunity["id"], "报价 66.63 CNY")]
    assert _at(activities[0]["occurred_at"]) == clock.now


async def test_a_price_far_from_another_reps_recent_quote_carries_a_price_alert(
    client, make_tenant, make_user
):
    tenant = await make_tenant()
    await update_settings(client, tenant.headers, settings={"price_spread_limit": "0.25"})

    case = await _two_reps_quote_one_customer(client, tenant, make_user)

    assert case.first["price_alerts"] == []
    assert case.second["price_alerts"] == [
        {
            "product_id": case.product["id"],
            "unit_price": "129.0000",
            "peer_quote_id": case.first["id"],
            "peer_rep_id": case.rep_a["id"],
            "peer_unit_price": "100.0000",
            "spread": "0.2900",
            "limit": "0.2500",
        }
    ]


async def test_a_spread_within_the_limit_carries_no_alert(client, make_tenant, make_user):
    tenant = await make_tenant()
    await update_settings(client, tenant.headers, settings={"price_spread_limit": "0.30"})

    case = await _two_reps_quote_one_customer(client, tenant, make_user)

    assert case.second["price_alerts"] == []


async def test_a_price_spread_alert_reaches_the_reps_supervisor_only(client, app, make_tenant, make_user):
    tenant = await make_tenant()

    case = await _two_reps_quote_one_customer(client, tenant, make_user)
    await app.state.runtime.queue.drain()

    inbox = ok(await client.get("/api/v1/notifications", headers=bearer(case.supervisor_token)))["items"]
    alerts = [n for n in inbox if n["topic"] == "quote.price_spread"]
    assert len(alerts) == 1
    assert alerts[0]["data"]["quote_id"] == case.second["id"]
    assert alerts[0]["title"] == "报价价差预警：申华建材"
    assert "29%" in alerts[0]["body"]
    peer_inbox = ok(await client.get("/api/v1/notifications", headers=bearer(case.rep_a_token)))["items"]
    assert "quote.price_spread" not in [n["topic"] for n in peer_inbox]


# --- visibility ----------------------------------------------------------------------------------


async def test_a_rep_cannot_see_another_reps_opportunity_but_their_supervisor_can(
    client, make_tenant, make_user
):
    tenant = await make_tenant()
    owner, owner_token = await make_user(tenant, "rep")
    _, other_token = await make_user(tenant, "rep")
    supervisor, supervisor_token = await make_user(tenant, "supervisor")
    _, outsider_supervisor_token = await make_user(tenant, "supervisor")
    await create_team(client, tenant.headers, supervisor, [owner])
    pipeline = (await _pipelines(client, tenant.headers))[B2B]
    customer = await create_customer(client, bearer(owner_token))
    opportunity = await create_opportunity(
        client, bearer(owner_token), customer["id"], pipeline_id=pipeline["id"]
    )
    url = f"/api/v1/opportunities/{opportunity['id']}"

    for token in (other_token, outsider_supervisor_token):
        assert (await client.get(url, headers=bearer(token))).status_code == 404
        assert (await client.get(f"{url}/stage-history", headers=bearer(token))).status_code == 404
        listed = ok(await client.get("/api/v1/opportunities", headers=bearer(token)))
        assert listed["items"] == []
    moved = await _move(client, bearer(other_token), opportunity["id"], _stage_id(pipeline, "需求确认"))
    assert moved.status_code == 404

    assert ok(await client.get(url, headers=bearer(supervisor_token)))["owner_id"] == owner["id"]
    team_view = ok(await client.get("/api/v1/opportunities", headers=bearer(supervisor_token)))
    assert [o["id"] for o in team_view["items"]] == [opportunity["id"]]
    assert supervisor["id"] != owner["id"]
