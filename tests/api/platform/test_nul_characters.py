"""A NUL character is refused with a 422 naming its field, the same on SQLite and PostgreSQL, and
database errors never carry the values (names, phones) into the logs."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.db import create_engine
from tests.api.helpers import ok

PHONE = "+8613800138000"


def _nul_problem(response) -> list[dict[str, str]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "request.nul_character"
    return [{"field": e["field"], "code": e["code"]} for e in body["errors"]]


async def test_a_nul_in_a_lead_tag_is_422_naming_the_field_and_stores_nothing(client, make_tenant):
    tenant = await make_tenant()
    lead = {"name": "Wang", "phone": "13900139000", "source": "api", "tags": ["ok", "t\u0000"]}

    refused = await client.post("/api/v1/leads", json=lead, headers=tenant.headers)

    assert _nul_problem(refused) == [{"field": "tags[1]", "code": "nul_character"}]
    assert ok(await client.get("/api/v1/leads", headers=tenant.headers))["items"] == []


async def test_a_nul_in_organization_settings_is_422_and_the_settings_stay(client, make_tenant):
    tenant = await make_tenant()
    before = ok(await client.get("/api/v1/organization", headers=tenant.headers))["settings"]

    refused = await client.patch(
        "/api/v1/organization",
        json={"settings": {"lead_pool": {"idle_days": 7}, "custom_fields": {"lead": [{"key": "a\u0000"}]}}},
        headers=tenant.headers,
    )

    assert _nul_problem(refused) == [{"field": "settings.custom_fields.lead[0].key", "code": "nul_character"}]
    assert ok(await client.get("/api/v1/organization", headers=tenant.headers))["settings"] == before


@pytest.mark.parametrize(
    ("request_args", "field"),
    [
        ({"method": "GET", "url": "/api/v1/leads?q=ab%00c"}, "q"),
        (
            {"method": "POST", "url": "/api/v1/auth/token", "data": {"username": "a\u0000", "password": "x"}},
            "username",
        ),
        ({"method": "POST", "url": "/api/v1/leads", "json": {"na\u0000me": "x"}}, "na\u0000me"),
    ],
)
async def test_a_nul_in_a_query_a_form_or_a_key_is_refused_too(client, make_tenant, request_args, field):
    tenant = await make_tenant()
    refused = await client.request(**request_args, headers=tenant.headers)
    assert _nul_problem(refused) == [{"field": field, "code": "nul_character"}]


async def test_the_text_backslash_u0000_is_not_a_nul_and_is_stored(client, make_tenant):
    tenant = await make_tenant()
    created = ok(
        await client.post(
            "/api/v1/leads",
            json={"name": "Li", "phone": "13700137000", "source": "api", "notes": "literally \\u0000"},
            headers=tenant.headers,
        ),
        201,
    )
    assert created["notes"] == "literally \\u0000"


async def test_database_errors_hide_their_parameters(database_url):
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            with pytest.raises(DBAPIError) as failure:
                # Violates NOT NULL on both dialects, with a phone among the values.
                await connection.execute(
                    text('INSERT INTO "user" (id, username) VALUES (:id, :phone)'),
                    {"id": str(uuid.uuid4()), "phone": PHONE},
                )
    finally:
        await engine.dispose()
    assert "INSERT INTO" in str(failure.value)
    assert PHONE not in str(failure.value)
