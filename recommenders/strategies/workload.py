"""A workload's recommendation from per-series sizings: fields, limits, HPA and dollars.

The same for every strategy, so that the backtest, which scores `Strategy.size` alone,
scores what the pull request proposes. An HPA that scales on CPU utilisation measures usage
against the CPU request, so a new request would move the point at which it scales: the
target utilisation is adjusted to keep that point where it is, in cores per pod, when the
adjusted target stays within sane bounds; otherwise the CPU request is left alone.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from recommenders.forecasters import ForecastCache
from recommenders.forecasters.batch import forecast_all
from recommenders.forecasters.forecaster import Job
from recommenders.model import (
    CHART_UNITS,
    GIB,
    HOURS_PER_MONTH,
    ContainerResources,
    FieldRecommendation,
    UnitPrices,
    UsageChart,
    WorkloadRecommendation,
    WorkloadSpec,
)
from recommenders.quantiles import quantile
from recommenders.sources.usage import WorkloadUsage, present
from recommenders.strategies.base import (
    METRICS,
    Metric,
    Prepared,
    Sizing,
    Strategy,
)
from recommenders.strategies.history import CONFIDENCE
from recommenders.strategies.units import amount

HORIZON = pd.Timedelta(days=7)
"""A week ahead: every weekday's peak is inside it."""
UTILISATION_BOUNDS = (30, 95)
"""Targets outside this range either waste most of each pod or leave no time to scale."""
MAX_REPLICAS_HEADROOM = 1.25
"""maxReplicas covers this multiple of the highest forecast demand, and of the most replicas
that served demand in the window: capacity that carried a burst is never taken away."""
RESOURCE: dict[Metric, str] = {"cpu": "cpu", "memory": "memory"}
PRESSURE: dict[Metric, float] = {"memory": 0.95, "cpu": 0.9}
"""Share of the limit at which usage counts as pressing on it."""
OOM_INCREASE = 1.25
"""An OOM-killed container's memory request and limit grow by at least a quarter."""
HEAVY_THROTTLING = 0.25
"""A container throttled in a quarter of its CFS periods in its busiest hours is starved."""
CHART_POINTS = 60
"""At most this many points per chart, history and horizon together."""
CHART_BUCKETS = tuple(
    pd.Timedelta(hours=hours) for hours in (1, 2, 3, 4, 6, 8, 12, 24, 48, 72, 96, 168, 336, 672)
)
"""The bucket widths a chart may use: the finest that fits CHART_POINTS."""
DAY_NS = 86_400 * 10**9
NS_PER = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
NO_EVENTS = pd.Series(dtype=float)
"""A signal no source reported (read only: one empty series rather than one per call)."""


