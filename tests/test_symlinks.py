"""Symlinks in a repository: an edit lands at the link's target and the link stays a link;
settings are never read through a link that leaves the repository."""

from __future__ import annotations

import os

import pytest

from tests.conftest import git
from tests.forge_story import run_local, small_monorepo

pytestmark = pytest.mark.slow

PROD = "applications/checkout/overlays/prod"


def _commit_and_run(repo, tmp_path, message: str):
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)
    return run_local(repo, tmp_path)


def test_a_symlinked_patch_is_edited_at_its_target_and_stays_a_link(tmp_path):
    repo = small_monorepo(tmp_path / "infra")
    link = repo / PROD / "resources-patch.yaml"
    (repo / PROD / "patches").mkdir()
    link.rename(repo / PROD / "patches" / "resources.yaml")
    os.symlink("patches/resources.yaml", link)
    result = _commit_and_run(repo, tmp_path, "Patches in their own directory")
    assert result.returncode == 0, result.stderr
    changed = git(repo, "diff", "--name-only", "main", "rightsizer/prod").split()
    assert f"{PROD}/patches/resources.yaml" in changed
    assert f"{PROD}/resources-patch.yaml" not in changed
    mode, kind, *_ = git(repo, "ls-tree", "rightsizer/prod", f"{PROD}/resources-patch.yaml").split()
    assert (mode, kind) == ("120000", "blob")  # still a symlink on the branch


def test_settings_behind_a_link_out_of_the_repository_are_refused(tmp_path):
    repo = small_monorepo(tmp_path / "infra")
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text((repo / ".rightsizer.yaml").read_text())
    (repo / ".rightsizer.yaml").unlink()
    os.symlink(outside, repo / ".rightsizer.yaml")
    result = _commit_and_run(repo, tmp_path, "Settings from elsewhere")
    assert result.returncode == 2
    assert ".rightsizer.yaml: points outside the repository; refusing to read it" in result.stderr
    assert "Traceback" not in result.stderr
    assert git(repo, "branch", "--list", "rightsizer/*") == ""
