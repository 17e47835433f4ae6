"""`crm serve --workers 2` as an operator runs it: an API process that gets no CPU for a while (a
starved container, a host under load) is kept, not killed by uvicorn's supervisor."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import POSTGRES_URL

CRM = str(Path(sys.executable).with_name("crm"))
# Longer than uvicorn's default health check (5 s), shorter than the one `crm serve` sets.
PAUSE_SECONDS = 8


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _api_processes(supervisor: int) -> set[int]:
    """The uvicorn supervisor's serving children (not multiprocessing's resource tracker)."""
    children = set()
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if parent == supervisor and b"resource_tracker" not in command:
            children.add(int(entry.name))
    return children


def _wait_for(condition, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.2)


@pytest.fixture
def served(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """`crm serve --workers 2` on a port of its own; yields (supervisor pid, port)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("several API processes need PostgreSQL")
    port = _free_port()
    environment = {
        **os.environ,
        "CRM_DATABASE_URL": POSTGRES_URL,
        "CRM_REDIS_URL": redis_url,
        "CRM_JWT_SECRET": "serve-test-" + "x" * 40,
        "CRM_VAR_DIR": str(tmp_path),
        "CRM_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [CRM, "serve", "--port", str(port), "--workers", "2"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield server.pid, port
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_an_api_process_paused_longer_than_five_seconds_is_kept(served):
    supervisor, port = served
    _wait_for(lambda: _ready(port) and len(_api_processes(supervisor)) == 2, 60, "two API processes serve")
    before = _api_processes(supervisor)
    paused = min(before)

    os.kill(paused, signal.SIGSTOP)
    time.sleep(PAUSE_SECONDS)  # the fault itself: a process that gets no CPU for this long
    with contextlib.suppress(ProcessLookupError):  # killed meanwhile: the assertion below says so
        os.kill(paused, signal.SIGCONT)

    _wait_for(lambda: _ready(port), 30, "the API answers")
    assert _api_processes(supervisor) == before, "an API process was replaced"
