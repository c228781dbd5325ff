"""Policy as code: layered documents and annotations decide what the bot may change."""

from bot.policy.decide import SCALE_POINT, Context, decide
from bot.policy.load import Policy, WorkloadPolicy, load_policy
from bot.policy.rules import Decision, Guardrails, RuleHit

__all__ = [
    "SCALE_POINT",
    "Context",
    "Decision",
    "Guardrails",
    "Policy",
    "RuleHit",
    "WorkloadPolicy",
    "decide",
    "load_policy",
]
