"""Strategy settings: typed dataclasses whose fields carry bounds and a description.

The bounds are checked when settings are built, from code or from a repo's config, so a
`cpu_quantile: 1.5` is refused with the field's name instead of sizing nonsense.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

from recommenders.errors import InputError

T = TypeVar("T")


Caution = Literal["halve", "halve-tail", "halve-tail-percent", "double"]
"""How a setting takes half the risk: a share exceeded (`cpu_risk` 5 % -> 2.5 %), the tail
a quantile leaves (0.999 -> 0.9995; 95th percentile -> 97.5th) or a margin (15 % -> 30 %)."""
_CAUTIONS: dict[str, Callable[[float], float]] = {
    "halve": lambda value: value / 2,
    "halve-tail": lambda value: 1 - (1 - value) / 2,
    "halve-tail-percent": lambda value: 100 - (100 - value) / 2,
    "double": lambda value: value * 2,
}


def setting(
    default: float, low: float, high: float, description: str, caution: Caution | None = None
) -> Any:
    """A settings field with inclusive bounds; `Any` so it can stand in for a float field.
    `caution` says how the setting halves its risk, for `cautious`; None: it is no risk."""
    metadata = {"low": low, "high": high, "description": description, "caution": caution}
    return dataclasses.field(default=default, metadata=metadata)


def cautious(settings: T) -> T:
    """The same settings taking half the risk, each within its bounds: how a workload whose
    last change was reverted after it hurt is sized until it has earned trust back."""
    changed = {}
    for spec in dataclasses.fields(settings):  # type: ignore[arg-type]
        caution = spec.metadata["caution"]
        if caution is not None:
            value = _CAUTIONS[caution](getattr(settings, spec.name))
            changed[spec.name] = min(spec.metadata["high"], max(spec.metadata["low"], value))
    return dataclasses.replace(settings, **changed)  # type: ignore[type-var]


def check_bounds(settings: object, where: str = "strategy settings") -> None:
    """Raise naming the first field outside its bounds; called from `__post_init__`."""
    for spec in dataclasses.fields(settings):  # type: ignore[arg-type]
        value = getattr(settings, spec.name)
        low, high = spec.metadata["low"], spec.metadata["high"]
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise InputError(f"{where}.{spec.name}", f"must be a number, not {value!r}")
        if not low <= value <= high:
            raise InputError(f"{where}.{spec.name}", f"{value} is outside [{low}, {high}]")


def setting_names(settings_type: type) -> tuple[str, ...]:
    return tuple(spec.name for spec in dataclasses.fields(settings_type))


def parse_settings(settings_type: type[T], values: Mapping[str, object], where: str) -> T:
    """Settings from a config mapping: unknown keys and out-of-bounds values name the field."""
    known = setting_names(settings_type)
    for key in values:
        if key not in known:
            raise InputError(
                f"{where}.{key}", f"unknown setting; known: {', '.join(sorted(known))}"
            )
    settings = settings_type(**values)
    check_bounds(settings, where)
    return settings


def describe_settings(settings_type: type) -> list[tuple[str, float, float, float, str]]:
    """(name, default, low, high, description) per field, for `rightsizer strategies`."""
    return [
        (f.name, float(f.default), f.metadata["low"], f.metadata["high"], f.metadata["description"])  # type: ignore[arg-type]
        for f in dataclasses.fields(settings_type)
    ]
