"""Scenario builders: valid records made through the public API, as a user would make them.

A test states only what matters to it and passes it as a field; the rest is a valid default, and
names, phones and codes that must be unique are generated so that records never collide (the
databases are emptied before each test, so a counter per process is enough). Each `create_*`
asserts the 201 and answers the record's JSON as the API answered it.

`*_body(**overrides)` gives the request body alone, for a test that posts it itself (to check the
answer, send it as a batch row or an import).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import httpx

Headers = Mapping[str, str]
Record = dict[str, Any]

# Mainland mobile numbers of a range no test writes by hand (tests that write numbers use 13x).
_PHONES = itertools.count(18600000000)
_NUMBERS = itertools.count(1)


def unique_phone() -> str:
    """A valid mainland mobile number no other record of the run has."""
    return str(next(_PHONES))


def unique_number() -> int:
    """A number no earlier call answered: for names that must be unique."""
    return next(_NUMBERS)


def created(response: httpx.Response) -> Record:
    """The JSON of a 201 answer (else the answer is the failure message)."""
    assert response.status_code == 201, response.text
    return dict(response.json())


def _id(record: Mapping[str, Any] | str) -> str:
    return record if isinstance(record, str) else str(record["id"])


# The organization -------------------------------------------------------------------------------


async def update_settings(client: httpx.AsyncClient, headers: Headers, settings: Mapping[str, Any]) -> Record:
    """Merges `settings` into the organization's (a merge patch); answers the organization."""
    response = await client.patch("/api/v1/organization", json={"settings": settings}, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def create_sla_policy(client: httpx.AsyncClient, headers: Headers, **fields: Any) -> Record:
    """An SLA policy with a name of its own; without a kind, a 30-minute first response."""
    default = {} if "kind" in fields else {"kind": "first_response", "target_minutes": 30}
    body = {"name": f"首响{unique_number()}", **default, **fields}
    return created(await client.post("/api/v1/sla-policies", json=body, headers=headers))


async def create_assignment_rule(client: httpx.AsyncClient, headers: Headers, **fields: Any) -> Record:
    """An assignment rule; by default round robin at priority 10, with a name of its own."""
    body = {"name": f"rule-{unique_number()}", "priority": 10, "strategy": "round_robin", **fields}
    return created(await client.post("/api/v1/assignment-rules", json=body, headers=headers))


async def notifications_of(client: httpx.AsyncClient, headers: Headers, topic: str) -> list[Record]:
    """The caller's in-app notifications of one topic, newest first."""
    response = await client.get("/api/v1/notifications", headers=headers)
    assert response.status_code == 200, response.text
    return [n for n in response.json()["items"] if n["topic"] == topic]


# Leads -------------------------------------------------------------------------------------------


def lead_body(**overrides: Any) -> Record:
    """A valid new lead: a person met at an exhibition, with a phone number of its own."""
    return {"name": "张伟", "source": "exhibition", "phone": unique_phone(), **overrides}


async def create_lead(client: httpx.AsyncClient, headers: Headers, **fields: Any) -> Record:
    return created(await client.post("/api/v1/leads", json=lead_body(**fields), headers=headers))


async def create_settled_lead(client: httpx.AsyncClient, app: Any, headers: Headers, **fields: Any) -> Record:
    """A new lead once the jobs its creation asked for (assignment, notifications, webhooks) have
    run in `app`; answers the lead as read then."""
    lead = await create_lead(client, headers, **fields)
    await app.state.runtime.queue.drain()
    response = await client.get(f"/api/v1/leads/{lead['id']}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def assign_lead(
    client: httpx.AsyncClient,
    headers: Headers,
    lead: Mapping[str, Any] | str,
    user: Mapping[str, Any] | str,
    **body: Any,
) -> Record:
    """A manual assignment of the lead to the user (a user's JSON or id); answers the lead."""
    response = await client.post(
        f"/api/v1/leads/{_id(lead)}/assign", json={"user_id": _id(user), **body}, headers=headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def create_assigned_lead(
    client: httpx.AsyncClient,
    app: Any,
    headers: Headers,
    user: Mapping[str, Any] | str,
    reason: str = "区域负责人",
    **fields: Any,
) -> Record:
    """A new lead assigned by hand to `user`, once the jobs the assignment asked for have run (the
    first-response clock starts in one); answers the lead as the assignment answered it."""
    lead = await create_lead(client, headers, **fields)
    assigned = await assign_lead(client, headers, lead, user, reason=reason)
    await app.state.runtime.queue.drain()
    return assigned


# Customers ---------------------------------------------------------------------------------------


def customer_body(**overrides: Any) -> Record:
    """A valid new customer with a name of its own (customers are de-duplicated by name)."""
    return {"name": f"申华建材{unique_number()}号", **overrides}


async def create_customer(client: httpx.AsyncClient, headers: Headers, **fields: Any) -> Record:
    return created(await client.post("/api/v1/customers", json=customer_body(**fields), headers=headers))


async def create_contact(
    client: httpx.AsyncClient, headers: Headers, customer: Mapping[str, Any] | str, **fields: Any
) -> Record:
    body = {"name": "李娜", **fields}
    return created(
        await client.post(f"/api/v1/customers/{_id(customer)}/contacts", json=body, headers=headers)
    )


# Opportunities -----------------------------------------------------------------------------------


async def create_opportunity(
    client: httpx.AsyncClient,
    headers: Headers,
    customer: Mapping[str, Any] | str | None = None,
    **fields: Any,
) -> Record:
    """An opportunity on the customer (a new customer when none is given), in the default pipeline
    unless `pipeline_id` says otherwise."""
    if customer is None:
        customer = await create_customer(client, headers)
    body = {"name": "申华大厦屋面防水工程", "customer_id": _id(customer), **fields}
    return created(await client.post("/api/v1/opportunities", json=body, headers=headers))


# Activities and tasks ----------------------------------------------------------------------------


def activity_body(occurred_at: datetime | str, **overrides: Any) -> Record:
    """A call at `occurred_at`; name its subject with lead_id, customer_id or opportunity_id."""
    when = occurred_at if isinstance(occurred_at, str) else occurred_at.isoformat()
    return {"type": "call", "occurred_at": when, **overrides}


async def record_activity(
    client: httpx.AsyncClient, headers: Headers, occurred_at: datetime | str, **fields: Any
) -> Record:
    return created(
        await client.post("/api/v1/activities", json=activity_body(occurred_at, **fields), headers=headers)
    )


async def create_task(
    client: httpx.AsyncClient, headers: Headers, due_at: datetime | str, **fields: Any
) -> Record:
    when = due_at if isinstance(due_at, str) else due_at.isoformat()
    body = {"title": "回访", "due_at": when, **fields}
    return created(await client.post("/api/v1/tasks", json=body, headers=headers))


# Teams -------------------------------------------------------------------------------------------


async def create_team(
    client: httpx.AsyncClient,
    headers: Headers,
    supervisor: Mapping[str, Any] | str | None = None,
    members: Iterable[Mapping[str, Any] | str] = (),
    **fields: Any,
) -> Record:
    """A team with a name of its own, led by `supervisor`, of `members` (users' JSON or ids)."""
    body: Record = {"name": f"华东{unique_number()}组", "member_ids": [_id(m) for m in members], **fields}
    if supervisor is not None:
        body["supervisor_id"] = _id(supervisor)
    return created(await client.post("/api/v1/teams", json=body, headers=headers))


# Products and campaigns --------------------------------------------------------------------------


def product_body(**overrides: Any) -> Record:
    return {
        "sku": f"SKU-{unique_number():05d}",
        "name": "SBS改性沥青防水卷材",
        "list_price": "30.0000",
        "unit": "㎡",
        **overrides,
    }


async def create_product(client: httpx.AsyncClient, headers: Headers, **fields: Any) -> Record:
    return created(await client.post("/api/v1/products", json=product_body(**fields), headers=headers))


def campaign_body(**overrides: Any) -> Record:
    """A valid campaign with a name of its own (names are unique in an organization)."""
    return {"name": f"展会{unique_number()}", "channel": "exhibition", **overrides}


async def create_campaign(client: httpx.AsyncClient, headers: Headers, **fields: Any) -> Record:
    return created(await client.post("/api/v1/campaigns", json=campaign_body(**fields), headers=headers))
