"""Environments as real repositories have them: plain manifest directories nothing deploys,
environments `.rightsizer.yaml` declares, ApplicationSet generators, sources the bot cannot
read, and usage that names clusters rather than directories; and a plan that says so when
usage and workloads do not meet, instead of printing an empty table."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bot.config import load_config
from bot.manifests.inventory import build_inventory
from recommenders.errors import InputError
from recommenders.model import WorkloadKey
from recommenders.sources.frames import Usage
from recommenders.sources.usage import UsageTable
from tests.conftest import DEPLOYMENT, make_repo, rightsizer, write_tree

KUSTOMIZE_BASE = {
    "apps/api/base/kustomization.yaml": "resources:\n- deployment.yaml\n",
    "apps/api/base/deployment.yaml": DEPLOYMENT.format(name="api"),
    "apps/api/overlays/prod/kustomization.yaml": "resources:\n- ../../base\n",
}

CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {name}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: {name}
            resources:
              requests:
                cpu: 200m
"""


def _application(name: str, path: str, source_extra: str = "", cluster: str = "") -> str:
    destination = (
        f"    name: {cluster}\n" if cluster else "    server: https://kubernetes.default.svc\n"
    )
    return f"""\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
spec:
  source:
    repoURL: https://git.example.com/infra.git
    path: {path}
{source_extra}  destination:
{destination}    namespace: {name}
"""