def recommend(
    strategy: Strategy,
    spec: WorkloadSpec,
    usage: WorkloadUsage,
    prices: UnitPrices,
    horizon: pd.Timedelta = HORIZON,
    cache: ForecastCache | None = None,
) -> WorkloadRecommendation:
    """`horizon`: from the end of the data to a week after the run, so that a forecast of
    data a day old still covers the week the change will live in. `cache` holds the HPA
    demand forecasts `demand_jobs` had sent to be fitted in bulk (waited for here if they
    are still being fitted); without it they are fitted here."""
    replicas = _mean_replicas(spec, usage)
    fields: list[FieldRecommendation] = []
    sizings: list[Sizing] = []
    anomalies: list[str] = []
    models: list[str] = []
    notes: list[str] = []
    said: dict[str, list[str]] = {}  # a strategy's note and its series: said once for all
    drawn: list[tuple[ContainerResources, Metric, pd.Series, Sizing]] = []
    for container in spec.containers:
        kept = usage.kept.get(container.name)
        failures = failures_of(usage, container.name)
        notes += [f"{container.name}: {text}" for text in failures.lines]
        for metric in METRICS:
            series = (usage.cpu if metric == "cpu" else usage.memory).get(container.name)
            if series is None:
                continue
            sizing = strategy.size(series, metric, horizon, kept)
            if sizing.request <= 0:
                notes.append(f"{container.name}: no {metric} proposal ({sizing.basis})")
                continue
            sizings.append(sizing)
            label = f"{container.name} {metric}"
            models.append(f"{label}: {sizing.model}")
            for note in sizing.notes:
                said.setdefault(note, []).append(label)
            anomalies += [f"{label}: {a.describe()}" for a in sizing.anomalies]
            per_unit = _per_unit(metric, prices) * replicas
            found = _fields(
                container, metric, sizing, per_unit, _pressure(container, metric, series)
            )
            fields += [_answer(field, failures) for field in found]
            drawn.append((container, metric, series, sizing))
    series = len(models)
    notes += [
        note if len(labels) == series else f"{', '.join(labels)}: {note}"
        for note, labels in said.items()
    ]
    hpa = spec.hpa
    if hpa is not None and hpa.cpu_utilization is not None:
        fields, note = _keep_scale_point(spec, fields)
        notes.append(note)
    if (job := _demand_job(spec, usage, horizon)) is not None:
        fields += _hpa_bounds(spec, usage, fields, prices, job, cache or ForecastCache())
    return WorkloadRecommendation(
        key=spec.key,
        fields=tuple(fields),
        history_hours=usage.hours,
        window=_window(usage),
        model="; ".join(models) or "none",
        confidence=min((s.confidence for s in sizings), key=CONFIDENCE.index, default="low"),
        notes=tuple(notes),
        anomalies=tuple(anomalies),
        pod_cpu_request=sum(c.requests.get("cpu", 0.0) for c in spec.containers),
        draw=functools.partial(_charts, tuple(drawn), horizon),
        ends=usage.end,
    )


def prepared_histories(usage: WorkloadUsage) -> list[Prepared]:
    """Every series `recommend` will size for this workload, as `Strategy.prepare` takes
    them: the same hours kept as `recommend` keeps, so the fits it makes are the ones used."""
    by_metric: list[tuple[Metric, dict[str, pd.Series]]] = [
        ("cpu", usage.cpu),
        ("memory", usage.memory),
    ]
    return [
        (series, metric, usage.kept[container])
        for metric, by_container in by_metric
        for container, series in by_container.items()
    ]


def _charts(
    drawn: tuple[tuple[ContainerResources, Metric, pd.Series, Sizing], ...],
    horizon: pd.Timedelta,
) -> tuple[UsageChart, ...]:
    found = (usage_chart(*series, horizon) for series in drawn)
    return tuple(chart for chart in found if chart is not None)


