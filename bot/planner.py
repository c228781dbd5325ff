"""One plan from inventory, usage, prices, strategy and policy: the same for every trigger."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from bot.config import RepoConfig
from bot.decisions.model import Decision
from bot.decisions.order import in_environment_order
from bot.decisions.overrides import Override, overridden, overriding
from bot.decisions.values import Context, decide, held_workload
from bot.decisions.verification import Verdict, reverted, reverting, verify
from bot.digests import render_context, repository_digest
from bot.manifests.edit import Raw, ValueEdit
from bot.manifests.gitops import clusters_of
from bot.manifests.model import Inventory, Origin, Tracked, Workload
from bot.manifests.quantities import (
    format_field,
    parse_cpu,
    parse_field,
    parse_memory,
    rounded_up,
)
from bot.manifests.render_cache import RenderCache
from bot.manifests.runtimes import runtime_memory
from bot.manifests.schedules import schedule_problem, takes_over
from bot.policy import Guardrails, Policy, WorkloadPolicy
from bot.proof import inspect
from bot.rules.cooldown import PastChange, bot_changes
from bot.stages import stage
from recommenders.errors import InputError
from recommenders.forecasters import ForecastCache, send_all
from recommenders.model import (
    ContainerResources,
    HpaSettings,
    UnitPrices,
    WorkloadKey,
    WorkloadRecommendation,
    WorkloadSpec,
)
from recommenders.prescale import Prescale, prescale, workload_needs
from recommenders.progress import part, told
from recommenders.sources.usage import UsageTable, WorkloadUsage
from recommenders.strategies import STRATEGIES, Strategy, get_strategy
from recommenders.strategies.settings import cautious, parse_settings, setting_names
from recommenders.strategies.workload import (
    HORIZON,
    demand_jobs,
    prepared_histories,
    recommend,
)

STALE_HORIZON_CAP = pd.Timedelta(days=14)
"""The horizon stretches over data this late at most: older data holds every workload back
as stale anyway, and a forecast of years would only cost time."""
COOLDOWN_HISTORY_DAYS = 90
"""How far back the base branch's history is read for the bot's past changes: the
longest cooldown a policy can rely on."""


@dataclass(frozen=True)
class PlannedChange:
    """One row of the plan: a decision about one field, with the text it will be written as."""

    workload: Workload
    decision: Decision
    current: Raw | None
    """The text in the manifests; None where the field is unset and the edit adds it."""
    proposed: Raw | None
    """What the field will say: the new text, or for a skipped row the text that stays."""
    origin: Origin | None
    wanted: Raw | None = None
    """For a skipped row, what the strategy wanted, so the plan says what was held back."""

    @property
    def field(self) -> str:
        return self.decision.recommendation.field

    @property
    def container(self) -> str | None:
        return self.decision.recommendation.container

    @property
    def current_text(self) -> str:
        return "unset" if self.current is None else str(self.current)

    @property
    def shown(self) -> str:
        """`250m → 175m`, or for a skipped row `768Mi kept (wanted 600Mi)`."""
        if self.decision.action == "skip":
            return f"{self.current_text} kept (wanted {self.wanted})"
        return f"{self.current_text} → {self.proposed}"

    @property
    def edit(self) -> ValueEdit:
        assert self.proposed is not None, "a skipped change is never edited"
        return ValueEdit(self.workload, self.field, self.container, self.proposed)


@dataclass
class Plan:
    inventory: Inventory
    changes: list[PlannedChange]
    recommendations: dict[WorkloadKey, WorkloadRecommendation]
    prices: dict[str, UnitPrices]
    without_usage: list[Workload] = field(default_factory=list)
    unmatched_usage: list[WorkloadKey] = field(default_factory=list)
    rules: dict[WorkloadKey, Guardrails] = field(default_factory=dict)
    """Each sized workload's effective policy, for the PR-level rules (freeze, per-PR
    saving) that publishing applies."""
    until: datetime | None = None
    """The first moment at which a rule that reads the clock could decide otherwise; the
    plan made at any moment from its own until then is this plan (None: never)."""
    verdicts: list[Verdict] = field(default_factory=list)
    """What became of the bot's merged changes (verification after merge), per workload."""
    schedules: dict[WorkloadKey, Prescale] = field(default_factory=dict)
    """Pre-scaling schedules, where the policy enables it and the backtest confirms one."""

    @property
    def monthly_cost_delta(self) -> float:
        return sum(change.decision.monthly_cost_delta for change in self.changes)


