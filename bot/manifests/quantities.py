"""Kubernetes quantities: parse them, and write new values in the style the file already uses.

A reviewer should see `500m -> 350m`, not `500m -> 0.35`: the new value keeps the old one's
unit family (millicores or cores; binary or decimal bytes) and its quoting.
"""

from __future__ import annotations

import math
import re

from recommenders.errors import InputError

_SUFFIXES = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")

CPU_STEP_CORES = 0.005
"""New CPU values are rounded up to 5 millicores: finer steps only make noisy diffs."""


def parse_cpu(raw: str | int | float, where: str = "cpu") -> float:
    """Cores as a float: `500m` -> 0.5, `0.5` -> 0.5, `2` -> 2.0."""
    number, suffix = _split(raw, where)
    if suffix == "m":
        return number / 1000
    if suffix:
        raise InputError(where, f"CPU quantity {raw!r} must be cores or millicores")
    return number


def parse_memory(raw: str | int | float, where: str = "memory") -> float:
    """Bytes as a float: `512Mi` -> 536870912, `1G` -> 1e9, `1000` -> 1000."""
    number, suffix = _split(raw, where)
    if suffix == "m":
        return number / 1000
    return number * _SUFFIXES[suffix]


def _split(raw: str | int | float, where: str) -> tuple[float, str]:
    match = _QUANTITY.match(str(raw).strip())
    if match is None:
        raise InputError(where, f"{raw!r} is not a Kubernetes quantity")
    return float(match.group(1)), match.group(2) or ""


def format_cpu(cores: float, like: str | int | float) -> str | int | float:
    """`cores` rounded up to 5 m, in the style of `like` (millicores, or a plain number)."""
    millicores = math.ceil(round(cores / CPU_STEP_CORES, 6)) * round(CPU_STEP_CORES * 1000)
    if isinstance(like, str) and like.strip().endswith("m"):
        return f"{millicores}m"
    text = _decimal(millicores / 1000)
    if isinstance(like, str):
        return text
    return int(text) if text.isdigit() else float(text)


def format_memory(size: float, like: str | int | float) -> str | int:
    """`size` bytes rounded up in the unit of `like` (two decimals for Gi/G), or the next
    smaller unit of the same family when it is less than one."""
    if not isinstance(like, str):
        return math.ceil(size)
    _, suffix = _split(like, "memory")
    if suffix in ("", "m"):
        return str(math.ceil(size))
    smaller = {"Ti": "Gi", "Gi": "Mi", "Mi": "Ki", "T": "G", "G": "M", "M": "k"}
    while suffix in smaller and size < _SUFFIXES[suffix]:
        suffix = smaller[suffix]  # 0.68Gi reads worse than 697Mi; stay binary or decimal
    unit = _SUFFIXES[suffix]
    places = 2 if suffix in ("Gi", "G", "Ti", "T") else 0
    scaled = math.ceil(round(size / unit * 10**places, 6)) / 10**places
    return f"{_decimal(scaled)}{suffix}"


MI, GI = 2**20, 2**30
CPU_STEPS = ((0.1, 0.005), (1.0, 0.01), (4.0, 0.05), (math.inf, 0.1))
"""(below this many cores, round to this step): 5m under 100m, 10m under a core, 50m under
four cores, 100m above: steps a person picks, and no diff smaller than one."""
MEMORY_STEPS = ((256 * MI, 16 * MI), (2 * GI, 64 * MI), (math.inf, 256 * MI))
"""The same for binary memory: 16Mi under 256Mi, 64Mi under 2Gi, 256Mi (a quarter Gi)
above. A file that writes Gi rounds to quarter Gi from 1Gi up, so `1.25Gi`, never `1.13Gi`."""
DECIMAL_MEMORY_STEPS = ((250 * 10**6, 10 * 10**6), (2 * 10**9, 50 * 10**6), (math.inf, 250 * 10**6))


def step(field: str, value: float, like: str | int | float | None) -> float:
    """The step a new value of `field` near `value` is rounded to, in the style of `like`
    (the value the file writes now; None for a field it leaves unset)."""
    if field.endswith(".cpu"):
        return next(size for below, size in CPU_STEPS if value < below)
    if not field.endswith(".memory"):
        return 1.0
    suffix = _split(like, "memory")[1] if isinstance(like, str) else "Mi"
    if suffix in ("k", "M", "G", "T"):
        return next(size for below, size in DECIMAL_MEMORY_STEPS if value < below)
    if suffix in ("Gi", "Ti") and value >= GI:
        return 256 * MI
    return next(size for below, size in MEMORY_STEPS if value < below)


def rounded_up(field: str, value: float, like: str | int | float | None) -> float:
    """`value` rounded up to its step: a sized value never drops below what was asked."""
    size = step(field, value, like)
    return round(math.ceil(round(value / size, 6)) * size, 9)


def format_field(field: str, value: float, like: str | int | float) -> str | int | float:
    """A field's new value (base units) as the manifest writes it, in the style of `like`;
    replicas and percentages are whole numbers."""
    if field.endswith(".cpu"):
        return format_cpu(value, like)
    if field.endswith(".memory"):
        return format_memory(value, like)
    return round(value)


def parse_field(field: str, raw: str | int | float) -> float:
    """A field's text in base units: cores, bytes, or the plain number."""
    if field.endswith(".cpu"):
        return parse_cpu(raw)
    if field.endswith(".memory"):
        return parse_memory(raw)
    return float(raw)


def readable(value: float, field: str) -> str:
    """A field's value in base units as a reviewer reads it in rule texts: millicores, MiB,
    or the plain number (replicas, percent)."""
    if field.endswith(".cpu"):
        return f"{value * 1000:g}m"
    if field.endswith(".memory"):
        return f"{value / 2**20:g}Mi"
    return f"{value:g}"


def _decimal(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")
