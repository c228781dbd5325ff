"""The vocabulary of decisions: which rule acted, and what became of a recommended value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from recommenders.model import FieldRecommendation

Action = Literal["apply", "clip", "skip"]


@dataclass(frozen=True)
class RuleHit:
    rule: str
    text: str


@dataclass(frozen=True)
class Decision:
    """What the rules made of one recommended value; `value` is what will be written."""

    recommendation: FieldRecommendation
    action: Action
    value: float
    rules: tuple[RuleHit, ...]

    @property
    def monthly_cost_delta(self) -> float:
        return 0.0 if self.action == "skip" else self.recommendation.monthly_cost_delta(self.value)


def skipped(field: FieldRecommendation, *rules: RuleHit) -> Decision:
    """The field stays as it is, for these reasons."""
    return Decision(field, "skip", field.current, rules)
