"""Lead merge (issue 20): the duplicate's records move to the survivor and every count is kept, the
duplicate answers as an alias, and an undo within 7 days gives back exactly what moved."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from app.domain.models import Activity, Attachment, EngagementEvent, Lead, OutboxEvent, SlaTimer, Task
from app.domain.scores.engagement import EngagementType
from tests.api.helpers import bearer, ok
from tests.conftest import sign_in
from tests.factories import create_lead

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


async def _lead(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    """A lead of 王经理 at 南京长江防水: the leads of these tests are candidates to merge."""
    return await create_lead(client, headers, **{"name": "王经理", "company": "南京长江防水", **fields})


async def _with_records(
    app: Any, client: httpx.AsyncClient, headers: dict[str, str], lead: dict[str, Any]
) -> None:
    """A note, a task and an attachment through the API; an engagement event as an integrator's
    key sends it."""
    note = {"type": "note", "occurred_at": "2026-11-23T01:00:00Z", "lead_id": lead["id"], "notes": "展会留资"}
    ok(await client.post("/api/v1/activities", json=note, headers=headers), 201)
    task = {"title": "寄样品", "due_at": "2026-12-20T02:00:00Z", "lead_id": lead["id"]}
    ok(await client.post("/api/v1/tasks", json=task, headers=headers), 201)
    upload = {"parent_type": "lead", "parent_id": lead["id"]}
    ok(
        await client.post(
            "/api/v1/attachments", files={"file": ("a.png", PNG)}, data=upload, headers=headers
        ),
        201,
    )
    async with app.state.runtime.sessionmaker() as session, session.begin():
        organization_id = await session.scalar(
            select(Lead.organization_id).where(Lead.id == uuid.UUID(lead["id"]))
        )
        session.add(
            EngagementEvent(
                organization_id=organization_id,
                event_id=f"evt-{uuid.uuid4().hex}",
                type=EngagementType.email_open,
                occurred_at=datetime(2026, 11, 24, 2, tzinfo=UTC),
                weight=1.0,
                lead_id=uuid.UUID(lead["id"]),
            )
        )


async def _counts(app: Any, lead_id: str) -> dict[str, int]:
    of_lead = uuid.UUID(lead_id)
    queries = {
        "activities": select(func.count()).where(Activity.lead_id == of_lead),
        "attachments": select(func.count()).where(Attachment.parent_id == of_lead),
        "engagement_events": select(func.count()).where(EngagementEvent.lead_id == of_lead),
        "sla_timers": select(func.count()).where(SlaTimer.subject_id == of_lead),
        "tasks": select(func.count()).where(Task.lead_id == of_lead),
    }
    async with app.state.runtime.sessionmaker() as session:
        return {kind: await session.scalar(query) or 0 for kind, query in queries.items()}


async def _timer_states(client: httpx.AsyncClient, headers: dict[str, str], lead_id: str) -> list[str]:
    timers = ok(await client.get("/api/v1/sla-timers", params={"subject_id": lead_id}, headers=headers))
    return [timer["state"] for timer in timers["items"]]


async def _merge(
    client: httpx.AsyncClient, headers: dict[str, str], survivor: str, duplicate: str
) -> httpx.Response:
    return await client.post(
        f"/api/v1/leads/{survivor}/merge", json={"duplicate_id": duplicate}, headers=headers
    )


async def _undo(
    client: httpx.AsyncClient, headers: dict[str, str], survivor: str, duplicate: str
) -> httpx.Response:
    return await client.post(
        f"/api/v1/leads/{survivor}/merge/undo", json={"duplicate_id": duplicate}, headers=headers
    )


async def _scene(app: Any, client: httpx.AsyncClient, make_user: Any, tenant: Any) -> dict[str, Any]:
    """Two leads of one person, handed over by marketing (each with a running handover clock), the
    duplicate with a budget, notes, an attachment and an engagement event."""
    policy = {"name": "市场线索48小时跟进", "kind": "handover_response", "target_minutes": 48 * 60}
    ok(await client.post("/api/v1/sla-policies", json=policy, headers=tenant.headers), 201)
    _, marketing_token = await make_user(tenant, "marketing")
    survivor = await _lead(client, bearer(marketing_token), name="王经理")
    duplicate = await _lead(client, bearer(marketing_token), name="王总", budget="300000.00", region="华东")
    await _with_records(app, client, tenant.headers, survivor)
    await _with_records(app, client, tenant.headers, duplicate)
    return {"survivor": survivor, "duplicate": duplicate}


async def test_a_lead_merge_moves_every_record_keeps_every_count_and_the_undo_gives_back_exactly_those(
    app, client, make_tenant, make_user
):
    tenant = await make_tenant()
    scene = await _scene(app, client, make_user, tenant)
    survivor, duplicate, headers = scene["survivor"], scene["duplicate"], tenant.headers
    survivor_before, duplicate_before = (
        await _counts(app, survivor["id"]),
        await _counts(app, duplicate["id"]),
    )
    assert all(duplicate_before.values()), duplicate_before  # every kind is there to move
    assert await _timer_states(client, headers, duplicate["id"]) == ["running"]
    status_before = ok(await client.get(f"/api/v1/leads/{duplicate['id']}", headers=headers))["status"]

    merged = ok(await _merge(client, headers, survivor["id"], duplicate["id"]))

    assert await _counts(app, survivor["id"]) == {
        kind: survivor_before[kind] + duplicate_before[kind] for kind in survivor_before
    }
    assert await _counts(app, duplicate["id"]) == dict.fromkeys(duplicate_before, 0)
    assert {kind: merged["moved"][kind] for kind in duplicate_before} == duplicate_before
    # The duplicate's clock is closed; the survivor's runs on.
    assert sorted(await _timer_states(client, headers, survivor["id"])) == ["cancelled", "running"]
    # What the survivor lacked it takes from the duplicate; what it had it keeps.
    lead = merged["lead"]
    assert (lead["id"], lead["name"], lead["budget"], lead["region"]) == (
        survivor["id"],
        "王经理",
        "300000.00",
        "华东",
    )
    assert sorted(merged["filled"]) == ["budget", "region"]
    # The duplicate answers as an alias, leaves the list and is no duplicate candidate any more.
    alias = ok(await client.get(f"/api/v1/leads/{duplicate['id']}", headers=headers))
    assert (alias["id"], alias["merged_from"]) == (survivor["id"], duplicate["id"])
    listed = ok(await client.get("/api/v1/leads", params={"limit": 200}, headers=headers))
    assert [item["id"] for item in listed["items"]] == [survivor["id"]]
    again = await client.post(
        "/api/v1/leads", json={"name": "王总", "phone": duplicate["phone"], "source": "api"}, headers=headers
    )
    assert again.status_code == 409
    assert again.json()["existing_id"] == survivor["id"]
    audit = ok(
        await client.get(
            "/api/v1/audit-events",
            params={"action": "lead.merged", "entity_id": survivor["id"]},
            headers=headers,
        )
    )
    assert [event["after"] for event in audit["items"]] == [
        {
            "merge_id": merged["id"],
            "duplicate_id": duplicate["id"],
            "duplicate_name": duplicate["name"],
            "moved": merged["moved"],
            "filled": ["budget", "region"],
        }
    ]
    async with app.state.runtime.sessionmaker() as session:
        events = (await session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "lead.merged"))).all()
    assert [(e.payload["lead_id"], e.payload["duplicate_id"], e.payload["moved_count"]) for e in events] == [
        (survivor["id"], duplicate["id"], sum(merged["moved"].values()))
    ]

    # Added to the survivor after the merge: stays with it.
    note = {"type": "note", "occurred_at": "2026-11-23T01:30:00Z", "lead_id": survivor["id"], "notes": "回电"}
    ok(await client.post("/api/v1/activities", json=note, headers=headers), 201)
    undone = ok(await _undo(client, headers, survivor["id"], duplicate["id"]))

    assert undone["undone_at"] is not None
    assert await _counts(app, duplicate["id"]) == duplicate_before
    assert await _counts(app, survivor["id"]) == {
        **survivor_before,
        "activities": survivor_before["activities"] + 1,
    }
    assert (undone["lead"]["budget"], undone["lead"]["region"]) == (None, None)
    back = ok(await client.get(f"/api/v1/leads/{duplicate['id']}", headers=headers))
    assert (back["id"], back["merged_from"], back["status"]) == (duplicate["id"], None, status_before)
    assert await _timer_states(client, headers, duplicate["id"]) == ["running"]
    listed = ok(await client.get("/api/v1/leads", params={"limit": 200}, headers=headers))
    assert len(listed["items"]) == 2
    again = await _undo(client, headers, survivor["id"], duplicate["id"])
    assert (again.status_code, again.json()["code"], again.json()["detail"]) == (
        404,
        "lead_merge.not_found",
        f"No merge of {duplicate['id']} into this lead is waiting to be undone.",
    )


async def test_a_merge_is_refused_for_the_lead_itself_a_merged_lead_and_leads_of_two_customers(
    client, make_tenant
):
    tenant = await make_tenant()
    headers = tenant.headers
    first, second, third = [await _lead(client, headers, company=f"公司{i}") for i in range(3)]

    into_itself = await _merge(client, headers, first["id"], first["id"])
    ok(await _merge(client, headers, first["id"], second["id"]))
    merged_again = await _merge(client, headers, third["id"], second["id"])
    convert = {"customer_name": "金陵建材"}
    ok(await client.post(f"/api/v1/leads/{first['id']}/convert", json=convert, headers=headers))
    ok(
        await client.post(
            f"/api/v1/leads/{third['id']}/convert", json={"customer_name": "秦淮建材"}, headers=headers
        )
    )
    converted_apart = await _merge(client, headers, first["id"], third["id"])

    assert into_itself.status_code == 422
    assert into_itself.json()["code"] == "lead.merge_into_itself"
    assert into_itself.json()["detail"] == "A lead cannot be merged into itself."
    assert into_itself.json()["errors"][0]["message"] == "name another lead"
    assert merged_again.status_code == 409
    assert merged_again.json()["code"] == "lead.already_merged"
    assert converted_apart.status_code == 409
    assert converted_apart.json()["code"] == "lead.merge_converted_apart"
    assert "different customers" in converted_apart.json()["detail"]


async def test_only_a_supervisor_or_above_merges_leads_and_an_undo_after_seven_days_is_refused(
    client, make_tenant, make_user, clock
):
    tenant = await make_tenant()
    rep, rep_token = await make_user(tenant, "rep")
    supervisor, supervisor_token = await make_user(tenant, "supervisor")
    team = {"name": "华东一组", "supervisor_id": supervisor["id"], "member_ids": [rep["id"]]}
    ok(await client.post("/api/v1/teams", json=team, headers=tenant.headers), 201)
    _, outsider_token = await make_user(tenant, "supervisor")
    mine, other = await _lead(client, bearer(rep_token)), await _lead(client, bearer(rep_token))

    by_rep = await _merge(client, bearer(rep_token), mine["id"], other["id"])
    by_outside_supervisor = await _merge(client, bearer(outsider_token), mine["id"], other["id"])
    ok(await _merge(client, bearer(supervisor_token), mine["id"], other["id"]))
    clock.advance(days=7, minutes=1)
    late = await _undo(client, bearer(await sign_in(client, supervisor["username"])), mine["id"], other["id"])

    assert by_rep.status_code == 403
    assert by_outside_supervisor.status_code == 404
    assert late.status_code == 409
    assert late.json()["code"] == "lead.merge_undo_expired"
    assert "7 days" in late.json()["detail"]


async def test_the_survivor_given_its_merged_duplicates_phone_is_told_why_not_a_500(client, make_tenant):
    tenant = await make_tenant()
    survivor = await _lead(client, tenant.headers, email="wang@example.com")
    duplicate = await _lead(client, tenant.headers)
    ok(await _merge(client, tenant.headers, survivor["id"], duplicate["id"]))

    refused = await client.patch(
        f"/api/v1/leads/{survivor['id']}", json={"phone": duplicate["phone"]}, headers=tenant.headers
    )

    assert refused.status_code == 409
    assert refused.json()["code"] == "lead.duplicate"
    assert refused.json()["errors"][0]["field"] == "phone"
    assert "merged into this one" in refused.json()["detail"]


async def test_a_merged_duplicate_no_longer_counts_as_a_received_lead(app, client, make_tenant, make_user):
    tenant = await make_tenant()
    scene = await _scene(app, client, make_user, tenant)
    period = {"from": "2026-01-01", "to": "2027-12-31"}

    async def received() -> int:
        report = ok(await client.get("/api/v1/kpis/lead-utilization", params=period, headers=tenant.headers))
        return sum(row["received"] for row in report["rows"])

    before = await received()
    ok(await _merge(client, tenant.headers, scene["survivor"]["id"], scene["duplicate"]["id"]))
    assert await received() == before - 1
