"""One plan from inventory, usage, prices, strategy and policy: the same for every trigger."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.config import RepoConfig
from bot.manifests.edit import Raw, ValueEdit
from bot.manifests.model import Inventory, Origin, Tracked, Workload
from bot.manifests.quantities import format_cpu, format_memory, parse_cpu, parse_memory
from bot.policy import Decision, Policy, RuleHit, decide
from bot.proof import inspect
from recommenders.forecasters import ForecastCache
from recommenders.model import (
    ContainerResources,
    HpaSettings,
    UnitPrices,
    WorkloadKey,
    WorkloadRecommendation,
    WorkloadSpec,
)
from recommenders.sources.usage import UsageTable
from recommenders.strategies import get_strategy
from recommenders.strategies.workload import HORIZON, recommend


@dataclass(frozen=True)
class PlannedChange:
    """One row of the plan: a decision about one field, with the text it will be written as."""

    workload: Workload
    decision: Decision
    current: Raw
    proposed: Raw
    origin: Origin | None

    @property
    def field(self) -> str:
        return self.decision.recommendation.field

    @property
    def container(self) -> str | None:
        return self.decision.recommendation.container

    @property
    def edit(self) -> ValueEdit:
        return ValueEdit(self.workload, self.field, self.container, self.proposed)


@dataclass
class Plan:
    inventory: Inventory
    changes: list[PlannedChange]
    recommendations: dict[WorkloadKey, WorkloadRecommendation]
    prices: dict[str, UnitPrices]
    without_usage: list[Workload] = field(default_factory=list)
    unmatched_usage: list[WorkloadKey] = field(default_factory=list)

    @property
    def monthly_cost_delta(self) -> float:
        return sum(change.decision.monthly_cost_delta for change in self.changes)


def workload_key(workload: Workload) -> WorkloadKey:
    return WorkloadKey(workload.environment, workload.namespace, workload.kind, workload.name)


def make_plan(
    repo: Path,
    config: RepoConfig,
    policy: Policy,
    usage: UsageTable,
    prices: dict[str, UnitPrices],
    cache: ForecastCache | None = None,
) -> Plan:
    inventory = inspect(repo)
    strategy = get_strategy(config.strategy, config.strategy_settings)
    plan = Plan(inventory, [], {}, {})
    found = []
    for workload in inventory.workloads:
        history = usage.for_workload(workload_key(workload))
        if history is None:
            plan.without_usage.append(workload)
        else:
            found.append((workload, history))
    strategy.prepare(
        [(s, m) for _, h in found for m, s in h.series()], HORIZON, cache or ForecastCache()
    )
    for workload, history in found:
        key = workload_key(workload)
        unit_prices = prices.get(workload.environment) or prices.get("") or config.prices
        plan.prices[workload.environment] = unit_prices
        recommendation = recommend(strategy, workload_spec(workload), history, unit_prices)
        plan.recommendations[key] = recommendation
        guardrails = policy.for_environment(workload.environment)
        for decision in decide(recommendation, guardrails, _held_back(workload, config)):
            change = _planned_change(workload, decision)
            if change is not None:
                plan.changes.append(change)
    plan.unmatched_usage = usage.unmatched(workload_key(w) for w in inventory.workloads)
    return plan


def workload_spec(workload: Workload) -> WorkloadSpec:
    containers = tuple(
        ContainerResources(
            container.name,
            requests=_parsed(container.resources, "requests"),
            limits=_parsed(container.resources, "limits"),
        )
        for container in workload.containers
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


def _held_back(workload: Workload, config: RepoConfig) -> RuleHit | None:
    """A workload left alone as a whole: kustomize disagrees with where the bot thinks its
    values are set, or `<prefix>ignore: "true"` is on it or its HPA."""
    if workload.unverified is not None:
        return RuleHit("render-check", workload.unverified)
    key = f"{config.annotation_prefix}ignore"
    owners = [(workload.ref, workload.annotations)]
    if workload.hpa is not None:
        owners.append((f"HorizontalPodAutoscaler/{workload.hpa.name}", workload.hpa.annotations))
    for owner, marks in owners:
        if marks.get(key, "").lower() == "true":
            return RuleHit("annotation.ignore", f'{owner} is annotated {key}: "true"')
    return None


def _planned_change(workload: Workload, decision: Decision) -> PlannedChange | None:
    """The decision as manifest text; None when the value would be written as it already is.

    A skipped change shows what the strategy wanted, so the plan says what was held back.
    """
    recommendation = decision.recommendation
    tracked = workload.tracked(recommendation.field, recommendation.container)
    if tracked is None:
        return None
    value = recommendation.proposed if decision.action == "skip" else decision.value
    proposed: Raw
    if recommendation.field.endswith(".cpu"):
        proposed = format_cpu(value, tracked.raw)
        same = parse_cpu(proposed) == parse_cpu(tracked.raw)
    elif recommendation.field.endswith(".memory"):
        proposed = format_memory(value, tracked.raw)
        same = parse_memory(proposed) == parse_memory(tracked.raw)
    else:
        proposed = round(value)
        same = proposed == int(tracked.raw)
    if same:
        return None
    return PlannedChange(workload, decision, tracked.raw, proposed, tracked.origin)
