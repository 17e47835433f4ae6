"""Every list as a spreadsheet: `Accept: text/csv` or the XLSX media type answers the whole filtered
list (all pages, the same filters and sort) as one file, one column per field of the list's row
schema, up to `CRM_EXPORT_MAX_ROWS` rows; more answers 422 pointing to the export job (`POST /exports`).
One mechanism for all lists: a route asks for `ListExport` and hands it the function that reads one
page; the export job reads the same routes (app/api/list_readers.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, get_args

from fastapi import Depends, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import CurrentPrincipal, RuntimeDep, SessionDep
from app.domain.identity.principal import Principal
from app.domain.platform.errors import FieldError, InvalidInput
from app.domain.reports.exports import (
    CSV_MEDIA_TYPE,
    TOO_MANY_ROWS,
    XLSX_MEDIA_TYPE,
    ExportFormat,
    requested_format,
)
from app.services.platform.pagination import MAX_LIMIT
from app.services.reports import exports

# Paging is the export's own: it reads every page, whatever page the client was on.
PAGING = frozenset({"limit", "cursor"})
_VARY = "Accept, Authorization"

EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "The page as JSON; with `Accept: text/csv` or the XLSX media type, the whole filtered "
            "list as a file (docs/exports.md), or 422 `export.too_many_rows` above the row limit."
        ),
        "content": {
            CSV_MEDIA_TYPE: {"schema": {"type": "string"}},
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}

P = TypeVar("P", bound=BaseModel)
PageReader = Callable[[int, str | None], Awaitable[P]]


def row_columns(page_model: type[BaseModel]) -> list[str]:
    """The columns of a list's file: the fields of its row schema (`items: list[Row]`), in order."""
    (row_model,) = get_args(page_model.model_fields["items"].annotation)
    return [info.serialization_alias or name for name, info in row_model.model_fields.items()] + list(
        row_model.model_computed_fields
    )


def page_rows(page: BaseModel, columns: list[str]) -> list[list[Any]]:
    """A page's items as file rows: each item's JSON values in the order of `columns`."""
    return [
        [item.get(name) for name in columns] for item in page.model_dump(mode="json", by_alias=True)["items"]
    ]


def query_filters(request: Request) -> dict[str, Any]:
    """The filters as the client sent them (a repeated one as a list), for the audit entry."""
    filters: dict[str, Any] = {}
    for name, value in request.query_params.multi_items():
        if name in PAGING:
            continue
        if name in filters:
            previous = filters[name]
            filters[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            filters[name] = value
    return filters


@dataclass
class ListExport:
    """What a list route needs to answer a file instead of a page."""

    request: Request
    session: AsyncSession
    actor: Principal
    max_rows: int
    format: ExportFormat | None

    async def answer(self, read_page: PageReader[P], *, limit: int, cursor: str | None) -> P | Response:
        """The page asked for as JSON; or, when a file is asked for, every page in one file."""
        if self.format is None:
            return await read_page(limit, cursor)
        resource = self.request.url.path.rstrip("/").rsplit("/", 1)[-1]
        header, rows = await self._read_all(read_page)
        filters = query_filters(self.request)
        export_id = uuid.uuid4()
        await exports.record_export(
            self.session,
            actor=self.actor,
            export_id=export_id,
            resource=resource,
            format_=self.format,
            filters=filters,
            rows=len(rows),
        )
        # Up to 10,000 rows of XLSX is a second or two of CPU: off the event loop, which serves others.
        content = await asyncio.to_thread(exports.write_file, self.format, header, rows, title=resource)
        return Response(
            content,
            media_type=CSV_MEDIA_TYPE + "; charset=utf-8"
            if self.format is ExportFormat.csv
            else XLSX_MEDIA_TYPE,
            headers={
                "Content-Disposition": f'attachment; filename="{resource}.{self.format.value}"',
                "Vary": _VARY,
                "X-Export-Id": str(export_id),
            },
        )

    async def _read_all(self, read_page: PageReader[P]) -> tuple[list[str], list[list[Any]]]:
        header: list[str] | None = None
        rows: list[list[Any]] = []
        cursor: str | None = None
        while True:
            page = await read_page(min(MAX_LIMIT, self.max_rows + 1), cursor)
            header = header or row_columns(type(page))
            rows.extend(page_rows(page, header))
            if len(rows) > self.max_rows:
                raise _too_many_rows(self.max_rows)
            cursor = getattr(page, "next_cursor", None)
            if not cursor:
                return header, rows


def _too_many_rows(max_rows: int) -> InvalidInput:
    return InvalidInput(
        f"The list has more than {max_rows} rows, more than one answer carries as a file: export it as a "
        "job with POST /api/v1/exports (the same list and filters; progress, then the file), or in "
        "narrower slices (created_from/created_to, owner or region filters).",
        code=TOO_MANY_ROWS,
        errors=[
            FieldError(
                "Accept", TOO_MANY_ROWS, f"at most {max_rows} rows an answer; POST /api/v1/exports for more"
            )
        ],
    )


async def list_export(
    request: Request, response: Response, session: SessionDep, actor: CurrentPrincipal, runtime: RuntimeDep
) -> ListExport:
    # One URL, a JSON page or a file by Accept: a cache must keep them apart.
    response.headers["Vary"] = _VARY
    return ListExport(
        request=request,
        session=session,
        actor=actor,
        max_rows=runtime.settings.export_max_rows,
        format=requested_format(request.headers.get("accept", "")),
    )


ListExportDep = Annotated[ListExport, Depends(list_export)]
