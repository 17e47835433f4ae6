"""ASGI middleware: request context and metrics, body limits, and the request's unit of work."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import connection_lost_problem, problem_response
from app.api.runtime import Runtime
from app.config import Settings
from app.metrics import HTTP_LATENCY, HTTP_REQUESTS
from app.services import idempotency
from app.services.idempotency import StoredResponse
from app.services.unit_of_work import commit, rollback

log = structlog.get_logger("app.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Headers a replayed answer must carry again; the rest belong to the moment.
_REPLAYED_HEADERS = {"content-type", "location", "etag"}


def _commit_conflict() -> Response:
    return problem_response(
        409, "The change conflicts with a concurrent change; reload and retry.", code="conflict.commit"
    )


def _runtime(scope: Scope) -> Runtime:
    runtime: Runtime = scope["app"].state.runtime
    return runtime


class RequestContextMiddleware:
    """Request id (echoed and logged), access log, Prometheus metrics, and a problem for any crash."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        offered = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("http.unhandled_error", method=scope["method"], path=scope["path"])
            if not response_started:
                response = problem_response(
                    500, "An unexpected error occurred; it has been logged.", code="internal_error"
                )
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path_format", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], template, str(status)).inc()
            HTTP_LATENCY.labels(scope["method"], template).observe(elapsed)
            log.info(
                "http.request",
                method=scope["method"],
                path=scope["path"],
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()


def _limit_for(path: str, settings: Settings) -> int:
    """Uploads may be larger than JSON bodies; everything else keeps the small default."""
    if path.endswith("/import"):
        return settings.max_import_bytes
    if path.endswith("/attachments"):
        return settings.max_attachment_bytes + 64 * 1024  # room for the multipart envelope
    return settings.max_request_bytes


class BodyLimitMiddleware:
    """413 for bodies over the limit, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = _limit_for(scope["path"], _runtime(scope).settings)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            response = problem_response(
                413, f"The request body exceeds {limit} bytes.", code="request.too_large"
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI passes an HTTPException raised while reading the body through unchanged.
                    raise HTTPException(413, f"The request body exceeds {limit} bytes.")
            return message

        await self.app(scope, limited_receive, send)


class RequestUnitOfWork:
    """The request's session, opened on first use; committed before the response leaves."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._session: AsyncSession | None = None
        self.idempotency_record: Any = None
        # What an Idempotency-Key replays when the answer itself must not be stored (a secret).
        self.replay_body: bytes | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self._runtime.sessionmaker()
        return self._session

    async def finish(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> Response | None:
        """Commit on success, roll back otherwise; the problem to answer instead when the commit fails."""
        if self._session is None:
            return None
        session = self._session
        try:
            if status >= 400:
                await rollback(session)
                return None
            if self.idempotency_record is not None:
                kept = {
                    k.decode("latin-1"): v.decode("latin-1")
                    for k, v in headers
                    if k.decode("latin-1").lower() in _REPLAYED_HEADERS
                }
                stored = body if self.replay_body is None else self.replay_body
                idempotency.complete(self.idempotency_record, StoredResponse(status, kept, stored))
            await commit(session, self._runtime.queue)
            return None
        except DBAPIError as exc:
            await rollback(session)
            if exc.connection_invalidated:
                log.warning("db.connection_lost_at_commit", error=str(exc.orig)[:500])
                return connection_lost_problem(
                    "The connection to the database was lost while saving, so the change may or may "
                    "not be saved: read it back, or retry with the same Idempotency-Key."
                )
            if not isinstance(exc, IntegrityError | OperationalError):
                raise
            log.info("db.commit_conflict", error=str(exc)[:500])
            return _commit_conflict()
        except StaleDataError as exc:
            await rollback(session)
            log.info("db.commit_conflict", error=str(exc)[:500])
            return _commit_conflict()
        finally:
            await session.close()

    async def abandon(self) -> None:
        if self._session is not None:
            await rollback(self._session)
            await self._session.close()


class UnitOfWorkMiddleware:
    """Holds the response until the transaction has committed, so a client never sees an
    answer for a change that was then lost, and an Idempotency-Key stores the exact answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        unit = RequestUnitOfWork(_runtime(scope))
        scope.setdefault("state", {})["unit_of_work"] = unit
        start: Message | None = None
        chunks: list[bytes] = []
        finished = False

        async def buffered_send(message: Message) -> None:
            nonlocal start, finished
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            finished = True
            body = b"".join(chunks)
            problem = await unit.finish(start["status"], start.get("headers", []), body)
            if problem is not None:
                await problem(scope, receive, send)
                return
            await send(start)
            await send({"type": "http.response.body", "body": body})

        try:
            await self.app(scope, receive, buffered_send)
        except BaseException:
            await unit.abandon()
            raise
        if not finished:
            await unit.abandon()
