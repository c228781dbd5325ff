"""One run from start to end, the same whatever started it (the CLI, a schedule, a webhook):
open the forge and the checkout, read the sources, plan, publish.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pandas as pd

from bot.config import RepoConfig
from bot.dashboard_issue import update_dashboard
from bot.dashboard_ticks import ticked
from bot.decisions.overrides import Override
from bot.decisions.releases import Release
from bot.forges.base import ApiBudget, Forge, ForgeError, Outcome
from bot.forges.connect import ForgeOptions, open_checkout
from bot.garbage import long_lived
from bot.inputs import (
    SLO_ENV,
    Inputs,
    SourceRequest,
    configured_prometheus,
    operator_runs_slo_queries,
    prometheus_source,
    read_meanwhile,
)
from bot.manifests.yamlio import resolve_inside
from bot.planner import Plan, kept_renders, make_plan
from bot.policy import load_policy
from bot.prescaling import publish_schedules
from bot.proof import checked, inventoried
from bot.reverts import close_the_loop
from bot.run import GroupResult, Publication, Publishing, publish
from recommenders.errors import InputError
from recommenders.forecasters import ForecastCache
from recommenders.model import UnitPrices
from recommenders.sources.usage import UsageTable
from recommenders.sources.utilisation.prometheus import load_slo

Say = Callable[[str], None]


@dataclass(frozen=True)
class RunReport:
    config: RepoConfig
    plan: Plan
    results: list[GroupResult]
    api_budget: ApiBudget | None = None
    """The forge's rate limit after the run, for the service's shared budget."""
    dashboard: Outcome | Literal["closed"] | None = None
    """What became of the dashboard issue: "closed" when the repo turned it off and one was
    open; None when nothing was written."""


def run_moment(as_of: str | None, where: str) -> datetime:
    """The moment a run plans as of: now, or a fixed one (`--as-of`, `RIGHTSIZER_AS_OF`) to
    replay an export that ended then, as the demo replays its bundled one. Data older than
    the policy's `max_data_age_days` at that moment changes nothing."""
    if as_of is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(as_of.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(where, f"{as_of!r} is not an ISO 8601 date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run_once(
    options: ForgeOptions,
    request: SourceRequest | None,
    now: datetime,
    *,
    org_policy: str | None = None,
    forecast_cache: Path | None = None,
    overrides: Sequence[Override] = (),
    releases: Sequence[Release] | None = None,
    say: Say = lambda _: None,
) -> RunReport:
    """Plan and publish one repository. Without a `request`, the sources come from the
    repo's `.rightsizer.yaml` (`sources:`), which is how the service runs; `overrides` are
    the reviewers' standing commands the service keeps, `releases` the held groups they let
    through from the dashboard issue: the service's (it asked the forge who ticked each
    box), or, None, the boxes ticked in the issue now, trusted as the forge trusts whoever
    may edit the bot's issue (GitHub's triage role, GitLab's reporter), as Renovate does. The
    dashboard issue is written last, from what was published."""
    with tempfile.TemporaryDirectory(prefix="rightsizer-") as scratch:
        checkout = open_checkout(options, Path(scratch))
        workspace, config, files = checkout.workspace, checkout.config, checkout.files
        base = workspace.base_commit(config.base_branch)
        sources = request if request is not None else configured_sources(config, files)
        policy = load_policy(files, org_policy, config.annotation_prefix)
        with read_meanwhile(sources) as inputs:
            cache = ForecastCache.open(forecast_cache)
            renders = kept_renders(forecast_cache, files)
            listed = inventoried(files, renders)
        table, prices = planning_inputs(inputs(), say)
        inventory = checked(files, listed, renders)
        if cache.problem:
            say(f"warning: {cache.problem}")
        trusted = request is not None or operator_runs_slo_queries()
        with long_lived():
            plan = make_plan(
                files, config, policy, table, prices, cache, now, overrides,
                git_checkout=workspace.path, inventory=inventory,
                slo=slo_reader(sources, say, trusted),
            )  # fmt: skip
            cache.save()
            if renders is not None:
                renders.save()
        forge = checkout.forge
        readable = True
        if releases is None and config.dashboard:
            releases, readable = _ticked_releases(forge, say)
        published = publish(plan, files, workspace, base, forge, config, now, releases or ())
        job = Publishing(plan, files, workspace, base, forge, config, now)
        own = [*close_the_loop(job, published.pulls), *publish_schedules(job, published.pulls)]
        published = replace(published, results=[*published.results, *own])
        board: Outcome | Literal["closed"] | None = None
        if config.dashboard and readable:  # never clear boxes that were not read
            board = _write_dashboard_issue(forge, published, overrides, now, files, say)
        elif not config.dashboard and _close_dashboard_issue(forge):
            board = "closed"
    return RunReport(config, plan, published.results, forge.api_budget(), board)


def _ticked_releases(forge: Forge, say: Say) -> tuple[list[Release], bool]:
    """The held groups whose box is ticked in the dashboard issue now, given at the wall
    clock's time (as the service gives them, whatever moment the run plans as of), and
    whether the issue could be read: when the forge will not show it, the run goes on
    without, and leaves its boxes as they are."""
    try:
        text = forge.dashboard_text()
    except (ForgeError, OSError, UnicodeDecodeError) as exc:
        say(f"warning: the dashboard issue was not read: {exc}")
        return [], False
    given = datetime.now(UTC)
    ticks = ticked(text or "")
    releases = [Release(t.group, "the dashboard issue", given) for t in ticks if t.group]
    return releases, True


def _write_dashboard_issue(
    forge: Forge,
    published: Publication,
    overrides: Sequence[Override],
    now: datetime,
    files: Path,
    say: Say,
) -> Outcome | None:
    """The dashboard issue, written after the PRs: a forge refusing it (an App without the
    `issues` permission, an outage) costs the issue, not the published PRs or a retry of
    the whole run, and the run says why."""
    try:
        return update_dashboard(forge, published, overrides, now, files)
    except ForgeError as exc:
        say(f"warning: the dashboard issue was not written: {exc}")
        return None


def _close_dashboard_issue(forge: Forge) -> bool:
    """A dashboard the repo turned off is closed, once, as Renovate closes its own, so that
    no box is left that nothing reads. A forge that will not show issues (an App without
    the `issues` permission, which is why many turn it off) has none of the bot's to close:
    nothing is said, run after run."""
    try:
        return forge.close_dashboard()
    except ForgeError:
        return False


def slo_reader(
    sources: SourceRequest, say: Say, trusted: bool
) -> Callable[[str], pd.Series | None] | None:
    """What answers the workloads' SLO queries: the Prometheus the usage is read from, each
    query read once, when the query may run there (`trusted`: the user's own server, or
    the operator's leave, `operator_runs_slo_queries`). None without one. A query that
    fails or may not run is a warning, not a failed run: the change is judged on the other
    signals."""
    server = sources.prometheus
    if server is None:
        return None

    @functools.cache
    def read(query: str) -> pd.Series | None:
        if not trusted:
            say(f"warning: slo-query not run: the operator has not set {SLO_ENV}=true")
            return None
        try:
            return load_slo(server, query)
        except InputError as exc:
            say(f"warning: {exc}")
            return None

    return read


def configured_sources(config: RepoConfig, repo: Path) -> SourceRequest:
    """The exports `.rightsizer.yaml` names, read from inside the repo only, and the
    operator's Prometheus it picks by name."""
    sources = config.sources
    if not sources.utilisation and not sources.prometheus:
        raise InputError(
            ".rightsizer.yaml", "sources: names no utilisation export or Prometheus to read"
        )
    server = (
        prometheus_source(configured_prometheus(sources.prometheus), "30d", "1h", None, ())
        if sources.prometheus
        else None
    )
    return SourceRequest(
        tuple(resolve_inside(repo, path) for path in sources.utilisation),
        tuple(resolve_inside(repo, path) for path in sources.cost),
        prometheus=server,
    )


def planning_inputs(inputs: Inputs, say: Say) -> tuple[UsageTable, dict[str, UnitPrices]]:
    """What planning reads of the inputs, after warning about what the sources said. The
    sources' frames are left behind for the collector: the table holds its own arrays, and
    keeping both held half a gigabyte through a 5,000-workload plan."""
    for source in inputs.usages:
        for warning in source.warnings:
            say(f"warning: {source.origin}: {warning}")
    for cost in inputs.costs:
        for warning in cost.warnings:
            say(f"warning: {cost.path}: {warning}")
    for note in inputs.price_notes:
        say(f"prices: {note}")
    return inputs.table, inputs.prices
