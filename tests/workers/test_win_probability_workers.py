"""The nightly retrain: the hourly job trains an organization in its local night, once a day."""

from __future__ import annotations

from datetime import UTC, datetime

from app.services.platform.jobs import JobName, JobRequest
from tests.api.helpers import bearer
from tests.conftest import sign_in


async def _nightly(app, client, tenant):  # type: ignore[no-untyped-def]
    """Runs the hourly job at the clock's time; the newest model's version then (None: no model)."""
    runtime = app.state.runtime
    await runtime.queue.enqueue(JobRequest(JobName.retrain_win_models))
    await runtime.queue.drain()
    token = await sign_in(client, tenant.admin_username)  # a token of the moved clock's time
    answer = await client.get("/api/v1/scoring/models/current", headers=bearer(token))
    return answer.json() if answer.status_code == 200 else None


async def test_the_hourly_job_retrains_an_organization_in_its_night_once_a_day(
    client, app, clock, make_tenant
):
    tenant = await make_tenant()  # Asia/Shanghai
    clock.now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 there: not its night
    assert await _nightly(app, client, tenant) is None

    clock.now = datetime(2026, 11, 23, 18, 30, tzinfo=UTC)  # 02:30 there
    assert (await _nightly(app, client, tenant))["version"] == 1
    clock.advance(hours=1)  # 03:30, the same night: already trained
    assert (await _nightly(app, client, tenant))["version"] == 1

    clock.advance(days=1)  # the next night
    trained = await _nightly(app, client, tenant)
    assert (trained["version"], trained["trained_at"]) == (2, "2026-11-24T19:30:00Z")
