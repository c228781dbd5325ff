"""Helm values that reach a release from elsewhere in the repo: a Flux HelmRelease's
`valuesFrom` (a ConfigMap a kustomize generator makes from a values file, or one written as
a manifest). Inventory traces each field to the file that sets it, and an edit lands in the
generator's values file, proven by rendering."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.proof import inspect
from bot.setter import Assignment, apply, edits_for
from recommenders.errors import InputError
from tests.conftest import FIXTURES, git, write_tree

pytestmark = pytest.mark.slow
CHART = FIXTURES / "platform-repo" / "charts" / "worker"

RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: worker
  namespace: jobs
spec:
  chart:
    spec:
      chart: ./charts/worker
      sourceRef: {kind: GitRepository, name: flux-system}
  valuesFrom:
    - kind: ConfigMap
      name: worker-values
{extra}  values:
    concurrency: 2
"""


def _repo(tmp_path: Path, files: dict[str, str], extra: str = "") -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(CHART, repo / "charts" / "worker")
    write_tree(repo, {"apps/worker/release.yaml": RELEASE.replace("{extra}", extra), **files})
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "Initial")
    return repo


GENERATED = {
    "apps/worker/kustomization.yaml": (
        "resources: [release.yaml]\n"
        "configMapGenerator:\n"
        "  - name: worker-values\n"
        "    files: [values.yaml=worker-values.yaml]\n"
        "generatorOptions: {disableNameSuffixHash: true}\n"
    ),
    "apps/worker/worker-values.yaml": "resources:\n  requests:\n    cpu: 700m  # nightly\n",
}


def test_values_from_a_generated_configmap_are_traced_to_their_file(tmp_path):
    repo = _repo(tmp_path, GENERATED)
    inventory = inspect(repo)
    assert inventory.problems == []
    [worker] = inventory.workloads
    requests = worker.container("worker").resources
    assert str(requests["requests.cpu"].origin) == "apps/worker/worker-values.yaml:3"
    assert requests["requests.cpu"].raw == "700m"
    assert requests["requests.memory"].origin is None  # the chart's default


def test_an_edit_lands_in_the_generators_values_file_and_spec_values_stay(tmp_path):
    repo = _repo(tmp_path, GENERATED)
    inventory = inspect(repo)
    [worker] = inventory.workloads
    edits = edits_for(worker, "worker", [Assignment("requests.cpu", "350m")])
    changed = [change.path for change in apply(repo, inventory, edits)]
    assert changed == ["apps/worker/worker-values.yaml"]
    diff = git(repo, "diff", "-U0").splitlines()
    assert [x for x in diff if x[:1] in "+-" and x[:3] not in ("+++", "---")] == [
        "-    cpu: 700m  # nightly",
        "+    cpu: 350m  # nightly",
    ]


def test_spec_values_outrank_values_from(tmp_path):
    """Flux merges `valuesFrom` in order, then `spec.values` over them."""
    files = {**GENERATED, "apps/worker/worker-values.yaml": "concurrency: 9\n"}
    repo = _repo(tmp_path, files)
    [worker] = inspect(repo).workloads
    assert worker.helm is not None and worker.helm.release.values["concurrency"] == 2


CONFIGMAP = {
    "apps/worker/kustomization.yaml": "resources: [release.yaml, values.yaml]\n",
    "apps/worker/values.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: worker-values\n  namespace: jobs\n"
        "data:\n  values.yaml: |\n    resources:\n      requests:\n        cpu: 900m\n"
    ),
}


def test_a_configmap_manifests_values_are_overridden_in_the_releases_own_values(tmp_path):
    """YAML inside a string has no lines the editor can address, and `spec.values` outranks
    it: the edit goes there, in the HelmRelease this environment owns."""
    repo = _repo(tmp_path, CONFIGMAP)
    inventory = inspect(repo)
    [worker] = inventory.workloads
    assert worker.container("worker").resources["requests.cpu"].raw == "900m"
    edits = edits_for(worker, "worker", [Assignment("requests.cpu", "350m")])
    assert [c.path for c in apply(repo, inventory, edits)] == ["apps/worker/release.yaml"]
    assert (
        "    resources:\n      requests:\n        cpu: 350m\n"
        in (repo / "apps/worker/release.yaml").read_text()
    )


