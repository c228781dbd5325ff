"""The Helm engine as the bot uses it: the child renderer, provenance by stand-ins, and charts.

The charts in fixtures/charts are rendered by the real Helm engine (helm-python-sdk) in the
renderer's child process; nothing is mocked.
"""

from __future__ import annotations

import io
import os
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.manifests.helm import renderer as renderer_module
from bot.manifests.helm.charts import CACHE_VARIABLE, ChartUnavailable
from bot.manifests.helm.provenance import find_provenance
from bot.manifests.helm.renderer import HelmRenderer, RenderError
from bot.manifests.helm.workloads import chart_path
from bot.manifests.model import Release
from bot.manifests.sandbox import OFFLINE
from tests.conftest import FIXTURES, write_tree

CHARTS = FIXTURES / "charts"
WEB = CHARTS / "web"
MULTI = CHARTS / "multi"
POD = ("spec", "template", "spec")
WEB_DEPLOYMENT = ("Deployment", "", "rel-web")


@pytest.fixture(scope="module")
def renderer() -> Iterator[HelmRenderer]:
    """One child for the module: starting one costs about as much as 60 renders."""
    with HelmRenderer() as shared:
        yield shared


def container(name: str, *rest: str) -> tuple[str, ...]:
    return (*POD, "containers", name, "resources", *rest)


def chart(root: Path, templates: dict[str, str], values: str = "") -> Path:
    files: dict[str, str | bytes] = {f"templates/{n}": t for n, t in templates.items()}
    files["Chart.yaml"] = "apiVersion: v2\nname: t\nversion: 0.1.0\n"
    files["values.yaml"] = values
    return write_tree(root, files)


