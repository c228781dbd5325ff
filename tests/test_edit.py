"""Edits change only the scalar they mean to, and inherited values get an overlay patch."""

import pytest
import yaml

from bot.manifests.edit import (
    FileChange,
    ValueEdit,
    add_patch_entry,
    plan_file_changes,
    replace_scalar,
)
from bot.manifests.inventory import build_inventory
from bot.manifests.model import Origin
from bot.manifests.yamltext import replace_items
from bot.proof import ProofFailed, prove
from recommenders.errors import InputError
from tests.conftest import MONOREPO


def _origin(line: int, col: int) -> Origin:
    return Origin("f.yaml", line, col, "x")


@pytest.mark.parametrize(
    ("text", "line", "col", "new", "expected"),
    [
        ("cpu: 500m  # comment\n", 1, 5, "350m", "cpu: 350m  # comment\n"),
        ('cpu: "1" # one core\n', 1, 5, "0.65", 'cpu: "0.65" # one core\n'),
        ("cpu: '1'\n", 1, 5, "2", "cpu: '2'\n"),
        ("limits: {cpu: 1, memory: 1Gi}\n", 1, 14, 2, "limits: {cpu: 2, memory: 1Gi}\n"),
        ("a: 1\r\ncpu: 500m\r\n", 2, 5, "5m", "a: 1\r\ncpu: 5m\r\n"),  # CRLF kept
        ("cpu: 500m", 1, 5, "350m", "cpu: 350m"),  # no final newline stays so
        ("cpu: 500m   \n", 1, 5, "350m", "cpu: 350m   \n"),  # trailing spaces kept
    ],
)
def test_replace_scalar_changes_only_the_value(text, line, col, new, expected):
    assert replace_scalar(text, _origin(line, col), new) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "resources:\n- ../../base\n",
            "resources:\n- ../../base\npatches:\n- path: p.yaml\n",
        ),
        (
            "resources:\n  - ../../base\n",
            "resources:\n  - ../../base\npatches:\n  - path: p.yaml\n",
        ),
        (
            "resources:\n- ../../base\npatches:\n- path: mine.yaml  # keep\n",
            "resources:\n- ../../base\npatches:\n- path: p.yaml\n- path: mine.yaml  # keep\n",
        ),
        ("resources:\r\n- ../base", "resources:\r\n- ../base\r\npatches:\r\n- path: p.yaml\r\n"),
    ],
)
def test_patch_entry_follows_the_files_list_style(text, expected):
    assert add_patch_entry(text, "p.yaml", "kustomization.yaml") == expected


def test_flow_style_patches_are_refused_not_mangled():
    with pytest.raises(InputError, match="flow-style"):
        add_patch_entry("patches: [{path: a.yaml}]\n", "p.yaml", "k.yaml")


def _workload(inventory, environment, name):
    return next(w for w in inventory.workloads if w.environment == environment and w.name == name)


def test_value_only_this_environment_reads_is_edited_in_place():
    inventory = build_inventory(MONOREPO)
    prod = _workload(inventory, "prod", "checkout")
    edits = [ValueEdit(prod, "requests.cpu", "checkout", "0.65")]
    (change,) = plan_file_changes(inventory, edits, MONOREPO)
    assert change.path == "applications/checkout/overlays/prod/resources-patch.yaml"
    before, after = change.before.splitlines(), change.after.splitlines()
    differing = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert differing == [
        ('              cpu: "1"  # one full core', '              cpu: "0.65"  # one full core')
    ]
    prove(MONOREPO, inventory, [change], edits)
    # The proof works on a hard-linked copy: the original must be untouched.
    assert (MONOREPO / change.path).read_text() == change.before


