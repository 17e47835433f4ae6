"""An arq worker in a process of its own, for the test that kills one mid-run.

Usage: python -m tests.workers.sla_worker_process DATABASE_URL REDIS_URL NOW MARKER

Its clock stands at NOW. When its SLA sweep has written a batch's transitions and outbox events
but not yet committed, it touches MARKER and freezes, so the test can SIGKILL it mid-transaction.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from app.db import create_engine, create_sessionmaker
from app.workers.queue import ArqQueue
from tests.workers.burst import burst_worker


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
