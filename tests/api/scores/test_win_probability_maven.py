"""A model that knows when it knows nothing (issue 17): on the Maven CRM sample, what is known at
engagement carries almost no signal about the outcome. Trained on deals closed before 2017-08-01
and judged on those closed on or after, the chosen model's Brier score is no worse than always
answering the training win rate (+0.005), and /scoring/models/current says it found no usable
signal."""

from __future__ import annotations

import json

import pytest

from tests.api.helpers import ok
from tests.api.imports.test_opportunity_import import MAPPING, MAVEN, _job, _maven_organization, _rows

pytestmark = pytest.mark.skipif(
    not MAVEN.exists(), reason="the shared Maven CRM data set is not on this machine"
)


async def test_on_maven_the_model_is_calibrated_and_reports_no_usable_signal(client, app, make_tenant):
    tenant = await _maven_organization(client, app, make_tenant)
    job = await _job(
        client,
        app,
        tenant,
        "/api/v1/opportunities/import",
        "sales_pipeline.csv",
        (MAVEN / "sales_pipeline.csv").read_bytes(),
        {"mapping": json.dumps({**MAPPING, "timezone": "UTC"})},
    )
    assert (job["created_count"], job["error_count"]) == (8800, 0)
    ok(
        await client.post(
            "/api/v1/scoring/models/retrain", json={"cut_date": "2017-08-01"}, headers=tenant.headers
        ),
        202,
    )
    await app.state.runtime.queue.drain()
    current = ok(await client.get("/api/v1/scoring/models/current", headers=tenant.headers))

    closed = [row for row in _rows("sales_pipeline.csv") if row["deal_stage"] in {"Won", "Lost"}]
    # The cut is a day in the organization's zone (Asia/Shanghai: 16:00 UTC on 31 July); the close
    # days were read as UTC midnights, so the holdout is exactly the deals closed from 1 August.
    holdout = [
        row
        for row in closed
        if (row["close_date"].split("/")[2], int(row["close_date"].split("/")[0])) >= ("2017", 8)
    ]
    assert current["status"] == "trained"
    assert current["closed_deals"] == len(closed) == 6711
    assert current["rows"]["train"] + current["rows"]["holdout"] == len(closed)
    assert current["rows"]["holdout"] == len(holdout)
    chosen, baseline = current["chosen_metrics"], current["baseline_metrics"]
    print(
        f"maven: chosen {current['kind']} auc {chosen['auc']:.4f} brier {chosen['brier']:.4f} "
        f"log loss {chosen['log_loss']:.4f}; naive Bayes auc {baseline['auc']:.4f} "
        f"brier {baseline['brier']:.4f}; "
        f"base rate brier {current['base_rate']['brier']:.4f}"
    )
    assert chosen["brier"] <= current["base_rate"]["brier"] + 0.005
    assert current["signal"] == "none"