def _inventory(repo: Path) -> list[dict]:
    result = rightsizer("inventory", "--repo", repo, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _environments(workloads: list[dict]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for workload in workloads:
        if workload["helm"] is None:
            found.setdefault(workload["environment"], set()).add(workload["name"])
    return found


def test_a_repo_of_plain_directories_is_inventoried_with_each_path_as_its_environment(tmp_path):
    repo = write_tree(
        tmp_path / "repo",
        {
            "deploy/web/deployment.yaml": DEPLOYMENT.format(name="web"),
            "deploy/web/service.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n",
            "deploy/reports/cronjob.yaml": CRONJOB.format(name="reports"),
            # Not environments: a Go template, a file that does not parse, a workload kind
            # only indented inside a document, and CI configuration.
            "ops/templated/deployment.yaml": "kind: Deployment\nspec: {{ .Values.x }}\n",
            "ops/broken/deployment.yaml": "kind: Deployment\nmetadata: [\n",
            "docs/example.yaml": "example:\n  kind: Deployment\n",
            ".github/workflows/deployment.yaml": "kind: Deployment\n",
        },
    )
    workloads = _inventory(repo)
    assert _environments(workloads) == {"deploy/web": {"web"}, "deploy/reports": {"reports"}}
    web = next(w for w in workloads if w["name"] == "web")
    assert (web["environment_name"], web["cluster"], web["deployed_by"]) == ("web", None, None)
    assert web["provenance"]["containers.web.requests.cpu"]["file"] == "deploy/web/deployment.yaml"
    reports = next(w for w in workloads if w["name"] == "reports")
    assert reports["kind"] == "CronJob" and reports["verified"] is True
    assert build_inventory(repo).problems == []  # nothing tried to build the broken file


def test_argo_applications_and_an_undeployed_plain_directory_are_both_environments(tmp_path):
    repo = write_tree(
        tmp_path,
        {
            **KUSTOMIZE_BASE,
            "argocd/api.yaml": _application(
                "api", "apps/api/overlays/prod", cluster="eks-prod-eu1"
            ),
            "legacy/batch/job.yaml": DEPLOYMENT.format(name="batch").replace(
                "kind: Deployment", "kind: StatefulSet"
            ),
        },
    )
    inventory = build_inventory(repo)
    found = {(w.overlay, w.environment, w.name): w for w in inventory.workloads}
    assert set(found) == {
        ("apps/api/overlays/prod", "prod", "api"),
        ("legacy/batch", "batch", "batch"),
    }
    api = found["apps/api/overlays/prod", "prod", "api"]
    assert api.deployment.cluster == "eks-prod-eu1"
    assert api.deployment.source == "argocd/api.yaml"
    batch = found["legacy/batch", "batch", "batch"]
    assert batch.deployment.source is None and batch.namespace == "default"
    assert inventory.file_users["legacy/batch/job.yaml"] == {"legacy/batch"}
    assert inventory.problems == []


DECLARED = """\
environments:
  - path: apps/api/overlays/prod
    name: production
    cluster: eks-prod-.*
  - path: ./tools/runner/
    name: ci-runner
    namespace: ci
"""


def test_declared_environments_override_names_clusters_and_namespaces(tmp_path):
    repo = write_tree(
        tmp_path,
        {
            **KUSTOMIZE_BASE,
            "argocd/api.yaml": _application("api", "apps/api/overlays/prod", cluster="eks-a"),
            "tools/runner/deployment.yaml": DEPLOYMENT.format(name="runner"),
            ".rightsizer.yaml": DECLARED,
        },
    )
    workloads = {w["name"]: w for w in _inventory(repo)}
    api, runner = workloads["api"], workloads["runner"]
    assert (api["environment"], api["environment_name"]) == ("apps/api/overlays/prod", "production")
    assert api["cluster"] == "eks-prod-.*" and api["deployed_by"] == "argocd/api.yaml"
    assert (runner["environment"], runner["environment_name"]) == ("tools/runner", "ci-runner")
    assert runner["namespace"] == "ci" and runner["deployed_by"] == ".rightsizer.yaml:5"


@pytest.mark.parametrize(
    ("entries", "where", "problem"),
    [
        ("  - path: apps\n    clusters: eks\n", ":3", "unknown key 'environments.0.clusters'"),
        ("  - name: prod\n", ":2", "environments.0: 'path' is a required property"),
        ("  - apps\n", ":2", "environments.0: 'apps' is not of type 'object'"),
        ("  - path: apps/nowhere\n", ":2", "apps/nowhere is not a directory in the repository"),
        ("  - path: ../outside\n", ":2", "../outside leaves the repository"),
        ("  - path: apps\n    cluster: eks-(prod\n", ":3", "cluster: not a cluster name or"),
        (
            "  - path: apps\n    cluster: 7\n",
            ":3",
            "environments.0.cluster: 7 is not of type 'string'",
        ),
        ("  - path: apps\n  - path: ./apps\n", ":3", "apps is declared twice (first at line 2)"),
    ],
)
def test_a_bad_declaration_is_named_by_file_and_line(tmp_path, entries, where, problem):
    (tmp_path / "apps").mkdir()
    (tmp_path / ".rightsizer.yaml").write_text("environments:\n" + entries)
    with pytest.raises(InputError) as error:
        load_config(tmp_path)
    assert error.value.where == f".rightsizer.yaml{where}"
    assert problem in error.value.problem


def test_a_bad_declaration_stops_the_inventory_on_one_line(tmp_path):
    repo = write_tree(
        tmp_path,
        {
            "deploy/web/deployment.yaml": DEPLOYMENT.format(name="web"),
            ".rightsizer.yaml": "base_branch: main\nenvironments:\n  - path: deploy/webb\n",
        },
    )
    result = rightsizer("inventory", "--repo", repo)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: .rightsizer.yaml:3: path: deploy/webb is not a directory in the repository"
    ]


APPLICATION_SETS = {
    **KUSTOMIZE_BASE,
    "apps/legacy/base/kustomization.yaml": "resources:\n- deployment.yaml\n",
    "apps/legacy/base/deployment.yaml": DEPLOYMENT.format(name="legacy"),
    "apps/legacy/overlays/prod/kustomization.yaml": "resources:\n- ../../base\n",
    "web/prod/deployment.yaml": DEPLOYMENT.format(name="web"),
    "argocd/apps.yaml": """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: prod-apps
spec:
  generators:
  - git:
      repoURL: https://git.example.com/infra.git
      revision: HEAD
      directories:
      - path: apps/legacy/overlays/prod
        exclude: true
      - path: apps/*/overlays/prod
  template:
    metadata:
      name: '{{path[1]}}'
    spec:
      source:
        repoURL: https://git.example.com/infra.git
        path: '{{path}}'
      destination:
        name: eks-prod-eu1
        namespace: '{{path[1]}}'
""",
    "argocd/web.yaml": """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: web
spec:
  goTemplate: true
  generators:
  - list:
      elements:
      - cluster: eks-prod-eu1
        values: {env: prod}
      - cluster: eks-prod-us1
        values: {env: prod}
  template:
    metadata:
      name: 'web-{{.cluster}}'
    spec:
      source:
        repoURL: https://git.example.com/infra.git
        path: 'web/{{.values.env}}'
      destination:
        name: '{{.cluster}}'
        namespace: web
""",
}


def test_application_set_exclude_list_generator_and_one_path_on_two_clusters(tmp_path):
    inventory = build_inventory(write_tree(tmp_path, APPLICATION_SETS))
    found = {w.overlay: w for w in inventory.workloads}
    # The exclude entry removes what the include glob matched, and the excluded overlay
    # is not picked up again as an undeployed kustomization.
    assert set(found) == {"apps/api/overlays/prod", "web/prod"}
    api = found["apps/api/overlays/prod"]
    assert (api.deployment.cluster, api.namespace) == ("eks-prod-eu1", "api")
    web = found["web/prod"]
    assert web.deployment.clusters == ("eks-prod-eu1", "eks-prod-us1")
    assert web.deployment.cluster == "eks-prod-eu1"
    assert (web.environment, web.namespace) == ("prod", "web")
    assert inventory.problems == []


def test_usage_from_either_cluster_of_a_path_is_combined_by_the_busier(tmp_path):
    frame = pd.DataFrame(
        [
            (pd.Timestamp("2026-11-01T00:00Z"), cluster, "web", "Deployment", "web", "web",
             "cpu_cores", value)
            for cluster, value in (("eks-prod-eu1", 0.2), ("eks-prod-us1", 0.5), ("other", 9.0))
        ],
        columns=["timestamp", "environment", "namespace", "kind", "workload", "container",
                 "metric", "value"],
    )  # fmt: skip
    table = UsageTable([Usage(frame, "test", "long", len(frame))])
    key = WorkloadKey("prod", "web", "Deployment", "web")
    assert table.for_workload(key) is None  # neither its name nor a cluster it knows
    both = ("eks-prod-eu1", "eks-prod-us1")
    assert table.for_workload(key, both).cpu["web"].max() == 0.5
    assert table.for_workload(key, (), ["eks-prod-.*"]).cpu["web"].max() == 0.5
    assert table.matches(key, (), ["eks-prod"]) == []  # a pattern matches in full


def test_unreadable_sources_are_problems_of_their_environment(tmp_path):
    repo = write_tree(
        tmp_path,
        {
            **KUSTOMIZE_BASE,
            "argocd/api.yaml": _application("api", "apps/api/overlays/prod"),
            "argocd/cmp.yaml": _application(
                "cmp", "tools/cmp", "    plugin:\n      name: argocd-vault-plugin\n"
            ),
            "tools/cmp/deployment.yaml": DEPLOYMENT.format(name="vaulted"),
            "argocd/jsonnet.yaml": _application(
                "jsonnet", "tools/jsonnet", "    directory:\n      jsonnet:\n        tlas: []\n"
            ),
            "tools/jsonnet/deployment.yaml": DEPLOYMENT.format(name="generated"),
        },
    )
    result = rightsizer("inventory", "--repo", repo)
    assert result.returncode == 0, result.stderr
    output = " ".join(result.stdout.split())
    assert (
        "argocd/cmp.yaml: Application cmp uses a config-management plugin; not read "
        "(environment tools/cmp)"
    ) in output
    assert "argocd/jsonnet.yaml: Application jsonnet uses Jsonnet (directory.jsonnet)" in output
    # Neither directory is read as plain manifests behind the plugin's back.
    assert _environments(_inventory(repo)) == {"apps/api/overlays/prod": {"api"}}


HEADER = "timestamp,environment,namespace,kind,workload,container,metric,value\n"


def _usage(path: Path, *series: tuple[str, str, str, str], days: int = 10) -> Path:
    """Hourly CPU and memory of each (environment, namespace, workload, container)."""
    stamps = pd.date_range("2026-11-01", periods=days * 24, freq="h", tz="UTC")
    lines = [HEADER]
    for environment, namespace, workload, container in series:
        for index, stamp in enumerate(stamps):
            when = f"{stamp:%Y-%m-%dT%H:%M:%SZ}"
            key = f"{environment},{namespace},Deployment,{workload},{container}"
            lines.append(f"{when},{key},cpu_cores,{0.03 + 0.01 * (index % 5)}\n")
            lines.append(f"{when},{key},memory_bytes,{80e6 + 1e6 * (index % 7)}\n")
    path.write_text("".join(lines))
    return path


def _plan(repo: Path, usage: Path, *extra: str):
    return rightsizer("plan", "--repo", repo, "--utilisation", usage, *extra)


def test_usage_named_by_cluster_matches_through_argo_destinations_and_declared_patterns(
    tmp_path,
):
    source = write_tree(
        tmp_path / "source",
        {
            **APPLICATION_SETS,
            "ops/worker/deployment.yaml": DEPLOYMENT.format(name="worker"),
            ".rightsizer.yaml": "environments:\n  - path: ops/worker\n    cluster: eks-ops-.*\n",
        },
    )
    repo = make_repo(source, tmp_path / "repo")
    usage = _usage(
        tmp_path / "usage.csv",
        ("eks-prod-eu1", "api", "api", "api"),  # an ApplicationSet's destination name
        ("eks-prod-us1", "web", "web", "web"),  # the second cluster of one path
        ("eks-ops-us2", "default", "worker", "worker"),  # a declared cluster pattern
    )
    result = _plan(repo, usage, "--format", "json")
    assert result.returncode == 0, result.stderr
    planned = {(row["environment"], row["name"]) for row in json.loads(result.stdout)}
    assert planned == {
        ("apps/api/overlays/prod", "api"),
        ("web/prod", "web"),
        ("ops/worker", "worker"),
    }
    assert "matches no workload" not in result.stderr


def _checkout_repo(tmp_path: Path) -> Path:
    source = write_tree(
        tmp_path / "source",
        {
            "shop/prod/deployment.yaml": DEPLOYMENT.format(name="checkout").replace(
                "metadata:\n", "metadata:\n  namespace: shop\n"
            ),
            "shop/prod/catalog.yaml": DEPLOYMENT.format(name="catalog").replace(
                "metadata:\n", "metadata:\n  namespace: shop\n"
            ),
        },
    )
    return make_repo(source, tmp_path / "repo")


def test_usage_matching_no_workload_is_listed_with_the_closest_names(tmp_path):
    repo = _checkout_repo(tmp_path)
    usage = _usage(
        tmp_path / "usage.csv",
        ("prod", "shop", "checkout", "checkout"),
        ("prod", "shop", "chekout", "chekout"),
    )
    result = _plan(repo, usage)
    assert result.returncode == 0, result.stderr
    assert (
        "usage for prod/shop/Deployment/chekout matches no workload; closest: "
        "Deployment/checkout (prod/shop)"
    ) in result.stdout
    as_json = _plan(repo, usage, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    json.loads(as_json.stdout)  # the contract stays a plain list; the note goes to stderr
    assert "usage for prod/shop/Deployment/chekout matches no workload" in as_json.stderr


def test_a_plan_where_nothing_matches_says_why_and_exits_2(tmp_path):
    repo = _checkout_repo(tmp_path)
    usage = _usage(
        tmp_path / "usage.csv",
        ("eks-prod-eu1", "shop", "checkout", "checkout"),
        ("eks-prod-eu1", "shop", "catalogue", "catalogue"),
    )
    result = _plan(repo, usage)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "no workload matched any usage: the repository has 2 workloads in 1 environment" in line
    assert "the usage 2 series in eks-prod-eu1" in line
    assert "eks-prod-eu1/shop/Deployment/catalogue ~ Deployment/catalog (prod/shop)" in line
    assert "declare it under `environments:`" in line

    empty = make_repo(
        write_tree(tmp_path / "empty", {"README.md": "nothing here\n"}), tmp_path / "e"
    )
    result = _plan(empty, usage)
    assert result.returncode == 2
    assert "no workloads found in the repository (0 problems)" in result.stderr


def test_git_files_and_clusters_generators_in_a_matrix(tmp_path):
    repo = write_tree(
        tmp_path,
        {
            "web/prod/deployment.yaml": DEPLOYMENT.format(name="web"),
            "web/dev/deployment.yaml": DEPLOYMENT.format(name="web"),
            "config/prod.yaml": "env: prod\ncluster: {name: aks-prod}\n",
            "config/dev.yaml": "env: dev\ncluster: {name: aks-dev}\n",
            "argocd/files.yaml": """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: by-file
spec:
  generators:
  - git:
      repoURL: https://git.example.com/infra.git
      revision: HEAD
      files:
      - path: config/*.yaml
  template:
    metadata:
      name: 'web-{{env}}'
    spec:
      source:
        repoURL: https://git.example.com/infra.git
        path: 'web/{{env}}'
      destination: {name: '{{cluster.name}}', namespace: web}
""",
            "argocd/everywhere.yaml": """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: everywhere
spec:
  goTemplate: true
  generators:
  - matrix:
      generators:
      - git:
          repoURL: https://git.example.com/infra.git
          revision: HEAD
          directories:
          - path: web/prod
      - clusters: {selector: {matchLabels: {tier: edge}}}
  template:
    metadata:
      name: 'web-{{.name}}'
    spec:
      source:
        repoURL: https://git.example.com/infra.git
        path: '{{.path.path}}'
      destination: {server: '{{.server}}', namespace: web}
""",
        },
    )
    inventory = build_inventory(repo)
    clusters = {w.overlay: w.deployment.clusters for w in inventory.workloads}
    # The clusters generator's clusters are not in the repo: web/prod keeps the one the
    # files generator names, and the gap is reported rather than guessed.
    assert clusters == {"web/dev": ("aks-dev",), "web/prod": ("aks-prod",)}
    assert inventory.problems == [
        "argocd/everywhere.yaml: ApplicationSet everywhere: the parameters of its clusters "
        "generator are not in the repo; what depends on them is not known"
    ]
