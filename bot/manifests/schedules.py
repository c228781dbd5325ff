"""KEDA cron triggers the bot writes into a workload's ScaledObject (predictive pre-scaling).

The bot's triggers are named `rightsizer-prescale-<n>`: a run replaces those an earlier run
wrote and leaves every other trigger as it is, comments included, so that the scaler a team
wrote keeps scaling and the schedule stays the bot's to update. They are written only where
the ScaledObject's file is the environment's own: KEDA's `triggers` is a list a kustomize
patch would have to replace whole, so a shared base is not patched behind its other users.
Each edit is checked by parsing the result: the file must hold exactly the triggers asked
for, the others unchanged, whether or not the environment renders with kustomize.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bot.manifests.edit import FileChange
from bot.manifests.model import Inventory, Workload
from bot.manifests.yamlio import read_if_present
from bot.manifests.yamltext import replace_items
from recommenders.errors import InputError
from recommenders.prescale import Prescale

PREFIX = "rightsizer-prescale-"
TRIGGERS = ("spec", "triggers")


@dataclass(frozen=True)
class ScheduleEdit:
    """Set the bot's cron triggers of one workload's ScaledObject."""

    workload: Workload
    triggers: tuple[dict[str, Any], ...]


def keda_triggers(schedule: Prescale) -> tuple[dict[str, Any], ...]:
    """The schedule as KEDA `cron` triggers (`desiredReplicas` is a string in KEDA's API)."""
    return tuple(
        {
            "type": "cron",
            "name": f"{PREFIX}{number}",
            "metadata": {
                "timezone": schedule.timezone,
                "start": trigger.start,
                "end": trigger.end,
                "desiredReplicas": str(trigger.desired),
            },
        }
        for number, trigger in enumerate(schedule.triggers, start=1)
    )


def schedule_file_changes(
    inventory: Inventory, edits: list[ScheduleEdit], repo: Path
) -> list[FileChange]:
    texts: dict[str, str] = {}
    originals: dict[str, str | None] = {}
    for edit in edits:
        workload, scaler = edit.workload, edit.workload.hpa
        if scaler is None or scaler.kind != "ScaledObject":
            raise InputError(workload.ref, "pre-scaling triggers need a KEDA ScaledObject")
        path = scaler.origin_file
        if inventory.file_users.get(path) != {workload.overlay}:
            raise InputError(
                path, "is shared with other environments: its triggers are not rewritten"
            )
        if path not in originals:
            originals[path] = read_if_present(repo, path)
        text = texts.get(path, originals[path])
        if text is None:
            raise InputError(path, "disappeared while planning edits")
        names = tuple(dict.fromkeys((scaler.original_name or scaler.name, scaler.name)))
        after = replace_items(
            text, path, ("ScaledObject", names), TRIGGERS, PREFIX, list(edit.triggers)
        )
        _check(text, after, path, names, edit.triggers)
        texts[path] = after
    return [FileChange(path, originals[path], text) for path, text in texts.items()]


def _check(
    before: str, after: str, path: str, names: tuple[str, ...], wanted: tuple[dict, ...]
) -> None:
    old, new = _triggers(before, path, names), _triggers(after, path, names)
    theirs = [
        t for t in old if not (isinstance(t, dict) and str(t.get("name", "")).startswith(PREFIX))
    ]
    if new != [*theirs, *map(dict, wanted)]:
        raise InputError(path, "the edited triggers do not read back as written")


def _triggers(text: str, path: str, names: tuple[str, ...]) -> list[dict[str, Any]]:
    try:
        documents = list(YAML(typ="safe", pure=True).load_all(text))
    except YAMLError as exc:
        raise InputError(path, f"invalid YAML after the edit: {exc}") from exc
    for document in documents:
        if (
            isinstance(document, dict)
            and document.get("kind") == "ScaledObject"
            and (document.get("metadata") or {}).get("name") in names
        ):
            return list((document.get("spec") or {}).get("triggers") or [])
    raise InputError(path, "lost its ScaledObject in the edit")
