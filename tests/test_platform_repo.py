"""A repo that mixes every way a workload reaches a cluster (fixtures/platform-repo): a chart
with a values file per environment, an Argo CD Helm Application with a values object, a Flux
HelmRelease patched per environment, an Argo Rollout, and a plain directory nothing deploys.
Inventory finds them all, edits land where a human would make them, and `run --forge local`
opens PRs whose diffs touch only those places."""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bot.manifests.model import RESOURCE_FIELDS
from bot.proof import inspect
from bot.setter import Assignment, apply, edits_for
from recommenders.errors import InputError
from tests.conftest import FIXTURES, git, make_repo, rightsizer

pytestmark = pytest.mark.slow
PLATFORM = FIXTURES / "platform-repo"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(PLATFORM, tmp_path / "platform")


def test_every_way_of_deploying_is_inventoried_with_its_values_file_and_line(repo):
    inventory = inspect(repo)
    assert inventory.problems == []
    found = {(w.environment, w.environment_id, w.ref) for w in inventory.workloads}
    assert found == {
        ("prod", "charts/web#charts/web/values-prod.yaml", "Deployment/web"),
        ("staging", "charts/web#charts/web/values-staging.yaml", "Deployment/web"),
        ("prod", "argocd#argocd/api-prod.yaml", "Deployment/api"),
        ("prod", "apps/worker/prod", "StatefulSet/worker"),
        ("staging", "apps/worker/staging", "StatefulSet/worker"),
        ("prod", "apps/checkout/prod", "Rollout/checkout"),
        ("cron", "legacy/cron", "CronJob/cleanup"),
    }
    assert all(w.unverified is None for w in inventory.workloads)
    by_id = {(w.environment_id, w.name): w for w in inventory.workloads}
    web = by_id[("charts/web#charts/web/values-prod.yaml", "web")]
    assert str(web.container("web").resources["requests.cpu"].origin) == (
        "charts/web/values-prod.yaml:5"
    )
    assert web.container("proxy").resources["requests.cpu"].origin is None  # chart default
    assert web.helm is not None
    assert web.helm.paths[("proxy", "requests.cpu")] == ("sidecar", "resources", "requests", "cpu")
    api = by_id[("argocd#argocd/api-prod.yaml", "api")]
    assert api.namespace == "api" and api.deployment and api.deployment.cluster == "eks-prod-eu1"
    assert str(api.container("api").resources["requests.cpu"].origin) == "argocd/api-prod.yaml:20"
    assert api.hpa is not None
    assert str(api.hpa.fields["hpa.maxReplicas"].origin) == "charts/api/values-prod.yaml:2"
    worker = by_id[("apps/worker/prod", "worker")]
    assert worker.namespace == "jobs"
    assert str(worker.container("worker").resources["requests.cpu"].origin) == (
        "apps/worker/prod/values.yaml:10"
    )


def _apply(repo: Path, environment_id: str, name: str, container: str | None, field: str, value):
    inventory = inspect(repo)
    workload = next(
        w for w in inventory.workloads if (w.environment_id, w.name) == (environment_id, name)
    )
    edits = edits_for(workload, container, [Assignment(field, value)])
    return [change.path for change in apply(repo, inventory, edits)]


@pytest.mark.parametrize(
    ("environment_id", "name", "container", "field", "value", "expected"),
    [
        # a value this environment's own values file sets is changed there
        ("charts/web#charts/web/values-prod.yaml", "web", "web", "requests.cpu", "400m",
         {"charts/web/values-prod.yaml": ["-    cpu: 800m   # launch sizing",
                                          "+    cpu: 400m   # launch sizing"]}),
        # a chart default is overridden in the environment's values file, not in values.yaml
        ("charts/web#charts/web/values-staging.yaml", "web", "proxy", "requests.cpu", "20m",
         {"charts/web/values-staging.yaml": ["+sidecar:", "+  resources:", "+    requests:",
                                             "+      cpu: 20m"]}),
        # an Application's values object outranks its value file: the edit goes there
        ("argocd#argocd/api-prod.yaml", "api", None, "limits.memory", "1Gi",
         {"argocd/api-prod.yaml": ["+            limits:", "+              memory: 1Gi"]}),
        # an autoscaler bound the Application's value file sets is changed in that file
        ("argocd#argocd/api-prod.yaml", "api", None, "hpa.maxReplicas", "8",
         {"charts/api/values-prod.yaml": ["-  maxReplicas: 12", "+  maxReplicas: 8"]}),
        # a HelmRelease's value is set in the environment's own patch of it
        ("apps/worker/staging", "worker", None, "requests.memory", "256Mi",
         {"apps/worker/staging/values.yaml": ["+    resources:", "+      requests:",
                                              "+        memory: 256Mi"]}),
        # a plain directory's CronJob gains the resources block it lacks
        ("legacy/cron", "cleanup", None, "requests.cpu", "100m",
         {"legacy/cron/cleanup.yaml": ["+            resources:", "+              requests:",
                                       "+                cpu: 100m"]}),
    ],
)  # fmt: skip
def test_an_edit_lands_where_a_human_would_make_it(
    repo, environment_id, name, container, field, value, expected
):
    changed = _apply(repo, environment_id, name, container, field, value)
    assert sorted(changed) == sorted(expected)
    for path, lines in expected.items():
        diff = git(repo, "diff", "-U0", "--", path).splitlines()
        assert [x for x in diff if x[:1] in "+-" and x[:3] not in ("+++", "---")] == lines