def workload_key(workload: Workload) -> WorkloadKey:
    return WorkloadKey(workload.environment, workload.namespace, workload.kind, workload.name)


class NothingMatched(InputError):
    """A plan in which no workload has usage: a mistake in the inputs (another cluster's
    export, names that differ), never an empty plan that looks like "all is well"."""


@dataclass(frozen=True)
class UsageNames:
    """Whatever else usage may call a workload's environment: the clusters its directory is
    deployed to, and the regular expressions of a declared `cluster:`."""

    aliases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()


def usage_names(workload: Workload, config: RepoConfig) -> UsageNames:
    declared = [e for e in config.environments if e.path == workload.overlay and e.cluster]
    return UsageNames(
        clusters_of(workload.deployment), tuple(e.cluster for e in declared if e.cluster)
    )


def make_plan(
    repo: Path,
    config: RepoConfig,
    policy: Policy,
    usage: UsageTable,
    prices: dict[str, UnitPrices],
    cache: ForecastCache | None = None,
    now: datetime | None = None,
    overrides: Sequence[Override] = (),
    git_checkout: Path | None = None,
    inventory: Inventory | None = None,
    slo: Callable[[str], pd.Series | None] | None = None,
) -> Plan:
    """`now` dates the cooldown (and tests); the bot's past changes come from the base
    branch's history, in `git_checkout` (`repo` itself when it is one; a run
    reads an export of the committed files). `overrides` are the reviewers' standing
    commands the service keeps; `inventory` the repository's as `inspect` makes it, when
    the caller made it while reading the inputs (`read_meanwhile`); `slo`
    answers a workload's SLO query (`<prefix>slo-query`), read only for a workload with a
    merged change to judge."""
    now = now or datetime.now(UTC)
    inventory = inventory if inventory is not None else inspect(repo)
    plan = Plan(inventory, [], {}, {})
    strategies: dict[str, Strategy] = {}
    found = []
    claimed: set[WorkloadKey] = set()
    since = now - timedelta(days=COOLDOWN_HISTORY_DAYS)
    with stage("bot history"):
        past = tuple(bot_changes(git_checkout or repo, config.base_branch, since))
        landed: dict[str, list[PastChange]] = {}
        for change_made in past:
            landed.setdefault(change_made.key, []).append(change_made)
    verdicts: dict[WorkloadKey, list[Verdict]] = {}
    with stage("usage lookup"):
        for workload in inventory.workloads:
            names = usage_names(workload, config)
            key = workload_key(workload)
            matched = usage.matches(key, names.aliases, names.patterns)
            history = usage.for_workload(key, names.aliases, names.patterns)
            if history is None:
                plan.without_usage.append(workload)
                continue
            claimed.update(matched)
            spec = workload_spec(workload)
            rules = policy.for_workload(workload)
            changes = landed.get(str(key), ())
            query = rules.annotated.slo_query
            answer = (
                slo(slo_text(str(query.value), workload)) if changes and query and slo else None
            )
            verdicts[key] = verify(
                str(key), changes, history, current_values(spec),
                rules.guardrails.verify, now, answer,
            ) if changes else []  # fmt: skip
            careful = reverted(verdicts[key]) is not None
            strategy = _strategy(config, rules, strategies, careful)
            found.append((workload, spec, history, rules, strategy))
    plan.unmatched_usage = [key for key in usage.workloads() if key not in claimed]
    if not found:
        raise NothingMatched(str(repo), nothing_matched(inventory, usage.workloads()))
    newest = _newest_end([h for _, _, h, _, _ in found])
    horizon = _horizon(now, newest)
    cache = cache or ForecastCache()
    with stage("forecasts"):
        # Sent first, so that sizing the first HPA workload waits for no other fit: the
        # fits are only waited for when a workload's sizing needs them (`send_all`).
        send_all(demand_jobs([(spec, h) for _, spec, h, _, _ in found], horizon), cache)
        series = {
            id(strategy): [
                p for _, _, h, _, s in found if s is strategy for p in prepared_histories(h)
            ]
            for strategy in strategies.values()
        }
        everything, before = sum(map(len, series.values())), 0
        for strategy in strategies.values():
            with part(before, everything):  # one count over every strategy's series
                strategy.prepare(series[id(strategy)], horizon, cache)
            before += len(series[id(strategy)])
            told("Forecasting series", before, everything)  # strategies that fit nothing too
    for done, (workload, spec, history, rules, strategy) in enumerate(found):
        told("Sizing workloads", done, len(found))
        key = workload_key(workload)
        unit_prices = _prices_for(workload, prices, config)
        plan.prices[workload.environment] = unit_prices
        with stage("sizing"):
            recommendation = recommend(strategy, spec, history, unit_prices, horizon, cache)
        schedule = _prescale(workload, spec, history, rules.guardrails)
        if schedule is not None:
            plan.schedules[key] = schedule
        if (lesson := reverted(verdicts[key])) is not None:
            recommendation = replace(recommendation, notes=(*recommendation.notes, lesson))
        plan.recommendations[key] = recommendation
        plan.rules[key] = rules.guardrails
        plan.verdicts += verdicts[key]
        with stage("decisions"):
            held = held_workload(workload, rules.held_back) or reverting(verdicts[key])
            written: dict[tuple[str | None, str], Raw] = {
                (c.name, f): t.raw for c in workload.containers for f, t in c.resources.items()
            }
            context = Context(now, _facts(workload), past, written)
            for decision in decide(recommendation, rules.guardrails, held, context):
                change = planned_change(workload, decision)
                if change is not None:
                    plan.changes.append(change)
    told("Sizing workloads", len(found), len(found))
    cache.settle()
    ordered = in_environment_order(plan.changes, policy.environment_order)
    plan.changes = _overridden(ordered, overrides, now)
    plan.until = _until(now, newest, plan, past, overrides)
    return plan


