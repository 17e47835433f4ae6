"""Tasks on every record (issue 20 point 6) through the API, with a controllable clock: a task on a
lead, customer or opportunity for an assignee in another team, links of one customer only, who sees
it, the list filters and the red flag; its due and overdue reminders go out once each."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from app.domain.models import OutboxEvent
from app.services.activities import task_reminders
from app.services.platform.unit_of_work import session_scope
from app.workers.jobs import remind_tasks
from tests.api.helpers import bearer, ok
from tests.conftest import sign_in
from tests.factories import create_customer, create_lead, create_opportunity, create_team

TASKS = "/api/v1/tasks"


async def _as(client: httpx.AsyncClient, user: dict[str, Any]) -> dict[str, str]:
    """Signed in now: tokens are issued on the test clock, which the tests move."""
    return bearer(await sign_in(client, str(user["username"])))


async def _admin(client: httpx.AsyncClient, tenant: Any) -> dict[str, str]:
    tenant.token = await sign_in(client, tenant.admin_username)
    return tenant.headers


async def _converted(client: httpx.AsyncClient, headers: dict[str, str], company: str) -> tuple[str, str]:
    lead_id = (await create_lead(client, headers, company=company))["id"]
    converted = ok(await client.post(f"/api/v1/leads/{lead_id}/convert", json={}, headers=headers))
    return lead_id, str(converted["customer"]["id"])


async def _ids(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> set[str]:
    return {t["id"] for t in ok(await client.get(TASKS, params=params, headers=headers))["items"]}


async def test_a_supervisor_gives_the_technical_department_a_task_on_a_customer_and_who_sees_it(
    client, make_tenant, make_user, clock
):
    tenant = await make_tenant()
    rep, _ = await make_user(tenant, "rep")
    supervisor, _ = await make_user(tenant, "supervisor")
    engineer, _ = await make_user(tenant, "rep", display_name="技术部 张工")
    bystander, _ = await make_user(tenant, "rep")
    marketing, _ = await make_user(tenant, "marketing")
    admin = await _admin(client, tenant)
    await create_team(client, admin, supervisor, [rep])  # the engineer is in none of the supervisor's teams
    customer_id = (await create_customer(client, admin, name="申华建设", owner_id=rep["id"]))["id"]

    body = {
        "title": "技术部现场勘查",
        "due_at": (clock.now + timedelta(hours=24)).isoformat(),
        "customer_id": customer_id,
        "assignee_id": engineer["id"],
    }
    created = ok(await client.post(TASKS, json=body, headers=await _as(client, supervisor)), 201)

    assert (created["assignee_id"], created["created_by_id"]) == (engineer["id"], supervisor["id"])
    assert (created["customer_id"], created["lead_id"], created["opportunity_id"]) == (
        customer_id,
        None,
        None,
    )
    assert (created["status"], created["overdue"]) == ("open", False)
    # The assignee, who asked for it and whoever sees the customer see it; nobody else does.
    for viewer in (engineer, supervisor, rep):
        headers = await _as(client, viewer)
        assert await _ids(client, headers) == {created["id"]}, viewer["role"]
        ok(await client.get(f"{TASKS}/{created['id']}", headers=headers))
    outsider = await _as(client, bystander)
    assert await _ids(client, outsider) == set()
    assert (await client.get(f"{TASKS}/{created['id']}", headers=outsider)).status_code == 404
    # The engineer does the work and closes it.
    done = ok(
        await client.post(f"{TASKS}/{created['id']}/complete", json={}, headers=await _as(client, engineer))
    )
    assert done["status"] == "done"

    # A rep's tasks are their own; an assignee must be someone who works tasks.
    by_rep = await client.post(TASKS, json=body, headers=await _as(client, rep))
    assert by_rep.status_code == 403, by_rep.text
    to_marketing = await client.post(
        TASKS, json={**body, "assignee_id": marketing["id"]}, headers=await _as(client, supervisor)
    )
    assert to_marketing.status_code == 422, to_marketing.text
    assert [e["field"] for e in to_marketing.json()["errors"]] == ["assignee_id"]


async def test_a_task_links_records_of_one_customer_and_at_least_one(client, make_tenant, clock):
    tenant = await make_tenant()
    headers = tenant.headers
    lead_a, customer_a = await _converted(client, headers, "甲方建设")
    _, customer_b = await _converted(client, headers, "乙方贸易")
    deal_a = (await create_opportunity(client, headers, customer_a, name="甲方屋面"))["id"]
    due = (clock.now + timedelta(hours=4)).isoformat()

    async def create(**links: str) -> httpx.Response:
        return await client.post(TASKS, json={"title": "回访", "due_at": due, **links}, headers=headers)

    for links, fields in (
        ({"lead_id": lead_a, "customer_id": customer_b}, ["lead_id"]),
        ({"opportunity_id": deal_a, "customer_id": customer_b}, ["opportunity_id"]),
        (
            {"lead_id": (await create_lead(client, headers, company="丙方"))["id"], "opportunity_id": deal_a},
            ["opportunity_id"],
        ),
    ):
        refused = await create(**links)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "task.inconsistent_links"
        assert [e["field"] for e in refused.json()["errors"]] == fields
    unlinked = await create()
    assert unlinked.status_code == 422, unlinked.text
    assert [e["field"] for e in unlinked.json()["errors"]] == ["lead_id"]
    assert await _ids(client, headers) == set()  # nothing half-written

    task = ok(await create(lead_id=lead_a, opportunity_id=deal_a), 201)
    # The customer comes from the lead it was converted into (and the deal).
    assert (task["lead_id"], task["customer_id"], task["opportunity_id"]) == (lead_a, customer_a, deal_a)
    on_lead = ok(await create(lead_id=(await create_lead(client, headers, company="丁方"))["id"]), 201)
    assert (on_lead["customer_id"], on_lead["opportunity_id"]) == (None, None)


async def test_filters_and_the_red_flag_follow_the_organizations_overdue_setting(
    client, make_tenant, make_user, clock
):
    tenant = await make_tenant()
    engineer, _ = await make_user(tenant, "rep")
    headers = await _admin(client, tenant)
    lead_id = (await create_lead(client, headers, company="戊方"))["id"]
    customer_a = (await create_customer(client, headers, name="甲方"))["id"]
    customer_b = (await create_customer(client, headers, name="乙方"))["id"]
    deal = (await create_opportunity(client, headers, customer_a, name="甲方二期"))["id"]
    start = clock.now

    async def task(due_in: timedelta, **fields: str) -> str:
        body = {"title": "回访", "due_at": (start + due_in).isoformat(), **fields}
        return str(ok(await client.post(TASKS, json=body, headers=headers), 201)["id"])

    on_lead = await task(timedelta(hours=1), lead_id=lead_id)
    on_a = await task(timedelta(hours=2), customer_id=customer_a, assignee_id=engineer["id"])
    on_b = await task(timedelta(hours=3), customer_id=customer_b)
    on_deal = await task(timedelta(hours=10), opportunity_id=deal)

    assert await _ids(client, headers, lead_id=lead_id) == {on_lead}
    assert await _ids(client, headers, customer_id=[customer_a, customer_b]) == {on_a, on_b, on_deal}
    assert await _ids(client, headers, opportunity_id=deal) == {on_deal}
    assert await _ids(client, headers, assignee_id=engineer["id"]) == {on_a}
    assert await _ids(client, headers, overdue="true") == set()

    ok(
        await client.patch(
            "/api/v1/organization",
            json={"settings": {"tasks": {"overdue_after_minutes": 30}}},
            headers=headers,
        )
    )
    clock.now = start + timedelta(hours=2, minutes=30)  # the lead's and customer A's tasks are 30 min late
    headers = await _admin(client, tenant)
    ok(await client.post(f"{TASKS}/{on_lead}/complete", json={}, headers=headers))  # done: never overdue

    assert await _ids(client, headers, overdue="true") == {on_a}
    assert await _ids(client, headers, overdue="false") == {on_lead, on_b, on_deal}
    assert await _ids(client, headers, overdue="true", status="open") == {on_a}
    assert await _ids(client, headers, status=["done", "cancelled"]) == {on_lead}
    flags = {t["id"]: t["overdue"] for t in ok(await client.get(TASKS, headers=headers))["items"]}
    assert flags == {on_lead: False, on_a: True, on_b: False, on_deal: False}
    assert ok(await client.get(f"{TASKS}/{on_a}", headers=headers))["overdue"] is True

    refused = await client.patch(
        "/api/v1/organization", json={"settings": {"tasks": {"overdue_after_minutes": -5}}}, headers=headers
    )
    assert refused.status_code == 422, refused.text
    assert "settings.tasks.overdue_after_minutes" in [e["field"] for e in refused.json()["errors"]]


# --- reminders -------------------------------------------------------------------------------------


def _context(app: Any) -> dict[str, Any]:
    runtime = app.state.runtime
    return {"sessionmaker": runtime.sessionmaker, "queue": runtime.queue, "clock": runtime.clock}


async def _remind(app: Any) -> int:
    reminded = await remind_tasks(_context(app))
    await app.state.runtime.queue.drain()
    return reminded


async def _inbox(client: httpx.AsyncClient, user: dict[str, Any]) -> list[str]:
    """The user's task notifications, newest first."""
    inbox = ok(await client.get("/api/v1/notifications", headers=await _as(client, user)))
    return [n["topic"] for n in inbox["items"] if n["topic"].startswith("task.")]


