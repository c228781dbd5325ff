"""The default strategy, through the workload recommendation, on series whose right answer is
known."""

import numpy as np
import pandas as pd
import pytest

from recommenders.model import (
    ContainerResources,
    HpaSettings,
    UnitPrices,
    WorkloadKey,
    WorkloadSpec,
)
from recommenders.sources.usage import WorkloadUsage
from recommenders.strategies import get_strategy
from recommenders.strategies.workload import recommend

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
    result = recommend(get_strategy("default"), _spec(2.0, 4 * GIB, 4 * GIB), usage, PRICES)
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
    result = recommend(get_strategy("default"), _spec(0.25, 256 * 2**20), usage, PRICES)
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
    spec = _spec(0.5, GIB, hpa=HpaSettings(1, 4, 50), replicas=None)
    result = recommend(get_strategy("default"), spec, usage, PRICES)
    fields = {f.field: f for f in result.fields}
    assert "requests.cpu" not in fields
    # Per-pod usage hovers at the HPA's 50 % of 0.5 cores, so the strategy wants ~0.25 cores,
    # which would need a 100 % target to keep pods scaling at 0.25 cores: CPU stays.
    assert any("would need a 100% target, outside 30–95%" in note for note in result.notes)
    assert fields["hpa.minReplicas"].proposed == 3  # p5 of demand ~0.52 cores / 0.25
    assert 6 <= fields["hpa.maxReplicas"].proposed <= 9  # peak 1.5 / 0.25 with head-room
    # A ceiling above the need is head-room that costs nothing: it is never lowered.
    roomy = _spec(0.5, GIB, hpa=HpaSettings(1, 20, 50), replicas=None)
    roomy_fields = {
        f.field: f for f in recommend(get_strategy("default"), roomy, usage, PRICES).fields
    }
    assert roomy_fields["hpa.maxReplicas"].proposed == 20


@pytest.mark.slow
def test_hpa_target_moves_to_keep_the_scale_point_when_the_cpu_request_changes():
    # Pods use 0.3..0.5 cores against a 1-core request and scale at 40 % (0.4 cores): the
    # request comes down to ~0.5 cores, so the target goes up to ~80 % to scale at 0.4 cores.
    usage = _usage(_daily(0.4, 0.1, noise=0.005), _daily(200 * 2**20, 0), _daily(3, 0))
    spec = _spec(1.0, GIB, hpa=HpaSettings(2, 10, 40), replicas=None)
    result = recommend(get_strategy("default"), spec, usage, PRICES)
    fields = {f.field: f for f in result.fields}
    request = fields["requests.cpu"].proposed
    assert 0.48 <= request <= 0.55
    assert fields["hpa.cpuUtilization"].proposed == round(40 * 1.0 / request)
    assert any("still scale at 0.4 cores" in note for note in result.notes)


@pytest.mark.slow
def test_usage_at_the_limit_is_pressure_that_lets_an_increase_through_at_once():
    memory = _daily(500 * 2**20, 0, noise=2**20)
    usage = _usage(_daily(0.2, 0.05, noise=0.01), memory)
    near = recommend(get_strategy("default"), _spec(0.5, 256 * 2**20, 512 * 2**20), usage, PRICES)
    fields = {f.field: f for f in near.fields}
    assert fields["requests.memory"].pressure.startswith("memory peaked at 9")
    assert "OOM kills are near" in fields["requests.memory"].pressure
    roomy = recommend(get_strategy("default"), _spec(0.5, 256 * 2**20, 2 * GIB), usage, PRICES)
    assert {f.field: f for f in roomy.fields}["requests.memory"].pressure == ""


