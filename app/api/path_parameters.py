"""An id in a path that is no UUID answers 422 naming the parameter, not 404 `route.not_found`.

Routes declare their ids as `{lead_id:uuid}` so that `/leads/deleted` and `/leads/export` reach their
own routes whatever the order of declaration; the price is that the router alone cannot tell
`/leads/not-a-uuid` from a path no route serves. When it finds no route, this tells them apart."""

from __future__ import annotations

import re
import uuid

from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.convertors import UUIDConvertor
from starlette.routing import compile_path

from app.domain.platform.errors import FieldError, validation_field_errors

_UUID = TypeAdapter(uuid.UUID)
# Per route: its path with every id segment matching any segment, and the names of those ids.
_LOOSE: dict[int, tuple[re.Pattern[str], tuple[str, ...]] | None] = {}


def _loose_path(route: APIRoute) -> tuple[re.Pattern[str], tuple[str, ...]] | None:
    if id(route) not in _LOOSE:
        ids = tuple(name for name, kind in route.param_convertors.items() if isinstance(kind, UUIDConvertor))
        # path_format is the path without convertors: `{lead_id}` matches any one segment.
        _LOOSE[id(route)] = (compile_path(route.path_format)[0], ids) if ids else None
    return _LOOSE[id(route)]


def _malformed(name: str, value: str) -> list[FieldError]:
    try:
        _UUID.validate_python(value)
    except ValidationError as error:
        return validation_field_errors(error.errors(), prefix=(name,))
    return []


def malformed_path_ids(request: Request) -> list[FieldError]:
    """For a request no route matched: the path parameters that keep it from matching a route of its
    method only because they are not UUIDs; empty when no route would match with any ids there."""
    method = "GET" if request.method == "HEAD" else request.method
    routes: list[APIRoute] = request.app.state.api_routes
    for route in routes:
        if method not in (route.methods or ()):
            continue
        loose = _loose_path(route)
        if loose is None:
            continue
        pattern, ids = loose
        match = pattern.match(request.url.path)
        if match is None:
            continue
        errors = [error for name in ids for error in _malformed(name, match.group(name))]
        if errors:
            return errors
    return []
