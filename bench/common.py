"""Shared set-up for benchmarks: a fresh PostgreSQL database migrated to head, and an admin."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
CRM = str(Path(sys.executable).with_name("crm"))


async def recreate_database(name: str) -> str:
    engine = create_async_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    await engine.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def bench_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "CRM_DATABASE_URL": database_url,
        "CRM_REDIS_URL": REDIS_URL,
        "CRM_JWT_SECRET": "bench-secret-" + "x" * 40,
        "CRM_LOG_LEVEL": "WARNING",
        "CRM_VAR_DIR": str(ROOT / "var" / "bench"),
        "CRM_STORAGE_DIR": str(ROOT / "var" / "bench" / "files"),
        **extra,
    }


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def demo_database(name: str) -> str:
    """Fresh database at head with the demo distributor seeded; returns its URL."""
    url = asyncio.run(recreate_database(name))
    env = bench_env(url)
    subprocess.run([CRM, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([CRM, "seed-demo"], env=env, check=True, capture_output=True)
    return url


def prepare(name: str, *, admin: str, password: str) -> tuple[str, dict[str, str]]:
    """Fresh database at head with one organization; returns its URL and the environment to run crm in."""
    url = asyncio.run(recreate_database(name))
    env = bench_env(url)
    subprocess.run([CRM, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [
            CRM,
            "create-org",
            "--name",
            "Bench Materials",
            "--admin-username",
            admin,
            "--admin-password",
            password,
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    return url, env


def create_reps(client: httpx.Client, count: int, password: str) -> list[str]:
    """`count` reps created through the API (`bench-rep-0` ...) by the client's admin; their ids."""
    user_ids = []
    for n in range(count):
        response = client.post(
            "/api/v1/users",
            json={
                "username": f"bench-rep-{n}",
                "display_name": f"销售{n}",
                "password": password,
                "role": "rep",
            },
        )
        response.raise_for_status()
        user_ids.append(response.json()["id"])
    return user_ids


def json_post(port: int, path: str, token: str, payload: dict[str, object]) -> bytes:
    """An HTTP/1.1 POST with a JSON body, as bytes, for `read_response` on a kept-alive connection.

    The load generators speak HTTP by hand: a general-purpose client (httpx) costs this 2-core
    machine several ms of CPU per request, which it takes from the server being measured.
    """
    body = json.dumps(payload).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def get_request(port: int, path: str, token: str) -> bytes:
    """An HTTP/1.1 GET, as bytes, for `read_response` on a kept-alive connection (see json_post)."""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one response with a Content-Length (what the API always sends)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    if length is None:
        raise ConnectionError("response without Content-Length")
    return status, await reader.readexactly(int(length.group(1)))


def cpu_seconds(process_group: int | None = None, command: str | None = None) -> float:
    """CPU (user + system) used so far by the processes of a process group, or whose command line
    contains `command`; read from /proc, so Linux only. Sampled before and after a run, the
    difference per request does not move with what other tenants of the VM take from the cores."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        group_matches = process_group is not None and int(fields[2]) == process_group
        if group_matches or (command is not None and command in cmdline):
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_until_serving(url: str, attempts: int = 150) -> None:
    """Polls `url` every 0.2 s until it answers 200; a server that never does fails the bench."""
    for _ in range(attempts):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200")


async def first_organization_id(dsn: str) -> uuid.UUID:
    """The organization `prepare` created (the only one in its database)."""
    connection = await asyncpg.connect(dsn)
    value = await connection.fetchval("SELECT id FROM organization LIMIT 1")
    await connection.close()
    return uuid.UUID(str(value))


def start_detached(
    command: list[str], env: dict[str, str], log: Path | None = None
) -> subprocess.Popen[bytes]:
    """A process in a session of its own (stop it with os.killpg), its output appended to `log`
    or discarded."""
    output = log.open("ab") if log else subprocess.DEVNULL
    return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)


def descendants(pid: int) -> list[int]:
    """The children of `pid`, their children, and so on."""
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(child) for child in found] + [grand for child in found for grand in descendants(int(child))]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * share), len(ordered) - 1)]


@contextmanager
def crm_serving(database_url: str, port: int, **extra: str) -> Iterator[None]:
    """`crm serve` on `port` over `database_url` until the block ends. A port something already
    answers on is refused: a server left there (on another database) would answer instead."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} is taken: stop what serves there or pass --port")
    server = subprocess.Popen(
        [CRM, "serve", "--port", str(port)],
        env=bench_env(database_url, **extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/readyz")
        yield
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
