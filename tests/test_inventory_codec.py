"""The inventory kept between runs (bot/manifests/inventory_codec.py) comes back exactly as
it was built: the same classes, the same containers (tuple, set, dict with tuple keys), the
same positions in each file; what JSON cannot hold is not kept, and a damaged or foreign
body is no inventory."""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from bot.manifests.inventory import build_inventory
from bot.manifests.inventory_codec import Unencodable, decoded, encoded
from bot.manifests.model import Inventory
from bot.manifests.yamlio import BlockString, PositionedList, PositionedMap
from tests.conftest import FIXTURES

REPOS = [FIXTURES / "monorepo", FIXTURES / "platform-repo", *sorted((FIXTURES / "repos").iterdir())]


def _same(a: Any, b: Any, where: str = "inventory") -> None:
    assert type(a) is type(b), where
    if dataclasses.is_dataclass(a):
        for field in dataclasses.fields(a):
            _same(getattr(a, field.name), getattr(b, field.name), f"{where}.{field.name}")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            _same(a[key], b[key], f"{where}[{key!r}]")
        if isinstance(a, PositionedMap):
            assert (a.lc.values, a.lc.keys) == (b.lc.values, b.lc.keys), where
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{index}]")
        if isinstance(a, PositionedList):
            assert a.lc.values == b.lc.values, where
    elif isinstance(a, set | frozenset):
        assert a == b, where  # a set's order is the hash seed's, in every run alike
    elif isinstance(a, BlockString):
        assert (str(a), a.style) == (str(b), b.style), where
    else:
        assert a == b and repr(a) == repr(b), where


@pytest.mark.parametrize("repo", REPOS, ids=lambda path: path.name)
def test_a_kept_inventory_is_the_one_that_was_built(repo: Path) -> None:
    built = build_inventory(repo)
    _same(decoded(encoded(built)), built)


def test_what_json_cannot_hold_is_not_kept() -> None:
    built = build_inventory(FIXTURES / "monorepo")
    built.workloads[0].annotations["since"] = datetime.date(2026, 12, 6)  # type: ignore[assignment]
    with pytest.raises(Unencodable):
        encoded(built)
    built.workloads[0].annotations["since"] = float("nan")  # type: ignore[assignment]
    with pytest.raises(Unencodable):
        encoded(built)


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        "{}",
        '{"$c": "Path", "f": {}}',  # a class that is not the inventory's
        '{"$c": "Workload", "f": {}}',  # one of its classes, but not an inventory
        '{"$x": 1}',
    ],
)
def test_a_body_that_is_not_an_inventory_is_refused(body: str) -> None:
    with pytest.raises((ValueError, KeyError)):
        decoded(body)


def test_an_inventory_keeps_its_own_class_names_only() -> None:
    body = json.loads(encoded(Inventory([], {"a.yaml": {"prod"}})))
    assert body == {
        "$c": "Inventory",
        "f": {
            "workloads": [],
            "file_users": {"$d": [["a.yaml", {"$s": ["prod"]}]]},
            "problems": [],
            "renders": {"$d": []},
            "directories": {"$s": []},
            "helm_renders": {"$d": []},
        },
    }
