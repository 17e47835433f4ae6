"""Streaming rows out of CSV and XLSX files, header first."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from python_calamine import CalamineWorkbook

from app.domain.errors import FieldError, InvalidInput

CSV_SUFFIXES = (".csv",)
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")


def check_filename(filename: str) -> None:
    if not filename.lower().endswith(CSV_SUFFIXES + WORKBOOK_SUFFIXES):
        raise InvalidInput(
            "Upload a .csv or .xlsx file.",
            code="import.file_type",
            errors=[FieldError("file", "file.type", "csv, xlsx, xlsm, xls or ods")],
        )


def _csv_encoding(path: Path) -> str:
    # Excel in China saves CSV as GBK; a UTF-8 decode error in the first block means GB18030.
    with path.open("rb") as handle:
        head = handle.read(256 * 1024)
    try:
        head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:
            return "gb18030"
    return "utf-8-sig"


def read_rows(path: Path, filename: str) -> tuple[int, Iterator[list[Any]]]:
    """The number of data rows, and the rows: the header, then each data row.

    A workbook is opened (and its first sheet loaded) once for both; a CSV is counted in one pass
    and streamed in another, so it is never held in memory.
    """
    if filename.lower().endswith(CSV_SUFFIXES):
        encoding = _csv_encoding(path)
        with path.open(encoding=encoding, newline="", errors="replace") as handle:
            total = max(sum(1 for _ in csv.reader(handle)) - 1, 0)
        return total, _stream_csv(path, encoding)
    try:
        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
    except Exception as exc:  # calamine raises its own types for corrupt files
        raise InvalidInput(f"The workbook cannot be read: {exc}", code="import.file_unreadable") from exc
    return max(sheet.height - 1, 0), sheet.iter_rows()


def _stream_csv(path: Path, encoding: str) -> Iterator[list[Any]]:
    with path.open(encoding=encoding, newline="", errors="replace") as handle:
        yield from csv.reader(handle)
