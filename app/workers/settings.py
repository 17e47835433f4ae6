"""arq worker: `arq app.workers.settings.WorkerSettings` (or `crm worker`)."""

from __future__ import annotations

from typing import Any, ClassVar

from arq import cron
from arq.connections import RedisSettings

from app.config import get_settings
from app.db import create_engine, create_sessionmaker, utcnow
from app.observability import configure_logging
from app.services.channel_delivery import ChannelClient
from app.services.storage import LocalFileStorage
from app.workers.jobs import (
    assign_waiting_leads,
    dispatch_outbox,
    fire_sla_timers,
    purge_idempotency_records,
    recycle_leads,
    run_import,
    send_deliveries,
    sweep_outbox,
)
from app.workers.queue import ArqQueue


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    configure_logging(json=settings.log_json, level=settings.log_level)
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        ping_after_idle_seconds=settings.db_ping_after_idle_seconds,
    )
    ctx["engine"] = engine
    ctx["sessionmaker"] = create_sessionmaker(engine)
    ctx["queue"] = ArqQueue(ctx["redis"])
    ctx["clock"] = utcnow
    ctx["storage"] = LocalFileStorage(settings.storage_dir)
    ctx["channels"] = ChannelClient(
        allow_private=settings.webhook_allow_private,
        wecom_base_url=settings.wecom_base_url,
        dingtalk_base_url=settings.dingtalk_base_url,
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["channels"].aclose()
    await ctx["engine"].dispose()


def redis_settings() -> RedisSettings:
    settings = get_settings()
    return RedisSettings.from_dsn(settings.redis_url or "redis://127.0.0.1:6379/0")


class WorkerSettings:
    functions: ClassVar[list[Any]] = [
        dispatch_outbox,
        sweep_outbox,
        purge_idempotency_records,
        run_import,
        assign_waiting_leads,
        recycle_leads,
        fire_sla_timers,
        send_deliveries,
    ]
    cron_jobs: ClassVar[list[Any]] = [
        cron(sweep_outbox, second=0, unique=True),
        cron(assign_waiting_leads, second=20, unique=True),
        cron(fire_sla_timers, second=30, unique=True),
        cron(send_deliveries, second=45, unique=True),
        cron(recycle_leads, minute=set(range(0, 60, 5)), second=40, unique=True),
        cron(purge_idempotency_records, minute=17, second=30, unique=True),
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings()
    # Jobs are idempotent and retried by the sweeps, so a job cut short by a restart is re-run.
    max_tries = 5
    poll_delay = get_settings().worker_poll_delay
