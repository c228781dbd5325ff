"""Rendering charts through one long-lived child process (`worker.py`) with limits.

A render costs under a millisecond inside the engine, and finding provenance takes a few
renders per chart, so one child serves a whole inventory: starting a process per render
would cost a hundred times more. Every request has a wall-clock deadline; a child that
misses it, dies or answers nonsense is killed, and the next request starts a new one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from bot.manifests.sandbox import environment, limits, offline

MEMORY_LIMIT_BYTES = 4 * 1024**3
"""Address space for the child: Go reserves generously at start, a runaway chart needs more."""
CPU_SECONDS = 300
"""CPU time for the child's whole life; each request also has a wall-clock deadline."""
DEADLINE_SECONDS = 60.0


class RenderError(Exception):
    """The chart could not be rendered at all (it does not load, the child was stopped)."""


class HelmRenderer:
    """Renders value sets of charts in a child process; use it as a context manager."""

    def __init__(self, deadline: float = DEADLINE_SECONDS) -> None:
        self.deadline = deadline
        self._process: subprocess.Popen[str] | None = None
        self._checked: set[Path] = set()
        self.renders = 0

    def __enter__(self) -> HelmRenderer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def render_many(
        self, chart: Path, value_sets: list[dict[str, Any]], name: str, namespace: str
    ) -> list[dict[str, str] | str]:
        """For each value set, {template path: rendered text}, or the template's error."""
        self._check(chart)
        answer = self._ask(
            {
                "op": "render",
                "chart": str(chart.resolve()),
                "value_sets": value_sets,
                "name": name,
                "namespace": namespace,
            }
        )
        self.renders += len(value_sets)
        return [r["manifests"] if "manifests" in r else str(r["error"]) for r in answer["results"]]

    def merge_values(self, chart: Path, values: dict[str, Any]) -> dict[str, Any]:
        """The chart's defaults with `values` over them, as an install coalesces them."""
        self._check(chart)
        request = {"op": "merge", "chart": str(chart.resolve()), "values": values}
        merged: dict[str, Any] = self._ask(request)["values"]
        return merged

    def _check(self, chart: Path) -> None:
        """Helm's loader follows symlinks and `.Files.Get` renders what they point at, so a
        chart with a link out of its own directory could put any file the bot can read (its
        App key) into a rendered manifest, and so into a PR: such a chart is refused."""
        if chart in self._checked or not chart.is_dir():
            return
        root = chart.resolve()
        for path in chart.rglob("*"):
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise RenderError(
                    f"{path.relative_to(chart)} in chart {chart.name} links outside the chart; "
                    "refusing to render it"
                )
        self._checked.add(chart)

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        process = self._child()
        assert process.stdin is not None and process.stdout is not None
        timer = threading.Timer(self.deadline, process.kill)
        timer.start()
        try:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            line = process.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        finally:
            timer.cancel()
        if not line:
            self.close()
            raise RenderError(
                f"the Helm renderer stopped (over {self.deadline:g} s, or out of memory)"
            )
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RenderError(str(answer["error"]))
        return answer

    def _child(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                offline([sys.executable, "-m", "bot.manifests.helm.worker"]),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=environment(),
                cwd="/",
                preexec_fn=limits(MEMORY_LIMIT_BYTES, CPU_SECONDS),
            )
        return self._process
