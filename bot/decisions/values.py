"""Every recommended value becomes a decision (apply, clip, skip) naming the rules that made it.

The order is the declared precedence: the workload's own state first (its render unverified,
excluded, stale or too little history, too little confidence, pins), then hard bounds, then
the step per PR, then what is worth a change (minimum change, minimum saving), then custom
conditions and the cooldown. A performance guard is applied last of the value rules so that
no cost rule can push a value below the level the strategy's risk target needs; where it
overrides a bound's ceiling, both are named.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.decisions.model import Decision, RuleHit, skipped
from bot.manifests.model import Workload
from bot.manifests.quantities import readable, rounded_up, step
from bot.policy.rules import CONFIDENCE, GUARD_SHARE, Guardrails
from bot.rules.conditions import activation, condition_hits
from bot.rules.cooldown import PastChange, reverts
from recommenders.model import HOURS_PER_MONTH, FieldRecommendation, WorkloadRecommendation

SCALE_POINT = "hpa.cpuUtilization"


@dataclass(frozen=True)
class Context:
    """What decisions need beyond the numbers: the workload (for conditions), the bot's past
    changes (for the cooldown) and the time (for both)."""

    now: datetime
    workload: dict[str, object] = field(default_factory=dict)
    """kind, name, namespace, environment, labels, annotations: the conditions' `workload`."""
    past: tuple[PastChange, ...] = ()
    written: Mapping[tuple[str | None, str], str | int | float] = field(default_factory=dict)
    """Each (container, field) as the manifests write it, absent where unset: new values
    round to steps in that style (quarter Gi in a file that writes Gi)."""


def decide(
    recommendation: WorkloadRecommendation,
    guardrails: Guardrails,
    held_back: RuleHit | None,
    context: Context | None = None,
) -> list[Decision]:
    """A decision for every field; a workload held back as a whole (exclusion, render check,
    too little history, too little confidence) gets `skip` for all of them."""
    workload_rule = held_back or _workload_rule(recommendation, guardrails, context)
    if workload_rule is not None:
        return [skipped(f, workload_rule) for f in recommendation.fields]
    decisions = {
        (f.container, f.field): _decide_field(f, guardrails, recommendation, context)
        for f in recommendation.fields
        if not f.field.startswith("limits.") and f.field != SCALE_POINT
    }
    for f in recommendation.fields:
        if f.field.startswith("limits."):
            request = decisions.get((f.container, f.field.replace("limits.", "requests.")))
            decisions[(f.container, f.field)] = (
                _within_rules(_follow_request(f, request, context), guardrails)
                if request
                else _decide_field(f, guardrails, recommendation, context)
            )
        elif f.field == SCALE_POINT:
            cpu = [d for (_, name), d in decisions.items() if name == "requests.cpu"]
            followed = _keep_scale_point(f, cpu, recommendation.pod_cpu_request)
            decisions[(f.container, f.field)] = _within_rules(followed, guardrails)
    found = [decisions[(f.container, f.field)] for f in recommendation.fields]
    return _under_ceiling(found, recommendation, guardrails)


def held_workload(workload: Workload, excluded: RuleHit | None) -> RuleHit | None:
    """Why none of a workload's values may change, before its numbers are looked at:
    kustomize disagrees with where the bot thinks its values are set (an edit there might
    not reach the cluster), or the policy excludes it."""
    if workload.unverified is not None:
        return RuleHit("render-check", workload.unverified)
    return excluded


def _workload_rule(
    recommendation: WorkloadRecommendation, rules: Guardrails, context: Context | None
) -> RuleHit | None:
    ends = recommendation.ends
    if context is not None and ends is not None:
        age = (context.now - ends).total_seconds() / 86400
        if age > rules.max_data_age_days:
            text = (
                f"usage ends {ends:%Y-%m-%d %H:%M} UTC, {age:.1f} days before this run (at most "
                f"{rules.max_data_age_days:g}): nothing changes until fresh data arrives"
            )
            return RuleHit("stale-data", text)
    days = recommendation.history_hours / 24
    if days < rules.min_history_days:
        text = f"only {days:.1f} days of usage; at least {rules.min_history_days:g} needed"
        return RuleHit("min-history", text)
    if CONFIDENCE.index(recommendation.confidence) < CONFIDENCE.index(rules.min_confidence):
        text = f"confidence {recommendation.confidence}, below the {rules.min_confidence} minimum"
        return RuleHit("min-confidence", text)
    return None


