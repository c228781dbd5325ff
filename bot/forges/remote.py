"""The git side of a hosted forge: clone over HTTPS with the token, push with a lease.

The token never enters a URL or a command line (where `ps`, git's error messages and our logs
would show it): it travels as an `http.extraHeader` set through git's environment. A token is
asked for at every git call, so an installation token refreshed by the API client is used.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from git import Repo
from git.exc import GitCommandError

from bot.forges.base import ForgeError
from bot.workspace import Workspace


@dataclass(frozen=True)
class GitCredentials:
    username: str
    password: str

    def environment(self) -> dict[str, str]:
        pair = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {pair}",
        }


Credentials = Callable[[], GitCredentials]


class RemoteBranches:
    """Branches on the forge, mirrored into a local clone whose `Workspace` builds commits."""

    def __init__(self, workspace: Workspace, credentials: Credentials) -> None:
        self.workspace = workspace
        self.credentials = credentials

    @classmethod
    def clone(cls, url: str, destination: Path, credentials: Credentials) -> RemoteBranches:
        """A fresh clone of `url` at `destination` (which must not exist yet)."""
        if destination.exists():
            shutil.rmtree(destination)
        try:
            Repo.clone_from(
                url, destination, env=credentials().environment(), multi_options=["--quiet"]
            )
        except GitCommandError as exc:
            raise ForgeError(f"git clone {url}", _said(exc)) from exc
        return cls(Workspace(destination), credentials)

    def check_out(self, branch: str) -> None:
        """Make `branch` the checked-out one, at the forge's tip, for the bot to read."""
        repo = self.workspace.repo
        if repo.head.is_detached or repo.head.ref.name != branch:
            try:
                repo.git.checkout("--quiet", "-B", branch, f"origin/{branch}")
            except GitCommandError as exc:
                raise ForgeError(f"git checkout {branch}", _said(exc)) from exc

    def fetch_bot_branches(self, prefix: str) -> None:
        """Local heads for the bot's branches as the forge has them now, so a commit is
        compared with what is really there and the push lease names what was read."""
        repo = self.workspace.repo
        for ref in list(repo.references):
            if ref.path.startswith(f"refs/heads/{prefix}"):
                repo.git.update_ref("-d", ref.path)
        spec = f"+refs/heads/{prefix}*:refs/heads/{prefix}*"
        self._git("fetch", "--quiet", "--no-tags", "origin", spec)

    def push(self, branch: str, commit: str, previous: str | None) -> None:
        """Point the forge's `branch` at `commit` only if it still is at `previous` (absent:
        None); a branch that moved since it was read is left alone."""
        lease = f"--force-with-lease=refs/heads/{branch}:{previous or ''}"
        try:
            self._git("push", "--porcelain", lease, "origin", f"{commit}:refs/heads/{branch}")
        except ForgeError as exc:
            if "stale info" in exc.problem or "rejected" in exc.problem:
                raise ForgeError(
                    f"push {branch}", "it moved while the bot was working; nothing was written"
                ) from exc
            raise
        self.workspace.repo.git.update_ref(f"refs/heads/{branch}", commit)

    def _git(self, *args: str) -> str:
        repo = self.workspace.repo
        try:
            with repo.git.custom_environment(**self.credentials().environment()):
                return str(repo.git.execute(["git", *args]))
        except GitCommandError as exc:
            raise ForgeError(f"git {args[0]}", _said(exc)) from exc


def _said(exc: GitCommandError) -> str:
    """What git said, on both streams: `push --porcelain` reports a rejected ref (`stale
    info`, a lost lease) on stdout and only "failed to push some refs" on stderr."""
    text = "\n".join(
        part if isinstance(part, str) else str(part or "") for part in (exc.stdout, exc.stderr)
    )
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(line.removeprefix("stderr: ").strip("'") for line in lines) or str(exc.status)
