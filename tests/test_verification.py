"""Verification after merge, judged from facts: the trailers' changes, the usage, the
manifests' values now (bot/decisions/verification.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from bot.decisions.verification import verify
from bot.policy.rules import VerifyRules
from bot.rules.cooldown import PastChange
from recommenders.sources.usage import WorkloadUsage
from recommenders.strategies.default import DefaultSettings
from recommenders.strategies.krr_simple import KrrSimpleSettings
from recommenders.strategies.settings import cautious

KEY = "prod/shop/Deployment/checkout"
GI = 2.0**30
MERGED = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
HOURS = pd.date_range("2026-10-31T00:00Z", "2026-11-29T23:00Z", freq="h")


def cut(field: str = "requests.memory", old: float = 2 * GI, new: float = GI) -> PastChange:
    return PastChange(KEY, "app", field, old, new, MERGED, "a1b2c3d4e5f6")


def usage(
    oom_after: int = 0,
    throttled: tuple[float, float] = (0.003, 0.004),
    running: float | None = None,
    end: pd.Timestamp | None = None,
) -> WorkloadUsage:
    """A month of a container's usage: 0.6 GiB, 0.2 cores; `oom_after` OOM kills spread
    over the day after the merge; throttling before and after; optionally the running
    memory request, which changes to 1 GiB at 13:00 on the merge day (a sync)."""
    hours = HOURS if end is None else HOURS[end > HOURS]
    memory = pd.Series(0.6 * GI, hours)
    cpu = pd.Series(0.2, hours)
    oom = pd.Series(0.0, hours)
    for i in range(oom_after):
        oom[pd.Timestamp(MERGED).ceil("h") + pd.Timedelta(hours=4 + 5 * i)] = 1.0
    throttling = pd.Series(throttled[0], hours)
    throttling[throttling.index >= MERGED] = throttled[1]
    signals = {("oom_kills", "app"): oom, ("cpu_throttled_ratio", "app"): throttling}
    runs = {}
    if running is not None:
        request = pd.Series(2 * GI, hours)
        request[request.index >= pd.Timestamp("2026-11-20T13:00Z")] = running
        runs[("memory_request_bytes", "app")] = request
    return WorkloadUsage({"app": cpu}, {"app": memory}, None, signals, runs)


NOW = datetime(2026, 11, 30, 6, tzinfo=UTC)


def test_healthy_usage_after_a_cut_is_verified_with_the_signals_it_read() -> None:
    (verdict,) = verify(KEY, [cut()], usage(), {("app", "requests.memory"): GI}, VerifyRules(), NOW)
    assert verdict.state == "healthy" and verdict.reverting == ()
    assert verdict.deployed == MERGED + timedelta(minutes=10)  # no running request reported
    assert verdict.summary == (
        "verified after 3 days: no OOM kills, throttling 0.4 % (was 0.3 %), "
        "memory above the new request 0 % of hours"
    )


def test_oom_kills_after_a_memory_cut_condemn_the_cut_while_the_manifest_holds_it() -> None:
    current = {("app", "requests.memory"): GI}
    (verdict,) = verify(KEY, [cut()], usage(oom_after=3), current, VerifyRules(), NOW)
    assert verdict.state == "regressed"
    assert verdict.reverting == (cut(),)
    oom = next(f for f in verdict.findings if f.signal == "oom_kills")
    assert (oom.before, oom.after, oom.text) == (0, 3, "OOM killed 3 times (was 0)")
    assert oom.times[0] == datetime(2026, 11, 20, 15, tzinfo=UTC)
    labels, values = oom.chart
    assert len(labels) <= 14 and sum(values) == 3  # three days before and after, 12 h steps
    # Reverted: the manifest holds the old value again; changed by someone: superseded.
    restored = {("app", "requests.memory"): 2 * GI}
    assert verify(KEY, [cut()], usage(oom_after=3), restored, VerifyRules(), NOW)[0].state == (
        "reverted"
    )
    moved = {("app", "requests.memory"): 1.5 * GI}
    assert verify(KEY, [cut()], usage(oom_after=3), moved, VerifyRules(), NOW)[0].state == (
        "superseded"
    )


def test_a_signal_condemns_only_the_cuts_it_is_about() -> None:
    raised = cut(old=GI, new=2 * GI)  # OOM kills after a raise: reverting would not help
    current = {("app", "requests.memory"): 2 * GI, ("app", "requests.cpu"): 0.1}
    (verdict,) = verify(KEY, [raised], usage(oom_after=3), current, VerifyRules(), NOW)
    assert verdict.state == "healthy"
    cpu = cut("requests.cpu", 0.4, 0.1)
    throttled = usage(throttled=(0.003, 0.2))
    (verdict,) = verify(KEY, [raised, cpu], throttled, current, VerifyRules(), NOW)
    assert verdict.state == "regressed" and verdict.reverting == (cpu,)
    assert "throttling 20.0 % (was 0.3 %)" in verdict.summary  # the merge hour in neither
    # Usage above a cut request in more hours than the policy allows condemns it too.
    tight = cut("requests.cpu", 0.4, 0.15)
    current[("app", "requests.cpu")] = 0.15
    (verdict,) = verify(KEY, [tight], usage(), current, VerifyRules(), NOW)
    assert verdict.state == "regressed" and "cpu above the new request 100 % of hours" in (
        verdict.summary
    )


@pytest.mark.parametrize(
    ("running", "end", "now", "state", "line"),
    [
        (GI, None, NOW, "healthy", "verified after 3 days"),
        # Seen running at 13:00: watched until three days later, past the data's end.
        (GI, pd.Timestamp("2026-11-23T12:00Z"), NOW, "pending", "watching until 2026-11-23 13:00"),
        # The cluster still runs the old request: not reached yet, whatever the clock says.
        (2 * GI, None, NOW, "pending", "merged; not yet seen running"),
        (
            None,
            None,
            datetime(2026, 11, 22, tzinfo=UTC),
            "pending",
            "watching until 2026-11-23 10:40",
        ),
    ],
)
def test_the_watch_starts_when_the_change_runs_and_waits_for_the_data(
    running: float | None, end: pd.Timestamp | None, now: datetime, state: str, line: str
) -> None:
    current = {("app", "requests.memory"): GI}
    (verdict,) = verify(KEY, [cut()], usage(running=running, end=end), current, VerifyRules(), now)
    assert verdict.state == state and verdict.summary.startswith(line)
    if running == GI and state == "healthy":
        assert verdict.deployed == datetime(2026, 11, 20, 13, tzinfo=UTC)


def test_old_merges_and_a_policy_that_turns_it_off_give_no_verdict() -> None:
    current = {("app", "requests.memory"): GI}
    assert verify(KEY, [cut()], usage(), current, VerifyRules(days=0), NOW) == []
    late = NOW + timedelta(days=31)
    assert verify(KEY, [cut()], usage(), current, VerifyRules(), late) == []


def test_a_reverted_workload_is_sized_taking_half_the_risk_within_each_bound() -> None:
    careful = cautious(DefaultSettings(memory_margin=0.8))
    assert (careful.cpu_risk, careful.memory_margin) == (0.025, 1.0)  # 1.6 is past the bound
    assert careful.memory_quantile == pytest.approx(0.9995)
    assert careful.exclude_anomalies == 1  # not a risk: left as it is
    assert cautious(KrrSimpleSettings()).cpu_percentile == 97.5


def test_a_merge_whose_days_before_have_left_the_usage_is_not_judged() -> None:
    """A baseline cut short would make a steady signal look new: no verdict, not a wrong one."""
    late = usage(oom_after=3)
    short = WorkloadUsage(
        {"app": late.cpu["app"]["2026-11-18":]},
        {"app": late.memory["app"]["2026-11-18":]},
        None,
        late.signals,
    )
    current = {("app", "requests.memory"): GI}
    assert verify(KEY, [cut()], short, current, VerifyRules(), NOW) == []


def test_raising_the_autoscalers_cpu_target_is_the_cut_throttling_condemns() -> None:
    raised = PastChange(KEY, None, "hpa.cpuUtilization", 60, 90, MERGED, "a1b2c3d4e5f6")
    lowered = PastChange(KEY, None, "hpa.cpuUtilization", 90, 60, MERGED, "a1b2c3d4e5f6")
    throttled = usage(throttled=(0.003, 0.2))
    (verdict,) = verify(
        KEY, [raised], throttled, {(None, "hpa.cpuUtilization"): 90}, VerifyRules(), NOW
    )
    assert verdict.state == "regressed" and verdict.reverting == (raised,)
    (verdict,) = verify(
        KEY, [lowered], throttled, {(None, "hpa.cpuUtilization"): 60}, VerifyRules(), NOW
    )
    assert verdict.state == "healthy"  # more pods per load: reverting it would not help


def test_an_slo_query_that_rose_past_the_policy_condemns_every_cut_of_the_workload() -> None:
    latency = pd.Series(0.2, HOURS)
    latency[latency.index >= pd.Timestamp(MERGED).ceil("h")] = 0.35
    current = {("app", "requests.memory"): GI}
    (verdict,) = verify(KEY, [cut()], usage(), current, VerifyRules(), NOW, latency)
    assert verdict.state == "regressed" and verdict.reverting == (cut(),)
    assert "SLO query 0.35 (was 0.2, +75 %)" in verdict.summary
    latency[latency.index >= pd.Timestamp(MERGED).ceil("h")] = 0.21
    (verdict,) = verify(KEY, [cut()], usage(), current, VerifyRules(), NOW, latency)
    assert verdict.state == "healthy" and "SLO query 0.21 (was 0.2, +5 %)" in verdict.summary


def test_a_repositorys_slo_query_runs_on_the_operators_prometheus_only_with_leave() -> None:
    """The query is the repository's own PromQL, run with the operator's credentials."""
    from bot.inputs import SourceRequest, operator_runs_slo_queries
    from bot.pipeline import slo_reader
    from recommenders.sources.utilisation.prometheus import PrometheusSource

    server = PrometheusSource("http://127.0.0.1:9", MERGED - timedelta(days=30), MERGED)
    said: list[str] = []
    read = slo_reader(SourceRequest(prometheus=server), said.append, trusted=False)
    assert read is not None and read("up") is None and read("up") is None
    assert said == [
        "warning: slo-query not run: the operator has not set RIGHTSIZER_SLO_QUERIES=true"
    ]
    assert operator_runs_slo_queries({"RIGHTSIZER_SLO_QUERIES": "true"})
    assert not operator_runs_slo_queries({})
    assert slo_reader(SourceRequest(), said.append, trusted=True) is None  # no Prometheus


def test_an_slo_query_in_a_shared_base_asks_each_environment_for_its_own_series() -> None:
    from bot.manifests.model import Workload
    from bot.planner import slo_text

    workload = Workload(
        "prod", "overlays/prod", "Deployment", "api", "shop", [], None, None, {}, ""
    )
    query = (
        'histogram_quantile(0.99, rate(x{env="$environment",ns="$namespace",app="$workload"}[5m]))'
    )
    assert slo_text(query, workload) == (
        'histogram_quantile(0.99, rate(x{env="prod",ns="shop",app="api"}[5m]))'
    )
