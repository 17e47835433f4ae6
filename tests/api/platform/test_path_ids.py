"""An id in a path that is not a UUID answers 422 naming the path parameter, on every route."""

from __future__ import annotations

import uuid

from fastapi.routing import APIRoute
from starlette.convertors import UUIDConvertor


def _routes_with_ids(app) -> list[tuple[APIRoute, list[str]]]:
    found = []
    for route in app.state.api_routes:
        ids = [name for name, kind in route.param_convertors.items() if isinstance(kind, UUIDConvertor)]
        if ids:
            found.append((route, ids))
    return found


async def test_the_ids_an_audit_tried_answer_422_naming_the_parameter(client, make_tenant):
    tenant = await make_tenant()
    for path, field in (
        ("/api/v1/leads/not-a-uuid", "lead_id"),
        ("/api/v1/customers/123", "customer_id"),
        ("/api/v1/opportunities/x/win-probability", "opportunity_id"),
    ):
        response = await client.get(path, headers=tenant.headers)
        assert response.status_code == 422, path
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "request.invalid"
        assert [e["field"] for e in problem["errors"]] == [field]
        assert problem["errors"][0]["code"] == "uuid_parsing"
        assert field in problem["detail"]


async def test_an_upper_case_id_is_an_id_and_a_path_no_route_serves_stays_404(client, make_tenant):
    tenant = await make_tenant()
    upper = await client.get(f"/api/v1/leads/{str(uuid.uuid4()).upper()}", headers=tenant.headers)
    assert upper.status_code == 404
    assert upper.json()["code"] != "route.not_found"
    for path in ("/api/v1/leads/not-a-uuid/nowhere", "/api/v1/nowhere/not-a-uuid"):
        nowhere = await client.get(path, headers=tenant.headers)
        assert nowhere.status_code == 404, path
        assert nowhere.json()["code"] == "route.not_found"


async def test_every_route_with_an_id_in_its_path_answers_422_for_a_bad_one(app, client, make_tenant):
    """Walks the app's routes, so a route added later is held to it too."""
    tenant = await make_tenant()
    routes = _routes_with_ids(app)
    assert len(routes) > 50
    for route, ids in routes:
        for bad in ids:
            values = {name: "not-a-uuid" if name == bad else uuid.uuid4() for name in ids}
            path = route.path_format.format(**values)
            for method in sorted(route.methods - {"HEAD"}):
                response = await client.request(method, path, headers=tenant.headers)
                assert response.status_code == 422, (method, path, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert [e["field"] for e in response.json()["errors"]] == [bad], (method, path)


async def test_every_operation_with_an_id_in_its_path_declares_the_422(app):
    undeclared = [
        (method, path)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        if any(
            parameter["in"] == "path" and parameter["schema"].get("format") == "uuid"
            for parameter in operation.get("parameters", [])
        )
        and "422" not in operation["responses"]
    ]
    assert undeclared == []


async def test_a_method_a_path_does_not_take_answers_405_naming_those_it_does(client, make_tenant):
    tenant = await make_tenant()
    refused = await client.put(f"/api/v1/leads/{uuid.uuid4()}", headers=tenant.headers)
    assert refused.status_code == 405
    assert refused.headers["allow"] == "DELETE, GET, PATCH"
