"""Guardrails: every recommended value becomes a decision (apply, clip, skip) naming its rules.

The rules come from policies/default.yaml in this project, overridden key by key by the
repo's own policies/rightsizer.yaml, and narrowed per environment under `environments:`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml.comments import CommentedMap

from bot.manifests.quantities import parse_cpu, parse_memory
from bot.settings_files import check_keys, field_error, load_mapping, typed
from recommenders.model import FieldRecommendation, WorkloadRecommendation

DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "policies" / "default.yaml"
REPO_POLICY = "policies/rightsizer.yaml"

Action = Literal["apply", "clip", "skip"]
SCALE_POINT = "hpa.cpuUtilization"
_KEYS = ("min_history_days", "min_change_percent", "min_monthly_saving", "max_step", "bounds")
_BOUND_FIELDS = ("requests.cpu", "requests.memory", "hpa.minReplicas", "hpa.maxReplicas")


@dataclass(frozen=True)
class RuleHit:
    rule: str
    text: str


@dataclass(frozen=True)
class Decision:
    """What the policy made of one recommended value; `value` is what will be written."""

    recommendation: FieldRecommendation
    action: Action
    value: float
    rules: tuple[RuleHit, ...]

    @property
    def monthly_cost_delta(self) -> float:
        return 0.0 if self.action == "skip" else self.recommendation.monthly_cost_delta(self.value)


@dataclass(frozen=True)
class Guardrails:
    min_history_days: float = 7
    min_change_percent: float = 5
    min_monthly_saving: float = 1.0
    max_decrease_percent: float = 30
    max_increase_percent: float = 100
    bounds: tuple[tuple[str, float | None, float | None], ...] = ()


@dataclass(frozen=True)
class Policy:
    default: Guardrails
    environments: dict[str, Guardrails]
    source: str

    def for_environment(self, environment: str) -> Guardrails:
        return self.environments.get(environment, self.default)


def load_policy(repo: Path) -> Policy:
    """The project's defaults with the repo's policies/rightsizer.yaml applied over them."""
    layers = [(DEFAULT_POLICY, "rightsizer policies/default.yaml")]
    if (repo / REPO_POLICY).is_file():
        layers.append((repo / REPO_POLICY, REPO_POLICY))
    default = Guardrails()
    environment_layers: dict[str, list[tuple[CommentedMap, str]]] = {}
    for path, shown in layers:
        document = load_mapping(path, shown)
        check_keys(document, (*_KEYS, "environments"), shown, "")
        default = _apply(default, document, shown)
        environments = (
            typed(document, "environments", dict, shown) if "environments" in document else {}
        )
        for name, overrides in environments.items():
            check_keys(overrides, _KEYS, shown, f"environments.{name}")
            environment_layers.setdefault(str(name), []).append((overrides, shown))
    resolved = {}
    for name, overrides in environment_layers.items():
        guardrails = default
        for document, shown in overrides:
            guardrails = _apply(guardrails, document, shown)
        resolved[name] = guardrails
    return Policy(default, resolved, " + ".join(shown for _, shown in layers))


def _apply(base: Guardrails, document: CommentedMap, shown: str) -> Guardrails:
    """`base` with the keys `document` sets replaced; bounds are merged field by field."""
    changes: dict[str, Any] = {}
    for key in ("min_history_days", "min_change_percent", "min_monthly_saving"):
        if key in document:
            changes[key] = float(typed(document, key, (int, float), shown))
    if "max_step" in document:
        step = typed(document, "max_step", dict, shown)
        check_keys(step, ("decrease_percent", "increase_percent"), shown, "max_step")
        for key in ("decrease_percent", "increase_percent"):
            if key in step:
                changes[f"max_{key}"] = float(typed(step, key, (int, float), shown))
    if "bounds" in document:
        bounds = {name: (low, high) for name, low, high in base.bounds}
        table = typed(document, "bounds", dict, shown)
        check_keys(table, _BOUND_FIELDS, shown, "bounds")
        for name, limits in table.items():
            check_keys(limits, ("min", "max"), shown, f"bounds.{name}")
            low, high = bounds.get(name, (None, None))
            if "min" in limits:
                low = _quantity(limits, "min", name, shown)
            if "max" in limits:
                high = _quantity(limits, "max", name, shown)
            bounds[name] = (low, high)
        changes["bounds"] = tuple((n, low, high) for n, (low, high) in bounds.items())
    return replace(base, **changes)


def _quantity(limits: CommentedMap, key: str, name: str, shown: str) -> float:
    raw = limits[key]
    try:
        if name.endswith(".cpu"):
            return parse_cpu(raw)
        if name.endswith(".memory"):
            return parse_memory(raw)
        return float(typed(limits, key, int, shown))
    except Exception as exc:
        raise field_error(limits, key, shown, f"{raw!r} is not a valid {name} bound") from exc


def decide(
    recommendation: WorkloadRecommendation,
    guardrails: Guardrails,
    held_back: RuleHit | None,
) -> list[Decision]:
    """A decision for every field; a workload held back as a whole (opt-out, render check)
    or with too little history gets `skip` for all of them."""
    workload_rule = held_back
    days = recommendation.history_hours / 24
    if workload_rule is None and days < guardrails.min_history_days:
        workload_rule = RuleHit(
            "min-history",
            f"only {days:.1f} days of usage; at least {guardrails.min_history_days:g} needed",
        )
    if workload_rule is not None:
        return [Decision(f, "skip", f.current, (workload_rule,)) for f in recommendation.fields]
    decisions = {
        (f.container, f.field): _decide_field(f, guardrails)
        for f in recommendation.fields
        if not f.field.startswith("limits.") and f.field != SCALE_POINT
    }
    for f in recommendation.fields:
        if f.field.startswith("limits."):
            request = decisions.get((f.container, f.field.replace("limits.", "requests.")))
            decisions[(f.container, f.field)] = (
                _follow_request(f, request) if request else _decide_field(f, guardrails)
            )
        elif f.field == SCALE_POINT:
            cpu = [d for (_, name), d in decisions.items() if name == "requests.cpu"]
            decisions[(f.container, f.field)] = _keep_scale_point(f, cpu)
    return [decisions[(f.container, f.field)] for f in recommendation.fields]


def _keep_scale_point(target: FieldRecommendation, cpu: list[Decision]) -> Decision:
    """The HPA's target follows the CPU requests as decided (clipped or skipped), so pods
    keep scaling at the same cores whatever the guardrails did to the requests."""
    before = sum(d.recommendation.current for d in cpu)
    after = sum(d.value for d in cpu)
    if not cpu or after <= 0 or after == before:
        hit = RuleHit("follows-request", "requests.cpu is not changing")
        return Decision(target, "skip", target.current, (hit,))
    value = float(round(target.current * before / after))
    clipped = any(d.action == "clip" for d in cpu)
    return Decision(
        target, "clip" if clipped else "apply", value, tuple(h for d in cpu for h in d.rules)
    )


def _follow_request(limit: FieldRecommendation, request: Decision) -> Decision:
    """A limit moves with its request, keeping the ratio the strategy proposed between them
    (today's, or its own, as KRR's limit = request), or stays when the request stays."""
    resource = limit.field.removeprefix("limits.")
    if request.action == "skip":
        hit = RuleHit("follows-request", f"requests.{resource} is not changing")
        return Decision(limit, "skip", limit.current, (hit,))
    ratio = limit.proposed / request.recommendation.proposed
    return Decision(limit, request.action, request.value * ratio, request.rules)


def _decide_field(field: FieldRecommendation, rules: Guardrails) -> Decision:
    value, hits = field.proposed, []
    if field.field.startswith("hpa."):
        value = float(round(value))
    for name, low, high in rules.bounds:
        if name != field.field:
            continue
        if low is not None and value < low:
            value = low
            hits.append(RuleHit(f"bounds.{name}.min", f"raised to the floor {_show(low, name)}"))
        if high is not None and value > high:
            value = high
            hits.append(
                RuleHit(f"bounds.{name}.max", f"lowered to the ceiling {_show(high, name)}")
            )
    if field.current > 0:
        floor = field.current * (1 - rules.max_decrease_percent / 100)
        ceiling = field.current * (1 + rules.max_increase_percent / 100)
        if value < floor:
            value = floor
            text = f"at most -{rules.max_decrease_percent:g}% per PR"
            hits.append(RuleHit("max-step.decrease", text))
        elif value > ceiling:
            value = ceiling
            text = f"at most +{rules.max_increase_percent:g}% per PR"
            hits.append(RuleHit("max-step.increase", text))
        if field.field.startswith("hpa."):
            # Whole replicas, rounded towards the current value so a step never overshoots.
            value = float(math.ceil(value) if value < field.current else math.floor(value))
        change = abs(value - field.current) / field.current * 100
        if change < rules.min_change_percent:
            text = f"{change:.1f}% change is below the {rules.min_change_percent:g}% minimum"
            return Decision(field, "skip", field.current, (*hits, RuleHit("min-change", text)))
    saving = -field.monthly_cost_delta(value)
    if 0 < saving < rules.min_monthly_saving:
        text = f"saves ${saving:.2f}/month, below the ${rules.min_monthly_saving:.2f} minimum"
        return Decision(field, "skip", field.current, (*hits, RuleHit("min-saving", text)))
    return Decision(field, "clip" if hits else "apply", value, tuple(hits))


def _show(value: float, name: str) -> str:
    if name.endswith(".cpu"):
        return f"{value * 1000:g}m"
    if name.endswith(".memory"):
        return f"{value / 2**20:g}Mi"
    return f"{value:g}"
