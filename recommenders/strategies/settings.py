"""Strategy settings: typed dataclasses whose fields carry bounds and a description.

The bounds are checked when settings are built, from code or from a repo's config, so a
`cpu_quantile: 1.5` is refused with the field's name instead of sizing nonsense.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from recommenders.errors import InputError

T = TypeVar("T")


def setting(default: float, low: float, high: float, description: str) -> Any:
    """A settings field with inclusive bounds; `Any` so it can stand in for a float field."""
    return dataclasses.field(
        default=default, metadata={"low": low, "high": high, "description": description}
    )


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
