"""The one error type a user's mistake raises: it names where the problem is, never a traceback.

It lives here rather than in `bot` because loaders in `recommenders` raise it too, and `bot`
may import `recommenders` but never the reverse.
"""

from __future__ import annotations


class InputError(Exception):
    """A problem in the user's input (repo, export, config, policy): one line, exit status 2.

    `where` is a path, optionally with `:line` or `:line:column`, so the message reads like a
    compiler's and an editor can jump to it.
    """

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem
