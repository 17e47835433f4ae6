"""Soak: minutes of mixed traffic against 2 API processes and 2 arq workers, watching for errors,
latency drift and memory growth.

The script makes a database of its own (crm_soak), starts a Redis of its own on a free port (or
uses --redis-url), `crm serve --workers 2` and two `crm worker`s, sets up 20 reps and a round-robin
rule, then drives, open loop (request i of a stream is due at start + i / rate, answered or not):
lead ingest (POST /leads, 100/s), activity posts on leads created at least 10 s before (POST
/activities, 20/s), lead list reads (GET /leads, 10/s) and status board reads (GET /status-board,
2/s), over 64 kept-alive connections. What the connections could not send by the end is counted
as unsent. Every 10 s it samples the RSS of every process it started. At the end it waits for the
workers to assign every lead and deliver every outbox event, stops everything, and prints JSON:
error rate, achieved rates, p50/p95/p99 per route from when each request was due (so time queued
in the client counts) and p50/p95 from when it was sent, the CPU its processes used, and the RSS
series per process with its growth after the first minute.

Run: .venv/bin/python -m bench.soak --minutes 10
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.common import (
    CRM,
    ROOT,
    create_reps,
    descendants,
    get_request,
    json_post,
    percentile,
    prepare,
    read_response,
    start_detached,
    wait_until_serving,
)

PASSWORD = "bench-password-1"
PORT = 8097
REPS = 20
ACTIVITY_AFTER_SECONDS = 10
# Connections are renewed after this many requests, as behind a load balancer: a kept-alive
# connection stays with the API process that accepted it, and the first one up would take all.
REQUESTS_PER_CONNECTION = 100
LOGS = ROOT / "var" / "soak"


@dataclass
class Stream:
    """One kind of request: its rate, and how to make the n-th one (None: not possible yet)."""

    route: str
    rate: float
    expected_status: int
    request: Callable[[int], bytes | None]
    latencies_ms: list[float] = field(default_factory=list)  # from when the request was due
    server_ms: list[float] = field(default_factory=list)  # from when it was sent
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    skipped: int = 0
    unsent: int = 0

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())

    @property
    def errors(self) -> int:
        return self.answered - self.statuses[self.expected_status]


class Traffic:
    def __init__(self, token: str, rates: dict[str, float]) -> None:
        # (answered at, id) of the leads created lately; activities go to those a few seconds old,
        # as a rep's call comes after the lead was assigned to them.
        self.recent_leads: collections.deque[tuple[float, str]] = collections.deque(maxlen=2000)
        self.streams = [
            Stream("POST /api/v1/leads", rates["leads"], 201, lambda n: self._lead(token, n)),
            Stream("POST /api/v1/activities", rates["activities"], 201, lambda n: self._activity(token, n)),
            Stream(
                "GET /api/v1/leads",
                rates["lists"],
                200,
                lambda n: get_request(PORT, "/api/v1/leads?limit=50", token),
            ),
            Stream(
                "GET /api/v1/status-board",
                rates["boards"],
                200,
                lambda n: get_request(PORT, "/api/v1/status-board?limit=50", token),
            ),
        ]

    def _lead(self, token: str, n: int) -> bytes:
        lead = {
            "name": f"客户{n}",
            "company": f"建材公司{n}",
            "source": "web_form",
            "phone": f"135{n:08d}",
            "region": "华东",
            "product_line": "防水材料",
        }
        return json_post(PORT, "/api/v1/leads", token, lead)

    def _activity(self, token: str, n: int) -> bytes | None:
        settled = time.perf_counter() - ACTIVITY_AFTER_SECONDS
        old_enough = [lead_id for answered, lead_id in self.recent_leads if answered <= settled]
        if not old_enough:
            return None
        activity = {
            "type": "call",
            "occurred_at": datetime.now(UTC).isoformat(),
            "lead_id": old_enough[n % len(old_enough)],
            "notes": f"电话回访 {n}",
            "client_id": f"soak-{n}",
        }
        return json_post(PORT, "/api/v1/activities", token, activity)

    async def run(
        self, seconds: float, connections: int, on_sample: Callable[[float], None], every: float
    ) -> None:
        """Drives every stream for `seconds`; what the connections could not send by then is
        counted as unsent rather than sent late."""
        due: asyncio.Queue[tuple[Stream, int, float]] = asyncio.Queue()
        start = time.perf_counter()
        end = start + seconds

        async def schedule(stream: Stream) -> None:
            for n in range(int(stream.rate * seconds)):
                delay = start + n / stream.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                due.put_nowait((stream, n, start + n / stream.rate))

        async def connection() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
            for sent_on_it in itertools.count(1):
                if time.perf_counter() >= end:
                    break
                try:
                    stream, n, due_at = await asyncio.wait_for(due.get(), end - time.perf_counter())
                except TimeoutError:
                    break
                request = stream.request(n)
                if request is None:
                    stream.skipped += 1
                    continue
                sent = time.perf_counter()
                writer.write(request)
                try:
                    status, body = await read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    status = 0  # the server closed the connection: an error, and a new connection
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
                answered = time.perf_counter()
                stream.latencies_ms.append((answered - due_at) * 1000)
                stream.server_ms.append((answered - sent) * 1000)
                stream.statuses[status] += 1
                if status == 201 and stream is self.streams[0]:
                    self.recent_leads.append((answered, json.loads(body)["id"]))
                if sent_on_it % REQUESTS_PER_CONNECTION == 0:
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
            writer.close()

        async def sample() -> None:
            while True:
                await asyncio.sleep(every)
                on_sample(time.perf_counter() - start)

        sampler = asyncio.create_task(sample())
        schedulers = [asyncio.create_task(schedule(stream)) for stream in self.streams]
        await asyncio.gather(*(connection() for _ in range(connections)))
        for scheduler in schedulers:
            scheduler.cancel()
        sampler.cancel()
        while not due.empty():
            due.get_nowait()[0].unsent += 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(kilobytes) / 1024


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _label(pid: int, role: str) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f"{role} {pid}"
    if "resource_tracker" in command:
        return f"{role} resource tracker {pid}"
    return f"{role} {pid}"


def _processes(
    api: subprocess.Popen[bytes], workers: list[subprocess.Popen[bytes]], redis: int | None
) -> dict[str, int]:
    """Every process the soak started, by a label: the uvicorn supervisor, its API processes, the
    workers, and the Redis of its own."""
    found = {f"api supervisor {api.pid}": api.pid}
    found |= {_label(child, "api process"): child for child in descendants(api.pid)}
    found |= {f"worker {worker.pid}": worker.pid for worker in workers}
    if redis is not None:
        found[f"redis-server {redis}"] = redis
    return found


async def _drain(database_url: str, seconds: float) -> dict[str, object]:
    """Waits until every lead is assigned and every outbox event delivered, at most `seconds`."""
    engine = create_async_engine(database_url)
    started = time.perf_counter()
    while True:
        async with engine.connect() as connection:
            waiting = await connection.scalar(text("SELECT count(*) FROM lead WHERE owner_id IS NULL"))
            pending = await connection.scalar(
                text("SELECT count(*) FROM outbox_event WHERE status = 'pending'")
            )
            leads = await connection.scalar(text("SELECT count(*) FROM lead"))
            activities = await connection.scalar(text("SELECT count(*) FROM activity"))
        if (not waiting and not pending) or time.perf_counter() - started > seconds:
            break
        await asyncio.sleep(1)
    await engine.dispose()
    return {
        "seconds_to_drain": round(time.perf_counter() - started, 1),
        "leads_stored": leads,
        "activities_stored": activities,
        "leads_unassigned": waiting,
        "outbox_pending": pending,
    }


def _growth(samples: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of RSS over time after the first minute, in MB per 10 minutes."""
    settled = [(t, mb) for t, mb in samples if t >= 60]
    if len(settled) < 3:
        return None
    times, sizes = [t for t, _ in settled], [mb for _, mb in settled]
    return round(statistics.linear_regression(times, sizes).slope * 600, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--lead-rate", type=float, default=100)
    parser.add_argument("--activity-rate", type=float, default=20)
    parser.add_argument("--list-rate", type=float, default=10)
    parser.add_argument("--board-rate", type=float, default=2)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--job-workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64, help="client keep-alive connections")
    parser.add_argument("--sample-seconds", type=float, default=10)
    parser.add_argument("--redis-url", help="a Redis to use instead of one of the soak's own")
    args = parser.parse_args()

    LOGS.mkdir(parents=True, exist_ok=True)
    redis_server = None
    redis_url = args.redis_url
    if redis_url is None:
        binary = shutil.which("redis-server")
        if binary is None:
            sys.exit("redis-server is not installed; pass --redis-url")
        redis_port = _free_port()
        redis_server = start_detached(
            [binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {}
        )
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
    database_url, env = prepare("crm_soak", admin="bench-admin", password=PASSWORD)
    env["CRM_REDIS_URL"] = redis_url
    processes = [
        start_detached(
            [CRM, "serve", "--port", str(PORT), "--workers", str(args.api_workers)], env, LOGS / "api.log"
        )
    ]
    workers = [
        start_detached([CRM, "worker"], env, LOGS / f"worker-{n}.log") for n in range(args.job_workers)
    ]
    processes += workers
    rss: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    load_average: list[float] = []
    try:
        wait_until_serving(f"http://127.0.0.1:{PORT}/readyz")
        token = httpx.post(
            f"http://127.0.0.1:{PORT}/api/v1/auth/token",
            data={"username": "bench-admin", "password": PASSWORD},
        ).json()["access_token"]
        with httpx.Client(
            base_url=f"http://127.0.0.1:{PORT}", headers={"Authorization": f"Bearer {token}"}
        ) as client:
            rule = {"name": "全员轮询", "priority": 1, "strategy": "round_robin"}
            client.post(
                "/api/v1/assignment-rules", json={**rule, "user_ids": create_reps(client, REPS, PASSWORD)}
            ).raise_for_status()
        traffic = Traffic(
            token,
            {
                "leads": args.lead_rate,
                "activities": args.activity_rate,
                "lists": args.list_rate,
                "boards": args.board_rate,
            },
        )
        redis_pid = redis_server.pid if redis_server else None
        monitored = _processes(processes[0], workers, redis_pid)
        answered_before = [0] * len(traffic.streams)

        def sample(elapsed: float) -> None:
            # uvicorn replaces an API process that misses its health check: the new one joins.
            monitored.update(_processes(processes[0], workers, redis_pid))
            for label, pid in monitored.items():
                if (size := _rss_mb(pid)) is not None:
                    rss[label].append((elapsed, size))
            load_average.append(os.getloadavg()[0])
            rates = []
            for index, stream in enumerate(traffic.streams):
                rates.append(f"{(stream.answered - answered_before[index]) / args.sample_seconds:.0f}")
                answered_before[index] = stream.answered
            sizes = " ".join(f"{series[-1][1]:.0f}" for series in rss.values())
            print(
                f"{elapsed:6.0f} s  answered/s {'/'.join(rates)}  "
                f"errors {sum(s.errors for s in traffic.streams)}  RSS MB {sizes}  "
                f"load {load_average[-1]:.1f}",
                file=sys.stderr,
                flush=True,
            )

        sample(0)
        cpu_before = {label: _cpu_seconds(pid) or 0.0 for label, pid in monitored.items()}
        started = time.perf_counter()
        asyncio.run(traffic.run(args.minutes * 60, args.connections, sample, args.sample_seconds))
        elapsed = time.perf_counter() - started
        cores_used = {
            label: round((used - cpu_before.get(label, 0.0)) / elapsed, 2)
            for label, pid in monitored.items()
            if (used := _cpu_seconds(pid)) is not None
        }
        drained = asyncio.run(_drain(database_url, 120))
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
        if redis_server is not None:
            redis_server.terminate()
            redis_server.wait(timeout=10)

    answered = sum(stream.answered for stream in traffic.streams)
    errors = sum(stream.errors for stream in traffic.streams)
    print(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "minutes": args.minutes,
                "api_workers": args.api_workers,
                "job_workers": args.job_workers,
                "connections": args.connections,
                "cpus": os.cpu_count(),
                "load_average_1min": {
                    "min": min(load_average),
                    "median": statistics.median(load_average),
                    "max": max(load_average),
                },
                "seconds": round(elapsed, 1),
                "processes_seen": list(monitored),
                "cores_used_by_the_soaks_live_processes": cores_used,
                "requests": answered,
                "errors": errors,
                "error_rate": round(errors / max(answered, 1), 5),
                "routes": {
                    stream.route: {
                        "target_per_second": stream.rate,
                        "achieved_per_second": round(stream.answered / elapsed, 1),
                        "answered": stream.answered,
                        "unsent": stream.unsent,
                        "skipped": stream.skipped,
                        "statuses": dict(stream.statuses),
                        "p50_ms": round(percentile(stream.latencies_ms, 0.50), 1),
                        "p95_ms": round(percentile(stream.latencies_ms, 0.95), 1),
                        "p99_ms": round(percentile(stream.latencies_ms, 0.99), 1),
                        "max_ms": round(max(stream.latencies_ms), 1),
                        "server_p50_ms": round(percentile(stream.server_ms, 0.50), 1),
                        "server_p95_ms": round(percentile(stream.server_ms, 0.95), 1),
                    }
                    for stream in traffic.streams
                    if stream.latencies_ms
                },
                "after_traffic": drained,
                "rss_mb": {
                    label: {
                        "first": round(series[0][1], 1),
                        "at_1_min": round(next((mb for t, mb in series if t >= 60), series[-1][1]), 1),
                        "last": round(series[-1][1], 1),
                        "max": round(max(mb for _, mb in series), 1),
                        "growth_mb_per_10_min_after_1_min": _growth(series),
                        "samples": [round(mb) for _, mb in series],
                    }
                    for label, series in rss.items()
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
