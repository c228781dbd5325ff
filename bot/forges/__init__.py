"""Forges behind one interface, chosen by name (`--forge`)."""

from bot.forges.base import Forge, Outcome, PullRequestDraft
from bot.forges.local import LocalForge

FORGES: dict[str, type] = {LocalForge.name: LocalForge}

__all__ = ["FORGES", "Forge", "LocalForge", "Outcome", "PullRequestDraft"]
