"""GET /changes: the incremental-sync feed of created, updated and deleted records."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from app.domain.models import ChangeLogEntry, Customer
from app.workers.jobs import prune_change_log
from tests.api.helpers import bearer, ok
from tests.conftest import eventually, sign_in
from tests.factories import create_customer, create_lead

CHANGES = "/api/v1/changes"


async def _api_key(client, tenant, scopes: list[str]) -> dict[str, str]:
    created = ok(
        await client.post(
            "/api/v1/api-keys", json={"name": "ERP sync", "scopes": scopes}, headers=tenant.headers
        ),
        201,
    )
    return bearer(created["secret"])


async def _drain(client, headers, since: str | None, *, limit: int = 7, types: str | None = None):
    """Reads the feed to its current end: (entries, cursor)."""
    entries: list[dict] = []
    while True:
        params: dict[str, object] = {"limit": limit}
        if since is not None:
            params["since"] = since
        if types is not None:
            params["types"] = types
        page = ok(await client.get(CHANGES, params=params, headers=headers))
        entries += page["items"]
        since = page["next_cursor"]
        if not page["has_more"]:
            return entries, since


async def _read_until(client, headers, since: str | None, wanted, *, types: str | None = None):
    """Reads on until `wanted(entries)` holds: on PostgreSQL an entry waits for every transaction
    on the server that began before it (other tests' too), so it may show a moment later."""
    entries: list[dict] = []

    async def seen() -> bool:
        """the wanted entries in the feed"""
        nonlocal since
        more, since = await _drain(client, headers, since, types=types)
        entries.extend(more)
        return bool(wanted(entries))

    await eventually(seen, seconds=60)
    return entries, since


def _has(*wanted: tuple[str, str]):
    return lambda entries: set(wanted) <= {(e["entity_id"], e["op"]) for e in entries}


async def test_a_sync_loop_run_while_records_change_misses_nothing_and_repeats_nothing(
    client, make_tenant, engine
):
    tenant = await make_tenant()
    key = await _api_key(client, tenant, ["changes:read"])
    created: dict[str, str] = {}
    updated: set[str] = set()

    async def writer(w: int) -> None:
        for i in range(6):
            n = w * 100 + i
            lead_id = (await create_lead(client, tenant.headers))["id"]
            created[lead_id] = "lead"
            customer_id = (await create_customer(client, tenant.headers, name=f"华东建材{n}号"))["id"]
            created[customer_id] = "customer"
            ok(
                await client.patch(
                    f"/api/v1/leads/{lead_id}", json={"company": f"公司{n}"}, headers=tenant.headers
                )
            )
            ok(
                await client.patch(
                    f"/api/v1/customers/{customer_id}", json={"industry": "建材"}, headers=tenant.headers
                )
            )
            updated.update({lead_id, customer_id})

    seen: list[dict] = []
    cursor: str | None = None
    writers = asyncio.gather(*(writer(w) for w in range(4)))
    while not writers.done():
        page = ok(
            await client.get(
                CHANGES, params={"limit": 5, **({"since": cursor} if cursor else {})}, headers=key
            )
        )
        seen += page["items"]
        cursor = page["next_cursor"]
        await asyncio.sleep(0)
    await writers

    async with engine.connect() as connection:
        logged = set((await connection.execute(text("SELECT id FROM change_log"))).scalars())

    # Background jobs (assignment) keep writing; every entry logged by now must reach the reader.
    # On PostgreSQL the feed waits for transactions elsewhere on the server.
    async def all_logged_seen() -> bool:
        """every logged change read from the feed"""
        nonlocal cursor
        entries, cursor = await _drain(client, key, cursor, limit=5)
        seen.extend(entries)
        return logged <= {entry["change_id"] for entry in seen}

    await eventually(all_logged_seen, seconds=60)
    async with engine.connect() as connection:
        in_log = set((await connection.execute(text("SELECT id FROM change_log"))).scalars())
    ids = [entry["change_id"] for entry in seen]
    assert [i for i, count in Counter(ids).items() if count > 1] == []
    assert logged <= set(ids) <= in_log
    by_op = {(entry["entity_type"], entry["entity_id"], entry["op"]) for entry in seen}
    assert all((kind, record_id, "created") in by_op for record_id, kind in created.items())
    assert all((created[record_id], record_id, "updated") in by_op for record_id in updated)
    assert len(created) == 48  # distinct records: de-duplication folded none of the writes together


async def test_the_feed_never_passes_a_change_whose_transaction_is_still_open(
    app, client, make_tenant, engine
):
    """The scenario ids alone get wrong: an entry numbered first but committed last."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: an open write transaction blocks the other one")
    tenant = await make_tenant()
    first = (await create_customer(client, tenant.headers, name="先写建材"))["id"]
    second = (await create_customer(client, tenant.headers, name="后写建材"))["id"]
    _, cursor = await _read_until(client, tenant.headers, None, _has((first, "created"), (second, "created")))
    runtime = app.state.runtime
    async with runtime.sessionmaker() as slow:
        customer = await slow.scalar(select(Customer).where(Customer.id == uuid.UUID(first)))
        assert customer is not None
        customer.industry = "先写后提交"
        await slow.flush()  # its entry now holds the lower number, uncommitted
        edit = {"industry": "后写先提交"}
        ok(await client.patch(f"/api/v1/customers/{second}", json=edit, headers=tenant.headers))
        await asyncio.sleep(0.3)
        held, cursor = await _drain(client, tenant.headers, cursor)
        assert [e for e in held if e["entity_id"] in (first, second)] == []
        await slow.commit()
    entries, _ = await _read_until(
        client, tenant.headers, cursor, _has((first, "updated"), (second, "updated"))
    )
    assert [(e["entity_id"], e["op"]) for e in entries if e["entity_id"] in (first, second)] == [
        (first, "updated"),
        (second, "updated"),
    ]


async def test_deletions_and_types_appear_in_the_feed(client, make_tenant):
    tenant = await make_tenant()
    kept = (await create_lead(client, tenant.headers))["id"]
    gone = (await create_lead(client, tenant.headers))["id"]
    customer = (await create_customer(client, tenant.headers, name="申华建材"))["id"]
    _, cursor = await _read_until(
        client, tenant.headers, None, _has((kept, "created"), (gone, "created"), (customer, "created"))
    )
    assert (await client.delete(f"/api/v1/leads/{gone}", headers=tenant.headers)).status_code == 204
    ok(await client.patch(f"/api/v1/leads/{kept}", json={"company": "申华"}, headers=tenant.headers))

    entries, _ = await _read_until(client, tenant.headers, cursor, _has((gone, "deleted"), (kept, "updated")))
    changes = [(e["entity_type"], e["entity_id"], e["op"]) for e in entries]
    # Commit order: the edit made after the deletion comes after it (background jobs may also
    # have updated either lead in between).
    assert ("lead", kept, "updated") in changes[changes.index(("lead", gone, "deleted")) + 1 :]
    only_customers, _ = await _read_until(
        client, tenant.headers, None, _has((customer, "created")), types="customer"
    )
    assert {(e["entity_type"], e["entity_id"]) for e in only_customers} == {("customer", customer)}


async def test_another_organizations_changes_are_not_in_the_feed(client, make_tenant):
    ours, theirs = await make_tenant("Ours"), await make_tenant("Theirs")
    their_lead = (await create_lead(client, theirs.headers))["id"]
    our_lead = (await create_lead(client, ours.headers))["id"]
    await _read_until(client, theirs.headers, None, _has((their_lead, "created")))
    entries, _ = await _read_until(client, ours.headers, None, _has((our_lead, "created")))
    assert their_lead not in {e["entity_id"] for e in entries}
    assert theirs.admin_id not in {e["entity_id"] for e in entries}


async def test_who_may_read_the_feed(client, make_tenant, make_user):
    tenant = await make_tenant()
    _, director = await make_user(tenant, "director")
    _, supervisor = await make_user(tenant, "supervisor")
    _, rep = await make_user(tenant, "rep")
    with_scope = await _api_key(client, tenant, ["changes:read"])
    without = await _api_key(client, tenant, ["leads:read"])
    for headers, status in [
        (tenant.headers, 200),
        (bearer(director), 200),
        (with_scope, 200),
        (bearer(supervisor), 403),
        (bearer(rep), 403),
        (without, 403),
        ({}, 401),
    ]:
        assert (await client.get(CHANGES, headers=headers)).status_code == status


async def test_bad_cursors_and_types_are_422(client, make_tenant):
    tenant = await make_tenant()
    for params, field in [({"since": "bm90LWEtY3Vyc29y"}, "since"), ({"types": "lead,invoice"}, "types")]:
        refused = await client.get(CHANGES, params=params, headers=tenant.headers)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["errors"][0]["field"] == field


async def test_a_cursor_older_than_the_retention_is_410_and_the_prune_job_removes_old_entries(
    app, client, make_tenant, clock, engine
):
    tenant = await make_tenant()
    customer = (await create_customer(client, tenant.headers, name="申华建材"))[
        "id"
    ]  # a customer starts no background job
    _, cursor = await _read_until(client, tenant.headers, None, _has((customer, "created")))
    clock.now = datetime.now(UTC) + timedelta(days=31)
    admin = bearer(await sign_in(client, tenant.admin_username))

    expired = await client.get(CHANGES, params={"since": cursor}, headers=admin)
    assert expired.status_code == 410
    assert expired.json()["code"] == "changes.cursor_expired"

    runtime = app.state.runtime
    context = {"sessionmaker": runtime.sessionmaker, "queue": runtime.queue, "clock": clock}
    assert await prune_change_log({**context, "change_log_retention_days": 32}) == 0
    pruned_before = datetime.now(UTC)
    assert await prune_change_log(context) > 0
    # Background jobs (assignment) may log a change after the prune; none before it is left.
    old = select(func.count()).select_from(ChangeLogEntry).where(ChangeLogEntry.changed_at < pruned_before)
    async with runtime.sessionmaker() as check:
        assert await check.scalar(old) == 0
    restarted = ok(await client.get(CHANGES, headers=admin))
    assert all(entry["changed_at"] >= pruned_before.isoformat()[:19] for entry in restarted["items"])


async def test_records_written_by_set_based_statements_are_logged(app, client, make_tenant, make_user):
    """Handover moves records with one UPDATE, outside the ORM's flush."""
    tenant = await make_tenant()
    leaving, leaving_token = await make_user(tenant, "rep")
    receiver, _ = await make_user(tenant, "rep")
    lead = (await create_lead(client, bearer(leaving_token)))["id"]
    _, cursor = await _read_until(client, tenant.headers, None, _has((lead, "created")))
    ok(
        await client.post(
            f"/api/v1/users/{leaving['id']}/handover",
            json={"to_user_id": receiver["id"]},
            headers=tenant.headers,
        )
    )
    await _read_until(client, tenant.headers, cursor, _has((lead, "updated")))


async def test_a_merged_away_or_erased_lead_is_deleted_in_the_feed_and_a_restored_one_updated(
    client, app, make_tenant
):
    tenant = await make_tenant()
    survivor, duplicate, erased, restored = [
        (await create_lead(client, tenant.headers))["id"] for _ in range(4)
    ]
    # The assignment job updates each new lead after its commit: let it finish before the order
    # of the later changes is read.
    await app.state.runtime.queue.drain()
    _, cursor = await _read_until(
        client,
        tenant.headers,
        None,
        _has(*((lead, "created") for lead in (survivor, duplicate, erased, restored))),
    )
    merge = {"duplicate_id": duplicate}
    ok(await client.post(f"/api/v1/leads/{survivor}/merge", json=merge, headers=tenant.headers))
    ok(
        await client.post(
            f"/api/v1/leads/{erased}/erase", json={"reason": "PIPL 2026-1"}, headers=tenant.headers
        )
    )
    assert (await client.delete(f"/api/v1/leads/{restored}", headers=tenant.headers)).status_code == 204
    ok(await client.post(f"/api/v1/leads/{restored}/restore", headers=tenant.headers))

    wanted = _has((duplicate, "deleted"), (erased, "deleted"), (restored, "deleted"), (restored, "updated"))
    entries, _ = await _read_until(client, tenant.headers, cursor, wanted)
    restored_ops = [e["op"] for e in entries if e["entity_id"] == restored]
    assert restored_ops.index("deleted") < len(restored_ops) - 1 - restored_ops[::-1].index("updated")
    assert (survivor, "deleted") not in {(e["entity_id"], e["op"]) for e in entries}


async def test_a_contact_edited_deleted_and_restored_through_contacts_is_in_the_feed(client, make_tenant):
    tenant = await make_tenant()
    customer = (await create_customer(client, tenant.headers, name="申华建材"))["id"]
    contact = str(
        ok(
            await client.post(
                f"/api/v1/customers/{customer}/contacts",
                json={"name": "王工", "phone": "13800138000"},
                headers=tenant.headers,
            ),
            201,
        )["id"]
    )
    _, cursor = await _read_until(client, tenant.headers, None, _has((contact, "created")), types="contact")
    edit = {"buying_role": "decision_maker"}
    ok(await client.patch(f"/api/v1/contacts/{contact}", json=edit, headers=tenant.headers))
    entries, cursor = await _read_until(
        client, tenant.headers, cursor, _has((contact, "updated")), types="contact"
    )
    assert [(e["entity_type"], e["op"]) for e in entries] == [("contact", "updated")]

    assert (await client.delete(f"/api/v1/contacts/{contact}", headers=tenant.headers)).status_code == 204
    _, cursor = await _read_until(client, tenant.headers, cursor, _has((contact, "deleted")), types="contact")
    ok(await client.post(f"/api/v1/contacts/{contact}/restore", headers=tenant.headers))
    await _read_until(client, tenant.headers, cursor, _has((contact, "updated")), types="contact")


# Per type: the resource, a body that creates one (given the admin's id and a receiver's URL), a
# change, and whether it can be deleted (campaigns are archived, playbook entries retired).
_CONFIGURATION_RECORDS = [
    (
        "campaign",
        "/api/v1/campaigns",
        lambda admin_id, url: {"name": "建博会", "channel": "exhibition"},
        {"is_archived": True},
        False,
    ),
    (
        "playbook_entry",
        "/api/v1/playbook-entries",
        lambda admin_id, url: {"kind": "objection_answer", "title": "价格太高", "body": "先问预算。"},
        {"title": "价格太贵"},
        False,
    ),
    (
        "webhook",
        "/api/v1/webhooks",
        lambda admin_id, url: {"url": url, "event_types": ["*"]},
        {"is_active": False},
        True,
    ),
    (
        "assignment_rule",
        "/api/v1/assignment-rules",
        lambda admin_id, url: {
            "name": "华东",
            "priority": 10,
            "strategy": "round_robin",
            "user_ids": [admin_id],
        },
        {"priority": 20},
        True,
    ),
]


@pytest.mark.parametrize(
    ("entity_type", "path", "body", "change", "deletable"),
    _CONFIGURATION_RECORDS,
    ids=[record[0] for record in _CONFIGURATION_RECORDS],
)
async def test_campaigns_playbook_entries_webhooks_and_assignment_rules_are_in_the_feed(
    client, make_tenant, httpserver, entity_type, path, body, change, deletable
):
    tenant = await make_tenant()
    created = body(str(tenant.admin_id), httpserver.url_for("/hooks/crm"))
    record = str(ok(await client.post(path, json=created, headers=tenant.headers), 201)["id"])
    ok(await client.patch(f"{path}/{record}", json=change, headers=tenant.headers))
    wanted = [(record, "created"), (record, "updated")]
    if deletable:
        assert (await client.delete(f"{path}/{record}", headers=tenant.headers)).status_code == 204
        wanted.append((record, "deleted"))

    entries, _ = await _read_until(client, tenant.headers, None, _has(*wanted), types=entity_type)
    assert {e["entity_type"] for e in entries} == {entity_type}
    assert [(e["entity_id"], e["op"]) for e in entries] == wanted  # in commit order
