"""Shared test helpers: real git repositories made from the fixtures, and the real CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.postgres_server import database, postgres_server  # noqa: F401  (fixtures for every module)

if TYPE_CHECKING:
    from bot.planner import Plan

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
MONOREPO = FIXTURES / "monorepo"
UTILISATION = FIXTURES / "exports" / "utilisation.csv"
COST = FIXTURES / "exports" / "cost.csv"
EXPORTS_AS_OF = "2026-11-27T06:00:00Z"
"""The morning after the bundled export ends: runs over it replay that moment, as `make
demo` does, so that the data is fresh however late the tests run."""

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Acme Platform Team",
    "GIT_AUTHOR_EMAIL": "platform@acme.example",
    "GIT_COMMITTER_NAME": "Acme Platform Team",
    "GIT_COMMITTER_EMAIL": "platform@acme.example",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def make_repo(source: Path, destination: Path) -> Path:
    """A git repository on `main` holding a copy of `source`, committed by a human."""
    shutil.copytree(source, destination)
    git(destination, "init", "--quiet", "--initial-branch=main")
    git(destination, "add", "--all")
    git(destination, "commit", "--quiet", "-m", "Initial infrastructure")
    return destination


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """A small repo on disk from {relative path: text or bytes}."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: {name}
        resources:
          requests:
            cpu: 100m
"""


@pytest.fixture
def monorepo(tmp_path: Path) -> Path:
    return make_repo(MONOREPO, tmp_path / "monorepo")


def demo_plan(repo: Path) -> Plan:
    """The plan `make demo` makes of a copy of the fixture repository, as of the export."""
    from bot.config import load_config
    from bot.inputs import SourceRequest, read_inputs
    from bot.planner import make_plan
    from bot.policy.load import load_policy
    from recommenders.forecasters import ForecastCache

    config = load_config(repo)
    policy = load_policy(repo, None, config.annotation_prefix)
    inputs = read_inputs(SourceRequest((UTILISATION,), (COST,), None, None, None))
    now = datetime.fromisoformat(EXPORTS_AS_OF)
    return make_plan(repo, config, policy, inputs.table, inputs.prices, ForecastCache(), now)


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Plan]:
    """A copy of the fixture repository and its demo plan, shared by a module's tests."""
    repo = make_repo(MONOREPO, tmp_path_factory.mktemp("planned") / "monorepo")
    return repo, demo_plan(repo)


def rightsizer(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command line, in a subprocess, as a user runs it, as of the bundled export
    (`--as-of` overrides it)."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *map(str, args)],
        cwd=cwd or ROOT,
        env={
            **os.environ,
            **GIT_ENV,
            "COLUMNS": "200",
            "RIGHTSIZER_AS_OF": EXPORTS_AS_OF,
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The `long` tests first: pytest-xdist hands tests out in this order, and the suite's
    longest test started last would run alone on one core for minutes after the rest."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