def _under_ceiling(
    decisions: list[Decision], recommendation: WorkloadRecommendation, rules: Guardrails
) -> list[Decision]:
    """`cost-threshold-usd-hr`: increases that would take the workload over its hourly
    ceiling are held back, the largest first; a workload already over it is flagged."""
    ceiling = rules.cost_ceiling_hourly
    if ceiling is None:
        return decisions
    hourly = recommendation.monthly_cost / HOURS_PER_MONTH
    total = hourly + sum(d.monthly_cost_delta for d in decisions) / HOURS_PER_MONTH
    if hourly > ceiling:
        text = f"already costs ${hourly:.2f}/h, over its ${ceiling:.2f}/h threshold"
        flag = RuleHit("annotation.cost-threshold-usd-hr", text)
        return [Decision(d.recommendation, d.action, d.value, (*d.rules, flag)) for d in decisions]
    found = list(decisions)
    for i in sorted(range(len(found)), key=lambda i: -found[i].monthly_cost_delta):
        increase = found[i].monthly_cost_delta
        if total <= ceiling or increase <= 0:
            break
        total -= increase / HOURS_PER_MONTH
        text = f"would take the workload over its ${ceiling:.2f}/h threshold"
        hit = RuleHit("annotation.cost-threshold-usd-hr", text)
        found[i] = skipped(found[i].recommendation, *found[i].rules, hit)
    return found


def _keep_scale_point(target: FieldRecommendation, cpu: list[Decision], pod: float) -> Decision:
    """The HPA's target follows the CPU requests as decided (clipped or skipped), so pods
    keep scaling at the same cores whatever the guardrails did to the requests. `pod` is the
    whole pod's CPU request today, containers without a decision included: utilisation is
    measured against all of it."""
    moved = sum(d.value - d.recommendation.current for d in cpu)
    after = pod + moved
    if not cpu or pod <= 0 or after <= 0 or moved == 0:
        hit = RuleHit("follows-request", "requests.cpu is not changing")
        return skipped(target, hit)
    value = float(round(target.current * pod / after))
    clipped = any(d.action == "clip" for d in cpu)
    return Decision(
        target, "clip" if clipped else "apply", value, tuple(h for d in cpu for h in d.rules)
    )


def _within_rules(decision: Decision, rules: Guardrails) -> Decision:
    """A value that follows another (a limit its request, the HPA target the CPU requests)
    still answers to its own pin and bounds."""
    name = decision.recommendation.field
    if decision.action == "skip":
        return decision
    if name in rules.pinned:
        return skipped(decision.recommendation, _pin(name))
    value, hits = _bounded(decision.value, name, rules)
    if not hits:
        return decision
    return Decision(decision.recommendation, "clip", value, (*decision.rules, *hits))


def _pin(name: str) -> RuleHit:
    return RuleHit("annotation.pin", f"{name} is pinned by an annotation")


def _bounded(value: float, name: str, rules: Guardrails) -> tuple[float, list[RuleHit]]:
    """`value` within the field's floor and ceiling, and the bounds that moved it."""
    hits = []
    for bound, low, high in rules.bounds:
        if bound != name:
            continue
        if low is not None and value < low:
            value = low
            hits.append(RuleHit(f"bounds.{name}.min", f"raised to the floor {readable(low, name)}"))
        if high is not None and value > high:
            value = high
            text = f"lowered to the ceiling {readable(high, name)}"
            hits.append(RuleHit(f"bounds.{name}.max", text))
    return value, hits


def _follow_request(
    limit: FieldRecommendation, request: Decision, context: Context | None
) -> Decision:
    """A limit moves with its request, keeping the ratio the strategy proposed between them
    (today's, or its own, as KRR's limit = request), or stays when the request stays. The
    ratio applies to the request as rounded, so `460m -> 920m` is the 2x it claims."""
    resource = limit.field.removeprefix("limits.")
    if request.action == "skip":
        hit = RuleHit("follows-request", f"requests.{resource} is not changing")
        return skipped(limit, hit)
    if limit.proposed == limit.current:
        # The strategy keeps the limit (a runtime's floor raised the request): it moves only
        # if the request would pass it.
        if request.value <= limit.current:
            return skipped(limit, RuleHit("follows-request", "the limit stays above the request"))
        return Decision(limit, request.action, request.value, request.rules)
    ratio = limit.proposed / request.recommendation.proposed
    value = rounded_up(limit.field, request.value * ratio, _written(context, limit))
    return Decision(limit, request.action, value, request.rules)


