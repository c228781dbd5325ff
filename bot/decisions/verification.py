"""Verification after merge: did a change the bot merged hurt the workload it changed?

Why: a rightsizing bot that stops at the merge leaves the risk with the reviewer. The bot
holds the history, the forecast and the write path, so it watches its own changes: for
`verify.days` after a change reached the cluster it reads the same sources (OOM kills,
restarts, CPU throttling, usage above the new request) and compares them with as many days
before the merge. A signal past the policy's threshold condemns only the changes that cut
the resource it is about (OOM kills a memory cut, throttling a CPU or replica cut), so an
OOM kill after the bot raised memory never reverts the raise.

A verdict is computed from facts each run and stored nowhere: the merge and its numbers
come from the base branch's `Rightsizer-Change:` trailers (`bot.rules.cooldown`), the
signals from the usage, and whether a revert already happened from the manifests as they
are now. So a rerun on the same facts reaches the same verdicts, and the forge's state (a
revert PR, a comment) is converged from them like every other write.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from bot.decisions.model import RuleHit
from bot.policy.rules import VerifyRules
from bot.rules.cooldown import PastChange
from recommenders.model import CHART_UNITS
from recommenders.sources.usage import WorkloadUsage

HISTORY_DAYS = 30
"""Merges older than this are settled and no longer read. A younger one is judged only
while the usage still covers the days before it: a baseline cut short by the export's
window would make a steady signal look like a new one."""
SAME = 0.01
"""A running request within 1 % of the merged value is that value (units round)."""
BUCKET = timedelta(hours=12)
"""The evidence chart's step: three days before and after in twelve points."""
RUNNING_METRIC = {
    "requests.cpu": "cpu_request_cores",
    "requests.memory": "memory_request_bytes",
    "limits.cpu": "cpu_limit_cores",
    "limits.memory": "memory_limit_bytes",
}
"""The usage metric that shows a field's value as the cluster runs it."""

State = Literal["pending", "healthy", "regressed", "reverted", "superseded"]
Signal = Literal["oom_kills", "restarts", "cpu_throttled_ratio", "over_request", "slo"]


@dataclass(frozen=True)
class Finding:
    """One signal of one container, after the change against before it."""

    signal: Signal
    container: str
    before: float
    after: float
    regressed: bool
    text: str
    """`OOM killed 4 times (was 0)`, `throttling 0.4 % (was 0.3 %)`."""
    resource: Literal["cpu", "memory", ""] = ""
    """The resource a cut of which the signal condemns; "" for any (restarts)."""
    times: tuple[datetime, ...] = ()
    """The hours the signal fired after the change, oldest first."""
    chart: tuple[tuple[str, ...], tuple[float, ...]] = ((), ())
    """The signal in `BUCKET` steps over the days before and after: labels and values."""

    @property
    def when(self) -> str:
        """The first hours it fired, as the evidence lists them."""
        shown = ", ".join(f"{moment:%m-%d %H}h" for moment in self.times[:6])
        more = len(self.times) - 6
        return f"{shown} and {more} more" if more > 0 else shown

    @property
    def label(self) -> str:
        """What the evidence chart's bars are."""
        return {
            "oom_kills": "OOM kills",
            "restarts": "restarts",
            "cpu_throttled_ratio": "CPU throttled (%)",
            "over_request": f"{self.resource} peak ({CHART_UNITS[self.resource or 'cpu'][0]})",
            "slo": "SLO query",
        }[self.signal]


@dataclass(frozen=True)
class Verdict:
    """What became of one workload's changes in one merged bot commit."""

    key: str
    """`<environment>/<namespace>/<Kind>/<name>`."""
    sha: str
    merged: datetime
    deployed: datetime | None
    """When the change reached the cluster; None while the data does not show it."""
    reached: str
    """How `deployed` is known, for the text."""
    state: State
    findings: tuple[Finding, ...]
    changes: tuple[PastChange, ...]
    reverting: tuple[PastChange, ...] = ()
    """The changes a revert restores: those a regressed signal condemns and that the
    manifests still hold."""
    days: float = 3

    @property
    def verified_at(self) -> datetime | None:
        return None if self.deployed is None else self.deployed + timedelta(days=self.days)

    @property
    def moments(self) -> list[datetime]:
        """When the clock alone could change this verdict: the watch ending, the merge
        growing too old to judge."""
        ends = [] if self.verified_at is None else [self.verified_at]
        return [*ends, self.merged + timedelta(days=HISTORY_DAYS)]

    @property
    def summary(self) -> str:
        """One line: `verified after 3 days: no OOM kills, throttling 0.4 % (was 0.3 %)`."""
        if self.state == "pending":
            return self.reached
        shown = [f.text for f in self.findings if f.regressed] or [f.text for f in self.findings]
        facts = ", ".join(dict.fromkeys(shown)) or "no signal reported"
        if self.state == "healthy":
            return f"verified after {self.days:g} days: {facts}"
        since = {"reverted": "; reverted since", "superseded": "; changed since"}
        return f"regressed after {self.days:g} days: {facts}{since.get(self.state, '')}"


