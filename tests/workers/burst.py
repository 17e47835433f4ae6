"""arq workers as the worker tests run them: the app's jobs, in burst mode, with the test's
dependencies in the job context."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Worker

from app.workers.settings import WorkerSettings


def burst_worker(redis_url: str, context: Mapping[str, Any], **options: Any) -> Worker:
    """A worker that runs queued jobs until none is left. Build it inside the running event loop:
    arq binds a Worker to the loop it is created in."""

    async def startup(ctx: dict[str, Any]) -> None:
        ctx.update(context)

    return Worker(
        functions=WorkerSettings.functions,
        redis_settings=RedisSettings.from_dsn(redis_url),
        burst=True,
        on_startup=startup,
        handle_signals=False,
        **options,
    )
