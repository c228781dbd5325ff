"""A run reads what the base branch commits, nothing else: files that are untracked or
ignored in a local checkout are neither sized nor committed, and a detached HEAD is a
clear error before anything is written."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import git
from tests.forge_story import run_local, small_monorepo

pytestmark = pytest.mark.slow

CATALOG = "applications/catalog"


def test_untracked_and_ignored_files_are_not_read_nor_committed(tmp_path):
    repo = small_monorepo(tmp_path / "infra")
    kept = tmp_path / "catalog"
    shutil.copytree(repo / CATALOG, kept)
    git(repo, "rm", "--quiet", "-r", CATALOG)
    git(repo, "commit", "--quiet", "-m", "Catalog moves out")
    shutil.copytree(kept, repo / CATALOG)  # back in the work tree, untracked
    (repo / ".gitignore").write_text("applications/checkout/overlays/prod/local.yaml\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "--quiet", "-m", "Ignore local notes")
    (repo / "applications/checkout/overlays/prod/local.yaml").write_text("not: [yaml")

    result = run_local(repo, tmp_path)

    assert result.returncode == 0, result.stderr
    branches = git(repo, "branch", "--list", "rightsizer/*", "--format=%(refname:short)").split()
    assert branches  # checkout, which is committed, is still sized
    for branch in branches:
        changed = git(repo, "diff", "--name-only", "main", branch).split()
        assert changed and not [path for path in changed if path.startswith(CATALOG)]
    assert "catalog" not in "".join(p.read_text() for p in (tmp_path / "prs").glob("*.md"))
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""


def test_a_detached_head_is_a_clear_error_and_writes_nothing(tmp_path):
    repo = small_monorepo(tmp_path / "infra")
    git(repo, "checkout", "--quiet", "--detach", "main")

    result = run_local(repo, tmp_path)

    assert result.returncode == 2
    assert "HEAD is detached at" in result.stderr
    assert "check out the base branch, the branch the bot reads and builds on" in result.stderr
    assert "Traceback" not in result.stderr
    assert git(repo, "branch", "--list", "rightsizer/*") == ""
    assert not (tmp_path / "prs").exists() or not list((tmp_path / "prs").iterdir())
