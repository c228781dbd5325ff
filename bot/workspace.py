"""The target repository: checks before a run, and commits built without touching its work tree.

A branch is written in one step (`update-ref` with the value it was read at), after its
commit is complete, so an interrupted run never leaves a half-written branch and a run that
raced another writer fails instead of overwriting it.
"""

from __future__ import annotations

import io
import posixpath
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from git import Actor, Blob, Commit, IndexFile, Repo, Tree
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError
from git.index.typ import BaseIndexEntry
from gitdb import IStream
from gitdb.exc import BadName

from bot.config import BotIdentity
from bot.manifests.edit import FileChange
from recommenders.errors import InputError

REGULAR_FILE = 0o100644


@dataclass(frozen=True)
class BranchCommit:
    """A commit ready to be published, or None when the branch already holds this change."""

    sha: str | None
    previous: str | None


class Workspace:
    def __init__(self, path: Path) -> None:
        if not path.is_dir():
            raise InputError(str(path), "no such directory")
        try:
            self.repo = Repo(path)
        except (InvalidGitRepositoryError, NoSuchPathError) as exc:
            raise InputError(str(path), "not a git repository") from exc
        self.path = path

    def base_commit(self, branch: str) -> Commit:
        """The tip of `branch`, which must be what is checked out, with no uncommitted edits.

        The inventory is read from the work tree while commits are built on the branch tip;
        both must be the same, or the bot would edit text it did not read.
        """
        try:
            commit = self.repo.commit(f"refs/heads/{branch}")
        except (GitCommandError, ValueError, BadName) as exc:
            raise InputError(str(self.path), f"has no branch {branch!r} to build on") from exc
        if self.checked_out(repr(branch)) != branch:
            raise InputError(str(self.path), f"check out {branch!r} first: the bot reads it")
        if self.repo.is_dirty(untracked_files=False):
            raise InputError(str(self.path), "has uncommitted changes; commit or stash them")
        return commit

    def checked_out(self, wanted: str = "the base branch") -> str:
        """The branch checked out; a detached HEAD is refused, naming the `wanted` one."""
        if self.repo.head.is_detached:
            raise InputError(
                str(self.path),
                f"HEAD is detached at {self.repo.head.commit.hexsha[:12]}; check out "
                f"{wanted}, the branch the bot reads and builds on",
            )
        return self.repo.head.ref.name

    def export(self, revision: str, destination: Path) -> Path:
        """The files `revision` commits, written to `destination`: what a run reads. Reading
        the work tree instead would take untracked and ignored files for the repository's,
        plan edits to them and commit them as new files."""
        destination.mkdir(parents=True)
        archive = subprocess.Popen(
            ["git", "-C", str(self.path), "archive", "--format=tar", revision],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stdout, stderr = archive.stdout, archive.stderr
        assert stdout is not None and stderr is not None
        try:
            with tarfile.open(fileobj=stdout, mode="r|") as tar:
                tar.extractall(destination, filter="tar")  # keeps links, refuses escaping paths
        except tarfile.TarError as exc:
            problem = str(exc)
        else:
            problem = ""
        error = stderr.read().decode("utf-8", "replace").strip()
        if archive.wait() != 0 or problem:
            raise InputError(str(self.path), f"cannot read {revision}: {error or problem}")
        return destination

    def branch_head(self, branch: str) -> str | None:
        try:
            return self.repo.git.rev_parse("--verify", "--quiet", f"refs/heads/{branch}")
        except GitCommandError:
            return None

    def prepare_commit(
        self,
        base: Commit,
        branch: str,
        changes: list[FileChange],
        message: str,
        identity: BotIdentity,
    ) -> BranchCommit:
        """A commit on `base` holding `changes`, unless `branch` already holds exactly that."""
        index = IndexFile.from_tree(self.repo, base)
        entries: dict[str, BaseIndexEntry] = {}
        for change in changes:
            path = committed_path(base.tree, change.path)
            if path in entries:
                raise InputError(change.path, f"and another edited path are both {path}")
            data = change.after.encode("utf-8")
            stream = self.repo.odb.store(IStream(Blob.type, len(data), io.BytesIO(data)))
            mode = base.tree[path].mode if change.before is not None else REGULAR_FILE
            entries[path] = BaseIndexEntry((mode, stream.binsha, 0, path))
        index.add(list(entries.values()))
        tree = index.write_tree()
        previous = self.branch_head(branch)
        if previous is not None and self._holds(self.repo.commit(previous), base, tree):
            return BranchCommit(None, previous)
        actor = Actor(identity.name, identity.email)
        commit = Commit.create_from_tree(
            self.repo,
            tree,
            message,
            parent_commits=[base],
            head=False,
            author=actor,
            committer=actor,
        )
        return BranchCommit(commit.hexsha, previous)

    def _holds(self, current: Commit, base: Commit, tree: Tree) -> bool:
        """Whether the branch's commit already is this change: the same tree on the same base,
        or, after the base moved on, a commit whose merge into the new base gives exactly the
        tree the bot would build now (same values, no conflict). Rebasing only for a new
        recommendation or a conflict pushes nothing on most reruns: no CI storm, no approvals
        dismissed, even when the commit's subject (its dollar figure) would read differently."""
        if len(current.parents) != 1:
            return False
        if current.parents[0] == base:
            return current.tree.hexsha == tree.hexsha
        return self.merged_tree(base, current) == tree.hexsha

    def merged_tree(self, base: Commit, head: Commit) -> str | None:
        """The tree that merging `head` into `base` gives, or None when they conflict."""
        try:
            out = self.repo.git.merge_tree(
                "--write-tree", "--no-messages", base.hexsha, head.hexsha
            )
        except GitCommandError as exc:
            if exc.status == 1:
                return None
            raise  # not a conflict: git too old for --write-tree (2.38), or a broken repo
        return str(out).split()[0]

    def foreign_commits(self, head: str, base: Commit, identity: BotIdentity) -> list[Commit]:
        """Commits on the bot's branch that someone else made (a fix pushed by a reviewer,
        GitHub's "Update branch" merge): the branch is theirs from then on."""
        return [
            commit
            for commit in self.repo.iter_commits(f"{base.hexsha}..{head}")
            if identity.email != commit.author.email or identity.email != commit.committer.email
        ]

    def move_branch(self, branch: str, new: str, previous: str | None) -> None:
        """Point `branch` at `new` only if it still points at `previous` (absent: None)."""
        if branch == self.repo.head.ref.name:
            raise InputError(branch, "refusing to move the checked-out (base) branch")
        try:
            self.repo.git.update_ref(f"refs/heads/{branch}", new, previous or "0" * 40)
        except GitCommandError as exc:
            raise InputError(
                f"refs/heads/{branch}", "moved while the bot was working; nothing was written"
            ) from exc


SYMLINK = 0o120000
MAX_LINKS = 40
"""Links followed in one path before giving up, as the Linux kernel does (ELOOP)."""


def committed_path(tree: Tree, path: str) -> str:
    """Where the commit must write `path`: with every symlink the committed tree holds on
    the way followed, as git stores links (a blob holding the target). The edits were read
    and proven through the links; writing the link's own path would replace the link with a
    regular file, and writing its blob would leave a link to nowhere."""
    parts, hops = path.split("/"), 0
    done: list[str] = []
    while parts:
        part = parts.pop(0)
        current = "/".join([*done, part])
        try:
            entry = tree[current]
        except KeyError:
            return "/".join([current, *parts])  # a new file (or directory) the edit creates
        if entry.mode != SYMLINK:
            done.append(part)
            continue
        hops += 1
        target = entry.data_stream.read().decode("utf-8", "replace")
        joined = posixpath.normpath(posixpath.join(*done, target) if done else target)
        if hops > MAX_LINKS or posixpath.isabs(target) or joined.split("/")[0] == "..":
            raise InputError(path, f"is a link to {target!r}, outside the repository; refused")
        parts, done = [*joined.split("/"), *parts], []
    return "/".join(done)