def kept_renders(
    forecast_cache: Path | None, repo: Path, files: str | None = None
) -> RenderCache | None:
    """The renders kept beside the forecast cache for this repository's files as they are
    now (`files`: their digest, when the caller has it); none without a cache, or when a
    file cannot be read (the plan then says which)."""
    if forecast_cache is None:
        return None
    try:
        return RenderCache.beside(forecast_cache, render_context(files or repository_digest(repo)))
    except OSError:
        return None


def _overridden(
    changes: list[PlannedChange], overrides: Sequence[Override], now: datetime
) -> list[PlannedChange]:
    """Each change as the reviewers' commands decide it: a skip keeps the row's text, a
    pinned value is written afresh (and leaves the plan if the file already has it)."""
    found = []
    for change in changes:
        override = overriding(overrides, workload_key(change.workload), change.field, now)
        if override is None:
            found.append(change)
            continue
        decision = overridden(change.decision, override)
        if decision.action == "skip":
            found.append(replace(change, decision=decision))
        elif (pinned := planned_change(change.workload, decision)) is not None:
            found.append(pinned)
    return found


def _newest_end(histories: list[WorkloadUsage]) -> pd.Timestamp | None:
    ends = [history.end for history in histories if history.end is not None]
    return max(ends) if ends else None


def _horizon(now: datetime, newest: pd.Timestamp | None) -> pd.Timedelta:
    """A week after the run, counted from the end of the newest data: the forecast covers
    the days the change will live, not days already past."""
    late = pd.Timestamp(now) - newest if newest is not None else pd.Timedelta(0)
    return HORIZON + min(STALE_HORIZON_CAP, max(pd.Timedelta(0), late.ceil("1h")))


