"""The one error type a user's mistake raises: it names where the problem is, never a traceback.

It lives here rather than in `bot` because loaders in `recommenders` raise it too, and `bot`
may import `recommenders` but never the reverse.
"""

from __future__ import annotations

import re

_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@]+@")


def redacted(text: str) -> str:
    """`text` with credentials written into URLs (`https://user:token@host`) masked: such a
    URL may come from a setting or an answer, and an error travels to logs, PRs and the
    dashboard."""
    return _CREDENTIALS.sub(r"\1***@", text)


class InputError(Exception):
    """A problem in the user's input (repo, export, config, policy): one line, exit status 2.

    `where` is a path, optionally with `:line` or `:line:column`, so the message reads like a
    compiler's and an editor can jump to it.
    """

    def __init__(self, where: str, problem: str) -> None:
        where, problem = redacted(where), redacted(problem)
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem
