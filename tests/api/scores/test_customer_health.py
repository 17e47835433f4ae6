"""Customer health (issue 17): each factor's points, bands, the red-band warning, the daily history,
the recompute jobs, satisfaction surveys and who may read it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from app.domain.models import Customer
from app.services.platform.jobs import JobName, JobRequest
from app.services.platform.unit_of_work import session_scope
from app.workers.jobs import fire_sla_timers, recompute_customer_health, refresh_customer_health
from tests.api.helpers import bearer, ok
from tests.conftest import sign_in
from tests.factories import create_customer


async def _log(
    client: httpx.AsyncClient, headers: dict[str, str], customer_id: str, at: Any, **fields: Any
) -> dict[str, Any]:
    body = {
        "type": "call",
        "call_outcome": "no_answer",
        "customer_id": customer_id,
        "occurred_at": at.isoformat(),
    }
    return ok(await client.post("/api/v1/activities", json={**body, **fields}, headers=headers), 201)


async def _health(client: httpx.AsyncClient, headers: dict[str, str], customer_id: str) -> dict[str, Any]:
    return ok(await client.get(f"/api/v1/customers/{customer_id}/health", headers=headers))


def _context(app: Any) -> dict[str, Any]:
    runtime = app.state.runtime
    return {"sessionmaker": runtime.sessionmaker, "queue": runtime.queue, "clock": runtime.clock}


async def _set_temperature(app: Any, customer_id: str, value: float, at: Any) -> None:
    """The engagement-events API fills these columns; here they are set as it would leave them."""
    runtime = app.state.runtime
    async with session_scope(runtime.sessionmaker, runtime.queue) as session:
        await session.execute(
            update(Customer)
            .where(Customer.id == uuid.UUID(customer_id))
            .values(temperature=value, temperature_at=at)
        )


async def _win(client: httpx.AsyncClient, headers: dict[str, str], customer_id: str, amount: str) -> None:
    stages = [
        {"name": "拜访", "kind": "open", "probability": 20},
        {"name": "赢单", "kind": "won", "probability": 100},
        {"name": "输单", "kind": "lost", "probability": 0},
    ]
    pipeline = ok(
        await client.post("/api/v1/pipelines", json={"name": "直销", "stages": stages}, headers=headers), 201
    )
    deal = ok(
        await client.post(
            "/api/v1/opportunities",
            json={
                "name": "屋面防水",
                "customer_id": customer_id,
                "pipeline_id": pipeline["id"],
                "amount": amount,
            },
            headers=headers,
        ),
        201,
    )
    ok(await client.post(f"/api/v1/opportunities/{deal['id']}/win", json={}, headers=headers))


async def test_each_factor_contributes_its_hand_computed_points_and_they_add_up_to_the_score(
    client, app, make_tenant, clock
):
    now = clock.now
    # The customer has been on the books since before the oldest call logged on it below.
    clock.now = now - timedelta(days=71)
    tenant = await make_tenant()
    customer = await create_customer(client, tenant.headers, annual_purchase="620000")  # tier A
    clock.now = now
    tenant.token = await sign_in(client, tenant.admin_username)
    # Temperature 8 two weeks ago, half-life 14 days: 4 now, of the 10 that take every point.
    await _set_temperature(app, customer["id"], 8.0, now - timedelta(days=14))
    # The 60 days before the last 30: eight calls nobody answered (4 per 30 days).
    for days in (35, 40, 45, 50, 55, 60, 65, 70):
        await _log(client, tenant.headers, customer["id"], now - timedelta(days=days))
    # The last 30 days: an effective (connected) call 10 days ago, and a meeting that learnt too
    # little to be effective; surveys 4 and 5.
    await _log(
        client,
        tenant.headers,
        customer["id"],
        now - timedelta(days=10),
        call_outcome="connected",
        satisfaction=4,
    )
    await _log(
        client,
        tenant.headers,
        customer["id"],
        now - timedelta(days=5),
        type="meeting",
        call_outcome=None,
        info_points={"needs": "防水"},
        satisfaction=5,
    )
    await _win(client, tenant.headers, customer["id"], "300000.00")

    health = await _health(client, tenant.headers, customer["id"])

    factors = {f["factor"]: f for f in health["factors"]}
    expected = {
        # 10 days since the last effective follow-up, tier A expects 7: 3 late of the 14 to zero.
        "recency": (30, round(1 - 3 / 14, 3), 24),  # 30 x 0.7857 = 23.57
        # 2 in the last 30 days against 4 per 30 before: half the pace.
        "trend": (15, 0.5, 8),  # 7.5, rounded half up
        # 300,000 won of the 500,000 tier A expects.
        "won_amount": (25, 0.6, 15),
        "sla_breaches": (10, 1.0, 10),
        # Mean 4.5 of 5: (4.5 - 1) / 4.
        "satisfaction": (10, 0.875, 9),  # 8.75
        "temperature": (10, 0.4, 4),
    }
    assert {name: (f["weight"], f["value"], f["contribution"]) for name, f in factors.items()} == expected
    assert health["score"] == sum(f["contribution"] for f in health["factors"]) == 70
    assert health["band"] == "green"
    assert factors["recency"]["reason"] == (
        "Last effective follow-up 10.0 days ago; tier A expects one every 7 days."
    )
    assert factors["won_amount"]["reason"] == "Won 300000.00 in the last 12 months; tier A expects 500000."
    # The win recomputed the stored score in its own transaction.
    stored = ok(await client.get(f"/api/v1/customers/{customer['id']}", headers=tenant.headers))
    assert (stored["health_score"], stored["health_band"]) == (70, "green")


async def test_weights_and_band_thresholds_come_from_the_organization_settings(client, make_tenant, clock):
    tenant = await make_tenant()
    customer = await create_customer(client, tenant.headers)  # tier C, nothing done yet
    default = await _health(client, tenant.headers, customer["id"])
    # Only the absent breaches (10) and the neutral satisfaction (half of 10) score.
    assert (default["score"], default["band"], default["yellow_min"], default["green_min"]) == (
        15,
        "red",
        50,
        70,
    )

    settings = {
        "scoring": {"health": {"weights": {"sla_breaches": 50}, "bands": {"green_min": 80, "yellow_min": 60}}}
    }
    ok(await client.patch("/api/v1/organization", json={"settings": settings}, headers=tenant.headers))
    reweighted = await _health(client, tenant.headers, customer["id"])
    # Weights 30+15+25+50+10+10 = 140: breaches 50/140 of 100 points, satisfaction half of 10/140.
    factors = {f["factor"]: f["contribution"] for f in reweighted["factors"]}
    assert (factors["sla_breaches"], factors["satisfaction"]) == (36, 4)  # 35.71, 3.57
    assert reweighted["score"] == 40
    assert (reweighted["yellow_min"], reweighted["green_min"]) == (60, 80)

    ok(
        await client.patch(
            "/api/v1/organization",
            json={"settings": {"scoring": {"health": {"bands": {"yellow_min": 40}}}}},
            headers=tenant.headers,
        )
    )
    assert (await _health(client, tenant.headers, customer["id"]))["band"] == "yellow"

    for bad, field in (
        ({"weights": {"recency": -1}}, "weights.recency"),
        ({"weights": {"charm": 5}}, "weights.charm"),
        ({"bands": {"green_min": 40, "yellow_min": 60}}, "bands.yellow_min"),
        ({"follow_up_days": {"A": 0}}, "follow_up_days.A"),
        ({"breaches_to_zero": 0}, "breaches_to_zero"),
    ):
        refused = await client.patch(
            "/api/v1/organization", json={"settings": {"scoring": {"health": bad}}}, headers=tenant.headers
        )
        assert refused.status_code == 422, bad
        assert [e["field"] for e in refused.json()["errors"]] == [f"settings.scoring.health.{field}"]


async def _sign_in_again(client: httpx.AsyncClient, *users: dict[str, Any]) -> list[str]:
    """Fresh tokens after the clock moved past their lifetime."""
    return [await sign_in(client, str(user["username"])) for user in users]


async def _notified(client: httpx.AsyncClient, token: str) -> int:
    inbox = ok(await client.get("/api/v1/notifications", headers=bearer(token)))
    return sum(1 for note in inbox["items"] if note["topic"] == "customer.health_red")


async def test_falling_into_red_tells_the_owner_and_supervisor_once_and_again_only_after_recovery(
    client, app, make_tenant, make_user, clock
):
    tenant = await make_tenant()
    supervisor, supervisor_token = await make_user(tenant, "supervisor")
    rep, rep_token = await make_user(tenant, "rep")
    body = {"name": "华东", "supervisor_id": supervisor["id"], "member_ids": [rep["id"]]}
    ok(await client.post("/api/v1/teams", json=body, headers=tenant.headers), 201)
    customer = await create_customer(client, bearer(rep_token))  # tier C, the rep's own
    context, queue = _context(app), app.state.runtime.queue

    await _log(client, bearer(rep_token), customer["id"], clock.now, call_outcome="connected")
    # Recency 30 + trend 15 + breaches 10 + neutral satisfaction 5.
    assert (await _health(client, bearer(rep_token), customer["id"]))["score"] == 60

    clock.advance(days=60)  # 60 days without a follow-up, tier C expects 30: recency 15, trend 0
    # Four recomputes of the same customer at once: one of them moves the band, and tells.
    await asyncio.gather(
        *(refresh_customer_health(context, str(tenant.organization_id), [customer["id"]]) for _ in range(4))
    )
    assert await recompute_customer_health(context) == 0  # already scored today
    clock.advance(days=2)  # 62 days: recency 30 x (1 - 32/60) = 14
    assert await recompute_customer_health(context) == 1  # still red: scored, not told again
    await queue.drain()
    rep_token, supervisor_token = await _sign_in_again(client, rep, supervisor)
    stored = ok(await client.get(f"/api/v1/customers/{customer['id']}", headers=bearer(rep_token)))
    assert (stored["health_score"], stored["health_band"]) == (29, "red")
    assert await _notified(client, rep_token) == 1
    assert await _notified(client, supervisor_token) == 1
    inbox = ok(await client.get("/api/v1/notifications", headers=bearer(rep_token)))
    note = next(n for n in inbox["items"] if n["topic"] == "customer.health_red")
    # The organization's locale is zh-CN; the score in it is the one the customer fell to.
    assert note["body"] == (
        f"客户 {customer['name']}（{customer['code']}）的健康度降至 30 分，进入红色区间，请尽快跟进。"
    )

    # A connected call with a happy survey: back to yellow (30 + 15 + 10 + 10).
    await _log(client, bearer(rep_token), customer["id"], clock.now, call_outcome="connected", satisfaction=5)
    assert (await _health(client, bearer(rep_token), customer["id"]))["band"] == "yellow"
    clock.advance(days=62)
    assert await recompute_customer_health(context) == 1
    await queue.drain()
    rep_token, supervisor_token = await _sign_in_again(client, rep, supervisor)
    assert await _notified(client, rep_token) == 2
    assert await _notified(client, supervisor_token) == 2


async def test_the_history_keeps_one_snapshot_per_local_day_and_the_runner_recomputes_nightly(
    client, app, make_tenant, clock
):
    tenant = await make_tenant()
    customer = await create_customer(client, tenant.headers)
    queue = app.state.runtime.queue
    await queue.enqueue(JobRequest(JobName.recompute_customer_health))
    await queue.drain()
    # Three activities on the next day: each recomputes; the day keeps its last score.
    clock.advance(days=1)
    tenant.token = await sign_in(client, tenant.admin_username)
    for _ in range(3):
        await _log(client, tenant.headers, customer["id"], clock.now, call_outcome="connected")
    # 14:30 UTC is 22:30 in Shanghai, still the second day; 16:30 UTC is the third day.
    clock.advance(hours=12, minutes=30)
    assert await recompute_customer_health(_context(app)) == 0  # scored on this day already
    clock.advance(hours=2)
    await queue.enqueue(JobRequest(JobName.recompute_customer_health))
    await queue.drain()
    tenant.token = await sign_in(client, tenant.admin_username)

    history = ok(
        await client.get(f"/api/v1/customers/{customer['id']}/health/history", headers=tenant.headers)
    )
    days = [(row["snapshot_on"], row["score"], row["band"]) for row in history["items"]]
    assert days == [("2026-11-23", 15, "red"), ("2026-11-24", 60, "yellow"), ("2026-11-25", 60, "yellow")]
    assert history["to"] == "2026-11-25"
    window = ok(
        await client.get(
            f"/api/v1/customers/{customer['id']}/health/history",
            params={"from": "2026-11-24", "to": "2026-11-24"},
            headers=tenant.headers,
        )
    )
    assert [row["snapshot_on"] for row in window["items"]] == ["2026-11-24"]
    backwards = await client.get(
        f"/api/v1/customers/{customer['id']}/health/history",
        params={"from": "2026-11-25", "to": "2026-11-24"},
        headers=tenant.headers,
    )
    assert backwards.status_code == 422


async def test_satisfaction_is_a_survey_score_from_1_to_5(client, make_tenant, clock):
    tenant = await make_tenant()
    customer = await create_customer(client, tenant.headers)
    for score in (0, 6, 4.5, "high"):
        body = {"type": "visit", "customer_id": customer["id"], "occurred_at": clock.now.isoformat()}
        refused = await client.post(
            "/api/v1/activities",
            json={**body, "geo": {"lat": 31.2, "lng": 121.5, "accuracy_m": 10.0}, "satisfaction": score},
            headers=tenant.headers,
        )
        assert refused.status_code == 422, score
        assert any(error["field"].endswith("satisfaction") for error in refused.json()["errors"])
    logged = await _log(client, tenant.headers, customer["id"], clock.now, satisfaction=3)
    assert logged["satisfaction"] == 3
    read = ok(await client.get(f"/api/v1/activities/{logged['id']}", headers=tenant.headers))
    assert read["satisfaction"] == 3
    unsurveyed = await _log(client, tenant.headers, customer["id"], clock.now)
    assert unsurveyed["satisfaction"] is None


async def test_a_rep_reads_the_health_of_their_own_customers_only(client, make_tenant, make_user):
    tenant = await make_tenant()
    _owner, owner_token = await make_user(tenant, "rep")
    _other, other_token = await make_user(tenant, "rep")
    customer = await create_customer(client, bearer(owner_token))
    for path in ("health", "health/history"):
        url = f"/api/v1/customers/{customer['id']}/{path}"
        assert (await client.get(url, headers=bearer(owner_token))).status_code == 200
        assert (await client.get(url, headers=tenant.headers)).status_code == 200
        hidden = await client.get(url, headers=bearer(other_token))
        assert hidden.status_code == 404
        assert hidden.json()["code"] == "customer.not_found"
    elsewhere = await make_tenant("Other")
    assert (
        await client.get(f"/api/v1/customers/{customer['id']}/health", headers=elsewhere.headers)
    ).status_code == 404


async def test_an_sla_breach_on_the_customer_rescores_it_through_the_refresh_job(
    client, app, make_tenant, clock
):
    tenant = await make_tenant()
    policy = {"name": "客户1小时回访", "kind": "follow_up", "target_minutes": 60}
    ok(await client.post("/api/v1/sla-policies", json=policy, headers=tenant.headers), 201)
    customer = await create_customer(client, tenant.headers)  # Monday 10:00 in Shanghai: due at 11:00
    assert (
        ok(await client.get(f"/api/v1/customers/{customer['id']}", headers=tenant.headers))["health_score"]
        is None
    )

    clock.advance(hours=2)
    assert await fire_sla_timers(_context(app)) == 2  # warned and breached at once
    await app.state.runtime.queue.drain()  # the refresh the sweep asked for, after its commit

    stored = ok(await client.get(f"/api/v1/customers/{customer['id']}", headers=tenant.headers))
    # One open breach of the three that take every point: 10 x 2/3 = 6.67 -> 7, plus the neutral
    # satisfaction's 5.
    assert (stored["health_score"], stored["health_band"]) == (12, "red")
    breaches = next(
        f
        for f in (await _health(client, tenant.headers, customer["id"]))["factors"]
        if f["factor"] == "sla_breaches"
    )
    assert (breaches["contribution"], breaches["reason"]) == (
        7,
        "1 open SLA breaches on the customer's records; 3 take every point.",
    )


async def test_the_nightly_run_writes_only_the_scores_that_changed_and_snapshots_every_customer(
    client, app, make_tenant, clock
):
    tenant = await make_tenant()
    quiet = await create_customer(client, tenant.headers)  # nothing ever happens: 10 + 5 = 15 every day
    worked = await create_customer(client, tenant.headers)
    await _log(client, tenant.headers, worked["id"], clock.now, call_outcome="connected")
    context = _context(app)
    assert await recompute_customer_health(context) == 1  # the call scored the other today
    first = ok(await client.get(f"/api/v1/customers/{quiet['id']}", headers=tenant.headers))
    assert first["health_score"] == 15

    clock.advance(days=40)  # tier C expects 30 days: the worked customer's recency falls
    tenant.token = await sign_in(client, tenant.admin_username)
    assert await recompute_customer_health(context) == 2
    assert await recompute_customer_health(context) == 0  # scored on this day already
    still = ok(await client.get(f"/api/v1/customers/{quiet['id']}", headers=tenant.headers))
    moved = ok(await client.get(f"/api/v1/customers/{worked['id']}", headers=tenant.headers))
    assert (still["health_score"], still["health_computed_at"]) == (15, first["health_computed_at"])
    assert still["version"] == first["version"]
    # Recency 30 x (1 - 10/60) = 25, no activity in the last 30 days, 10 breaches, 5 neutral.
    assert (moved["health_score"], moved["health_band"]) == (40, "red")
    assert moved["health_computed_at"] != first["health_computed_at"]
    history = ok(await client.get(f"/api/v1/customers/{quiet['id']}/health/history", headers=tenant.headers))
    assert [row["score"] for row in history["items"]] == [15, 15]


async def test_customers_list_by_health_weakest_or_healthiest_first_unscored_last(client, make_tenant, clock):
    tenant = await make_tenant()
    unscored = await create_customer(client, tenant.headers)
    weak, fair, strong = [await create_customer(client, tenant.headers) for _ in range(3)]
    await _log(client, tenant.headers, weak["id"], clock.now)  # not effective: 15 + 10 + 5
    await _log(client, tenant.headers, fair["id"], clock.now, call_outcome="connected")  # 60
    await _log(client, tenant.headers, strong["id"], clock.now, call_outcome="connected", satisfaction=5)

    async def listed(sort: str) -> list[tuple[str, int | None]]:
        seen, cursor = [], None
        while True:
            params = {"sort": sort, "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = ok(await client.get("/api/v1/customers", params=params, headers=tenant.headers))
            seen += [(c["id"], c["health_score"]) for c in page["items"]]
            if not (cursor := page["next_cursor"]):
                return seen

    assert await listed("health_score") == [
        (weak["id"], 30),
        (fair["id"], 60),
        (strong["id"], 65),
        (unscored["id"], None),
    ]
    assert await listed("-health_score") == [
        (strong["id"], 65),
        (fair["id"], 60),
        (weak["id"], 30),
        (unscored["id"], None),
    ]
