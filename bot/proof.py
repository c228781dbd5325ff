"""Proofs, before and after an edit, that the bot changes exactly what it says.

Before: the resolver's idea of each effective value must match what kustomize renders, or
the workload is not edited (its provenance cannot be trusted). After: the edited repo is
rebuilt and re-rendered; the rendered difference must be exactly the intended fields of
the intended environments, and no other environment may change. Renovate re-extracts a
file after editing it; this goes as far as the objects the cluster would get.
"""

from __future__ import annotations

import difflib
import io
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from bot.manifests.edit import FileChange, ValueEdit, values_key
from bot.manifests.inventory import Discovered, build_inventory
from bot.manifests.kustomization import HELM_RELEASE
from bot.manifests.model import Inventory, Rendered, Workload
from bot.manifests.render import (
    FieldPath,
    ObjectId,
    differences,
    field_path,
    flatten,
    object_ids,
    render_all,
    value_at,
)
from bot.manifests.render_cache import RenderCache
from bot.manifests.schedules import PREFIX, TRIGGERS, ScheduleEdit
from bot.stages import stage


class ProofFailed(Exception):
    """The edited repo does not show exactly the intended values; nothing may be committed."""


def inspect(repo: Path, renders: RenderCache | None = None) -> Inventory:
    """The inventory, with every environment rendered and each workload checked against it."""
    return checked(repo, inventoried(repo, renders), renders)


def inventoried(repo: Path, renders: RenderCache | None = None) -> Inventory:
    """The inventory as the resolver reads it, not yet rendered. `renders` keeps the
    inventory too: the same files build the same one."""
    with stage("inventory"):
        inventory = renders.inventory() if renders is not None else None
        if inventory is None:
            inventory = build_inventory(repo)
            if renders is not None:
                renders.keep_inventory(inventory)
    return inventory


def checked(repo: Path, inventory: Inventory, renders: RenderCache | None = None) -> Inventory:
    """`inventory` with every environment rendered and each workload checked against it.
    Apart from `inventoried` so that a run reading its inputs meanwhile finishes reading
    first: an export's mistake is then said before the renders, not after them, and
    kustomize's processes, on both cores, left a reading beside them little to gain."""
    owners: dict[str, set[ObjectId]] = {}
    for workload in inventory.workloads:
        if workload.helm is None:
            owners.setdefault(workload.overlay, set()).update(object_ids(workload))
    ids = set(owners) | set(inventory.helm_renders)
    with stage("renders"):
        inventory.renders = render_environments(repo, inventory, ids, owners, renders)
    for workload in inventory.workloads:
        workload.unverified = _disagreement(inventory, workload)
        if workload.unverified:
            inventory.problems.append(
                f"{workload.environment_id} {workload.ref}: {workload.unverified}"
            )
    return inventory


def render_environments(
    repo: Path,
    inventory: Inventory,
    ids: set[str],
    owners: dict[str, set[ObjectId]] | None = None,
    renders: RenderCache | None = None,
) -> dict[str, Rendered]:
    """Each environment as the cluster would get it: Kustomize (or a plain directory) for
    directories, with what Helm rendered of the releases it holds (kept from the inventory)."""
    directories = {i for i in ids if i in inventory.directories}
    results = render_all(repo, directories, owners, renders)
    for identity in sorted(ids & inventory.helm_renders.keys()):
        helm = inventory.helm_renders[identity]
        before = results.get(identity, Rendered({}))
        results[identity] = Rendered(before.objects | helm.objects, before.error or helm.error)
    return results


def _disagreement(inventory: Inventory, workload: Workload) -> str | None:
    rendered = inventory.renders[workload.environment_id]
    if rendered.error is not None:
        tool = "Helm" if workload.helm else "kustomize"
        return f"{tool} cannot build it: {rendered.error}"
    for name, container, tracked in workload.fields():
        location = field_path(rendered, workload, name, container)
        value = value_at(rendered, *location) if location else None
        if str(value) != str(tracked.raw):
            where = f" ({tracked.origin})" if tracked.origin else ""
            return (
                f"{' '.join(filter(None, (container, name)))} is {tracked.raw!r}{where} to the "
                f"bot but kustomize renders {value!r}"
            )
    return None


