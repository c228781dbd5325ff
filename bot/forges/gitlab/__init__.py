"""GitLab, gitlab.com or self-hosted: the API client with a project, group or personal
token (`forge.py`), and its webhooks (`events.py`, `webhooks.py`)."""

from bot.forges.gitlab.forge import (
    GitLabConversation,
    GitLabForge,
    GitLabSettings,
    connect,
)
from bot.forges.gitlab.service import GitLabService
from bot.forges.gitlab.webhooks import GitLabHooks
from bot.forges.kinds import ForgeKind, Hosted
from bot.forges.options import ForgeOptions


def settings(options: ForgeOptions, token: str | None) -> GitLabSettings:
    return GitLabSettings(options.repository or "", options.gitlab_url, token)


KIND = ForgeKind(
    "gitlab", GitLabForge, Hosted(settings, connect, GitLabConversation), GitLabHooks, GitLabService
)

__all__ = ["KIND", "GitLabConversation", "GitLabForge", "GitLabHooks", "GitLabSettings"]
