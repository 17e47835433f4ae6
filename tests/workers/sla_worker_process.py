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

from arq.connections import RedisSettings
from arq.worker import Worker
from sqlalchemy import event

from app.db import create_engine, create_sessionmaker
from app.workers.queue import ArqQueue
from app.workers.settings import WorkerSettings


def main() -> None:
    database_url, redis_url, now, marker = sys.argv[1:5]
    frozen = datetime.fromisoformat(now)
    engine = create_engine(database_url)

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def freeze_before_commit(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO outbox_event"):
            Path(marker).touch()
            time.sleep(600)  # blocks the whole process, mid-transaction, until it is killed

    async def startup(ctx: dict[str, Any]) -> None:
        ctx.update(
            sessionmaker=create_sessionmaker(engine),
            queue=await ArqQueue.connect(redis_url),
            clock=lambda: frozen,
        )

    async def work() -> None:
        # Built inside the running loop: arq's Worker binds itself to the loop it is created in.
        worker = Worker(
            functions=WorkerSettings.functions,
            redis_settings=RedisSettings.from_dsn(redis_url),
            burst=True,
            poll_delay=0.05,
            # arq lets another worker retry a job this long (+1 s) after it started: the survivors
            # then re-run the killed worker's job, as they would in production after job_timeout.
            job_timeout=5,
            on_startup=startup,
            handle_signals=False,
        )
        await worker.main()

    asyncio.run(work())


if __name__ == "__main__":
    main()
