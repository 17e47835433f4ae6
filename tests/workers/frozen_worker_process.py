"""An arq worker in a process of its own, for the tests that kill one mid-job.

Usage: python -m tests.workers.frozen_worker_process DATABASE_URL REDIS_URL NOW MARKER

Its clock stands at NOW. When a job of its has written its first outbox event (an SLA sweep its
transitions, an assignment run its first lead) but not yet committed, it touches MARKER and
freezes, so the test can SIGKILL it mid-transaction.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from app.db import create_engine, create_sessionmaker
from app.workers.queue import ArqQueue
from tests.workers.burst import burst_worker

ROOT = Path(__file__).resolve().parents[2]


async def kill_once_frozen(database_url: str, redis_url: str, now: datetime, folder: Path) -> None:
    """Starts this worker, waits (up to a minute) until it froze mid-job, and SIGKILLs it."""
    marker, log = folder / "frozen", folder / "worker.log"
    doomed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.workers.frozen_worker_process",
        database_url,
        redis_url,
        now.isoformat(),
        str(marker),
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(600):  # a minute at most
            if marker.exists() or doomed.returncode is not None:
                break
            await asyncio.sleep(0.1)
        assert marker.exists(), f"the worker never reached the middle of its job:\n{log.read_text()}"
    finally:
        doomed.send_signal(signal.SIGKILL)
        await doomed.wait()


def main() -> None:
    database_url, redis_url, now, marker = sys.argv[1:5]
    frozen = datetime.fromisoformat(now)
    engine = create_engine(database_url)

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def freeze_before_commit(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO outbox_event"):
            Path(marker).touch()
            time.sleep(600)  # blocks the whole process, mid-transaction, until it is killed

    async def work() -> None:
        context = {
            "sessionmaker": create_sessionmaker(engine),
            "queue": await ArqQueue.connect(redis_url),
            "clock": lambda: frozen,
        }
        worker = burst_worker(
            redis_url,
            context,
            poll_delay=0.05,
            # arq lets another worker retry a job this long (+1 s) after it started: the survivors
            # then re-run the killed worker's job, as they would in production after job_timeout.
            job_timeout=5,
        )
        await worker.main()

    asyncio.run(work())


if __name__ == "__main__":
    main()
