"""What a run is told about its forge: the CLI's flags or the service's settings, one
record for every forge (each reads the fields that are its own)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ForgeOptions:
    forge: str
    repo: Path | None = None
    pr_dir: Path = Path("pull-requests")
    repository: str | None = None
    github_url: str = "https://api.github.com"
    gitlab_url: str = "https://gitlab.com"
    app_id: str | None = None
    private_key: Path | None = None
    installation_id: int | None = None
    token: str | None = None
    write_interval: float = 1.0
