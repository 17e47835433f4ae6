"""An upper bound for POST /leads on this machine: bench/floor_app.py next to raw asyncpg.

bench.leads_throughput compares the API with a script doing the same inserts. This runs the same
load (2 uvicorn processes, the same closed-loop client) against the thinnest FastAPI endpoint that
writes those rows, first with nothing else, then with the reads every real lead creation makes
(the token's user; the fuzzy look-up for possible duplicates), and then the raw script, in one run.

Run: .venv/bin/python -m bench.leads_floor --seconds 15 --connections 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time

from bench.common import ROOT, asyncpg_dsn, first_organization_id, prepare, wait_until_serving
from bench.leads_throughput import PORT, drive_api, drive_raw

VARIANTS = ("", "user", "user,fuzzy")


def _serve_and_drive(env: dict[str, str], seconds: float, connections: int, start: int) -> dict[str, object]:
    uvicorn = os.path.join(os.path.dirname(sys.executable), "uvicorn")
    quiet = ("--no-access-log", "--log-level", "warning")
    server = subprocess.Popen(
        [uvicorn, "bench.floor_app:app", "--port", str(PORT), "--workers", "2", *quiet],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{PORT}/docs")
        time.sleep(1)  # the second process
        asyncio.run(drive_api(2, connections, "unused", start=start + 5_000_000))  # warm-up
        return asyncio.run(drive_api(seconds, connections, "unused", start=start))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    url, env = prepare("crm_bench_floor", admin="bench-admin", password="bench-password-1")
    dsn = asyncpg_dsn(url)
    organization_id = asyncio.run(first_organization_id(dsn))
    env.update(BENCH_FLOOR_DSN=dsn, BENCH_FLOOR_ORGANIZATION=str(organization_id))
    floors = {}
    for number, reads in enumerate(VARIANTS):
        result = _serve_and_drive(
            {**env, "BENCH_FLOOR_READS": reads}, args.seconds, args.connections, start=number * 10_000_000
        )
        floors[reads or "inserts only"] = result
    raw = asyncio.run(drive_raw(dsn, args.seconds, args.connections, organization_id, start=50_000_000))
    summary = {
        name: {
            "per_second": round(float(result["per_second"]), 1),  # type: ignore[arg-type]
            "errors": result["errors"],
            "over_raw": round(float(result["per_second"]) / raw["per_second"], 3),  # type: ignore[arg-type]
        }
        for name, result in floors.items()
    }
    print(json.dumps({"floor_app": summary, "raw_asyncpg": raw, "connections": args.connections}, indent=2))


if __name__ == "__main__":
    main()
