"""GET /opportunities/{id}/next-actions mined from a fixture of won and lost deals with known activity
sequences in one stage (counts, win rates and timings worked out by hand), the stage's unfinished
action-pack tasks, too little history, closed and hidden deals; GET /customers/{id}/contact-times on
calls with known outcomes, and its fall-back to the organization's pattern."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.api.helpers import bearer, ok
from tests.conftest import Tenant, sign_in

V1 = "/api/v1"

# In the stage 方案: (activity type, hours after entering it). Every deal also has a meeting in the
# stage before (接触), which must not count, and notes in 方案, which never count.
WON = (
    (("call", 2), ("visit", 10), ("demo", 24), ("quote_sent", 60)),
    (("call", 2), ("visit", 12), ("demo", 48), ("quote_sent", 70)),
    (("call", 2), ("email", 5), ("demo", 30)),
    (("call", 2), ("demo", 36)),
    (("call", 2), ("visit", 14)),
)
LOST = (
    (("call", 2), ("email", 5), ("demo", 20)),
    (("call", 2), ("email", 5), ("quote_sent", 50)),
    (("call", 2), ("email", 5)),
)
# By hand: 8 closed deals, 5 won, base win rate 0.625.
#   visit: 3 won of 3 closed -> 1.0, lift 0.375, median of 10, 12, 14 h = 12.0
#   demo: 4 won of 5 closed -> 0.8, lift 0.175, median of 24, 30, 36, 48 h = 33.0
#   call: 5 won of 8 closed -> 0.625, lift 0.0, median 2.0
#   quote_sent: 2 won (support under 3); email: 1 won of 4 (support under 3, and below the base rate)
VISIT = {"activity_type": "visit", "support": 3, "closed_with": 3, "win_rate": 1.0, "lift": 0.375}
DEMO = {"activity_type": "demo", "support": 4, "closed_with": 5, "win_rate": 0.8, "lift": 0.175}
CALL = {"activity_type": "call", "support": 5, "closed_with": 8, "win_rate": 0.625, "lift": 0.0}
MEDIANS = {"visit": 12.0, "demo": 33.0, "call": 2.0}

STAGES = [
    {"name": "接触", "kind": "open", "probability": 10},
    {
        "name": "方案",
        "kind": "open",
        "probability": 50,
        "actions": [
            {"title": "发送案例资料", "due_after_business_hours": 4},
            {"title": "满意度回访", "due_after_business_hours": 40},
        ],
    },
    {"name": "赢单", "kind": "won", "probability": 100},
    {"name": "输单", "kind": "lost", "probability": 0},
]


class Sales:
    """Deals of one pipeline, recorded through the API in real time by moving the clock (the admin
    signs in again as the clock passes its token's lifetime)."""

    def __init__(self, client: httpx.AsyncClient, clock: Any, tenant: Tenant) -> None:
        self.client, self.clock, self.tenant = client, clock, tenant
        self.signed_in_at, self.token = clock.now, tenant.token
        self.pipeline: dict[str, Any] = {}
        self.customer: dict[str, Any] = {}

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    async def sign_in_again(self) -> None:
        if abs(self.clock.now - self.signed_in_at) > timedelta(hours=4):
            self.token = await sign_in(self.client, self.tenant.admin_username)
            self.signed_in_at = self.clock.now

    async def setup(self) -> None:
        body = {"name": "直销", "stages": STAGES}
        self.pipeline = ok(await self.client.post(f"{V1}/pipelines", json=body, headers=self.headers), 201)
        self.customer = ok(
            await self.client.post(f"{V1}/customers", json={"name": "申华建材"}, headers=self.headers), 201
        )

    def stage(self, name: str) -> str:
        return str(next(s["id"] for s in self.pipeline["stages"] if s["name"] == name))

    async def activity(self, deal: dict[str, Any], kind: str) -> None:
        await self.sign_in_again()
        body: dict[str, Any] = {
            "type": kind,
            "occurred_at": self.clock.now.isoformat(),
            "opportunity_id": deal["id"],
            "notes": "跟进",
        }
        if kind == "call":
            body["call_outcome"] = "connected"
        if kind == "visit":
            body["geo"] = {"lat": 31.2304, "lng": 121.4737, "accuracy_m": 20}
        ok(await self.client.post(f"{V1}/activities", json=body, headers=self.headers), 201)

    async def deal_in_proposal(self, **fields: Any) -> dict[str, Any]:
        """A deal with a meeting in 接触, then moved to 方案 an hour later (its entry: clock.now)."""
        await self.sign_in_again()
        body = {"name": "屋面工程", "customer_id": self.customer["id"], "pipeline_id": self.pipeline["id"]}
        deal = ok(
            await self.client.post(f"{V1}/opportunities", json={**body, **fields}, headers=self.headers), 201
        )
        await self.activity(deal, "meeting")
        self.clock.advance(hours=1)
        change = {"to_stage_id": self.stage("方案")}
        path = f"{V1}/opportunities/{deal['id']}/stage-changes"
        return ok(await self.client.post(path, json=change, headers=self.headers))

    async def closed_deal(self, steps: tuple[tuple[str, int], ...], *, won: bool) -> None:
        deal = await self.deal_in_proposal()
        entered = self.clock.now
        for kind, hours in steps:
            self.clock.now = entered + timedelta(hours=hours)
            await self.activity(deal, kind)
        await self.activity(deal, "note")
        self.clock.now = entered + timedelta(hours=80)
        await self.sign_in_again()
        path = f"{V1}/opportunities/{deal['id']}"
        if won:
            ok(await self.client.post(f"{path}/win", json={}, headers=self.headers))
        else:
            ok(await self.client.post(f"{path}/lose", json={"reason": "价格过高"}, headers=self.headers))
        self.clock.advance(days=1)

    async def history(self, won: tuple[Any, ...] = WON, lost: tuple[Any, ...] = LOST) -> None:
        for steps in won:
            await self.closed_deal(steps, won=True)
        for steps in lost:
            await self.closed_deal(steps, won=False)

    async def next_actions(self, deal: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        await self.sign_in_again()
        path = f"{V1}/opportunities/{deal['id']}/next-actions"
        return ok(await self.client.get(path, headers=headers or self.headers))


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _mined(suggestion: dict[str, Any]) -> dict[str, Any]:
    return {k: suggestion[k] for k in ("activity_type", "support", "closed_with", "win_rate", "lift")}


async def test_next_actions_are_mined_from_what_won_deals_did_in_the_stage(client, clock, make_tenant):
    tenant = await make_tenant()
    sales = Sales(client, clock, tenant)
    await sales.setup()
    await sales.history()
    deal = await sales.deal_in_proposal()
    entered = clock.now
    clock.advance(hours=20)

    answer = await sales.next_actions(deal)
    assert (answer["basis"], answer["stage_name"], answer["stage_id"]) == (
        "won_deals",
        "方案",
        sales.stage("方案"),
    )
    assert _at(answer["stage_entered_at"]) == entered
    history = answer["history"]
    assert (
        history["closed_deals"],
        history["won_deals"],
        history["base_win_rate"],
        history["min_support"],
    ) == (
        8,
        5,
        0.625,
        3,
    )
    assert [_mined(s) for s in answer["suggestions"]] == [VISIT, DEMO, CALL]
    for suggestion in answer["suggestions"]:
        hours = MEDIANS[suggestion["activity_type"]]
        assert suggestion["median_hours_after_entry"] == hours
        assert _at(suggestion["due_by"]) == entered + timedelta(hours=hours)
        assert suggestion["overdue"] is (hours < 20)

    # The deal that already visited since entering the stage is told the next ones.
    visited = await sales.deal_in_proposal()
    clock.advance(hours=3)
    await sales.activity(visited, "visit")
    answer = await sales.next_actions(visited)
    assert [_mined(s) for s in answer["suggestions"]] == [DEMO, CALL]


async def test_the_stages_unfinished_action_pack_tasks_are_listed(client, clock, make_tenant):
    tenant = await make_tenant()
    sales = Sales(client, clock, tenant)
    await sales.setup()
    deal = await sales.deal_in_proposal()
    tasks = ok(await client.get(f"{V1}/tasks", params={"opportunity_id": deal["id"]}, headers=tenant.headers))
    by_title = {t["title"]: t for t in tasks["items"]}
    assert set(by_title) == {"发送案例资料", "满意度回访"}
    ok(
        await client.post(
            f"{V1}/tasks/{by_title['满意度回访']['id']}/complete", json={}, headers=tenant.headers
        )
    )

    clock.now = _at(by_title["发送案例资料"]["due_at"]) + timedelta(hours=2)
    answer = await sales.next_actions(deal)
    assert [(t["id"], t["title"], t["overdue"]) for t in answer["action_pack_tasks"]] == [
        (by_title["发送案例资料"]["id"], "发送案例资料", True)
    ]
    assert _at(answer["action_pack_tasks"][0]["due_at"]) == _at(by_title["发送案例资料"]["due_at"])
    # Without history nothing is suggested, and the answer says why.
    assert (answer["basis"], answer["suggestions"]) == ("insufficient_history", [])


async def test_too_few_won_deals_suggest_nothing_until_the_organization_asks_for_less(
    client, clock, make_tenant
):
    tenant = await make_tenant()
    sales = Sales(client, clock, tenant)
    await sales.setup()
    await sales.history(won=WON[:2], lost=LOST[:1])
    deal = await sales.deal_in_proposal()
    answer = await sales.next_actions(deal)
    assert answer["basis"] == "insufficient_history"
    assert answer["suggestions"] == []
    history = answer["history"]
    assert (history["closed_deals"], history["won_deals"], history["base_win_rate"]) == (3, 2, 0.6667)
    assert history["min_support"] == 3

    settings = {"settings": {"next_actions": {"min_support": 2}}}
    ok(await client.patch(f"{V1}/organization", json=settings, headers=sales.headers))
    answer = await sales.next_actions(deal)
    assert (answer["basis"], answer["history"]["min_support"]) == ("won_deals", 2)
    # Base 2 of 3. Visits and quotes: 2 won of 2 (lift 0.3333, the name breaks the tie); calls and
    # demos: 2 won of 3 (lift 0); e-mails: none won.
    assert [
        (s["activity_type"], s["support"], s["closed_with"], s["lift"]) for s in answer["suggestions"]
    ] == [
        ("quote_sent", 2, 2, 0.3333),
        ("visit", 2, 2, 0.3333),
        ("call", 2, 3, 0.0),
    ]
    assert [s["median_hours_after_entry"] for s in answer["suggestions"]] == [65.0, 11.0, 2.0]

    for bad in (0, "3", 2.5, True):
        refused = await client.patch(
            f"{V1}/organization",
            json={"settings": {"next_actions": {"min_support": bad}}},
            headers=sales.headers,
        )
        assert refused.status_code == 422, bad
        assert "settings.next_actions.min_support" in [e["field"] for e in refused.json()["errors"]]


async def test_closed_and_hidden_deals(client, clock, make_tenant, make_user):
    tenant = await make_tenant()
    owner, owner_token = await make_user(tenant)
    _, other_token = await make_user(tenant)
    sales = Sales(client, clock, tenant)
    await sales.setup()
    deal = await sales.deal_in_proposal(owner_id=owner["id"])

    mine = ok(await client.get(f"{V1}/opportunities/{deal['id']}/next-actions", headers=bearer(owner_token)))
    assert mine["opportunity_id"] == deal["id"]
    hidden = await client.get(f"{V1}/opportunities/{deal['id']}/next-actions", headers=bearer(other_token))
    assert (hidden.status_code, hidden.json()["code"]) == (404, "opportunity.not_found")
    times = await client.get(
        f"{V1}/customers/{sales.customer['id']}/contact-times", headers=bearer(other_token)
    )
    assert (times.status_code, times.json()["code"]) == (404, "customer.not_found")

    ok(await client.post(f"{V1}/opportunities/{deal['id']}/win", json={}, headers=tenant.headers))
    closed = await client.get(f"{V1}/opportunities/{deal['id']}/next-actions", headers=tenant.headers)
    assert (closed.status_code, closed.json()["code"]) == (409, "opportunity.closed")
    assert closed.headers["content-type"].startswith("application/problem+json")


# Calls (local Shanghai time) with their outcomes: the customer's own ten, another customer's two.
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)  # the clock starts on it, at 10:00 in Shanghai
OWN_CALLS = (
    (1, 10, "connected"),  # Tuesday 10:00 Shanghai is 02:00 UTC
    (1, 10, "connected"),
    (1, 10, "connected"),
    (3, 15, "connected"),  # Thursday 15:00
    (3, 15, "no_answer"),
    (3, 15, "connected"),
    (3, 15, "busy"),
    (7, 9, "no_answer"),  # the next Monday 09:00: never connects
    (7, 9, "no_answer"),
    (7, 9, "rejected"),
)
OTHER_CALLS = ((4, 16, "connected"), (4, 16, "connected"))  # Friday 16:00


async def _calls(client: httpx.AsyncClient, clock: Any, tenant: Tenant, calls: Any, customer: str) -> None:
    """Each call made at its time (so none is entered late), signed in afresh for each slot."""
    slot = None
    for index, (day, hour, outcome) in enumerate(calls):
        clock.now = MONDAY + timedelta(days=day, hours=hour - 8, minutes=index)
        if (day, hour) != slot:
            slot, headers = (day, hour), bearer(await sign_in(client, tenant.admin_username))
        body = {"type": "call", "occurred_at": clock.now.isoformat(), "customer_id": customer}
        ok(
            await client.post(f"{V1}/activities", json={**body, "call_outcome": outcome}, headers=headers),
            201,
        )


async def test_the_golden_hour_of_a_customer_and_the_organizations_fall_back(client, clock, make_tenant):
    tenant = await make_tenant()
    headers = tenant.headers
    own = ok(await client.post(f"{V1}/customers", json={"name": "华东建材"}, headers=headers), 201)
    other = ok(await client.post(f"{V1}/customers", json={"name": "申华建材"}, headers=headers), 201)
    await _calls(client, clock, tenant, OWN_CALLS, own["id"])
    await _calls(client, clock, tenant, OTHER_CALLS, other["id"])
    clock.advance(days=1)
    headers = bearer(await sign_in(client, tenant.admin_username))

    answer = ok(await client.get(f"{V1}/customers/{own['id']}/contact-times", headers=headers))
    assert (answer["basis"], answer["timezone"], answer["customer_calls"]) == (
        "customer",
        "Asia/Shanghai",
        10,
    )
    assert (answer["attempts"], answer["connected"], answer["connect_rate"]) == (10, 5, 0.5)
    assert answer["best_slots"] == [
        {"weekday": 2, "hour": 10, "attempts": 3, "connected": 3, "connect_rate": 1.0},
        {"weekday": 4, "hour": 15, "attempts": 4, "connected": 2, "connect_rate": 0.5},
    ]

    fallback = ok(await client.get(f"{V1}/customers/{other['id']}/contact-times", headers=headers))
    assert (fallback["basis"], fallback["customer_calls"], fallback["min_customer_calls"]) == (
        "organization",
        2,
        10,
    )
    assert (fallback["attempts"], fallback["connected"]) == (12, 7)
    assert [(s["weekday"], s["hour"], s["attempts"], s["connected"]) for s in fallback["best_slots"]] == [
        (2, 10, 3, 3),
        (5, 16, 2, 2),
        (4, 15, 4, 2),
    ]

    # The same advice rides on the customer's deals.
    deal = ok(
        await client.post(
            f"{V1}/opportunities", json={"name": "门窗", "customer_id": own["id"]}, headers=headers
        ),
        201,
    )
    embedded = ok(await client.get(f"{V1}/opportunities/{deal['id']}/next-actions", headers=headers))
    assert embedded["contact_times"] == answer

    empty = await make_tenant("没有通话的公司")
    lonely = ok(await client.post(f"{V1}/customers", json={"name": "新客户"}, headers=empty.headers), 201)
    none = ok(await client.get(f"{V1}/customers/{lonely['id']}/contact-times", headers=empty.headers))
    assert (none["basis"], none["attempts"], none["connect_rate"], none["best_slots"]) == (
        "insufficient_history",
        0,
        None,
        [],
    )