async def test_due_and_overdue_reminders_go_out_once_each_to_the_assignee_and_on_overdue_to_the_managers(
    client, app, make_tenant, make_user, clock
):
    tenant = await make_tenant()
    engineer, _ = await make_user(tenant, "rep")
    supervisor, _ = await make_user(tenant, "supervisor")
    director, _ = await make_user(tenant, "director")
    headers = await _admin(client, tenant)
    await create_team(client, headers, supervisor, [engineer])
    customer_id = (await create_customer(client, headers, name="申华建设"))["id"]
    start = clock.now
    body = {"title": "现场勘查", "customer_id": customer_id, "assignee_id": engineer["id"]}
    task = ok(
        await client.post(
            TASKS,
            json={**body, "due_at": (start + timedelta(hours=24)).isoformat()},
            headers=await _as(client, director),
        ),
        201,
    )
    done = ok(
        await client.post(
            TASKS, json={**body, "due_at": (start + timedelta(hours=1)).isoformat()}, headers=headers
        ),
        201,
    )
    ok(await client.post(f"{TASKS}/{done['id']}/complete", json={}, headers=headers))

    assert await _remind(app) == 0
    clock.now = start + timedelta(hours=24)
    assert await _remind(app) == 1
    assert await _remind(app) == 0  # again: nothing new
    assert await _inbox(client, engineer) == ["task.due"]
    assert await _inbox(client, supervisor) == []

    clock.now = start + timedelta(hours=24, minutes=59)
    assert await _remind(app) == 0
    clock.now = start + timedelta(hours=25)  # the default hour's grace is over
    assert await _remind(app) == 1
    assert await _remind(app) == 0
    assert await _inbox(client, engineer) == ["task.overdue", "task.due"]
    assert await _inbox(client, supervisor) == ["task.overdue"]
    assert await _inbox(client, director) == ["task.overdue"]  # who asked for it
    assert (
        ok(await client.get(f"{TASKS}/{task['id']}", headers=await _as(client, engineer)))["overdue"] is True
    )

    # A new due time is a new promise: reminded again, once; the done task never was.
    moved = (start + timedelta(hours=48)).isoformat()
    ok(
        await client.patch(
            f"{TASKS}/{task['id']}", json={"due_at": moved}, headers=await _admin(client, tenant)
        )
    )
    clock.now = start + timedelta(hours=48)
    assert await _remind(app) == 1
    assert await _remind(app) == 0
    assert await _inbox(client, engineer) == ["task.due", "task.overdue", "task.due"]
    async with app.state.runtime.sessionmaker() as session:
        payloads = (
            await session.scalars(select(OutboxEvent.payload).where(OutboxEvent.topic.like("task.%")))
        ).all()
    assert {p["task_id"] for p in payloads} == {task["id"]}
    assert payloads[0]["record_name"] == "申华建设"
    assert payloads[0]["assignee_name"] == engineer["display_name"]


