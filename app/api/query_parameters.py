"""Unknown query parameters answer 422 naming them: a misspelt or unsupported filter must not be
silently ignored (a list would answer every record instead of the filtered few)."""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.domain.errors import FieldError, InvalidInput

_KNOWN: dict[int, frozenset[str]] = {}


def _declared(dependant: Dependant) -> frozenset[str]:
    """The query parameters a route declares, its dependencies' included."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        names.update(field.alias for field in current.query_params)
        pending.extend(current.dependencies)
    return frozenset(names)


async def refuse_unknown_query_parameters(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _KNOWN.get(id(route))
    if known is None:
        known = _KNOWN[id(route)] = _declared(route.dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise InvalidInput(
            f"Unknown query parameter(s): {', '.join(unknown)}.",
            code="request.unknown_parameter",
            errors=[
                FieldError(name, "parameter.unknown", "not a parameter of this operation") for name in unknown
            ],
        )
