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


def _repo(tmp_path: Path, files: dict[str, str], extra: str = "", at: str = "apps/worker") -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(CHART, repo / "charts" / "worker")
    write_tree(repo, {f"{at}/release.yaml": RELEASE.replace("{extra}", extra), **files})
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


def test_a_shared_helm_release_gets_a_patch_of_its_values_in_the_overlay(tmp_path):
    """The HelmRelease is a base both environments share and prod's own values are YAML
    inside a ConfigMap's string: prod's overlay gets a patch of the HelmRelease's values,
    which Flux merges over `valuesFrom`, proven by rendering; staging does not move."""
    overlay = {
        "kustomization.yaml": "resources: [../base, values.yaml]\n",
        "values.yaml": CONFIGMAP["apps/worker/values.yaml"],
    }
    files = {
        "apps/worker/base/kustomization.yaml": "resources: [release.yaml]\n",
        **{f"apps/worker/{env}/{name}": text for env in ("prod", "staging")
           for name, text in overlay.items()},
    }  # fmt: skip
    repo = _repo(tmp_path, files, at="apps/worker/base")
    inventory = inspect(repo)
    prod = next(w for w in inventory.workloads if w.overlay == "apps/worker/prod")
    edits = edits_for(prod, "worker", [Assignment("requests.cpu", "350m")])
    changed = sorted(c.path for c in apply(repo, inventory, edits))
    assert changed == [
        "apps/worker/prod/kustomization.yaml",
        "apps/worker/prod/rightsizer-helmrelease-worker.yaml",
    ]
    patch = (repo / changed[1]).read_text()
    assert "kind: HelmRelease\n" in patch and "apiVersion: helm.toolkit.fluxcd.io/v2\n" in patch
    assert "  values:\n    resources:\n      requests:\n        cpu: 350m\n" in patch
    # the next run finds the patch as prod's own values, and edits it in place
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "First patch")
    inventory = inspect(repo)
    prod = next(w for w in inventory.workloads if w.overlay == "apps/worker/prod")
    assert prod.container("worker").resources["requests.cpu"].raw == "350m"
    edits = edits_for(prod, "worker", [Assignment("requests.memory", "256Mi")])
    assert [c.path for c in apply(repo, inventory, edits)] == [changed[1]]


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


INFLATED = {
    "apps/worker/base/kustomization.yaml": (
        "namespace: jobs\n"
        "helmCharts:\n"
        "  - name: worker\n"
        "    releaseName: worker\n"
        "    valuesInline:\n"
        "      resources:\n"
        "        requests:\n"
        "          cpu: 250m\n"
    ),
    "apps/worker/prod/kustomization.yaml": (
        "resources: [../base]\nnamePrefix: prod-\n"
        "helmCharts:\n"
        "  - name: worker\n"
        "    releaseName: batch\n"
        "    valuesInline:\n"
        "      resources:\n"
        "        requests:\n"
        "          cpu: 2   # month end\n"
        "    additionalValuesFiles: [memory.yaml]\n"
    ),
    "apps/worker/prod/memory.yaml": "resources:\n  requests:\n    memory: 300Mi\n",
}


@pytest.fixture
def inflated(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(CHART, repo / "apps/worker/base/charts/worker")
    shutil.copytree(CHART, repo / "apps/worker/prod/charts/worker")
    write_tree(repo, INFLATED)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "Initial")
    return repo


def test_helm_charts_in_a_kustomization_are_inflated_and_traced_to_their_values(inflated):
    """kustomize's own transformers act on the chart's objects (a prefix, a namespace), and
    the real kustomize, inflating through Helm's engine, agrees with every value."""
    inventory = inspect(inflated)
    assert inventory.problems == []
    found = {(w.overlay, w.name): w for w in inventory.workloads}
    assert set(found) == {
        ("apps/worker/prod", "prod-worker"),
        ("apps/worker/prod", "prod-batch"),
    }
    assert all(w.unverified is None for w in found.values())
    # kustomize's `namespace:` leaves what a chart renders alone; so does the resolver
    assert {w.name: w.namespace for w in found.values()} == {
        "prod-worker": "default",
        "prod-batch": "default",
    }
    batch = found[("apps/worker/prod", "prod-batch")].container("worker").resources
    assert str(batch["requests.cpu"].origin) == "apps/worker/prod/kustomization.yaml:9"
    assert batch["requests.cpu"].raw == 2
    assert str(batch["requests.memory"].origin) == "apps/worker/prod/memory.yaml:3"
    shared = found[("apps/worker/prod", "prod-worker")].container("worker").resources
    assert str(shared["requests.cpu"].origin) == "apps/worker/base/kustomization.yaml:8"
    assert shared["requests.memory"].origin is None  # the chart's default


