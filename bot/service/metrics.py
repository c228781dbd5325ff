"""Prometheus metrics of the service, in their own registry (served at /metrics).

Counters are per process. What every process shares, the last good run of each repository
and what each installation has left of its API budget, is read from the database at each
scrape (`StoreCollector`), so any web replica answers it whole.
"""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Iterator

from prometheus_client import (
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.store import Store

REGISTRY = CollectorRegistry(auto_describe=True)
REGISTRY.register(PROCESS_COLLECTOR)  # CPU seconds, resident memory, open files, start time
REGISTRY.register(PLATFORM_COLLECTOR)  # the Python it runs on
BUILD = Info("rightsizer_build", "The running version.", registry=REGISTRY)
BUILD.info(
    {"version": importlib.metadata.version("rightsizer"), "python": platform.python_version()}
)

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


class StoreCollector(Collector):
    """The state every process shares, read from the store when scraped."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        last = GaugeMetricFamily(
            "rightsizer_last_success_timestamp_seconds",
            "When each repository's last successful run ended (Unix time).",
            labels=["forge", "repository"],
        )
        for forge, repository, ended in self.store.runs.last_successes():
            last.add_metric([forge, repository], ended.timestamp())
        remaining = GaugeMetricFamily(
            "rightsizer_forge_rate_limit_remaining",
            "Requests the forge said an installation has left this hour.",
            labels=["forge", "installation"],
        )
        resets = GaugeMetricFamily(
            "rightsizer_forge_rate_limit_reset_timestamp_seconds",
            "When the forge said an installation's requests are full again (Unix time).",
            labels=["forge", "installation"],
        )
        for forge, installation, left, reset in self.store.budgets.known():
            remaining.add_metric([forge, str(installation)], left)
            resets.add_metric([forge, str(installation)], reset.timestamp())
        verified = GaugeMetricFamily(
            "rightsizer_verified_changes",
            "Workloads' merged bot changes by what verification after merge found: pending, "
            "healthy, regressed, reverted or superseded.",
            labels=["forge", "repository", "state"],
        )
        for forge, repository, state, count in self.store.verifications.counts():
            verified.add_metric([forge, repository, state], count)
        yield from (last, remaining, resets, verified)
