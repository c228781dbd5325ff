"""What the service needs to serve GitLab projects: `RIGHTSIZER_GITLAB_<FIELD>` (or the key
`gitlab_<field>` in the settings file), read and checked by `bot/service/settings.py` for
every forge the registry lists."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from bot.forges.options import ForgeOptions
from recommenders.errors import InputError

PROJECTS_VARIABLE = "RIGHTSIZER_GITLAB_PROJECTS"
_PROJECT = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+")


@dataclass(frozen=True)
class GitLabService:
    url: str = "https://gitlab.com"
    token: str | None = field(default=None, repr=False)
    webhook_token: str | None = field(default=None, repr=False)
    projects: str | None = field(default=None, repr=False)
    """The GitLab projects served, comma-separated paths, each optionally with a webhook token
    of its own (`group/app=token`). GitLab sends no installation events: a project is served
    only when listed, and one with its own token answers to that token only."""

    SECRETS: ClassVar[frozenset[str]] = frozenset({"token", "webhook_token", "projects"})
    PATHS: ClassVar[frozenset[str]] = frozenset()

    def served(self, where: str = PROJECTS_VARIABLE) -> dict[str, str | None]:
        """The projects listed, each with its own webhook token or None (the shared one);
        `where` names the setting in an error."""
        projects: dict[str, str | None] = {}
        for item in (self.projects or "").split(","):
            if not item.strip():
                continue
            path, has_token, token = (part.strip() for part in item.partition("="))
            if not _PROJECT.fullmatch(path) or (has_token and not token):
                shown = path if _PROJECT.fullmatch(path) else "an item"
                raise InputError(where, f"{shown} is not group/project or group/project=token")
            projects[path] = token or None
        return projects

    def check(self, name: Callable[[str], str]) -> None:
        self.served(name("projects"))

    def warnings(self, name: Callable[[str], str]) -> list[str]:
        return []

    def run_options(self, repository: str, installation_id: int | None) -> ForgeOptions:
        return ForgeOptions(
            forge="gitlab", repository=repository, gitlab_url=self.url, token=self.token
        )
