"""Every job runs with the context the composition root builds, the one the API, the worker and
the CLI all use (the CLI's own copy once lacked `channels`, which `send_deliveries` reads)."""

from __future__ import annotations

import uuid

from app.bootstrap import build_infrastructure
from app.services.platform.jobs import JobName
from app.workers.jobs import JOB_FUNCTIONS, JOB_REGISTRY
from app.workers.settings import WorkerSettings


async def test_every_job_runs_with_the_composition_roots_context(settings, engine):
    infrastructure = build_infrastructure(settings)
    queue = await infrastructure.queue()  # the in-process runner: no Redis in these settings
    context = infrastructure.job_context(queue)
    try:
        for name, job in JOB_FUNCTIONS.items():
            arguments = {
                "run_import": (str(uuid.uuid4()),),
                "run_export": (str(uuid.uuid4()),),
                "refresh_customer_health": (str(uuid.uuid4()), [str(uuid.uuid4())]),
                # Jobs about one record take its id; an unknown one is a no-op.
                "retrain_win_model": (str(uuid.uuid4()),),
            }.get(name, ())
            await job(context, *arguments)
    finally:
        await queue.close()
        await infrastructure.aclose()


def test_the_worker_serves_every_job_a_use_case_may_ask_for():
    assert {job.__name__ for job in WorkerSettings.functions} == set(JobName)
    assert set(JOB_FUNCTIONS) == set(JobName)


def test_the_worker_and_the_in_process_runner_repeat_the_same_jobs():
    assert {job.name for job in WorkerSettings.cron_jobs} == {
        f"cron:{job.name}" for job in JOB_REGISTRY if job.schedule is not None
    }
    recycle = next(job for job in WorkerSettings.cron_jobs if job.name == "cron:recycle_leads")
    assert recycle.minute == set(range(0, 60, 5))
