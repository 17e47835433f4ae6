"""Every error leaves as RFC 9457 application/problem+json; domain codes map to HTTP statuses here."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.path_parameters import malformed_path_ids
from app.api.schemas.common import Problem, ProblemFieldError
from app.domain.platform.errors import (
    Conflict,
    DomainError,
    FieldError,
    Gone,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    RateLimited,
    TooLarge,
    UpstreamRefused,
    UpstreamUnavailable,
    validation_field_errors,
)
from app.observability import current_request_id
from app.services.platform.idempotency import StoredResponse

log = structlog.get_logger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://errors.salescrm.dev/"

_STATUS_BY_ERROR: list[tuple[type[DomainError], int]] = [
    (NotAuthenticated, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (PreconditionFailed, 412),
    (Gone, 410),
    (InvalidInput, 422),
    (RateLimited, 429),
    (TooLarge, 413),
    (UpstreamRefused, 502),
    (UpstreamUnavailable, 503),
]


class ReplayStoredResponse(Exception):
    """Raised by the idempotency dependency to answer with the first response to this key."""

    def __init__(self, stored: StoredResponse) -> None:
        self.stored = stored


def status_of(error: DomainError) -> int:
    for error_type, status in _STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return status
    return 422


def problem_response(
    status: int,
    detail: str,
    *,
    code: str,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
    instance: str | None = None,
    extensions: Mapping[str, str] | None = None,
) -> JSONResponse:
    problem = Problem(
        type=PROBLEM_TYPE_BASE + code,
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        code=code,
        instance=instance,
        request_id=current_request_id(),
        errors=[ProblemFieldError(field=e.field, code=e.code, message=e.message) for e in errors or []],
        **(extensions or {}),
    )
    return JSONResponse(
        problem.model_dump(mode="json", exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers) if headers else None,
    )


def problem_of(error: DomainError, *, instance: str | None = None) -> Problem:
    """The problem a domain error answers, as a body part (a bulk edit's per-item result)."""
    status = status_of(error)
    return Problem(
        type=PROBLEM_TYPE_BASE + error.code,
        title=HTTPStatus(status).phrase,
        status=status,
        detail=error.detail,
        code=error.code,
        instance=instance,
        errors=[ProblemFieldError(field=e.field, code=e.code, message=e.message) for e in error.errors],
        **error.extensions,
    )


async def _on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    status = status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    if isinstance(exc, NotAuthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, UpstreamUnavailable):
        headers["Retry-After"] = "5"
    return problem_response(
        status,
        exc.detail,
        code=exc.code,
        errors=exc.errors,
        headers=headers or None,
        instance=request.url.path,
        extensions=exc.extensions,
    )


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = validation_field_errors(exc.errors(), {"body": exc.body})
    return problem_response(
        422, "The request is not valid.", code="request.invalid", errors=errors, instance=request.url.path
    )


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (the router only names the first route's)."""
    methods: set[str] = set()
    # The operations, not app.routes: FastAPI nests each included router there as one route.
    for route in request.app.state.api_routes:
        if route.path_regex.match(request.url.path):
            methods |= set(route.methods or ()) - {"HEAD"}
    return ", ".join(sorted(methods))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's answer to a body it cannot decode (not UTF-8, broken multipart): the same
        # class of mistake as malformed JSON, which the contract answers with 422.
        return problem_response(
            422,
            "The request body cannot be read; send UTF-8 JSON or valid multipart form data.",
            code="request.body_unreadable",
            instance=request.url.path,
        )
    if exc.status_code == 404 and (malformed := malformed_path_ids(request)):
        return problem_response(
            422,
            f"Not an id: {', '.join(error.field for error in malformed)} in the path must be a UUID.",
            code="request.invalid",
            errors=malformed,
            instance=request.url.path,
        )
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    code = {404: "route.not_found", 405: "method.not_allowed", 413: "request.too_large"}.get(
        exc.status_code, f"http.{exc.status_code}"
    )
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem_response(
        exc.status_code, detail, code=code, headers=headers or None, instance=request.url.path
    )


async def _on_integrity_error(request: Request, exc: Exception) -> Response:
    # Constraints are the last line against races; the services check first for a friendlier message.
    log.info("db.integrity_conflict", error=str(exc.__cause__ or exc)[:500])
    return problem_response(
        409,
        "The change conflicts with existing data (a concurrent request may have made it first).",
        code="conflict.constraint",
        instance=request.url.path,
    )


def connection_lost_problem(
    detail: str = "The connection to the database was lost; retry the request (a POST with the same "
    "Idempotency-Key).",
    instance: str | None = None,
) -> JSONResponse:
    """A pooled database connection died under the request; the pool replaces it, so a retry works.
    The request's transaction is rolled back; a route that committed on its own may have saved."""
    return problem_response(
        503, detail, code="database.connection_lost", headers={"Retry-After": "1"}, instance=instance
    )


async def _on_unreachable(request: Request, exc: Exception) -> Response:
    """A connection refused or reset inside a request: the database (or Redis) is down or
    restarting. Outbound HTTP (webhooks, WeCom) runs in jobs, not here, and raises httpx's errors."""
    log.warning("db.unreachable", error=repr(exc)[:500])
    return problem_response(
        503,
        "The database cannot be reached at the moment; retry shortly.",
        code="database.unavailable",
        headers={"Retry-After": "5"},
        instance=request.url.path,
    )


# PostgreSQL gave up one of two transactions that waited on each other (deadlock_detected,
# serialization_failure): the request did nothing and the same request again succeeds.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


async def _on_database_error(request: Request, exc: Exception) -> Response:
    """A lost connection is the server's trouble (503, retry); PostgreSQL refusing NUL characters
    in text is bad input (422); a transaction PostgreSQL chose to abort for a concurrent one is a
    409 to retry."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        log.warning("db.connection_lost", error=str(exc.orig)[:500])
        return connection_lost_problem(instance=request.url.path)
    driver_error = getattr(exc, "orig", None)
    if getattr(driver_error, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        log.warning("db.transaction_aborted_for_concurrency", error=str(driver_error)[:500])
        return problem_response(
            409,
            "Another request changed the same records at the same moment; retry.",
            code="conflict.concurrent_update",
            headers={"Retry-After": "1"},
            instance=request.url.path,
        )
    message = str(getattr(exc, "orig", exc))
    if "0x00" in message or "CharacterNotInRepertoire" in type(getattr(exc, "orig", exc)).__name__:
        return problem_response(
            422,
            "Text may not contain NUL (\\u0000) characters.",
            code="request.nul_character",
            instance=request.url.path,
        )
    raise exc


async def _on_stale_data(request: Request, exc: Exception) -> Response:
    return problem_response(
        409,
        "The record was changed by someone else at the same moment; reload it and retry.",
        code="conflict.concurrent_update",
        instance=request.url.path,
    )


async def _on_replay(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ReplayStoredResponse)
    headers = {str(k): str(v) for k, v in exc.stored.headers.items()}
    headers["Idempotent-Replayed"] = "true"
    return Response(content=exc.stored.body, status_code=exc.stored.status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(IntegrityError, _on_integrity_error)
    app.add_exception_handler(DBAPIError, _on_database_error)
    app.add_exception_handler(ConnectionError, _on_unreachable)
    app.add_exception_handler(StaleDataError, _on_stale_data)
    app.add_exception_handler(ReplayStoredResponse, _on_replay)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the errors a route can answer (moved to problem+json in main.openapi)."""
    return {status: {"model": Problem, "description": HTTPStatus(status).phrase} for status in statuses}
