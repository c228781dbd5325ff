"""`rightsizer inventory` and `rightsizer set` from the command line, as a user runs them."""

import json
import shutil
from pathlib import Path

from tests.conftest import MONOREPO, rightsizer


def test_inventory_json_is_the_documented_contract():
    # fixtures/monorepo is a plain directory inside this project's repository: it is read as
    # it is, not taken for the project (`plan` alone needs, and looks up, the checkout).
    result = rightsizer("inventory", "--repo", MONOREPO, "--format", "json")
    assert result.returncode == 0, result.stderr
    workloads = json.loads(result.stdout)
    assert len(workloads) == 19  # 18 from Kustomize overlays, one from a Helm chart
    for workload in workloads:
        assert {"environment", "kind", "name", "namespace", "containers", "replicas", "hpa",
                "provenance"} <= set(workload)  # fmt: skip
        assert workload["verified"] is True
        for container in workload["containers"]:
            assert {"name", "requests", "limits"} == set(container)
        for field, where in workload["provenance"].items():
            line = (MONOREPO / where["file"]).read_text().splitlines()[where["line"] - 1]
            assert str(_value(workload, field)) in line, (field, where, line)
    frontend = next(
        w for w in workloads if w["environment"] == "applications/frontend/overlays/dev"
    )
    assert frontend["hpa"] == {
        "kind": "HorizontalPodAutoscaler", "name": "frontend",
        "minReplicas": 1, "maxReplicas": 3, "cpuUtilization": 70,
    }  # fmt: skip
    assert frontend["provenance"]["hpa.minReplicas"]["file"] == (
        "applications/frontend/overlays/dev/kustomization.yaml"
    )
    assert frontend["cluster"] == "https://dev.aks.acme.internal"
    helm = next(w for w in workloads if w["helm"])
    assert helm["environment"] == "argocd/applications"
    assert helm["values_file"] == "charts/notifications/values-prod.yaml"
    assert helm["environment_name"] == "prod"
    assert helm["helm"]["values"]["containers.notifications.requests.cpu"] == (
        "resources.requests.cpu"
    )
    assert helm["provenance"]["replicas"] == {
        "file": "charts/notifications/values-prod.yaml", "line": 2, "path": "replicaCount"
    }  # fmt: skip


def _value(workload: dict, field: str):
    """The inventory's value for a provenance key (`containers.web.requests.cpu`, `replicas`)."""
    if field.startswith("containers."):
        _, name, bound, resource = field.split(".")
        container = next(c for c in workload["containers"] if c["name"] == name)
        return container[bound][resource]
    if field.startswith("hpa."):
        return workload["hpa"][field.removeprefix("hpa.")]
    return workload[field]


def _copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(MONOREPO, tmp_path / "repo"))


def test_set_edits_the_work_tree_and_says_what_it_changed(tmp_path):
    repo = _copy(tmp_path)
    result = rightsizer(
        "set", "--repo", repo, "--overlay", "applications/checkout/overlays/prod",
        "--workload", "Deployment/checkout", "--container", "checkout",
        "requests.cpu=0.75", "limits.memory=4Gi",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "checkout requests.cpu: 1 -> 0.75" in result.stdout
    assert "edited applications/checkout/overlays/prod/resources-patch.yaml" in result.stdout
    text = (repo / "applications/checkout/overlays/prod/resources-patch.yaml").read_text()
    assert 'cpu: "0.75"  # one full core' in text and "memory: 4Gi" in text


def test_set_refuses_bad_fields_and_ambiguous_containers_in_one_line(tmp_path):
    repo = _copy(tmp_path)
    prod = ("--overlay", "applications/checkout/overlays/prod", "--workload", "Deployment/checkout")
    for arguments, message in [
        (("requests.gpu=1",), "expected FIELD=VALUE"),
        (("requests.cpu=lots",), "is not a Kubernetes quantity"),
        (("requests.cpu=1",), "has containers checkout, log-shipper; say which with --container"),
    ]:
        result = rightsizer("set", "--repo", repo, *prod, *arguments)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and message in result.stderr


REPLACEMENT_REPO = {
    "base/kustomization.yaml": "resources:\n- deployment.yaml\n- tuning.yaml\n",
    "base/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        resources:
          requests:
            cpu: 100m
""",
    "base/tuning.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tuning\ndata:\n"
    "  cpu: unknown\n",
    "prod/kustomization.yaml": """\
resources:
- ../base
# Copies the CPU request into a ConfigMap the app reads: the bot's resolver does not model
# replacements, so only the render proof can see that an edit changes the ConfigMap too.
replacements:
- source:
    kind: Deployment
    name: web
    fieldPath: spec.template.spec.containers.[name=web].resources.requests.cpu
  targets:
  - select:
      kind: ConfigMap
      name: tuning
    fieldPaths:
    - data.cpu
""",
}


def test_set_writes_nothing_when_the_render_proof_fails(tmp_path):
    repo = tmp_path / "repo"
    for name, text in REPLACEMENT_REPO.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    result = rightsizer(
        "set", "--repo", repo, "--overlay", "prod", "--workload", "Deployment/web",
        "requests.cpu=200m",
    )  # fmt: skip
    assert result.returncode == 1
    assert "not written: rendered difference is not what was intended" in result.stderr
    assert "ConfigMap//tuning data.cpu: '100m' -> '200m'" in result.stderr
    assert {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()} == before


def test_inventory_markdown_is_a_table_with_every_container_and_whole_cells():
    from markdown_it import MarkdownIt

    result = rightsizer("inventory", "--repo", MONOREPO, "--format", "markdown")
    assert result.returncode == 0, result.stderr
    workloads = json.loads(rightsizer("inventory", "--repo", MONOREPO, "--format", "json").stdout)
    tokens = MarkdownIt("commonmark").enable("table").parse(result.stdout)
    rows = [t for t in tokens if t.type == "tr_open"]
    assert len(rows) == 1 + sum(len(w["containers"]) for w in workloads)
    cells = [t.content for t in tokens if t.type == "inline"]
    assert cells[:7] == ["environment", "workload", "container", "requests", "limits",
                         "scaling", "set in"]  # fmt: skip
    assert "applications/checkout/base/deployment.yaml:39" in cells, "paths are never cut"
    assert "…" not in result.stdout and "┃" not in result.stdout
