"""What the app holds for its lifetime: settings, database, job queue and clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.services.identity.wecom_client import WecomClient
from app.services.platform.jobs import JobQueue
from app.services.platform.storage import FileStorage
from app.services.reports.exports import ListReader


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    queue: JobQueue
    clock: Callable[[], datetime]
    jwt_secret: str
    storage: FileStorage
    wecom: WecomClient
    list_reader: ListReader
