"""GitHub: the API client as an App installation or with a token (`forge.py`), and its
webhooks (`events.py`, `webhooks.py`)."""

from bot.forges.github.forge import (
    GitHubConversation,
    GitHubForge,
    GitHubSettings,
    connect,
)
from bot.forges.github.service import GitHubService
from bot.forges.github.webhooks import GitHubHooks
from bot.forges.kinds import ForgeKind, Hosted
from bot.forges.options import ForgeOptions


def settings(options: ForgeOptions, token: str | None) -> GitHubSettings:
    return GitHubSettings(
        options.repository or "",
        options.github_url,
        options.app_id,
        options.private_key,
        options.installation_id,
        token,
        options.write_interval,
    )


KIND = ForgeKind(
    "github", GitHubForge, Hosted(settings, connect, GitHubConversation), GitHubHooks, GitHubService
)

__all__ = ["KIND", "GitHubConversation", "GitHubForge", "GitHubHooks", "GitHubSettings"]
