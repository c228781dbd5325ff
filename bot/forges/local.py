"""The `local` forge: the branch lives in the target repo itself and the PR is a Markdown file.

It is what `make demo` uses, and what a user runs to see a bot PR before installing the App.
A PR file is open while it exists; comments are files beside it, and the dashboard issue is
`dashboard.issue.md`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.files import write_atomically
from bot.forges.base import (
    Annotation,
    ApiBudget,
    Issue,
    Outcome,
    PullRequest,
    PullRequestDraft,
    comment_marker,
)
from bot.forges.kinds import ForgeKind
from bot.workspace import Workspace

BRANCH_LINE = "<!-- branch: {branch} -> {base} -->"
DASHBOARD_FILE = "dashboard.issue.md"
NOT_PULLS = (".comment.md", ".issue.md")


class LocalForge:
    name = "local"
    body_limit = 1_000_000

    def __init__(self, workspace: Workspace, pr_dir: Path) -> None:
        self.workspace = workspace
        self.pr_dir = pr_dir
        self.default_branch = workspace.checked_out()

    def ensure_branch(self, branch: str, commit: str, previous: str | None) -> None:
        self.workspace.move_branch(branch, commit, previous)

    def pull_requests(self, prefix: str) -> list[PullRequest]:
        found = []
        files = [p for p in sorted(self.pr_dir.glob("*.md")) if not p.name.endswith(NOT_PULLS)]
        for number, path in enumerate(files, start=1):
            text = path.read_text(encoding="utf-8")
            branch = text.partition("<!-- branch: ")[2].partition(" -> ")[0]
            if branch.startswith(prefix):
                created = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                title = text.partition("\n")[0].removeprefix("# ")
                head = self.workspace.branch_head(branch) or ""
                pull = PullRequest(
                    number, branch, "open", str(path), text, created, title=title, head=head
                )
                found.append(pull)
        return found

    def ensure_pull_request(self, draft: PullRequestDraft) -> tuple[Outcome, PullRequest]:
        path = self.pr_dir / f"{draft.group}.md"
        header = BRANCH_LINE.format(branch=draft.branch, base=draft.base)
        text = f"# {draft.title}\n\n{header}\n\n{draft.body}"
        outcome = _converge(path, text)
        created = datetime.now(UTC)
        pull = PullRequest(0, draft.branch, "open", str(path), text, created, title=draft.title)
        return outcome, pull

    def ensure_comment(self, pull: PullRequest, key: str, text: str) -> Outcome:
        path = Path(pull.url).with_suffix(f".{key}.comment.md")
        return _converge(path, f"{comment_marker(key)}\n{text}")

    def dashboard_text(self) -> str | None:
        """The file as it stands: a box ticked in it is read by the next `run`."""
        path = self.pr_dir / DASHBOARD_FILE
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def close_dashboard(self) -> bool:
        """A closed issue is a file no more, as a closed PR is."""
        path = self.pr_dir / DASHBOARD_FILE
        found = path.is_file()
        path.unlink(missing_ok=True)
        return found

    def ensure_dashboard(self, title: str, body: str) -> tuple[Outcome, Issue]:
        path = self.pr_dir / DASHBOARD_FILE
        return _converge(path, f"# {title}\n\n{body}"), Issue(0, str(path), body)

    def has_comment(self, pull: PullRequest, key: str) -> bool:
        return Path(pull.url).with_suffix(f".{key}.comment.md").is_file()

    def api_budget(self) -> ApiBudget | None:
        """None: No API."""
        return None

    def report_check(
        self,
        pull: PullRequest,
        commit: str,
        title: str,
        summary: str,
        annotations: Sequence[Annotation] = (),
    ) -> None:
        """Nothing to do: the PR file already is the summary, and there is no CI to show it."""


def _converge(path: Path, text: str) -> Outcome:
    """A PR, comment or issue file written when its text differs: a rerun that changed
    nothing touches no file."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return "unchanged"
    outcome: Outcome = "updated" if path.exists() else "created"
    write_atomically(path, text.encode("utf-8"))
    return outcome


KIND = ForgeKind("local", LocalForge)
"""Branches in the checkout itself and each PR as a Markdown file: no account needed."""