def verify(
    key: str,
    changes: Sequence[PastChange],
    usage: WorkloadUsage | None,
    current: dict[tuple[str | None, str], float],
    rules: VerifyRules,
    now: datetime,
    slo: pd.Series | None = None,
) -> list[Verdict]:
    """A verdict per merged commit of `changes` (one workload's, from the trailers) that is
    younger than `HISTORY_DAYS`; `current` holds the workload's values in the manifests now
    (base units) by (container, field); `slo` the answer of the workload's SLO query, where
    it has one."""
    if rules.days <= 0 or usage is None:
        return []
    by_commit: dict[str, list[PastChange]] = {}
    for change in changes:
        if change.key == key and now - change.when < timedelta(days=HISTORY_DAYS):
            by_commit.setdefault(change.sha, []).append(change)
    found = [
        _verdict(key, tuple(merged), usage, current, rules, now, slo)
        for merged in by_commit.values()
    ]
    return [verdict for verdict in found if verdict is not None]


def reverting(verdicts: Sequence[Verdict]) -> RuleHit | None:
    """Why a workload's values stay while a revert of its merged change is proposed: the
    revert PR restores them, and a second PR moving them would race it."""
    for verdict in verdicts:
        if verdict.state == "regressed":
            return RuleHit(
                "verify", f"{verdict.summary}; a revert of {verdict.sha[:7]} restores it"
            )
    return None


def reverted(verdicts: Sequence[Verdict]) -> str | None:
    """The note a workload's sizing carries while a revert of one of its changes is recent
    (`HISTORY_DAYS`): it is sized taking half the risk its settings take; None otherwise."""
    for verdict in verdicts:
        if verdict.state == "reverted":
            return (
                f"{verdict.sha[:7]}, merged {verdict.merged:%Y-%m-%d}, was reverted after it "
                "regressed: sized with half the risk its strategy settings take"
            )
    return None


def _verdict(
    key: str,
    changes: tuple[PastChange, ...],
    usage: WorkloadUsage,
    current: dict[tuple[str | None, str], float],
    rules: VerifyRules,
    now: datetime,
    slo: pd.Series | None,
) -> Verdict | None:
    merged = changes[0].when
    days = timedelta(days=rules.days)
    deployed, reached = _deployed(changes, usage, rules)
    sha = changes[0].sha
    if deployed is None:
        return Verdict(key, sha, merged, None, reached, "pending", (), changes, days=rules.days)
    start, end = _data_span(usage)
    if start is None or start > pd.Timestamp(merged - days).floor("h"):
        return None
    if end is None or end < deployed + days or now < deployed + days:
        waiting = f"watching until {_shown(deployed + days)} ({reached})"
        return Verdict(key, sha, merged, deployed, waiting, "pending", (), changes, days=rules.days)
    hour = pd.Timestamp(merged).floor("h").to_pydatetime()
    before = (merged - days, hour)  # the merge's own hour belongs to neither side
    after = (max(deployed, hour + timedelta(hours=1)), deployed + days)
    findings = _findings(changes, usage, rules, before, after)
    if slo is not None and len(slo):
        findings = (*findings, *_slo(slo, rules, before, after))
    condemned = _condemned(changes, findings)
    still = tuple(c for c in condemned if _holds(current, c, c.new))
    state: State = "healthy"
    if condemned and still:
        state = "regressed"
    elif condemned:
        restored = all(_holds(current, c, c.old) for c in condemned)
        state = "reverted" if restored else "superseded"
    return Verdict(key, sha, merged, deployed, reached, state, findings, changes, still, rules.days)


