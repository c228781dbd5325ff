"""The Helm releases a repo declares, and where each one's values come from.

Four declarations are read: a chart vendored in the repo with a values file per environment
(`values.yaml` + `values-prod.yaml`), an Argo CD Application whose source is a Helm chart
(`helm.valueFiles`, `helm.values`, `helm.valuesObject`, multi-source `$values/...`), a
Flux HelmRelease (`spec.values`, read by the Kustomize resolver like any other object, since
an overlay may patch its values), and a kustomization's `helmCharts:` entry, which the
resolver inflates where kustomize would. Which values key sets which field is found later, by
rendering (`bot.manifests.helm`); this module only says which layers of values there are,
lowest precedence first, and what they merge to.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from bot.manifests.model import Origin, Release, Tracked, ValuesLayer, ValuesPath
from bot.manifests.yamlio import dig, load_file, parse_positioned, position
from recommenders.errors import InputError

_VALUES_FILE = re.compile(r"^(?:values[-_.](?P<a>.+)|(?P<b>.+)[-_.]values)\.ya?ml$")


def environment_name(release: Release, fallback: str) -> str:
    """`values-prod.yaml` (its own values file, or the last one it reads) -> `prod`."""
    for file in [release.values_file, *reversed([layer.file for layer in release.layers])]:
        match = _VALUES_FILE.match((file or "").rsplit("/", 1)[-1])
        if match:
            return match.group("a") or match.group("b")
    return fallback


def is_values_file(name: str) -> bool:
    """`values-prod.yaml`, `prod.values.yaml`: an environment's values beside a chart."""
    return _VALUES_FILE.match(name) is not None


def vendored_releases(
    repo: Path, files: list[str], claimed: set[str], problems: list[str]
) -> list[Release]:
    """A chart in the repo that no Application or HelmRelease deploys: one release per values
    file beside its `values.yaml`, or one on its defaults when it has none. A chart inside
    another's `charts/` is a dependency, not a release."""
    charts = sorted(f.rsplit("/", 1)[0] if "/" in f else "." for f in files if _is_chart(f))
    releases = []
    for chart in charts:
        if chart in claimed or any(chart.startswith(f"{other}/") for other in charts):
            continue
        try:
            meta = load_file(repo, _join(chart, "Chart.yaml")).documents
        except InputError as exc:
            problems.append(str(exc))
            continue
        name = dig(meta[0] if meta else None, "name")
        if not isinstance(name, str):
            problems.append(f"{_join(chart, 'Chart.yaml')}: no chart name; chart not read")
            continue
        values = sorted(
            _join(chart, entry.name)
            for entry in (repo / chart).iterdir()
            if entry.is_file() and is_values_file(entry.name)
        )
        choices: list[str | None] = [*values] or [None]
        for values_file in choices:
            layer = values_file or _join(chart, "values.yaml")
            releases.append(
                Release(
                    environment=chart,
                    name=name,
                    namespace=None,
                    chart=chart,
                    chart_ref=chart,
                    layers=[ValuesLayer(layer)] if (repo / layer).is_file() else [],
                    source=_join(chart, "Chart.yaml"),
                    values_file=values_file,
                )
            )
    return releases


def _is_chart(file: str) -> bool:
    return file.rsplit("/", 1)[-1] == "Chart.yaml" and "/templates/" not in f"/{file}"


