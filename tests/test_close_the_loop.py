"""Verification after merge, end to end through `rightsizer run --forge local`: the bot cuts
a workload, a person merges the PR, the cluster's usage after the merge decides between a
revert PR and one "verified" comment, and a rerun on the same facts changes nothing."""

from __future__ import annotations

import csv
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import git, rightsizer, write_tree
from tests.test_failure_signals import DEPLOYMENT

pytestmark = pytest.mark.slow
START = datetime(2026, 11, 1, tzinfo=UTC)
MERGED = datetime(2026, 11, 15, 8, tzinfo=UTC)
POLICY = "min_monthly_saving: 0\n"
"""Every cut is worth a PR here: the test is about what follows the merge."""


def _repo(tmp_path: Path) -> Path:
    repo = write_tree(
        tmp_path / "repo",
        {"deploy/api.yaml": DEPLOYMENT, "policies/rightsizer.yaml": POLICY},
    )
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "Initial")
    return repo


def _usage(
    path: Path, days: float, oom_after_merge: bool = False, healed: datetime | None = None
) -> Path:
    """Quiet usage (0.1 core, 200 MiB) from 11-01 for `days`, in the wide format with an
    OOM kill column; with `oom_after_merge`, the container is OOM-killed every six hours
    from four hours after the merge until `healed`, if given."""
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["timestamp", "namespace", "kind", "workload", "container",
                      "cpu_cores", "memory_bytes", "oom_kills"])  # fmt: skip
        for hour in range(int(days * 24)):
            moment = START + timedelta(hours=hour)
            since = (moment - MERGED) / timedelta(hours=1)
            killed = oom_after_merge and since >= 4 and since % 6 == 4
            killed = killed and (healed is None or moment < healed)
            stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            out.writerow([stamp, "shop", "Deployment", "api", "api", 0.1, 200 * 2**20, int(killed)])
    return path


