"""Every workload and container of the real repos in ../shared/corpus/manifests gets a new CPU
request through the editor; the diff must hold only value lines (or the new overlay patch and
its `patches:` entry) and the render proof must hold. Skipped when the corpus is absent."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot.manifests.model import RESOURCE_FIELDS, Workload
from bot.proof import inspect
from bot.setter import Assignment, apply, edits_for
from tests.conftest import ROOT, git

CORPUS = ROOT.parent / "shared" / "corpus" / "manifests"
pytestmark = [
    pytest.mark.corpus,
    pytest.mark.slow,
    pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not beside the checkout"),
]
REPOS = sorted(p.name for p in CORPUS.iterdir()) if CORPUS.is_dir() else []


def _restore_generator_inputs(repo: Path) -> None:
    """The corpus keeps data, not scripts: give configMapGenerator the files it names, so
    kustomize can build those overlays as their authors could."""
    for kustomization in repo.rglob("kustomization.yaml"):
        document = YAML(typ="safe").load(kustomization.read_text()) or {}
        for generator in document.get("configMapGenerator", []) + document.get(
            "secretGenerator", []
        ):
            for entry in generator.get("files", []):
                path = kustomization.parent / str(entry).split("=")[-1]
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text("# stands in for a script the corpus leaves out\n")


def _committed_copy(name: str, tmp_path: Path) -> Path:
    """A corpus repo as a git repository, with its generators' inputs in place."""
    repo = tmp_path / name
    shutil.copytree(CORPUS / name, repo)
    _restore_generator_inputs(repo)
    git(repo, "init", "--quiet")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "corpus")
    return repo


def _new_cpu(raw) -> str:
    """A different valid request: millicores, a little above the current value."""
    text = str(raw)
    cores = int(text[:-1]) / 1000 if text.endswith("m") else float(text)
    return f"{int(cores * 1000) + 35}m"


def _check_diff(repo: Path, workload: Workload) -> None:
    for row in git(repo, "status", "--porcelain", "--untracked-files=all").splitlines():
        status, path = row[:2].strip(), row[3:]
        if status == "??":
            assert Path(path).name.startswith("rightsizer-"), path
            assert path.startswith(workload.overlay + "/"), path
            continue
        diff = git(repo, "diff", "-U0", "--", path)
        lines = diff.splitlines()
        removed = [x[1:] for x in lines if x.startswith("-") and not x.startswith("---")]
        added = [x[1:] for x in lines if x.startswith("+") and not x.startswith("+++")]
        if len(removed) == len(added):
            for old, new in zip(removed, added, strict=True):
                assert re.sub(r"cpu:\s*\S+", "cpu:", old) == re.sub(r"cpu:\s*\S+", "cpu:", new)
        else:
            assert removed == [], (path, removed)
            assert all(re.match(r"^(patches:|\s*- path: rightsizer-)", line) for line in added)


@pytest.mark.parametrize("name", REPOS)
def test_every_cpu_request_in_the_corpus_can_be_set(name, tmp_path):
    repo = _committed_copy(name, tmp_path)
    inventory = inspect(repo)
    tried = passed = 0
    for workload in inventory.workloads:
        if workload.unverified is not None:
            continue
        for container in workload.containers:
            tracked = container.resources.get("requests.cpu")
            if tracked is None:
                continue
            tried += 1
            value = _new_cpu(tracked.raw)
            edits = edits_for(workload, container.name, [Assignment("requests.cpu", value)])
            apply(repo, inventory, edits)
            _check_diff(repo, workload)
            passed += 1
            git(repo, "checkout", "--quiet", ".")
            git(repo, "clean", "--quiet", "-fd")
    print(f"{name}: {passed}/{tried} edits passed; problems: {inventory.problems}")
    assert passed == tried


ADDED_LINE = re.compile(r"^\s*(resources|requests|limits|cpu|memory):|^\s*(- op:|path:|value:)")