def argo_releases(
    repo: Path,
    file: str,
    document: dict[str, Any],
    problems: list[str],
    generated_by: str | None = None,
) -> list[Release]:
    """An Argo CD Application's Helm sources: a chart in this repo (`path:`) or from a Helm
    repository (`chart:`), with value files, inline values and a values object, in Argo CD's
    order of precedence.

    An Application an ApplicationSet (`generated_by`) generates keeps its inline values in
    the set's template, which every generated Application shares and placeholders may
    fill: they are read there and never edited; its value files are its own."""
    spec = document.get("spec") or {}
    name = dig(document, "metadata", "name")
    if not isinstance(name, str):
        return []
    label = f"Application {name}"
    if generated_by:
        label = f"ApplicationSet {generated_by} ({label})"
    root: tuple[str | int, ...] = ("spec", "template", "spec") if generated_by else ("spec",)
    ref = ("ApplicationSet", (generated_by,)) if generated_by else ("Application", (name,))
    single = isinstance(spec.get("source"), dict)
    sources = [spec["source"]] if single else list(spec.get("sources") or [])
    refs = {s["ref"]: s for s in sources if isinstance(s, dict) and isinstance(s.get("ref"), str)}
    destination = spec.get("destination") or {}
    releases = []
    for index, source in enumerate(sources):
        if not isinstance(source, dict) or not ("chart" in source or "helm" in source):
            continue
        prefix = (*root, "source") if single else (*root, "sources", index)
        chart, chart_ref = _argo_chart(repo, source)
        if chart is None and chart_ref is None:
            continue  # a plain or Kustomize path: not a Helm source
        helm = source.get("helm") or {}
        layers = []
        for entry in helm.get("valueFiles") or []:
            path = _value_file(repo, str(entry), chart, refs)
            if path is None:
                problems.append(f"{file}: {label}: value file {entry!r} is not in the repo")
                continue
            layers.append(ValuesLayer(path))
        if isinstance(helm.get("values"), str):
            layers.append(ValuesLayer(file, (*prefix, "helm", "values"), ref, editable=False))
        if isinstance(helm.get("valuesObject"), dict):
            layers.append(
                ValuesLayer(
                    file, (*prefix, "helm", "valuesObject"), ref, editable=generated_by is None
                )
            )
        own = [layer for layer in layers if layer.editable]
        releases.append(
            Release(
                environment=os.path.dirname(file) or ".",
                name=str(helm.get("releaseName") or name),
                namespace=destination.get("namespace"),
                chart=chart,
                chart_ref=chart_ref or chart or "",
                layers=layers,
                source=file,
                values_file=own[-1].file if own else file,
                cluster=destination.get("name") or destination.get("server"),
            )
        )
    return releases


VALUES_MERGE = ("override", "merge", "replace")


def kustomize_chart(
    repo: Path, directory: str, file: str, kustomization: dict[str, Any], index: int
) -> Release:
    """A kustomization's `helmCharts[index]` as kustomize inflates it: the chart from
    `helmGlobals.chartHome` (`charts/<name>`, or `charts/<name>-<version>/<name>` with a
    version), its `valuesFile` (the chart's own by default), `valuesInline` over it (under it
    with `valuesMerge: merge`, alone with `replace`), then each of `additionalValuesFiles`."""
    entry = kustomization["helmCharts"][index]
    where = f"{file}: helmCharts[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise InputError(where, "has no chart name")
    name, version = entry["name"], entry.get("version")
    home = dig(kustomization, "helmGlobals", "chartHome") or "charts"
    folder = f"{name}-{version}/{name}" if version else name
    chart = _inside(repo, directory, f"{home}/{folder}", where)
    merge = entry.get("valuesMerge") or "override"
    if merge not in VALUES_MERGE:
        raise InputError(where, f"valuesMerge must be one of {', '.join(VALUES_MERGE)}")
    files = [] if entry.get("valuesFile") is None else [entry["valuesFile"]]
    own = [_inside(repo, directory, str(f), where, need_file=True) for f in files]
    own = [path for path in own if path != f"{chart}/values.yaml"]  # the chart's default
    inline = []
    if isinstance(entry.get("valuesInline"), dict):
        inline = [ValuesLayer(file, ("helmCharts", index, "valuesInline"))]
    layers = {
        "override": [*map(ValuesLayer, own), *inline],
        "merge": [*inline, *map(ValuesLayer, own)],
        "replace": inline or [*map(ValuesLayer, own)],
    }[merge]
    for extra in entry.get("additionalValuesFiles") or []:
        layers.append(ValuesLayer(_inside(repo, directory, str(extra), where, need_file=True)))
    return Release(
        environment=directory,
        name=str(entry.get("releaseName") or name),
        # kustomize 5.8 passes the kustomization's namespace to Helm when the entry has none
        namespace=entry.get("namespace") or kustomization.get("namespace"),
        chart=chart,
        chart_ref=f"{entry.get('repo') or chart} {name}@{version or ''}".strip(),
        layers=layers,
        source=file,
    )


