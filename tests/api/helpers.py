"""Small helpers the API tests share."""

from __future__ import annotations

from typing import Any

import httpx


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON body, once the status is the one expected (else the body is the failure message)."""
    assert response.status_code == status, response.text
    return response.json()
