"""The whole flow from the CLI on the bundled example, as `make demo` runs it."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from bot.pr_metadata import read_metadata
from recommenders.forecasters import ForecastCache
from tests.conftest import COST, MONOREPO, UTILISATION, git, make_repo, rightsizer

pytestmark = pytest.mark.slow
BRANCHES = ["rightsizer/dev", "rightsizer/prod", "rightsizer/staging"]
GROUPS = [branch.split("/")[1] for branch in BRANCHES]
PLAN_KEYS = {
    "environment", "kind", "name", "namespace", "container", "field", "current", "proposed",
    "action", "reasons", "monthly_cost_delta", "file", "line",
}  # fmt: skip


def _run(repo: Path, pr_dir: Path, utilisation: Path = UTILISATION, *more: str):
    result = rightsizer(
        "run", "--repo", repo, "--utilisation", utilisation, "--cost", COST, "--pr-dir", pr_dir,
        *more,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


def _heads(repo: Path) -> dict[str, str]:
    return {branch: git(repo, "rev-parse", branch) for branch in ["main", *BRANCHES]}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    repo = make_repo(MONOREPO, root / "monorepo")
    main_before = git(repo, "rev-parse", "main")
    result = _run(repo, root / "pull-requests")
    return repo, root / "pull-requests", main_before, result


def test_one_branch_per_environment_with_one_bot_commit_each(first_run):
    repo, _, main_before, result = first_run
    assert git(repo, "rev-parse", "main") == main_before
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["main", *BRANCHES]
    assert git(repo, "status", "--porcelain") == ""
    for branch in BRANCHES:
        assert git(repo, "rev-list", "--count", f"main..{branch}") == "1"
        assert git(repo, "log", "-1", "--format=%an <%ae>", branch) == (
            "Rightsizer Bot <rightsizer-bot@acme.example>"
        )
        message = git(repo, "log", "-1", "--format=%B", branch)
        assert message.startswith(f"Rightsize {branch.split('/')[1]}: ")
        assert " -> " in message
    # Quiet by default: a line per PR, its title and where it is; no plan table, no PR text.
    lines = result.stdout.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        *(f"{branch}: branch created, PR created" for branch in BRANCHES),
        "Dashboard issue created.",
    ]
    assert lines[0].endswith("pull-requests/dev.md") and "Rightsize dev: " in lines[0]
    # The estimate the title leaves out, as the body leads with it.
    body = (first_run[1] / "dev.md").read_text()
    estimate = re.search(r"^## Rightsizing `dev`: (\S+) per month$", body, re.M).group(1)
    assert f", {estimate}/month): " in lines[0]


def test_pr_text_is_written_and_explains_each_change(first_run):
    _, pr_dir, _, _ = first_run
    assert sorted(p.name for p in pr_dir.iterdir()) == [
        "dashboard.issue.md",
        "dev.md",
        "prod.md",
        "staging.md",
    ]
    prod = (pr_dir / "prod.md").read_text()
    assert prod.startswith("# Rightsize prod: ")
    # The summary row first (a limit that follows its request beside it), then in the
    # workload's details the evidence and the reason.
    row = re.search(
        r"^\| `payments` \| requests\.cpu, limits\.cpu \| `250m` → `\d+m`, `500m` → `\d+m` \| "
        r"\+\$[\d.]+ \| apply \|$",
        prod,
        re.M,
    )
    details = prod.index("<details><summary>Deployment/payments in payments: +$")
    assert row is not None and row.start() < details
    assert re.search(
        r"^- \*\*cpu\*\*: observed p95 [\d.]+ cores, forecast mean [\d.]+ cores, risk target "
        r"\d+m; exceeded in 5% of the next 7.25 days by forecast$",
        prod[details:],
        re.M,
    )
    assert "xychart-beta\n" in prod[details:]
    metadata = read_metadata(prod)
    assert metadata is not None and metadata.group == "prod"
    assert prod.rstrip("\n").splitlines()[-1] == metadata.render()
    assert "Roll back by reverting the merge commit" in prod
    # The fixture's checkout burst on 11-14 ran at 12 replicas: demand the autoscaler served,
    # so it is sized for, never left out, and its replicas stay available.
    assert "left out of sizing: checkout" not in prod
    assert "12 replicas served demand on 11-14" in prod
    assert "**bounds.hpa.minReplicas.min**" in prod  # the rule that bounded a change is named
    # Read in a minute: the prod PR's five workloads, every row, reason, chart or flat-usage
    # line and rendered diff included, in under 8 KB (title and branch lines aside).
    bodies = {name: (pr_dir / f"{name}.md").read_text().split(" -->\n\n", 1)[1] for name in GROUPS}
    assert bodies["prod"].count("<details><summary>Deployment/") == 5
    assert bodies["prod"].count("```diff") == 5
    assert bodies["prod"].count("```mermaid") + bodies["prod"].count("Usage steady, no chart") == 5
    assert len(bodies["prod"].encode()) < 8_000
    dev = (pr_dir / "dev.md").read_text()
    assert "**annotation.ignore**" in dev and "**min-history**" in dev


def _value_of(line: str) -> tuple[str, str]:
    """A YAML line with its value cut out: `key: ` before it, and the comment after it."""
    match = re.match(r"^(\s*-?\s*[\w.\"'/-]+:\s*)([^#\s]+)(\s*(#.*)?)$", line)
    assert match, f"not a key: value line: {line!r}"
    return match.group(1), match.group(3)


HELM_VALUES = "charts/notifications/values-prod.yaml"
"""The one Helm-deployed application: its prod values file is edited like an overlay."""


def test_branch_diffs_touch_only_value_lines_and_overlay_patches(first_run):
    repo, _, _, _ = first_run
    touched = set()
    for branch in BRANCHES:
        environment = branch.split("/")[1]
        for row in git(repo, "diff", "--name-status", "main", branch).splitlines():
            status, path = row.split("\t")
            touched.add(path)
            allowed = f"/overlays/{environment}/" in path or (
                path == HELM_VALUES and environment == "prod"
            )
            assert allowed, f"{branch} touches {path}"
            if status == "A":
                assert Path(path).name.startswith("rightsizer-"), path
                continue
            before = git(repo, "show", f"main:{path}").splitlines()
            after = git(repo, "show", f"{branch}:{path}").splitlines()
            added = [line for line in after if line not in before]
            if len(before) == len(after):
                for old, new in zip(before, after, strict=True):
                    if old != new:
                        assert _value_of(old) == _value_of(new), (path, old, new)
            else:  # a kustomization gains its `patches:` entry and nothing else
                assert set(after) >= set(before), path
                assert all(re.match(r"^(patches:|\s*- path: rightsizer-)", a) for a in added)
    assert HELM_VALUES in touched  # the demo shows a values-file edit


def test_a_second_run_with_the_same_inputs_changes_nothing(first_run):
    repo, pr_dir, _, _ = first_run
    heads = _heads(repo)
    texts = {p.name: p.read_bytes() for p in pr_dir.iterdir()}
    result = _run(repo, pr_dir)
    assert _heads(repo) == heads
    assert {p.name: p.read_bytes() for p in pr_dir.iterdir()} == texts
    assert result.stdout == (
        "Nothing changed: every branch and PR is up to date "
        "(rightsizer/dev, rightsizer/prod, rightsizer/staging).\n"
    )
    # -v tells the whole story again: the plan, then each PR as it stands.
    verbose = _run(repo, pr_dir, UTILISATION, "-v").stdout
    assert _heads(repo) == heads
    assert "Rightsizer plan" in verbose and "Deployment/" in verbose
    assert verbose.count("branch unchanged, PR unchanged") == 3 and "Rightsize prod: " in verbose


def test_a_rerun_whose_values_stand_keeps_title_and_commit_in_agreement(first_run, tmp_path):
    """Prices 2 % up: every value stands, so no branch moves; the PR title and the commit
    subject still say the same (neither carries the estimate, which moved)."""
    repo, pr_dir, _, _ = first_run
    heads = _heads(repo)
    cost = pd.read_csv(COST, dtype=str, keep_default_na=False)
    for column in ("cpu_cost", "memory_cost", "total_cost"):
        cost[column] = (cost[column].astype(float) * 1.02).round(6)
    dearer = tmp_path / "cost.csv"
    cost.to_csv(dearer, index=False)
    rightsizer(
        "run", "--repo", repo, "--utilisation", UTILISATION, "--cost", dearer, "--pr-dir", pr_dir
    )  # fmt: skip
    assert _heads(repo) == heads
    for branch in BRANCHES:
        title = (pr_dir / f"{branch.split('/')[1]}.md").read_text().splitlines()[0]
        subject = git(repo, "log", "-1", "--format=%s", branch)
        assert title == f"# {subject}" and "$" not in subject


def test_changed_inputs_update_the_same_branches_in_place(first_run, tmp_path):
    repo, pr_dir, _, _ = first_run
    heads = _heads(repo)
    usage = pd.read_csv(UTILISATION, dtype=str, keep_default_na=False)
    busier = (usage["environment"] == "prod") & (usage["workload"] == "payments")
    busier &= usage["metric"] == "cpu_cores"
    values = usage["value"].astype(float)
    values[busier] *= 1.5
    usage["value"] = values.round(6)
    changed = tmp_path / "utilisation.csv"
    usage.to_csv(changed, index=False)
    result = _run(repo, pr_dir, changed)
    after = _heads(repo)
    assert after["main"] == heads["main"]
    assert after["rightsizer/prod"] != heads["rightsizer/prod"]
    assert after["rightsizer/dev"] == heads["rightsizer/dev"]
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["main", *BRANCHES]
    assert git(repo, "rev-list", "--count", "main..rightsizer/prod") == "1"
    assert "rightsizer/prod: branch updated, PR updated" in result.stdout


def test_plan_json_is_the_documented_contract(monorepo):
    result = rightsizer(
        "plan", "--repo", monorepo, "--utilisation", UTILISATION, "--cost", COST, "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows and all(set(row) >= PLAN_KEYS for row in rows)
    assert {row["action"] for row in rows} == {"apply", "clip", "skip"}
    for row in rows:
        line = (monorepo / row["file"]).read_text().splitlines()[row["line"] - 1]
        assert str(row["current"]) in line
        assert all({"rule", "text"} == set(reason) for reason in row["reasons"])
    payments = next(
        r for r in rows
        if (r["environment_name"], r["name"], r["field"]) == ("prod", "payments", "requests.cpu")
    )  # fmt: skip
    assert payments["action"] == "apply" and payments["monthly_cost_delta"] > 0
    assert payments["file"] == "applications/payments/base/deployment.yaml"
    assert payments["environment"] == "applications/payments/overlays/prod"


def test_a_forecast_cache_changes_no_decision_and_keeps_every_fit(tmp_path):
    repo = make_repo(MONOREPO, tmp_path / "monorepo")
    cache = tmp_path / "cache" / "forecasts.sqlite"
    plans = []
    for options in ([], ["--forecast-cache", cache], ["--forecast-cache", cache]):
        Path(f"{cache}.plans").unlink(missing_ok=True)  # plan again, from the cached fits
        result = rightsizer(
            "plan", "--repo", repo, "--utilisation", UTILISATION, "--cost", COST,
            "--format", "json", *options,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        plans.append(json.loads(result.stdout))
    assert plans[0] == plans[1] == plans[2]
    stored = ForecastCache.open(cache)
    # One fit per CPU and memory series the fixture's workloads have, and per HPA's demand;
    # every series warm-startable, one whose data equals another's (a one-replica HPA's
    # demand and its one container's CPU) from the fit the two share.
    assert len(stored.warm_starts) >= len(stored.forecasts) >= 10
    fits = {(f.model, tuple(sorted(f.params.items()))) for f in stored.forecasts.values()}
    starts = {(w.model, tuple(sorted(w.params.items()))) for w in stored.warm_starts.values()}
    assert starts <= fits
    kinds = {key.rsplit("/", 1)[1] for key in stored.warm_starts}
    assert kinds == {"cpu_cores", "memory_bytes", "demand"}


def test_stale_data_changes_nothing_and_says_so(monorepo):
    """The bundled export ends on 11-26; nine days later its forecast of "the next week" is
    mostly the past: every row is held, and the output says why."""
    result = rightsizer(
        "plan", "--repo", monorepo, "--utilisation", UTILISATION, "--cost", COST,
        "--format", "json", "--as-of", "2026-12-05T12:00:00Z",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows and {row["action"] for row in rows} == {"skip"}
    reasons = {reason["rule"] for row in rows for reason in row["reasons"]}
    assert "stale-data" in reasons
    [text] = {r["text"] for row in rows for r in row["reasons"] if r["rule"] == "stale-data"}
    assert text.startswith("usage ends 2026-11-27 00:00 UTC, 8.5 days before this run")
    table = rightsizer(
        "plan", "--repo", monorepo, "--utilisation", UTILISATION, "--cost", COST,
        "--as-of", "2026-12-05T12:00:00Z",
    )  # fmt: skip
    assert "stale data: usage ends 2026-11-27 00:00 UTC" in table.stdout


def test_the_jvm_is_never_sized_below_its_heap(monorepo):
    """Prod's checkout runs with `-Xmx2g` in JAVA_OPTS: its usage alone would give ~1.6Gi,
    but the heap grows to 2Gi whatever the history shows, and the JVM needs room beside it."""
    result = rightsizer(
        "plan", "--repo", monorepo, "--utilisation", UTILISATION, "--cost", COST,
        "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = {
        (row["container"], row["field"]): row
        for row in json.loads(result.stdout)
        if (row["environment_name"], row["name"]) == ("prod", "checkout")
    }
    request = rows[("checkout", "requests.memory")]
    assert request["proposed"] == "2.75Gi"  # 2Gi / 0.75, up to a quarter Gi
    assert "the JVM heap is capped at 2Gi (-Xmx2g)" in request["basis"]
    assert ("checkout", "limits.memory") not in rows  # 3Gi already holds it
