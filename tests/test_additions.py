"""The editor adds what a manifest leaves out, as a human would write it, or says why not."""

import shutil

import pytest

from bot.manifests.yamltext import Item, set_path
from bot.proof import inspect
from bot.setter import Assignment, apply, edits_for, find_workload
from recommenders.errors import InputError
from tests.conftest import FIXTURES, write_tree

CONTAINER = ("spec", "template", "spec", "containers", Item("web"), "resources")
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: nginx
"""


@pytest.mark.parametrize(
    ("text", "path", "value", "expected"),
    [
        # a nested block after the container's last key, at its indentation
        (
            DEPLOYMENT,
            (*CONTAINER, "requests", "cpu"),
            "100m",
            DEPLOYMENT + "          resources:\n            requests:\n              cpu: 100m\n",
        ),
        # a flow mapping grows inside its braces
        (
            "resources: {requests: {cpu: 1}}\n",
            ("resources", "limits", "memory"),
            "1Gi",
            "resources: {requests: {cpu: 1}, limits: {memory: 1Gi}}\n",
        ),
        # an empty key (`resources:` then comments) gets its block before the comments
        (
            "resources:\n  # limits:\n  #   cpu: 100m\nnodeSelector: {}\n",
            ("resources", "requests", "cpu"),
            "250m",
            "resources:\n  requests:\n    cpu: 250m\n  # limits:\n  #   cpu: 100m\n"
            "nodeSelector: {}\n",
        ),
        # a file indented by four keeps four; CRLF stays; no final newline stays so
        ("a:\r\n    b: 1", ("a", "c"), 2, "a:\r\n    b: 1\r\n    c: 2"),
        # values of a mapping that quotes its quantities are quoted too
        (
            'requests:\n  cpu: "1"\n',
            ("requests", "memory"),
            "1Gi",
            'requests:\n  cpu: "1"\n  memory: "1Gi"\n',
        ),
        # an existing value is replaced in its span, comment kept
        ("cpu: 1 # one\n", ("cpu",), "2", "cpu: 2 # one\n"),
    ],
)
def test_set_path_adds_in_the_files_style(text, path, value, expected):
    assert set_path(text, "values.yaml", path, value) == expected


def test_set_path_picks_the_document_by_kind_and_name():
    text = DEPLOYMENT.replace("name: web\nspec", "name: api\nspec") + "---\n" + DEPLOYMENT
    result = set_path(
        text, "all.yaml", (*CONTAINER, "limits", "cpu"), "1", object_ref=("Deployment", ("web",))
    )
    first, second = result.split("---\n")
    assert "limits" not in first and "limits:\n              cpu: 1" in second


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        (DEPLOYMENT, ("spec", "template", "spec", "containers", Item("side"), "x"), "list items"),
        ("resources: small\n", ("resources", "requests", "cpu"), "values.yaml:1: is not a mapping"),
    ],
)
def test_set_path_refuses_what_it_cannot_add(text, path, message):
    with pytest.raises(InputError, match=message):
        set_path(text, "values.yaml", path, "1")


SHARED = {
    "base/kustomization.yaml": "resources:\n  - deployment.yaml\n  - hpa.yaml\n  - agent.yaml\n",
    "base/deployment.yaml": DEPLOYMENT,
    "base/hpa.yaml": "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\n"
    "metadata:\n  name: web\nspec:\n  scaleTargetRef:\n    kind: Deployment\n    name: web\n"
    "  maxReplicas: 5\n",
    "base/agent.yaml": "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n"
    "  template:\n    spec:\n      containers:\n        - name: agent\n          image: a\n",
    "prod/kustomization.yaml": "resources:\n  - ../base\n",
}


@pytest.mark.parametrize(
    ("ref", "field", "message"),
    [
        ("DaemonSet/agent", "replicas=2", "a DaemonSet has no replicas"),
        ("Deployment/web", "replicas=3", "replicas are set by HorizontalPodAutoscaler/web"),
        ("DaemonSet/agent", "hpa.maxReplicas=3", "the workload has no autoscaler"),
    ],
)
def test_what_cannot_be_added_is_refused_by_name(tmp_path, ref, field, message):
    repo = write_tree(tmp_path, SHARED)
    inventory = inspect(repo)
    workload = find_workload(inventory, "prod", ref)
    name, _, value = field.partition("=")
    with pytest.raises(InputError, match=message):
        edits_for(workload, None, [Assignment(name, value)])


def test_a_missing_hpa_bound_is_added_in_the_hpa_and_proven(tmp_path):
    repo = write_tree(tmp_path, SHARED)
    inventory = inspect(repo)
    workload = find_workload(inventory, "prod", "Deployment/web")
    changes = apply(
        repo, inventory, edits_for(workload, None, [Assignment("hpa.minReplicas", "2")])
    )
    assert [c.path for c in changes] == ["base/hpa.yaml"]
    assert "  maxReplicas: 5\n  minReplicas: 2\n" in (repo / "base/hpa.yaml").read_text()


def _set(repo, overlay, ref, container, **values):
    inventory = inspect(repo)
    assert inventory.problems == []
    workload = find_workload(inventory, overlay, ref)
    assignments = [Assignment(k.replace("_", "."), v) for k, v in values.items()]
    return apply(repo, inventory, edits_for(workload, container, assignments))


def test_a_rollouts_operations_patch_is_edited_in_place_on_the_next_run(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "repos" / "rollout-inherited" / "expected", repo)
    patch = repo / "overlays/prod/rightsizer-rollout-web.yaml"
    before = patch.read_text()
    changes = _set(repo, "overlays/prod", "Rollout/web", "web", requests_cpu="350m", limits_cpu="1")
    assert [c.path for c in changes] == ["overlays/prod/rightsizer-rollout-web.yaml"]
    after = patch.read_text()
    added = "- op: add\n  path: /spec/template/spec/containers/0/resources/limits/cpu\n  value: 1\n"
    assert after == before.replace("value: 300m", "value: 350m") + added


def test_a_keda_cpu_trigger_is_the_autoscalers_target(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "repos" / "keda-scaledobject" / "original", repo)
    scaled = repo / "base/scaledobject.yaml"
    scaled.write_text(
        scaled.read_text()
        + '  - type: cpu\n    metricType: Utilization\n    metadata:\n      value: "60"\n'
    )
    inventory = inspect(repo)
    workload = find_workload(inventory, "overlays/prod", "Deployment/web")
    assert workload.hpa is not None
    assert workload.hpa.fields["hpa.cpuUtilization"].raw == "60"
    _set(repo, "overlays/prod", "Deployment/web", None, hpa_cpuUtilization="70")
    assert 'value: "70"' in scaled.read_text()
