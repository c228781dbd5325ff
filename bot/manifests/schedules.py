"""KEDA cron triggers the bot writes into a workload's ScaledObject (predictive pre-scaling).

The bot's triggers are named `rightsizer-prescale-<n>`: a run replaces those an earlier run
wrote and leaves every other trigger as it is, comments included, so that the scaler a team
wrote keeps scaling and the schedule stays the bot's to update. They are written only where
the ScaledObject's file is the environment's own: KEDA's `triggers` is a list a kustomize
patch would have to replace whole, so a shared base is not patched behind its other users.
Each edit is checked by parsing the result: the file must hold exactly the triggers asked
for, the others unchanged, whether or not the environment renders with kustomize.

A workload scaled by an HorizontalPodAutoscaler, where the policy allows it, gets a
ScaledObject of its own in its kustomize overlay instead, which takes the HPA over: KEDA
adopts the HPA by name (`transfer-hpa-ownership`), the overlay deletes the HPA's manifest
(a `$patch: delete`; two autoscalers on one target fight), and the HPA's CPU target and
bounds become the ScaledObject's, so only the cron triggers change how it scales.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bot.manifests.edit import Drafts, FileChange, add_patch_entry, add_resource_entry
from bot.manifests.kustomization import KUSTOMIZATION_NAMES
from bot.manifests.model import Inventory, Workload
from bot.manifests.render import field_path
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
    takeover: bool = False
    """The workload has an HPA: a ScaledObject created in its overlay takes it over."""


def takeover_files(workload: Workload) -> tuple[str, str]:
    """The ScaledObject a takeover creates, and the patch that deletes the HPA."""
    assert workload.hpa is not None
    name = workload.hpa.original_name or workload.hpa.name
    base = f"{workload.overlay}/rightsizer-keda-{name}"
    return f"{base}.yaml", f"{base}-delete-hpa.yaml"


def takes_over(workload: Workload) -> bool:
    """Whether a schedule for this workload means a ScaledObject taking its HPA over."""
    return workload.hpa is not None and workload.hpa.kind != "ScaledObject"


def schedule_problem(
    inventory: Inventory, workload: Workload, repo: Path, takeover: bool
) -> str | None:
    """Why the workload's schedule cannot be written, as a clause ("has ..."); None when it
    can. A ScaledObject's file must be the environment's own (see the module's notes)."""
    if workload.helm is not None:
        return "is rendered by Helm: its autoscaler comes from a chart's template"
    if takeover:
        return takeover_problem(inventory, workload, repo)
    scaler = workload.hpa
    if scaler is None or scaler.kind != "ScaledObject":
        return "has no KEDA ScaledObject"
    if inventory.file_users.get(scaler.origin_file) != {workload.overlay}:
        return f"has its ScaledObject in {scaler.origin_file}, which other environments share"
    return None


def takeover_problem(inventory: Inventory, workload: Workload, repo: Path) -> str | None:
    """Why KEDA cannot take this workload's HPA over as it is; None when it can. What the
    ScaledObject carries over is the HPA's CPU target and bounds only, so an HPA with more
    (other metrics, a `behavior`) is left as it is rather than changed behind a reviewer's
    back; kustomize does not rename a ScaledObject's `scaleTargetRef`, so neither is an
    overlay with a name prefix or suffix; KEDA's default minimum is 0, so an HPA must say
    its own."""
    hpa = workload.hpa
    if hpa is None or hpa.kind != "HorizontalPodAutoscaler":
        return "has no HorizontalPodAutoscaler to take over"
    if not any(read_if_present(repo, f"{workload.overlay}/{n}") for n in KUSTOMIZATION_NAMES):
        return "is in no kustomize overlay to create a ScaledObject in"
    if workload.name != (workload.original_name or workload.name) or hpa.name != (
        hpa.original_name or hpa.name
    ):
        return "is renamed by its overlay (a name prefix or suffix)"
    if any(
        f not in hpa.fields for f in ("hpa.minReplicas", "hpa.maxReplicas", "hpa.cpuUtilization")
    ):
        return "has an HPA without minReplicas, maxReplicas or a CPU utilisation target"
    rendered = inventory.renders.get(workload.environment_id)
    at = field_path(rendered, workload, "hpa.minReplicas", None) if rendered else None
    if rendered is None or at is None:
        return "has no render to read its HPA from"
    spec = (rendered.objects.get(at[0]) or {}).get("spec") or {}
    if spec.get("behavior") or len(spec.get("metrics") or []) > 1:
        return "has an HPA with more than a CPU target (other metrics or a behavior)"
    if any(read_if_present(repo, path) is not None for path in takeover_files(workload)):
        return f"has {takeover_files(workload)[0]} already"
    return None


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
    drafts = Drafts(repo)
    current, texts = drafts.current, drafts.texts
    for edit in edits:
        workload, scaler = edit.workload, edit.workload.hpa
        problem = schedule_problem(inventory, workload, repo, edit.takeover)
        if problem is not None or scaler is None:
            raise InputError(workload.ref, problem or "has no autoscaler")
        if edit.takeover:
            _take_over(edit, current, texts)
            continue
        path = scaler.origin_file
        text = current(path)
        if text is None:
            raise InputError(path, "disappeared while planning edits")
        names = tuple(dict.fromkeys((scaler.original_name or scaler.name, scaler.name)))
        ours = [t for t in _triggers(text, path, names) if _bot_item(t)]
        if ours == list(map(dict, edit.triggers)):
            continue  # already as wanted, however its strings are quoted
        after = replace_items(
            text, path, ("ScaledObject", names), TRIGGERS, PREFIX, list(edit.triggers)
        )
        _check(text, after, path, names, edit.triggers)
        texts[path] = after
    return drafts.changes()


def _take_over(
    edit: ScheduleEdit, current: Callable[[str], str | None], texts: dict[str, str]
) -> None:
    workload, hpa = edit.workload, edit.workload.hpa
    assert hpa is not None
    # `schedule_problem` found the overlay's kustomization, the HPA's bounds and CPU target.
    kustomization = next(
        f"{workload.overlay}/{name}"
        for name in KUSTOMIZATION_NAMES
        if current(f"{workload.overlay}/{name}") is not None
    )
    target, low = hpa.fields["hpa.cpuUtilization"], hpa.fields["hpa.minReplicas"]
    scaler_file, delete_file = takeover_files(workload)
    cpu = {"type": "cpu", "metricType": "Utilization", "metadata": {"value": str(target.raw)}}
    document = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {
            "name": hpa.original_name or hpa.name,
            **({"namespace": workload.patch_namespace} if workload.patch_namespace else {}),
            "annotations": {"scaledobject.keda.sh/transfer-hpa-ownership": "true"},
        },
        "spec": {
            "scaleTargetRef": {
                "apiVersion": workload.api_version,
                "kind": workload.kind,
                "name": workload.name,
            },
            "minReplicaCount": int(low.raw),
            "maxReplicaCount": int(hpa.fields["hpa.maxReplicas"].raw),
            "advanced": {"horizontalPodAutoscalerConfig": {"name": hpa.name}},
            "triggers": [cpu, *edit.triggers],
        },
    }
    header = (
        f"# Created by Rightsizer for pre-scaling: takes over the HorizontalPodAutoscaler "
        f"{hpa.name},\n# which {delete_file.rsplit('/', 1)[1]} deletes from this overlay.\n"
    )
    texts[scaler_file] = header + dump_yaml(document)
    metadata = {"name": hpa.original_name or hpa.name}
    if workload.patch_namespace:  # the HPA's, as a patch in this overlay must name it
        metadata["namespace"] = workload.patch_namespace
    texts[delete_file] = dump_yaml(
        {
            "apiVersion": hpa.api_version,
            "kind": "HorizontalPodAutoscaler",
            "metadata": metadata,
            "$patch": "delete",
        }
    )
    text = current(kustomization)
    assert text is not None
    text = add_resource_entry(text, scaler_file.rsplit("/", 1)[1], kustomization)
    # Last: a patch of the HPA the overlay already has (the bot's own rightsizing, say)
    # must find it before this one deletes it.
    texts[kustomization] = add_patch_entry(
        text, delete_file.rsplit("/", 1)[1], kustomization, last=True
    )


def dump_yaml(document: dict[str, Any]) -> str:
    """Block YAML in the manifests' usual style (two spaces, lists indented under keys)."""
    out = io.StringIO()
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.dump(document, out)
    return out.getvalue()


def _check(
    before: str, after: str, path: str, names: tuple[str, ...], wanted: tuple[dict, ...]
) -> None:
    old, new = _triggers(before, path, names), _triggers(after, path, names)
    theirs = [t for t in old if not _bot_item(t)]
    if new != [*theirs, *map(dict, wanted)]:
        raise InputError(path, "the edited triggers do not read back as written")


def _bot_item(trigger: object) -> bool:
    return isinstance(trigger, dict) and str(trigger.get("name", "")).startswith(PREFIX)


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
