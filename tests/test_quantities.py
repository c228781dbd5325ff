import pytest

from bot.manifests.quantities import (
    GI,
    MI,
    format_cpu,
    format_memory,
    parse_cpu,
    parse_memory,
    rounded_up,
)
from recommenders.errors import InputError


@pytest.mark.parametrize(
    ("raw", "cores"),
    [("500m", 0.5), (0.5, 0.5), (2, 2.0), ("1", 1.0), ("1.5", 1.5), ("25m", 0.025)],
)
def test_parse_cpu(raw, cores):
    assert parse_cpu(raw) == pytest.approx(cores)


@pytest.mark.parametrize(
    ("raw", "size"),
    [("512Mi", 512 * 2**20), ("1Gi", 2**30), ("1G", 10**9), ("1.5Gi", 1.5 * 2**30), (1000, 1000)],
)
def test_parse_memory(raw, size):
    assert parse_memory(raw) == pytest.approx(size)


@pytest.mark.parametrize("raw", ["lots", "5 cores", "1Gi", ""])
def test_parse_cpu_refuses_what_is_not_cpu(raw):
    with pytest.raises(InputError, match="cpu"):
        parse_cpu(raw, where="cpu")


@pytest.mark.parametrize(
    ("cores", "like", "written"),
    [
        (0.3512, "500m", "355m"),  # millicores stay millicores, rounded up to 5m
        (0.3512, 0.5, 0.355),  # a bare number stays a bare number
        (0.35, "1", "0.35"),  # a quoted number stays a string
        (2.0, 1, 2),  # whole cores stay an integer
        (0.0001, "100m", "5m"),
    ],
)
def test_format_cpu_keeps_the_files_style(cores, like, written):
    assert format_cpu(cores, like) == written


@pytest.mark.parametrize(
    ("size", "like", "written"),
    [
        (300 * 2**20, "512Mi", "300Mi"),
        (300.2 * 2**20, "512Mi", "301Mi"),  # rounded up, never below what was asked
        (1.3 * 2**30, "1Gi", "1.3Gi"),
        (2 * 2**30, "1Gi", "2Gi"),
        (0.68 * 2**30, "1Gi", "697Mi"),  # below one unit: the next binary unit, not 0.68Gi
        (5 * 10**8, "1G", "500M"),  # decimal units stay decimal
        (1234, 1000, 1234),
    ],
)
def test_format_memory_keeps_the_files_units(size, like, written):
    assert format_memory(size, like) == written


@pytest.mark.parametrize(
    ("field", "value", "like", "written"),
    [
        # CPU: 5m under 100m, 10m under a core, 50m under four cores, 100m above
        ("requests.cpu", 0.0412, "100m", "45m"),
        ("requests.cpu", 0.4551, "250m", "460m"),
        ("requests.cpu", 1.26, 1, 1.3),
        ("requests.cpu", 5.01, "4", "5.1"),
        # memory: 16Mi under 256Mi, 64Mi under 2Gi, 256Mi above; Mi stays Mi
        ("requests.memory", 50 * MI, "64Mi", "64Mi"),
        ("requests.memory", 413 * MI, "512Mi", "448Mi"),
        ("requests.memory", 1199 * MI, "1536Mi", "1216Mi"),
        # a file that writes Gi gets quarter Gi from 1Gi up, never 1.13Gi; Mi below
        ("requests.memory", 1.13 * GI, "1Gi", "1.25Gi"),
        ("requests.memory", 1.57 * GI, "2Gi", "1.75Gi"),
        ("requests.memory", 672 * MI, "1Gi", "704Mi"),
        # decimal units step in decimal
        ("requests.memory", 412 * 10**6, "1G", "450M"),
    ],
)
def test_new_values_round_up_to_steps_a_person_picks_in_the_files_style(
    field, value, like, written
):
    formatted = format_cpu if field.endswith("cpu") else format_memory
    assert formatted(rounded_up(field, value, like), like) == written
