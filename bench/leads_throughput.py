"""POST /leads throughput through the API (N uvicorn processes) next to raw asyncpg inserts.

Both sides write the same rows per lead in one transaction: the lead, its audit event and its
outbox event. Run: .venv/bin/python bench/leads_throughput.py --seconds 20 --connections 32
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from bench.common import (
    CRM,
    asyncpg_dsn,
    cpu_seconds,
    first_organization_id,
    json_post,
    prepare,
    read_response,
    wait_until_serving,
)

PASSWORD = "bench-password-1"
PORT = 8089


def _phone(n: int) -> str:
    return f"139{n:08d}"


async def drive_api(seconds: float, connections: int, token: str, start: int) -> dict[str, object]:
    """Closed loop: each connection posts a lead, waits for the answer, and posts the next."""
    counter = itertools.count(start)
    latencies: list[float] = []
    errors: dict[int, int] = {}
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
        while time.perf_counter() < deadline:
            n = next(counter)
            lead = {"name": f"客户{n}", "source": "web_form", "phone": _phone(n), "company": f"建材公司{n}"}
            started = time.perf_counter()
            writer.write(json_post(PORT, "/api/v1/leads", token, lead))
            status, _ = await read_response(reader)
            latencies.append(time.perf_counter() - started)
            if status != 201:
                errors[status] = errors.get(status, 0) + 1
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "client": "bench.common HTTP/1.1",
        "requests": len(latencies),
        "per_second": len(latencies) / elapsed,
        "errors": sum(errors.values()),
        "error_statuses": errors,  # type: ignore[dict-item]
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95)] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


async def insert_lead_rows(
    connection: asyncpg.Connection,
    organization_id: uuid.UUID,
    *,
    name: str,
    company: str,
    phone: str,
    possible_duplicates: str = "[]",
) -> tuple[uuid.UUID, datetime]:
    """The rows a created lead writes (the lead, its audit event, its outbox event), in one transaction."""
    now = datetime.now(UTC)
    lead_id = uuid.uuid4()
    async with connection.transaction():
        await connection.execute(
            """INSERT INTO lead (id, organization_id, created_at, updated_at, version, name, company,
               phone, phone_key, company_key, source, status, possible_duplicates, tags, custom_fields)
               VALUES ($1, $2, $3, $3, 1, $4, $5, $6, $6, $7, 'web_form', 'new', $8, '[]', '{}')""",
            lead_id,
            organization_id,
            now,
            name,
            company,
            phone,
            company,
            possible_duplicates,
        )
        await connection.execute(
            """INSERT INTO audit_event (id, organization_id, occurred_at, actor_type, action,
               entity_type, entity_id, after) VALUES ($1, $2, $3, 'user', 'lead.created', 'lead', $4, $5)""",
            uuid.uuid4(),
            organization_id,
            now,
            lead_id,
            json.dumps({"name": name}),
        )
        await connection.execute(
            """INSERT INTO outbox_event (id, organization_id, topic, payload, created_at, status,
               attempts, next_attempt_at) VALUES ($1, $2, 'lead.created', $3, $4, 'pending', 0, $4)""",
            uuid.uuid4(),
            organization_id,
            json.dumps({"lead_id": str(lead_id)}),
            now,
        )
    return lead_id, now


async def drive_raw(
    dsn: str, seconds: float, connections: int, organization_id: uuid.UUID, start: int
) -> dict[str, float]:
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    counter = itertools.count(start)
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        async with pool.acquire() as connection:
            while time.perf_counter() < deadline:
                n = next(counter)
                await insert_lead_rows(
                    connection,
                    organization_id,
                    name=f"客户{n}",
                    company=f"建材公司{n}",
                    phone="+86" + _phone(n),
                )
                done += 1

    # Sampled while the pool's backends live: a backend's CPU leaves /proc with it.
    client_cpu, database_cpu = time.process_time(), cpu_seconds(command="postgres")
    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    client_cpu, database_cpu = (
        time.process_time() - client_cpu,
        cpu_seconds(command="postgres") - database_cpu,
    )
    await pool.close()
    return {
        "inserts": done,
        "per_second": done / elapsed,
        "client_cpu_ms_per_insert": client_cpu / done * 1000,
        "postgres_cpu_ms_per_insert": database_cpu / done * 1000,
    }


def _drive_wrk(seconds: float, connections: int, token: str) -> dict[str, object]:
    """wrk (C) generates the load when installed, so the client does not eat the API's CPU."""
    script = Path(__file__).with_name("post_leads.lua")
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{PORT}",
        ],
        env={**os.environ, "BENCH_TOKEN": token},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    latency = dict(re.findall(r"\s+(50|90|99)%\s+([\d.]+\w+)", output))
    return {
        "client": "wrk",
        "requests": requests,
        "per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
        "latency": latency,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    url, env = prepare("crm_bench_leads", admin="bench-admin", password=PASSWORD)
    env["PROMETHEUS_MULTIPROC_DIR"] = ""
    env.pop("PROMETHEUS_MULTIPROC_DIR")
    server = subprocess.Popen(
        [CRM, "serve", "--port", str(PORT), "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{PORT}/readyz")
        token = httpx.post(
            f"http://127.0.0.1:{PORT}/api/v1/auth/token",
            data={"username": "bench-admin", "password": PASSWORD},
        ).json()["access_token"]
        asyncio.run(drive_api(2, args.connections, token, start=90_000_000))  # warm-up
        api_cpu, database_cpu = cpu_seconds(process_group=server.pid), cpu_seconds(command="postgres")
        if shutil.which("wrk"):
            api = _drive_wrk(args.seconds, args.connections, token)
        else:
            api = asyncio.run(drive_api(args.seconds, args.connections, token, start=0))
        requests = int(api["requests"])  # type: ignore[call-overload]
        api["api_cpu_ms_per_request"] = (cpu_seconds(process_group=server.pid) - api_cpu) / requests * 1000
        api["postgres_cpu_ms_per_request"] = (
            (cpu_seconds(command="postgres") - database_cpu) / requests * 1000
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    dsn = asyncpg_dsn(url)
    organization_id = asyncio.run(first_organization_id(dsn))
    raw = asyncio.run(drive_raw(dsn, args.seconds, args.connections, organization_id, start=50_000_000))
    result = {
        "api": api,
        "raw_asyncpg": raw,
        "api_over_raw": float(api["per_second"]) / raw["per_second"],  # type: ignore[arg-type]
        "workers": args.workers,
        "connections": args.connections,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
