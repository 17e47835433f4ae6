"""openapi/openapi.json is the product's face: it must equal what the app serves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs

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


def _examples(document: dict[str, Any]) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(where, example, its schema) for every example of the document."""
    for name, component in document["components"]["schemas"].items():
        for index, example in enumerate(component.get("examples", [])):
            reference = {"$ref": f"#/components/schemas/{name}"}
            yield f"components.schemas.{name}.examples[{index}]", example, reference
    for section in ("paths", "webhooks"):
        for path, item in document.get(section, {}).items():
            for method, operation in item.items():
                bodies = {"requestBody": operation.get("requestBody", {}), **operation.get("responses", {})}
                for where, body in bodies.items():
                    for media_type, media in body.get("content", {}).items():
                        named = {"example": media["example"]} if "example" in media else {}
                        named |= {key: value["value"] for key, value in media.get("examples", {}).items()}
                        for key, example in named.items():
                            where_exactly = f"{method.upper()} {path} {where} {media_type} {key}"
                            yield where_exactly, example, media["schema"]


def test_every_example_is_valid_against_its_schema() -> None:
    """A client generated from the document, or a reader copying an example, gets what the schema
    promises: a page's `next_cursor`, an answer's unset fields as null."""
    document = create_app().openapi()
    invalid = []
    for where, example, schema in _examples(document):
        validator = jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})
        invalid += [f"{where}: {error.message}" for error in validator.iter_errors(example)]
    assert invalid == []


def test_every_operation_states_its_security_and_every_tag_is_declared() -> None:
    document = create_app().openapi()
    assert document["security"] == [{"HTTPBearer": []}]
    assert document["servers"]
    declared = {tag["name"] for tag in document["tags"]}
    public = set()
    for section in ("paths", "webhooks"):
        for path, item in document[section].items():
            for method, operation in item.items():
                assert "security" in operation, f"{method.upper()} {path}"
                assert set(operation.get("tags", [])) <= declared, f"{method.upper()} {path}"
                if operation["security"] == [] and section == "paths":
                    public.add(path)
    assert public == {
        "/api/v1/auth/token",
        "/api/v1/auth/wecom",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/intake/{form_key}",
        "/healthz",
        "/readyz",
        "/metrics",
    }


def test_replays_and_upload_forms_are_declared_under_names_a_client_reads() -> None:
    """Issue 19, point 16: every operation taking an Idempotency-Key declares the
    `Idempotent-Replayed` header on its successes, and no multipart body keeps FastAPI's
    `Body_<operation>` name."""
    document = create_app().openapi()
    keyed = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            names = {p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"}
            if "idempotency-key" not in names:
                continue
            keyed += 1
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    assert "Idempotent-Replayed" in response.get("headers", {}), f"{method} {path} {status}"
    assert keyed
    assert "Idempotent-Replayed" in document["paths"]["/api/v1/leads"]["post"]["responses"]["201"]["headers"]
    schemas = document["components"]["schemas"]
    assert not [name for name in schemas if name.startswith("Body_")]
    upload = document["paths"]["/api/v1/leads/import"]["post"]["requestBody"]["content"]
    assert upload["multipart/form-data"]["schema"] == {"$ref": "#/components/schemas/ImportLeadsForm"}
    assert "file" in schemas["ImportLeadsForm"]["properties"]