def _deployed(
    changes: tuple[PastChange, ...], usage: WorkloadUsage, rules: VerifyRules
) -> tuple[datetime | None, str]:
    """When the change reached the cluster: the first hour from the merge on in which the
    data shows a changed field at its new value (an Argo CD or Flux sync, a rollout), else
    the merge plus the policy's delay. A field the data reports that never shows its new
    value has not reached the cluster yet."""
    merged = pd.Timestamp(changes[0].when).floor("h")
    seen: list[pd.Timestamp] = []
    reported = False
    for change in changes:
        metric = RUNNING_METRIC.get(change.field)
        series = usage.running.get((metric, change.container or "")) if metric else None
        later = series[series.index >= merged].dropna() if series is not None else None
        if later is None or not len(later):
            continue  # no word from after the merge: the data cannot say, the delay does
        reported = True
        close = later[np.abs(later.to_numpy(float) - change.new) <= SAME * max(change.new, 1e-9)]
        if len(close):
            seen.append(close.index[0])
    if seen:
        when = min(seen).to_pydatetime()
        return when, f"seen running from {_shown(when)}"
    if reported:
        return None, "merged; not yet seen running in the cluster"
    when = changes[0].when + timedelta(minutes=rules.sync_delay_minutes)
    delay = f"{rules.sync_delay_minutes:g} min"
    return when, f"merged {_shown(changes[0].when)}, taken as running {delay} later"


def _findings(
    changes: tuple[PastChange, ...],
    usage: WorkloadUsage,
    rules: VerifyRules,
    before: tuple[datetime, datetime],
    after: tuple[datetime, datetime],
) -> tuple[Finding, ...]:
    found: list[Finding] = []
    containers = sorted(
        {c for _, c in usage.signals} | {c.container for c in changes if c.container is not None}
    )
    for container in containers:
        oom = usage.signals.get(("oom_kills", container))
        if oom is not None:
            was, now, times = _total(oom, before), _total(oom, after), _fired(oom, after)
            bad = now > rules.max_oom_kills and now > was
            text = f"OOM killed {_times(now)} (was {was:g})" if now else "no OOM kills"
            chart = _chart(oom, before, after, "sum")
            found.append(
                Finding("oom_kills", container, was, now, bad, text, "memory", times, chart)
            )
        restarts = usage.signals.get(("restarts", container))
        if restarts is not None:
            was, now = _total(restarts, before), _total(restarts, after)
            bad = now - was > rules.max_restarts_increase
            text = f"restarts {now:g} (was {was:g})" if now or was else "no restarts"
            times, chart = _fired(restarts, after), _chart(restarts, before, after, "sum")
            found.append(Finding("restarts", container, was, now, bad, text, "", times, chart))
        throttled = usage.signals.get(("cpu_throttled_ratio", container))
        if throttled is not None:
            was, now = _mean(throttled, before), _mean(throttled, after)
            bad = (now - was) * 100 > rules.max_throttling_increase_percent
            text = f"throttling {now:.1%} (was {was:.1%})".replace("%", " %")
            heavy = _fired(throttled > was + rules.max_throttling_increase_percent / 100, after)
            chart = _chart(throttled * 100, before, after, "mean")
            found.append(
                Finding("cpu_throttled_ratio", container, was, now, bad, text, "cpu", heavy, chart)
            )
        for change in changes:
            if change.container != container or not change.field.startswith("requests."):
                continue
            if not _cut(change):
                continue
            series = (usage.cpu if change.field == "requests.cpu" else usage.memory).get(container)
            if series is None:
                continue
            window = _window(series, after).dropna()
            if not len(window):
                continue
            over = window > change.new
            share = float(over.mean())
            bad = share * 100 > rules.max_over_request_percent
            resource: Literal["cpu", "memory"] = (
                "cpu" if change.field == "requests.cpu" else "memory"
            )
            text = f"{resource} above the new request {share:.0%} of hours".replace("%", " %")
            unit = CHART_UNITS[resource][1]
            times, chart = _fired(over, after), _chart(series * unit, before, after, "max")
            found.append(
                Finding("over_request", container, 0.0, share, bad, text, resource, times, chart)
            )
    return tuple(found)


