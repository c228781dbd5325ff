"""Policy through the real command line on the example repository: check, freeze, per-PR
saving, environment order, the cooldown over real git history, and a malformed document
stopping the run before anything is written."""

import json
from pathlib import Path

import pytest

from tests.conftest import COST, MONOREPO, UTILISATION, git, make_repo, rightsizer

pytestmark = pytest.mark.slow
POLICY = "policies/rightsizer.yaml"


def _repo(tmp_path: Path, extra_policy: str = "") -> Path:
    repo = make_repo(MONOREPO, tmp_path / "monorepo")
    if extra_policy:
        with (repo / POLICY).open("a") as handle:
            handle.write("\n" + extra_policy)
        git(repo, "commit", "--quiet", "-am", "Policy change")
    return repo


def _plan(repo: Path) -> list[dict]:
    result = rightsizer(
        "plan", "--repo", repo, "--utilisation", UTILISATION, "--cost", COST, "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _run(repo: Path, tmp_path: Path):
    return rightsizer(
        "run", "--repo", repo, "--utilisation", UTILISATION, "--cost", COST,
        "--pr-dir", tmp_path / "prs",
    )  # fmt: skip


def _branches(repo: Path) -> list[str]:
    return git(repo, "branch", "--format=%(refname:short)").split()


def test_policy_check_reports_the_annotation_conflict_and_explains_a_workload(tmp_path):
    repo = _repo(tmp_path)
    result = rightsizer(
        "policy", "check", "--repo", repo, "--workload", "Deployment/checkout",
        "--environment", "prod",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "conflict strategy.cpu_risk" in result.stdout
    assert "example.com/finops-strategy" in result.stdout
    said = " ".join(result.stdout.split())
    assert "0.05 kept, the more conservative" in said
    # numbers as their authors wrote them, not as they are held (14.0, 67108864.0 bytes)
    assert "cooldown_days: 14 at rightsizer policies/default.yaml" in said
    assert "14.0" not in said and ".0 " not in said
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.stdout.splitlines()
        if line.startswith("│") and line.split("│")[1].strip()
    }
    assert rows["bounds.requests.memory.min"] == "64Mi"
    assert rows["bounds.requests.memory.max"] == "16Gi"
    assert rows["bounds.requests.cpu.min"] == "25m"
    assert rows["bounds.requests.cpu.max"] == "8"
    assert "policies/rightsizer.yaml:21" in result.stdout  # prod's hpa.minReplicas floor
    assert "prediction model: default {'memory_margin': 0.2}" in result.stdout


def test_policy_check_names_an_unknown_annotation_value_and_fails(tmp_path):
    repo = _repo(tmp_path)
    hpa = repo / "applications/checkout/base/hpa.yaml"
    hpa.write_text(
        hpa.read_text().replace("scaling-sensitivity: medium", "scaling-sensitivity: twitchy")
    )
    result = rightsizer("policy", "check", "--repo", repo)
    assert result.returncode == 1
    assert (
        "applications/checkout/base/hpa.yaml:13 (HorizontalPodAutoscaler/checkout) annotation "
        "example.com/scaling-sensitivity: 'twitchy' is not a scaling-sensitivity"
    ) in " ".join(result.stdout.split())


def test_a_malformed_policy_stops_the_run_before_anything_is_written(tmp_path):
    lines = len((MONOREPO / POLICY).read_text().splitlines())
    repo = _repo(tmp_path, "overrides:\n  - match: {namespace: shop}\n    max_step: {down: 10}\n")
    result = _run(repo, tmp_path)
    assert result.returncode == 2
    where = f"policies/rightsizer.yaml:{lines + 4}"
    assert f"{where}: unknown key 'overrides.0.max_step.down'" in result.stderr
    assert "Traceback" not in result.stderr
    assert _branches(repo) == ["main"] and not (tmp_path / "prs").exists()


def test_a_freeze_window_in_another_time_zone_holds_every_pull_request(tmp_path):
    repo = _repo(
        tmp_path,
        "freeze:\n"
        '  - {from: "2020-01-01", to: "2099-01-01", timezone: Asia/Tokyo, reason: "year-end"}\n',
    )
    result = _run(repo, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "branch held, PR not opened" in result.stdout
    assert "freeze" in result.stdout and "Asia/Tokyo" in result.stdout
    assert _branches(repo) == ["main"]


def test_a_pull_request_saving_too_little_is_held_unless_it_adds_resources(tmp_path):
    # Without payments and checkout (whose CPU or memory goes up everywhere), dev and
    # staging only save.
    policy = "min_pr_monthly_saving: 100000\nexclude: {namespaces: [payments, checkout]}\n"
    repo = _repo(tmp_path, policy)
    result = _run(repo, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "min-pr-saving" in result.stdout
    # prod's PR raises search's minReplicas to its floor: it fixes a risk, so it is
    # opened whatever it saves.
    assert _branches(repo) == ["main", "rightsizer/prod"]


def test_environment_order_makes_prod_wait_for_dev(tmp_path):
    rows = _plan(_repo(tmp_path, "environment_order: [dev, staging, prod]\n"))
    waiting = [r for r in rows if any(h["rule"] == "environment-order" for h in r["reasons"])]
    assert waiting, "no change waited for an earlier environment"
    assert all(r["environment_name"] != "dev" and r["action"] == "skip" for r in waiting)
    assert any("waits for dev" in h["text"] for r in waiting for h in r["reasons"])


def test_the_cooldown_reads_the_bots_merged_changes_from_git_history(tmp_path):
    repo = _repo(tmp_path)
    before = {
        (r["environment_name"], r["name"], r["field"]): r
        for r in _plan(repo)
        if r["action"] != "skip"
    }
    payments = before[("prod", "payments", "requests.cpu")]
    assert float(payments["proposed"].removesuffix("m")) > 250  # the plan raises it
    # A bot change that lowered the same field three days ago, merged to main.
    (repo / "NOTES.md").write_text("rightsized\n")
    git(repo, "add", "NOTES.md")
    message = (
        "Rightsize prod: 1 change\n\n"
        "Rightsizer-Change: prod/payments/Deployment/payments payments requests.cpu 0.5 -> 0.25\n"
    )
    git(repo, "commit", "--quiet", "-m", message, "--date", "3 days ago")
    after = {(r["environment_name"], r["name"], r["field"]): r for r in _plan(repo)}
    held = after[("prod", "payments", "requests.cpu")]
    assert held["action"] == "skip"
    assert [h["rule"] for h in held["reasons"]][-1] == "cooldown"
    assert "no reversal within 14 days" in held["reasons"][-1]["text"]


def test_a_freeze_set_for_one_namespace_holds_only_the_pull_requests_that_touch_it(tmp_path):
    # catalog changes only in staging and prod (see the demo plan); dev's PR goes ahead.
    repo = _repo(
        tmp_path,
        "overrides:\n"
        "  - match: {namespace: catalog}\n"
        "    freeze:\n"
        "      - {cron: '0 0 * * *', duration: 24h, timezone: America/New_York}\n",
    )
    result = _run(repo, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "freeze" in result.stdout and "America/New_York" in result.stdout
    assert _branches(repo) == ["main", "rightsizer/dev"]


def test_policy_in_the_repo_config_is_read_beside_the_policy_file(tmp_path):
    repo = _repo(tmp_path)
    with (repo / ".rightsizer.yaml").open("a") as handle:
        handle.write("\npolicy:\n  exclude: {namespaces: [catalog]}\n")
    git(repo, "commit", "--quiet", "-am", "Leave catalog alone")
    rows = _plan(repo)
    assert {r["name"] for r in rows if r["environment_name"] == "prod"} and not any(
        r["namespace"] == "catalog" and r["action"] != "skip" for r in rows
    )
