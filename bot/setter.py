"""`rightsizer set`: change values by hand through the editor and proofs the bot uses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.files import write_atomically
from bot.manifests.edit import FileChange, Raw, ValueEdit, plan_file_changes
from bot.manifests.model import HPA_FIELDS, REPLICATED_KINDS, RESOURCE_FIELDS, Inventory, Workload
from bot.manifests.quantities import parse_cpu, parse_memory
from bot.manifests.yamlio import resolve_inside
from bot.proof import prove
from recommenders.errors import InputError

FIELDS = (*RESOURCE_FIELDS, "replicas", *HPA_FIELDS)


@dataclass(frozen=True)
class Assignment:
    field: str
    value: Raw


def parse_assignments(items: list[str]) -> list[Assignment]:
    """`requests.cpu=250m` and the like; the value is written as given, once validated."""
    assignments = []
    for item in items:
        field, sep, text = item.partition("=")
        if not sep or field not in FIELDS:
            raise InputError(item, f"expected FIELD=VALUE with FIELD one of {', '.join(FIELDS)}")
        if field.endswith(".cpu"):
            parse_cpu(text, where=item)
        elif field.endswith(".memory"):
            parse_memory(text, where=item)
        elif not text.isdigit():
            raise InputError(item, f"{field} takes a whole number")
        assignments.append(Assignment(field, text))
    return assignments


def find_workload(
    inventory: Inventory, overlay: str, ref: str, values_file: str | None = None
) -> Workload:
    """The workload `ref` (KIND/NAME) of the environment at `overlay`; where several values
    files share that directory (a chart's), `values_file` says which."""
    kind, _, name = ref.partition("/")
    found = [
        workload
        for workload in inventory.workloads
        if workload.overlay == overlay.strip("/")
        and workload.kind == kind
        and name in (workload.name, workload.original_name)
        and values_file in (None, workload.values_file)
    ]
    if len(found) == 1:
        return found[0]
    if found:
        files = ", ".join(sorted(str(w.values_file) for w in found))
        raise InputError(
            f"{overlay} {ref}",
            f"several values files deploy it; say which with --values-file: {files}",
        )
    known = sorted({w.environment_id.replace("#", " --values-file ") for w in inventory.workloads})
    raise InputError(f"{overlay} {ref}", "no such workload; environments: " + ", ".join(known))


def edits_for(
    workload: Workload, container: str | None, assignments: list[Assignment]
) -> list[ValueEdit]:
    edits = []
    for assignment in assignments:
        name = container
        if assignment.field in RESOURCE_FIELDS and name is None:
            if len(workload.containers) != 1:
                names = ", ".join(c.name for c in workload.containers)
                raise InputError(
                    workload.ref, f"has containers {names}; say which with --container"
                )
            name = workload.containers[0].name
        if assignment.field not in RESOURCE_FIELDS:
            name = None
        if name is not None and name not in (c.name for c in workload.containers):
            names = ", ".join(c.name for c in workload.containers)
            raise InputError(workload.ref, f"has no container {name!r}; it has {names}")
        tracked = workload.tracked(assignment.field, name)
        if tracked is None:
            _check_addable(workload, assignment.field)
        like = tracked.raw if tracked is not None else 0
        edits.append(ValueEdit(workload, assignment.field, name, _typed(assignment.value, like)))
    return edits


def _check_addable(workload: Workload, field: str) -> None:
    """A field the manifests leave out is added, unless the object to hold it is missing or
    something else owns it."""
    where = f"{workload.overlay} {workload.ref}"
    if field == "replicas" and workload.kind not in REPLICATED_KINDS:
        raise InputError(where, f"a {workload.kind} has no replicas")
    if field == "replicas" and workload.hpa is not None:
        raise InputError(where, f"replicas are set by {workload.hpa.kind}/{workload.hpa.name}")
    if field.startswith("hpa.") and workload.hpa is None:
        raise InputError(where, f"{field}: the workload has no autoscaler")


def _typed(text: Raw, like: Raw) -> Raw:
    """A number stays a YAML number unless the file quotes the value it replaces."""
    if isinstance(like, str) or not isinstance(text, str):
        return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def apply(repo: Path, inventory: Inventory, edits: list[ValueEdit]) -> list[FileChange]:
    """Plan, prove and write the edits into the work tree; a failed proof writes nothing."""
    if edits and edits[0].workload.unverified:
        raise InputError(edits[0].workload.overlay, edits[0].workload.unverified)

    changes = plan_file_changes(inventory, edits, repo)
    prove(repo, inventory, changes, edits)
    for change in changes:
        write_atomically(resolve_inside(repo, change.path), change.after.encode("utf-8"))
    return changes
