"""Prometheus metrics of the service, in their own registry (served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

WEBHOOKS = Counter(
    "rightsizer_webhooks_total",
    "Webhook deliveries by forge, event and outcome (queued, ignored, duplicate, refused).",
    ["forge", "event", "outcome"],
    registry=REGISTRY,
)
RUNS = Counter(
    "rightsizer_runs_total", "Runs by reason and outcome.", ["reason", "outcome"], registry=REGISTRY
)
RUN_SECONDS = Histogram(
    "rightsizer_run_duration_seconds",
    "How long a run took, from claim to finish.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)
PULL_REQUESTS = Counter(
    "rightsizer_pull_requests_total",
    "Pull requests the bot opened or updated.",
    ["outcome"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge("rightsizer_queue_depth", "Jobs waiting to run.", registry=REGISTRY)