def test_a_field_the_chart_hard_codes_is_refused_by_name(repo):
    with pytest.raises(InputError, match="no values key of charts/worker sets replicas"):
        _apply(repo, "apps/worker/prod", "worker", None, "replicas", "2")
    assert git(repo, "status", "--porcelain") == ""


def test_twenty_five_random_edits_each_change_only_their_field(repo):
    """As the issue judges unseen repos: random fields, random values, every one proven by an
    independent render (the proof), or refused by name without writing anything."""
    rng = random.Random(14)
    inventory = inspect(repo)
    done = 0
    for _ in range(25):
        workload = rng.choice(inventory.workloads)
        container = rng.choice(workload.containers).name
        field = rng.choice(RESOURCE_FIELDS)
        value = (
            f"{rng.randint(5, 90) * 10}m"
            if field.endswith("cpu")
            else f"{rng.randint(1, 40) * 64}Mi"
        )
        try:
            _apply(repo, workload.environment_id, workload.name, container, field, value)
        except InputError as exc:
            pytest.fail(f"{workload.environment_id} {workload.ref} {field}: {exc}")
        done += 1
        git(repo, "checkout", "--quiet", ".")
        git(repo, "clean", "--quiet", "-fd")
    assert done == 25


AS_OF = "2026-11-15T06:00:00Z"
"""The morning after the fourteen days of `_usage` end."""

WORKLOADS = [
    # environment, namespace, kind, name, {container: (cpu cores, memory MiB)}
    ("prod", "default", "Deployment", "web", {"web": (0.15, 300), "proxy": (0.01, 30)}),
    ("staging", "default", "Deployment", "web", {"web": (0.05, 120), "proxy": (0.01, 30)}),
    ("prod", "api", "Deployment", "api", {"api": (0.12, 200)}),
    ("prod", "jobs", "StatefulSet", "worker", {"worker": (0.3, 90)}),
    ("prod", "shop", "Rollout", "checkout", {"checkout": (0.25, 400)}),
    ("cron", "ops", "CronJob", "cleanup", {"cleanup": (0.05, 40)}),
]


def _usage(path: Path) -> Path:
    """Fourteen days of hourly usage, quiet against every request: every workload shrinks."""
    rng = np.random.default_rng(7)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["timestamp", "environment", "namespace", "kind", "workload", "container",
                      "metric", "value"])  # fmt: skip
        for environment, namespace, kind, name, containers in WORKLOADS:
            for hour in range(14 * 24):
                stamp = (start + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")
                base = [stamp, environment, namespace, kind, name]
                for container, (cpu, memory) in containers.items():
                    wave = 1 + 0.3 * np.sin(hour / 24 * 2 * np.pi)
                    out.writerow(
                        [
                            *base,
                            container,
                            "cpu_cores",
                            round(cpu * wave * rng.uniform(0.9, 1.1), 4),
                        ]
                    )
                    out.writerow(
                        [
                            *base,
                            container,
                            "memory_bytes",
                            int(memory * 2**20 * rng.uniform(0.97, 1.03)),
                        ]
                    )
    return path


def test_run_opens_prs_whose_diffs_touch_only_each_environments_own_values(repo, tmp_path):
    usage = _usage(tmp_path / "usage.csv")
    result = rightsizer(
        "run", "--repo", repo, "--utilisation", usage, "--forge", "local", "--as-of", AS_OF,
        "--pr-dir", tmp_path / "prs",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    branches = git(repo, "branch", "--format=%(refname:short)").split()
    assert "rightsizer/prod" in branches
    touched = set()
    for branch in branches:
        if branch != "main":
            touched |= set(git(repo, "diff", "--name-only", "main", branch).split())
    assert "charts/web/values-prod.yaml" in touched  # a values-file edit
    assert "apps/worker/prod/values.yaml" in touched  # a HelmRelease's own patch
    assert touched <= {
        "charts/web/values-prod.yaml", "charts/web/values-staging.yaml", "argocd/api-prod.yaml",
        "charts/api/values-prod.yaml", "apps/worker/prod/values.yaml",
        "apps/checkout/base/rollout.yaml", "legacy/cron/cleanup.yaml",
    }  # fmt: skip
    assert "charts/web/values.yaml" not in touched  # the chart's defaults are shared
    # the CronJob that sets no resources gains requests sized from its usage, and no limits
    added = git(repo, "diff", "-U0", "main", "rightsizer/cron", "--", "legacy/cron/cleanup.yaml")
    lines = [x for x in added.splitlines() if x[:1] in "+-" and x[:3] not in ("+++", "---")]
    assert lines[:2] == ["+            resources:", "+              requests:"]
    assert [x.split(":")[0] for x in lines[2:]] == [
        "+" + " " * 16 + "cpu",
        "+" + " " * 16 + "memory",
    ]
    assert lines[2].endswith("m") and lines[3].endswith("Mi")
    cron = (tmp_path / "prs" / "cron.md").read_text()
    assert "| `cleanup` | requests.cpu | `unset` → `" in cron
    assert "requests.cpu is unset (nothing is reserved)" in cron