def _until(
    now: datetime,
    newest: pd.Timestamp | None,
    plan: Plan,
    past: Sequence[PastChange],
    overrides: Sequence[Override],
) -> datetime | None:
    """When the clock next matters: the horizon reaching its next hour, data turning stale
    (or a stale age's shown tenth of a day moving on), a cooldown or the history window
    passing one of the bot's past changes, a reviewer's override running out. Why: a plan
    answered again from the last one (bot/plan_cache.py) must be the plan made now, and
    these are the only places `now` enters a plan. A rule that reads the clock adds its
    moments here; tests/test_plan_cache.py plans just before each one."""
    tick = timedelta(microseconds=1)  # for rules that hold up to and at their moment
    moments: list[datetime] = [o.until for o in overrides if o.until is not None]
    if newest is not None:
        late = max(pd.Timedelta(0), (pd.Timestamp(now) - newest).ceil("1h"))
        if late < STALE_HORIZON_CAP:
            moments.append((newest + late).to_pydatetime() + tick)
    for key, recommendation in plan.recommendations.items():
        if (ends := recommendation.ends) is not None:
            limit = plan.rules[key].max_data_age_days
            age = (now - ends).total_seconds() / 86400
            shown = limit if age <= limit else (math.floor(age * 20) + 1) / 20
            moments.append(ends + timedelta(days=shown) + tick)
    moments += [moment for verdict in plan.verdicts for moment in verdict.moments]
    cooldowns = {rules.cooldown_days for rules in plan.rules.values() if rules.cooldown_days > 0}
    for change in past:
        days = (*cooldowns, COOLDOWN_HISTORY_DAYS)
        moments += [change.when + timedelta(days=d) for d in days]
    later = [moment for moment in moments if moment > now]
    return pd.Timestamp(min(later)).to_pydatetime() if later else None


def _prices_for(
    workload: Workload, prices: dict[str, UnitPrices], config: RepoConfig
) -> UnitPrices:
    """Prices from cost data for the workload's environment, or for a cluster it runs in
    (cloud bills name clusters), else for every environment, else the config's table."""
    names = usage_names(workload, config)
    for name in (workload.environment, *names.aliases):
        if name in prices:
            return prices[name]
    for environment, found in prices.items():
        declared = [p for p in names.patterns if re.fullmatch(p, environment)]
        if environment and declared:
            return found
    return prices.get("") or config.prices


def closest_workloads(key: WorkloadKey, workloads: list[Workload], count: int = 3) -> list[str]:
    """The workloads whose `Kind/name` is nearest to what usage calls one, each with the
    environments and namespaces it is in: `Deployment/checkout (prod/shop, dev/shop)`."""
    places: dict[str, set[str]] = {}
    for workload in workloads:
        places.setdefault(workload.ref, set()).add(f"{workload.environment}/{workload.namespace}")
    close = difflib.get_close_matches(f"{key.kind}/{key.name}", list(places), count, 0.6)
    return [f"{ref} ({', '.join(sorted(places[ref])[:3])})" for ref in close]


def unmatched_notes(plan: Plan) -> list[str]:
    """One line per usage key no workload claims, with the nearest workloads."""
    workloads = plan.inventory.workloads
    notes = []
    for key in plan.unmatched_usage:
        close = closest_workloads(key, workloads)
        hint = f"closest: {', '.join(close)}" if close else "no workload has a similar name"
        notes.append(f"usage for {key} matches no workload; {hint}")
    return notes


def loop_notes(
    plan: Plan, repo: Path, keeps: Callable[[Workload], bool] = lambda _: True
) -> list[str]:
    """One line per merged change verification judged and per pre-scaling schedule of the
    workloads `keeps` keeps: what `run` would say, revert or propose about them (a schedule
    it cannot write, and why), for `plan` to say beside its rows."""
    workloads = {str(workload_key(w)): w for w in plan.inventory.workloads if keeps(w)}
    notes = [
        f"verify: {v.key} ({v.sha[:7]}): {v.summary}"
        + ("; a revert is due (unless a reviewer closed one)" if v.state == "regressed" else "")
        for v in plan.verdicts
        if v.key in workloads
    ]
    for key, schedule in plan.schedules.items():
        workload = workloads.get(str(key))
        if workload is None or workload.hpa is None:
            continue
        problem = schedule_problem(plan.inventory, workload, repo, takes_over(workload))
        times = "; ".join(f"{t.desired} replicas {t.shown}" for t in schedule.triggers)
        notes.append(
            f"pre-scaling: {key}: {times} ({schedule.timezone}); in the backtest short "
            f"{schedule.backtest.violation:.1%} of hours, {schedule.backtest.saving:.0%} fewer "
            "replica-hours than a flat minimum"
            + (f"; not written: the workload {problem}" if problem else "")
        )
    return notes


def nothing_matched(inventory: Inventory, usage: list[WorkloadKey]) -> str:
    """Why a plan has nothing to size, in one line: what each side has, and how near the
    nearest names are."""
    workloads = inventory.workloads
    if not workloads:
        problems = inventory.problems
        first = f"; the first: {problems[0]}" if problems else ""
        return (
            f"no workloads found in the repository ({_count(len(problems), 'problem')}{first}); "
            f"usage names {_count(len(usage), 'workload')}; see `rightsizer inventory`"
        )
    environments = sorted({w.environment for w in workloads})
    clusters = sorted({c for w in workloads for c in clusters_of(w.deployment)})
    text = (
        f"no workload matched any usage: the repository has {_count(len(workloads), 'workload')} "
        f"in {_count(len(environments), 'environment')} ({_listed(environments)})"
        + (f" on {_count(len(clusters), 'cluster')} ({_listed(clusters)})" if clusters else "")
        + f", the usage {_count(len(usage), 'series', 'series')}"
    )
    if not usage:
        return text
    text += f" in {_listed(sorted({k.environment or '(no environment)' for k in usage}))}"
    pairs = []
    for key in usage:
        close = closest_workloads(key, workloads, 1)
        if close:
            pairs.append(f"{key} ~ {close[0]}")
    if pairs:
        text += f"; closest: {'; '.join(pairs[:3])}"
    return text + (
        "; if usage calls an environment by its cluster, declare it under `environments:` "
        "in .rightsizer.yaml"
    )


