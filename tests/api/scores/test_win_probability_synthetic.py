"""A model that finds the signal that is there (issue 17): a synthetic history with a known win
process (bench/win_synthetic.py) goes into the product through the import and the services the API
calls; the product computes its own features, trains, and on the time-split holdout its chosen
model comes within 5 % of the best AUC any model could reach, beats the naive Bayes baseline and is
calibrated (expected calibration error at most 0.05)."""

from __future__ import annotations

import os
from datetime import datetime, time
from zoneinfo import ZoneInfo

from bench.win_synthetic import generate, holdout_optimum, put_into_product
from tests.api.helpers import ok

DEALS = int(os.environ.get("CRM_TEST_SYNTHETIC_DEALS", "3000"))


async def test_the_model_finds_most_of_the_signal_a_known_process_put_in(client, app, make_tenant):
    tenant = await make_tenant("Synthetic History Co")
    runtime = app.state.runtime
    history = generate(DEALS)
    await put_into_product(
        client,
        tenant.headers,
        runtime.sessionmaker,
        runtime.queue,
        tenant.organization_id,
        history,
        runtime.queue.drain,
    )
    cut = history.cut()
    ok(
        await client.post(
            "/api/v1/scoring/models/retrain", json={"cut_date": cut.isoformat()}, headers=tenant.headers
        ),
        202,
    )
    await runtime.queue.drain()
    current = ok(await client.get("/api/v1/scoring/models/current", headers=tenant.headers))

    optimum, holdout = holdout_optimum(history, datetime.combine(cut, time(0), ZoneInfo("Asia/Shanghai")))
    assert current["rows"]["holdout"] == holdout
    assert current["rows"]["train"] + holdout == DEALS
    chosen, baseline = current["chosen_metrics"], current["baseline_metrics"]
    print(
        f"optimum {optimum:.4f} chosen {current['kind']} {chosen['auc']:.4f} baseline {baseline['auc']:.4f}"
    )
    assert current["kind"] == "logistic_regression"
    assert chosen["auc"] >= 0.95 * optimum
    assert chosen["auc"] > baseline["auc"]
    assert chosen["expected_calibration_error"] <= 0.05
    assert chosen["brier"] < current["base_rate"]["brier"]
    assert current["signal"] == "usable"
