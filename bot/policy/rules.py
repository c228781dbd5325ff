"""What a policy decides with: the effective rules for one workload."""

from __future__ import annotations

from dataclasses import dataclass

from bot.rules.conditions import Condition
from bot.rules.freeze import FreezeWindow

CONFIDENCE = ("low", "medium", "high")
GUARD_SHARE = {"off": 0.0, "high": 0.0, "medium": 0.9, "low": 1.0}
"""Share of the strategy's risk-target level that a value may not go below, per allowed
performance impact: `low` impact keeps all of it, `medium` 90 %, `high` (or off) none."""


@dataclass(frozen=True)
class VerifyRules:
    """What verification after merge watches, and the thresholds past which a merged change
    counts as having hurt (policy key `verify:`). The defaults are the built-in policy's."""

    days: float = 3
    """How long a change is watched after it reached the cluster; 0 turns it off."""
    sync_delay_minutes: float = 10
    """When the data shows no request changing: the merge plus this is when it reached."""
    max_oom_kills: float = 0
    max_restarts_increase: float = 2
    max_throttling_increase_percent: float = 5
    max_over_request_percent: float = 25
    max_slo_increase_percent: float = 20


@dataclass(frozen=True)
class PrescaleRules:
    """Predictive pre-scaling (policy key `prescale:`), off unless a policy enables it."""

    enabled: bool = False
    create_keda: bool = False
    """An HPA workload may get a KEDA ScaledObject that takes its HPA over."""
    timezone: str = "UTC"
    lead_minutes: float = 15
    risk_percent: float = 5
    min_weeks: float = 3


@dataclass(frozen=True)
class Guardrails:
    """The rules in force for one workload, after every layer and selector."""

    min_history_days: float = 7
    max_data_age_days: float = 2
    min_confidence: str = "low"
    min_change_percent: float = 5
    min_monthly_saving: float = 1.0
    min_pr_monthly_saving: float = 0.0
    max_decrease_percent: float = 30
    max_increase_percent: float = 100
    cooldown_days: float = 0
    performance_guard: str = "off"
    verify: VerifyRules = VerifyRules()
    prescale: PrescaleRules = PrescaleRules()
    bounds: tuple[tuple[str, float | None, float | None], ...] = ()
    freeze: tuple[FreezeWindow, ...] = ()
    conditions: tuple[Condition, ...] = ()
    pinned: tuple[str, ...] = ()
    """Fields a `<prefix>pin.<field>` annotation keeps as they are."""
    cost_ceiling_hourly: float | None = None
    """`<prefix>cost-threshold-usd-hr`: no change may push the workload's cost above it."""
