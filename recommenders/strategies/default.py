"""Rightsizer's first strategy: size to the forecast's upper bound, never below observed peaks.

CPU is compressible, so its request covers the 95th percentile of the forecast's upper
bound over the coming week. Memory is not (exceeding it means OOM kills), so its request
covers the larger of the observed peak and the forecast's highest upper bound, plus a margin.
Limits keep their ratio to the request. Workloads scaled by an HPA on CPU utilisation keep
their CPU request, since moving it moves the scale point; their replica bounds follow demand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommenders.forecast import forecast
from recommenders.model import (
    GIB,
    HOURS_PER_MONTH,
    ContainerResources,
    FieldRecommendation,
    UnitPrices,
    WorkloadRecommendation,
    WorkloadSpec,
)
from recommenders.sources.usage import WorkloadUsage


@dataclass(frozen=True)
class DefaultSettings:
    horizon_hours: int = 168
    """How far ahead to forecast: a week, so a weekly cycle's busy days are inside it."""
    cpu_quantile: float = 0.95
    """Share of forecast hours the CPU request must cover."""
    memory_margin: float = 0.15
    """Head-room above the memory peak: the JVM, caches and the next release grow."""
    max_replicas_headroom: float = 1.25
    """HPA maxReplicas covers this multiple of the highest forecast demand."""
    interval_level: float = 0.8
    """Central prediction interval whose upper bound sizing uses."""


class DefaultStrategy:
    name = "default"

    def __init__(self, settings: DefaultSettings | None = None) -> None:
        self.settings = settings or DefaultSettings()

    def recommend(
        self, spec: WorkloadSpec, usage: WorkloadUsage, prices: UnitPrices
    ) -> WorkloadRecommendation:
        replicas = _mean_replicas(spec, usage)
        fields: list[FieldRecommendation] = []
        models: set[str] = set()
        notes: list[str] = []
        hpa_on_cpu = spec.hpa is not None and spec.hpa.cpu_utilization is not None
        for container in spec.containers:
            cpu, memory = usage.cpu.get(container.name), usage.memory.get(container.name)
            if cpu is not None and not hpa_on_cpu:
                fields += self._cpu(container, cpu, replicas, prices, models)
            if memory is not None:
                fields += self._memory(container, memory, replicas, prices, models)
        if hpa_on_cpu:
            notes.append(
                "CPU requests left as they are: the HPA scales on CPU utilisation of the "
                "request, so changing it would move the scale point."
            )
            fields += self._hpa(spec, usage, prices, models)
        days = usage.hours / 24
        confidence = "high" if days >= 14 else "medium" if days >= 7 else "low"
        return WorkloadRecommendation(
            key=spec.key,
            fields=tuple(fields),
            history_hours=usage.hours,
            window=_window(usage),
            model=", ".join(sorted(models)) or "none",
            confidence=confidence,
            notes=tuple(notes),
        )

    def _cpu(
        self,
        container: ContainerResources,
        cpu: pd.Series,
        replicas: float,
        prices: UnitPrices,
        models: set[str],
    ) -> list[FieldRecommendation]:
        if "cpu" not in container.requests:
            return []
        prediction = forecast(
            cpu.to_numpy(), self.settings.horizon_hours, self.settings.interval_level
        )
        models.add(prediction.model)
        proposed = float(np.quantile(prediction.upper, self.settings.cpu_quantile))
        quantile = round(self.settings.cpu_quantile * 100)
        basis = f"p{quantile} of the forecast's {prediction.level:.0%} upper bound, next 7 days"
        observed = float(cpu.tail(self.settings.horizon_hours).quantile(self.settings.cpu_quantile))
        evidence = (
            f"forecast p{quantile} {_cores(float(np.quantile(prediction.mean, 0.95)))}, "
            f"observed p{quantile} {_cores(observed)} (last 7 days)"
        )
        per_core = prices.cpu_core_hour * HOURS_PER_MONTH * replicas
        return _with_limit(container, "cpu", proposed, per_core, basis, evidence)

    def _memory(
        self,
        container: ContainerResources,
        memory: pd.Series,
        replicas: float,
        prices: UnitPrices,
        models: set[str],
    ) -> list[FieldRecommendation]:
        if "memory" not in container.requests:
            return []
        prediction = forecast(
            memory.to_numpy(), self.settings.horizon_hours, self.settings.interval_level
        )
        models.add(prediction.model)
        observed, forecast_peak = float(memory.max()), float(prediction.upper.max())
        proposed = max(observed, forecast_peak) * (1 + self.settings.memory_margin)
        basis = f"peak (observed or forecast) + {self.settings.memory_margin:.0%}"
        evidence = f"observed peak {_bytes(observed)}, forecast peak {_bytes(forecast_peak)}"
        per_byte = prices.memory_gib_hour / GIB * HOURS_PER_MONTH * replicas
        return _with_limit(container, "memory", proposed, per_byte, basis, evidence)

    def _hpa(
        self, spec: WorkloadSpec, usage: WorkloadUsage, prices: UnitPrices, models: set[str]
    ) -> list[FieldRecommendation]:
        assert spec.hpa is not None and spec.hpa.cpu_utilization is not None
        if usage.replicas is None or not usage.cpu:
            return []
        pod_cpu = sum(usage.cpu.values())
        demand = (pod_cpu * usage.replicas).dropna()
        pod_request = sum(c.requests.get("cpu", 0.0) for c in spec.containers)
        if pod_request <= 0 or demand.empty:
            return []
        capacity = pod_request * spec.hpa.cpu_utilization / 100
        prediction = forecast(demand.to_numpy(), self.settings.horizon_hours)
        models.add(prediction.model)
        needed = np.concatenate(
            [demand.to_numpy()[-self.settings.horizon_hours :], prediction.mean]
        )
        minimum = max(1, math.ceil(float(np.quantile(needed, 0.05)) / capacity))
        # p99 rather than the maximum: a three-hour incident must not double maxReplicas.
        peak = max(float(demand.quantile(0.99)), float(prediction.upper.max()))
        maximum = max(minimum + 1, math.ceil(peak * self.settings.max_replicas_headroom / capacity))
        pod_month = (
            pod_request * prices.cpu_core_hour
            + sum(c.requests.get("memory", 0.0) for c in spec.containers)
            / GIB
            * prices.memory_gib_hour
        ) * HOURS_PER_MONTH
        at_floor = float((usage.replicas <= spec.hpa.min_replicas + 0.5).mean())
        target = spec.hpa.cpu_utilization
        evidence = (
            f"demand p5 {_cores(float(np.quantile(needed, 0.05)))}, peak {_cores(peak)}; "
            f"a pod serves {_cores(capacity)} at {target}%"
        )
        return [
            FieldRecommendation(
                "hpa.minReplicas",
                None,
                spec.hpa.min_replicas,
                minimum,
                pod_month * at_floor,
                f"p5 of demand (history and forecast) at {target}% of the pod's CPU request",
                evidence,
            ),
            FieldRecommendation(
                "hpa.maxReplicas",
                None,
                spec.hpa.max_replicas,
                maximum,
                0.0,
                f"peak demand × {self.settings.max_replicas_headroom} at {target}% utilisation",
                evidence,
            ),
        ]


