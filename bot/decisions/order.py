"""`environment_order: [dev, staging, prod]`: a change reaches an environment only after
every earlier one has run with it.

Why it is a decision of its own: it looks across workloads (the same Deployment in dev and
prod), where the value rules look at one workload at a time.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from bot.decisions.model import RuleHit, skipped

if TYPE_CHECKING:
    from bot.planner import PlannedChange

RULE = "environment-order"


def in_environment_order(changes: list[PlannedChange], order: list[str]) -> list[PlannedChange]:
    """A change waits while an earlier environment still has the same change to make (same
    workload, container and field), so prod gets a value only after dev has run with it.
    Once dev's PR merges, its change leaves the plan and prod's goes ahead."""
    rank = {environment: i for i, environment in enumerate(order)}
    pending: dict[tuple[str, str, str | None, str], int] = {}
    for change in changes:
        if change.decision.action != "skip" and change.workload.environment in rank:
            same = _identity(change)
            pending[same] = min(pending.get(same, len(order)), rank[change.workload.environment])
    held = []
    for change in changes:
        first = pending.get(_identity(change))
        mine = rank.get(change.workload.environment)
        if change.decision.action == "skip" or first is None or mine is None or first >= mine:
            held.append(change)
            continue
        hit = RuleHit(RULE, f"waits for {order[first]} to get this change first")
        decision = skipped(change.decision.recommendation, *change.decision.rules, hit)
        held.append(replace(change, decision=decision))
    return held


def _identity(change: PlannedChange) -> tuple[str, str, str | None, str]:
    workload = change.workload
    return (
        workload.kind,
        workload.original_name or workload.name,
        change.decision.recommendation.container,
        change.field,
    )