def prove(
    repo: Path,
    before: Inventory,
    changes: list[FileChange],
    edits: list[ValueEdit],
    schedules: Sequence[ScheduleEdit] = (),
) -> list[ObjectDiff]:
    """Raise ProofFailed unless `changes` set exactly `edits` (and the cron triggers of
    `schedules`) and touch no other environment; return the rendered difference, for
    reviewers (`rendered_diff`; none when the inventory was built without renders).

    Only environments that read a changed file can change, so only they are rebuilt and
    rendered, in a scratch copy of just the directories they read, made of hard links.
    """
    affected = {e.workload.environment_id for e in edits}
    affected |= {s.workload.environment_id for s in schedules}
    for change in changes:
        affected |= before.file_users.get(change.path, set())
    if any(identity in before.helm_renders for identity in affected):
        # A release is found again from the whole repo (its chart, its values files).
        return _prove_in_copy(repo, before, changes, edits, schedules, affected, None)
    directories = set(affected)
    for file, users in before.file_users.items():
        if users & affected:
            directories.add(os.path.dirname(file) or ".")
    try:
        return _prove_in_copy(repo, before, changes, edits, schedules, affected, directories)
    except _CopyTooSmall:
        # Something kustomize reads lies outside those directories (a generator's file in
        # a sibling folder, say): prove again on a copy of the whole repo.
        return _prove_in_copy(repo, before, changes, edits, schedules, affected, None)


class _CopyTooSmall(Exception):
    pass


def _prove_in_copy(
    repo: Path,
    before: Inventory,
    changes: list[FileChange],
    edits: list[ValueEdit],
    schedules: Sequence[ScheduleEdit],
    affected: set[str],
    directories: set[str] | None,
) -> list[ObjectDiff]:
    deployments = [w.deployment for w in before.workloads if w.environment_id in affected]
    with tempfile.TemporaryDirectory(prefix="rightsizer-proof-") as scratch:
        copy = Path(scratch) / "repo"
        for directory in _outermost(directories) if directories is not None else ["."]:
            _link_tree(repo / directory, copy / directory)
        for change in changes:
            target = copy / change.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)  # a hard link: writing through it edits the original
            target.write_bytes(change.after.encode("utf-8"))
        found = sorted({d for d in deployments if d is not None}, key=lambda d: d.path)
        after = build_inventory(copy, Discovered(found) if directories is not None else None)
        if directories is not None and after.problems:
            raise _CopyTooSmall()
        _compare_inventories(
            [w for w in before.workloads if w.environment_id in affected],
            [w for w in after.workloads if w.environment_id in affected],
            edits,
        )
        if before.renders:
            old = render_environments(repo, before, affected)
            new = render_environments(copy, after, affected)
            if directories is not None and any(new[d].error and not old[d].error for d in affected):
                raise _CopyTooSmall()
            _compare_renders(old, new, edits, schedules)
            return rendered_diff(old, new)
        return []


def _outermost(directories: set[str]) -> list[str]:
    """The directories not inside another one of them (each is linked with all below it)."""
    kept: list[str] = []
    for directory in sorted(directories, key=lambda d: (d.count("/"), d)):
        if directory == "." or not any(k == "." or directory.startswith(f"{k}/") for k in kept):
            kept.append(directory)
    return ["."] if "." in kept else kept


