"""Which PR each change goes to, and the branches the bot refuses to push to."""

from __future__ import annotations

import re

import pytest

from tests.conftest import COST, git, rightsizer
from tests.forge_story import run_local, small_monorepo, usage

pytestmark = pytest.mark.slow

PREVIEW = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: checkout-preview
  namespace: argocd
spec:
  project: platform
  source:
    repoURL: https://github.com/acme/infra.git
    targetRevision: rightsizer/prod
    path: applications/checkout/overlays/prod
  destination:
    server: https://kubernetes.default.svc
    namespace: checkout-preview
"""


def _commit(repo, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "Set up")


def test_group_by_team_follows_codeowners(tmp_path):
    repo = small_monorepo(tmp_path / "infra")
    config = (repo / ".rightsizer.yaml").read_text()
    _commit(
        repo,
        {
            ".rightsizer.yaml": config.replace("group_by: environment", "group_by: team"),
            ".github/CODEOWNERS": "* @acme/platform\napplications/checkout/ @acme/payments\n",
        },
    )
    result = rightsizer(
        "plan", "--repo", repo, "--utilisation", usage(tmp_path / "u.csv"), "--cost", COST,
        "--format", "markdown",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    titles = re.findall(r"^# Rightsize (\S+):", result.stdout, re.M)
    assert titles == ["payments", "platform"]
    payments = result.stdout.split("# Rightsize platform:")[0]
    assert "Deployment/checkout" in payments and "Deployment/catalog in" not in payments


def test_a_branch_a_gitops_controller_deploys_from_is_never_pushed(tmp_path):
    repo = small_monorepo(tmp_path / "infra")
    _commit(repo, {"argocd/applications/checkout-preview.yaml": PREVIEW})
    result = run_local(repo, tmp_path)
    assert result.returncode == 2
    assert (
        "branch rightsizer/prod: refusing to push: it is deployed from by "
        "argocd/applications/checkout-preview.yaml"
    ) in result.stderr
    assert git(repo, "branch", "--list", "rightsizer/*") == ""
    assert not (tmp_path / "prs").exists()
