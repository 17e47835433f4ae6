"""Dependencies that name what a route needs: session, principal, permission, clock, paging."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, Header, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, BeforeValidator, WithJsonSchema
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile as StarletteUploadFile

from app.api.errors import ReplayStoredResponse
from app.api.middleware import RequestUnitOfWork
from app.api.runtime import Runtime
from app.api.schemas.common import DayOrTimestamp
from app.domain.identity.permissions import Permission
from app.domain.identity.principal import Principal
from app.domain.platform.errors import FieldError, InvalidInput, NotAuthenticated, PermissionDenied
from app.domain.reports.exports import requested_format
from app.services.identity import auth
from app.services.platform import idempotency
from app.services.platform.list_filters import period_of
from app.services.platform.pagination import CURSOR_PATTERN, MAX_LIMIT, ListOptions

_bearer = HTTPBearer(auto_error=False, description="A JWT from POST /api/v1/auth/token, or an API key.")


# Dependencies are `async def` even without I/O: FastAPI runs a plain `def` in a worker thread,
# a thread hop and a GIL hand-off on every request.
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(request: Request) -> AsyncSession:
    unit: RequestUnitOfWork = request.state.unit_of_work
    return unit.session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_now(runtime: RuntimeDep) -> datetime:
    return runtime.clock()


NowDep = Annotated[datetime, Depends(get_now)]


async def get_principal(
    session: SessionDep,
    runtime: RuntimeDep,
    now: NowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise NotAuthenticated("Send Authorization: Bearer <token or API key>.", code="auth.missing")
    return await auth.principal_from_token(
        session, credentials.credentials, secret=runtime.jwt_secret, now=now
    )


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    """`Depends(require(Permission.users_write))`: the principal, if the matrix grants it."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.can(permission):
            raise PermissionDenied(
                f"Your role lacks the permission {permission.value}.", code="permission.denied"
            )
        return principal

    return dependency


# What If-Match accepts, in the contract and here alike: an ETag this API issued, weak or strong, or *.
_IF_MATCH = re.compile(r'^(?:\*|(?:W/)?"([0-9]{1,18})")$')


def etag_for(version: int) -> str:
    return f'"{version}"'


class _Versioned(Protocol):
    @property
    def version(self) -> int: ...


Answer = TypeVar("Answer", bound=_Versioned)


def with_etag(response: Response, answer: Answer) -> Answer:
    """The answer of a versioned record, its version sent as the ETag (what If-Match then names)."""
    response.headers["ETag"] = etag_for(answer.version)
    return answer


# The response header a versioned record's answers declare in the contract.
ETAG_HEADER = {"ETag": {"description": "The version, for If-Match.", "schema": {"type": "string"}}}


async def get_expected_version(
    if_match: Annotated[
        str | None,
        Header(description="The ETag of the version you edit; 412 if the record has moved on."),
        WithJsonSchema({"type": "string", "pattern": _IF_MATCH.pattern, "examples": ['"3"', 'W/"3"', "*"]}),
    ] = None,
) -> int | None:
    if if_match is None:
        return None
    match = _IF_MATCH.fullmatch(if_match)
    if match is None:
        raise InvalidInput(
            'If-Match must be an ETag such as "3".',
            code="request.if_match_invalid",
            errors=[FieldError("If-Match", "format", 'an ETag such as "3"')],
        )
    version = match.group(1)  # none for *: whichever version the record is at
    return None if version is None else int(version)


ExpectedVersion = Annotated[int | None, Depends(get_expected_version)]


def _true_or_false(value: Any) -> Any:
    # Query text is parsed by hand: the lenient reading also takes 1, 0, yes and on, which the
    # contract's boolean does not allow.
    if value not in ("true", "false"):
        raise ValueError('use "true" or "false"')
    return value == "true"


TrueOrFalse = Annotated[bool, BeforeValidator(_true_or_false)]
"""A boolean in a query string: exactly `true` or `false`."""

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, at most 200.")]

MAX_IDS = 100


def _split_ids(value: Any) -> Any:
    # `?ids=a,b&ids=c`: repeated, comma-separated, or both; the bound counts the ids, not the parameters.
    if not isinstance(value, list):
        return value
    return [part.strip() for item in value for part in str(item).split(",")]


Ids = Annotated[
    list[uuid.UUID] | None,
    BeforeValidator(_split_ids),
    Query(
        max_length=MAX_IDS,
        description=(
            "Batch lookup: only these records, repeated (`ids=a&ids=b`) and/or comma-separated "
            "(`ids=a,b`), at most 100 UUIDs. Those the caller cannot see, or that do not exist, are "
            "simply absent from the page; combinable with the other filters."
        ),
    ),
]


