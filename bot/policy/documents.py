"""Policy documents: read, checked against policies/schema.json, flattened into settings that
remember the file and line that set them.

A document is one layer: the built-in defaults, an organisation's policy, the repo's own
(`policies/rightsizer.yaml`, or `policy:` in `.rightsizer.yaml`). Inside a layer, rules are
scoped: the top level applies everywhere, `environments.<name>` to one environment, and
`overrides:` items to whatever their `match:` selects (environment, namespace, labels). Each
scope becomes a flat mapping such as `max_step.decrease_percent -> 30`, so that merging,
precedence and "which file set this?" are one dictionary operation each.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ruamel.yaml.comments import CommentedMap

from bot.manifests.quantities import parse_cpu, parse_memory, readable
from bot.manifests.yamlio import position
from bot.resources import data_dir
from bot.rules.conditions import Condition, parse_conditions
from bot.rules.freeze import FreezeWindow, parse_freeze
from bot.settings_files import validate
from recommenders.errors import InputError
from recommenders.strategies import STRATEGIES
from recommenders.strategies.settings import parse_settings

POLICIES = data_dir("policies")
SCHEMA = json.loads((POLICIES / "schema.json").read_text())
SCALARS = (
    "min_history_days",
    "max_data_age_days",
    "min_confidence",
    "min_change_percent",
    "min_monthly_saving",
    "min_pr_monthly_saving",
    "cooldown_days",
    "performance_guard",
)


@dataclass(frozen=True)
class Setting:
    """One rule value and where it was set, for `policy check` and conflict reports."""

    value: Any
    where: str
    layer: str


@dataclass(frozen=True)
class Match:
    environment: str | None = None
    namespace: str | None = None
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def specificity(self) -> int:
        """How narrow the selector is: the most specific one that matches wins."""
        return (self.environment is not None) + (self.namespace is not None) + len(self.labels)

    def matches(self, environment: str, namespace: str, labels: dict[str, str]) -> bool:
        return (
            self.environment in (None, environment)
            and self.namespace in (None, namespace)
            and all(labels.get(key) == value for key, value in self.labels)
        )

    def describe(self) -> str:
        parts = [f"environment={self.environment}"] if self.environment else []
        parts += [f"namespace={self.namespace}"] if self.namespace else []
        parts += [f"{key}={value}" for key, value in self.labels]
        return ", ".join(parts) or "everywhere"


def shown(key: str, value: Any) -> str:
    """A setting's value as its author wrote it: `14`, not the `14.0` it is held as; a
    bound on memory or CPU in Mi or millicores, not 67108864.0 bytes; a list by its
    length; text quoted."""
    if isinstance(value, tuple | list):
        return str(len(value))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return repr(value)
    field = key.rsplit(".", 1)[0]
    if field.endswith(".memory") and value and value % 2**30 == 0:
        return f"{value / 2**30:g}Gi"
    if field.endswith(".cpu") and value % 1 == 0:
        return f"{value:g}"
    if key.startswith("bounds."):
        return readable(float(value), field)
    return f"{value:.6f}".rstrip("0").rstrip(".") if value % 1 else f"{int(value)}"


@dataclass(frozen=True)
class Scoped:
    match: Match
    settings: dict[str, Setting]


@dataclass(frozen=True)
class Model:
    """A named prediction model (`<prefix>prediction-model`): a strategy and its settings."""

    strategy: str
    settings: dict[str, float]
    where: str


@dataclass
class Layer:
    name: str
    scoped: list[Scoped] = field(default_factory=list)
    exclude: list[tuple[str, Setting]] = field(default_factory=list)
    """Exclusions add up: a workload any of them names is left alone."""
    environment_order: Setting | None = None
    models: dict[str, Model] = field(default_factory=dict)
    tightens_only: bool = False
    """Annotations: a rule the layers below set may only be made more conservative here."""
    may_loosen: tuple[str, ...] = ()
    """`annotations_may_loosen:`: rules (`max_step.decrease_percent`, `strategy.cpu_risk`)
    that annotations may loosen all the same."""


def read_layer(document: CommentedMap, shown: str, name: str) -> Layer:
    """One policy document as a layer; anything the schema refuses names its line."""
    validate(document, SCHEMA, shown, "policy")
    layer = Layer(name)
    layer.scoped.append(Scoped(Match(), _settings(document, shown, name)))
    for environment, rules in (document.get("environments") or {}).items():
        layer.scoped.append(
            Scoped(Match(environment=str(environment)), _settings(rules, shown, name))
        )
    for item in document.get("overrides") or []:
        selector = item["match"]
        labels = tuple(sorted((str(k), str(v)) for k, v in (selector.get("labels") or {}).items()))
        match = Match(selector.get("environment"), selector.get("namespace"), labels)
        layer.scoped.append(Scoped(match, _settings(item, shown, name)))
    exclude: CommentedMap = document.get("exclude") or CommentedMap()
    for kind in exclude:
        layer.exclude.append((str(kind), Setting(exclude[kind], _line(exclude, kind, shown), name)))
    if "environment_order" in document:
        order = [str(e) for e in document["environment_order"]]
        layer.environment_order = Setting(order, _line(document, "environment_order", shown), name)
    for model, spec in (document.get("models") or {}).items():
        layer.models[str(model)] = _model(spec, shown)
    layer.may_loosen = tuple(str(key) for key in document.get("annotations_may_loosen") or ())
    return layer


def _model(spec: CommentedMap, shown: str) -> Model:
    """A named model, its strategy and settings checked now, not when a workload uses it."""
    where = _line(spec, "strategy", shown)
    strategy = str(spec["strategy"])
    if strategy not in STRATEGIES:
        known = ", ".join(STRATEGIES)
        raise InputError(where, f"unknown strategy {strategy!r}; known: {known}")
    settings = {str(k): float(v) for k, v in (spec.get("settings") or {}).items()}
    try:
        parse_settings(STRATEGIES[strategy].settings_type, settings, f"strategy.{strategy}")
    except InputError as exc:
        raise InputError(where, f"settings: {exc}") from exc
    return Model(strategy, settings, where)


def merged(layers: list[Layer]) -> Layer:
    """Documents of one level as one layer: their scopes side by side, so that two of them
    setting the same rule for the same selector is a conflict."""
    layer = Layer(layers[0].name)
    for part in layers:
        layer.scoped += part.scoped
        layer.exclude += part.exclude
        layer.models.update(part.models)
        layer.environment_order = part.environment_order or layer.environment_order
        layer.may_loosen += part.may_loosen
    return layer


def _settings(rules: CommentedMap, shown: str, layer: str) -> dict[str, Setting]:
    found: dict[str, Setting] = {}
    for key in SCALARS:
        if key in rules:
            where = _line(rules, key, shown)
            found[key] = Setting(_finite(rules[key], key, where), where, layer)
    for block in ("max_step", "verify", "prescale"):
        for key, value in (rules.get(block) or {}).items():
            where = _line(rules[block], key, shown)
            found[f"{block}.{key}"] = Setting(_finite(value, f"{block}.{key}", where), where, layer)
    zone = found.get("prescale.timezone")
    if zone is not None and not _known_zone(str(zone.value)):
        raise InputError(zone.where, f"prescale.timezone: {zone.value!r} is not an IANA time zone")
    for name, limits in (rules.get("bounds") or {}).items():
        for end, raw in limits.items():
            where = _line(limits, end, shown)
            found[f"bounds.{name}.{end}"] = Setting(_quantity(raw, name, where), where, layer)
    if "freeze" in rules:
        windows: tuple[FreezeWindow, ...] = parse_freeze(rules["freeze"], shown)
        found["freeze"] = Setting(windows, _line(rules, "freeze", shown), layer)
    if "conditions" in rules:
        conditions: tuple[Condition, ...] = parse_conditions(rules["conditions"], shown)
        found["conditions"] = Setting(conditions, _line(rules, "conditions", shown), layer)
    return found


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _finite(value: Any, key: str, where: str) -> Any:
    """Numbers as floats (so 5 and 5.0 agree), and never .inf or .nan: YAML allows both,
    the schema's ranges cannot see NaN, and either would switch a rule off without a word."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if not math.isfinite(value):
        raise InputError(where, f"{key}: {value!r} is not a finite number")
    return float(value)


def _quantity(raw: Any, name: str, where: str) -> float:
    try:
        if name.endswith(".cpu"):
            value = parse_cpu(raw)
        elif name.endswith(".memory"):
            value = parse_memory(raw)
        elif isinstance(raw, int) and not isinstance(raw, bool):
            value = float(raw)  # replicas and percent are whole numbers
        else:
            raise ValueError(raw)
    except (InputError, ValueError, TypeError) as exc:
        raise InputError(where, f"bounds.{name}: {raw!r} is not a valid {name} bound") from exc
    return float(_finite(value, f"bounds.{name}", where))


def _line(mapping: CommentedMap, key: str, shown: str) -> str:
    return f"{shown}:{position(mapping, key)[0]}"
