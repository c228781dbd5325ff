"""What the service needs to act as the GitHub App: `RIGHTSIZER_GITHUB_<FIELD>` (or the key
`github_<field>` in the settings file), read and checked by `bot/service/settings.py` for
every forge the registry lists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from bot.forges.options import ForgeOptions
from recommenders.errors import InputError


@dataclass(frozen=True)
class GitHubService:
    url: str = "https://api.github.com"
    app_id: str | None = None
    private_key: Path | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    write_interval: float = 1.0
    """Seconds between writes: GitHub's advice against its secondary rate limits."""

    SECRETS: ClassVar[frozenset[str]] = frozenset({"webhook_secret"})
    PATHS: ClassVar[frozenset[str]] = frozenset({"private_key"})

    def check(self, name: Callable[[str], str]) -> None:
        """An App needs its key and its webhook secret: unsigned deliveries are never taken."""
        if self.app_id and self.private_key is None:
            raise InputError(name("private_key"), "the App's private key file is needed")
        if self.private_key is not None and not self.private_key.is_file():
            raise InputError(name("private_key"), f"{self.private_key} is not a file")
        if self.app_id and not self.webhook_secret:
            raise InputError(
                name("webhook_secret"),
                "set it to the App's webhook secret: unsigned deliveries are never accepted",
            )
        if self.write_interval < 0:
            raise InputError(name("write_interval"), "must not be negative")

    def warnings(self, name: Callable[[str], str]) -> list[str]:
        """A private key that other users of the machine can read (as ssh refuses such a
        key, but the service has no second copy)."""
        key = self.private_key
        if key is not None and key.is_file() and key.stat().st_mode & 0o077:
            mode = f"{key.stat().st_mode & 0o777:o}"
            return [
                f"{name('private_key')}: {key} is readable by others (mode {mode}); chmod 600 it"
            ]
        return []

    def run_options(self, repository: str, installation_id: int | None) -> ForgeOptions:
        return ForgeOptions(
            forge="github",
            repository=repository,
            github_url=self.url,
            app_id=self.app_id,
            private_key=self.private_key,
            installation_id=installation_id,
            write_interval=self.write_interval,
        )