def test_values_only_a_configmaps_text_holds_are_refused_by_name(tmp_path):
    repo = _repo(tmp_path, CONFIGMAP)
    release = repo / "apps/worker/release.yaml"
    release.write_text(release.read_text().replace("  values:\n    concurrency: 2\n", ""))
    git(repo, "commit", "--quiet", "-am", "No inline values")
    inventory = inspect(repo)
    [worker] = inventory.workloads
    edits = edits_for(worker, "worker", [Assignment("requests.cpu", "350m")])
    with pytest.raises(InputError, match=r"apps/worker/values.yaml: .*YAML text inside data"):
        apply(repo, inventory, edits)
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("extra", "files", "message"),
    [
        # a ConfigMap made in the cluster (or an encrypted Secret): never guessed
        ("", {"apps/worker/kustomization.yaml": "resources: [release.yaml]\n"},
         r"valuesFrom\[0\]: ConfigMap worker-values with key values.yaml is not in the repo"),
        ("    - {kind: Secret, name: db, valuesKey: url, targetPath: db.url}\n", GENERATED,
         r"valuesFrom\[1\]: targetPath 'db.url' is not supported"),
    ],
)  # fmt: skip
def test_values_the_repo_does_not_hold_are_reported_with_the_entry(tmp_path, extra, files, message):
    repo = _repo(tmp_path, files, extra)
    inventory = inspect(repo)
    assert inventory.workloads == []
    [problem] = inventory.problems
    assert problem.startswith("apps/worker/release.yaml: HelmRelease worker ")
    assert __import__("re").search(message, problem), problem


def test_an_optional_source_that_is_missing_is_skipped_as_flux_skips_it(tmp_path):
    files = {"apps/worker/kustomization.yaml": "resources: [release.yaml]\n"}
    extra = "      optional: true\n"
    repo = _repo(tmp_path, files, extra)
    inventory = inspect(repo)
    assert inventory.problems == []
    [worker] = inventory.workloads
    assert worker.container("worker").resources["requests.cpu"].raw == "100m"


APPLICATION_SET = """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: worker
spec:
  generators:
    - list:
        elements:
          - {cluster: eks-prod-eu1, env: prod}
          - {cluster: eks-staging, env: staging}
  template:
    metadata:
      name: 'worker-{{env}}'
    spec:
      destination: {name: '{{cluster}}', namespace: jobs}
      source:
        repoURL: https://github.com/acme/platform.git
        path: charts/worker
        helm:
          valueFiles: ['values-{{env}}.yaml']
          valuesObject:
            concurrency: 3
"""


def test_an_application_sets_helm_sources_are_one_release_per_generated_application(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(CHART, repo / "charts" / "worker")
    write_tree(
        repo,
        {
            "argocd/worker.yaml": APPLICATION_SET,
            "charts/worker/values-prod.yaml": "resources:\n  requests:\n    cpu: 2\n",
            "charts/worker/values-staging.yaml": "concurrency: 1\n",
        },
    )
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "Initial")
    inventory = inspect(repo)
    assert inventory.problems == []
    found = {w.environment_id: w for w in inventory.workloads}
    assert set(found) == {
        "argocd#charts/worker/values-prod.yaml",
        "argocd#charts/worker/values-staging.yaml",
    }
    prod = found["argocd#charts/worker/values-prod.yaml"]
    assert (
        prod.environment == "prod" and prod.deployment and prod.deployment.cluster == "eks-prod-eu1"
    )
    assert str(prod.container("worker").resources["requests.cpu"].origin) == (
        "charts/worker/values-prod.yaml:3"
    )
    assert prod.helm is not None and prod.helm.release.values["concurrency"] == 3
    # the staging value comes from the chart; it is added to staging's own value file,
    # never to the template every generated Application shares
    staging = found["argocd#charts/worker/values-staging.yaml"]
    edits = edits_for(staging, "worker", [Assignment("requests.cpu", "50m")])
    assert [c.path for c in apply(repo, inventory, edits)] == ["charts/worker/values-staging.yaml"]
    assert (repo / "charts/worker/values-staging.yaml").read_text() == (
        "concurrency: 1\nresources:\n  requests:\n    cpu: 50m\n"
    )
