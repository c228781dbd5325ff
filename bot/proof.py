"""Proof that an edit did what it says: rebuild the inventory after it and compare.

Renovate re-extracts a file after editing it; this goes one step further and rebuilds every
environment, so an edit that leaked into another environment, or did not take, is caught
before anything is committed.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bot.manifests.edit import FileChange, ValueEdit
from bot.manifests.inventory import build_inventory
from bot.manifests.model import Inventory, Workload


class ProofFailed(Exception):
    """The edited repo does not show exactly the intended values; nothing may be committed."""


def prove(repo: Path, before: Inventory, changes: list[FileChange], edits: list[ValueEdit]) -> None:
    with tempfile.TemporaryDirectory(prefix="rightsizer-proof-") as scratch:
        copy = Path(scratch) / "repo"
        shutil.copytree(repo, copy, ignore=shutil.ignore_patterns(".git"), symlinks=True)
        for change in changes:
            target = copy / change.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(change.after.encode("utf-8"))
        after = build_inventory(copy)
    intended = {
        (e.workload.overlay, e.workload.ref, e.container, e.field): str(e.new) for e in edits
    }
    expected = _values(before.workloads)
    for key, value in intended.items():
        expected[key] = value
    actual = _values(after.workloads)
    wrong = [
        f"{' '.join(filter(None, key))}: expected {expected.get(key)!r}, got {actual.get(key)!r}"
        for key in sorted(expected.keys() | actual.keys(), key=str)
        if actual.get(key) != expected.get(key)
    ]
    if wrong:
        raise ProofFailed("; ".join(wrong))


def _values(workloads: list[Workload]) -> dict[tuple[str, str, str | None, str], str]:
    values: dict[tuple[str, str, str | None, str], str] = {}
    for workload in workloads:
        if workload.replicas is not None:
            values[(workload.overlay, workload.ref, None, "replicas")] = str(workload.replicas.raw)
        for container in workload.containers:
            for name, tracked in container.resources.items():
                values[(workload.overlay, workload.ref, container.name, name)] = str(tracked.raw)
        if workload.hpa is not None:
            for name, tracked in workload.hpa.fields.items():
                values[(workload.overlay, workload.ref, None, name)] = str(tracked.raw)
    return values
