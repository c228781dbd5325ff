"""Golden directories: `original/` edited as `case.yaml` says must equal `expected/` byte for byte.

Each case also goes through both proofs (resolver and real kustomize renders), so a case
passes only if the edit is minimal, in the right file, and changes nothing else rendered.
"""

import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot.proof import inspect
from bot.setter import Assignment, apply, edits_for, find_workload
from tests.conftest import FIXTURES

CASES = sorted(p for p in (FIXTURES / "repos").iterdir() if (p / "case.yaml").is_file())


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_edit_matches_the_golden_directory(case, tmp_path):
    spec = YAML(typ="safe").load((case / "case.yaml").read_text())
    repo = tmp_path / "repo"
    shutil.copytree(case / "original", repo)
    inventory = inspect(repo)
    assert inventory.problems == []
    workload = find_workload(inventory, spec["overlay"], spec["workload"])
    assignments = [Assignment(field, str(value)) for field, value in spec["set"].items()]
    apply(repo, inventory, edits_for(workload, spec.get("container"), assignments))
    actual, expected = _tree(repo), _tree(case / "expected")
    assert sorted(actual) == sorted(expected)
    for name in expected:
        assert actual[name] == expected[name], name