def usage_chart(
    container: ContainerResources,
    metric: Metric,
    series: pd.Series,
    sizing: Sizing,
    horizon: pd.Timedelta = HORIZON,
) -> UsageChart | None:
    """The history in equal buckets (CPU: each bucket's p95, what the risk target is about;
    memory: its peak, what an OOM kill is about), then the horizon at the strategy's
    risk-target level. The strategy hands over a single level, not the forecast's path, so
    the horizon shows that level; without one (a strategy with no forecast) it is empty."""
    history = present(series)
    if history.empty:
        return None
    index = history.index
    index = index if isinstance(index, pd.DatetimeIndex) else pd.DatetimeIndex(index)
    stamps = index.asi8 * NS_PER[index.unit]  # epoch time, UTC whatever the zone
    start = stamps.min() - stamps.min() % DAY_NS  # buckets count from the first day's midnight
    ahead = {w: -(-horizon.value // w.value) for w in CHART_BUCKETS}
    span = stamps.max() - start
    fits = [w for w in CHART_BUCKETS if span // w.value + 1 + ahead[w] <= CHART_POINTS]
    width = fits[0] if fits else CHART_BUCKETS[-1]
    first, values = _bucketed(stamps - start, history.to_numpy(float), width.value,
                              0.95 if metric == "cpu" else 1.0)  # fmt: skip
    buckets, steps = len(values), ahead[width]
    values = values[-(CHART_POINTS - steps) :]  # the latest buckets, with room for the horizon
    labels = _labels(int(start), first + buckets - len(values), len(values), steps, width.value)
    unit, scale = CHART_UNITS[metric]
    level = None if sizing.guard is None else round(sizing.guard * scale, 1)
    observed = [None if math.isnan(v) else round(v * scale, 1) for v in values.tolist()]
    return UsageChart(
        metric,
        container.name,
        unit,
        f"{'p95' if metric == 'cpu' else 'peak'} per {_duration(width)}",
        labels,
        (*observed, *[None] * steps),
        (*[None] * len(values), *[level] * steps),
        round(effective_request(container, RESOURCE[metric]) * scale, 1),
        round(sizing.request * scale, 1),
        horizon / pd.Timedelta(hours=1),
    )


def _bucketed(
    offsets: np.ndarray, values: np.ndarray, width: int, q: float
) -> tuple[int, np.ndarray]:
    """Each bucket's `q` quantile (`q=1`: its max), interpolated as pandas interpolates, from
    the first bucket with data (the number returned) to the last: what
    `resample(width, origin="start_day").quantile(q)` gives, in one sort. Resampling cost a
    chart 0.3 ms, and a 5,000-workload plan draws 18,000 charts."""
    bucket = offsets // width
    first = int(bucket.min())
    bucket -= first
    order = np.lexsort((values, bucket))
    bucket, values = bucket[order], values[order]
    sizes = np.bincount(bucket)
    firsts = np.cumsum(sizes) - sizes
    found = np.full(len(sizes), np.nan)
    full = sizes > 0
    position = q * (sizes[full] - 1)
    low = position.astype(np.int64)
    high = np.minimum(low + 1, sizes[full] - 1)
    below, above = values[firsts[full] + low], values[firsts[full] + high]
    found[full] = below + (above - below) * (position % 1)
    return first, found


@functools.lru_cache(maxsize=64)
def _labels(start: int, first: int, shown: int, ahead: int, width: int) -> tuple[str, ...]:
    """Each point's label (`11-03 07h`, or `11-03` for buckets of days): `shown` buckets of
    `width` ns from bucket `first` after `start`, then `ahead` more. Made once per plan, not
    per chart: the series of one export share their buckets, and formatting 60 dates cost
    each of 18,000 charts a fifth of its time."""
    moments = (first + np.arange(shown + ahead)) * width + start
    hours = np.datetime_as_string(moments.astype("datetime64[ns]"), unit="h")  # 2026-11-03T07
    daily = width >= DAY_NS
    return tuple(t[5:10] if daily else f"{t[5:10]} {t[11:13]}h" for t in hours.tolist())


@functools.lru_cache(maxsize=16)
def _duration(width: pd.Timedelta) -> str:
    for unit, name in ((pd.Timedelta(days=7), "week"), (pd.Timedelta(days=1), "day")):
        if width >= unit and width % unit == pd.Timedelta(0):
            count = width // unit
            return name if count == 1 else f"{count} {name}s"
    hours = width // pd.Timedelta(hours=1)
    return "hour" if hours == 1 else f"{hours} h"


def effective_request(container: ContainerResources, resource: str) -> float:
    """What the scheduler reserves today: the request, or for a container that sets none, its
    limit (Kubernetes copies a lone limit into the request), else nothing at all."""
    return container.requests.get(resource, container.limits.get(resource, 0.0))


def _fields(
    container: ContainerResources,
    metric: Metric,
    sizing: Sizing,
    per_unit: float,
    pressure: str,
) -> list[FieldRecommendation]:
    """A container without a request gets one: the containers that set none are the ones a
    scheduler packs blindly. Its limit is left alone then, since no ratio to keep exists."""
    resource = RESOURCE[metric]
    current = effective_request(container, resource)
    basis, request, limit = sizing.basis, sizing.request, sizing.limit
    floored = metric == "memory" and request < container.memory_floor
    if floored:
        needs, floor = amount(metric, request), container.memory_floor
        basis = f"not below {amount(metric, floor)}: {container.memory_note} (usage needs {needs})"
        request = floor
    elif metric == "memory" and container.memory_note:
        basis = f"{basis}; {container.memory_note}"
    if resource not in container.requests:
        today = (
            f"the limit, {amount(metric, current)}, is reserved"
            if current > 0
            else "nothing is reserved"
        )
        basis = f"requests.{resource} is unset ({today}); {basis}"
    fields = [
        FieldRecommendation(
            f"requests.{resource}",
            container.name,
            current,
            request,
            per_unit,
            basis,
            sizing.evidence,
            pressure,
            sizing.guard,
        )
    ]
    if resource in container.limits and resource in container.requests and current > 0:
        if floored:
            # The runtime sets the need, not usage: a ratio to it would only inflate the limit.
            limit = max(container.limits[resource], request)
            basis = f"not below the runtime's {amount(metric, request)}"
        elif limit is not None:
            limit, basis = max(limit, container.memory_floor), "set by the strategy"
        else:
            ratio = container.limits[resource] / current
            limit, basis = request * ratio, f"keeps the limit at {ratio:.2g}× the request"
        fields.append(
            FieldRecommendation(
                f"limits.{resource}", container.name, container.limits[resource], limit, 0.0, basis
            )
        )
    return fields


@dataclass(frozen=True)
class Failures:
    """What a container's failure signals say, a line each ("" when quiet)."""

    oom: str = ""
    throttled: str = ""
    restarts: str = ""

    @property
    def lines(self) -> list[str]:
        return [text for text in (self.oom, self.throttled, self.restarts) if text]


def failures_of(usage: WorkloadUsage, container: str) -> Failures:
    """OOM kills and restarts in the window, and throttling heavy enough to matter."""

    def events(metric: str) -> pd.Series:
        found = usage.signals.get((metric, container))
        return NO_EVENTS if found is None else found[found > 0].dropna()

    oom, restarts = events("oom_kills"), events("restarts")
    throttled = usage.signals.get(("cpu_throttled_ratio", container))
    found = Failures(
        oom=f"OOM killed {_times(oom)} in the window, last at {oom.index[-1]:%m-%d %H}h"
        if len(oom)
        else "",
        restarts=f"restarted {_times(restarts)} in the window, last at "
        f"{restarts.index[-1]:%m-%d %H}h"
        if len(restarts) and not len(oom)
        else "",
    )
    if throttled is not None and throttled.notna().any():
        busy = float(throttled.quantile(0.95))
        if busy >= HEAVY_THROTTLING:
            last = throttled[throttled >= HEAVY_THROTTLING].index[-1]
            text = (
                f"CPU throttled in {busy:.0%} of periods in its busiest hours (p95), last "
                f"at {last:%m-%d %H}h"
            )
            found = replace(found, throttled=text)
    return found


def _times(events: pd.Series) -> str:
    count = float(events.sum())
    return "once" if count == 1 else f"{count:g} times"


def _answer(field: FieldRecommendation, failures: Failures) -> FieldRecommendation:
    """An OOM kill forbids a memory decrease and asks for a quarter more, at once; heavy
    throttling forbids lowering the CPU limit. Both count as pressure, which lets the
    increase through the step limit."""
    if field.field.endswith(".memory") and failures.oom:
        wanted = max(field.proposed, field.current * OOM_INCREASE)
        basis = f"{failures.oom}: at least {OOM_INCREASE:g}× today's; {field.basis}"
        return replace(field, proposed=wanted, basis=basis, pressure=failures.oom)
    if field.field == "limits.cpu" and failures.throttled and field.proposed < field.current:
        basis = f"{failures.throttled}: the limit is not lowered"
        return replace(field, proposed=field.current, basis=basis, pressure=failures.throttled)
    return field


def _pressure(container: ContainerResources, metric: Metric, series: pd.Series) -> str:
    """Usage pressing on the limit: memory within 5 % of it (the next peak is an OOM kill),
    or CPU within 10 % of it in the busiest 1 % of hours (the kernel throttles there)."""
    limit = container.limits.get(RESOURCE[metric])
    values = present(series).to_numpy(float)
    if not limit or not len(values):
        return ""
    if metric == "memory":
        peak = float(values.max())
        if peak >= PRESSURE["memory"] * limit:
            return f"memory peaked at {peak / limit:.0%} of its limit: OOM kills are near"
        return ""
    busy = quantile(values, 0.99)
    if busy >= PRESSURE["cpu"] * limit:
        return f"CPU reached {busy / limit:.0%} of its limit in the busiest hours: throttled"
    return ""


def _keep_scale_point(
    spec: WorkloadSpec, fields: list[FieldRecommendation]
) -> tuple[list[FieldRecommendation], str]:
    """Adjust the HPA's target so a pod scales at the same cores, or drop the CPU change."""
    assert spec.hpa is not None and spec.hpa.cpu_utilization is not None
    target = spec.hpa.cpu_utilization
    proposed = {f.container: f.proposed for f in fields if f.field == "requests.cpu"}
    before = sum(c.requests.get("cpu", 0.0) for c in spec.containers)
    after = sum(proposed.get(c.name, c.requests.get("cpu", 0.0)) for c in spec.containers)
    if not proposed or before <= 0 or after <= 0:
        return fields, "CPU requests unchanged, so the HPA's scale point stays where it is."
    point = before * target / 100
    adjusted = round(target * before / after)
    low, high = UTILISATION_BOUNDS
    if not low <= adjusted <= high:
        kept = [f for f in fields if not f.field.endswith(".cpu")]
        return kept, (
            f"CPU request kept: the HPA scales at {target}% of it ({amount('cpu', point)} a "
            f"pod), and keeping that point would need a {adjusted}% target, outside "
            f"{low}–{high}%."
        )
    scale = FieldRecommendation(
        "hpa.cpuUtilization",
        None,
        float(target),
        float(adjusted),
        0.0,
        f"keeps the scale point at {amount('cpu', point)} per pod with the new CPU request",
    )
    return [*fields, scale], (
        f"The HPA's target moves from {target}% to {adjusted}% so that pods still scale at "
        f"{amount('cpu', point)} each: changing the CPU request alone would move that point."
    )


def _hpa_bounds(
    spec: WorkloadSpec,
    usage: WorkloadUsage,
    fields: list[FieldRecommendation],
    prices: UnitPrices,
    job: Job,
    cache: ForecastCache,
) -> list[FieldRecommendation]:
    """minReplicas from the quiet hours' demand, maxReplicas from the forecast peak, both in
    pods at the (possibly adjusted) target utilisation of the (possibly new) pod request."""
    assert spec.hpa is not None and usage.replicas is not None
    proposed = {(f.container, f.field): f.proposed for f in fields}
    pod_request = sum(
        proposed.get((c.name, "requests.cpu"), c.requests.get("cpu", 0.0)) for c in spec.containers
    )
    target = proposed.get((None, "hpa.cpuUtilization"), spec.hpa.cpu_utilization or 80)
    if pod_request <= 0:
        return []
    capacity = pod_request * target / 100
    (prediction,) = forecast_all([job], cache, workers=1)
    quiet = quantile(np.concatenate([job.values[-168:], prediction.mean]), 0.05)
    minimum = max(1, math.ceil(quiet / capacity))
    # p99 rather than the maximum: a three-hour incident must not double maxReplicas. But
    # the pods that did serve a burst stay available: the observed peak bounds it from below.
    # A ceiling costs nothing until it is reached, so it is only ever raised: lowering it
    # saves nothing and takes away head-room (a policy bound may still cap it).
    peak = max(quantile(job.values, 0.99), prediction.level(0.99))
    forecast_pods = math.ceil(peak * MAX_REPLICAS_HEADROOM / capacity)
    served = present(usage.replicas)
    served_pods = math.ceil(round(float(served.max()) * MAX_REPLICAS_HEADROOM, 6))
    maximum = max(minimum + 1, forecast_pods, served_pods, spec.hpa.max_replicas)
    if served_pods >= forecast_pods:
        max_basis = (
            f"{float(served.max()):g} replicas served demand on {served.idxmax():%m-%d %H}h; "
            f"kept with × {MAX_REPLICAS_HEADROOM} head-room"
        )
    else:
        max_basis = f"forecast peak demand × {MAX_REPLICAS_HEADROOM} at {target:g}% utilisation"
    pod_memory = sum(
        proposed.get((c.name, "requests.memory"), c.requests.get("memory", 0.0))
        for c in spec.containers
    )
    pod_month = pod_request * prices.cpu_core_hour + pod_memory / GIB * prices.memory_gib_hour
    at_floor = float((usage.replicas <= spec.hpa.min_replicas + 0.5).mean())
    evidence = (
        f"demand p5 {amount('cpu', quiet)}, peak {amount('cpu', peak)}; "
        f"a pod serves {amount('cpu', capacity)} at {target:g}%"
    )
    return [
        FieldRecommendation(
            "hpa.minReplicas",
            None,
            spec.hpa.min_replicas,
            minimum,
            pod_month * HOURS_PER_MONTH * at_floor,
            "p5 of demand (history and forecast) / what a pod serves",
            evidence,
        ),
        FieldRecommendation(
            "hpa.maxReplicas",
            None,
            spec.hpa.max_replicas,
            maximum,
            0.0,
            max_basis,
            evidence,
        ),
    ]


def _per_unit(metric: Metric, prices: UnitPrices) -> float:
    """Dollars per month for one core, or one byte, on one replica."""
    if metric == "cpu":
        return prices.cpu_core_hour * HOURS_PER_MONTH
    return prices.memory_gib_hour / GIB * HOURS_PER_MONTH


def demand_jobs(
    workloads: list[tuple[WorkloadSpec, WorkloadUsage]], horizon: pd.Timedelta
) -> Iterator[Job]:
    """The HPA demand forecasts `recommend` will need, for `send_all` to fit in bulk, on
    its workers and into the cache, with the sizing forecasts: fitted one by one inside
    `recommend`, they were a tenth of a 5,000-workload plan, and never cached."""
    found = (_demand_job(spec, usage, horizon) for spec, usage in workloads)
    return (job for job in found if job is not None)


def _demand_job(spec: WorkloadSpec, usage: WorkloadUsage, horizon: pd.Timedelta) -> Job | None:
    """The CPU the pods of a workload whose HPA scales on CPU used together, hour by hour:
    what minReplicas and maxReplicas are sized from. None without it."""
    if spec.hpa is None or spec.hpa.cpu_utilization is None or usage.demand is None:
        return None
    steps = int(horizon / pd.Timedelta(hours=1))
    return Job(usage.demand.to_numpy(), steps, f"{spec.key}/demand")


def _mean_replicas(spec: WorkloadSpec, usage: WorkloadUsage) -> float:
    counts = None if usage.replicas is None else usage.replicas.to_numpy(float)
    if counts is not None and not np.isnan(counts).all():
        recent = counts[-168:]
        recent = recent[~np.isnan(recent)]
        return float(recent.mean()) if len(recent) else math.nan
    if spec.replicas is not None:
        return float(spec.replicas)
    return float(spec.hpa.min_replicas) if spec.hpa else 1.0


def _window(usage: WorkloadUsage) -> tuple[str, str]:
    series = [s for s in (*usage.cpu.values(), *usage.memory.values()) if len(s)]
    if not series:
        return ("", "")
    start, end = min(s.index[0] for s in series), max(s.index[-1] for s in series)
    return (f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}")
