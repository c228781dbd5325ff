"""Which values key sets each rendered field, found by rendering, not by key names.

Charts nest resources anywhere (`resources`, `controllers.main.containers.app.resources`,
`<component>.resources`), so names prove nothing. Instead every number and quantity in the
effective values gets a unique stand-in of the same shape (`731005m`, `731006Mi`, `731007`),
the chart is rendered once, and wherever a stand-in shows up in the output, that field
follows that key. A key whose mapping would render as a container's `resources` (an empty
`resources: {}`, typically) is found the same way: a probe key is put into every mapping,
and the ones that show up under a container's `resources` name the place where a missing
request or limit can be added. A render the stand-ins break (a template that compares a
number, a schema) is split in halves until the culprits are alone and left out.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.manifests.helm.renderer import HelmRenderer, RenderError
from bot.manifests.model import Rendered, ValuesPath
from bot.manifests.render import FieldPath, ObjectId, flatten, manifest_text, parse_objects

FIRST_SENTINEL = 731001
PROBE = "rightsizer-probe-"
MAX_RENDERS = 64
"""Splitting stops here: a chart that breaks on this many halves is left unexplained."""

_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|k|Ki|M|Mi|G|Gi|T|Ti|)$")


@dataclass
class Provenance:
    """The render of the values as they are, and the values key behind each rendered leaf."""

    rendered: Rendered
    text: str
    """The rendered manifests as one multi-document YAML text."""
    leaves: dict[tuple[ObjectId, FieldPath], ValuesPath] = field(default_factory=dict)
    mappings: dict[tuple[ObjectId, FieldPath], ValuesPath] = field(default_factory=dict)
    """(object, path of a rendered mapping) -> the values key whose mapping it renders."""
    unexplained: int = 0
    """Keys left out because no split short of MAX_RENDERS rendered with them."""


def find_provenance(
    renderer: HelmRenderer, chart: Path, values: dict[str, Any], name: str, namespace: str
) -> Provenance:
    effective = renderer.merge_values(chart, values)
    base = renderer.render_many(chart, [effective], name, namespace)[0]
    if isinstance(base, str):
        raise RenderError(base)
    found = Provenance(parse_objects(base, str(chart)), manifest_text(base))
    if found.rendered.error is not None:
        raise RenderError(found.rendered.error)
    leaves = [(key, value) for key, value in _leaves(effective) if _sentinel(value, 0) is not None]
    mappings = [key for key, value in _nodes(effective) if isinstance(value, dict)]
    pending: list[tuple[str, list[Any]]] = [("leaf", leaves), ("map", mappings)]
    pending = [(kind, items) for kind, items in pending if items]
    renders = 0
    while pending:
        renders += len(pending)
        if renders > MAX_RENDERS:
            found.unexplained += sum(len(items) for _, items in pending)
            break
        sets = [_perturbed(effective, kind, items) for kind, items in pending]
        results = renderer.render_many(chart, [values for values, _ in sets], name, namespace)
        retry: list[tuple[str, list[Any]]] = []
        for (kind, items), (_, marks), result in zip(pending, sets, results, strict=True):
            if isinstance(result, str):
                if len(items) > 1:
                    middle = len(items) // 2
                    retry += [(kind, items[:middle]), (kind, items[middle:])]
                else:
                    found.unexplained += 1
                continue
            _collect(found, kind, marks, parse_objects(result, str(chart)))
        pending = retry
    return found


def _perturbed(
    effective: dict[str, Any], kind: str, items: list[Any]
) -> tuple[dict[str, Any], dict[str, ValuesPath]]:
    """A copy of the values with stand-ins, and which values key each stand-in marks."""
    values = copy.deepcopy(effective)
    marks: dict[str, ValuesPath] = {}
    for index, item in enumerate(items):
        number = _number(index)
        if kind == "leaf":
            key, value = item
            stand_in = _sentinel(value, number)
            _parent(values, key)[key[-1]] = stand_in
            marks[str(stand_in)] = key
        else:
            probe = f"{PROBE}{number}"
            _node(values, item)[probe] = number
            marks[probe] = item
    return values, marks


def _collect(
    found: Provenance, kind: str, marks: dict[str, ValuesPath], rendered: Rendered
) -> None:
    for object_id, document in rendered.objects.items():
        for path, value in flatten(document).items():
            if kind == "leaf" and str(value) in marks:
                found.leaves[(object_id, path)] = marks[str(value)]
            elif kind == "map" and path and path[-1] in marks:
                found.mappings[(object_id, path[:-1])] = marks[path[-1]]


def _number(index: int) -> int:
    """Stand-ins with no trailing zero: Go prints 7000000 as 7e+06 but 7000001 as itself."""
    return FIRST_SENTINEL + index // 9 * 10 + index % 9


def _sentinel(value: Any, number: int) -> Any:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return number
    if isinstance(value, str) and (match := _QUANTITY.match(value.strip())):
        return f"{number}{match.group(2)}"
    return None


def _leaves(node: Any, key: ValuesPath = ()) -> Iterator[tuple[ValuesPath, Any]]:
    for path, value in _nodes(node, key):
        if not isinstance(value, dict | list):
            yield path, value


def _nodes(node: Any, key: ValuesPath = ()) -> Iterator[tuple[ValuesPath, Any]]:
    yield key, node
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _nodes(value, (*key, str(name)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _nodes(value, (*key, index))


def _node(values: Any, key: ValuesPath) -> Any:
    for step in key:
        values = values[step]
    return values


def _parent(values: Any, key: ValuesPath) -> Any:
    return _node(values, key[:-1])