async def get_list_options(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    updated_since: Annotated[
        DayOrTimestamp | None,
        Query(
            description="Only records whose updated_at is at or after this instant, or since the start "
            "of this day (YYYY-MM-DD, in the organization's time zone) (incremental sync; with "
            "sort=updated_at the pages follow the change order, ties broken by id)."
        ),
    ] = None,
    include: Annotated[
        str | None,
        Query(
            pattern=r"^total$",
            description="total: also count the records over all pages (`total`, at most 10,000, then "
            "`total_capped`); costs one more query reading up to 10,001 rows.",
        ),
    ] = None,
) -> ListOptions:
    # A list answered as a file (Accept: CSV/XLSX, app/api/list_export.py) reads every page and
    # writes no count: include=total would only count the whole list again for each page.
    as_file = requested_format(request.headers.get("accept", "")) is not None
    since = (await period_of(session, principal, updated_since, None)).start
    return ListOptions(updated_since=since, include_total=include == "total" and not as_file)


SORT_BY_CHANGE = "updated_at: in the order the records last changed, ties broken by id (incremental sync)."

ListOptionsDep = Annotated[ListOptions, Depends(get_list_options)]
"""What every list takes besides its own filters: `updated_since` and `include=total`."""
CreatedSort = Annotated[
    str, Query(pattern=r"^-?(created_at|updated_at)$", description="created_at; " + SORT_BY_CHANGE)
]
"""The sort of a list whose only order is its records' creation."""
DeletedSort = Annotated[
    str,
    Query(
        pattern=r"^-?(deleted_at|updated_at)$",
        description="deleted_at: in the order of deletion; " + SORT_BY_CHANGE,
    ),
]
Cursor = Annotated[
    str | None,
    Query(
        max_length=512,
        pattern=CURSOR_PATTERN,
        description="next_cursor of the previous page, unchanged.",
        examples=[
            "WyJjcmVhdGVkX2F0Iix0cnVlLHsiZHQiOiIyMDI2LTExLTIzVDAyOjAwOjAwKzAwOjAwIn0sIjliOGE3YzZkLTVlNGYt"
            "NGEzYi04YzJkLTFlMGY5YThiN2M2ZCJd"
        ],
    ),
]


async def _body_for_fingerprint(request: Request) -> bytes:
    """The raw body, or for a multipart form FastAPI already parsed, its fields and file digests."""
    try:
        return await request.body()
    except RuntimeError:  # the stream went to the form parser
        form = await request.form()
    digest = hashlib.sha256()
    for key, value in form.multi_items():
        digest.update(key.encode() + b"\0")
        if isinstance(value, StarletteUploadFile):
            content = await value.read()
            await value.seek(0)
            digest.update(f"{value.filename}\0{len(content)}\0".encode() + hashlib.sha256(content).digest())
        else:
            digest.update(value.encode() + b"\0")
    return digest.digest()


async def guard_idempotency(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    now: NowDep,
    principal: CurrentPrincipal,
    idempotency_key: Annotated[
        str | None,
        Header(description="Replays the first answer for 24 h when a POST is retried with the same key."),
        WithJsonSchema(
            {
                "type": "string",
                "minLength": 1,
                "maxLength": idempotency.MAX_KEY_LENGTH,
                "examples": ["3f1c8a9e-7d2b-4e55-9d61-0c6a7b9e2f10"],
            }
        ),
    ] = None,
) -> None:
    if idempotency_key is None:
        return
    body = await _body_for_fingerprint(request)
    claimed = await idempotency.claim_key(
        session,
        actor=principal,
        key=idempotency_key,
        request_fingerprint=idempotency.fingerprint(
            request.method, request.url.path, body, request.query_params.multi_items()
        ),
        ttl=timedelta(seconds=runtime.settings.idempotency_ttl_seconds),
        now=now,
    )
    if isinstance(claimed, idempotency.StoredResponse):
        raise ReplayStoredResponse(claimed)
    unit: RequestUnitOfWork = request.state.unit_of_work
    unit.idempotency_record = claimed


Idempotent = Depends(guard_idempotency)


def replay_without_secret(request: Request, redacted: BaseModel) -> None:
    """An Idempotency-Key replays `redacted` instead of this answer, which shows a secret once: the
    stored answer sits in the database for a day, where no secret may be kept in the clear."""
    unit: RequestUnitOfWork = request.state.unit_of_work
    unit.replay_body = redacted.model_dump_json().encode()
