"""Policy as code: layered documents and annotations state the rules for each workload;
`bot.decisions` applies them."""

from bot.policy.load import Policy, WorkloadPolicy, load_policy
from bot.policy.rules import Guardrails

__all__ = ["Guardrails", "Policy", "WorkloadPolicy", "load_policy"]
