"""The two source extension points: a cost format and a utilisation format.

A format says whether a header is its own (so `--cost-format` is rarely needed) and loads a
file into the shapes of `frames`. Loaders raise `InputError` naming file, line and column for
anything a user must fix, and put what they could work around in the result's warnings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from recommenders.sources.frames import Cost, Usage


class CostFormat(Protocol):
    name: str
    """What `--cost-format` calls it, e.g. "focus" or "aws-cur"."""
    description: str

    def detect(self, columns: frozenset[str]) -> bool:
        """True when a file with these header columns (or JSON keys) is in this format."""
        ...

    def load(self, path: Path) -> Cost: ...


class UtilisationFormat(Protocol):
    name: str
    description: str

    def detect(self, columns: frozenset[str]) -> bool: ...

    def load(self, path: Path) -> Usage: ...
