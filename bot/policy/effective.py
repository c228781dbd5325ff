"""The rules in force for one workload: layers in precedence, the most specific selector first.

Precedence, lowest to highest: built-in defaults, the organisation's policy, the repo's
policy, the workload's annotations. Inside a layer, the top level is overridden by
`environments.<name>` and by `overrides:` items, narrower selectors over broader ones
(counted as environment + namespace + one per label). Two settings at the same layer and
specificity that disagree are a conflict: the more conservative value wins (the one that
changes less, or keeps more resources), and the conflict is reported, never settled by the
order of the files. Freeze windows and conditions add up across scopes and layers instead:
a freeze declared anywhere holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

from bot.policy.documents import Layer, Setting, shown
from bot.policy.rules import CONFIDENCE, Guardrails, PrescaleRules, VerifyRules

ADDITIVE = ("freeze", "conditions", "pinned")
GUARDS = ("off", "high", "medium", "low")
"""Performance guards from weakest to strictest (the level names the impact allowed)."""
_CONSERVATIVE: dict[str, Callable[[Iterable[Any]], Any]] = {
    "min_history_days": max,
    "max_data_age_days": min,
    "min_confidence": lambda values: max(values, key=CONFIDENCE.index),
    "min_change_percent": max,
    "min_monthly_saving": max,
    "min_pr_monthly_saving": max,
    "max_step.decrease_percent": min,
    "max_step.increase_percent": max,
    "cooldown_days": max,
    "verify.days": max,
    "verify.sync_delay_minutes": max,
    "verify.max_oom_kills": min,
    "verify.max_restarts_increase": min,
    "verify.max_throttling_increase_percent": min,
    "verify.max_over_request_percent": min,
    "verify.max_slo_increase_percent": min,
    "prescale.enabled": min,
    "prescale.create_keda": min,
    "prescale.timezone": min,  # no zone is safer: one kept, and the conflict reported
    "prescale.lead_minutes": max,
    "prescale.risk_percent": min,
    "prescale.min_weeks": max,
    "performance_guard": lambda values: max(values, key=GUARDS.index),
    "cost_ceiling_hourly": min,
}


@dataclass(frozen=True)
class Conflict:
    key: str
    settings: tuple[Setting, ...]
    chosen: Setting
    scope: str

    def describe(self) -> str:
        sides = "; ".join(f"{shown(self.key, s.value)} at {s.where}" for s in self.settings)
        kept = shown(self.key, self.chosen.value)
        return f"{self.key}: {sides} ({self.scope}): {kept} kept, the more conservative"


@dataclass(frozen=True)
class Effective:
    guardrails: Guardrails
    provenance: dict[str, Setting]
    """Which file and line set each rule."""
    conflicts: tuple[Conflict, ...]
    strategy_settings: dict[str, Any]
    """Strategy settings the layers set (an annotation's risk target, say)."""


def conservative(key: str, values: list[Any]) -> Any:
    """At equal precedence the value that changes less wins: a higher floor, a higher
    ceiling (bounds are about keeping resources), a smaller step down."""
    if key.startswith("bounds."):
        return max(values)
    if key.endswith("_risk"):
        return min(values)
    return _CONSERVATIVE[key](values)


def _loosening(key: str, envelope: Setting, annotation: Setting) -> Conflict | None:
    """The conflict when an annotation would loosen what the policy below it set; None when
    it tightens it (or is a setting no order applies to)."""
    try:
        safer = conservative(key, [envelope.value, annotation.value])
    except KeyError:
        return None
    if safer == annotation.value:
        return None
    scope = "an annotation may only tighten the policy; `annotations_may_loosen` grants a rule"
    return Conflict(key, (envelope, annotation), envelope, scope)


def effective(
    layers: list[Layer], environment: str, namespace: str, labels: dict[str, str]
) -> Effective:
    merged: dict[str, Setting] = {}
    added: dict[str, list[Setting]] = {key: [] for key in ADDITIVE}
    conflicts: list[Conflict] = []
    grants = {key for layer in layers if not layer.tightens_only for key in layer.may_loosen}
    for layer in layers:
        envelope = dict(merged)
        matching = [s for s in layer.scoped if s.match.matches(environment, namespace, labels)]
        for specificity in sorted({s.match.specificity for s in matching}):
            group = [s for s in matching if s.match.specificity == specificity]
            keys = sorted({key for scoped in group for key in scoped.settings})
            for key in keys:
                found = [s.settings[key] for s in group if key in s.settings]
                if key in ADDITIVE:
                    added[key] += found
                    continue
                merged[key] = found[0]
                if len({repr(s.value) for s in found}) > 1:
                    value = conservative(key, [s.value for s in found])
                    merged[key] = next(s for s in found if s.value == value)
                    scope = " / ".join(s.match.describe() for s in group if key in s.settings)
                    conflicts.append(Conflict(key, tuple(found), merged[key], scope))
                if layer.tightens_only and key in envelope and key not in grants:
                    refused = _loosening(key, envelope[key], merged[key])
                    if refused is not None:
                        merged[key] = envelope[key]
                        conflicts.append(refused)
    strategy = {
        key.removeprefix("strategy."): s.value
        for key, s in merged.items()
        if key.startswith("strategy.")
    }
    return Effective(_guardrails(merged, added), merged, tuple(conflicts), strategy)


def _guardrails(merged: dict[str, Setting], added: dict[str, list[Setting]]) -> Guardrails:
    def value(key: str, default: Any) -> Any:
        return merged[key].value if key in merged else default

    bounds: dict[str, list[float | None]] = {}
    for key, setting in merged.items():
        if key.startswith("bounds."):
            name, end = key.removeprefix("bounds.").rsplit(".", 1)
            bounds.setdefault(name, [None, None])[end == "max"] = setting.value
    return Guardrails(
        min_history_days=float(value("min_history_days", 7)),
        max_data_age_days=float(value("max_data_age_days", 2)),
        min_confidence=str(value("min_confidence", "low")),
        min_change_percent=float(value("min_change_percent", 5)),
        min_monthly_saving=float(value("min_monthly_saving", 1.0)),
        min_pr_monthly_saving=float(value("min_pr_monthly_saving", 0.0)),
        max_decrease_percent=float(value("max_step.decrease_percent", 30)),
        max_increase_percent=float(value("max_step.increase_percent", 100)),
        cooldown_days=float(value("cooldown_days", 0)),
        performance_guard=str(value("performance_guard", "off")),
        verify=VerifyRules(**_block(merged, "verify", VerifyRules)),
        prescale=PrescaleRules(**_block(merged, "prescale", PrescaleRules)),
        bounds=tuple((name, low, high) for name, (low, high) in bounds.items()),
        freeze=tuple(w for s in added["freeze"] for w in s.value),
        conditions=tuple(c for s in added["conditions"] for c in s.value),
        pinned=tuple(f for s in added["pinned"] for f in s.value),
        cost_ceiling_hourly=value("cost_ceiling_hourly", None),
    )


def _block(merged: dict[str, Setting], block: str, rules: type) -> dict[str, Any]:
    """A block's settings (`verify.days`, ...) as its dataclass's keyword arguments."""
    return {
        name: merged[f"{block}.{name}"].value
        for name in (f.name for f in fields(rules))
        if f"{block}.{name}" in merged
    }
