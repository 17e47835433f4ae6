"""The one composition root: the database, file storage, outbound channels and the job context,
built alike for the API's lifespan, the arq worker's start-up and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.api.list_readers import ApiListReader
from app.api.routers import ROUTE_MODULES
from app.config import Settings
from app.db import create_engine, create_sessionmaker, utcnow
from app.encryption import use_keys
from app.services.identity.security import use_password_hashing
from app.services.identity.wecom_client import MemoryCache, RedisCache, WecomCache, WecomClient
from app.services.notifications.channel_delivery import ChannelClient
from app.services.platform.jobs import JobQueue
from app.services.platform.storage import LocalFileStorage
from app.services.reports.exports import ListReader
from app.workers.jobs import JobContext
from app.workers.queue import ArqQueue, InlineQueue


@dataclass
class Infrastructure:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    storage: LocalFileStorage
    channels: ChannelClient
    wecom: WecomClient
    clock: Callable[[], datetime]
    # The lists export jobs write, read through the API's own list routes.
    list_reader: ListReader

    def job_context(self, queue: JobQueue) -> JobContext:
        """What every job function reads from its context; the one place it is assembled."""
        return {
            "sessionmaker": self.sessionmaker,
            "queue": queue,
            "clock": self.clock,
            "storage": self.storage,
            "channels": self.channels,
            "change_log_retention_days": self.settings.change_log_retention_days,
            "list_reader": self.list_reader,
            "export_job_max_rows": self.settings.export_job_max_rows,
        }

    async def queue(self) -> JobQueue:
        """arq on Redis when configured, else the in-process runner over the same job context."""
        if self.settings.redis_url:
            return await ArqQueue.connect(self.settings.redis_url)
        return InlineQueue(self.job_context, self.clock)

    async def aclose(self) -> None:
        await self.channels.aclose()
        await self.wecom.aclose()
        await self.engine.dispose()


def build_infrastructure(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> Infrastructure:
    # The keys that encrypt secrets at rest (webhook and channel secrets) come from these settings.
    use_keys(settings.resolved_secrets_keys())
    use_password_hashing(
        time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib
    )
    if settings.is_sqlite:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        ping_after_idle_seconds=settings.db_ping_after_idle_seconds,
    )
    return Infrastructure(
        settings=settings,
        engine=engine,
        sessionmaker=create_sessionmaker(engine, clock),
        storage=LocalFileStorage(settings.storage_dir),
        channels=ChannelClient(
            allow_private=settings.webhook_allow_private,
            wecom_base_url=settings.wecom_base_url,
            dingtalk_base_url=settings.dingtalk_base_url,
        ),
        wecom=WecomClient(
            base_url=settings.wecom_base_url,
            allow_private=settings.webhook_allow_private,
            clock=clock,
            cache=_wecom_cache(settings),
        ),
        clock=clock,
        list_reader=ApiListReader(route for module in ROUTE_MODULES for route in module.router.routes),
    )


def _wecom_cache(settings: Settings) -> WecomCache:
    """The WeCom access token and JS-SDK ticket are shared through Redis when there is one: WeCom
    limits how often an app fetches them."""
    return RedisCache(settings.redis_url) if settings.redis_url else MemoryCache()
