"""What the forge tests share: a small infrastructure repo and usage exports to vary.

Two of the example's six applications (catalog and checkout, in dev, staging and prod) keep
a run to a few seconds while every behaviour still has three PR groups to act on.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

from tests.conftest import COST, MONOREPO, UTILISATION, git, make_repo, rightsizer
from tests.forge_servers.github import GitHubServer

KEPT = ("catalog", "checkout")
SOURCES = "\nsources:\n  utilisation: [exports/utilisation.csv]\n  cost: [exports/cost.csv]\n"
DROPPED = ("frontend", "payments", "recommendations", "search")


def small_monorepo(destination: Path) -> Path:
    """A git repo on `main` with the example's catalog and checkout only."""
    scratch = destination.parent / f"{destination.name}-source"
    shutil.copytree(MONOREPO, scratch)
    for app in DROPPED:
        shutil.rmtree(scratch / "applications" / app)
        for path in (scratch / "argocd" / "applications").glob(f"{app}-*.yaml"):
            path.unlink()
    repo = make_repo(scratch, destination)
    shutil.rmtree(scratch)
    return repo


def served_monorepo(destination: Path) -> Path:
    """`small_monorepo` with its exports and `sources:` committed, as the service reads it."""
    repo = small_monorepo(destination)
    (repo / "exports").mkdir()
    usage(repo / "exports" / "utilisation.csv")
    (repo / "exports" / "cost.csv").write_bytes(COST.read_bytes())
    with (repo / ".rightsizer.yaml").open("a") as config:
        config.write(SOURCES)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "Exports")
    return repo


def usage(destination: Path, scale: dict[tuple[str, str, str], float] | None = None) -> Path:
    """The example's utilisation for the kept applications, with the (environment, workload,
    metric) series in `scale` multiplied: a workload that now uses more (or less)."""
    scale = scale or {}
    with UTILISATION.open(newline="") as source, destination.open("w", newline="") as target:
        rows = csv.DictReader(source)
        assert rows.fieldnames is not None
        writer = csv.DictWriter(target, rows.fieldnames, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            if row["workload"] not in KEPT:
                continue
            factor = scale.get((row["environment"], row["workload"], row["metric"]))
            if factor is not None:
                row["value"] = repr(float(row["value"]) * factor)
            writer.writerow(row)
    return destination


def run_local(repo: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`rightsizer run` on a checkout with the local forge, the example's usage for the kept
    applications and its cost, PRs written under `tmp_path / "prs"`."""
    return rightsizer(
        "run", "--repo", repo, "--utilisation", usage(tmp_path / "u.csv"), "--cost", COST,
        "--pr-dir", tmp_path / "prs",
    )  # fmt: skip


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    """The output of a CLI run that must have worked, and failed as a user sees it."""
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    return result.stdout


def pulls_by_branch(server: GitHubServer, owner: str, name: str) -> dict[str, list[dict]]:
    """Every PR on the GitHub test server, by the branch it comes from, oldest first."""
    found: dict[str, list[dict]] = {}
    for pull in server.pulls(owner, name):
        found.setdefault(pull["head"]["ref"], []).append(pull)
    return found
