"""ASGI middleware: request context and metrics, body limits, and the request's unit of work."""

from __future__ import annotations

import json
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
from app.domain.platform.errors import FieldError
from app.metrics import HTTP_LATENCY, HTTP_REQUESTS
from app.services.platform import idempotency
from app.services.platform.idempotency import StoredResponse
from app.services.platform.unit_of_work import commit, rollback

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


class HttpMiddleware:
    """An ASGI middleware for HTTP requests; other scopes (lifespan) pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class RequestContextMiddleware(HttpMiddleware):
    """Request id (echoed and logged), access log, Prometheus metrics, and a problem for any crash."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
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


_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class SecurityHeadersMiddleware(HttpMiddleware):
    """Headers every answer carries: no MIME sniffing, no referrer, and `Cache-Control: no-store`
    unless a route chose its own (the API's answers hold personal data and tokens); HSTS when the
    service runs in production (behind TLS)."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        super().__init__(app)
        self.hsts = hsts

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                if self.hsts:
                    headers.append(_HSTS)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _limit_for(path: str, settings: Settings) -> int:
    """Uploads may be larger than JSON bodies; everything else keeps the small default."""
    if path.endswith("/import"):
        return settings.max_import_bytes
    if path.endswith("/attachments"):
        return settings.max_attachment_bytes + 64 * 1024  # room for the multipart envelope
    return settings.max_request_bytes


class BodyLimitMiddleware(HttpMiddleware):
    """413 for bodies over the limit, whether announced by Content-Length or streamed."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
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


_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_FORM_NUL = re.compile(rb"(?:^|&)([^=&]*)=[^&]*%00", re.IGNORECASE)


def _nul_path(value: Any, path: str = "") -> str | None:
    """Where in a decoded JSON value a NUL character sits (`tags[0]`, `settings.a`), if anywhere."""
    if isinstance(value, str):
        return path or "body" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return where
            found = _nul_path(item, where)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _nul_problem(field: str, where: str) -> Response:
    return problem_response(
        422,
        "Text may not contain NUL (\\u0000) characters.",
        code="request.nul_character",
        errors=[FieldError(field, "nul_character", f"the {where} contains a NUL (\\u0000) character")],
    )


class RefuseNulMiddleware(HttpMiddleware):
    """422 for a NUL character in a JSON body, a form field or a query parameter.

    PostgreSQL cannot store NUL in text or JSON and SQLite can, so the same input failed late (a 500
    or a database error) on one dialect and was stored on the other; refused here, it is refused the
    same way everywhere and names its field. File uploads (multipart) are left to their readers.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = _FORM_NUL.search(scope.get("query_string", b""))
        if query is not None:
            await _nul_problem(query.group(1).decode("latin-1") or "query", "query parameter")(
                scope, receive, send
            )
            return
        content_type = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
        is_json = content_type == b"application/json" or content_type.endswith(b"+json")
        if not is_json and content_type != b"application/x-www-form-urlencoded":
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        try:
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
        except HTTPException as exc:
            # BodyLimitMiddleware's 413 for a streamed body, raised here rather than inside FastAPI.
            await problem_response(exc.status_code, str(exc.detail), code="request.too_large")(
                scope, receive, send
            )
            return
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        field = self._nul_field(body, is_json)
        if field is not None:
            await _nul_problem(field, "field")(scope, receive, send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _nul_field(body: bytes, is_json: bool) -> str | None:
        if not is_json:
            match = _FORM_NUL.search(body)
            return match.group(1).decode("latin-1") or "body" if match is not None else None
        if _NUL_ESCAPE.search(body) is None:
            return None  # the common case: no escape that could decode to NUL, no parsing here
        try:
            return _nul_path(json.loads(body))
        except ValueError:
            return None  # malformed JSON is the route's 422 to give


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


class UnitOfWorkMiddleware(HttpMiddleware):
    """Holds the response until the transaction has committed, so a client never sees an
    answer for a change that was then lost, and an Idempotency-Key stores the exact answer."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
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
