"""Liveness, readiness and Prometheus metrics, outside /api/v1."""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from app.api.deps import RuntimeDep
from app.api.errors import problem_response, problem_responses
from app.config import Environment
from app.metrics import render_metrics

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ok", "database": "ok", "redis": "not_configured"}]}
    )

    status: Literal["ok"] = "ok"
    database: Literal["ok"] = "ok"
    redis: Literal["ok", "not_configured"]


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health()


@router.get("/readyz", response_model=Readiness, responses=problem_responses(503))
async def readyz(runtime: RuntimeDep) -> Readiness | Response:
    try:
        async with runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        return problem_response(
            503, f"The database is unreachable: {type(exc).__name__}", code="ready.database"
        )
    redis_state: Literal["ok", "not_configured"] = "not_configured"
    if runtime.settings.redis_url:
        if not await runtime.queue.ping():
            return problem_response(503, "Redis is unreachable.", code="ready.redis")
        redis_state = "ok"
    return Readiness(redis=redis_state)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"},
        **problem_responses(401, 404),
    },
)
async def metrics(runtime: RuntimeDep, authorization: Annotated[str | None, Header()] = None) -> Response:
    settings = runtime.settings
    token = settings.metrics_token
    if token is None and settings.env is Environment.production:
        return problem_response(404, "Metrics are off: set CRM_METRICS_TOKEN.", code="route.not_found")
    if token is not None and not hmac.compare_digest(
        (authorization or "").encode(), f"Bearer {token}".encode()
    ):
        return problem_response(401, "The metrics token is missing or wrong.", code="auth.metrics_token")
    return Response(render_metrics(), media_type="text/plain; version=0.0.4; charset=utf-8")
