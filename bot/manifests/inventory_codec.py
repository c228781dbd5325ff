"""The inventory as JSON and back, exactly, so that a run can keep it without a pickle.

Why: building the inventory parses every manifest of the repository, a sixth of the daily
run of a 5,000-workload monorepo nobody changed. It is kept beside the renders, under the
same digest of the repository (`bot/manifests/render_cache.py`), and read back with
`json.loads`, which builds only lists, dicts, strings and numbers: the classes it is then
made into are named in `CLASSES`, and a name outside them is an unreadable cache, never an
import. What JSON cannot tell apart (a tuple from a list, a set, a key that is not a string,
a value's position in its file) is tagged; anything else (a date from YAML, a NaN) is not
encoded at all, and that inventory is built again next time rather than read back changed.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from bot.manifests import model
from bot.manifests.yamlio import BlockString, PositionedList, PositionedMap, Positions

CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in vars(model).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == model.__name__
}
"""The only classes a kept inventory is made of: `bot.manifests.model`'s dataclasses."""


class Unencodable(ValueError):
    """A value JSON would not give back as it is."""


def encoded(inventory: model.Inventory) -> str:
    try:
        return json.dumps(_encode(inventory), allow_nan=False, separators=(",", ":"))
    except ValueError as exc:  # NaN or infinity
        raise Unencodable(str(exc)) from exc


def decoded(text: str) -> model.Inventory:
    """The inventory `encoded` wrote; ValueError when the text is not one."""
    found = _decode(json.loads(text))
    if not isinstance(found, model.Inventory):
        raise ValueError("not an inventory")
    return found


def _encode(value: Any) -> Any:
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if kind is BlockString:
        return {"$b": [str(value), value.style]}
    if kind is list:
        return [_encode(item) for item in value]
    if kind is tuple:
        return {"$t": [_encode(item) for item in value]}
    if kind in (set, frozenset):
        return {"$s" if kind is set else "$f": [_encode(item) for item in value]}
    if kind is dict:
        return {"$d": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if kind is PositionedMap:
        return {
            "$pm": [[_encode(k), _encode(v)] for k, v in value.items()],
            "v": [[_encode(k), list(p)] for k, p in value.lc.values.items()],
            "k": [[_encode(k), list(p)] for k, p in value.lc.keys.items()],
        }
    if kind is PositionedList:
        return {"$pl": [_encode(item) for item in value], "v": list(value.lc.values.items())}
    if CLASSES.get(kind.__name__) is kind:
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$c": kind.__name__, "f": fields}
    raise Unencodable(f"{kind.__module__}.{kind.__qualname__}")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    if not value:
        raise ValueError("an object without a tag")
    tag, body = next(iter(value.items()))
    if tag == "$b":
        block = BlockString(body[0])
        block.style = body[1]
        return block
    if tag == "$t":
        return tuple(_decode(item) for item in body)
    if tag == "$s":
        return {_decode(item) for item in body}
    if tag == "$f":
        return frozenset(_decode(item) for item in body)
    if tag == "$d":
        return {_decode(k): _decode(v) for k, v in body}
    if tag == "$pm":
        mapping = PositionedMap((_decode(k), _decode(v)) for k, v in body)
        mapping.lc = _positions(value["v"], value["k"])
        return mapping
    if tag == "$pl":
        sequence = PositionedList(_decode(item) for item in body)
        sequence.lc = _positions([[i, p] for i, p in value["v"]], [])
        return sequence
    if tag == "$c":
        cls = CLASSES[body]  # KeyError: a class no inventory has
        made: Any = object.__new__(cls)  # frozen ones too: the fields are set as they were
        for name, field_value in value["f"].items():
            object.__setattr__(made, name, _decode(field_value))
        return made
    raise ValueError(f"unknown tag {tag!r}")


def _positions(values: list[list[Any]], keys: list[list[Any]]) -> Positions:
    positions = Positions()
    positions.values = {_decode(k): (line, column) for k, (line, column) in values}
    positions.keys = {_decode(k): (line, column) for k, (line, column) in keys}
    return positions
