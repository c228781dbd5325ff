"""Hostile or broken files are refused by name, never parsed blindly, never fatal for others."""

from pathlib import Path

import pytest

from bot.manifests.inventory import build_inventory
from bot.manifests.render import render_all
from bot.manifests.sandbox import _unshare
from bot.proof import inspect
from tests.conftest import DEPLOYMENT, write_tree
from tests.prometheus_server import LocalServer, Reply


def _with_good_neighbour(files: dict[str, str | bytes]) -> dict[str, str | bytes]:
    return {
        "good/kustomization.yaml": "resources:\n- deployment.yaml\n",
        "good/deployment.yaml": DEPLOYMENT.format(name="good"),
        "bad/kustomization.yaml": "resources:\n- deployment.yaml\n",
        **files,
    }


def _problem(tmp_path: Path, files: dict[str, str | bytes]) -> str:
    inventory = build_inventory(write_tree(tmp_path, _with_good_neighbour(files)))
    assert [w.name for w in inventory.workloads] == ["good"]
    (problem,) = inventory.problems
    return problem


def test_duplicate_keys_are_refused_with_file_and_line(tmp_path):
    text = DEPLOYMENT.format(name="bad").replace("cpu: 100m", "cpu: 100m\n            cpu: 200m")
    problem = _problem(tmp_path, {"bad/deployment.yaml": text})
    assert problem.startswith("bad/deployment.yaml:14: invalid YAML")
    assert "duplicate" in problem


def test_non_utf8_is_refused(tmp_path):
    text = DEPLOYMENT.format(name="bad").encode().replace(b"100m", b"100m # caf\xe9")
    assert "bad/deployment.yaml: not UTF-8" in _problem(tmp_path, {"bad/deployment.yaml": text})


def test_a_file_over_the_size_limit_is_refused(tmp_path):
    text = DEPLOYMENT.format(name="bad") + "# padding\n" * 120_000
    problem = _problem(tmp_path, {"bad/deployment.yaml": text})
    assert "bad/deployment.yaml: larger than 1024 KiB" in problem


def test_helm_templates_are_screened_out_not_parsed(tmp_path):
    template = DEPLOYMENT.format(name="bad").replace("100m", "{{ .Values.cpu }}")
    problem = _problem(tmp_path, {"bad/deployment.yaml": template})
    assert "bad/deployment.yaml: a Helm/Go template" in problem


def test_an_overlay_kustomize_cannot_build_is_reported_and_never_edited(tmp_path):
    files = _with_good_neighbour(
        {
            "bad/deployment.yaml": DEPLOYMENT.format(name="bad"),
            "bad/kustomization.yaml": (
                "resources:\n- deployment.yaml\n"
                "configMapGenerator:\n- name: settings\n  files:\n  - missing.properties\n"
            ),
        }
    )
    inventory = inspect(write_tree(tmp_path, files))
    by_name = {w.name: w for w in inventory.workloads}
    assert by_name["good"].unverified is None
    assert by_name["bad"].unverified.startswith("kustomize cannot build it")
    assert any("missing.properties" in p for p in inventory.problems)


@pytest.mark.parametrize(
    ("name", "namespace", "container", "environment", "said"),
    [
        ('"../../../../tmp/owned"', "shop", "app", "prod", "name '..?..?..?..?tmp?owned'"),
        (
            '"web](https://evil.example)"',
            "shop",
            "app",
            "prod",
            "name 'web??https???evil.example?'",
        ),
        ("web", '"@acme/everyone"', "app", "prod", "namespace '?acme?everyone'"),
        ("web", "shop", '"a b"', "prod", "container 'a?b'"),
        ("web", "shop", "app", "pr<img src=x>od", "environment 'pr?img?src?x?od'"),
    ],
)
def test_a_workload_whose_names_kubernetes_would_refuse_is_left_out_by_name(
    tmp_path, name, namespace, container, environment, said
):
    """Names become file names, branch names and PR text: `../x` a path, `](...)` a link,
    `@team` a mention. Kubernetes accepts none of them, so neither does the bot."""
    deployment = (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n"
        f"  namespace: {namespace}\nspec:\n  template:\n    spec:\n      containers:\n"
        f"      - name: {container}\n        resources:\n          requests:\n"
        "            cpu: 100m\n"
    )
    files = {
        "base/kustomization.yaml": "resources:\n- deployment.yaml\n",
        "base/deployment.yaml": deployment,
        f"{environment}/kustomization.yaml": "resources:\n- ../base\n",
    }
    inventory = build_inventory(write_tree(tmp_path / "repo", files))
    assert inventory.workloads == []
    (problem,) = inventory.problems
    assert problem == f"{environment}: Deployment {said} is not a name Kubernetes accepts; left out"


