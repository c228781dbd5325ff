"""Environments come from the Argo CD and Flux objects in the repo when it has any."""

from bot.manifests.inventory import build_inventory
from tests.conftest import DEPLOYMENT, write_tree


def test_argo_application_set_git_directories_generator(tmp_path):
    repo = write_tree(
        tmp_path,
        {
            "apps/api/base/kustomization.yaml": "resources:\n- deployment.yaml\n",
            "apps/api/base/deployment.yaml": DEPLOYMENT.format(name="api"),
            "apps/api/overlays/prod/kustomization.yaml": "resources:\n- ../../base\n",
            "apps/api/overlays/dev/kustomization.yaml": "resources:\n- ../../base\n",
            "argocd/appset.yaml": """\
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
      - path: apps/*/overlays/prod
  template:
    metadata:
      name: '{{path.basename}}'
    spec:
      source:
        path: '{{path}}'
      destination:
        server: https://prod.example.com
        namespace: 'shop-{{path.basename}}'
""",
        },
    )
    inventory = build_inventory(repo)
    (workload,) = inventory.workloads  # dev is not deployed by anything
    assert workload.overlay == "apps/api/overlays/prod"
    assert workload.deployment.cluster == "https://prod.example.com"
    assert workload.deployment.source == "argocd/appset.yaml"
    assert workload.namespace == "shop-prod"  # the destination's, as Argo CD applies it


def test_flux_kustomization_and_a_plain_manifest_directory(tmp_path):
    repo = write_tree(
        tmp_path,
        {
            "clusters/prod/api.yaml": """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: api
  namespace: flux-system
spec:
  path: ./deploy/prod
  targetNamespace: api
  sourceRef: {kind: GitRepository, name: infra}
""",
            "deploy/prod/deployment.yaml": DEPLOYMENT.format(name="api"),
        },
    )
    inventory = build_inventory(repo)
    (workload,) = inventory.workloads
    assert (workload.overlay, workload.environment, workload.namespace) == (
        "deploy/prod",
        "prod",
        "api",
    )
    assert workload.replicas.origin.file == "deploy/prod/deployment.yaml"
    assert inventory.file_users["deploy/prod/deployment.yaml"] == {"deploy/prod"}


def test_a_flux_path_outside_this_repo_leaves_top_level_kustomizations_as_environments(tmp_path):
    """The Flux example's layout: the cluster's Kustomization syncs `./production` of another
    artifact, so what it deploys cannot be known here; the top-level kustomization that
    nothing in the repo reads is an environment, named by its path."""
    repo = write_tree(
        tmp_path,
        {
            "apps/base/kustomization.yaml": "resources:\n- deployment.yaml\n",
            "apps/base/deployment.yaml": DEPLOYMENT.format(name="api"),
            "apps/production/kustomization.yaml": "resources:\n- ../base\n",
            "infrastructure/kustomization.yaml": "resources:\n- deployment.yaml\n",
            "infrastructure/deployment.yaml": DEPLOYMENT.format(name="ingress"),
            "clusters/production/apps.yaml": """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
spec:
  path: ./production
  sourceRef:
    kind: ExternalArtifact
    name: apps
""",
            "clusters/production/infrastructure.yaml": """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infrastructure
spec:
  path: ./infrastructure
  sourceRef:
    kind: GitRepository
    name: flux-system
""",
        },
    )
    inventory = build_inventory(repo)
    assert sorted((w.overlay, w.name) for w in inventory.workloads) == [
        ("apps/production", "api"),
        ("infrastructure", "ingress"),
    ]
