"""Pre-scaling end to end through `rightsizer run --forge local`: a KEDA-scaled workload
whose demand peaks on weekday mornings in Berlin gets a PR of its own with cron triggers at
Berlin times across the change from summer time; a rerun changes nothing, and the policy
keeps it off elsewhere."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import git, rightsizer, write_tree

pytestmark = pytest.mark.slow
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: web
          resources:
            requests:
              cpu: 500m
              memory: 256Mi
"""
SCALED_OBJECT = """\
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: web
  namespace: shop
spec:
  scaleTargetRef:
    name: web
  minReplicaCount: 2
  maxReplicaCount: 12
  triggers:
    # Scale on CPU: 60 % of the request.
    - type: cpu
      metricType: Utilization
      metadata:
        value: "60"
"""
POLICY = """\
prescale:
  enabled: true
  timezone: Europe/Berlin
  lead_minutes: 15
"""
AS_OF = "2026-11-09T06:00:00Z"


def _repo(tmp_path: Path, policy: str = POLICY) -> Path:
    files = {"deploy/web.yaml": DEPLOYMENT, "deploy/scaledobject.yaml": SCALED_OBJECT}
    repo = write_tree(tmp_path / "repo", {**files, "policies/rightsizer.yaml": policy})
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "Initial")
    return repo


def _usage(path: Path, environment: str = "") -> Path:
    """Five weeks to the morning of 2026-11-09 across 25 October: 0.5 cores in all (2 pods
    at 0.3 cores each, 60 % of 500m), 2.3 cores (8 pods) on weekdays 09:00-12:00 Berlin."""
    hours = pd.date_range("2026-10-05", "2026-11-09T05:00", freq="h", tz="Europe/Berlin")
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["timestamp", "environment", "namespace", "kind", "workload", "container",
                      "metric", "value"])  # fmt: skip
        for local in hours:
            peak = local.day_of_week < 5 and 9 <= local.hour < 12
            demand = 2.3 if peak else 0.5
            replicas = math.ceil(demand / 0.3)
            stamp = local.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
            row = [stamp, environment, "shop", "Deployment", "web"]
            out.writerow([*row, "web", "cpu_cores", demand / replicas])
            out.writerow([*row, "web", "memory_bytes", 200 * 2**20])
            out.writerow([*row, "", "replicas", replicas])
    return path


def _run(repo: Path, usage: Path, pr_dir: Path) -> str:
    result = rightsizer(
        "run", "--repo", repo, "--utilisation", usage, "--forge", "local", "--pr-dir", pr_dir,
        "--as-of", AS_OF,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_weekday_peak_gets_keda_cron_triggers_at_berlin_times_in_a_pr_of_its_own(tmp_path):
    repo, pr_dir = _repo(tmp_path), tmp_path / "pull-requests"
    usage = _usage(tmp_path / "usage.csv")
    _run(repo, usage, pr_dir)
    body = (pr_dir / "prescale-deploy.md").read_text()
    assert "| `Deployment/web` in `shop` | Mon–Fri 08:45–12:00 (Europe/Berlin) | 8 |" in body
    assert "a weekly pattern" in body and body.count("```mermaid\nxychart-beta") == 2
    assert "bar [2,2,2,2,8,8,2,2,2,2,2,2]" in body  # the busiest day: 08h-12h at 8
    assert (
        'x-axis ["Mon 00h","Mon 12h","Tue 00h"' in body
        and "bar [8,2,8,2,8,2,8,2,8,2,2,2,2,2]" in body
    )
    written = git(repo, "show", "rightsizer/prescale-deploy:deploy/scaledobject.yaml")
    assert written.startswith(SCALED_OBJECT.rstrip("\n"))  # the team's trigger, comment kept
    triggers = yaml.safe_load(written)["spec"]["triggers"]
    assert triggers[1] == {
        "type": "cron",
        "name": "rightsizer-prescale-1",
        "metadata": {"timezone": "Europe/Berlin", "start": "45 8 * * 1-5",
                     "end": "0 12 * * 1-5", "desiredReplicas": "8"},
    }  # fmt: skip
    head = git(repo, "rev-parse", "rightsizer/prescale-deploy")
    _run(repo, usage, pr_dir)
    assert git(repo, "rev-parse", "rightsizer/prescale-deploy") == head
    assert (pr_dir / "prescale-deploy.md").read_text() == body

    # Merged, the triggers are in place: the next run has nothing more to propose.
    git(repo, "merge", "--quiet", "--ff-only", "rightsizer/prescale-deploy")
    _run(repo, usage, pr_dir)
    assert git(repo, "rev-parse", "rightsizer/prescale-deploy") == head

    # The policy turns it off: the bot proposes taking its own triggers away, the team's stay.
    (repo / "policies/rightsizer.yaml").write_text("prescale:\n  enabled: false\n")
    git(repo, "commit", "--quiet", "-am", "No pre-scaling")
    _run(repo, usage, pr_dir)
    body = (pr_dir / "prescale-deploy.md").read_text()
    assert body.startswith("# Pre-scale deploy: schedules removed")
    assert "pre-scaling is off in the policy" in body
    removed = git(repo, "show", "rightsizer/prescale-deploy:deploy/scaledobject.yaml")
    assert removed == SCALED_OBJECT.rstrip("\n")


def test_plan_says_which_schedule_run_would_propose(tmp_path):
    result = rightsizer(
        "plan", "--repo", _repo(tmp_path), "--utilisation", _usage(tmp_path / "usage.csv"),
        "--as-of", AS_OF,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        "pre-scaling: deploy/shop/Deployment/web: 8 replicas Mon–Fri 08:45–12:00 (Europe/Berlin)"
    ) in result.stderr


def test_without_the_policy_no_schedule_is_proposed(tmp_path):
    repo, pr_dir = _repo(tmp_path, policy="min_history_days: 7\n"), tmp_path / "pull-requests"
    _run(repo, _usage(tmp_path / "usage.csv"), pr_dir)
    assert not (pr_dir / "prescale-deploy.md").exists()


HPA = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
  namespace: shop
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
  minReplicas: 2
  maxReplicas: 12
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: 60
"""


HPA_PATCH = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
  namespace: shop
spec:
  minReplicas: 3
"""


def _kustomize_repo(tmp_path: Path, hpa: str = HPA) -> Path:
    """A base with the Deployment and its HPA, and a prod overlay that patches the HPA's
    minimum (as the bot's own rightsizing does)."""
    files = {
        "base/web.yaml": DEPLOYMENT,
        "base/hpa.yaml": hpa,
        "base/kustomization.yaml": "resources:\n  - web.yaml\n  - hpa.yaml\n",
        "overlays/prod/kustomization.yaml": (
            "resources:\n  - ../../base\npatches:\n  - path: hpa-min.yaml\n"
        ),
        "overlays/prod/hpa-min.yaml": HPA_PATCH,
        "policies/rightsizer.yaml": POLICY + "  create_keda: true\n",
    }
    repo = write_tree(tmp_path / "repo", files)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "Initial")
    return repo