def configmap(data: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n{data}"


def archive(path: Path, members: list[tarfile.TarInfo | tuple[str, str]]) -> Path:
    """A packaged chart, members written as given (a `..` or a symlink is not checked)."""
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
                continue
            name, text = member
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return path


def packaged(path: Path, *extra: tarfile.TarInfo | tuple[str, str]) -> Path:
    leak = configmap('  leak: {{ .Files.Get "leak.txt" | quote }}\n')
    return archive(
        path,
        [
            ("t/Chart.yaml", "apiVersion: v2\nname: t\nversion: 0.1.0\n"),
            ("t/templates/cm.yaml", leak),
            *extra,
        ],
    )


# --- provenance -------------------------------------------------------------------------


def test_each_sized_field_follows_its_values_key(renderer):
    found = find_provenance(renderer, WEB, {}, "rel", "prod")

    assert found.leaves[(WEB_DEPLOYMENT, ("spec", "replicas"))] == ("replicaCount",)
    proxy = {path[-2:]: key for (obj, path), key in found.leaves.items() if "proxy" in path}
    assert proxy == {
        ("requests", "cpu"): ("sidecar", "resources", "requests", "cpu"),
        ("requests", "memory"): ("sidecar", "resources", "requests", "memory"),
        ("limits", "memory"): ("sidecar", "resources", "limits", "memory"),
    }
    pdb = (("PodDisruptionBudget", "", "rel-web"), ("spec", "minAvailable"))
    assert found.leaves[pdb] == ("podDisruptionBudget", "minAvailable")
    # the unperturbed render is kept for the caller, NOTES.txt left out
    assert found.rendered.error is None
    assert set(found.rendered.objects) == {WEB_DEPLOYMENT, pdb[0]}
    assert "runs 2 replicas" not in found.text


def test_an_empty_resources_map_is_found_where_a_missing_request_can_be_added(renderer):
    found = find_provenance(renderer, WEB, {}, "rel", "prod")

    assert found.mappings[(WEB_DEPLOYMENT, container("app"))] == ("resources",)
    assert not any("app" in path for _, path in found.leaves)  # it renders as `{}`


def test_a_value_hard_coded_in_a_template_has_no_provenance(renderer):
    found = find_provenance(renderer, WEB, {}, "rel", "prod")
    rendered = found.rendered.objects[WEB_DEPLOYMENT]["spec"]["template"]["spec"]

    assert rendered["containers"][1]["resources"]["limits"]["cpu"] == "250m"
    assert (WEB_DEPLOYMENT, container("proxy", "limits", "cpu")) not in found.leaves
    # an init container's resources are the template's own too
    assert not any("initContainers" in path or "migrate" in path for _, path in found.leaves)


def test_autoscaler_bounds_follow_their_keys_and_replicas_drop_out(renderer):
    found = find_provenance(renderer, WEB, {"autoscaling": {"enabled": True}}, "rel", "prod")
    hpa = ("HorizontalPodAutoscaler", "", "rel-web")
    target = ("spec", "metrics", "0", "resource", "target", "averageUtilization")

    assert found.leaves[(hpa, ("spec", "minReplicas"))] == ("autoscaling", "minReplicas")
    assert found.leaves[(hpa, ("spec", "maxReplicas"))] == ("autoscaling", "maxReplicas")
    assert found.leaves[(hpa, target)] == ("autoscaling", "targetCPUUtilizationPercentage")
    assert "replicas" not in found.rendered.objects[WEB_DEPLOYMENT]["spec"]


def test_user_values_win_over_the_chart_defaults_and_null_deletes_a_key(renderer):
    user = {"replicaCount": 4, "resources": {"requests": {"cpu": "300m"}}, "sidecar": None}
    merged = renderer.merge_values(WEB, user)

    assert merged["replicaCount"] == 4
    assert merged["resources"] == {"requests": {"cpu": "300m"}}
    assert "sidecar" not in merged
    assert merged["autoscaling"]["maxReplicas"] == 6  # untouched defaults stay


def test_a_template_that_breaks_on_stand_ins_is_split_out_and_the_rest_still_found():
    # deployment.yaml `fail`s when terminationGracePeriodSeconds is over an hour, which every
    # stand-in is: the render of all stand-ins fails and is halved until that key is alone.
    with HelmRenderer() as own:
        found = find_provenance(own, WEB, {}, "rel", "prod")
        renders = own.renders

    assert renders > 3  # the base render, the two first sets, and their halves
    assert found.unexplained == 1
    assert found.leaves[(WEB_DEPLOYMENT, ("spec", "replicas"))] == ("replicaCount",)
    assert found.mappings[(WEB_DEPLOYMENT, container("app"))] == ("resources",)


def test_controllers_in_app_template_style_with_a_cronjob_and_keda(renderer):
    found = find_provenance(renderer, MULTI, {}, "rel", "prod")
    main, cleanup = ("Deployment", "", "rel-main"), ("CronJob", "", "rel-cleanup")
    scaled = ("ScaledObject", "", "rel-main")
    app = ("controllers", "main", "containers", "app", "resources")
    job_pod = ("spec", "jobTemplate", "spec", "template", "spec")

    assert found.leaves[(main, container("app", "requests", "cpu"))] == (*app, "requests", "cpu")
    assert found.leaves[(main, container("app", "limits", "memory"))] == (*app, "limits", "memory")
    job_cpu = (*job_pod, "containers", "job", "resources", "requests", "cpu")
    assert found.leaves[(cleanup, job_cpu)] == (
        *("controllers", "cleanup", "containers", "job", "resources"),
        *("requests", "cpu"),
    )
    keda = ("controllers", "main", "autoscaling")
    assert found.leaves[(scaled, ("spec", "minReplicaCount"))] == (*keda, "minReplicaCount")
    assert found.leaves[(scaled, ("spec", "maxReplicaCount"))] == (*keda, "maxReplicaCount")
    trigger = ("spec", "triggers", "0", "metadata", "value")
    assert found.leaves[(scaled, trigger)] == (*keda, "cpu")
    # `worker: {resources: {}}` renders no `resources` at all, yet its key is found
    worker = ("controllers", "main", "containers", "worker", "resources")
    assert (
        "resources" not in found.rendered.objects[main]["spec"]["template"]["spec"]["containers"][1]
    )
    assert found.mappings[(main, container("worker"))] == worker


def test_every_stand_in_is_unique_when_a_chart_has_many_numbers(renderer, tmp_path):
    # Stand-ins skip numbers ending in 0 (Go prints 7000000 as 7e+06); skipping must not
    # land two keys on one stand-in, or a field is credited to the wrong key.
    count = 12
    values = "".join(f"v{i}: {i + 1}\n" for i in range(count))
    data = "".join(f"  k{i}: {{{{ .Values.v{i} | quote }}}}\n" for i in range(count))
    found = find_provenance(
        renderer, chart(tmp_path, {"cm.yaml": configmap(data)}, values), {}, "r", "n"
    )

    cm = ("ConfigMap", "", "cm")
    assert {path[-1]: key for (_, path), key in found.leaves.items()} == {
        f"k{i}": (f"v{i}",) for i in range(count)
    }
    assert all(obj == cm for obj, _ in found.leaves)


# --- the renderer and its child ---------------------------------------------------------


def test_a_failing_value_set_does_not_fail_the_others_in_its_batch(renderer):
    results = renderer.render_many(
        WEB, [{}, {"terminationGracePeriodSeconds": 7200}, {"replicaCount": 1}], "rel", "prod"
    )

    assert isinstance(results[0], dict) and isinstance(results[2], dict)
    assert isinstance(results[1], str)
    assert "web/templates/deployment.yaml" in results[1]
    assert "above an hour is not supported" in results[1]
    assert "web/templates/pdb.yaml" in results[0]
    assert "PodDisruptionBudget" not in results[2]["web/templates/pdb.yaml"]  # one replica


def test_the_release_namespace_and_name_reach_the_templates(renderer, tmp_path):
    text = configmap("  ns: {{ .Release.Namespace }}\n  name: {{ .Release.Name }}\n")
    [result] = renderer.render_many(chart(tmp_path, {"cm.yaml": text}), [{}], "rel", "payments")

    assert isinstance(result, dict)
    assert "ns: payments\n  name: rel" in result["t/templates/cm.yaml"]


def test_the_child_gets_no_token_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RIGHTSIZER_GITHUB_TOKEN", "ghs_not-for-charts")
    reads_env = configmap('  token: {{ env "RIGHTSIZER_GITHUB_TOKEN" | quote }}\n')
    with HelmRenderer() as own:
        [result] = own.render_many(chart(tmp_path, {"cm.yaml": reads_env}), [{}], "r", "n")
        assert own._process is not None
        environ = Path(f"/proc/{own._process.pid}/environ")
        if sys.platform.startswith("linux"):
            seen = dict(
                entry.split("=", 1)
                for entry in environ.read_bytes().decode().split("\0")
                if "=" in entry
            )
            assert "RIGHTSIZER_GITHUB_TOKEN" not in seen
            assert set(seen) <= {"PATH", "LANG", "LC_ALL", "OPENBLAS_CORETYPE", *OFFLINE}
            assert all(value == OFFLINE[name] for name, value in seen.items() if name in OFFLINE)

    # Helm leaves sprig's `env` out of its template functions
    assert isinstance(result, str)
    assert 'function "env" not defined' in result


def test_a_template_that_loops_forever_is_stopped_by_the_deadline(tmp_path):
    spin = "{{- range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}\n"
    looping = chart(tmp_path / "spin", {"cm.yaml": spin + configmap("  a: b\n")})
    with HelmRenderer(deadline=2.0) as own:
        with pytest.raises(RenderError, match=r"renderer stopped \(over 2 s"):
            own.render_many(looping, [{}], "r", "n")
        # the next request gets a new child
        assert isinstance(own.render_many(WEB, [{}], "rel", "prod")[0], dict)


def test_a_template_that_eats_memory_is_stopped_by_the_address_space_limit(monkeypatch, tmp_path):
    # 2 GiB rather than the renderer's 4 to keep the test light; below about 1.5 GiB the Go
    # runtime inside the child sometimes fails to start at all.
    monkeypatch.setattr(renderer_module, "MEMORY_LIMIT_BYTES", 2 * 1024**3)
    doubling = '{{- $s := "x" }}{{ range until 40 }}{{ $s = printf "%s%s" $s $s }}{{ end }}\n'
    bomb = chart(tmp_path / "bomb", {"cm.yaml": doubling + configmap("  a: b\n")})
    with HelmRenderer(deadline=30.0) as own:
        assert isinstance(own.render_many(WEB, [{}], "rel", "prod")[0], dict)  # it starts
        with pytest.raises(RenderError, match="renderer stopped"):
            own.render_many(bomb, [{}], "r", "n")
        assert isinstance(own.render_many(WEB, [{}], "rel", "prod")[0], dict)


# --- charts on disk ---------------------------------------------------------------------


def test_a_packaged_chart_renders_like_its_directory(renderer, tmp_path):
    [result] = renderer.render_many(packaged(tmp_path / "t-0.1.0.tgz"), [{}], "r", "n")

    assert isinstance(result, dict)
    assert 'leak: ""' in result["t/templates/cm.yaml"]


def test_a_packaged_chart_with_a_parent_directory_member_is_refused(renderer, tmp_path):
    evil = packaged(tmp_path / "evil.tgz", ("t/../../escaped.yaml", "a: 1\n"))

    with pytest.raises(RenderError, match="illegally references parent directory"):
        renderer.render_many(evil, [{}], "r", "n")
    assert not (tmp_path.parent / "escaped.yaml").exists()


@pytest.mark.parametrize("link_type", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_a_link_in_a_packaged_chart_reads_nothing_outside_it(renderer, tmp_path, link_type):
    secret = write_tree(tmp_path, {"secret.txt": "hunter2\n"}) / "secret.txt"
    link = tarfile.TarInfo("t/leak.txt")
    link.type, link.linkname = link_type, str(secret)

    [result] = renderer.render_many(packaged(tmp_path / "t.tgz", link), [{}], "r", "n")

    assert isinstance(result, dict)
    assert "hunter2" not in result["t/templates/cm.yaml"]


def test_a_chart_directory_with_a_symlink_out_of_it_is_refused(renderer, tmp_path):
    # Helm's directory loader follows symlinks, and `.Files.Get` would render the target.
    secret = write_tree(tmp_path, {"outside/secret.txt": "hunter2\n"}) / "outside/secret.txt"
    leaky = chart(
        tmp_path / "chart",
        {"cm.yaml": configmap('  leak: {{ .Files.Get "leak.txt" | quote }}\n')},
    )
    os.symlink(secret, leaky / "leak.txt")

    with pytest.raises(RenderError, match=r"leak\.txt in chart chart links outside the chart"):
        renderer.render_many(leaky, [{}], "r", "n")


def release(chart_ref: str, local: str | None = None) -> Release:
    return Release(
        environment="apps/podinfo",
        name="podinfo",
        namespace="apps",
        chart=local,
        chart_ref=chart_ref,
        layers=[],
        source="apps/podinfo/release.yaml",
    )


@pytest.mark.parametrize(
    "ref",
    [
        "https://stefanprodan.github.io/podinfo podinfo@6.5.0",
        "oci://ghcr.io/bjw-s/helm app-template@3.1.0",
    ],
)
def test_a_chart_neither_vendored_nor_cached_is_reported_by_its_reference(
    monkeypatch, tmp_path, ref
):
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))

    with pytest.raises(ChartUnavailable) as raised:
        chart_path(tmp_path, release(ref))

    assert raised.value.problem == f"chart not available locally: {ref}"
    assert str(raised.value) == f"apps/podinfo/release.yaml: chart not available locally: {ref}"


def test_a_chart_is_found_vendored_or_in_the_cache_by_exact_version(monkeypatch, tmp_path):
    ref = "https://stefanprodan.github.io/podinfo podinfo@6.5.0"
    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_VARIABLE, str(cache))
    write_tree(tmp_path / "repo", {"charts/web/Chart.yaml": "apiVersion: v2\nname: web\n"})
    cache.mkdir()
    archived = packaged(cache / "podinfo-6.5.0.tgz")
    unpacked = write_tree(cache, {"app-template/3.1.0/Chart.yaml": "name: app-template\n"})

    vendored = chart_path(tmp_path / "repo", release("charts/web", local="charts/web"))
    assert vendored == (tmp_path / "repo" / "charts" / "web").resolve()
    assert chart_path(tmp_path, release(ref)) == archived
    oci = release("oci://ghcr.io/bjw-s/helm app-template@3.1.0")
    assert chart_path(tmp_path, oci) == unpacked / "app-template" / "3.1.0"
    with pytest.raises(ChartUnavailable):  # a range could mean any chart: never guessed
        chart_path(tmp_path, release("https://stefanprodan.github.io/podinfo podinfo@^6.5.0"))
