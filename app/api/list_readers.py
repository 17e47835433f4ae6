"""The lists an export job writes, read through their own `GET` routes: the route validates the
filters, checks the permission and builds the rows exactly as it does for a request, here run as the
user who asked for the export. The job gets this reader as a port (services.exports.ListReader)
from the composition root, so neither workers nor services import the API."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from fastapi import Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import solve_dependencies
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.routing import BaseRoute

from app.api.deps import get_now, get_principal, get_session
from app.api.list_export import PAGING, ListExport, list_export, page_rows, row_columns
from app.api.query_parameters import check_query_parameters
from app.domain.identity.principal import Principal
from app.domain.platform.errors import DomainError, FieldError, InvalidInput
from app.services.platform.pagination import ListOptions
from app.services.reports.exports import ListPage

FILTERS = "filters"


def _exports(dependant: Dependant) -> bool:
    return dependant.call is list_export or any(_exports(d) for d in dependant.dependencies)


def list_name(path: str) -> str:
    """A list's name: the last segment of its path (`/api/v1/lead-pool` → `lead-pool`), as in the
    file name and the audit entry of its `Accept` export."""
    return path.rstrip("/").rsplit("/", 1)[-1]


class ApiListReader:
    """services.exports.ListReader over the API's list routes that answer files (ListExportDep)."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self._routes: dict[str, APIRoute] = {}
        for route in routes:
            if isinstance(route, APIRoute) and "GET" in (route.methods or ()) and _exports(route.dependant):
                name = list_name(route.path)
                if name in self._routes:
                    raise ValueError(f"two exportable lists are named {name!r}")
                self._routes[name] = route

    def lists(self) -> Collection[str]:
        return self._routes.keys()

    def path_parameters(self, name: str) -> list[str]:
        """The parameters of the list's path (contacts: customer_id), given among the filters."""
        return [field.alias for field in self._routes[name].dependant.path_params]

    async def check_filters(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        list_name: str,
        filters: Mapping[str, Any],
        now: datetime,
    ) -> None:
        # Reading its first row, the list answers what it would answer the request: 422 on a bad
        # filter, 403 without the permission, 404 for a customer whose contacts it may not see.
        await self.read_page(
            session, actor=actor, list_name=list_name, filters=filters, now=now, limit=1, cursor=None
        )

    async def read_page(
        self,
        session: AsyncSession,
        *,
        actor: Principal,
        list_name: str,
        filters: Mapping[str, Any],
        now: datetime,
        limit: int,
        cursor: str | None,
        count_up_to: int | None = None,
    ) -> ListPage:
        route = self._routes[list_name]
        path_names = set(self.path_parameters(list_name))
        query = _query_of(route, filters, path_names)
        query += [("limit", str(limit))] + ([("cursor", cursor)] if cursor else [])
        async with AsyncExitStack() as stack:
            request = _request_for(route, query, filters, path_names, stack)
            # The route's own dependencies run; the session, the user and the clock are the job's.
            as_the_job = {
                get_session: lambda: session,
                get_principal: lambda: actor,
                get_now: lambda: now,
                list_export: lambda: ListExport(
                    request=request, session=session, actor=actor, max_rows=0, format=None
                ),
            }
            solved = await solve_dependencies(
                request=request,
                dependant=route.dependant,
                response=Response(),
                dependency_overrides_provider=SimpleNamespace(dependency_overrides=as_the_job),
                async_exit_stack=stack,
                embed_body_fields=False,
            )
            if solved.errors:
                raise _invalid_filters(solved.errors)
            assert route.dependant.call is not None
            page = await route.dependant.call(**_counted(solved.values, count_up_to))
        assert isinstance(page, BaseModel)
        columns = row_columns(type(page))
        return ListPage(
            columns=columns,
            rows=page_rows(page, columns),
            next_cursor=getattr(page, "next_cursor", None),
            total=getattr(page, "total", None) if count_up_to is not None else None,
        )


def _query_text(value: Any) -> str:
    # JSON true/false as the query string spells them (TrueOrFalse), numbers as written.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _counted(values: dict[str, Any], count_up_to: int | None) -> dict[str, Any]:
    """The route's arguments, its list options counting the whole list (up to the export's limit)
    when asked, and not at all otherwise (a file has no use for `include=total`)."""
    return {
        name: dataclasses.replace(
            value, include_total=count_up_to is not None, total_cap=count_up_to or value.total_cap
        )
        if isinstance(value, ListOptions)
        else value
        for name, value in values.items()
    }


def _in_filters(error: DomainError) -> DomainError:
    """The list's own error, its fields named where the export request has them: `filters.<name>`."""
    error.errors = [dataclasses.replace(e, field=f"{FILTERS}.{e.field}") for e in error.errors]
    return error


def _query_of(route: APIRoute, filters: Mapping[str, Any], path_names: set[str]) -> list[tuple[str, str]]:
    """The filters as the list's query string would carry them, checked as a request's would be."""
    if paging := sorted(PAGING & set(filters)):
        raise _in_filters(
            InvalidInput(
                "limit and cursor are not filters: an export reads every page.",
                code="request.unknown_parameter",
                errors=[
                    FieldError(name, "parameter.unknown", "the export reads every page") for name in paging
                ],
            )
        )
    query = [
        (name, _query_text(value))
        for name, given in filters.items()
        if name not in path_names
        for value in (given if isinstance(given, list) else [given])
    ]
    try:
        check_query_parameters(route, query)
    except InvalidInput as invalid:
        raise _in_filters(invalid) from None
    return query


def _request_for(
    route: APIRoute,
    query: list[tuple[str, str]],
    filters: Mapping[str, Any],
    path_names: set[str],
    stack: AsyncExitStack,
) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": route.path,
            "query_string": urlencode(query).encode(),
            "headers": [],
            "path_params": {name: str(filters[name]) for name in path_names if name in filters},
            "route": route,
            # Where FastAPI keeps what dependencies with `yield` clean up: closed by the caller.
            "fastapi_inner_astack": stack,
            "fastapi_function_astack": stack,
        }
    )


def _invalid_filters(errors: Sequence[Any]) -> InvalidInput:
    return InvalidInput(
        "The filters are not valid for this list.",
        code="request.invalid",
        errors=[
            FieldError(f"{FILTERS}.{error['loc'][1]}", str(error.get("type", "invalid")), error["msg"])
            for error in errors
        ],
    )
