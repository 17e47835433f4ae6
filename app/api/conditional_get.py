"""Conditional GET for lists and reports: a weak ETag over the answer's bytes, and 304 Not
Modified when the client's `If-None-Match` names it.

A record's answer keeps the ETag its route set: that is the record's version, which `If-Match`
checks before a write. It is not a cache validator, because fields computed as the answer is read
(temperature cooled to now, SLA colours, scores) change without a new version, so a record GET
always answers in full. Only complete JSON answers are digested; a streamed export passes through.
"""

from __future__ import annotations

import hashlib

from starlette.types import Message, Receive, Scope, Send

from app.api.middleware import HttpMiddleware

# What a 304 repeats from the answer it stands for (RFC 9110, 15.4.5); the body and its
# description go.
_KEPT_ON_NOT_MODIFIED = {b"etag", b"cache-control", b"vary", b"x-request-id"}


def weak_etag(body: bytes) -> str:
    return f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'


def names_etag(if_none_match: str, etag: str) -> bool:
    """Weak comparison, as If-None-Match uses: `W/` prefixes do not count; `*` matches anything."""
    wanted = etag.removeprefix("W/")
    offered = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in offered or wanted in offered


class ConditionalGetMiddleware(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if_none_match = _header(scope, b"if-none-match")
        start: Message | None = None

        async def send_with_etag(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            answer, start = start, None
            if answer["status"] != 200 or message.get("more_body") or not _is_json(answer):
                await send(answer)
                await send(message)
                return
            await _send_conditionally(answer, message, if_none_match, send)

        await self.app(scope, receive, send_with_etag)


async def _send_conditionally(start: Message, body: Message, if_none_match: str | None, send: Send) -> None:
    headers = list(start.get("headers", []))
    own_etag = next((value.decode("latin-1") for name, value in headers if name.lower() == b"etag"), None)
    if own_etag is not None:
        # A record's version: see the module's docstring.
        await send(start)
        await send(body)
        return
    etag = weak_etag(body.get("body", b""))
    headers.append((b"etag", etag.encode("latin-1")))
    if if_none_match is not None and names_etag(if_none_match, etag):
        kept = [(name, value) for name, value in headers if name.lower() in _KEPT_ON_NOT_MODIFIED]
        await send({"type": "http.response.start", "status": 304, "headers": kept})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({**start, "headers": headers})
    await send(body)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


def _is_json(start: Message) -> bool:
    for name, value in start.get("headers", []):
        if name.lower() == b"content-type":
            content_type: bytes = value
            return content_type.split(b";")[0].strip() == b"application/json"
    return False