@pytest.mark.skipif(not _unshare(), reason="no network namespace for this user on this kernel")
@pytest.mark.parametrize(
    "field",
    ["resources", "components", "transformers", "generators", "validators", "configurations"],
)
def test_kustomize_fetches_nothing_a_repository_points_it_at(tmp_path, field):
    """Go's HTTP client skips proxies for 127.0.0.1, the bot's own neighbourhood: only the
    network namespace keeps kustomize from reaching it."""
    remote = DEPLOYMENT.format(name="remote").encode()
    with LocalServer.scripted(Reply(200, remote)) as server:
        write_tree(
            tmp_path,
            {
                "env/kustomization.yaml": (
                    f"resources:\n- deployment.yaml\n{field}:\n- {server.url}/remote.yaml\n"
                    if field != "resources"
                    else f"resources:\n- {server.url}/remote.yaml\n"
                ),
                "env/deployment.yaml": DEPLOYMENT.format(name="local"),
            },
        )
        rendered = render_all(tmp_path, ["env"])
    assert server.requests == []
    assert rendered["env"].error is not None
    assert not rendered["env"].objects


def test_a_backtracking_patch_target_costs_nothing_and_a_bad_one_is_named(tmp_path):
    name = "a" * 40 + "b"
    overlay = (
        "resources:\n- deployment.yaml\npatches:\n- target:\n    kind: Deployment\n"
        "    name: (a+)+$\n  patch: |-\n    - op: replace\n      path: /spec/replicas\n"
        "      value: 3\n"
    )
    tree = {"env/kustomization.yaml": overlay, "env/deployment.yaml": DEPLOYMENT.format(name=name)}
    inventory = build_inventory(write_tree(tmp_path / "slow", tree))
    assert [w.name for w in inventory.workloads] == [name]  # answered at once, not matched
    bad = {**tree, "env/kustomization.yaml": overlay.replace("(a+)+$", "(?<=a)b")}
    inventory = build_inventory(write_tree(tmp_path / "bad", bad))
    (problem,) = inventory.problems
    assert problem.startswith("env/kustomization.yaml: target name '(?<=a)b' is not a regular")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: " + "[" * 50_000 + "]" * 50_000 + "\n", 1),  # composing this overflowed C's stack
        ("a: " + "{b: " * 300 + "1" + "}" * 300 + "\n", 1),
        ("- " * 5_000 + "x\n", 1),  # compact sequences: one level each
        ("".join(f"{'  ' * i}k{i}:\n" for i in range(300)) + "  " * 300 + "v\n", 101),
    ],
)
def test_yaml_nested_too_deep_is_refused_at_its_line(tmp_path, text, line):
    problem = _problem(tmp_path, {"bad/deployment.yaml": text})
    assert problem.startswith(f"bad/deployment.yaml:{line}: nested over 100 levels deep")


def test_an_export_over_its_size_limit_is_refused_by_name_before_it_is_read(tmp_path):
    from tests.conftest import COST, UTILISATION, rightsizer

    limited = {"RIGHTSIZER_MAX_EXPORT_BYTES": "100000"}
    result = rightsizer("sources", "check", "--utilisation", UTILISATION, env=limited)
    assert result.returncode == 2
    assert f"{UTILISATION}: is " in result.stderr
    assert " MiB, over the limit of 97.7 KiB for an export" in result.stderr
    assert "raise RIGHTSIZER_MAX_EXPORT_BYTES" in result.stderr
    assert "Traceback" not in result.stderr
    assert rightsizer("sources", "check", "--cost", COST, env=limited).returncode == 0

    document = tmp_path / "allocation.json"
    document.write_text('{"code": 200, "data": [' + "{}," * 200 + "{}]}")
    result = rightsizer(
        "sources", "check", "--cost", document, "--cost-format", "opencost-allocation",
        env={"RIGHTSIZER_MAX_JSON_BYTES": "100"},
    )  # fmt: skip
    assert result.returncode == 2
    size = document.stat().st_size
    assert f"{document}: is {size} bytes, over the limit of 100 bytes for a JSON document" in (
        result.stderr
    )
    bad = rightsizer("sources", "check", "--utilisation", UTILISATION,
                     env={"RIGHTSIZER_MAX_EXPORT_BYTES": "2GB"})  # fmt: skip
    assert "RIGHTSIZER_MAX_EXPORT_BYTES: '2GB' is not a number of bytes" in bad.stderr
