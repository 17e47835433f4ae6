"""The contract states what the server enforces (issue 18, defect 12): a request the schema calls
valid is not refused for its shape, and one it calls invalid is not accepted."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import jsonschema_rs
import pytest

from tests.api.helpers import ok

STALE = '"999999"'


def _operations(app: Any) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
    ]


def _resolve(app: Any, schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = app.openapi()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _is_of(kind: str, schema: dict[str, Any]) -> bool:
    return schema.get("type") == kind or any(_is_of(kind, s) for s in schema.get("anyOf", []))


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def _header(app: Any, name: str) -> list[dict[str, Any]]:
    return [
        parameter["schema"]
        for _, _, operation in _operations(app)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "header" and parameter["name"].lower() == name
    ]


async def test_booleans_are_true_or_false_and_integers_are_numbers(app, client, make_tenant):
    """In a JSON body and in a query string alike: 0, 1, "yes" and "on" are not booleans (and in a
    body, true and "5" are not integers)."""
    tenant = await make_tenant()
    accepted = []
    for method, path, operation in _operations(app):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query" and _is_of("boolean", parameter["schema"]):
                for spelling in ("1", "0", "yes", "on"):
                    response = await client.request(
                        method, _url(path), params={parameter["name"]: spelling}, headers=tenant.headers
                    )
                    if response.status_code != 422:
                        accepted.append(f"{method} {path}?{parameter['name']}={spelling}")
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        properties = _resolve(app, content["application/json"]["schema"]).get("properties", {})
        for name, schema in properties.items():
            # An integer is no boolean either, nor its digits as text.
            wrong = (
                (1, 0, "true")
                if _is_of("boolean", schema)
                else (True, "5")
                if _is_of("integer", schema)
                else ()
            )
            for value in wrong:
                response = await client.request(
                    method, _url(path), json={name: value}, headers=tenant.headers
                )
                # A field optional in a PATCH is a union with None: its errors name the member, "name.bool".
                fields = {e["field"].split(".")[0] for e in response.json().get("errors", [])}
                if response.status_code != 422 or name not in fields:
                    accepted.append(f"{method} {path} {{{name!r}: {value!r}}}")
    assert not accepted, "accepted, though the contract refuses them:\n" + "\n".join(accepted)


async def test_if_match_takes_exactly_the_etags_the_contract_states(app, client, make_tenant):
    tenant = await make_tenant()
    schemas = _header(app, "if-match")
    assert schemas
    assert all(s == schemas[0] for s in schemas)
    pattern = schemas[0]["pattern"]
    read = await client.get("/api/v1/organization", headers=tenant.headers)
    version = read.json()["version"]
    for value in (f'"{version}"', f'W/"{version}"', "*"):
        assert re.search(pattern, value)
        response = await client.patch(
            "/api/v1/organization", json={}, headers={**tenant.headers, "If-Match": value}
        )
        assert response.status_code == 200, value
    for value in (str(version), f"'{version}'", '"abc"', '""', f'"{version}", "1"', '"1" ', "**"):
        assert not re.search(pattern, value)
        response = await client.patch(
            "/api/v1/organization", json={}, headers={**tenant.headers, "If-Match": value}
        )
        assert response.status_code == 422, value
        assert response.json()["errors"][0]["field"] == "If-Match"


async def test_idempotency_key_takes_1_to_255_characters_as_the_contract_states(app, client, make_tenant):
    tenant = await make_tenant()
    schemas = _header(app, "idempotency-key")
    assert schemas
    assert all(s == {**schemas[0], "minLength": 1, "maxLength": 255} for s in schemas)
    created = await client.post(
        "/api/v1/customers",
        json={"name": "申华建材"},
        headers={**tenant.headers, "Idempotency-Key": "k" * 255},
    )
    assert created.status_code == 201
    for key in ("", "k" * 256):
        refused = await client.post(
            "/api/v1/customers", json={"name": "申华建材"}, headers={**tenant.headers, "Idempotency-Key": key}
        )
        assert refused.status_code == 422, len(key)
        assert refused.json()["code"] == "idempotency.key_invalid"


async def test_a_cursor_is_base64url_text_and_a_foreign_one_is_named_as_such(app, client, make_tenant):
    tenant = await make_tenant()
    for _ in range(3):
        ok(
            await client.post(
                "/api/v1/customers", json={"name": f"客户{uuid.uuid4().hex[:6]}"}, headers=tenant.headers
            ),
            201,
        )
    page = ok(await client.get("/api/v1/customers", params={"limit": 2}, headers=tenant.headers))
    cursors = [
        parameter["schema"]["anyOf"][0]
        for _, _, operation in _operations(app)
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "cursor"
    ]
    assert cursors
    assert all(re.search(c["pattern"], page["next_cursor"]) for c in cursors)
    outside = await client.get("/api/v1/customers", params={"cursor": "a+b/c="}, headers=tenant.headers)
    assert outside.status_code == 422
    assert outside.json()["errors"][0]["field"] == "cursor"
    unissued = await client.get(
        "/api/v1/customers", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=tenant.headers
    )
    assert unissued.status_code == 422
    assert unissued.json()["code"] == "request.cursor_invalid"


async def _quote_line(client: Any, headers: dict[str, str]) -> Any:
    """A sender of one quote line with the quantity given."""
    product = {"sku": uuid.uuid4().hex[:8], "name": "卷材", "list_price": "42.5000"}
    product_id = ok(await client.post("/api/v1/products", json=product, headers=headers), 201)["id"]
    customer = ok(await client.post("/api/v1/customers", json={"name": "申华建材"}, headers=headers), 201)
    deal = {"name": "屋面工程", "customer_id": customer["id"]}
    opportunity = ok(await client.post("/api/v1/opportunities", json=deal, headers=headers), 201)

    def send(quantity: Any) -> Any:
        line = {"product_id": product_id, "quantity": quantity, "unit_price": "40"}
        body = {"opportunity_id": opportunity["id"], "lines": [line]}
        return client.post("/api/v1/quotes", json=body, headers=headers)

    return send


async def _product_price(client: Any, headers: dict[str, str]) -> Any:
    def send(price: Any) -> Any:
        body = {"sku": uuid.uuid4().hex[:8], "name": "卷材", "list_price": price}
        return client.post("/api/v1/products", json=body, headers=headers)

    return send


async def _lead_budget(client: Any, headers: dict[str, str]) -> Any:
    def send(budget: Any) -> Any:
        body = {
            "name": "王工",
            "phone": f"139{uuid.uuid4().int % 10**8:08d}",
            "source": "api",
            "budget": budget,
        }
        return client.post("/api/v1/leads", json=body, headers=headers)

    return send


@pytest.mark.parametrize(
    ("schema", "field", "sender", "accepted", "refused"),
    [
        (
            "ProductCreate",
            "list_price",
            _product_price,
            ["0", "42.5", "42.5000", "999999999999.9999"],
            ["42.50001", "-1", "1e3", "01", " 42", "1000000000000", 42.5, 42],
        ),
        (
            "LeadCreate",
            "budget",
            _lead_budget,
            ["0", "250000.00", "999999999999.99"],
            ["250000.001", "1000000000000", "NaN", 250000],
        ),
        (
            "QuoteLineIn",
            "quantity",
            _quote_line,
            ["0.001", "1", "999999999.999"],
            ["0", "0.000", "0.0001", "1000000000", 1],
        ),
    ],
)
async def test_decimals_are_text_with_the_places_the_contract_states(
    app, client, make_tenant, schema, field, sender, accepted, refused
):
    stated = app.openapi()["components"]["schemas"][schema]["properties"][field]
    pattern = next(s for s in [stated, *stated.get("anyOf", [])] if s.get("type") == "string")["pattern"]
    assert all(re.search(pattern, value) for value in accepted)
    assert not any(isinstance(value, str) and re.search(pattern, value) for value in refused)
    tenant = await make_tenant()
    send = await sender(client, tenant.headers)
    for value in accepted:
        response = await send(value)
        assert response.status_code == 201, (value, response.text)
    for value in refused:
        response = await send(value)
        assert response.status_code == 422, (value, response.text)
        assert field in response.json()["errors"][0]["field"], (value, response.text)


async def _created(client: Any, headers: dict[str, str], path: str, body: dict[str, Any]) -> str:
    return f"{path}/{ok(await client.post(path, json=body, headers=headers), 201)['id']}"


async def _opportunity(client: Any, headers: dict[str, str]) -> str:
    customer = ok(await client.post("/api/v1/customers", json={"name": "申华建材"}, headers=headers), 201)
    deal = {"name": "屋面工程", "customer_id": customer["id"]}
    return await _created(client, headers, "/api/v1/opportunities", deal)


async def _quote_lines(client: Any, headers: dict[str, str]) -> str:
    product = {"sku": uuid.uuid4().hex[:8], "name": "卷材", "list_price": "42.5000"}
    product_id = ok(await client.post("/api/v1/products", json=product, headers=headers), 201)["id"]
    opportunity_id = (await _opportunity(client, headers)).rsplit("/", 1)[1]
    line = {"product_id": product_id, "quantity": "1", "unit_price": "40"}
    quote = await _created(
        client, headers, "/api/v1/quotes", {"opportunity_id": opportunity_id, "lines": [line]}
    )
    return f"{quote}/lines"


async def _assignment_rule(client: Any, headers: dict[str, str]) -> str:
    team = ok(await client.post("/api/v1/teams", json={"name": _unique("组")}, headers=headers), 201)
    rule = {"name": _unique("规则"), "priority": 10, "strategy": "round_robin", "team_ids": [team["id"]]}
    return await _created(client, headers, "/api/v1/assignment-rules", rule)


def _unique(text: str) -> str:
    return f"{text}{uuid.uuid4().hex[:6]}"


# (what, where it is created and with what, an edit that is well formed but breaks a rule the
# server checks against the record or the organization)
REFUSED_EDITS: list[tuple[str, str | None, Any, dict[str, Any]]] = [
    ("organization", None, None, {"timezone": "Mars/Olympus"}),
    ("team", "/api/v1/teams", lambda app: {"name": _unique("组")}, {"member_ids": [str(uuid.uuid4())]}),
    ("customer", "/api/v1/customers", lambda app: {"name": "申华建材"}, {"latitude": 31.2}),
    (
        "lead",
        "/api/v1/leads",
        lambda app: {"name": "王工", "phone": "13900000001", "source": "api"},
        {"email": "no-at-sign"},
    ),
    ("opportunity", _opportunity, None, {"owner_id": str(uuid.uuid4())}),
    (
        "quote lines",
        _quote_lines,
        None,
        {"lines": [{"product_id": str(uuid.uuid4()), "quantity": "1", "unit_price": "1"}]},
    ),
    (
        "pipeline",
        "/api/v1/pipelines",
        lambda app: _example(app, "PipelineCreate", name=_unique("管道")),
        {"ordering_rules": [{"no_such_key": 1}]},
    ),
    (
        "business calendar",
        "/api/v1/business-calendars",
        lambda app: _example(app, "BusinessCalendarCreate", name=_unique("日历"), is_default=False),
        {"week": {"1": [["18:00", "09:00"]]}},
    ),
    (
        "sla policy",
        "/api/v1/sla-policies",
        lambda app: {"name": _unique("首响"), "kind": "first_response", "target_minutes": 30},
        {"rules": {"no_such_key": 1}},
    ),
    (
        "notification channel",
        "/api/v1/notification-channels",
        lambda app: {
            "kind": "wecom_robot",
            "name": "群",
            "config": {"key": "k" * 36},
            "event_types": ["lead.assigned"],
        },
        {"event_types": ["no.such_event"]},
    ),
    ("assignment rule", _assignment_rule, None, {"user_ids": [str(uuid.uuid4())]}),
]


def _example(app: Any, schema: str, **overrides: Any) -> dict[str, Any]:
    return {**app.openapi()["components"]["schemas"][schema]["examples"][0], **overrides}


@pytest.mark.parametrize(("what", "create", "body", "edit"), REFUSED_EDITS, ids=[e[0] for e in REFUSED_EDITS])
async def test_a_refused_edit_is_422_even_under_a_stale_if_match(
    app, client, make_tenant, what, create, body, edit
):
    """Validation comes before preconditions: the client learns what is wrong with its edit, rather
    than reloading the record only to be refused again."""
    tenant = await make_tenant()
    if create is None:
        path = "/api/v1/organization"
    elif callable(create):
        path = await create(client, tenant.headers)
    else:
        path = await _created(client, tenant.headers, create, body(app))
    method = "PUT" if path.endswith("/lines") else "PATCH"
    response = await client.request(method, path, json=edit, headers={**tenant.headers, "If-Match": STALE})
    assert response.status_code == 422, response.text
    fresh = await client.request(method, path, json=edit, headers=tenant.headers)
    assert fresh.json()["code"] == response.json()["code"]


async def test_a_whole_number_sent_as_60_0_is_an_integer_and_coordinates_state_their_bounds(
    app, client, make_tenant
):
    """JSON Schema counts 60.0 as an integer; and bounds the server checks appear in the contract."""
    schemas = app.openapi()["components"]["schemas"]
    for schema, field, bounds in (
        ("GeoIn", "lat", (-90, 90)),
        ("GeoIn", "lng", (-180, 180)),
        ("GeoIn", "accuracy_m", (0, 100_000)),
        ("CustomerCreate", "latitude", (-90, 90)),
    ):
        stated = schemas[schema]["properties"][field]
        number = next(s for s in [stated, *stated.get("anyOf", [])] if s.get("type") == "number")
        assert (number["minimum"], number["maximum"]) == bounds, (schema, field)
    tenant = await make_tenant()
    customer = ok(
        await client.post("/api/v1/customers", json={"name": "申华建材"}, headers=tenant.headers), 201
    )
    call = {"type": "call", "occurred_at": "2026-11-23T01:00:00Z", "customer_id": customer["id"]}
    made = await client.post(
        "/api/v1/activities", json={**call, "duration_seconds": 60.0}, headers=tenant.headers
    )
    assert ok(made, 201)["duration_seconds"] == 60
    fraction = await client.post(
        "/api/v1/activities", json={**call, "duration_seconds": 60.5}, headers=tenant.headers
    )
    assert fraction.status_code == 422


_AT = {"occurred_at": "2026-11-23T01:00:00Z", "customer_id": "{customer}"}
_ROBOT = {"kind": "wecom_robot", "name": "群", "config": {"key": "k" * 36}}

# (where, the body's schema in the contract, bodies; the contract's verdict on each must be the server's)
BETWEEN_FIELDS: list[tuple[str, str, list[dict[str, Any]]]] = [
    (
        "/api/v1/leads",
        "LeadCreate",
        [{"name": "王工", "source": "api"}, {"name": "王工", "source": "api", "wechat": "wx-wang"}],
    ),
    (
        "/api/v1/sla-policies",
        "SlaPolicyCreate",
        [{"name": "首响", "kind": "first_response"}, {"name": "停留", "kind": "stage_dwell"}],
    ),
    (
        "/api/v1/activities",
        "ActivityCreate",
        [
            {"type": "note", "occurred_at": "2026-11-23T01:00:00Z"},
            {"type": "visit", **_AT},
            {"type": "note", **_AT, "call_outcome": "connected"},
            {"type": "call", **_AT, "call_outcome": "connected"},
        ],
    ),
    (
        "/api/v1/notification-channels",
        "WecomRobotChannelCreate",
        [{**_ROBOT, "event_types": ["no.such_event"]}, {**_ROBOT, "event_types": ["lead.created"]}],
    ),
    (
        "/api/v1/api-keys",
        "ApiKeyCreate",
        [{"name": "BI", "scopes": ["root:all"]}, {"name": "BI", "scopes": ["kpi:read"]}],
    ),
]


@pytest.mark.parametrize(("path", "schema", "bodies"), BETWEEN_FIELDS, ids=[c[1] for c in BETWEEN_FIELDS])
async def test_the_contract_refuses_what_the_server_refuses_between_fields(
    app, client, make_tenant, path, schema, bodies
):
    """Rules between fields (one of several given, one only for a kind) and closed lists are in the
    schema, so a client validating against the contract learns them before the server says 422."""
    document = app.openapi()
    contract = jsonschema_rs.Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": document["components"]}
    )
    tenant = await make_tenant()
    customer = ok(
        await client.post("/api/v1/customers", json={"name": "申华建材"}, headers=tenant.headers), 201
    )
    for body in bodies:
        sent = json.loads(json.dumps(body).replace("{customer}", customer["id"]))
        response = await client.post(path, json=sent, headers=tenant.headers)
        assert response.status_code in (201, 422), response.text
        assert contract.is_valid(sent) == (response.status_code == 201), (sent, response.text)