async def test_a_reminder_shows_the_due_time_as_the_organizations_clock_does(
    client, app, make_tenant, make_user, clock
):
    """Issue 19, point 12: an in-app notification reads `11月24日 10:00` (Shanghai), not the stored
    UTC instant in ISO 8601."""
    tenant = await make_tenant()
    engineer, _ = await make_user(tenant, "rep")
    headers = await _admin(client, tenant)
    customer_id = (await create_customer(client, headers, name="申华建设"))["id"]
    due = clock.now + timedelta(hours=24)  # 2026-11-24 02:00 UTC, 10:00 in Shanghai
    body = {"title": "现场勘查", "customer_id": customer_id, "assignee_id": engineer["id"]}
    ok(await client.post(TASKS, json={**body, "due_at": due.isoformat()}, headers=headers), 201)
    clock.now = due
    assert await _remind(app) == 1

    inbox = ok(await client.get("/api/v1/notifications", headers=await _as(client, engineer)))["items"]
    [reminder] = [n for n in inbox if n["topic"] == "task.due"]
    assert "于 11月24日 10:00 到期" in reminder["body"], reminder["body"]
    assert "2026-11-24" not in reminder["body"] + reminder["title"]


async def test_a_task_found_past_its_grace_gets_the_overdue_reminder_only(
    client, app, make_tenant, make_user, clock
):
    tenant = await make_tenant()
    engineer, _ = await make_user(tenant, "rep")
    headers = await _admin(client, tenant)
    customer_id = (await create_customer(client, headers, name="甲方"))["id"]
    due = clock.now + timedelta(minutes=10)
    body = {
        "title": "回访",
        "customer_id": customer_id,
        "assignee_id": engineer["id"],
        "due_at": due.isoformat(),
    }
    for _ in range(3):
        ok(await client.post(TASKS, json=body, headers=headers), 201)

    clock.now = due + timedelta(hours=3)  # the worker was down
    runtime = app.state.runtime
    runs = []
    while not runs or runs[-1] != (0, 0):
        # A batch of one: the tasks still waiting for their overdue reminder are not told "due".
        async with session_scope(runtime.sessionmaker, runtime.queue) as session:
            run = await task_reminders.send_reminders(
                session, organization_id=tenant.organization_id, now=clock.now, limit=1
            )
        runs.append((run.due, run.overdue))
    await runtime.queue.drain()
    assert runs == [(0, 1), (0, 1), (0, 1), (0, 0)]
    assert await _remind(app) == 0
    assert await _inbox(client, engineer) == ["task.overdue"] * 3


