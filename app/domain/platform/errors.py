"""Domain errors with neutral codes; the API layer maps them to HTTP problems."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message: str


class DomainError(Exception):
    """Base of every rule violation a client can cause; `code` is stable and machine-readable."""

    code: str = "domain.error"

    def __init__(
        self, detail: str, *, code: str | None = None, errors: list[FieldError] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.errors = errors or []
        # RFC 9457 extension members for the problem body, e.g. the id of a record a duplicate matched.
        self.extensions: dict[str, str] = {}


class NotFound(DomainError):
    code = "not_found"


class PermissionDenied(DomainError):
    code = "permission.denied"


class NotAuthenticated(DomainError):
    code = "auth.not_authenticated"


class Conflict(DomainError):
    code = "conflict"


class InvalidInput(DomainError):
    code = "invalid"


class TooLarge(DomainError):
    code = "request.too_large"


class PreconditionFailed(DomainError):
    code = "precondition.failed"


class Gone(DomainError):
    """What the request names existed but is no longer kept (a change-feed cursor past retention)."""

    code = "gone"


class RateLimited(DomainError):
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class UpstreamRefused(DomainError):
    """A service the API calls on the client's behalf (WeCom) answered with an error of its own."""

    code = "upstream.refused"


class UpstreamUnavailable(DomainError):
    """A service the API calls on the client's behalf cannot be reached now; retrying may work."""

    code = "upstream.unavailable"


# Where pydantic says a request's value came from; not part of the field as the client names it.
_SOURCES = ("body", "query", "path", "header", "cookie")


def validation_field_errors(
    errors: Iterable[Mapping[str, Any]], document: Any = None, *, prefix: tuple[str, ...] = ()
) -> list[FieldError]:
    """pydantic's validation errors as field errors: the one conversion, for a request (`document`
    keyed by source: {"body": ...}) and for a stored document checked in the domain (`prefix` names
    where it sits in the request, `document` is keyed from there)."""
    return [
        FieldError(
            field=_field_path((*prefix, *_loc(error)), document),
            code=str(error.get("type", "invalid")),
            message=str(error["msg"]),
        )
        for error in errors
    ]


def _field_path(loc: tuple[Any, ...], document: Any) -> str:
    """The field as the request names it (`conditions[0].operator`, `custom_fields.budget_band`), the
    one notation of every problem's `field`: list indexes in brackets, keys dotted; without the source
    (`body`, `query` ...) or the tag pydantic inserts for a tagged union's member (`release` in
    `release.reason` when the body says `"action": "release"`), which no client wrote."""
    parts: list[str] = []
    node = document
    for index, part in enumerate(loc):
        if part in _SOURCES and not parts:
            node = _step(node, part)
            continue
        # pydantic marks an invalid key of a map with a step of its own after it.
        if part == "[key]":
            continue
        # A member's tag is a step that is no key of the object there but one of its values (the
        # discriminator's), and is always followed by the member's own field.
        inner = index + 1 < len(loc)
        if (
            inner
            and isinstance(node, dict)
            and isinstance(part, str)
            and part not in node
            and part in node.values()
        ):
            continue
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}" if parts else str(part))
        node = _step(node, part)
    return "".join(parts) or str(loc[0] if loc else "request")


def _loc(error: Mapping[str, Any]) -> tuple[Any, ...]:
    loc = tuple(error.get("loc", ()))
    if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):
        # pydantic places a missing or unknown tag on the object; the client wrote the field.
        return (*loc, str(error.get("ctx", {}).get("discriminator", "")).strip("'"))
    return loc


def _step(node: Any, part: Any) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None
