"""Branches are written in one step, only over what the bot last read, never over the base."""

import os

import pytest

from bot.config import BotIdentity
from bot.manifests.edit import FileChange
from bot.workspace import Workspace, committed_path
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


def _bot_branch(monorepo, workspace: Workspace) -> str:
    base = workspace.base_commit("main")
    ours = workspace.prepare_commit(
        base, "rightsizer/prod", [_change(monorepo, "cpu: 250m", "cpu: 300m")], "Ours", BOT
    )
    workspace.move_branch("rightsizer/prod", ours.sha, None)
    return ours.sha


def _human_commit_on_main(monorepo, old: str, new: str) -> None:
    (monorepo / PATH).write_text((monorepo / PATH).read_text().replace(old, new, 1))
    git(monorepo, "commit", "--quiet", "-am", "A human's edit")


def test_after_main_moves_the_same_change_is_kept_while_it_merges_cleanly(monorepo):
    """No rebase for its own sake: the branch stays on the old base, so CI does not rerun."""
    workspace = Workspace(monorepo)
    ours = _bot_branch(monorepo, workspace)
    _human_commit_on_main(monorepo, "apiVersion: apps/v1", "apiVersion: apps/v1  # reviewed")
    base = workspace.base_commit("main")
    change = _change(monorepo, "cpu: 250m", "cpu: 300m")
    again = workspace.prepare_commit(base, "rightsizer/prod", [change], "Ours", BOT)
    assert again.sha is None and again.previous == ours
    # Another message alone (its subject's dollar figure moved) is no reason to push.
    reworded = workspace.prepare_commit(base, "rightsizer/prod", [change], "Ours, -$3", BOT)
    assert reworded.sha is None
    # A different value is rebuilt on the new base.
    change = _change(monorepo, "cpu: 250m", "cpu: 310m")
    other = workspace.prepare_commit(base, "rightsizer/prod", [change], "Ours", BOT)
    assert other.sha is not None and workspace.repo.commit(other.sha).parents == (base,)


def test_a_branch_that_no_longer_merges_cleanly_is_rebuilt_on_the_new_base(monorepo):
    workspace = Workspace(monorepo)
    ours = _bot_branch(monorepo, workspace)
    _human_commit_on_main(monorepo, "cpu: 250m", "cpu: 250m  # sized by hand")
    base = workspace.base_commit("main")
    assert workspace.merged_tree(base, workspace.repo.commit(ours)) is None
    change = _change(monorepo, "cpu: 250m  # sized by hand", "cpu: 300m  # sized by hand")
    rebuilt = workspace.prepare_commit(base, "rightsizer/prod", [change], "Ours", BOT)
    assert rebuilt.sha is not None and rebuilt.previous == ours
    assert workspace.repo.commit(rebuilt.sha).parents == (base,)


def test_commits_by_anyone_but_the_bot_are_found_on_its_branch(monorepo):
    workspace = Workspace(monorepo)
    ours = _bot_branch(monorepo, workspace)
    base = workspace.base_commit("main")
    assert workspace.foreign_commits(ours, base, BOT) == []
    git(monorepo, "checkout", "--quiet", "rightsizer/prod")
    (monorepo / "NOTES.md").write_text("Reviewed.\n")
    git(monorepo, "add", "NOTES.md")
    git(monorepo, "commit", "--quiet", "-m", "Reviewer's note")
    head = git(monorepo, "rev-parse", "HEAD")
    git(monorepo, "checkout", "--quiet", "main")
    (found,) = workspace.foreign_commits(head, base, BOT)
    assert found.hexsha == head


def test_a_commit_writes_through_links_and_refuses_one_out_of_the_repository(tmp_path):
    repo = tmp_path / "repo"
    (repo / "real").mkdir(parents=True)
    (repo / "real" / "a.yaml").write_text("a: 1\n")
    os.symlink("real", repo / "dir")  # a linked directory
    os.symlink("dir/a.yaml", repo / "b.yaml")  # a link to a path through a link
    os.symlink("/etc/passwd", repo / "abs.yaml")
    os.symlink("../../outside.yaml", repo / "real" / "up.yaml")
    git(tmp_path, "init", "--quiet", "-b", "main", str(repo))
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "links")
    tree = Workspace(repo).repo.head.commit.tree
    assert committed_path(tree, "b.yaml") == "real/a.yaml"
    assert committed_path(tree, "dir/a.yaml") == "real/a.yaml"
    assert committed_path(tree, "dir/new.yaml") == "real/new.yaml"
    assert committed_path(tree, "real/a.yaml") == "real/a.yaml"
    for link, target in (("abs.yaml", "/etc/passwd"), ("real/up.yaml", "../../outside.yaml")):
        with pytest.raises(InputError) as error:
            committed_path(tree, link)
        assert str(error.value) == (
            f"{link}: is a link to {target!r}, outside the repository; refused"
        )
