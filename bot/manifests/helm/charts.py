"""Finding a release's chart on disk: in the repo, or in a chart cache. Never on the network.

A chart from a Helm repository or an OCI registry is used only when its exact version is
vendored or cached (`<cache>/<name>-<version>.tgz`, or `<cache>/<name>/<version>/` holding
its Chart.yaml); the service may fill that cache with a pull where it has network. A range
or a missing version could mean any chart, so it is reported, not guessed.
"""

from __future__ import annotations

import os
from pathlib import Path

from bot.manifests.yamlio import resolve_inside
from recommenders.errors import InputError

CACHE_VARIABLE = "RIGHTSIZER_CHART_CACHE"


class ChartUnavailable(InputError):
    """The chart is neither in the repo nor in the cache."""

    def __init__(self, where: str, ref: str) -> None:
        super().__init__(where, f"chart not available locally: {ref}")


def chart_cache() -> Path | None:
    configured = os.environ.get(CACHE_VARIABLE)
    return Path(configured) if configured else None


def in_repo(repo: Path, directory: str) -> Path | None:
    """A chart directory or `.tgz` inside the repo (a symlink out of it is refused)."""
    path = resolve_inside(repo, directory)
    if (path / "Chart.yaml").is_file() or (path.is_file() and path.suffix == ".tgz"):
        return path
    return None


def cached(name: str, version: str | None, cache: Path | None) -> Path | None:
    if cache is None or not version or not _exact(version):
        return None
    for candidate in (cache / f"{name}-{version}.tgz", cache / name / version):
        if candidate.is_file() or (candidate / "Chart.yaml").is_file():
            return candidate
    return None


def _exact(version: str) -> bool:
    return not any(mark in version for mark in "<>=~^*| x")
