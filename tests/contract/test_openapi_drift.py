"""openapi/openapi.json is the product's face: it must equal what the app serves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.cli import render_openapi
from app.main import create_app

COMMITTED = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    generated = render_openapi(create_app().openapi())
    assert COMMITTED.read_text(encoding="utf-8") == generated, (
        "openapi/openapi.json is out of date: run `.venv/bin/crm openapi` and commit the result"
    )


def test_every_operation_has_a_stable_id_errors_and_a_typed_success() -> None:
    schema = create_app().openapi()
    seen: set[str] = set()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            operation_id = operation["operationId"]
            assert operation_id not in seen, f"duplicate operationId {operation_id}"
            seen.add(operation_id)
            statuses = set(operation["responses"])
            success = [s for s in statuses if s.startswith("2")]
            assert success, f"{method.upper()} {path} documents no success response"
            # A public operation (`security: []`, a web form's submission) takes no credentials.
            is_public = operation.get("security") == []
            if path.startswith("/api/v1/") and path != "/api/v1/auth/token" and not is_public:
                assert "401" in statuses, f"{method.upper()} {path} does not document 401"
            # A 304 has no body (RFC 9110, 15.4.5), so it cannot be a problem.
            for status in statuses - set(success) - {"304"}:
                assert "application/problem+json" in operation["responses"][status].get("content", {}), (
                    f"{method.upper()} {path} {status} is not problem+json"
                )


def _schemas_in(node: Any) -> Iterator[dict[str, Any]]:
    """Every schema object of the document (a `properties` map holds names, not keywords)."""
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            children = value.values() if key == "properties" and isinstance(value, dict) else [value]
            for child in children:
                yield from _schemas_in(child)
    elif isinstance(node, list):
        for item in node:
            yield from _schemas_in(item)


def test_every_bound_is_stated_with_a_keyword_validators_read() -> None:
    """A bound pydantic could not place renders as its own ge/le; clients and fuzzers ignore it."""
    stray = [s for s in _schemas_in(create_app().openapi()) if {"ge", "le", "gt", "lt"} & set(s)]
    assert stray == []