def _written(context: Context | None, field: FieldRecommendation) -> str | int | float | None:
    return None if context is None else context.written.get((field.container, field.field))


def _decide_field(
    field: FieldRecommendation,
    rules: Guardrails,
    recommendation: WorkloadRecommendation,
    context: Context | None,
) -> Decision:
    if field.field in rules.pinned:
        return skipped(field, _pin(field.field))
    value = float(round(field.proposed)) if field.field.startswith("hpa.") else field.proposed
    waived: list[RuleHit] = []
    value, hits = _bounded(value, field.field, rules)
    if field.current > 0:
        floor = field.current * (1 - rules.max_decrease_percent / 100)
        ceiling = field.current * (1 + rules.max_increase_percent / 100)
        if value < floor:
            value = floor
            text = f"at most -{rules.max_decrease_percent:g}% per PR"
            hits.append(RuleHit("max-step.decrease", text))
        elif value > ceiling and field.pressure:
            waived.append(
                RuleHit("max-step.increase", f"not applied, upsized at once: {field.pressure}")
            )
        elif value > ceiling:
            value = ceiling
            text = f"at most +{rules.max_increase_percent:g}% per PR"
            hits.append(RuleHit("max-step.increase", text))
    guard = GUARD_SHARE[rules.performance_guard] * (field.guard or 0.0)
    if value < guard:
        value = guard
        text = f"not below {readable(guard, field.field)}, the forecast's level for its risk target"
        hits.append(RuleHit("performance-guard", text))
    if not field.field.startswith("hpa."):
        like = _written(context, field)
        value, size = rounded_up(field.field, value, like), step(field.field, value, like)
        if field.current > 0 and abs(value - field.current) < size * (1 - 1e-6):
            text = (
                f"{readable(value, field.field)} is within one {readable(size, field.field)} step"
            )
            return skipped(field, *hits, RuleHit("min-step", text))
    if field.current > 0:
        if field.field.startswith("hpa."):
            # Whole replicas, rounded towards the current value so a step never overshoots.
            value = float(math.ceil(value) if value < field.current else math.floor(value))
        change = abs(value - field.current) / field.current * 100
        if change < rules.min_change_percent:
            text = f"{change:.1f}% change is below the {rules.min_change_percent:g}% minimum"
            return skipped(field, *hits, RuleHit("min-change", text))
    saving = -field.monthly_cost_delta(value)
    if 0 < saving < rules.min_monthly_saving:
        text = f"saves ${saving:.2f}/month, below the ${rules.min_monthly_saving:.2f} minimum"
        return skipped(field, *hits, RuleHit("min-saving", text))
    held = _held(field, value, rules, recommendation, context)
    if held:
        return skipped(field, *hits, *waived, *held)
    return Decision(field, "clip" if hits else "apply", value, (*hits, *waived))


def _held(
    field: FieldRecommendation,
    value: float,
    rules: Guardrails,
    recommendation: WorkloadRecommendation,
    context: Context | None,
) -> tuple[RuleHit, ...]:
    """Custom conditions and the cooldown: rules that hold a change back rather than bound it."""
    if context is None:
        return ()
    found: list[RuleHit] = []
    if rules.conditions:
        percent = (value - field.current) / field.current * 100 if field.current else 0.0
        change = {
            "field": field.field,
            "container": field.container or "",
            "current": field.current,
            "proposed": value,
            "percent": percent,
            "monthly_cost_delta": field.monthly_cost_delta(value),
        }
        about = {
            "confidence": recommendation.confidence,
            "history_days": recommendation.history_hours / 24,
            "model": recommendation.model,
        }
        found += condition_hits(rules.conditions, activation(context.workload, change, about))
    if rules.cooldown_days > 0:
        hit = reverts(
            list(context.past),
            str(recommendation.key),
            field.container,
            field.field,
            field.current,
            value,
            context.now,
            rules.cooldown_days,
        )
        found += [hit] if hit else []
    return tuple(found)
