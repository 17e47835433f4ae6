"""Every job runs with the context the composition root builds, the one the API, the worker and
the CLI all use (the CLI's own copy once lacked `channels`, which `send_deliveries` reads)."""

from __future__ import annotations

import uuid

from app.bootstrap import build_infrastructure
from app.workers.jobs import JOB_FUNCTIONS
from app.workers.settings import WorkerSettings


async def test_every_job_runs_with_the_composition_roots_context(settings, engine):
    infrastructure = build_infrastructure(settings)
    queue = await infrastructure.queue()  # the in-process runner: no Redis in these settings
    context = infrastructure.job_context(queue)
    try:
        for name, job in JOB_FUNCTIONS.items():
            arguments = (str(uuid.uuid4()),) if name == "run_import" else ()
            await job(context, *arguments)
    finally:
        await queue.close()
        await infrastructure.aclose()


def test_the_worker_serves_every_job_the_queue_may_ask_for():
    assert {job.__name__ for job in WorkerSettings.functions} == set(JOB_FUNCTIONS)
