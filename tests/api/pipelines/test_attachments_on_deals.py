"""Attachments on opportunities and activities, the stage gate that asks for "the contract", and a
converted lead's work counted in its deal's first stage (issue 19, point 14)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import bearer, ok
from tests.api.pipelines.test_pipelines import (
    PNG,
    _b2b_deal,
    _errors,
    _move,
    _to_needs_confirmed,
    _to_negotiation,
    _to_solution_demo,
)
from tests.factories import create_customer, create_opportunity

CONTRACT = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


async def _upload(
    client: httpx.AsyncClient, headers: dict[str, str], parent_type: str, parent_id: str, content: bytes = PNG
) -> httpx.Response:
    return await client.post(
        "/api/v1/attachments",
        files={"file": ("合同.pdf", content, "application/pdf")},
        data={"parent_type": parent_type, "parent_id": parent_id},
        headers=headers,
    )


async def _win(
    client: httpx.AsyncClient, headers: dict[str, str], deal_id: str, **body: Any
) -> httpx.Response:
    return await client.post(f"/api/v1/opportunities/{deal_id}/win", json=body, headers=headers)


async def test_the_contract_uploaded_to_the_deal_meets_the_won_stage_gate(client, make_tenant, clock):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)
    await _to_needs_confirmed(client, tenant.headers, deal, clock)
    await _to_solution_demo(client, tenant.headers, deal, clock)
    # Uploaded while the deal was in 方案演示: evidence of that stage, not of the next.
    ok(await _upload(client, tenant.headers, "opportunity", deal.id, PNG), 201)
    await _to_negotiation(client, tenant.headers, deal, clock)

    refused = await _win(client, tenant.headers, deal.id, note="合同已签")
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "field": "evidence[0]",
            "code": "stage.evidence_attachment",
            "message": "needs 1 attachment in this stage (uploaded to the deal or one of its activities, "
            "or sent with the change); found 0",
        }
    ]

    clock.advance(minutes=5)
    uploaded = ok(await _upload(client, tenant.headers, "opportunity", deal.id, CONTRACT), 201)
    assert (uploaded["parent_type"], uploaded["parent_id"], uploaded["content_type"]) == (
        "opportunity",
        deal.id,
        "application/pdf",
    )
    won = ok(await _win(client, tenant.headers, deal.id, note="合同已签"))
    assert (won["status"], won["stage_id"]) == ("won", deal.stage("赢单"))
    downloaded = await client.get(f"/api/v1/attachments/{uploaded['id']}", headers=tenant.headers)
    assert (downloaded.status_code, downloaded.content) == (200, CONTRACT)


async def test_a_file_uploaded_onto_a_deals_activity_joins_its_attachment_ids_and_counts(
    client, make_tenant, clock
):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)
    await _to_needs_confirmed(client, tenant.headers, deal, clock)
    await _to_solution_demo(client, tenant.headers, deal, clock)
    await _to_negotiation(client, tenant.headers, deal, clock)
    clock.advance(minutes=1)
    signing = {"type": "meeting", "occurred_at": clock.now.isoformat(), "opportunity_id": deal.id}
    activity = ok(await client.post("/api/v1/activities", json=signing, headers=tenant.headers), 201)

    uploaded = ok(await _upload(client, tenant.headers, "activity", activity["id"], CONTRACT), 201)

    reread = ok(await client.get(f"/api/v1/activities/{activity['id']}", headers=tenant.headers))
    assert reread["attachment_ids"] == [uploaded["id"]]
    assert reread["version"] == activity["version"] + 1
    assert (uploaded["parent_type"], uploaded["parent_id"]) == ("activity", activity["id"])
    assert ok(await _win(client, tenant.headers, deal.id, note="合同已签"))["status"] == "won"


async def test_a_file_sent_with_a_move_must_be_the_deals_or_its_customers(client, make_tenant, clock):
    tenant = await make_tenant()
    deal = await _b2b_deal(client, tenant.headers)
    other_customer = await create_customer(client, tenant.headers, name="钱江水泥")
    other = await create_opportunity(
        client, tenant.headers, other_customer["id"], pipeline_id=deal.pipeline["id"]
    )
    await _to_needs_confirmed(client, tenant.headers, deal, clock)
    await _to_solution_demo(client, tenant.headers, deal, clock)
    # Both uploaded in an earlier stage: they count only when sent with the change.
    on_the_deal = ok(await _upload(client, tenant.headers, "opportunity", deal.id), 201)["id"]
    on_another_deal = ok(await _upload(client, tenant.headers, "opportunity", other["id"]), 201)["id"]
    await _to_negotiation(client, tenant.headers, deal, clock)

    refused = await _win(client, tenant.headers, deal.id, attachment_ids=[on_another_deal])
    assert refused.status_code == 422
    assert refused.json()["code"] == "attachment.not_found"
    assert refused.json()["errors"] == [
        {"field": "attachment_ids", "code": "attachment.not_found", "message": on_another_deal}
    ]
    assert ok(await _win(client, tenant.headers, deal.id, attachment_ids=[on_the_deal]))["status"] == "won"


async def test_who_cannot_read_the_deal_or_activity_gets_404_on_upload_and_download(
    client, make_tenant, make_user, clock
):
    tenant = await make_tenant()
    _, owner_token = await make_user(tenant, "rep")
    _, stranger_token = await make_user(tenant, "rep")
    rep, stranger = bearer(owner_token), bearer(stranger_token)
    customer = ok(await client.post("/api/v1/customers", json={"name": "申华建材"}, headers=rep), 201)
    deal = {"name": "屋面工程", "customer_id": customer["id"]}
    deal_id = ok(await client.post("/api/v1/opportunities", json=deal, headers=rep), 201)["id"]
    visit = {"type": "note", "occurred_at": clock.now.isoformat(), "opportunity_id": deal_id, "notes": "合同"}
    activity_id = ok(await client.post("/api/v1/activities", json=visit, headers=rep), 201)["id"]

    for parent_type, parent_id in (("opportunity", deal_id), ("activity", activity_id)):
        hidden = await _upload(client, stranger, parent_type, parent_id)
        assert hidden.status_code == 404, parent_type
        assert hidden.headers["content-type"] == "application/problem+json"
        filed = ok(await _upload(client, rep, parent_type, parent_id), 201)
        assert (await client.get(f"/api/v1/attachments/{filed['id']}", headers=stranger)).status_code == 404
        assert (await client.get(f"/api/v1/attachments/{filed['id']}", headers=rep)).status_code == 200
    # The refused upload left the activity as it was: one file, the owner's.
    assert len(ok(await client.get(f"/api/v1/activities/{activity_id}", headers=rep))["attachment_ids"]) == 1


async def test_an_unknown_parent_type_is_422_naming_the_field(client, make_tenant):
    tenant = await make_tenant()
    customer = ok(
        await client.post("/api/v1/customers", json={"name": "申华建材"}, headers=tenant.headers), 201
    )

    refused = await _upload(client, tenant.headers, "quote", customer["id"])

    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["parent_type"]


# --- a converted lead's work ---------------------------------------------------------------------


async def _gated_pipeline(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    stages = [
        {"name": "接触", "kind": "open", "probability": 10},
        {
            "name": "需求",
            "kind": "open",
            "probability": 30,
            "required_evidence": [{"kind": "info_points", "min_count": 3}],
        },
        {"name": "方案", "kind": "open", "probability": 60},
        {"name": "赢单", "kind": "won", "probability": 100},
        {"name": "输单", "kind": "lost", "probability": 0},
    ]
    return ok(
        await client.post("/api/v1/pipelines", json={"name": "线索转化", "stages": stages}, headers=headers),
        201,
    )


async def _converted_deal(
    client: httpx.AsyncClient, headers: dict[str, str], clock: Any, info_points: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """A lead called with these info points, then converted with a deal on the gated pipeline;
    answers the deal and the pipeline's stage ids by name."""
    pipeline = await _gated_pipeline(client, headers)
    lead = ok(
        await client.post(
            "/api/v1/leads",
            json={"name": "王工", "company": "申华建材", "phone": "13900001111", "source": "api"},
            headers=headers,
        ),
        201,
    )
    call = {
        "type": "call",
        "occurred_at": clock.now.isoformat(),
        "lead_id": lead["id"],
        "info_points": info_points,
    }
    ok(await client.post("/api/v1/activities", json=call, headers=headers), 201)
    clock.advance(minutes=10)
    conversion = {"opportunity_name": "申华大厦屋面防水工程", "pipeline_id": pipeline["id"]}
    converted = ok(await client.post(f"/api/v1/leads/{lead['id']}/convert", json=conversion, headers=headers))
    clock.advance(minutes=10)
    return converted["opportunity"], {s["name"]: s["id"] for s in pipeline["stages"]}


