"""Typed records passed between the recommenders' stages and to the bot.

Quantities are plain floats in base units (CPU cores, memory bytes, replicas) so that no
stage has to know how a manifest writes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Literal

Metric = Literal["cpu", "memory"]
"""What a strategy sizes a series as: compressible CPU, or memory that OOM-kills."""
METRICS: tuple[Metric, ...] = ("cpu", "memory")
HOURS_PER_MONTH = 730.0
GIB = float(2**30)


@dataclass(frozen=True)
class WorkloadKey:
    """How usage data and manifests meet: environment, namespace, controller kind and name."""

    environment: str
    namespace: str
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.environment}/{self.namespace}/{self.kind}/{self.name}"


@dataclass(frozen=True)
class ContainerResources:
    """Requests and limits keyed by `cpu` (cores) and `memory` (bytes); absent when unset."""

    name: str
    requests: dict[str, float]
    limits: dict[str, float]
    memory_floor: float = 0.0
    """Bytes the container's runtime settings need (a JVM's -Xmx with room beside it): no
    memory request or limit is proposed below it."""
    memory_note: str = ""
    """Which runtime setting, in one line, for the reviewer."""


@dataclass(frozen=True)
class HpaSettings:
    min_replicas: int
    max_replicas: int
    cpu_utilization: int | None


@dataclass(frozen=True)
class WorkloadSpec:
    """What the manifests say today, stripped of where they say it."""

    key: WorkloadKey
    containers: tuple[ContainerResources, ...]
    replicas: int | None
    hpa: HpaSettings | None


@dataclass(frozen=True)
class UnitPrices:
    """What one CPU core and one GiB of memory cost per hour, and where that figure came from."""

    cpu_core_hour: float
    memory_gib_hour: float
    source: str


@dataclass(frozen=True)
class FieldRecommendation:
    """One proposed value. `monthly_cost_per_unit` turns any (clipped) change into dollars."""

    field: str
    container: str | None
    current: float
    proposed: float
    monthly_cost_per_unit: float
    basis: str
    """How `proposed` was derived from the evidence, in one line."""
    evidence: str = ""
    """The figures it was derived from (observed and forecast), for reviewers."""
    pressure: str = ""
    """Why the workload is short of this resource now (memory at its limit: OOM kills;
    CPU at its limit: throttling), which lets an increase go through at once."""
    guard: float | None = None
    """The level the strategy's risk target needs, which a performance guard keeps the value
    above whatever a cost rule says; None where the strategy has no forecast."""

    def monthly_cost_delta(self, value: float | None = None) -> float:
        target = self.proposed if value is None else value
        return (target - self.current) * self.monthly_cost_per_unit


CHART_UNITS: dict[Metric, tuple[str, float]] = {
    "cpu": ("millicores", 1000.0),
    "memory": ("MiB", 2.0**-20),
}
"""The unit a chart shows each metric in, and the factor from base units to it."""


@dataclass(frozen=True)
class UsageChart:
    """One container's usage of one resource, as the pull request charts it: the observed
    history downsampled into at most a few dozen buckets, then the horizon. Every value is in
    `unit` (millicores, MiB); `observed` and `forecast` run along `labels`, None where a
    series has no value (the forecast over the history, the history over the horizon, a
    bucket without samples)."""

    metric: Metric
    container: str
    unit: str
    statistic: str
    """What each observed point is, e.g. `p95 per day`."""
    labels: tuple[str, ...]
    observed: tuple[float | None, ...]
    forecast: tuple[float | None, ...]
    """The strategy's risk-target level (`Sizing.guard`) over the horizon: the forecast's
    sizing quantile for CPU; for memory the larger of the observed peak and the forecast's
    quantile. All None where the strategy has no forecast."""
    current: float
    proposed: float
    """The strategy's proposal, before any guardrail: the PR charts the decided value."""
    horizon_hours: float = 168.0
    """How far ahead the forecast runs: a week after the run, from the end of the data."""

    def display(self, value: float) -> float:
        """A value in base units (cores, bytes) in this chart's unit."""
        return value * CHART_UNITS[self.metric][1]

    def coarse(self, points: int) -> UsageChart:
        """This chart in at most `points` points, for an axis with room for that many labels
        (a PR's Mermaid chart): each run of `k` history points becomes its highest, counted
        back from the newest so that it is whole; the horizon, one level, is cut in steps of
        `k` too. A point keeps the label of its first member. Unchanged when it fits."""
        count = len(self.labels)
        if count <= points:
            return self
        history = max((i + 1 for i, v in enumerate(self.observed) if v is not None), default=0)
        k = -(-count // points)
        while -(-history // k) + -(-(count - history) // k) > points:
            k += 1
        starts = sorted({max(s, 0) for s in range(history - k, -k, -k)})
        starts += range(history, count, k)
        runs = [range(s, e) for s, e in zip(starts, [*starts[1:], count], strict=True)]

        def highest(values: tuple[float | None, ...], run: range) -> float | None:
            found = [value for i in run if (value := values[i]) is not None]
            return max(found) if found else None

        return replace(
            self,
            statistic=f"{self.statistic}, highest of every {k}",
            labels=tuple(self.labels[run[0]] for run in runs),
            observed=tuple(highest(self.observed, run) for run in runs),
            forecast=tuple(highest(self.forecast, run) for run in runs),
        )


@dataclass(frozen=True)
class WorkloadRecommendation:
    key: WorkloadKey
    fields: tuple[FieldRecommendation, ...]
    history_hours: int
    window: tuple[str, str]
    model: str
    confidence: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    anomalies: tuple[str, ...] = field(default_factory=tuple)
    """Stretches of history left out of sizing, as the PR shows them."""
    pod_cpu_request: float = 0.0
    """The whole pod's CPU request today: what an HPA measures utilisation against."""
    draw: Callable[[], tuple[UsageChart, ...]] | None = field(
        default=None, compare=False, repr=False
    )
    """Draws `charts` when they are first read: only a pull request and the dashboard show
    them, for the workloads they change, and drawing the 18,000 charts of a 5,000-workload
    plan that prints JSON was half of its sizing (7.0 s, 3.5 s without)."""
    ends: datetime | None = None
    """The end of the last hour of usage: how old the data is at the run."""

    @cached_property
    def charts(self) -> tuple[UsageChart, ...]:
        """Usage, forecast and requests per sized container and resource, for the PR's
        charts."""
        return self.draw() if self.draw is not None else ()

    @property
    def monthly_cost(self) -> float:
        """What the requests it sizes cost today, per month, at the unit prices used."""
        return sum(
            f.current * f.monthly_cost_per_unit
            for f in self.fields
            if f.field.startswith("requests.")
        )
