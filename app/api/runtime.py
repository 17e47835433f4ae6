"""What the app holds for its lifetime: settings, database, job queue and clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.services.exports import ListReader
from app.services.jobs import JobQueue
from app.services.storage import FileStorage
from app.services.wecom_client import WecomClient


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