def _inside(repo: Path, directory: str, entry: str, where: str, need_file: bool = False) -> str:
    path = _normal(os.path.join(directory, entry))
    if path.startswith("../") or os.path.isabs(entry):
        raise InputError(where, f"{entry!r} points outside the repository")
    if need_file and not (repo / path).is_file():
        raise InputError(where, f"values file {entry!r} is not in the repository")
    return path


def _argo_chart(repo: Path, source: dict[str, Any]) -> tuple[str | None, str | None]:
    """(chart directory in the repo, or None; how to name a chart that is not here)."""
    if isinstance(source.get("chart"), str):
        ref = f"{source.get('repoURL', '')} {source['chart']}@{source.get('targetRevision', '')}"
        return None, ref.strip()
    path = source.get("path")
    if isinstance(path, str) and (repo / path / "Chart.yaml").is_file():
        return _normal(path), None
    return None, None


def _value_file(
    repo: Path, entry: str, chart: str | None, refs: dict[str, dict[str, Any]]
) -> str | None:
    """A value file as Argo CD resolves it: `$ref/path` from the root of the source named
    `ref` (this repo), otherwise relative to the chart's path."""
    if entry.startswith("$"):
        ref, _, rest = entry[1:].partition("/")
        path = _normal(rest) if ref in refs else None
    else:
        path = _normal(os.path.join(chart or ".", entry))
    if path is None or path.startswith("../") or not (repo / path).is_file():
        return None
    return path


def _normal(path: str) -> str:
    return os.path.normpath(path.strip().removeprefix("./")).replace(os.sep, "/")


def _join(directory: str, name: str) -> str:
    return name if directory == "." else f"{directory}/{name}"


def layer_values(repo: Path, layer: ValuesLayer) -> Any:
    """A layer's mapping with positions; {} for an empty values file."""
    documents = load_file(repo, layer.file).documents
    if layer.object_ref is None:
        found = dig(documents[0], *layer.prefix) if documents else {}
    else:
        kind, names = layer.object_ref
        document = next(
            (
                d
                for d in documents
                if isinstance(d, dict)
                and d.get("kind") == kind
                and dig(d, "metadata", "name") in names
            ),
            None,
        )
        found = dig(document, *layer.prefix)
        if isinstance(found, str):  # Argo CD's `helm.values`, a ConfigMap's key: YAML text
            parsed = parse_positioned(str(found), layer.file)
            found = parsed[0] if parsed else {}
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise InputError(layer.file, "Helm values must be a mapping")
    return found


def merged(layers: list[Any]) -> dict[str, Any]:
    """Layers merged as Helm merges user values: mappings key by key, anything else replaced,
    and a null removes the key (and the chart's default under it)."""
    result: dict[str, Any] = {}
    for layer in layers:
        result = deep_merge(result, layer)
    return result


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` over `base`: mappings merged key by key, anything else replaced."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def setting_layer(release: Release, path: ValuesPath) -> int | None:
    """The index of the highest layer that writes `path`, which is the one Helm uses."""
    for index in reversed(range(len(release.layers))):
        parent = _parent(release.layer_values[index], path)
        if isinstance(parent, dict) and path[-1] in parent:
            return index
    return None


def tracked_value(release: Release, path: ValuesPath, raw: Any) -> Tracked:
    """The rendered value, with the place the highest layer that sets `path` writes it (none
    where that layer is one the bot cannot write, or no layer sets it: a chart default)."""
    index = setting_layer(release, path)
    if index is None or not release.layers[index].editable:
        return Tracked(raw, None)
    layer, parent = release.layers[index], _parent(release.layer_values[index], path)
    line, col = position(parent, path[-1])
    dotted = ".".join(str(p) for p in (*layer.prefix, *path))
    return Tracked(raw, Origin(layer.file, line, col, dotted))


def _parent(values: Any, path: ValuesPath) -> Any:
    return dig(values, *path[:-1]) if len(path) > 1 else values
