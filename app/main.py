"""create_app(): routers, error handlers, middleware and the lifespan that owns pools."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.api.conditional_get import ConditionalGetMiddleware
from app.api.errors import install_error_handlers
from app.api.middleware import (
    BodyLimitMiddleware,
    RefuseNulMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
    UnitOfWorkMiddleware,
)
from app.api.openapi_document import finish_document
from app.api.query_parameters import refuse_unknown_query_parameters
from app.api.routers import ROUTE_MODULES, api_routes
from app.api.runtime import Runtime
from app.api.webhook_contract import add_webhooks
from app.bootstrap import build_infrastructure
from app.config import Environment, Settings, get_settings
from app.db import utcnow
from app.observability import configure_logging
from app.workers.jobs import JOB_REGISTRY
from app.workers.queue import InlineQueue


def _operation_id(route: APIRoute) -> str:
    return route.name


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Builds the runtime from the settings and clock the app holds when it starts."""
    settings: Settings = app.state.settings
    clock: Callable[[], datetime] = app.state.clock
    infrastructure = build_infrastructure(settings, clock=clock)
    queue = await infrastructure.queue()
    periodic: list[asyncio.Task[None]] = []
    if isinstance(queue, InlineQueue):
        periodic = [
            asyncio.create_task(queue.run_periodically(job.name, job.schedule.period_seconds))
            for job in JOB_REGISTRY
            if job.schedule is not None
        ]
    app.state.runtime = Runtime(
        settings=settings,
        engine=infrastructure.engine,
        sessionmaker=infrastructure.sessionmaker,
        queue=queue,
        clock=clock,
        jwt_secret=settings.resolved_jwt_secret(),
        storage=infrastructure.storage,
        wecom=infrastructure.wecom,
        list_reader=infrastructure.list_reader,
    )
    try:
        yield
    finally:
        for task in periodic:
            task.cancel()
        await queue.close()
        await infrastructure.aclose()


def create_app(settings: Settings | None = None, *, clock: Callable[[], datetime] = utcnow) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(json=settings.log_json, level=settings.log_level)
    app = FastAPI(
        title="Sales-management backend",
        version="1.0.0",
        description=(
            "Leads, customers, pipelines, SLAs, assignment and KPIs for B2B sales teams. "
            "Errors are RFC 9457 application/problem+json. Any operation may answer 503 with "
            "Retry-After, `database.unavailable` when the database cannot be reached or "
            "`database.connection_lost` when its connection was lost; retry it (with the same "
            "Idempotency-Key for a POST)."
        ),
        lifespan=_lifespan,
        generate_unique_id_function=_operation_id,
        dependencies=[Depends(refuse_unknown_query_parameters)],
        docs_url="/docs" if settings.serves_docs else None,
        redoc_url="/redoc" if settings.serves_docs else None,
        openapi_url="/openapi.json" if settings.serves_docs else None,
    )
    app.state.settings = settings
    app.state.clock = clock
    install_error_handlers(app)
    _add_middleware(app, settings)
    for module in ROUTE_MODULES:
        app.include_router(module.router)
    app.state.api_routes = api_routes()
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    # Added innermost first: context and metrics see everything, the unit of work wraps the routes.
    app.add_middleware(UnitOfWorkMiddleware)
    app.add_middleware(ConditionalGetMiddleware)
    app.add_middleware(RefuseNulMiddleware)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.env is Environment.production)
    # Answers over 1 KB are compressed for clients that accept gzip (a rep on one bar of signal);
    # level 5 costs a fraction of level 9's CPU for nearly its ratio on JSON.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=5)
    if settings.cors_origins:
        # Outermost, so a preflight is answered before anything else and every answer (errors
        # too) carries the CORS headers. Tokens travel in Authorization, so no credentials.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "If-None-Match",
                "Idempotency-Key",
                "X-Request-ID",
            ],
            expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID", "Idempotent-Replayed"],
            max_age=600,
        )


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        add_webhooks(schema)
        finish_document(schema)
        app.openapi_schema = schema
    return app.openapi_schema


app = create_app()