def _link_tree(source: Path, destination: Path) -> None:
    """Hard links to every file below `source` (copies across file systems), skipping .git."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(
        source,
        destination,
        ignore=shutil.ignore_patterns(".git"),
        symlinks=True,
        copy_function=link,
        dirs_exist_ok=True,
    )


def _compare_inventories(
    before: list[Workload], after: list[Workload], edits: list[ValueEdit]
) -> None:
    expected = _values(before)
    for edit in edits:
        expected[(edit.workload.environment_id, edit.workload.ref, edit.container, edit.field)] = (
            str(edit.new)
        )
    actual = _values(after)
    wrong = [
        f"{' '.join(filter(None, key))}: expected {expected.get(key)!r}, got {actual.get(key)!r}"
        for key in sorted(expected.keys() | actual.keys(), key=str)
        if actual.get(key) != expected.get(key)
    ]
    if wrong:
        raise ProofFailed("; ".join(wrong))


def _carries_values(key: ObjectId, path: FieldPath, carriers: set[tuple[str, str]]) -> bool:
    """A change in the ConfigMap or Secret a HelmRelease's `valuesFrom` reads (renamed by a
    generator's content hash, and the reference to it with it) is how its values change."""
    if not carriers:
        return False
    if key[0] == HELM_RELEASE:
        return path[:2] == ("spec", "valuesFrom")
    return any(
        key[0] == kind and re.fullmatch(re.escape(name) + r"(-[a-z0-9]{10})?", key[2])
        for kind, name in carriers
    )


def _compare_renders(
    before: dict[str, Rendered],
    after: dict[str, Rendered],
    edits: list[ValueEdit],
    schedules: Sequence[ScheduleEdit] = (),
) -> None:
    """Both sides rendered in full, the same way, so that any other difference shows."""
    wrong = []
    for overlay, rendered in sorted(after.items()):
        old = before[overlay]
        if rendered.error is not None:
            wrong.append(f"{overlay} no longer builds: {rendered.error}")
            continue
        scheduled = _scheduled(old, overlay, schedules)
        intended = scheduled.intended
        wrong += [
            f"{overlay} {'/'.join(key)} is still there beside the ScaledObject taking it over"
            for key in scheduled.gone
            if key in rendered.objects
        ]
        means: set[FieldPath] = set()
        carriers: set[tuple[str, str]] = set()
        for edit in edits:
            if edit.workload.environment_id == overlay:
                location = field_path(old, edit.workload, edit.field, edit.container)
                if location is not None:
                    intended[location] = str(edit.new)
                if edit.workload.helm is not None:
                    means.add(("spec", "values", *map(str, values_key(edit))))
                    layers = edit.workload.helm.release.layers
                    carriers |= {layer.read_through for layer in layers if layer.read_through}
        changed = differences(old, rendered)
        for (key, path), (was, now) in sorted(changed.items(), key=str):
            if key[0] == HELM_RELEASE and path in means:
                continue  # the HelmRelease's values are how its workload changes
            if _carries_values(key, path, carriers):
                continue
            if key in scheduled.replaced and path[:2] == TRIGGERS and path[2].startswith(PREFIX):
                continue  # a cron trigger an earlier run wrote, replaced or gone
            if (key in scheduled.gone and now is None) or (key in scheduled.born and was is None):
                continue  # an HPA taken over, and the ScaledObject taking it over
            if (key, path) not in intended:
                wrong.append(f"{overlay} {'/'.join(key)} {'.'.join(path)}: {was!r} -> {now!r}")
        for (key, path), value in intended.items():
            if str(value_at(rendered, key, path)) != value:
                wrong.append(f"{overlay} {'/'.join(key)} {'.'.join(path)} did not become {value}")
    if wrong:
        raise ProofFailed("rendered difference is not what was intended: " + "; ".join(wrong))


@dataclass
class _Scheduled:
    """What `schedules` may change in one environment's render."""

    replaced: set[ObjectId] = field(default_factory=set)
    """ScaledObjects whose cron triggers are rewritten: the bot's earlier ones may go."""
    intended: dict[tuple[ObjectId, FieldPath], str] = field(default_factory=dict)
    """Each leaf of the triggers written."""
    gone: set[ObjectId] = field(default_factory=set)
    """HPAs a ScaledObject takes over: they must be gone, whole."""
    born: set[ObjectId] = field(default_factory=set)
    """The ScaledObjects taking them over, new, whole."""