async def test_two_reminder_runs_at_once_announce_each_task_once(client, app, make_tenant, make_user, clock):
    tenant = await make_tenant()
    headers = await _admin(client, tenant)
    customer_id = (await create_customer(client, headers, name="甲方"))["id"]
    due = clock.now + timedelta(minutes=5)
    created = set()
    for n in range(24):
        body = {"title": f"回访{n}", "customer_id": customer_id, "due_at": due.isoformat()}
        created.add(ok(await client.post(TASKS, json=body, headers=headers), 201)["id"])
    clock.now = due
    runtime = app.state.runtime

    async def run_once() -> int:
        async with session_scope(runtime.sessionmaker, runtime.queue) as session:
            run = await task_reminders.send_reminders(
                session, organization_id=tenant.organization_id, now=clock.now, limit=10
            )
        return run.due + run.overdue

    first = await asyncio.gather(run_once(), run_once())
    rest = await _remind(app)

    assert sum(first) + rest == 24
    async with runtime.sessionmaker() as session:
        events = (
            await session.scalars(select(OutboxEvent.payload).where(OutboxEvent.topic == "task.due"))
        ).all()
    assert sorted(e["task_id"] for e in events) == sorted(created)


# --- the status board ------------------------------------------------------------------------------


async def test_the_status_board_counts_the_overdue_tasks_in_the_callers_scope_and_plans_a_leads_tasks(
    client, make_tenant, make_user, clock
):
    tenant = await make_tenant()
    rep, _ = await make_user(tenant, "rep")
    other_rep, _ = await make_user(tenant, "rep")
    supervisor, _ = await make_user(tenant, "supervisor")
    headers = await _admin(client, tenant)
    await create_team(client, headers, supervisor, [rep])
    mine = (await create_customer(client, headers, name="甲方", owner_id=rep["id"]))["id"]
    theirs = (await create_customer(client, headers, name="乙方", owner_id=other_rep["id"]))["id"]
    lead_id = (await create_lead(client, headers, company="丙方", owner_id=other_rep["id"]))["id"]
    start = clock.now

    async def task(due_in: timedelta, **fields: str) -> str:
        body = {"title": "回访", "due_at": (start + due_in).isoformat(), **fields}
        return str(ok(await client.post(TASKS, json=body, headers=headers), 201)["id"])

    await task(timedelta(hours=1), customer_id=mine, assignee_id=rep["id"])
    await task(timedelta(hours=10), customer_id=mine, assignee_id=rep["id"])  # not yet due
    await task(timedelta(hours=1), customer_id=theirs, assignee_id=other_rep["id"])
    on_lead = await task(timedelta(hours=1), lead_id=lead_id)
    clock.now = start + timedelta(hours=2)  # one hour past due: overdue

    async def overdue_tasks(user: Any, **params: str) -> int:
        viewer = await _as(client, user) if user else await _admin(client, tenant)
        summary = ok(await client.get("/api/v1/status-board/summary", params=params, headers=viewer))
        return int(summary["overdue_tasks"])

    assert await overdue_tasks(None) == 3
    assert await overdue_tasks(None, owner_id=other_rep["id"]) == 1
    assert await overdue_tasks(supervisor) == 1  # the team's rep's
    assert await overdue_tasks(rep) == 1
    assert await overdue_tasks(other_rep) == 2  # their customer's and their lead's
    board = ok(await client.get("/api/v1/status-board", headers=await _admin(client, tenant)))["items"]
    (lead_row,) = [row for row in board if row["subject_id"] == lead_id]
    assert lead_row["next_task"]["id"] == on_lead
