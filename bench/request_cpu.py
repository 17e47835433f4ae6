"""CPU per request inside one API process, without a server, a network or other clients.

The app is called in-process through httpx's ASGI transport, one request at a time, against
PostgreSQL; `time.process_time()` counts every thread of the process, so the client's share
(about the cost of the 404 row) is included in each figure. It tells where a request's CPU goes
(framework floor, authentication, a list, a lead's creation) where bench.leads_throughput tells
what the whole machine sustains.

Run: .venv/bin/python -m bench.request_cpu --requests 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable

import httpx

from bench.common import prepare

PASSWORD = "bench-password-1"
WARM_UP = 100


async def _cpu_ms_per_request(call: Callable[[int], Awaitable[httpx.Response]], requests: int) -> float:
    for n in range(WARM_UP):
        await call(n)
    started = time.process_time()
    for n in range(WARM_UP, WARM_UP + requests):
        await call(n)
    return round((time.process_time() - started) / requests * 1000, 2)


async def _measure(requests: int) -> dict[str, float]:
    from app.main import create_app

    app = create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            token = (
                await client.post(
                    "/api/v1/auth/token", data={"username": "bench-admin", "password": PASSWORD}
                )
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}

            def get(path: str, expected: int) -> Callable[[int], Awaitable[httpx.Response]]:
                async def call(_: int) -> httpx.Response:
                    response = await client.get(path, headers=headers)
                    assert response.status_code == expected, response.text
                    return response

                return call

            async def post_lead(n: int) -> httpx.Response:
                lead = {
                    "name": f"客户{n}",
                    "source": "web_form",
                    "phone": f"137{n:08d}",
                    "company": f"建材公司{n}",
                }
                response = await client.post("/api/v1/leads", json=lead, headers=headers)
                assert response.status_code == 201, response.text
                return response

            return {
                "GET unknown path (404)": await _cpu_ms_per_request(get("/nowhere", 404), requests),
                "GET /api/v1/users/me": await _cpu_ms_per_request(get("/api/v1/users/me", 200), requests),
                "GET /api/v1/leads?limit=1": await _cpu_ms_per_request(
                    get("/api/v1/leads?limit=1", 200), requests
                ),
                "POST /api/v1/leads": await _cpu_ms_per_request(post_lead, requests),
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    _, env = prepare("crm_bench_request_cpu", admin="bench-admin", password=PASSWORD)
    os.environ.update(env)
    figures = asyncio.run(_measure(args.requests))
    print(
        json.dumps({"requests": args.requests, "cpu_ms_per_request": figures}, indent=2, ensure_ascii=False)
    )


if __name__ == "__main__":
    main()