def _with_limit(
    container: ContainerResources,
    resource: str,
    proposed: float,
    per_unit: float,
    basis: str,
    evidence: str,
) -> list[FieldRecommendation]:
    current = container.requests[resource]
    fields = [
        FieldRecommendation(
            f"requests.{resource}", container.name, current, proposed, per_unit, basis, evidence
        )
    ]
    if resource in container.limits and current > 0:
        ratio = container.limits[resource] / current
        fields.append(
            FieldRecommendation(
                f"limits.{resource}",
                container.name,
                container.limits[resource],
                proposed * ratio,
                0.0,
                f"keeps the limit at {ratio:.2g}× the request",
            )
        )
    return fields


def _mean_replicas(spec: WorkloadSpec, usage: WorkloadUsage) -> float:
    if usage.replicas is not None and usage.replicas.notna().any():
        return float(usage.replicas.tail(168).mean())
    if spec.replicas is not None:
        return float(spec.replicas)
    return float(spec.hpa.min_replicas) if spec.hpa else 1.0


def _window(usage: WorkloadUsage) -> tuple[str, str]:
    series = [s for s in (*usage.cpu.values(), *usage.memory.values()) if len(s)]
    if not series:
        return ("", "")
    start, end = min(s.index[0] for s in series), max(s.index[-1] for s in series)
    return (f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}")


def _cores(value: float) -> str:
    return f"{value:.3g} cores"


def _bytes(value: float) -> str:
    return f"{value / GIB:.2f} GiB" if value >= GIB else f"{value / 2**20:.0f} MiB"