def _slo(
    slo: pd.Series,
    rules: VerifyRules,
    before: tuple[datetime, datetime],
    after: tuple[datetime, datetime],
) -> tuple[Finding, ...]:
    """The SLO query's mean after the change against its mean before: higher is worse, as
    latency and error ratios are. No finding without a value on both sides, nor from a
    baseline of zero: no rise over nothing is a share, and one error after a clean week
    must not revert a change."""
    if not len(_window(slo, before).dropna()) or not len(_window(slo, after).dropna()):
        return ()
    was, now = _mean(slo, before), _mean(slo, after)
    if was <= 0:
        return ()
    limit = was * (1 + rules.max_slo_increase_percent / 100)
    rise = f"{(now - was) / was:+.0%}".replace("%", " %")
    text = f"SLO query {now:.3g} (was {was:.3g}, {rise})"
    times, chart = _fired(slo > limit, after), _chart(slo, before, after, "mean")
    return (Finding("slo", "", was, now, now > limit, text, "", times, chart),)


def _condemned(
    changes: tuple[PastChange, ...], findings: tuple[Finding, ...]
) -> tuple[PastChange, ...]:
    """The cuts a regressed signal is about: memory for OOM kills, CPU and replicas for
    throttling, the resource itself for usage over a cut request, any cut of the container
    for restarts. A change that added capacity is never condemned: reverting it would not
    help."""
    blamed: list[PastChange] = []
    for finding in findings:
        if not finding.regressed:
            continue
        for change in changes:
            if _cut(change) and change not in blamed and _about(finding, change):
                blamed.append(change)
    return tuple(blamed)


def _cut(change: PastChange) -> bool:
    """Whether the change took capacity away: a lower value, except the autoscaler's CPU
    target, which takes pods away as it rises."""
    if change.field == "hpa.cpuUtilization":
        return change.new > change.old
    return change.new < change.old


def _about(finding: Finding, change: PastChange) -> bool:
    if finding.signal == "slo":
        return True  # a service level says which workload, not which of its values
    if change.field.startswith("hpa.") or change.field == "replicas":
        return finding.signal in ("cpu_throttled_ratio", "over_request")
    if change.container != finding.container:
        return False
    return finding.resource in ("", change.field.rpartition(".")[2])


def _holds(current: dict[tuple[str | None, str], float], change: PastChange, value: float) -> bool:
    found = current.get((change.container, change.field))
    return found is not None and math.isclose(found, value, rel_tol=SAME)


def _data_span(usage: WorkloadUsage) -> tuple[pd.Timestamp | None, datetime | None]:
    """The first hour of usage, and the end of the last."""
    series = [s for s in (*usage.cpu.values(), *usage.memory.values()) if len(s)]
    if not series:
        return None, None
    end = max(s.index[-1] for s in series) + pd.Timedelta(hours=1)
    return min(s.index[0] for s in series), end.to_pydatetime()


def _window(series: pd.Series, span: tuple[datetime, datetime]) -> pd.Series:
    start, end = pd.Timestamp(span[0]), pd.Timestamp(span[1])
    return series[(series.index >= start.floor("h")) & (series.index < end)]


def _total(series: pd.Series, span: tuple[datetime, datetime]) -> float:
    return float(np.nansum(_window(series, span).to_numpy(float)))


def _mean(series: pd.Series, span: tuple[datetime, datetime]) -> float:
    values = _window(series, span).to_numpy(float)
    return float(np.nanmean(values)) if len(values) and not np.isnan(values).all() else 0.0


def _fired(series: pd.Series, span: tuple[datetime, datetime]) -> tuple[datetime, ...]:
    window = _window(series, span)
    return tuple(t.to_pydatetime() for t in window.index[window.to_numpy(float) > 0])


def _chart(
    series: pd.Series,
    before: tuple[datetime, datetime],
    after: tuple[datetime, datetime],
    how: Literal["sum", "mean", "max"],
) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The signal from the start of the days before to the end of the days watched, in
    `BUCKET` steps, each labelled by its first hour."""
    start = pd.Timestamp(before[0]).floor("h")
    window = _window(series, (before[0], after[1]))
    if not len(window):
        return (), ()
    buckets = window.resample(BUCKET, origin=start).agg(how)
    labels = tuple(f"{t:%m-%d %H}h" for t in buckets.index)
    return labels, tuple(round(float(v), 3) if np.isfinite(v) else 0.0 for v in buckets)


def _times(count: float) -> str:
    return "once" if count == 1 else f"{count:g} times"


def _shown(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"
