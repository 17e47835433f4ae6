"""How a database error PostgreSQL raised inside a request reaches the client."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request

from app.api.errors import _on_database_error


class _DriverError(Exception):
    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _request() -> Request:
    return Request({"type": "http", "method": "PATCH", "path": "/api/v1/users/x", "headers": []})


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
async def test_a_transaction_postgresql_aborted_for_a_concurrent_one_is_a_409_to_retry(sqlstate):
    error = DBAPIError("UPDATE ...", None, _DriverError("deadlock detected", sqlstate))

    response = await _on_database_error(_request(), error)

    assert response.status_code == 409
    assert response.headers["Retry-After"] == "1"
    assert json.loads(response.body)["code"] == "conflict.concurrent_update"


async def test_any_other_database_error_stays_a_server_error():
    error = DBAPIError("SELECT ...", None, _DriverError("division by zero", "22012"))

    with pytest.raises(DBAPIError):
        await _on_database_error(_request(), error)
