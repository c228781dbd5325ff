"""Reviewers' commands that outlive the comment they were given in: ignore a workload, snooze
it for some days, pin a field at a value. The service keeps them and the planner applies them
to every later plan, after the policy and the environment order, as the last word: they are
a person's explicit decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.decisions.model import Decision, RuleHit, skipped
from bot.manifests.quantities import parse_cpu, parse_memory
from recommenders.errors import InputError
from recommenders.model import WorkloadKey

OverrideKind = Literal["ignore", "snooze", "pin"]


@dataclass(frozen=True)
class Override:
    kind: OverrideKind
    workload_kind: str
    name: str
    namespace: str | None
    environment: str | None
    by: str
    since: datetime
    until: datetime | None = None
    field: str | None = None
    """pin: `requests.cpu`, `hpa.minReplicas`... (in every container that has it)."""
    value: str | None = None
    """pin: the value as the reviewer wrote it (`500m`, `1Gi`, `3`)."""

    def matches(self, key: WorkloadKey, field: str) -> bool:
        """Its workload, and for a pin its field (in every container that has it)."""
        named = names_workload(self.workload_kind, self.name, self.namespace, self.environment, key)
        return named and self.field in (None, field)

    def describe(self) -> str:
        if self.kind == "pin":
            return f"pinned at {self.value} by @{self.by} on {self.since:%Y-%m-%d}"
        if self.kind == "snooze" and self.until is not None:
            return f"snoozed by @{self.by} until {self.until:%Y-%m-%d}"
        return f"ignored by @{self.by} since {self.since:%Y-%m-%d}"


def names_workload(
    kind: str, name: str, namespace: str | None, environment: str | None, key: WorkloadKey
) -> bool:
    """Whether `[ENV:][NAMESPACE/]KIND/NAME`, as a reviewer typed it, names `key`; the kind
    in any case (`deployment/web`), the rest exactly, as Kubernetes names are."""
    return (
        (key.kind.lower(), key.name) == (kind.lower(), name)
        and namespace in (None, key.namespace)
        and environment in (None, key.environment)
    )


def overriding(
    overrides: Sequence[Override], key: WorkloadKey, field: str, now: datetime
) -> Override | None:
    """The newest command in force for this workload's field (`overrides` oldest first); a
    snooze that ended no longer counts."""
    return next(
        (
            o
            for o in reversed(overrides)
            if (o.until is None or o.until > now) and o.matches(key, field)
        ),
        None,
    )


def overridden(decision: Decision, override: Override) -> Decision:
    """The decision as the command has it: skipped (ignore, snooze, a pin at today's
    value), or applied at the pinned value. Pins hold what the bot would change: a field
    the plan leaves alone stays as the manifests have it."""
    hit = RuleHit(f"command.{override.kind}", override.describe())
    recommendation = decision.recommendation
    if override.kind != "pin":
        return skipped(recommendation, hit)
    assert override.field is not None and override.value is not None
    value = pin_value(override.field, override.value)
    if value == recommendation.current:
        return skipped(recommendation, hit)
    return Decision(recommendation, "apply", value, (hit,))


def pin_value(field: str, text: str) -> float:
    """A pinned value in base units, checked as the editor would write it."""
    name = field.rsplit(" ", 1)[-1]
    if name.endswith(".cpu"):
        return parse_cpu(text, where=field)
    if name.endswith(".memory"):
        return float(parse_memory(text, where=field))
    if not text.isdigit():
        raise InputError(field, f"takes a whole number, not {text!r}")
    return float(text)
