"""Request latency while the in-process job runner works off a backlog (issue 23, point 5).

Seeds a tenant with bench.scale_data (`--preset ci`: 50,000 leads, 50,000 SLA timers, of which a
few thousand still run; `--leads` scales it), makes up to `--backlog` running or warned SLA timers overdue (warned and due an hour ago), so that the first start has SLA
transitions, notifications and outbox events to work off, then serves the API without Redis (the
in-process runner works the backlog in the serving process) and times `GET /leads` as the director,
one call every 100 ms, until no overdue timer is left, then as many calls again on the idle server.
Prints p50/p95 while the runner catches up and after, their ratio, and how long the backlog took.

Run:
    .venv/bin/python -m bench.runner_backlog --database crm_backlog_bench
    .venv/bin/python -m bench.runner_backlog --database crm_backlog_bench --reuse   # data kept, backlog made again
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import asyncpg
import httpx

from bench.common import (
    ADMIN_URL,
    CRM,
    ROOT,
    asyncpg_dsn,
    bench_env,
    percentile,
    start_detached,
    wait_until_serving,
)
from bench.scale_data import PASSWORD, USERNAME_PREFIX

PORT = 8147
PACE_SECONDS = 0.1
OVERDUE = """
    UPDATE sla_timer SET warn_at = now() - interval '2 hours', due_at = now() - interval '1 hour',
                         next_fire_at = now() - interval '1 hour', escalate_at = '[]'
    WHERE id IN (SELECT id FROM sla_timer WHERE state IN ('running', 'warned') ORDER BY id LIMIT $1)
"""
LEFT = "SELECT count(*) FROM sla_timer WHERE state IN ('running', 'warned') AND next_fire_at <= now()"


async def _make_backlog(dsn: str, timers: int) -> int:
    connection = await asyncpg.connect(dsn)
    await connection.execute(OVERDUE, timers)
    left = int(await connection.fetchval(LEFT))
    await connection.close()
    return left


async def _time_calls(client: httpx.AsyncClient, token: str, samples: list[float]) -> None:
    started = time.perf_counter()
    response = await client.get(
        "/api/v1/leads", params={"limit": 20}, headers={"Authorization": f"Bearer {token}"}
    )
    response.raise_for_status()
    samples.append((time.perf_counter() - started) * 1000)
    await asyncio.sleep(PACE_SECONDS)


async def _measure(dsn: str, port: int, deadline_s: float) -> dict[str, object]:
    connection = await asyncpg.connect(dsn)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        response = await client.post(
            "/api/v1/auth/token", data={"username": USERNAME_PREFIX + "director", "password": PASSWORD}
        )
        token = response.json()["access_token"]
        busy: list[float] = []
        started = time.monotonic()
        left_at_start = int(await connection.fetchval(LEFT))
        while time.monotonic() - started < deadline_s:
            await _time_calls(client, token, busy)
            if len(busy) % 10 == 0 and int(await connection.fetchval(LEFT)) == 0:
                break
        caught_up_s = time.monotonic() - started
        left_at_end = int(await connection.fetchval(LEFT))
        idle: list[float] = []
        for _ in range(max(len(busy), 100)):
            await _time_calls(client, token, idle)
    await connection.close()
    return {
        "overdue_timers_at_start": left_at_start,
        "overdue_timers_left": left_at_end,
        "catch_up_s": round(caught_up_s, 1),
        "busy_calls": len(busy),
        "busy_p50_ms": round(percentile(busy, 0.5), 1),
        "busy_p95_ms": round(percentile(busy, 0.95), 1),
        "idle_calls": len(idle),
        "idle_p50_ms": round(percentile(idle, 0.5), 1),
        "idle_p95_ms": round(percentile(idle, 0.95), 1),
        "p95_ratio": round(percentile(busy, 0.95) / percentile(idle, 0.95), 2),
        "p50_ratio": round(percentile(busy, 0.5) / percentile(idle, 0.5), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="crm_backlog_bench")
    parser.add_argument("--reuse", action="store_true", help="keep the seeded data")
    parser.add_argument("--leads", type=int, help="scale the seeded tenant to this many leads")
    parser.add_argument("--backlog", type=int, default=20_000, help="live timers made overdue, at most")
    parser.add_argument("--deadline", type=float, default=900, help="seconds to wait for the catch-up")
    parser.add_argument("--port", type=int, default=PORT)
    args = parser.parse_args()
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{args.database}"
    if not args.reuse:
        command = [sys.executable, "-m", "bench.scale_data", "--database", args.database, "--preset", "ci"]
        subprocess.run(command + (["--leads", str(args.leads)] if args.leads else []), check=True, cwd=ROOT)
    print(f"overdue timers: {asyncio.run(_make_backlog(asyncpg_dsn(url), args.backlog))}", flush=True)
    env = bench_env(url)
    del env["CRM_REDIS_URL"]  # no Redis: the serving process runs the jobs itself
    server = start_detached(
        [CRM, "serve", "--port", str(args.port)], env, ROOT / "var" / "runner_backlog.log"
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{args.port}/readyz")
        result = asyncio.run(_measure(asyncpg_dsn(url), args.port, args.deadline))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(json.dumps({"database": args.database, "backlog": args.backlog, **result}, ensure_ascii=False))


if __name__ == "__main__":
    main()
