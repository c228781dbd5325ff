"""Failure signals in the usage (OOM kills, restarts, CPU throttling) overrule what usage
alone would say: an OOM-killed container's memory never shrinks and grows at once, a
throttled container keeps its CPU limit, and the plan names each signal with its time."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import git, rightsizer, write_tree

pytestmark = pytest.mark.slow
START = datetime(2026, 11, 1, tzinfo=UTC)
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: api
          resources:
            requests: {cpu: 500m, memory: 512Mi}
            limits: {cpu: "1", memory: 1Gi}
"""


def _repo(tmp_path: Path) -> Path:
    repo = write_tree(tmp_path / "repo", {"deploy/api.yaml": DEPLOYMENT})
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "Initial")
    return repo


def _usage(path: Path, signals: dict[str, dict[int, float]]) -> Path:
    """Fourteen quiet days (usage far below every request), then the signals at their
    hours: `{"oom_kills": {300: 1}}`, in the wide format with optional signal columns."""
    names = sorted(signals)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["timestamp", "namespace", "kind", "workload", "container",
                      "cpu_cores", "memory_bytes", *names])  # fmt: skip
        for hour in range(14 * 24):
            stamp = (START + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")
            row = [stamp, "shop", "Deployment", "api", "api", 0.1, 200 * 2**20]
            out.writerow(row + [signals[name].get(hour, 0) for name in names])
    return path


def _plan(tmp_path: Path, signals: dict[str, dict[int, float]]) -> dict[str, dict]:
    usage = _usage(tmp_path / "usage.csv", signals)
    result = rightsizer(
        "plan", "--repo", _repo(tmp_path), "--utilisation", usage, "--format", "json",
        "--as-of", "2026-11-15T06:00:00Z",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {row["field"]: row for row in json.loads(result.stdout)}


def test_quiet_usage_alone_would_shrink_memory_and_the_cpu_limit(tmp_path):
    """The baseline the signals overrule: the strategy wants less memory (held back only by
    the minimum saving) and a lower CPU limit."""
    rows = _plan(tmp_path, {})
    assert rows["requests.memory"]["wanted"] == "240Mi"
    assert rows["limits.cpu"]["proposed"] == "0.7"


def test_an_oom_kill_forbids_a_memory_decrease_and_grows_it_at_once(tmp_path):
    rows = _plan(tmp_path, {"oom_kills": {300: 1}})
    request, limit = rows["requests.memory"], rows["limits.memory"]
    assert (request["proposed"], request["action"]) == ("640Mi", "apply")  # 512Mi × 1.25
    assert limit["proposed"] == "1.25Gi"
    assert request["basis"].startswith("OOM killed once in the window, last at 11-13 12h")


def test_heavy_throttling_keeps_the_cpu_limit(tmp_path):
    rows = _plan(tmp_path, {"cpu_throttled_ratio": dict.fromkeys(range(0, 336, 4), 0.6)})
    assert "limits.cpu" not in rows  # the limit stays 1 core
    assert rows["requests.cpu"]["proposed"] == "350m"  # the request may still shrink
