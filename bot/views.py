"""How `plan` shows its answer: in which format, to which file, and which rows.

A view is part of what a kept answer is keyed by (bot/plan_cache.py): the same plan shown
another way is another text.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from rich.console import Console

from bot.files import write_atomically
from bot.manifests.model import Workload
from bot.planner import PlannedChange
from recommenders.errors import InputError


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    yaml = "yaml"
    markdown = "markdown"
    html = "html"


FILE_WIDTH = 100
"""The width of a table written to a file: what a reader's terminal or editor shows."""


@dataclass(frozen=True)
class Only:
    """The rows `plan` shows: each list, when given, must name the row's value."""

    namespaces: list[str]
    workloads: list[str]
    environments: list[str]

    def keeps(self, change: PlannedChange) -> bool:
        return self.keeps_workload(change.workload)

    def keeps_workload(self, workload: Workload) -> bool:
        return (
            (not self.namespaces or workload.namespace in self.namespaces)
            and (not self.workloads or bool({workload.name, workload.ref} & set(self.workloads)))
            and (not self.environments or workload.environment in self.environments)
        )

    def __bool__(self) -> bool:
        return bool(self.namespaces or self.workloads or self.environments)


@dataclass(frozen=True)
class View:
    """How `plan` shows its answer: the format, where to, and which rows."""

    format: Format
    file: Path | None
    show_skipped: bool
    only: Only

    def key(self, console: Console) -> str:
        """What the shown text depends on besides the plan, for the kept answers: `console`
        is where standard output goes."""
        terminal = self.file is None and sys.stdout.isatty()
        width = console.width if self.file is None else FILE_WIDTH
        colour = console.color_system if self.file is None else None
        shown = [self.format, terminal, width, colour, self.show_skipped]
        return json.dumps([*shown, dataclasses.asdict(self.only)])

    def write(self, text: str) -> None:
        """To standard output, or to the file whole: written beside it, then moved over it."""
        if self.file is None:
            sys.stdout.write(text)
            return
        if not self.file.parent.is_dir():  # a mistyped directory is not made up
            raise InputError(str(self.file), "cannot be written (no such directory)")
        try:
            write_atomically(self.file, text.encode("utf-8"))
        except OSError as exc:
            raise InputError(str(self.file), f"cannot be written ({exc.strerror})") from exc