def test_an_hpa_workload_gets_a_scaledobject_taking_it_over_where_the_policy_allows(tmp_path):
    repo = _kustomize_repo(tmp_path)
    usage, pr_dir = _usage(tmp_path / "usage.csv", environment="prod"), tmp_path / "prs"
    _run(repo, usage, pr_dir)
    body = (pr_dir / "prescale-prod.md").read_text()
    assert "a KEDA ScaledObject created in its overlay takes it over" in body
    branch = "rightsizer/prescale-prod"
    kustomization = git(repo, "show", f"{branch}:overlays/prod/kustomization.yaml")
    assert "- rightsizer-keda-web.yaml" in kustomization
    # The delete comes after the overlay's own patch of the HPA, which must find it first.
    assert kustomization.endswith(
        "  - path: hpa-min.yaml\n  - path: rightsizer-keda-web-delete-hpa.yaml"
    )
    scaler = yaml.safe_load(git(repo, "show", f"{branch}:overlays/prod/rightsizer-keda-web.yaml"))
    assert scaler["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["name"] == "web"
    assert (scaler["spec"]["minReplicaCount"], scaler["spec"]["maxReplicaCount"]) == (3, 12)
    cpu, cron = scaler["spec"]["triggers"]
    assert cpu == {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "60"}}
    assert (
        cron["metadata"]["start"] == "45 8 * * 1-5" and cron["metadata"]["desiredReplicas"] == "8"
    )
    head = git(repo, "rev-parse", branch)
    _run(repo, usage, pr_dir)
    assert git(repo, "rev-parse", branch) == head
    # Merged, the ScaledObject is the workload's: the next run finds its triggers as wanted.
    git(repo, "merge", "--quiet", "--ff-only", branch)
    _run(repo, usage, pr_dir)
    assert git(repo, "rev-parse", branch) == head


def test_an_hpa_with_more_than_a_cpu_target_is_not_taken_over(tmp_path):
    """What the ScaledObject carries over is the CPU target and the bounds: an HPA that
    also scales on memory would lose it, so it is left as it is, and the run says why."""
    memory = "    - type: Resource\n      resource:\n        name: memory\n"
    memory += "        target:\n          type: Utilization\n          averageUtilization: 80\n"
    repo = _kustomize_repo(tmp_path, HPA + memory)
    usage = _usage(tmp_path / "usage.csv", environment="prod")
    said = _run(repo, usage, tmp_path / "prs")
    assert not (tmp_path / "prs" / "prescale-prod.md").exists()
    assert "has an HPA with more than a CPU target" in said
    planned = rightsizer("plan", "--repo", repo, "--utilisation", usage, "--as-of", AS_OF)
    said = " ".join(planned.stderr.split())  # the terminal's width wraps the line
    assert "not written: the workload has an HPA with more than a CPU target" in said


def test_an_hpa_workload_without_leave_for_keda_gets_no_schedule_even_in_plan(tmp_path):
    repo = _kustomize_repo(tmp_path)
    (repo / "policies/rightsizer.yaml").write_text(POLICY)  # enabled, no create_keda
    git(repo, "commit", "--quiet", "-am", "Pre-scaling, but no KEDA takeover")
    usage = _usage(tmp_path / "usage.csv", environment="prod")
    planned = rightsizer("plan", "--repo", repo, "--utilisation", usage, "--as-of", AS_OF)
    assert planned.returncode == 0 and "pre-scaling:" not in planned.stderr


def test_a_workload_helm_renders_is_named_not_written(tmp_path):
    """Its ScaledObject comes from a chart's template, which the bot does not edit."""
    import dataclasses

    from bot.manifests.inventory import build_inventory
    from bot.manifests.schedules import schedule_problem

    repo = _repo(tmp_path)
    inventory = build_inventory(repo)
    (workload,) = inventory.workloads
    assert schedule_problem(inventory, workload, repo, takeover=False) is None
    charted = dataclasses.replace(workload, helm=object())
    assert schedule_problem(inventory, charted, repo, takeover=False) == (
        "is rendered by Helm: its autoscaler comes from a chart's template"
    )