def _scheduled(rendered: Rendered, overlay: str, schedules: Sequence[ScheduleEdit]) -> _Scheduled:
    found = _Scheduled()
    for schedule in schedules:
        workload = schedule.workload
        if workload.environment_id != overlay or workload.hpa is None:
            continue
        at = field_path(rendered, workload, "hpa.minReplicas", None)
        if at is None:
            continue
        key = at[0]
        if schedule.takeover:
            found.gone.add(key)
            key = ("ScaledObject", key[1], workload.hpa.name)
            found.born.add(key)
        found.replaced.add(key)
        for trigger in schedule.triggers:
            prefix = (*TRIGGERS, str(trigger["name"]))
            for path, value in flatten(trigger, prefix).items():
                found.intended[(key, path)] = str(value)
    return found


DIFF_CONTEXT = 1
"""Lines of context before a changed one: enough to name its parent key."""


@dataclass(frozen=True)
class ObjectDiff:
    """How one object renders differently, what the cluster would get, not the files: the
    hunks of a unified diff, which `labelled` names with what a reader needs."""

    environment: str
    kind: str
    name: str
    hunks: str

    def labelled(self, label: str) -> str:
        """The hunks, each headed `@@ label @@`: a rendered object is no file, so git's line
        ranges would only count lines of `kustomize build` output nobody has open."""
        return re.sub(r"^@@ .* @@$", lambda _: f"@@ {label} @@", self.hunks, flags=re.M)


def rendered_diff(before: dict[str, Rendered], after: dict[str, Rendered]) -> list[ObjectDiff]:
    """Each object that renders differently, environment by environment."""
    found: list[ObjectDiff] = []
    for overlay in sorted(after):
        old, new = before.get(overlay, Rendered({})), after[overlay]
        for key in sorted({key for key, _ in differences(old, new)}):
            kind, _, name = key
            hunks = _hunks(_yaml_lines(old.objects.get(key)), _yaml_lines(new.objects.get(key)))
            found.append(ObjectDiff(overlay, kind, name, hunks))
    return found


def _hunks(old: list[str], new: list[str]) -> str:
    """Unified-diff hunks with `DIFF_CONTEXT` lines before each change and none after: in
    YAML the line before names the parent (`requests:`), the line after is the next key.
    Each hunk is shifted left by the indentation its lines share: a container's resources
    sit ten spaces deep, which was half of a PR's diff bytes and told the reader nothing
    the context line does not."""
    out = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for group in matcher.get_grouped_opcodes(DIFF_CONTEXT):
        while group[-1][0] == "equal":
            group = group[:-1]
        (_, a0, _, b0, _), (_, _, a1, _, b1) = group[0], group[-1]
        lines = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [(" ", line) for line in old[i1:i2]]
                continue
            lines += [("-", line) for line in old[i1:i2]]
            lines += [("+", line) for line in new[j1:j2]]
        shared = min(len(line) - len(line.lstrip(" ")) for _, line in lines)
        out.append(f"@@ -{a0 + 1},{a1 - a0} +{b0 + 1},{b1 - b0} @@\n")
        out += [f"{sign}{line[shared:]}" for sign, line in lines]
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def _yaml_lines(document: Any) -> list[str]:
    """An object as YAML in kustomize's own key order, one line per item; none when absent."""
    if document is None:
        return []
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096  # no folded lines: a long value is one line of the diff
    yaml.representer.sort_base_mapping_type_on_output = False
    text = io.StringIO()
    yaml.dump(document, text)
    return text.getvalue().splitlines(keepends=True)


def _values(workloads: list[Workload]) -> dict[tuple[str, str, str | None, str], str]:
    return {
        (w.environment_id, w.ref, container, name): str(tracked.raw)
        for w in workloads
        for name, container, tracked in w.fields()
    }
