"""What browsers and production deployments see: CORS for the SPA and the WeCom H5 app, security
headers on every answer, and docs and metrics that production keeps to itself."""

from __future__ import annotations

import pytest

from app.config import Environment
from tests.conftest import serving

SPA = "https://spa.example.com"


async def test_a_preflight_from_a_configured_origin_allows_the_headers_the_api_uses(settings, clock):
    async with serving(settings.model_copy(update={"cors_origins": [SPA]}), clock) as (_, client):
        preflight = await client.options(
            "/api/v1/leads/00000000-0000-0000-0000-000000000001",
            headers={
                "Origin": SPA,
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "authorization, if-match, idempotency-key, x-request-id",
            },
        )
        simple = await client.get("/healthz", headers={"Origin": SPA})
        unauthenticated = await client.get("/api/v1/leads", headers={"Origin": SPA})

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == SPA
    assert "PATCH" in preflight.headers["access-control-allow-methods"]
    allowed = preflight.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "if-match", "idempotency-key", "x-request-id"):
        assert header in allowed
    assert "access-control-allow-credentials" not in preflight.headers
    assert simple.headers["access-control-allow-origin"] == SPA
    exposed = simple.headers["access-control-expose-headers"].lower()
    for header in ("etag", "location", "retry-after"):
        assert header in exposed
    # A browser can read the error too: the 401 problem carries the CORS headers.
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["access-control-allow-origin"] == SPA


async def test_another_origin_gets_no_cors_permission(settings, clock):
    async with serving(settings.model_copy(update={"cors_origins": [SPA]}), clock) as (_, client):
        preflight = await client.options(
            "/api/v1/leads",
            headers={"Origin": "https://evil.example.net", "Access-Control-Request-Method": "GET"},
        )
        simple = await client.get("/healthz", headers={"Origin": "https://evil.example.net"})

    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


def test_cors_origins_are_read_from_a_comma_separated_variable_and_must_be_exact(settings, monkeypatch):
    monkeypatch.setenv("CRM_CORS_ORIGINS", "https://spa.example.com, http://localhost:5173")
    assert type(settings)().cors_origins == ["https://spa.example.com", "http://localhost:5173"]
    for wrong in ("*", "https://spa.example.com/", "spa.example.com"):
        monkeypatch.setenv("CRM_CORS_ORIGINS", wrong)
        with pytest.raises(ValueError, match="is not an origin"):
            type(settings)()


async def test_every_answer_carries_the_security_headers_and_api_answers_are_not_cached(client, make_tenant):
    tenant = await make_tenant()
    token = await client.post(
        "/api/v1/auth/token", data={"username": tenant.admin_username, "password": "correct-horse-battery"}
    )
    me = await client.get("/api/v1/users/me", headers=tenant.headers)
    missing = await client.get("/api/v1/nothing-here")

    for answer in (token, me, missing):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
        # Outside production (no TLS in front of it) there is no HSTS.
        assert "strict-transport-security" not in answer.headers


async def test_production_sends_hsts_hides_docs_and_keeps_metrics_behind_a_token(settings, clock):
    production = settings.model_copy(update={"env": Environment.production})
    async with serving(production, clock) as (_, client):
        health = await client.get("/healthz")
        docs = [await client.get(path) for path in ("/docs", "/redoc", "/openapi.json")]
        metrics_off = await client.get("/metrics")

    assert health.headers["strict-transport-security"].startswith("max-age=31536000")
    assert [d.status_code for d in docs] == [404, 404, 404]
    assert metrics_off.status_code == 404

    with_token = production.model_copy(update={"metrics_token": "m" * 32, "public_docs": True})
    async with serving(with_token, clock) as (_, client):
        docs_on = await client.get("/openapi.json")
        anonymous = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        scraped = await client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 32})

    assert docs_on.status_code == 200
    assert anonymous.status_code == 401
    assert wrong.status_code == 401
    assert scraped.status_code == 200
    assert "crm_http_requests_total" in scraped.text