def _run(repo: Path, usage: Path, pr_dir: Path, as_of: datetime) -> str:
    result = rightsizer(
        "run", "--repo", repo, "--utilisation", usage, "--forge", "local", "--pr-dir", pr_dir,
        "--as-of", as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def _plan(repo: Path, usage: Path, as_of: datetime, said: list[str] | None = None) -> list[dict]:
    result = rightsizer(
        "plan", "--repo", repo, "--utilisation", usage, "--format", "json",
        "--as-of", as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    if said is not None:
        said.extend(result.stderr.splitlines())
    return json.loads(result.stdout)


def _merge(repo: Path, branch: str, when: datetime) -> None:
    """What a person's "Merge pull request" does, at `when`."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    os.environ["GIT_COMMITTER_DATE"] = stamp
    try:
        git(repo, "merge", "--no-ff", "--quiet", "-m", f"Merge {branch}", branch)
    finally:
        del os.environ["GIT_COMMITTER_DATE"]


def _state(repo: Path, pr_dir: Path) -> tuple[dict[str, str], str]:
    files = {p.name: p.read_text() for p in sorted(pr_dir.iterdir())}
    return files, git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads")


@pytest.fixture
def merged(tmp_path: Path) -> tuple[Path, Path, str]:
    return merged_first_pr(tmp_path)


def merged_first_pr(tmp_path: Path) -> tuple[Path, Path, str]:
    """The bot's first PR (cuts from 14 quiet days), merged by a person at MERGED: the
    repository, the PR directory and the bot's commit."""
    repo, pr_dir = _repo(tmp_path), tmp_path / "pull-requests"
    _run(repo, _usage(tmp_path / "before.csv", 14), pr_dir, MERGED - timedelta(hours=2))
    (pull,) = [p for p in pr_dir.glob("*.md") if not p.name.endswith(".issue.md")]
    assert "requests.memory" in pull.read_text()
    branch = f"rightsizer/{pull.stem}"
    sha = git(repo, "rev-parse", branch)
    _merge(repo, branch, MERGED)
    return repo, pr_dir, sha


def test_oom_kills_after_the_merge_give_one_revert_pr_with_evidence_and_a_cooldown(
    merged, tmp_path
):
    repo, pr_dir, sha = merged
    usage = _usage(tmp_path / "after.csv", 18.5, oom_after_merge=True)
    said = _run(repo, usage, pr_dir, MERGED + timedelta(days=3, hours=20))
    reverts = sorted(pr_dir.glob("revert-*.md"))
    assert [p.name for p in reverts] == [f"revert-{sha[:7]}.md"], said
    body = reverts[0].read_text()
    assert f"## Revert `{sha[:7]}`: regressed after merge" in body
    assert "| `Deployment/api` in `shop` | api requests.memory | `384Mi` → `512Mi` | +$0." in body
    assert "| api limits.memory | `768Mi` → `1Gi` | $0.00 |" in body
    assert "OOM killed 12 times (was 0)" in body
    assert "```mermaid\nxychart-beta" in body and "Bars: OOM kills per 12 h" in body
    assert "After it, at 11-15 12h, 11-15 18h" in body
    assert "cooldown (`cooldown_days`: 14)" in body
    # Only memory is restored: OOM kills say nothing about the CPU cut.
    assert "requests.cpu" not in body.partition("```diff")[2]
    message = git(repo, "log", "-1", "--format=%B", f"rightsizer/revert-{sha[:7]}")
    assert f"Rightsizer-Revert: {sha}" in message
    assert (
        "Rightsizer-Change: deploy/shop/Deployment/api api requests.memory 402653184 -> 5368"
        in (message)
    )
    board = (pr_dir / "dashboard.issue.md").read_text()
    assert (
        f"## Watched after merge\n\n- `deploy/shop/Deployment/api` (`{sha[:7]}`): regressed"
        in board
    )
    # The regular PR leaves the workload to the revert instead of racing it.
    said: list[str] = []
    plan = _plan(repo, usage, MERGED + timedelta(days=3, hours=20), said)
    assert {row["action"] for row in plan} == {"skip"}
    # `plan` previews what `run` does about it, beside its rows.
    assert (
        f"verify: deploy/shop/Deployment/api ({sha[:7]}): regressed after 3 days: OOM killed 12 "
        "times (was 0); a revert is due (unless a reviewer closed one)"
    ) in said
    assert plan[0]["reasons"][0]["rule"] == "verify"
    before = _state(repo, pr_dir)
    _run(repo, usage, pr_dir, MERGED + timedelta(days=3, hours=20))
    assert _state(repo, pr_dir) == before  # a rerun changes nothing

    # Once the revert is merged, the next run neither reverts again nor cuts memory again.
    _merge(repo, f"rightsizer/revert-{sha[:7]}", MERGED + timedelta(days=4))
    quiet = _usage(tmp_path / "later.csv", 19.5, True, healed=MERGED + timedelta(days=4))
    _run(repo, quiet, pr_dir, MERGED + timedelta(days=4, hours=20))
    assert [p.name for p in pr_dir.glob("revert-*.md")] == [f"revert-{sha[:7]}.md"]
    assert "memory: 512Mi" in (repo / "deploy/api.yaml").read_text()
    rows = {row["field"]: row for row in _plan(repo, quiet, MERGED + timedelta(days=4, hours=20))}
    memory = rows["requests.memory"]
    assert memory["action"] == "skip" and "cooldown" in [r["rule"] for r in memory["reasons"]]
    # And the workload is sized more carefully for a while, which its next PR says.
    assert (
        f"{sha[:7]}, merged 2026-11-15, was reverted after it regressed"
        in (pr_dir / "deploy.md").read_text()
    )


def test_healthy_usage_after_the_merge_gives_one_verified_comment_and_no_pr(merged, tmp_path):
    repo, pr_dir, sha = merged
    usage = _usage(tmp_path / "after.csv", 18.5)
    _run(repo, usage, pr_dir, MERGED + timedelta(days=3, hours=20))
    assert not list(pr_dir.glob("revert-*.md"))
    (comment,) = pr_dir.glob(f"*.verified-{sha[:7]}.comment.md")
    text = comment.read_text()
    assert f"**Verified after merge** (`{sha[:7]}`)" in text
    assert "`deploy/shop/Deployment/api`: verified after 3 days: no OOM kills" in text
    before = _state(repo, pr_dir)
    _run(repo, usage, pr_dir, MERGED + timedelta(days=3, hours=20))
    assert _state(repo, pr_dir) == before


def test_before_the_watch_ends_nothing_is_said(merged, tmp_path):
    repo, pr_dir, _ = merged
    usage = _usage(tmp_path / "after.csv", 16, oom_after_merge=True)
    _run(repo, usage, pr_dir, MERGED + timedelta(days=1, hours=20))
    assert not list(pr_dir.glob("revert-*.md"))
    assert not list(pr_dir.glob("*.comment.md"))


def test_after_a_squash_the_merged_pr_is_the_nearest_one_that_proposed_the_workload():
    """Reviewers merge several bot PRs in one sitting: a squash leaves no head to match."""
    from bot.decisions.verification import Verdict
    from bot.forges.base import PullRequest
    from bot.pr_metadata import ProposedValue, PullRequestMetadata
    from bot.reverts import merged_pull

    def pull(number: int, minutes: int, workload: str) -> PullRequest:
        proposed = ProposedValue(f"{workload} api requests.cpu", 1, 0.5)
        metadata = PullRequestMetadata("prod", (proposed,)).render()
        closed = MERGED + timedelta(minutes=minutes)
        return PullRequest(number, f"b{number}", "merged", "u", metadata, MERGED, closed)

    verdict = Verdict("prod/shop/Deployment/api", "squashed", MERGED, None, "", "healthy", (), ())
    others = [pull(1, 1, "prod/shop/Deployment/web"), pull(2, 9, "prod/shop/Deployment/api")]
    assert merged_pull([*others, pull(3, 30, "prod/shop/Deployment/api")], verdict) == others[1]
    assert merged_pull(others[:1], verdict) is None


def test_the_workloads_slo_query_is_read_for_a_merge_to_judge_and_can_condemn_it(tmp_path):
    """`rightsizer.dev/slo-query` on the Deployment: the plan asks the reader for it (the
    pipeline's reads the source's Prometheus) and judges the merge on it too."""
    from bot.config import load_config
    from bot.inputs import SourceRequest, read_inputs
    from bot.planner import make_plan
    from bot.policy import load_policy

    repo, _, sha = merged_first_pr(tmp_path)
    manifest = repo / "deploy/api.yaml"
    query = "histogram_quantile(0.99, sum by (le) (rate(http_seconds_bucket[5m])))"
    manifest.write_text(
        manifest.read_text().replace(
            "  namespace: shop\n",
            f"  namespace: shop\n  annotations:\n    rightsizer.dev/slo-query: '{query}'\n",
        )
    )
    git(repo, "commit", "--quiet", "-am", "Watch p99 latency")
    now = MERGED + timedelta(days=3, hours=20)
    hours = pd.date_range(START, now, freq="h")
    latency = pd.Series([0.5 if t >= MERGED + timedelta(hours=1) else 0.2 for t in hours], hours)
    asked = []

    def slo(text: str) -> pd.Series:
        asked.append(text)
        return latency

    inputs = read_inputs(SourceRequest((_usage(tmp_path / "after.csv", 18.5),), ()))
    config = load_config(repo)
    policy = load_policy(repo, None, config.annotation_prefix)
    plan = make_plan(repo, config, policy, inputs.table, inputs.prices, now=now, slo=slo)
    (verdict,) = plan.verdicts
    assert asked == [query] and verdict.sha == sha
    assert verdict.state == "regressed" and "SLO query 0.5 (was 0.2, +150 %)" in verdict.summary