def test_a_container_without_requests_gets_them_from_what_it_reserves_today():
    """No request and no limit: nothing is reserved, so the request is an increase from
    zero. A lone limit is what Kubernetes reserves, so the new request is measured against
    it; the limit itself has no request to keep a ratio to and is left alone."""
    usage = _usage(_daily(0.2, 0.05, noise=0.01), _daily(400 * 2**20, 0, noise=2**20))
    bare = ContainerResources("api", {}, {"memory": 2 * GIB})
    spec = WorkloadSpec(KEY, (bare,), 2, None)
    result = recommend(get_strategy("krr-simple"), spec, usage, PRICES)
    fields = {f.field: f for f in result.fields}
    assert set(fields) == {"requests.cpu", "requests.memory"}
    cpu, memory = fields["requests.cpu"], fields["requests.memory"]
    assert cpu.current == 0 and cpu.proposed > 0.2 and cpu.monthly_cost_delta() > 0
    assert cpu.basis.startswith("requests.cpu is unset (nothing is reserved); ")
    assert memory.current == 2 * GIB and memory.monthly_cost_delta() < 0
    assert memory.basis.startswith("requests.memory is unset (the limit, 2.00 GiB, is reserved)")


@pytest.mark.slow
def test_the_replicas_that_served_a_burst_are_never_taken_away():
    """Checkout in the demo: 3 replicas most of the month, 12 for three hours of a sale at
    several cores each. p99 of demand leaves those hours out, but the pods that carried
    them stay: maxReplicas keeps the observed peak with its head-room."""
    replicas = np.full(30 * 24, 3.0)
    per_pod = _daily(0.3, 0.05, noise=0.01)
    replicas[500:503], per_pod[500:503] = 12, 1.8
    usage = _usage(per_pod, _daily(300 * 2**20, 0), replicas)
    spec = _spec(0.5, GIB, hpa=HpaSettings(2, 12, 70), replicas=None)
    fields = {f.field: f for f in recommend(get_strategy("default"), spec, usage, PRICES).fields}
    maximum = fields["hpa.maxReplicas"]
    assert maximum.proposed == 15  # 12 served × 1.25
    assert maximum.basis.startswith("12 replicas served demand on 10-21 20h")


def test_a_start_up_peak_after_a_restart_is_sized_for_not_left_out():
    """Memory steady at 300Mi, one hour at 700Mi: alone it looks like an incident and is
    left out; right after the container restarted it is the start-up peak the next start
    needs as well."""
    memory = _daily(300 * 2**20, 0, noise=2**20)
    memory[400] = 700 * 2**20
    usage = _usage(_daily(0.2, 0.05, noise=0.01), memory)
    spec = _spec(0.5, GIB)
    alone = {f.field: f for f in recommend(get_strategy("default"), spec, usage, PRICES).fields}
    assert alone["requests.memory"].proposed < 400 * 2**20  # the hour was left out
    restarts = pd.Series(0.0, index=usage.memory["api"].index)
    restarts.iloc[400] = 1
    started = WorkloadUsage(usage.cpu, usage.memory, None, {("restarts", "api"): restarts})
    kept = {f.field: f for f in recommend(get_strategy("default"), spec, started, PRICES).fields}
    assert kept["requests.memory"].proposed >= 700 * 2**20


def test_charts_are_drawn_when_first_read_and_equal_those_drawn_at_once(monkeypatch):
    from recommenders.strategies import workload

    drawn = []
    draw = workload.usage_chart
    monkeypatch.setattr(
        workload, "usage_chart", lambda *args: drawn.append(args[:2]) or draw(*args)
    )
    usage = _usage(_daily(0.2, 0.05, noise=0.01), _daily(400 * 2**20, 0, noise=2**20))
    spec = _spec(2.0, 4 * GIB, 4 * GIB)
    result = recommend(get_strategy("krr-simple"), spec, usage, PRICES)
    assert drawn == [], "a plan that shows no chart draws none"
    assert [(c.container, c.metric) for c in result.charts] == [("api", "cpu"), ("api", "memory")]
    assert result.charts is result.charts and len(drawn) == 2, "drawn once"
    container = spec.containers[0]
    sizings = get_strategy("krr-simple")
    for chart, series in zip(result.charts, (usage.cpu["api"], usage.memory["api"]), strict=True):
        sizing = sizings.size(series, chart.metric, workload.HORIZON)
        assert chart == draw(container, chart.metric, series, sizing, workload.HORIZON)
