"""Pushing to a forge's git: with a lease on what the bot read, and no secret in any message."""

from __future__ import annotations

import pytest

from bot.config import BotIdentity
from bot.forges.base import ForgeError
from bot.forges.remote import GitCredentials, RemoteBranches
from bot.manifests.edit import FileChange
from tests.conftest import git

SECRET = "ghs_not-a-real-token-but-secret"
BOT = BotIdentity("Rightsizer Bot", "bot@example.com")
PATH = "applications/payments/base/deployment.yaml"


def credentials() -> GitCredentials:
    return GitCredentials("x-access-token", SECRET)


@pytest.fixture
def remote(monorepo, tmp_path):
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(monorepo), str(bare))
    return bare


def _commit(branches: RemoteBranches, cpu: str) -> str:
    workspace = branches.workspace
    text = (workspace.path / PATH).read_text()
    change = FileChange(PATH, text, text.replace("cpu: 250m", f"cpu: {cpu}"))
    base = workspace.base_commit("main")
    prepared = workspace.prepare_commit(base, "rightsizer/prod", [change], f"cpu {cpu}", BOT)
    assert prepared.sha is not None
    return prepared.sha


def test_a_push_holds_a_lease_on_the_head_the_bot_read(remote, tmp_path):
    ours = RemoteBranches.clone(str(remote), tmp_path / "ours", credentials)
    first = _commit(ours, "300m")
    ours.push("rightsizer/prod", first, None)
    assert git(remote, "rev-parse", "rightsizer/prod") == first

    # Another run (or a human) moves the branch after we read it: our push is refused.
    theirs = RemoteBranches.clone(str(remote), tmp_path / "theirs", credentials)
    theirs.fetch_bot_branches("rightsizer/")
    theirs.push("rightsizer/prod", _commit(theirs, "310m"), first)
    with pytest.raises(ForgeError, match="moved while the bot was working; nothing was written"):
        ours.push("rightsizer/prod", _commit(ours, "320m"), first)
    with pytest.raises(ForgeError, match="moved while the bot was working"):
        ours.push("rightsizer/prod", first, None)  # "absent", but it exists now
    assert git(remote, "log", "-1", "--format=%s", "rightsizer/prod") == "cpu 310m"


def test_git_errors_never_carry_the_token(tmp_path):
    with pytest.raises(ForgeError) as caught:
        RemoteBranches.clone("http://127.0.0.1:9/acme/infra.git", tmp_path / "x", credentials)
    assert caught.value.action == "git clone http://127.0.0.1:9/acme/infra.git"
    assert SECRET not in str(caught.value)
    assert "x-access-token" not in str(caught.value)