def test_value_inherited_from_a_shared_base_is_overridden_in_the_overlay():
    inventory = build_inventory(MONOREPO)
    staging = _workload(inventory, "staging", "payments")
    edits = [
        ValueEdit(staging, "requests.cpu", "payments", "190m"),
        ValueEdit(staging, "limits.cpu", "payments", "375m"),
    ]
    changes = plan_file_changes(inventory, edits, MONOREPO)
    paths = [c.path for c in changes]
    assert paths == [
        "applications/payments/overlays/staging/kustomization.yaml",
        "applications/payments/overlays/staging/rightsizer-deployment-payments.yaml",
    ]
    assert not any("base/" in path for path in paths)
    kustomization, patch = changes
    assert kustomization.after.startswith(kustomization.before)
    assert kustomization.after[len(kustomization.before) :] == (
        "patches:\n- path: rightsizer-deployment-payments.yaml\n"
    )
    assert patch.before is None
    assert "cpu: 190m" in patch.after and "cpu: 375m" in patch.after
    # The proof rebuilds every environment: only staging's payments CPU may change.
    prove(MONOREPO, inventory, changes, edits)


def test_proof_catches_an_edit_that_leaks_into_other_environments():
    inventory = build_inventory(MONOREPO)
    staging = _workload(inventory, "staging", "payments")
    origin = staging.container("payments").resources["requests.cpu"].origin
    text = (MONOREPO / origin.file).read_text()
    leaked = replace_scalar(text, origin, "190m")

    edits = [ValueEdit(staging, "requests.cpu", "payments", "190m")]
    with pytest.raises(ProofFailed, match="overlays/prod Deployment/payments payments"):
        prove(MONOREPO, inventory, [FileChange(origin.file, text, leaked)], edits)


def test_values_sharing_a_flow_mapping_line_are_all_written_whatever_their_order(tmp_path):
    """`1` -> `0.7` lengthens the line before `memory`: an edit list in manifest order used
    to write `memory768Mi`, which the proof then refused."""
    (tmp_path / "api.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n"
        "    spec:\n      containers:\n        - name: api\n          resources:\n"
        "            requests: {cpu: 500m, memory: 512Mi}\n"
        '            limits: {cpu: "1", memory: 1Gi}\n'
    )
    inventory = build_inventory(tmp_path)
    (workload,) = inventory.workloads
    wanted = {"requests.cpu": "350m", "limits.cpu": "0.7", "requests.memory": "384Mi",
              "limits.memory": "768Mi"}  # fmt: skip
    edits = [ValueEdit(workload, field, "api", new) for field, new in wanted.items()]
    changes = plan_file_changes(inventory, edits, tmp_path)
    assert changes[0].after.endswith(
        "            requests: {cpu: 350m, memory: 384Mi}\n"
        '            limits: {cpu: "0.7", memory: 768Mi}\n'
    )
    prove(tmp_path, inventory, changes, edits)


@pytest.mark.parametrize(
    "triggers",
    [
        "  - type: cpu\n    metadata:\n      value: '60'\n",
        "  -\n    type: cpu\n    metadata:\n      value: '60'\n",  # the dash on its own line
        "    - # the team's own\n      type: cpu\n      metadata: {value: '60'}\n",
    ],
)
def test_the_bots_cron_triggers_go_after_the_teams_in_any_list_layout(triggers):
    text = f"kind: ScaledObject\nmetadata:\n  name: web\nspec:\n  triggers:\n{triggers}"
    cron = {"type": "cron", "name": "rightsizer-prescale-1",
            "metadata": {"start": "45 8 * * 1-5", "desiredReplicas": "8"}}  # fmt: skip
    ref = ("ScaledObject", ("web",))
    once = replace_items(text, "so.yaml", ref, ("spec", "triggers"), "rightsizer-prescale-", [cron])
    assert once.startswith(text)  # the team's trigger as it was, comments and all
    assert yaml.safe_load(once)["spec"]["triggers"][1] == cron
    assert 'start: "45 8 * * 1-5"' in once and "type: cron" in once
    again = replace_items(
        once, "so.yaml", ref, ("spec", "triggers"), "rightsizer-prescale-", [cron]
    )
    assert again == once
    gone = replace_items(once, "so.yaml", ref, ("spec", "triggers"), "rightsizer-prescale-", [])
    assert gone == text