def test_an_inflated_value_this_environment_owns_is_edited_in_its_values(inflated):
    inventory = inspect(inflated)
    [batch] = [w for w in inventory.workloads if w.name == "prod-batch"]
    edits = edits_for(batch, "worker", [Assignment("requests.cpu", "1500m")])
    assert [c.path for c in apply(inflated, inventory, edits)] == [
        "apps/worker/prod/kustomization.yaml"
    ]
    diff = git(inflated, "diff", "-U0").splitlines()
    assert [x for x in diff if x[:1] in "+-" and x[:3] not in ("+++", "---")] == [
        "-          cpu: 2   # month end",
        "+          cpu: 1500m   # month end",
    ]


def test_a_missing_field_of_an_inflated_object_is_patched_in_the_overlay(inflated):
    """The chart's objects exist only in the render: a field they lack is added by a patch
    in the environment's overlay, proven by kustomize inflating the chart again."""
    inventory = inspect(inflated)
    [worker] = [w for w in inventory.workloads if w.name == "prod-worker"]
    edits = edits_for(worker, "worker", [Assignment("limits.memory", "512Mi")])
    changed = sorted(c.path for c in apply(inflated, inventory, edits))
    assert changed == [
        "apps/worker/prod/kustomization.yaml",
        "apps/worker/prod/rightsizer-statefulset-worker.yaml",
    ]
    assert "memory: 512Mi" in (inflated / changed[1]).read_text()


def test_a_helm_chart_that_is_not_vendored_is_reported_with_its_reference(tmp_path):
    repo = write_tree(
        tmp_path / "repo",
        {
            "apps/kustomization.yaml": (
                "helmCharts:\n  - name: redis\n    repo: https://charts.bitnami.com/bitnami\n"
                "    version: 19.0.1\n"
            )
        },
    )
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "Initial")
    inventory = inspect(repo)
    assert inventory.workloads == []
    [problem] = inventory.problems
    assert problem.startswith(
        "apps/kustomization.yaml: chart not available locally: "
        "https://charts.bitnami.com/bitnami redis@19.0.1"
    ), problem


def test_a_helm_release_without_values_gets_them_in_its_own_file(tmp_path):
    """Many HelmReleases run on the chart's defaults: the first value is added under
    `spec.values` of the HelmRelease this environment alone builds from."""
    repo = _repo(tmp_path, {"apps/worker/kustomization.yaml": "resources: [release.yaml]\n"})
    release = repo / "apps/worker/release.yaml"
    text = release.read_text()
    text = text[: text.index("  valuesFrom:")]
    release.write_text(text)
    git(repo, "commit", "--quiet", "-am", "Chart defaults only")
    inventory = inspect(repo)
    [worker] = inventory.workloads
    edits = edits_for(worker, "worker", [Assignment("requests.cpu", "50m")])
    assert [c.path for c in apply(repo, inventory, edits)] == ["apps/worker/release.yaml"]
    assert release.read_text() == text + (
        "  values:\n    resources:\n      requests:\n        cpu: 50m\n"
    )


def test_a_value_only_an_applications_values_string_holds_is_refused_by_name(tmp_path):
    """Argo CD's `helm.values` is YAML inside a string, with no lines the editor can address
    and nothing above it this environment owns: refused, naming where it is set."""
    repo = tmp_path / "repo"
    shutil.copytree(CHART, repo / "charts" / "worker")
    application = (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: worker\n"
        "spec:\n  destination: {name: prod, namespace: jobs}\n  source:\n"
        "    repoURL: https://github.com/acme/platform.git\n    path: charts/worker\n"
        "    helm:\n      values: |\n        resources:\n          requests:\n"
        "            cpu: 900m\n"
    )
    write_tree(repo, {"argocd/worker.yaml": application})
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "Initial")
    inventory = inspect(repo)
    [worker] = inventory.workloads
    assert worker.container("worker").resources["requests.cpu"].raw == "900m"
    edits = edits_for(worker, "worker", [Assignment("requests.cpu", "350m")])
    with pytest.raises(InputError, match=r"argocd/worker.yaml: .*YAML text inside spec.source"):
        apply(repo, inventory, edits)
    assert git(repo, "status", "--porcelain") == ""