async def test_the_info_points_of_a_converted_lead_meet_its_deals_first_gate_only_in_its_first_stay(
    client, make_tenant, clock
):
    tenant = await make_tenant()
    points = {"needs": "屋面防水 3000㎡", "budget": "约60万", "timeline": "明年3月开工"}
    deal, stages = await _converted_deal(client, tenant.headers, clock, points)

    moved = ok(await _move(client, tenant.headers, deal["id"], stages["需求"]))
    assert moved["stage_id"] == stages["需求"]

    clock.advance(minutes=10)
    back = await _move(client, tenant.headers, deal["id"], stages["接触"], reason="客户重新评估需求")
    assert ok(back)["stage_id"] == stages["接触"]
    clock.advance(minutes=10)
    again = await _move(client, tenant.headers, deal["id"], stages["需求"])
    assert again.status_code == 422
    assert again.json()["errors"] == [
        {
            "field": "evidence[0]",
            "code": "stage.evidence_info_points",
            "message": "needs 3 distinct info points collected in this stage; found 0; "
            "its lead's activities counted only in the deal's first stage",
        }
    ]


async def test_a_converted_deals_gate_message_says_its_leads_info_points_were_counted(
    client, make_tenant, clock
):
    tenant = await make_tenant()
    deal, stages = await _converted_deal(
        client, tenant.headers, clock, {"needs": "屋面防水", "budget": "约60万"}
    )

    refused = await _move(client, tenant.headers, deal["id"], stages["需求"])

    assert refused.status_code == 422
    assert _errors(refused) == [("evidence[0]", "stage.evidence_info_points")]
    assert refused.json()["errors"][0]["message"] == (
        "needs 3 distinct info points collected in this stage; found 2 (budget, needs); "
        "its lead's activities count too, in the deal's first stage"
    )
    # The third point learnt on the deal itself completes the lead's two.
    visit = {
        "type": "call",
        "occurred_at": clock.now.isoformat(),
        "opportunity_id": deal["id"],
        "info_points": {"timeline": "明年3月"},
    }
    ok(await client.post("/api/v1/activities", json=visit, headers=tenant.headers), 201)
    assert ok(await _move(client, tenant.headers, deal["id"], stages["需求"]))["stage_id"] == stages["需求"]