@pytest.mark.parametrize("name", REPOS)
def test_every_missing_request_or_limit_in_the_corpus_can_be_added(name, tmp_path):
    """The first field each container leaves out is added: only new lines (a `{}` opened
    into a block aside), or the overlay's new patch, and the render proof holds."""
    repo = _committed_copy(name, tmp_path)
    inventory = inspect(repo)
    tried = 0
    for workload in inventory.workloads:
        if workload.unverified is not None:
            continue
        for container in workload.containers:
            missing = [f for f in RESOURCE_FIELDS if f not in container.resources]
            if not missing:
                continue
            tried += 1
            value = "150m" if missing[0].endswith(".cpu") else "192Mi"
            edits = edits_for(workload, container.name, [Assignment(missing[0], value)])
            apply(repo, inventory, edits)
            for row in git(repo, "status", "--porcelain", "--untracked-files=all").splitlines():
                path = row[3:]
                if row.startswith("??"):
                    assert path.startswith(workload.overlay + "/rightsizer-"), path
                    continue
                lines = git(repo, "diff", "-U0", "--", path).splitlines()
                removed = [x[1:] for x in lines if x.startswith("-") and not x.startswith("---")]
                added = [x[1:] for x in lines if x.startswith("+") and not x.startswith("+++")]
                opened = {re.sub(r":\s*\{\}", ":", line) for line in removed}
                assert opened <= set(added), (path, removed, added)
                assert all(
                    ADDED_LINE.match(line) or line in opened or "rightsizer-" in line
                    for line in added
                ), (path, added)
            git(repo, "checkout", "--quiet", ".")
            git(repo, "clean", "--quiet", "-fd")
    print(f"{name}: {tried} additions passed; problems: {inventory.problems}")


PODINFO_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: podinfo\nversion: 6.14.1\n",
    # Templates written for this test in the shape of podinfo's (the corpus keeps its values,
    # not its templates): replicas unless the HPA is on, whose floor is replicaCount.
    "templates/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  {{- if not .Values.hpa.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
        - name: podinfo
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          ports:
            - containerPort: {{ .Values.service.httpPort }}
          resources:
{{ toYaml .Values.resources | indent 12 }}
""",
    "templates/hpa.yaml": """\
{{- if .Values.hpa.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ .Release.Name }}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: {{ .Release.Name }}}
  minReplicas: {{ .Values.replicaCount }}
  maxReplicas: {{ .Values.hpa.maxReplicas }}
  metrics:
  {{- if .Values.hpa.cpu }}
    - type: Resource
      resource:
        name: cpu
        target: {type: Utilization, averageUtilization: {{ .Values.hpa.cpu }}}
  {{- end }}
{{- end }}
""",
}


def test_podinfos_real_values_files_are_read_and_edited_where_prod_sets_them(tmp_path):
    """podinfo's own values.yaml and values-prod.yaml under a chart in their shape: prod is
    one Helm environment, each value traced to its line, and edits land in values-prod.yaml
    (a missing CPU limit added beside the memory one) with the render proof holding."""
    source = CORPUS / "stefanprodan__podinfo" / "charts" / "podinfo"
    chart = tmp_path / "charts" / "podinfo"
    chart.mkdir(parents=True)
    for name in ("values.yaml", "values-prod.yaml"):
        shutil.copy(source / name, chart / name)
    for name, text in PODINFO_CHART.items():
        (chart / name).parent.mkdir(parents=True, exist_ok=True)
        (chart / name).write_text(text)
    git(tmp_path, "init", "--quiet")
    git(tmp_path, "add", "--all")
    git(tmp_path, "commit", "--quiet", "-m", "podinfo")
    inventory = inspect(tmp_path)
    assert inventory.problems == []
    [workload] = inventory.workloads
    assert (workload.environment, workload.values_file) == (
        "prod",
        "charts/podinfo/values-prod.yaml",
    )
    prod = (chart / "values-prod.yaml").read_text().splitlines()
    cpu = workload.container("podinfo").resources["requests.cpu"]
    assert cpu.origin is not None and cpu.origin.file == "charts/podinfo/values-prod.yaml"
    assert prod[cpu.origin.line - 1].strip() == f"cpu: {cpu.raw}"
    assert workload.hpa is not None and workload.helm is not None
    assert workload.helm.paths[(None, "hpa.minReplicas")] == ("replicaCount",)
    assignments = [Assignment("requests.cpu", "150m"), Assignment("limits.cpu", "500m")]
    assignments.append(Assignment("hpa.maxReplicas", "7"))
    changes = apply(tmp_path, inventory, edits_for(workload, "podinfo", assignments))
    assert [c.path for c in changes] == ["charts/podinfo/values-prod.yaml"]
    diff = git(tmp_path, "diff", "-U0").splitlines()
    changed = [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert len([line for line in changed if line.startswith("-")]) == 2  # two values replaced
    assert "+    cpu: 500m" in changed