def _count(number: int, noun: str, plural: str | None = None) -> str:
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def _listed(items: list[str], limit: int = 5) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _strategy(
    config: RepoConfig, rules: WorkloadPolicy, made: dict[str, Strategy], careful: bool = False
) -> Strategy:
    """The workload's strategy: its annotation's prediction model, or the repo's; settings
    from the repo's config, the model, then the policy layers (a profile's risk target),
    each kept only where the strategy has such a setting; `careful`: taking half the risk
    those settings take (a change to the workload was reverted after it hurt)."""
    model = rules.model
    name = model.strategy if model else config.strategy
    if name not in STRATEGIES:
        where = model.where if model else "strategy"
        raise InputError(where, f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    settings_type = STRATEGIES[name].settings_type
    values: dict[str, object] = {}
    if name == config.strategy and config.strategy_settings is not None:
        values.update(asdict(config.strategy_settings))  # type: ignore[call-overload]
    values.update(model.settings if model else {})
    values.update(rules.effective.strategy_settings)
    known = setting_names(settings_type)
    settings: object = parse_settings(
        settings_type, {k: v for k, v in values.items() if k in known}, f"strategy.{name}"
    )
    if careful:
        settings = cautious(settings)
    made_key = f"{name} {settings!r}"
    if made_key not in made:
        made[made_key] = get_strategy(name, settings)
    return made[made_key]


def _facts(workload: Workload) -> dict[str, object]:
    """The workload as custom conditions see it."""
    return {
        "kind": workload.kind,
        "name": workload.name,
        "namespace": workload.namespace,
        "environment": workload.environment,
        "labels": workload.labels,
        "annotations": workload.annotations,
    }


def workload_spec(workload: Workload) -> WorkloadSpec:
    containers = tuple(
        ContainerResources(
            container.name,
            requests=_parsed(container.resources, "requests"),
            limits=_parsed(container.resources, "limits"),
            memory_floor=runtime.floor if runtime else 0.0,
            memory_note=runtime.reason if runtime else "",
        )
        for container in workload.containers
        for runtime in [runtime_memory(container)]
    )
    hpa = None
    if workload.hpa is not None:
        fields = workload.hpa.fields
        utilisation = fields.get("hpa.cpuUtilization")
        hpa = HpaSettings(
            int(fields["hpa.minReplicas"].raw) if "hpa.minReplicas" in fields else 1,
            int(fields["hpa.maxReplicas"].raw),
            int(utilisation.raw) if utilisation is not None else None,
        )
    replicas = int(workload.replicas.raw) if workload.replicas is not None else None
    return WorkloadSpec(workload_key(workload), containers, replicas, hpa)


def _prescale(
    workload: Workload, spec: WorkloadSpec, usage: WorkloadUsage, rules: Guardrails
) -> Prescale | None:
    """The workload's pre-scaling schedule, when its policy enables it and the schedule can
    be written (an HPA workload's needs KEDA to take the HPA over, which the policy must
    allow); never below the policy's floor for minReplicas."""
    settings = rules.prescale
    writable = workload.hpa is not None and (not takes_over(workload) or settings.create_keda)
    needs = workload_needs(spec, usage) if settings.enabled and writable else None
    if needs is None or not len(needs):
        return None
    floor = max([1.0, *(low for name, low, _ in rules.bounds if name == "hpa.minReplicas" and low)])
    return prescale(
        needs,
        settings.timezone,
        risk=settings.risk_percent / 100,
        lead=timedelta(minutes=settings.lead_minutes),
        floor=math.ceil(floor),
        min_weeks=int(settings.min_weeks),
    )


def slo_text(query: str, workload: Workload) -> str:
    """A workload's SLO query for its own environment: `$environment`, `$namespace` and
    `$workload` stand for its own, so one annotation in a base that every environment
    shares asks each for its own series, not one for all."""
    for name, value in (
        ("$environment", workload.environment),
        ("$namespace", workload.namespace),
        ("$workload", workload.name),
    ):
        query = query.replace(name, value)
    return query


def current_values(spec: WorkloadSpec) -> dict[tuple[str | None, str], float]:
    """Each field the manifests set, in base units, by (container, field) as the bot's
    trailers name them: what verification compares a merged change's numbers with, to tell
    a change still in place from one reverted or changed since."""
    found: dict[tuple[str | None, str], float] = {}
    for container in spec.containers:
        for bound, values in (("requests", container.requests), ("limits", container.limits)):
            for resource, value in values.items():
                found[(container.name, f"{bound}.{resource}")] = value
    if spec.hpa is not None:
        found[(None, "hpa.minReplicas")] = spec.hpa.min_replicas
        found[(None, "hpa.maxReplicas")] = spec.hpa.max_replicas
        if spec.hpa.cpu_utilization is not None:
            found[(None, "hpa.cpuUtilization")] = spec.hpa.cpu_utilization
    if spec.replicas is not None:
        found[(None, "replicas")] = spec.replicas
    return found


def _parsed(resources: dict[str, Tracked], bound: str) -> dict[str, float]:
    parsed = {}
    for name, tracked in resources.items():
        kind, resource = name.split(".")
        if kind != bound:
            continue
        where = str(tracked.origin) if tracked.origin else name
        parse = parse_cpu if resource == "cpu" else parse_memory
        parsed[resource] = parse(tracked.raw, where)
    return parsed


def planned_change(workload: Workload, decision: Decision) -> PlannedChange | None:
    """The decision as manifest text; None when the value would be written as it already is.

    A skipped row keeps today's text and records what the strategy wanted, so the plan says
    what was held back. An unset request is written in the style of the container's limit,
    else as Kubernetes documents it (`250m`, `512Mi`).
    """
    recommendation = decision.recommendation
    field, container = recommendation.field, recommendation.container
    tracked = workload.tracked(field, container)
    value = recommendation.proposed if decision.action == "skip" else decision.value
    like: Raw
    if tracked is None:
        if not field.startswith("requests."):
            return None
        limit = workload.tracked(field.replace("requests.", "limits.", 1), container)
        like = limit.raw if limit is not None else UNSET_STYLE[field]
    else:
        like = tracked.raw
    if decision.action == "skip" and not field.startswith("hpa."):
        value = rounded_up(field, value, like)
    written = format_field(field, value, like)
    current = None if tracked is None else tracked.raw
    if current is not None and parse_field(field, written) == parse_field(field, current):
        return None
    origin = None if tracked is None else tracked.origin
    if decision.action == "skip":
        return PlannedChange(workload, decision, current, current, origin, wanted=written)
    return PlannedChange(workload, decision, current, written, origin)


UNSET_STYLE: dict[str, Raw] = {"requests.cpu": "1m", "requests.memory": "1Mi"}
"""The style a request nobody wrote takes: millicores and mebibytes, as the Kubernetes docs
write them."""
