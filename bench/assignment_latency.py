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

from bench.common import (
    CRM,
    REDIS_URL,
    create_reps,
    descendants,
    json_post,
    percentile,
    prepare,
    read_response,
    start_detached,
    wait_until_serving,
)

PASSWORD = "bench-password-1"
PORT = 8091
REPS = 7


def _set_up_rule(client: httpx.Client) -> None:
    user_ids = create_reps(client, REPS, PASSWORD)
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


def _lead_request(token: str, n: int) -> bytes:
    lead = {
        "name": f"客户{n}",
        "source": "web_form",
        "phone": f"136{n:08d}",
        "region": "华东" if n % 4 else "华南",
        "product_line": "防水材料",
    }
    return json_post(PORT, "/api/v1/leads", token, lead)


async def _post_leads(
    token: str, rate: float, seconds: float, connections: int
) -> tuple[dict[str, float], list[float], int]:
    """Open loop: request i is due at start + i / rate whether or not earlier ones answered,
    sent over `connections` kept-alive connections. Response time counts from when a request was
    due, so time spent waiting for a free connection is not hidden."""
    answered: dict[str, float] = {}
    response_ms: list[float] = []
    errors = 0
    total = int(rate * seconds)
    due: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
        while (item := await due.get()) is not None:
            n, due_at = item
            writer.write(_lead_request(token, n))
            try:
                status, body = await read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
                continue
            received = time.time()
            if status != 201:
                errors += 1
                continue
            answered[json.loads(body)["id"]] = received
            response_ms.append((received - due_at) * 1000)
        writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    start = time.perf_counter()
    offset = time.time() - start
    for n in range(total):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        due.put_nowait((n, offset + start + n / rate))
    for _ in workers:
        due.put_nowait(None)
    await asyncio.gather(*workers)
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


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes and their children, from /proc."""
    ticks = 0
    for pid in pids:
        for member in [pid, *descendants(pid)]:
            try:
                with open(f"/proc/{member}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _pids_of(name: str) -> list[int]:
    return [
        int(pid)
        for pid in subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout.split()
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--job-workers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32, help="client keep-alive connections")
    parser.add_argument("--poll-delay", type=float, default=None, help="CRM_WORKER_POLL_DELAY for the worker")
    args = parser.parse_args()

    redis.Redis.from_url(REDIS_URL).flushdb()
    database_url, env = prepare("crm_bench_assign", admin="bench-admin", password=PASSWORD)
    if args.poll_delay is not None:
        env["CRM_WORKER_POLL_DELAY"] = str(args.poll_delay)
    processes = [start_detached([CRM, "serve", "--port", str(PORT), "--workers", str(args.api_workers)], env)]
    processes += [start_detached([CRM, "worker"], env) for _ in range(args.job_workers)]
    try:
        wait_until_serving(f"http://127.0.0.1:{PORT}/readyz")
        token = httpx.post(
            f"http://127.0.0.1:{PORT}/api/v1/auth/token",
            data={"username": "bench-admin", "password": PASSWORD},
        ).json()["access_token"]
        with httpx.Client(
            base_url=f"http://127.0.0.1:{PORT}", headers={"Authorization": f"Bearer {token}"}
        ) as client:
            _set_up_rule(client)
        groups = {
            "api": [processes[0].pid],
            "workers": [p.pid for p in processes[1:]],
            "postgres": _pids_of("postgres"),
            "redis": _pids_of("redis-server"),
        }
        cpu_before = {name: _cpu_seconds(pids) for name, pids in groups.items()}
        client_before = time.process_time()
        answered, response_ms, errors = asyncio.run(
            _post_leads(token, args.rate, args.seconds, args.connections)
        )
        time.sleep(1)  # the last runs finish
        cpu_ms_per_lead = {
            name: round((_cpu_seconds(pids) - cpu_before[name]) * 1000 / max(len(answered), 1), 2)
            for name, pids in groups.items()
        }
        cpu_ms_per_lead["client"] = round(
            (time.process_time() - client_before) * 1000 / max(len(answered), 1), 2
        )
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
                "connections": args.connections,
                "leads_created": len(answered),
                "post_errors": errors,
                "post_p50_ms": round(statistics.median(response_ms), 1),
                "post_p95_ms": round(percentile(response_ms, 0.95), 1),
                "assigned_measured": len(latencies),
                "still_unassigned": waiting,
                "assign_p50_ms": round(percentile(latencies, 0.50), 1),
                "assign_p95_ms": round(percentile(latencies, 0.95), 1),
                "assign_p99_ms": round(percentile(latencies, 0.99), 1),
                "assign_max_ms": round(max(latencies), 1),
                "cpu_ms_per_lead": cpu_ms_per_lead,
                "cpus": os.cpu_count(),
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
