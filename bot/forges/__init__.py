"""Forges behind one interface, chosen by name (`--forge`): local, github, gitlab."""

from bot.forges.base import Forge, ForgeError, Outcome, PullRequest, PullRequestDraft

__all__ = ["Forge", "ForgeError", "Outcome", "PullRequest", "PullRequestDraft"]
