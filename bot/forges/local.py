"""The `local` forge: the branch lives in the target repo itself and the PR is a Markdown file.

It is what `make demo` uses, and what a user runs to see a bot PR before installing the App.
"""

from __future__ import annotations

from pathlib import Path

from bot.files import write_atomically
from bot.forges.base import Outcome, PullRequestDraft
from bot.workspace import Workspace


class LocalForge:
    name = "local"

    def __init__(self, workspace: Workspace, pr_dir: Path) -> None:
        self.workspace = workspace
        self.pr_dir = pr_dir

    def ensure_branch(self, branch: str, commit: str, previous: str | None) -> None:
        self.workspace.move_branch(branch, commit, previous)

    def ensure_pull_request(self, draft: PullRequestDraft) -> tuple[Outcome, str]:
        path = self.pr_dir / f"{draft.group}.md"
        text = f"# {draft.title}\n\n<!-- branch: {draft.branch} -> {draft.base} -->\n\n{draft.body}"
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            return "unchanged", str(path)
        outcome: Outcome = "updated" if path.exists() else "created"
        write_atomically(path, text.encode("utf-8"))
        return outcome, str(path)
