"""What a PR says of each workload: its rows, its details' rows (a limit that only follows
its request said in the request's row), its one chart, its own slice of the rendered diff,
and the shortest name that tells it apart. `bot.compose` lays these out with the templates."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from markupsafe import Markup

from bot.charts import PrChart, pr_chart
from bot.groups import Group
from bot.manifests.model import Workload
from bot.planner import Plan, PlannedChange, workload_key
from bot.proof import ObjectDiff
from recommenders.model import UsageChart, WorkloadRecommendation


@dataclass(frozen=True)
class DetailRow:
    """A row of the summary table and of a workload's details: one change, and the limit
    that only follows it."""

    change: PlannedChange
    limit: PlannedChange | None = None
    """The limit of the same container and resource when it keeps today's ratio to the
    request and went through the same rules: said in this row, not in one of its own."""

    @property
    def label(self) -> str:
        """What the details call the row: the field, or the resource (after its container's
        name where the workload has several) when its limit follows, since the summary
        table's row beside it names both fields."""
        if self.limit is None:
            return field_label(self.change)
        return _named(self.change.workload, self.change.container, self.change.field.split(".")[1])

    @property
    def ratio(self) -> float:
        """The limit's multiple of the request, as both are written: the built-in templates
        say the ratio is kept once, a repository's own may say it per row."""
        return self.limit.decision.value / self.change.decision.value if self.limit else 0.0

    @property
    def monthly_cost_delta(self) -> float:
        followed = self.limit.decision.monthly_cost_delta if self.limit else 0.0
        return self.change.decision.monthly_cost_delta + followed


@dataclass
class WorkloadSection:
    """One workload as the PR shows it: a row per change in the summary, then its details
    with the chart and its own rendered difference."""

    workload: Workload
    recommendation: WorkloadRecommendation
    changes: list[PlannedChange]
    chart: PrChart | None
    name: str = ""
    """The shortest name that no other workload of the PR has (`_NAMES`)."""
    diffs: list[str] = field(default_factory=list)

    @property
    def applied(self) -> list[PlannedChange]:
        return [change for change in self.changes if change.decision.action != "skip"]

    @property
    def monthly_cost_delta(self) -> float:
        return sum(change.decision.monthly_cost_delta for change in self.applied)

    @property
    def diff(self) -> Markup:
        return fenced(self.diffs)

    @property
    def usage(self) -> str:
        """The usage it was sized from, `2026-10-28 to 2026-11-26 (30 days)`: said once at
        the top of a PR whose workloads share it, in each workload's details otherwise."""
        first, last = self.recommendation.window
        return f"{first} to {last} ({round(self.recommendation.history_hours / 24, 1):g} days)"

    @property
    def rows(self) -> list[DetailRow]:
        rows, folded = [], set()
        for change in self.changes:
            if id(change) in folded:
                continue
            limit = _follower(change, self.changes)
            if limit is None:
                rows.append(DetailRow(change))
                continue
            folded.add(id(limit))
            rows.append(DetailRow(change, limit))
        return rows


def field_label(change: PlannedChange) -> str:
    """The field, after its container's name where the workload has more than one."""
    return _named(change.workload, change.container, change.field)


def _named(workload: Workload, container: str | None, what: str) -> str:
    several = len(workload.containers) > 1
    return f"{container} {what}" if container and several else what


def _follower(request: PlannedChange, changes: list[PlannedChange]) -> PlannedChange | None:
    """The limit that only follows `request`: same container and resource, today's ratio to
    it kept, the same action and the same rules."""
    if not request.field.startswith("requests.") or request.decision.value <= 0:
        return None
    resource = request.field.removeprefix("requests.")
    for limit in changes:
        if (limit.container, limit.field) != (request.container, f"limits.{resource}"):
            continue
        if request.decision.recommendation.current <= 0:
            return None
        today = limit.decision.recommendation.current / request.decision.recommendation.current
        ratio = limit.decision.value / request.decision.value
        same = (limit.decision.action, [hit.rule for hit in limit.decision.rules]) == (
            request.decision.action,
            [hit.rule for hit in request.decision.rules],
        )
        return limit if same and math.isclose(ratio, today, rel_tol=0.01) else None
    return None


