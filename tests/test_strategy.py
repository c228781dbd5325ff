"""The forecast and the default strategy on series whose right answer is known."""

import numpy as np
import pandas as pd
import pytest

from recommenders.forecast import forecast
from recommenders.model import (
    ContainerResources,
    HpaSettings,
    UnitPrices,
    WorkloadKey,
    WorkloadSpec,
)
from recommenders.sources.usage import WorkloadUsage
from recommenders.strategies import get_strategy

PRICES = UnitPrices(0.03, 0.004, "test")
KEY = WorkloadKey("prod", "shop", "Deployment", "api")
GIB = 2**30


def _hourly(values) -> pd.Series:
    index = pd.date_range("2026-10-01", periods=len(values), freq="1h", tz="UTC")
    return pd.Series(np.asarray(values, dtype=float), index=index)


def _daily(level, amplitude, days=30, noise=0.0, seed=1):
    hours = np.arange(days * 24)
    rng = np.random.default_rng(seed)
    return level + amplitude * np.sin(2 * np.pi * hours / 24) + rng.normal(0, noise, len(hours))


@pytest.mark.slow
def test_forecast_follows_the_daily_cycle_and_bounds_it_from_above():
    values = _daily(1.0, 0.5, noise=0.05)
    result = forecast(values, 48)
    assert result.model == "STL + AR(1)"
    assert result.mean.max() == pytest.approx(1.5, abs=0.1)
    assert result.mean.min() == pytest.approx(0.5, abs=0.1)
    assert np.all(result.upper >= result.mean)


@pytest.mark.parametrize("values", [[], [0.3] * 500, [0.1, 0.2, 0.3] * 10])
def test_short_or_flat_series_fall_back_to_percentiles(values):
    result = forecast(np.array(values), 24)
    assert result.model in ("percentile (too little history to fit)", "no data")
    assert len(result.mean) == 24 and np.all(np.isfinite(result.upper))


def _usage(cpu, memory, replicas=None, container="api"):
    return WorkloadUsage(
        {container: _hourly(cpu)},
        {container: _hourly(memory)},
        None if replicas is None else _hourly(replicas),
    )


def _spec(cpu, memory, limit_memory=None, hpa=None, replicas=2):
    limits = {"memory": limit_memory} if limit_memory else {}
    container = ContainerResources("api", {"cpu": cpu, "memory": memory}, limits)
    return WorkloadSpec(KEY, (container,), replicas, hpa)


@pytest.mark.slow
def test_over_provisioned_workload_is_sized_down_to_its_usage():
    usage = _usage(_daily(0.2, 0.05, noise=0.01), _daily(400 * 2**20, 0, noise=2**20))
    result = get_strategy("default").recommend(_spec(2.0, 4 * GIB, 4 * GIB), usage, PRICES)
    fields = {f.field: f for f in result.fields}
    assert 0.25 <= fields["requests.cpu"].proposed <= 0.35  # peak 0.25 plus the interval
    memory = fields["requests.memory"].proposed
    assert 400 * 2**20 * 1.15 <= memory <= 500 * 2**20  # never below peak + margin
    assert fields["limits.memory"].proposed == pytest.approx(memory)  # limit/request 1:1 kept
    assert fields["requests.cpu"].monthly_cost_delta() < 0
    assert result.confidence == "high" and result.history_hours == 720


@pytest.mark.slow
def test_under_provisioned_workload_is_sized_up():
    usage = _usage(_daily(0.4, 0.1, noise=0.01), _daily(300 * 2**20, 0, noise=2**20))
    result = get_strategy("default").recommend(_spec(0.25, 256 * 2**20), usage, PRICES)
    fields = {f.field: f for f in result.fields}
    assert fields["requests.cpu"].proposed >= 0.45  # the daily peak is 0.5
    assert fields["requests.memory"].proposed >= 300 * 2**20 * 1.15


@pytest.mark.slow
def test_hpa_on_cpu_keeps_the_cpu_request_and_sizes_replicas_from_demand():
    # Demand of 0.5..1.5 cores; each pod requests 0.5 cores and the HPA aims at 50 %,
    # so 2..6 pods are needed.
    demand = _daily(1.0, 0.5)
    replicas = np.ceil(demand / 0.25)
    usage = _usage(demand / replicas, _daily(200 * 2**20, 0), replicas)
    spec = _spec(0.5, GIB, hpa=HpaSettings(1, 20, 50), replicas=None)
    result = get_strategy("default").recommend(spec, usage, PRICES)
    fields = {f.field: f for f in result.fields}
    assert "requests.cpu" not in fields
    assert any("scale point" in note for note in result.notes)
    assert fields["hpa.minReplicas"].proposed == 3  # p5 of demand ~0.52 cores / 0.25
    assert 6 <= fields["hpa.maxReplicas"].proposed <= 9  # peak 1.5 / 0.25 with head-room
