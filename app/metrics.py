"""Prometheus metrics shared by the API and the workers."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

HTTP_REQUESTS = Counter("crm_http_requests", "HTTP requests answered", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "crm_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
JOBS = Counter("crm_jobs", "Background jobs run", ["job", "outcome"])


def render_metrics() -> bytes:
    """Prometheus text; with PROMETHEUS_MULTIPROC_DIR set, aggregated over every process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()


# Web-form submissions by outcome: accepted (a lead created or merged) or honeypot (a bot, dropped).
INTAKE_SUBMISSIONS = Counter("crm_intake_submissions", "Web-form submissions", ["outcome"])
