"""Branches are written in one step, only over what the bot last read, never over the base."""

import pytest

from bot.config import BotIdentity
from bot.manifests.edit import FileChange
from bot.workspace import Workspace
from recommenders.errors import InputError
from tests.conftest import git

BOT = BotIdentity("Rightsizer Bot", "bot@example.com")
PATH = "applications/payments/base/deployment.yaml"


def _change(repo, old: str, new: str) -> FileChange:
    text = (repo / PATH).read_text()
    return FileChange(PATH, text, text.replace(old, new))


def test_a_commit_is_built_without_touching_the_work_tree_and_is_not_rebuilt(monorepo):
    workspace = Workspace(monorepo)
    base = workspace.base_commit("main")
    change = _change(monorepo, "cpu: 250m", "cpu: 300m")
    first = workspace.prepare_commit(base, "rightsizer/prod", [change], "Rightsize", BOT)
    assert first.previous is None and first.sha is not None
    assert git(monorepo, "status", "--porcelain") == ""
    assert "cpu: 250m" in (monorepo / PATH).read_text()
    workspace.move_branch("rightsizer/prod", first.sha, None)
    assert "cpu: 300m" in git(monorepo, "show", f"rightsizer/prod:{PATH}")
    again = workspace.prepare_commit(base, "rightsizer/prod", [change], "Rightsize", BOT)
    assert again.sha is None and again.previous == first.sha


def test_a_branch_that_moved_since_it_was_read_is_not_overwritten(monorepo):
    workspace = Workspace(monorepo)
    base = workspace.base_commit("main")
    ours = workspace.prepare_commit(
        base, "rightsizer/prod", [_change(monorepo, "cpu: 250m", "cpu: 300m")], "Ours", BOT
    )
    workspace.move_branch("rightsizer/prod", ours.sha, None)
    update = workspace.prepare_commit(
        base, "rightsizer/prod", [_change(monorepo, "cpu: 250m", "cpu: 350m")], "Update", BOT
    )
    git(monorepo, "branch", "--force", "rightsizer/prod", "main")  # a human moved it meanwhile
    human = git(monorepo, "rev-parse", "rightsizer/prod")
    with pytest.raises(InputError, match="moved while the bot was working"):
        workspace.move_branch("rightsizer/prod", update.sha, update.previous)
    assert git(monorepo, "rev-parse", "rightsizer/prod") == human


def test_the_checked_out_base_branch_is_never_moved(monorepo):
    workspace = Workspace(monorepo)
    base = workspace.base_commit("main")
    commit = workspace.prepare_commit(
        base, "main", [_change(monorepo, "cpu: 250m", "cpu: 300m")], "x", BOT
    )
    with pytest.raises(InputError, match="refusing to move the checked-out"):
        workspace.move_branch("main", commit.sha, base.hexsha)
    assert git(monorepo, "rev-parse", "main") == base.hexsha
