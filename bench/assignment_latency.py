"""Time from POST /leads answering to the lead being assigned, with an arq worker on Redis.

An open-loop client posts leads at a fixed rate (default 100/s for 60 s) to `crm serve`; one or
more `crm worker` processes run the assignment jobs. For each lead, latency is the moment the
assignment wrote it (its updated_at, stamped by the worker's flush right before the commit) minus
the moment the client had the 201 answer. Both clocks are this machine's wall clock.

Run: .venv/bin/python -m bench.assignment_latency --rate 100 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import time
from datetime import UTC, datetime

import httpx
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.common import CRM, REDIS_URL, prepare

PASSWORD = "bench-password-1"
PORT = 8091
REPS = 7


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _wait_ready() -> None:
    for _ in range(150):
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the API did not become ready")


def _set_up_rule(client: httpx.Client) -> None:
    user_ids = []
    for n in range(REPS):
        response = client.post(
            "/api/v1/users",
            json={
                "username": f"bench-rep-{n}",
                "display_name": f"销售{n}",
                "password": PASSWORD,
                "role": "rep",
            },
        )
        response.raise_for_status()
        user_ids.append(response.json()["id"])
    client.post(
        "/api/v1/assignment-rules",
        json={
            "name": "华东轮询",
            "priority": 1,
            "strategy": "round_robin",
            "user_ids": user_ids,
            "conditions": [{"field": "region", "operator": "eq", "value": "华东"}],
        },
    ).raise_for_status()
    client.post(
        "/api/v1/assignment-rules",
        json={"name": "其余最少负载", "priority": 2, "strategy": "least_loaded", "user_ids": user_ids},
    ).raise_for_status()


async def _post_leads(token: str, rate: float, seconds: float) -> tuple[dict[str, float], list[float], int]:
    """Open loop: request i is sent at start + i / rate whether or not earlier ones answered."""
    answered: dict[str, float] = {}
    response_ms: list[float] = []
    errors = 0
    total = int(rate * seconds)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{PORT}",
        headers={"Authorization": f"Bearer {token}"},
        limits=limits,
        timeout=30,
    ) as client:

        async def post(n: int) -> None:
            nonlocal errors
            sent = time.time()
            try:
                response = await client.post(
                    "/api/v1/leads",
                    json={
                        "name": f"客户{n}",
                        "source": "web_form",
                        "phone": f"136{n:08d}",
                        "region": "华东" if n % 4 else "华南",
                        "product_line": "防水材料",
                    },
                )
            except httpx.HTTPError:
                errors += 1
                return
            received = time.time()
            if response.status_code != 201:
                errors += 1
                return
            answered[response.json()["id"]] = received
            response_ms.append((received - sent) * 1000)

        start = time.perf_counter()
        tasks = []
        for n in range(total):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(n)))
        await asyncio.gather(*tasks)
    return answered, response_ms, errors


async def _assignment_latencies(database_url: str, answered: dict[str, float]) -> tuple[list[float], int]:
    """Per lead: when the assignment wrote it (updated_at, stamped at the flush just before the
    commit) minus when the client had the 201."""
    engine = create_async_engine(database_url)
    for _ in range(120):
        async with engine.connect() as connection:
            waiting = await connection.scalar(text("SELECT count(*) FROM lead WHERE status = 'new'"))
        if not waiting:
            break
        await asyncio.sleep(0.5)
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT id, updated_at FROM lead WHERE status <> 'new'"))
        assigned_at = {str(lead_id): updated_at.timestamp() for lead_id, updated_at in rows}
    await engine.dispose()
    latencies = [
        (assigned_at[lead_id] - received) * 1000
        for lead_id, received in answered.items()
        if lead_id in assigned_at
    ]
    return latencies, int(waiting or 0)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * share), len(ordered) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--job-workers", type=int, default=1)
    parser.add_argument("--poll-delay", type=float, default=None, help="CRM_WORKER_POLL_DELAY for the worker")
    args = parser.parse_args()

    redis.Redis.from_url(REDIS_URL).flushdb()
    database_url, env = prepare("crm_bench_assign", admin="bench-admin", password=PASSWORD)
    if args.poll_delay is not None:
        env["CRM_WORKER_POLL_DELAY"] = str(args.poll_delay)
    processes = [_start([CRM, "serve", "--port", str(PORT), "--workers", str(args.api_workers)], env)]
    processes += [_start([CRM, "worker"], env) for _ in range(args.job_workers)]
    try:
        _wait_ready()
        token = httpx.post(
            f"http://127.0.0.1:{PORT}/api/v1/auth/token",
            data={"username": "bench-admin", "password": PASSWORD},
        ).json()["access_token"]
        with httpx.Client(
            base_url=f"http://127.0.0.1:{PORT}", headers={"Authorization": f"Bearer {token}"}
        ) as client:
            _set_up_rule(client)
        answered, response_ms, errors = asyncio.run(_post_leads(token, args.rate, args.seconds))
        latencies, waiting = asyncio.run(_assignment_latencies(database_url, answered))
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
    print(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "rate_per_second": args.rate,
                "seconds": args.seconds,
                "api_workers": args.api_workers,
                "job_workers": args.job_workers,
                "poll_delay": args.poll_delay,
                "leads_created": len(answered),
                "post_errors": errors,
                "post_p50_ms": round(statistics.median(response_ms), 1),
                "post_p95_ms": round(_percentile(response_ms, 0.95), 1),
                "assigned_measured": len(latencies),
                "still_unassigned": waiting,
                "assign_p50_ms": round(_percentile(latencies, 0.50), 1),
                "assign_p95_ms": round(_percentile(latencies, 0.95), 1),
                "assign_p99_ms": round(_percentile(latencies, 0.99), 1),
                "assign_max_ms": round(max(latencies), 1),
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
