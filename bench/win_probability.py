"""Win probability on the Maven CRM sample and on a synthetic history with a known process (issue
17): both models' holdout AUC, log loss, Brier score and calibration, the constant base-rate
forecast, the best AUC possible (synthetic), and the training time, on PostgreSQL.

The app runs in-process (no Redis: the inline runner) on a fresh database migrated to head; the
data goes in as in the acceptance tests (tests/api/test_win_probability_*.py), at any size.

    .venv/bin/python -m bench.win_probability --database crm_winprob_test --synthetic-deals 20000
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from app.config import Environment, Settings
from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.main import create_app
from app.services.identity.users import NewUser, create_user
from app.services.organizations import create_organization
from app.services.platform.unit_of_work import session_scope
from app.services.scores import win_probability
from bench.common import CRM, ROOT, bench_env, recreate_database
from bench.win_synthetic import generate, holdout_optimum, put_into_product

MAVEN = ROOT.parent / "shared" / "datasets" / "maven-crm"
if not MAVEN.is_dir():
    MAVEN = Path("/work/shared/datasets/maven-crm")
TIMEZONE = "Asia/Shanghai"


@asynccontextmanager
async def _serving(database_url: str) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    settings = Settings(
        env=Environment.test,
        database_url=database_url,
        redis_url=None,
        jwt_secret="bench-secret-" + "x" * 40,
        var_dir=ROOT / "var" / "bench",
        storage_dir=ROOT / "var" / "bench" / "files",
        log_level="ERROR",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as client:
            yield app, client


async def _tenant(app: Any, client: httpx.AsyncClient, name: str) -> tuple[uuid.UUID, dict[str, str]]:
    runtime = app.state.runtime
    username = f"admin-{uuid.uuid4().hex[:8]}"
    async with session_scope(runtime.sessionmaker, runtime.queue) as session:
        created = await create_organization(
            session, name=name, admin_username=username, admin_password="x" * 12, timezone=TIMEZONE
        )
    token = (
        await client.post("/api/v1/auth/token", data={"username": username, "password": "x" * 12})
    ).json()
    return created.organization.id, {"Authorization": f"Bearer {token['access_token']}"}


async def _import(
    app: Any, client: httpx.AsyncClient, headers: dict[str, str], path: str, name: str, data: dict[str, str]
) -> dict[str, Any]:
    started = await client.post(
        path, files={"file": (name, (MAVEN / name).read_bytes(), "text/csv")}, data=data, headers=headers
    )
    assert started.status_code == 202, started.text
    await app.state.runtime.queue.drain()
    return (await client.get(f"/api/v1/import-jobs/{started.json()['id']}", headers=headers)).json()


async def _maven(app: Any, client: httpx.AsyncClient) -> uuid.UUID:
    """As tests/api/imports/test_opportunity_import.py puts it in: agents, accounts, products, deals."""
    organization_id, headers = await _tenant(app, client, "Maven Sample Co")
    runtime = app.state.runtime
    with (MAVEN / "sales_teams.csv").open(encoding="utf-8") as handle:
        agents = list(csv.DictReader(handle))
    async with session_scope(runtime.sessionmaker, runtime.queue) as session:
        for n, agent in enumerate(agents):
            await create_user(
                session,
                actor=Principal.system(organization_id),
                data=NewUser(
                    username=f"agent{n}", display_name=agent["sales_agent"], password="x" * 12, role=Role.rep
                ),
            )
    mapping = {"account": "name", "sector": "industry", "office_location": "region"}
    await _import(
        app,
        client,
        headers,
        "/api/v1/customers/import",
        "accounts.csv",
        {"column_mapping": json.dumps(mapping)},
    )
    with (MAVEN / "products.csv").open(encoding="utf-8") as handle:
        for product in csv.DictReader(handle):
            body = {
                "sku": product["product"].upper().replace(" ", "-"),
                "name": product["product"],
                "product_line": product["series"],
                "list_price": product["sales_price"],
                "currency": "USD",
            }
            assert (await client.post("/api/v1/products", json=body, headers=headers)).status_code == 201
    deal_mapping = json.loads((ROOT / "docs" / "mappings" / "maven-crm.json").read_text(encoding="utf-8"))
    job = await _import(
        app,
        client,
        headers,
        "/api/v1/opportunities/import",
        "sales_pipeline.csv",
        {"mapping": json.dumps({**deal_mapping, "timezone": "UTC"})},
    )
    assert job["created_count"] == 8800, job
    return organization_id


async def _train(app: Any, organization_id: uuid.UUID, cut: date) -> tuple[dict[str, Any], float]:
    """Trains through the service the retrain job calls, timed; the metrics as the API shows them."""
    runtime = app.state.runtime
    started = time.perf_counter()
    async with session_scope(runtime.sessionmaker, runtime.queue) as session:
        model = await win_probability.train_win_model(
            session, organization_id=organization_id, now=datetime.now(ZoneInfo("UTC")), cut_on=cut
        )
        assert model is not None
        result = {"kind": model.chosen, "signal": model.signal, **model.metrics}
    return result, time.perf_counter() - started


def _summary(
    name: str, result: dict[str, Any], seconds: float, optimum: float | None = None
) -> dict[str, Any]:
    models = result["models"]
    return {
        "data": name,
        "chosen": result["kind"],
        "signal": result["signal"],
        "rows": result["rows"],
        "training_seconds": round(seconds, 2),
        "optimum_auc": optimum,
        "base_rate": result["base_rate"],
        "logistic_regression": models["logistic_regression"],
        "naive_bayes": models["naive_bayes"],
    }


def _fresh_database(name: str) -> str:
    url = asyncio.run(recreate_database(name))
    subprocess.run([CRM, "db", "upgrade"], env=bench_env(url), check=True, capture_output=True)
    return url


async def main(url: str, synthetic_deals: int, skip_maven: bool) -> None:
    results = []
    async with _serving(url) as (app, client):
        if not skip_maven and MAVEN.is_dir():
            organization_id = await _maven(app, client)
            result, seconds = await _train(app, organization_id, date(2017, 8, 1))
            results.append(_summary("maven", result, seconds))
        history = generate(synthetic_deals)
        organization_id, headers = await _tenant(app, client, "Synthetic History Co")
        runtime = app.state.runtime
        loading = time.perf_counter()
        await put_into_product(
            client,
            headers,
            runtime.sessionmaker,
            runtime.queue,
            organization_id,
            history,
            runtime.queue.drain,
        )
        loaded = time.perf_counter() - loading
        cut = history.cut()
        result, seconds = await _train(app, organization_id, cut)
        optimum, _ = holdout_optimum(history, datetime.combine(cut, datetime.min.time(), ZoneInfo(TIMEZONE)))
        summary = _summary(f"synthetic {synthetic_deals}", result, seconds, round(optimum, 4))
        summary["loading_seconds"] = round(loaded, 1)
        results.append(summary)
    print(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--database", default="crm_bench_win_probability_test", help="recreated; its name must contain 'test'"
    )
    parser.add_argument("--synthetic-deals", type=int, default=20_000)
    parser.add_argument("--skip-maven", action="store_true")
    arguments = parser.parse_args()
    if "test" not in arguments.database:
        raise SystemExit("the database is dropped and recreated: give a name containing 'test'")
    asyncio.run(main(_fresh_database(arguments.database), arguments.synthetic_deals, arguments.skip_maven))
