"""Unknown query parameters answer 422 naming them: a misspelt or unsupported filter must not be
silently ignored (a list would answer every record instead of the filtered few). So does a
parameter given twice that takes one value: the last one would win, unannounced; a filter that
takes several (`?status=new&status=assigned`, meaning either) says so in its schema."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import Request
from fastapi._compat import field_annotation_is_sequence
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.domain.platform.errors import FieldError, InvalidInput


@dataclass(frozen=True)
class _Declared:
    names: frozenset[str]
    repeatable: frozenset[str]


_DECLARED: dict[int, _Declared] = {}


def _declared(dependant: Dependant) -> _Declared:
    """The query parameters a route declares, its dependencies' included."""
    names: set[str] = set()
    repeatable: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        for field in current.query_params:
            names.add(field.alias)
            if field_annotation_is_sequence(field.field_info.annotation):
                repeatable.add(field.alias)
        pending.extend(current.dependencies)
    return _Declared(frozenset(names), frozenset(repeatable))


async def refuse_unknown_query_parameters(request: Request) -> None:
    route = request.scope.get("route")
    if isinstance(route, APIRoute):
        check_query_parameters(route, request.query_params.multi_items())


def check_query_parameters(route: APIRoute, given_parameters: Iterable[tuple[str, str]]) -> None:
    """Refuses parameters `route` does not declare, and one that takes a single value given twice."""
    declared = _DECLARED.get(id(route))
    if declared is None:
        declared = _DECLARED[id(route)] = _declared(route.dependant)
    given = Counter(name for name, _ in given_parameters)
    unknown = sorted(set(given) - declared.names)
    repeated = sorted(name for name, count in given.items() if count > 1 and name not in declared.repeatable)
    if unknown:
        raise InvalidInput(
            f"Unknown query parameter(s): {', '.join(unknown)}.",
            code="request.unknown_parameter",
            errors=[
                FieldError(name, "parameter.unknown", "not a parameter of this operation") for name in unknown
            ],
        )
    if repeated:
        raise InvalidInput(
            f"Query parameter(s) given more than once that take one value: {', '.join(repeated)}.",
            code="request.repeated_parameter",
            errors=[
                FieldError(name, "parameter.repeated", "takes one value; give it once") for name in repeated
            ],
        )
