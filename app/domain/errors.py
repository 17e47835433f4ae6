"""Domain errors with neutral codes; the API layer maps them to HTTP problems."""

from __future__ import annotations

from dataclasses import dataclass


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