def workload_sections(
    group: Group, plan: Plan
) -> tuple[list[WorkloadSection], list[dict[str, Any]]]:
    """Per workload its changes and chart; workloads whose changes are all held back apart."""
    workloads: list[WorkloadSection] = []
    held_back: list[dict[str, Any]] = []
    for _, rows in groupby(group.changes, key=lambda c: (c.workload.overlay, c.workload.ref)):
        changes = list(rows)
        workload = changes[0].workload
        if all(change.decision.action == "skip" for change in changes):
            held_back.append({"workload": workload, "rule": changes[0].decision.rules[0]})
            continue
        recommendation = plan.recommendations[workload_key(workload)]
        chart = _chart(recommendation.charts, changes)
        workloads.append(WorkloadSection(workload, recommendation, changes, chart))
    for named in _NAMES:
        names = [named(section.workload) for section in workloads]
        if len(set(names)) == len(names):
            break
    for section, name in zip(workloads, names, strict=True):
        section.name = name
    return workloads, held_back


_NAMES: tuple[Callable[[Workload], str], ...] = (
    lambda w: w.name,
    lambda w: f"{w.name} ({w.environment})",
    lambda w: f"{w.ref} in {w.namespace} ({w.environment})",
)
"""How the PR names its workloads: the first of these that tells them apart."""


def attach_diffs(workloads: list[WorkloadSection], diffs: Sequence[ObjectDiff]) -> list[str]:
    """Each workload's rendered difference (its own object's and its autoscaler's) into its
    section, each object headed by its `Kind/name`; the diffs of objects no workload of the
    PR owns are returned, headed by their environment too."""
    owners: dict[tuple[str, str, str], WorkloadSection] = {}
    for section in workloads:
        workload = section.workload
        owners[(workload.environment_id, workload.kind, workload.name)] = section
        if workload.hpa is not None:
            owners[(workload.environment_id, workload.hpa.kind, workload.hpa.name)] = section
    others = []
    for diff in diffs:
        owner = owners.get((diff.environment, diff.kind, diff.name))
        if owner is None:
            others.append(diff.labelled(f"{diff.environment} {diff.kind}/{diff.name}"))
        else:
            owner.diffs.append(diff.labelled(f"{diff.kind}/{diff.name}"))
    return others


def fenced(texts: Sequence[str]) -> Markup:
    """Diff texts as one `diff` code block, in a fence longer than any backtick run in them;
    empty for none."""
    text = "".join(texts)
    if not text:
        return Markup("")
    fence = _fence(text)
    return Markup(f"{fence}diff\n{text}{fence}")


def _chart(charts: Sequence[UsageChart], changes: list[PlannedChange]) -> PrChart | None:
    """The one chart a workload's details show: the resource of the request change worth
    the most dollars (CPU on a tie), or the first container's CPU when the PR changes only
    the autoscaler. The proposed line is the value the PR writes (after every guardrail, as
    the manifest gets it), not the strategy's wish."""
    requests = [
        c
        for c in changes
        if c.decision.action != "skip" and c.container and c.field.startswith("requests.")
    ]
    requests.sort(key=lambda c: (-abs(c.decision.monthly_cost_delta), c.field != "requests.cpu"))
    for change in requests:
        for chart in charts:
            if (chart.container, f"requests.{chart.metric}") == (change.container, change.field):
                title = _named(change.workload, chart.container, chart.metric)
                return pr_chart(chart, round(chart.display(change.decision.value), 1), title)
    first = next((chart for chart in charts if chart.metric == "cpu"), None)
    if requests or first is None:
        return None
    return pr_chart(first, first.current, _named(changes[0].workload, first.container, "cpu"))


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks inside `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)
