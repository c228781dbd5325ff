"""A container's runtime memory settings, read from env and command line, set a floor no
memory proposal goes below."""

import pytest

from bot.manifests.model import ContainerSpec
from bot.manifests.runtimes import runtime_memory
from recommenders.model import ContainerResources, WorkloadKey, WorkloadSpec
from recommenders.strategies import get_strategy
from recommenders.strategies.workload import recommend
from tests.test_strategy import PRICES, _daily, _usage

MI, GI = 2**20, 2**30


@pytest.mark.parametrize(
    ("env", "command", "floor", "reason"),
    [
        ({"JAVA_OPTS": "-XX:+UseG1GC -Xmx2g"}, (), 2 * GI / 0.75, "heap is capped at 2Gi (-Xmx2g)"),
        ({}, ("java", "-XX:MaxHeapSize=1536m", "-jar", "app.jar"), 1536 * MI / 0.75, "1.5Gi"),
        # a shell wrapper's command string is read too
        ({}, ("sh", "-c", "exec java -Xmx512M -jar app.jar"), 512 * MI / 0.75, "-Xmx512M"),
        # _JAVA_OPTIONS is read after the command line, JAVA_TOOL_OPTIONS before it
        ({"JAVA_TOOL_OPTIONS": "-Xmx4g", "_JAVA_OPTIONS": "-Xmx1g"}, ("java", "-Xmx3g"),
         GI / 0.75, "-Xmx1g"),
        ({"GOMEMLIMIT": "1800MiB"}, (), 1800 * MI / 0.9, "GOMEMLIMIT=1800MiB"),
        ({"NODE_OPTIONS": "--max-old-space-size=1536"}, (), 2048 * MI, "old space"),
        ({"DOTNET_GCHeapHardLimit": "0xC800000"}, (), 200 * MI / 0.75, "GC heap"),
        # a percentage follows the limit by itself: named, no floor
        ({"JAVA_TOOL_OPTIONS": "-XX:MaxRAMPercentage=75.0"}, (), 0.0, "follows the limit"),
    ],
)  # fmt: skip
def test_runtime_settings_give_the_memory_they_need(env, command, floor, reason):
    found = runtime_memory(ContainerSpec("app", env=env, command=command))
    assert found is not None
    assert found.floor == pytest.approx(floor)
    assert reason in found.reason


@pytest.mark.parametrize(
    "env", [{}, {"JAVA_OPTS": "-Xms256m"}, {"GOMEMLIMIT": "off"}, {"JAVA_OPTS": "'-Xmx2g x"}]
)
def test_what_is_not_a_ceiling_sets_no_floor(env):
    """An initial heap, Go's `off`, a flag glued to a stray quote: none caps the runtime."""
    assert runtime_memory(ContainerSpec("app", env=env)) is None


def test_memory_is_never_proposed_below_the_heap_and_its_overhead():
    """The demo's checkout: usage needs ~1.6Gi, but -Xmx2g needs 2.67Gi with the JVM beside
    it; the request rises to it and the limit, already above, stays."""
    usage = _usage(_daily(0.3, 0.05, noise=0.01), _daily(1.3 * GI, 0, noise=MI))
    floor = 2 * GI / 0.75
    container = ContainerResources(
        "api", {"cpu": 1.0, "memory": 2 * GI}, {"memory": 3 * GI}, floor, "the JVM heap ..."
    )
    spec = WorkloadSpec(WorkloadKey("prod", "shop", "Deployment", "api"), (container,), 2, None)
    fields = {f.field: f for f in recommend(get_strategy("default"), spec, usage, PRICES).fields}
    request, limit = fields["requests.memory"], fields["limits.memory"]
    assert request.proposed == pytest.approx(floor)
    assert request.basis.startswith("not below 2.67 GiB: the JVM heap ...")
    assert limit.proposed == 3 * GI
