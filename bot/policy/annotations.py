"""Per-workload annotations: the highest policy layer, written next to the workload.

Under the configured prefix (default `rightsizer.dev/`), on the Deployment or StatefulSet or
its HPA:

- `finops-strategy`: a profile, `cost-optimized`, `cost-optimized-burst`, `balanced` or
  `performance`: a risk target and step limits (PROFILES);
- `prediction-model`: a model named under `models:` in a policy;
- `cost-threshold-usd-hr`: the workload's cost ceiling per hour; an increase past it is
  held back, a workload already over it is flagged;
- `scaling-sensitivity`: `low`, `medium`, `high`: risk target and hysteresis (minimum
  change, cooldown) (SENSITIVITY);
- `responsible-ai-check`: `performance-impact-low`, `-medium`, `-high`: the performance
  guard's level;
- `max-step`: the largest decrease per PR, in percent;
- `min-replicas`, `max-replicas`: a floor for the HPA's minReplicas, a ceiling for its
  maxReplicas;
- `pin.<field>`: `"true"` keeps that field (e.g. `pin.requests.memory`) as it is;
- `ignore`: `"true"` leaves the workload alone;
- `slo-query`: PromQL answering one series (p99 latency, an error ratio) that verification
  after merge compares before and after each of the bot's changes (policy
  `verify.max_slo_increase_percent`).

Several annotations may set the same rule (a profile and a sensitivity both set the risk
target): they are equals, so the more conservative value wins and `policy check` reports
the conflict. A value Rightsizer does not know is an error naming the file and annotation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from bot.manifests.model import Workload
from bot.policy.documents import Layer, Match, Scoped, Setting
from recommenders.errors import InputError

LAYER = "annotations"
T = TypeVar("T")
PROFILES: dict[str, dict[str, float]] = {
    "cost-optimized": {"strategy.cpu_risk": 0.10, "max_step.decrease_percent": 50},
    "cost-optimized-burst": {
        "strategy.cpu_risk": 0.10,
        "max_step.decrease_percent": 50,
        "max_step.increase_percent": 300,
    },
    "balanced": {"strategy.cpu_risk": 0.05, "max_step.decrease_percent": 30},
    "performance": {"strategy.cpu_risk": 0.01, "max_step.decrease_percent": 10},
}
SENSITIVITY: dict[str, dict[str, float]] = {
    "low": {"strategy.cpu_risk": 0.10, "min_change_percent": 10, "cooldown_days": 14},
    "medium": {"strategy.cpu_risk": 0.05, "min_change_percent": 5, "cooldown_days": 7},
    "high": {"strategy.cpu_risk": 0.02, "min_change_percent": 2, "cooldown_days": 3},
}
GUARD = {f"performance-impact-{level}": level for level in ("low", "medium", "high")}


@dataclass(frozen=True)
class Annotated:
    """A workload's annotations as a policy layer, and the model it asks for."""

    layer: Layer
    model: Setting | None
    ignored: Setting | None
    unknown: tuple[str, ...] = ()
    slo_query: Setting | None = None
    """The PromQL verification after merge reads for this workload, if any."""
    """Annotations under the prefix that Rightsizer does not read (a typo, or another
    tool's): `policy check` lists them rather than failing, the prefix may be shared."""


def read_annotations(workload: Workload, prefix: str) -> Annotated:
    """Every setting and error names the file and line that set the annotation last: an
    overlay's patch, not the base it patches."""
    layer = Layer(LAYER, tightens_only=True)
    model = ignored = slo_query = None
    unknown = []
    for (path, owner), marks, sources in _owners(workload):
        ours = sorted((k, v) for k, v in marks.items() if k.startswith(prefix))
        for key, raw in ours:
            name, value = key.removeprefix(prefix), str(raw).strip()
            where = f"{sources.get(key, path)} ({owner}) annotation {key}"
            if name == "prediction-model":
                model = Setting(value, where, LAYER)
            elif name == "ignore":
                ignored = Setting(value, where, LAYER) if _flag(value, where, name) else ignored
            elif name == "slo-query":
                if not value:
                    raise InputError(where, "is empty: give the PromQL of the SLO to watch")
                slo_query = Setting(value, where, LAYER)
            else:
                found = _settings(name, value, where)
                if found is None:
                    unknown.append(where)
                else:
                    layer.scoped.append(Scoped(Match(), found))
    return Annotated(layer, model, ignored, tuple(unknown), slo_query)


def _settings(name: str, value: str, where: str) -> dict[str, Setting] | None:
    """The rules one annotation sets; None for keys under the prefix that are not ours."""
    table: dict[str, object]
    if name == "finops-strategy":
        table = dict(_known(PROFILES, value, where, name))
    elif name == "scaling-sensitivity":
        table = dict(_known(SENSITIVITY, value, where, name))
    elif name == "responsible-ai-check":
        table = {"performance_guard": _known(GUARD, value, where, name)}
    elif name == "cost-threshold-usd-hr":
        table = {"cost_ceiling_hourly": _number(value, where, name)}
    elif name == "max-step":
        step = _number(value.removesuffix("%"), where, name)
        if step > 100:
            raise InputError(where, f"{value!r} is over 100 % ({name})")
        table = {"max_step.decrease_percent": step}
    elif name == "min-replicas":
        table = {"bounds.hpa.minReplicas.min": float(_whole(value, where, name))}
    elif name == "max-replicas":
        table = {"bounds.hpa.maxReplicas.max": float(_whole(value, where, name))}
    elif name.startswith("pin."):
        pinned = _flag(value, where, name)
        table = {"pinned": (name.removeprefix("pin."),)} if pinned else {}
    else:
        return None
    return {key: Setting(v, where, LAYER) for key, v in table.items()}


def _owners(
    workload: Workload,
) -> list[tuple[tuple[str, str], dict[str, str], dict[str, str]]]:
    owners = [
        ((workload.origin_file, workload.ref), workload.annotations, workload.annotation_sources)
    ]
    if workload.hpa is not None:
        hpa = (workload.hpa.origin_file, f"{workload.hpa.kind}/{workload.hpa.name}")
        owners.append((hpa, workload.hpa.annotations, workload.hpa.annotation_sources))
    return owners


def _known(table: Mapping[str, T], value: str, where: str, name: str) -> T:
    if value not in table:
        raise InputError(where, f"{value!r} is not a {name}; known: {', '.join(table)}")
    return table[value]


def _number(value: str, where: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise InputError(where, f"{value!r} is not a number ({name})") from None
    if not math.isfinite(number) or number < 0:
        raise InputError(where, f"{value!r} must be a finite number, not negative ({name})")
    return number


def _flag(value: str, where: str, name: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise InputError(where, f'{value!r} is not "true" or "false" ({name})')
    return value.lower() == "true"


def _whole(value: str, where: str, name: str) -> int:
    if not value.isdigit():
        raise InputError(where, f"{value!r} is not a whole number ({name})")
    return int(value)
