"""The inventory finds each environment's workloads and the line that sets each value."""

import pytest

from bot.manifests.inventory import build_inventory
from bot.manifests.model import Inventory, Workload
from tests.conftest import MONOREPO, write_tree


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return build_inventory(MONOREPO)


def _find(inventory: Inventory, environment: str, name: str) -> Workload:
    matches = [w for w in inventory.workloads if w.environment == environment and w.name == name]
    assert len(matches) == 1
    return matches[0]


def _line(path: str, number: int) -> str:
    return (MONOREPO / path).read_text().splitlines()[number - 1]


def test_every_overlay_of_every_service_is_an_environment(inventory):
    assert inventory.problems == []
    found = {(w.environment, w.name) for w in inventory.workloads}
    services = {"frontend", "checkout", "catalog", "payments", "search", "recommendations"}
    helm = {("prod", "notifications")}  # the chart in charts/, deployed by an Application
    assert found == {(env, s) for env in ("dev", "staging", "prod") for s in services} | helm
    assert all(
        w.overlay == f"applications/{w.name}/overlays/{w.environment}"
        for w in inventory.workloads
        if w.helm is None
    )


def test_overlay_patch_file_sets_the_effective_value(inventory):
    frontend = _find(inventory, "prod", "frontend")
    tracked = frontend.container("frontend").resources["requests.cpu"]
    assert tracked.raw == "750m"
    assert tracked.origin.file == "applications/frontend/overlays/prod/resources-patch.yaml"
    assert _line(tracked.origin.file, tracked.origin.line)[tracked.origin.col :].startswith("750m")


def test_inherited_value_points_at_the_shared_base(inventory):
    staging = _find(inventory, "staging", "frontend")
    origin = staging.container("frontend").resources["requests.cpu"].origin
    assert origin.file == "applications/frontend/base/deployment.yaml"
    assert inventory.file_users[origin.file] == {
        f"applications/frontend/overlays/{env}" for env in ("dev", "staging", "prod")
    }


def test_inline_patch_values_point_into_the_kustomization(inventory):
    hpa = _find(inventory, "dev", "frontend").hpa
    minimum = hpa.fields["hpa.minReplicas"]
    assert minimum.raw == 1
    assert minimum.origin.file == "applications/frontend/overlays/dev/kustomization.yaml"
    line = _line(minimum.origin.file, minimum.origin.line)
    assert line.strip() == "minReplicas: 1"
    assert line[minimum.origin.col :] == "1"


def test_kustomize_replicas_field_overrides_the_deployment(inventory):
    assert _find(inventory, "staging", "catalog").replicas.raw == 3
    prod = _find(inventory, "prod", "catalog").replicas
    assert prod.raw == 4
    assert prod.origin.file == "applications/catalog/overlays/prod/kustomization.yaml"


def test_hpa_is_joined_with_its_annotations_and_namespace(inventory):
    checkout = _find(inventory, "prod", "checkout")
    assert checkout.namespace == "checkout"
    assert checkout.hpa.fields["hpa.cpuUtilization"].raw == 65
    assert checkout.hpa.annotations["example.com/cost-threshold-usd-hr"] == "15.00"
    assert _find(inventory, "dev", "catalog").annotations["example.com/ignore"] == "true"


def test_quoted_and_bare_cpu_values_are_kept_as_written(inventory):
    assert (
        _find(inventory, "prod", "checkout").container("checkout").resources["requests.cpu"].raw
        == "1"
    )
    assert (
        _find(inventory, "dev", "checkout").container("checkout").resources["requests.cpu"].raw
        == 0.5
    )


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: api
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
      - name: sidecar
        resources:
          requests:
            cpu: 10m
"""


def test_json6902_patch_with_target_is_followed(tmp_path):
    write_tree(
        tmp_path,
        {
            "base/kustomization.yaml": "resources:\n- deployment.yaml\n",
            "base/deployment.yaml": DEPLOYMENT,
            "prod/kustomization.yaml": (
                "resources:\n- ../base\n"
                "patches:\n- target: {kind: Deployment, name: api}\n  path: cpu.yaml\n"
            ),
            "prod/cpu.yaml": (
                "- op: replace\n  path: /spec/template/spec/containers/1/resources/requests/cpu\n"
                "  value: 20m\n- op: replace\n  path: /spec/replicas\n  value: 5\n"
            ),
        },
    )
    inventory = build_inventory(tmp_path)
    (api,) = inventory.workloads
    assert api.environment == "prod"
    sidecar = api.container("sidecar").resources["requests.cpu"]
    assert (sidecar.raw, sidecar.origin.file, sidecar.origin.line) == ("20m", "prod/cpu.yaml", 3)
    assert api.replicas.raw == 5
    assert api.container("api").resources["requests.cpu"].origin.file == "base/deployment.yaml"


def test_a_broken_overlay_is_reported_and_the_others_still_load(tmp_path):
    write_tree(
        tmp_path,
        {
            "good/kustomization.yaml": "resources:\n- deployment.yaml\n",
            "good/deployment.yaml": DEPLOYMENT,
            "bad/kustomization.yaml": "resources:\n- missing.yaml\n",
        },
    )
    inventory = build_inventory(tmp_path)
    assert [w.environment for w in inventory.workloads] == ["good"]
    assert len(inventory.problems) == 1
    assert "bad/missing.yaml" in inventory.problems[0]


def test_a_symlink_out_of_the_repo_is_refused(tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text(DEPLOYMENT)
    repo = write_tree(
        tmp_path / "repo", {"app/kustomization.yaml": "resources:\n- deployment.yaml\n"}
    )
    (repo / "app" / "deployment.yaml").symlink_to(outside)
    inventory = build_inventory(repo)
    assert inventory.workloads == []
    assert "points outside the repository" in inventory.problems[0]


def test_an_alias_bomb_is_refused_by_name(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(12)
    )
    write_tree(
        tmp_path, {"app/kustomization.yaml": "resources:\n- bomb.yaml\n", "app/bomb.yaml": bomb}
    )
    inventory = build_inventory(tmp_path)
    assert "app/bomb.yaml" in inventory.problems[0]
    assert "alias" in inventory.problems[0]


def test_each_file_is_parsed_once_though_the_gitops_scan_reads_it_too(monkeypatch):
    from collections import Counter

    from bot.manifests import gitops, kustomization, yamlio

    parsed: Counter[tuple[str, str]] = Counter()  # an inline patch is parsed apart from its file
    real = yamlio.parse_positioned

    def counted(text: str, where: str) -> list:
        parsed[where, text] += 1
        return real(text, where)

    monkeypatch.setattr(yamlio, "parse_positioned", counted)
    monkeypatch.setattr(kustomization, "parse_positioned", counted)
    monkeypatch.setattr(gitops, "parse_positioned", counted)
    build_inventory(MONOREPO)
    assert any("kustomization" in file for file, _ in parsed)
    assert all(count == 1 for count in parsed.values()), parsed.most_common(1)[0][0][0]


def test_manifests_and_renders_read_scalars_by_yaml_1_2_whatever_the_document_declares():
    """One C loader reads every manifest, render and edit, its types fixed to YAML 1.2's
    (the C parser never reported a `%YAML` directive's version, so it always was 1.2):
    `yes` stays text, `010` is ten, `0o10` eight; positions are kept."""
    from bot.manifests import render
    from bot.manifests.yamlio import parse_positioned

    text = "a: yes\nb: 010\nc: 0o10\nd: '010'\ne: 1.5\nf: ~\ng: true\n"
    for declared in ("", "%YAML 1.1\n---\n"):
        (document,) = parse_positioned(declared + text, "x.yaml")
        assert document == {"a": "yes", "b": 10, "c": 8, "d": "010", "e": 1.5, "f": None, "g": True}
        assert document.lc.value("g") == (6 + declared.count("\n"), 3)
    assert render._documents(text) == [document]
