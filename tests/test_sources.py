"""Utilisation tables load into the tidy frame; bad rows are named by file, line and column."""

import itertools
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommenders.errors import InputError
from recommenders.model import WorkloadKey
from recommenders.sources import checks, validate
from recommenders.sources.checks import check_usage
from recommenders.sources.frames import Usage, series_numbers, stable_order
from recommenders.sources.prices import unit_prices
from recommenders.sources.registry import load_cost, load_utilisation
from recommenders.sources.usage import UsageTable, hourly_series
from tests.conftest import COST, UTILISATION

HEADER = "timestamp,environment,namespace,kind,workload,container,metric,value\n"
API = "prod,shop,Deployment,api,api"


def _csv(tmp_path: Path, text: str, name: str = "usage.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _hours(count: int, metric: str = "cpu_cores", value: str = "0.5", start: int = 0) -> str:
    stamps = pd.date_range("2026-11-01", periods=count + start, freq="h", tz="UTC")[start:]
    return "".join(f"{t:%Y-%m-%dT%H:%M:%SZ},{API},{metric},{value}\n" for t in stamps)


def test_fixture_utilisation_has_30_days_for_every_container():
    table = UsageTable([load_utilisation(UTILISATION)])
    usage = table.for_workload(WorkloadKey("prod", "checkout", "Deployment", "checkout"))
    assert set(usage.cpu) == {"checkout", "log-shipper"}
    assert usage.hours == 720
    assert usage.replicas is not None and usage.replicas.min() >= 2
    short = table.for_workload(
        WorkloadKey("prod", "recommendations", "Deployment", "recommendations")
    )
    assert short.hours == 72


def test_lookups_slice_each_series_from_rows_in_any_order_and_from_no_rows_at_all(tmp_path):
    rows = _hours(48, value="0.25") + _hours(48, "memory_bytes", "1e9")
    shuffled = "".join(random.Random(4).sample(rows.splitlines(keepends=True), 96))
    table = UsageTable([load_utilisation(_csv(tmp_path, HEADER + shuffled))])
    [key] = table.workloads()
    usage = table.for_workload(key)
    assert usage is not None and usage.hours == 48
    (cpu,), (memory,) = usage.cpu.values(), usage.memory.values()
    assert cpu.index.is_monotonic_increasing and set(cpu) == {0.25} and set(memory) == {1e9}
    empty = UsageTable([])
    assert empty.workloads() == [] and empty.for_workload(key) is None


def test_a_source_grouped_by_the_order_its_checks_found_looks_up_as_one_ordered_anew():
    """The usage table reuses a single source's check order (series, then time); ordering
    the rows again, as it does for several sources, gives the same lookups: workloads in
    one order, the same series, rows without a name in none."""
    stamps = pd.date_range("2026-11-01", periods=30, freq="h", tz="UTC")
    rng = np.random.default_rng(5)
    rows = [
        {"timestamp": stamp, "environment": env, "namespace": "shop", "kind": "Deployment",
         "workload": name, "container": container, "metric": metric,
         "value": rng.random() * (1e9 if metric == "memory_bytes" else 1)}
        for env in ("prod", "dev")
        for name in ("api", "web")
        for container, metric in (("app", "cpu_cores"), ("app", "memory_bytes"),
                                  ("sidecar", "cpu_cores"), ("", "replicas"))
        for stamp in stamps.delete(7 if name == "web" else [])
    ]  # fmt: skip
    frame = pd.DataFrame(rows).sample(frac=1, random_state=3, ignore_index=True)
    frame.loc[11, "namespace"] = None  # in no series
    for column in ("environment", "namespace", "kind", "workload", "container", "metric"):
        frame[column] = frame[column].astype("category")
    checked = check_usage(frame, "test")
    assert checked.order is not None
    reused = UsageTable([Usage(frame, "test", "long", len(frame), order=checked.order)])
    anew = UsageTable([Usage(frame, "test", "long", len(frame))])
    assert reused.workloads() == anew.workloads() and len(anew.workloads()) == 4
    for key in anew.workloads():
        one, other = reused.for_workload(key), anew.for_workload(key)
        assert one is not None and other is not None
        for a, b in ((one.cpu, other.cpu), (one.memory, other.memory)):
            assert list(a) == list(b)
            for container in a:
                pd.testing.assert_series_equal(a[container], b[container])
        pd.testing.assert_series_equal(one.replicas, other.replicas)
    found = [reused.for_workload(key) for key in reused.workloads()]
    series = [s for u in found for s in (*u.cpu.values(), *u.memory.values(), u.replicas)]
    assert not any(frame.loc[11, "value"] in s.to_numpy() for s in series)
    assert sum(len(s) for s in series) >= len(frame) - 1


def test_unit_prices_per_environment_come_from_the_cost_export():
    prices, notes = unit_prices([load_cost(COST)])
    assert set(prices) == {"dev", "staging", "prod"} and notes == []
    assert prices["prod"].cpu_core_hour == pytest.approx(0.0316, rel=1e-3)
    assert prices["prod"].memory_gib_hour == pytest.approx(0.00424, rel=1e-2)
    assert prices["prod"].source.startswith("cost.csv (daily), 2026-10-28 to 2026-11-26")


def test_missing_column_names_the_file_and_the_column(tmp_path):
    path = _csv(tmp_path, "timestamp,environment,workload,metric,value\n")
    with pytest.raises(InputError) as error:
        load_utilisation(path)
    assert error.value.where == f"{path}:1"
    assert "missing column(s) namespace, kind, container" in error.value.problem


def test_a_misspelt_column_gets_a_suggestion(tmp_path):
    path = _csv(tmp_path, HEADER.replace("namespace", "namespce") + _hours(1))
    with pytest.raises(InputError, match=r"did you mean 'namespce' for 'namespace'"):
        load_utilisation(path, "long")


def test_a_bad_value_names_its_line(tmp_path):
    path = _csv(tmp_path, HEADER + _hours(1) + f"2026-11-01T01:00:00Z,{API},cpu_cores,lots\n")
    with pytest.raises(InputError) as error:
        load_utilisation(path)
    assert error.value.where == f"{path}:3"
    assert "column value: 'lots'" in error.value.problem


@pytest.mark.parametrize("value", ["-0.5", "NaN", "", "inf"])
def test_negative_and_missing_values_are_refused(tmp_path, value):
    path = _csv(tmp_path, HEADER + _hours(2) + f"2026-11-01T02:00:00Z,{API},cpu_cores,{value}\n")
    with pytest.raises(InputError, match=r":4: column value"):
        load_utilisation(path)


def test_a_bad_timestamp_and_an_unknown_metric_name_their_lines(tmp_path):
    bad_time = _csv(tmp_path, HEADER + f"yesterday,{API},cpu_cores,0.5\n")
    with pytest.raises(InputError, match=r":2: column timestamp"):
        load_utilisation(bad_time)
    bad_metric = _csv(tmp_path, HEADER + f"2026-11-01T00:00:00Z,{API},gpu,1\n")
    with pytest.raises(InputError, match=r":2: column metric: 'gpu'"):
        load_utilisation(bad_metric)


def test_mixed_time_zones_are_refused(tmp_path):
    rows = _hours(2) + f"2026-11-01T03:00:00+01:00,{API},cpu_cores,0.5\n"
    with pytest.raises(InputError, match=r":4: column timestamp: .* mixes time zones"):
        load_utilisation(_csv(tmp_path, HEADER + rows))


def test_a_duplicate_timestamp_names_the_series_and_the_line(tmp_path):
    rows = _hours(3) + f"2026-11-01T01:00:00Z,{API},cpu_cores,0.7\n"
    with pytest.raises(InputError) as error:
        load_utilisation(_csv(tmp_path, HEADER + rows))
    assert error.value.where.endswith(":5")
    assert "prod/shop/Deployment/api api cpu_cores has a second value at 2026-11-01T01:00:00Z" in (
        error.value.problem
    )


def test_millicores_in_a_cores_column_are_caught_and_the_fix_named(tmp_path):
    with pytest.raises(InputError, match=r"looks like millicores .*cpu_millicores"):
        load_utilisation(_csv(tmp_path, HEADER + _hours(3, value="250")))
    usage = load_utilisation(_csv(tmp_path, HEADER + _hours(3, "cpu_millicores", "250")))
    assert usage.frame["value"].tolist() == [0.25] * 3
    assert set(usage.frame["metric"]) == {"cpu_cores"}


def test_mib_in_a_bytes_column_is_caught_and_mb_differs_from_mib(tmp_path):
    with pytest.raises(InputError, match=r"looks like MiB or MB, not bytes"):
        load_utilisation(_csv(tmp_path, HEADER + _hours(3, "memory_bytes", "512")))
    mib = load_utilisation(_csv(tmp_path, HEADER + _hours(1, "memory_mib", "512"), "a.csv"))
    mb = load_utilisation(_csv(tmp_path, HEADER + _hours(1, "memory_mb", "512"), "b.csv"))
    assert mib.frame["value"].iloc[0] == 512 * 2**20
    assert mb.frame["value"].iloc[0] == 512 * 10**6


def test_wrong_units_in_a_wide_table_name_the_source_line(tmp_path):
    header = "timestamp,environment,namespace,kind,workload,container,cpu_cores,memory_bytes\n"
    rows = "".join(
        f"2026-11-01T0{hour}:00:00Z,{API},{cores},300000000\n"
        for hour, cores in enumerate(["0.2", "250", "260"])
    )
    with pytest.raises(InputError) as error:
        load_utilisation(_csv(tmp_path, header + rows))
    assert error.value.where.endswith("usage.csv:3")
    assert "looks like millicores" in error.value.problem


def _series(workload: str, start: str, count: int, step: str, skip: int = -1) -> str:
    stamps = pd.date_range(start, periods=count, freq=step, tz="UTC")
    return "".join(
        f"{t:%Y-%m-%dT%H:%M:%SZ},prod,shop,Deployment,{workload},{workload},cpu_cores,0.5\n"
        for i, t in enumerate(stamps)
        if i != skip
    )


@pytest.mark.parametrize(
    ("rows", "missing"),
    [
        # Each at one step, the second series' samples 20 months before the first's.
        (_series("a", "2026-11-01", 5, "h") + _series("b", "2025-03-01", 4, "h"), 0),
        # Steps of their own (an hour, two, five minutes), none missed.
        (
            _series("a", "2026-11-01", 5, "h")
            + _series("b", "2026-11-01", 4, "2h")
            + _series("c", "2026-11-02", 9, "5min"),
            0,
        ),
        # One step everywhere but one sample missed, in the last series.
        (_series("a", "2026-11-01", 5, "h") + _series("b", "2025-03-01", 6, "h", skip=3), 1),
        # Seven weeks missed inside a series, between two series at one step.
        (
            _series("a", "2026-11-01", 5, "h")
            + _series("b", "2026-09-01", 3, "h")
            + _series("b", "2026-10-21", 3, "h")
            + _series("c", "2026-11-01", 5, "h"),
            1197,
        ),
        # One sample a series: no step to miss.
        (_series("a", "2026-11-01", 1, "h") + _series("b", "2025-03-01", 1, "h"), 0),
    ],
)
def test_only_a_sample_missed_within_a_series_is_a_gap(tmp_path, rows, missing):
    usage = load_utilisation(_csv(tmp_path, HEADER + rows))
    assert usage.missing_steps == missing
    assert bool(usage.warnings) == bool(missing)


def test_a_step_within_a_series_is_always_below_one_between_two():
    assert 2 * checks.MAX_SPAN.total_seconds() < checks._BETWEEN_SERIES


def test_gaps_are_counted_per_series_at_its_own_step(tmp_path):
    rows = _hours(5) + _hours(3, start=8)  # hours 5, 6 and 7 are missing
    usage = load_utilisation(_csv(tmp_path, HEADER + rows))
    assert usage.missing_steps == 3
    assert usage.warnings == [
        "1 series have gaps: prod/shop/Deployment/api api cpu_cores: 3 missing samples at its "
        "1 h step"
    ]


def test_the_wide_variant_reads_like_the_long_one(tmp_path):
    long = load_utilisation(UTILISATION).frame
    sample = long[long["workload"].isin(["checkout", "catalog"])]
    wide = sample.pivot_table(
        index=["timestamp", "environment", "namespace", "kind", "workload", "container"],
        columns="metric",
        values="value",
    ).reset_index()
    replicas = wide[wide["container"] == ""][
        ["timestamp", "environment", "namespace", "kind", "workload", "replicas"]
    ]
    wide = wide[wide["container"] != ""].drop(columns="replicas").merge(replicas)
    wide["cluster"] = wide.pop("environment")
    wide["memory_mib"] = wide.pop("memory_bytes") / 2**20
    wide["timestamp"] = wide["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    path = tmp_path / "wide.csv"
    wide.to_csv(path, index=False)
    loaded = load_utilisation(path)
    assert loaded.format == "wide"
    assert _sorted(loaded.frame).equals(_sorted(sample))


def test_parquet_reads_like_csv(tmp_path):
    frame = pd.read_csv(UTILISATION, dtype=str, keep_default_na=False)
    path = tmp_path / "usage.parquet"
    frame.to_parquet(path)
    assert _sorted(load_utilisation(path).frame).equals(
        _sorted(load_utilisation(UTILISATION).frame)
    )


def test_parquet_errors_name_the_row(tmp_path):
    frame = pd.read_csv(UTILISATION, dtype=str, keep_default_na=False).head(3)
    frame.loc[1, "value"] = "x"
    path = tmp_path / "usage.parquet"
    frame.to_parquet(path)
    with pytest.raises(InputError) as error:
        load_utilisation(path)
    assert error.value.where == f"{path} row 2"


def test_parquet_with_float_values_reads_like_csv_and_names_a_bad_row(tmp_path):
    frame = pd.read_csv(UTILISATION, dtype=str, keep_default_na=False)
    frame["value"] = frame["value"].astype(float)
    path = tmp_path / "usage.parquet"
    frame.to_parquet(path)
    assert _sorted(load_utilisation(path).frame).equals(
        _sorted(load_utilisation(UTILISATION).frame)
    )
    for bad in (-0.5, float("nan"), float("inf")):
        frame.loc[4, "value"] = bad
        frame.to_parquet(path)
        with pytest.raises(InputError, match="is not a non-negative number") as error:
            load_utilisation(path)
        assert error.value.where == f"{path} row 5"


@pytest.mark.parametrize(
    ("cell", "shown"),
    [("-1e-1", "'-1e-1'"), ("", "''"), ("NULL", "'NULL'"), ("nan", "'nan'"), ("inf", "'inf'"),
     ("1,5", "'1,5'")],
)  # fmt: skip
def test_a_csv_value_that_is_no_usage_is_named_as_the_file_writes_it(tmp_path, cell, shown):
    """Values are read as numbers straight from the CSV when they all are, else as text: the
    error names the line and the cell as written either way, whether the cell parses as a
    number (a negative one) or not."""
    lines = UTILISATION.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[5].split(",")
    row[header.index("value")] = f'"{cell}"' if "," in cell else cell
    lines[5] = ",".join(row)
    path = tmp_path / "usage.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="is not a non-negative number") as error:
        load_utilisation(path)
    assert error.value.where == f"{path}:6"
    assert f"column value: {shown} is not" in str(error.value)


def test_a_csv_read_as_numbers_gives_the_values_the_text_read_gives(tmp_path):
    """The two ways a CSV's values are read must agree to the bit: Arrow's CSV parser, when
    every cell is a number, and text converted by `numbers`, when one is not."""
    lines = UTILISATION.read_text().splitlines()
    header = lines[0].split(",")
    column = header.index("value")
    values = ["0.1", "1e-05", "3", "2.5E3", "007.50", "12345678901234567", "+4", " 5"]
    for line, value in enumerate(values, start=1):
        row = lines[line].split(",")
        row[column] = f'"{value}"' if value.startswith(" ") else value
        lines[line] = ",".join(row)
    path = tmp_path / "usage.csv"
    path.write_text("\n".join(lines) + "\n")
    as_numbers = validate._read_csv(path, frozenset(), frozenset({"value"}))
    as_text = validate._read_csv(path, frozenset(), frozenset())
    assert as_numbers["value"].dtype.kind == "f" and as_text["value"].dtype.kind != "f"
    read = validate.numbers(as_numbers, "value", path).to_numpy()
    converted = validate.numbers(as_text, "value", path).to_numpy()
    assert read.tobytes() == converted.tobytes()
    assert read[: len(values)].tolist() == [float(value) for value in values]


@pytest.mark.parametrize("zone", [None, "UTC", "Europe/Paris"])
def test_parquet_with_timestamps_stored_as_such_reads_like_csv(tmp_path, zone):
    frame = pd.read_csv(UTILISATION, dtype=str, keep_default_na=False)
    stamps = pd.to_datetime(frame["timestamp"], utc=True)
    frame["timestamp"] = stamps.dt.tz_convert(zone) if zone else stamps.dt.tz_localize(None)
    path = tmp_path / "usage.parquet"
    frame.to_parquet(path)
    assert _sorted(load_utilisation(path).frame).equals(
        _sorted(load_utilisation(UTILISATION).frame)
    )
    frame.loc[2, "timestamp"] = pd.NaT
    frame.to_parquet(path)
    with pytest.raises(InputError, match="is not a timestamp") as error:
        load_utilisation(path)
    assert error.value.where == f"{path} row 3"


def test_a_wide_parquet_reads_an_empty_float_cell_as_no_sample(tmp_path):
    header = "timestamp,environment,namespace,kind,workload,container,cpu_cores,memory_bytes\n"
    rows = "".join(
        f"2026-11-01T0{hour}:00:00Z,{API},{cores},{memory}\n"
        for hour, (cores, memory) in enumerate([("0.2", "300000000"), ("", "310000000")])
    )
    text = _csv(tmp_path, header + rows)
    frame = pd.read_csv(text, dtype={"cpu_cores": float, "memory_bytes": float})
    path = tmp_path / "wide.parquet"
    frame.to_parquet(path)
    assert _sorted(load_utilisation(path).frame).equals(_sorted(load_utilisation(text).frame))


def test_an_unknown_header_lists_the_formats_and_the_flag(tmp_path):
    path = _csv(tmp_path, "when,what\n1,2\n")
    with pytest.raises(InputError, match=r"no known format .*long, wide, opencost.*--utilisation"):
        load_utilisation(path)
    with pytest.raises(InputError, match=r"--cost-format: unknown format 'nope'"):
        load_cost(COST, "nope")


def test_a_usage_source_without_environment_matches_a_workload_in_any_one(tmp_path):
    header = HEADER.replace("environment,", "")
    rows = _hours(3).replace("prod,", "")
    table = UsageTable([load_utilisation(_csv(tmp_path, header + rows))])
    assert table.for_workload(WorkloadKey("staging", "shop", "Deployment", "api")) is not None
    assert table.unmatched([WorkloadKey("prod", "shop", "Deployment", "api")]) == []
    assert table.unmatched([WorkloadKey("prod", "shop", "Deployment", "web")]) == [
        WorkloadKey("", "shop", "Deployment", "api")
    ]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    columns = ["environment", "namespace", "kind", "workload", "container", "metric", "timestamp"]
    ordered = frame.sort_values(columns).reset_index(drop=True)[[*columns, "value"]]
    ordered[columns[:-1]] = ordered[columns[:-1]].astype(str)  # categories differ by source
    ordered["value"] = ordered["value"].astype(float).round(6)
    return ordered


def test_a_timestamp_decades_off_is_refused_at_its_line(tmp_path):
    rows = UTILISATION.read_text().splitlines()
    rows[5] = rows[5].replace(rows[5].split(",")[0], "1970-01-01T00:00:00Z")
    path = tmp_path / "far.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError) as error:
        load_utilisation(path)
    assert error.value.where == f"{path}:6"
    assert error.value.problem.startswith("timestamp 1970-01-01T00:00:00Z lies 20,")
    assert "at most 730 days either side" in error.value.problem


def test_json_nested_too_deeply_is_refused_by_name(tmp_path):
    path = tmp_path / "allocation.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match="JSON nested too deeply to be an export"):
        load_cost(path, "opencost-allocation")


@pytest.mark.parametrize("seed", range(40))
def test_series_are_numbered_as_a_sorted_grouping_numbers_them(seed):
    """Categories in any order, unused ones, missing names, plain text columns, (seed 0)
    cardinalities whose product overflows 64 bits, and (odd seeds) each series' rows in one
    run, which are numbered once a run."""
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(0, 400))
    columns = {}
    for number in range(8 if seed == 0 else int(rng.integers(1, 5))):
        names = [f"n{i}" for i in range(300 if seed == 0 else int(rng.integers(1, 6)))]
        values = rng.choice(names + ([None] if rng.random() < 0.3 else []), rows)
        column = pd.Series(values, dtype=object)
        if rng.random() < 0.6:
            categories = sorted({*names, "unused"})
            column = pd.Series(pd.Categorical(values, categories[:: rng.choice([1, -1])]))
        columns[f"c{number}"] = column
    frame = pd.DataFrame(columns)
    if seed % 2:  # each series' rows together, the series in no order, as exports write them
        groups = frame.groupby(list(columns), sort=False, observed=True, dropna=False).ngroup()
        shuffled = rng.permutation(int(groups.max()) + 1 if rows else 0)
        frame = frame.iloc[np.argsort(shuffled[groups.to_numpy()], kind="stable")]
    grouped = frame.groupby(list(columns), sort=True, observed=True).ngroup()
    expected = grouped.fillna(-1).to_numpy().astype(np.int64)
    assert series_numbers(frame, list(columns)).tolist() == expected.tolist()


@pytest.mark.parametrize("seed", range(40))
def test_rows_are_ordered_as_a_stable_sort_orders_them_whatever_their_runs(seed):
    """Each series' rows together in time order, the series in any order (as exports write
    them), the first without a name (-1: negative keys); a series in two runs, apart in
    time, touching or overlapping; time order (every row a run); a time repeated within a
    run and across runs; one row; none."""
    rng = np.random.default_rng(seed)
    count = int(rng.integers(0, 12))
    runs = [(s - 1, np.sort(rng.integers(0, 50, int(rng.integers(1, 30))))) for s in range(count)]
    if seed % 2 and runs:  # a series' other hours in a run of their own: apart, touching
        series, hours = runs[int(rng.integers(0, len(runs)))]  # (its first its last), or not
        runs.append((series, hours + int(rng.choice([0, 25, 60, hours[-1] - hours[0]]))))
    runs = [runs[number] for number in rng.permutation(len(runs))]
    series = np.concatenate([np.zeros(0, np.int64), *(np.full(len(h), s) for s, h in runs)])
    hours = np.concatenate([np.zeros(0, np.int64), *(hours for _, hours in runs)])
    if seed % 4 == 2:  # in time order: every row a run of its own
        by_time = np.argsort(hours, kind="stable")
        series, hours = series[by_time], hours[by_time]
    keys = (series.astype(np.int64) << 32) | hours
    expected = np.argsort(keys, kind="stable")
    found = stable_order(keys, series)
    assert found.tolist() == expected.tolist() and found.dtype == expected.dtype


def test_an_hour_two_runs_share_keeps_the_files_order():
    """A series' later run first in the file, starting at the hour its earlier run ends:
    that hour's rows stay in the file's order, as a stable sort leaves them."""
    keys = np.array([5, 7, 1, 5], dtype=np.int64)
    assert stable_order(keys, np.zeros(4, np.int64)).tolist() == [2, 0, 3, 1]


@pytest.mark.parametrize("ordered", [False, True], ids=["ordered anew", "checks' order"])
def test_each_series_is_looked_up_as_its_own_hourly_resampling_whatever_its_shape(ordered):
    """Hourly runs are handed over as they are, the rest resampled: 5-minute samples, a
    sample off the hour, hours out of order, a gap, a single sample. The same whether the
    table orders the rows itself or takes the order its source's checks found."""
    start = pd.Timestamp("2026-11-01", tz="UTC")
    hours = pd.date_range(start, periods=6, freq="1h")
    shapes = {
        "hourly": hours,
        "five-minute": pd.date_range(start, periods=30, freq="5min"),
        "off-the-hour": hours.insert(3, start + pd.Timedelta(minutes=150)),
        "out-of-order": hours[[1, 0, 2, 3, 5, 4]],
        "gap": hours.delete(2),
        "single": hours[:1],
    }
    rows = [
        {"timestamp": stamp, "environment": "prod", "namespace": "shop", "kind": "Deployment",
         "workload": "api", "container": name, "metric": "cpu_cores", "value": 0.1 * i + 0.5}
        for name, stamps in shapes.items()
        for i, stamp in enumerate(stamps)
    ]  # fmt: skip
    frame = pd.DataFrame(rows)
    for column in ("environment", "namespace", "kind", "workload", "container", "metric"):
        frame[column] = frame[column].astype("category")
    order = check_usage(frame, "test").order if ordered else None
    table = UsageTable([Usage(frame, "test", "long", len(frame), order=order)])
    usage = table.for_workload(WorkloadKey("prod", "shop", "Deployment", "api"))
    assert usage is not None
    for name, stamps in shapes.items():
        values = [0.1 * i + 0.5 for i in range(len(stamps))]
        expected = hourly_series(pd.Series(values, stamps))
        pd.testing.assert_series_equal(
            usage.cpu[name], expected, check_names=False, check_freq=False
        )


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_an_hourly_series_is_handed_over_as_it_is_in_every_unit_pandas_keeps(unit):
    """An hour is counted in the index's own unit: a series on whole hours is returned as
    it is, one out of order sorted, one at half hours or off the hour averaged into hours."""
    hours = pd.date_range("2026-11-01", periods=5, freq="1h", tz="UTC").as_unit(unit)
    values = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], hours)
    assert hourly_series(values) is values
    shuffled = values.iloc[[2, 0, 1, 4, 3]]
    pd.testing.assert_series_equal(hourly_series(shuffled), values, check_freq=False)
    halves = pd.Series([1.0, 3.0, 5.0, 7.0], hours[:2].append(hours[:2] + pd.Timedelta("30min")))
    assert hourly_series(halves).tolist() == [3.0, 5.0]
    late = pd.Series([1.0, 2.0], hours[:2] + pd.Timedelta("1min"))
    assert hourly_series(late).index.equals(hours[:2])
    gap = pd.Series([1.0, 2.0, 4.0], hours[[0, 1, 3]])  # median step 1.5 h: hourly, a gap
    assert hourly_series(gap).tolist() == [1.0, 2.0, 3.0, 4.0]
    every_150_minutes = pd.Series([1.0, 2.0, 3.0], hours[0] + pd.to_timedelta([0, 150, 300], "m"))
    held = hourly_series(every_150_minutes)  # each sample held until the next one's hour
    assert held.tolist() == [1.0, 1.0, 2.0, 2.0, 2.0, 3.0]


def test_runs_of_whole_hours_are_told_from_every_other_kind_of_run():
    """Whether each series is already hourly is found for all at once from the places where
    a step is not one hour: checked here against the plain definition on random runs (steps
    of an hour, two, half an hour or none; starts on and off the hour), in every unit."""
    from recommenders.sources.usage import _whole_hour_runs

    HOUR_NS = pd.Timedelta(hours=1).value
    rng = np.random.default_rng(11)
    for _ in range(500):
        count = int(rng.integers(1, 40))
        steps = rng.choice([HOUR_NS] * 6 + [2 * HOUR_NS, HOUR_NS // 2, 0], count)
        ticks = np.cumsum(steps) + int(rng.choice([0, HOUR_NS, 7 * 60 * 10**9]))
        bounds = np.unique(np.concatenate([[0, count], rng.integers(0, count, 4)]))
        stamps = pd.DatetimeIndex(ticks.astype("datetime64[ns]"))
        expected = [
            bool((ticks[a:b] % HOUR_NS == 0).all() and (np.diff(ticks[a:b]) == HOUR_NS).all())
            for a, b in itertools.pairwise(bounds)
        ]
        for unit in ("s", "ms", "us", "ns"):  # every stamp here is a whole second
            assert _whole_hour_runs(stamps.as_unit(unit), bounds).tolist() == expected


def test_a_csv_header_with_spaces_around_its_names_reads_like_one_without(tmp_path):
    """`timestamp, value` names `value`: the header was read stripped while Arrow read the
    columns by their raw names, and a space before a name was a traceback."""
    lines = UTILISATION.read_text().splitlines()
    lines[0] = ", ".join(f" {name} " if name == "value" else name for name in lines[0].split(","))
    spaced = tmp_path / "spaced.csv"
    spaced.write_text("\n".join(lines) + "\n")
    assert _sorted(load_utilisation(spaced).frame).equals(
        _sorted(load_utilisation(UTILISATION).frame)
    )


def test_a_csv_header_that_names_a_column_twice_is_refused_on_its_line(tmp_path):
    lines = UTILISATION.read_text().splitlines()
    lines = [f"{line},{line.split(',')[-1]}" for line in lines]  # `value` again, same cells
    twice = tmp_path / "twice.csv"
    twice.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="value appear twice in the header") as error:
        load_utilisation(twice)
    assert error.value.where == f"{twice}:1"


def test_a_number_after_a_blank_line_is_named_as_written(tmp_path):
    """Arrow skips blank lines; looking the cell up again must skip them too, or it names a
    neighbour's cell (or none)."""
    lines = UTILISATION.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[2].split(",")
    row[header.index("value")] = "-2e0"
    path = tmp_path / "usage.csv"
    path.write_text("\n".join([lines[0], lines[1], "", ",".join(row), *lines[3:]]) + "\n")
    with pytest.raises(InputError, match="column value: '-2e0' is not a non-negative number"):
        load_utilisation(path)


@pytest.mark.parametrize("same_hours", [True, False])
def test_demand_is_the_containers_cpu_times_the_replicas_in_the_hours_both_are_known(same_hours):
    """numpy's sums where every series has the replicas' hours, pandas' alignment where
    not: both the values pandas gives, to the bit."""
    from recommenders.sources.usage import WorkloadUsage

    rng = np.random.default_rng(3)
    hours = pd.date_range("2026-11-01", periods=96, freq="h", tz="UTC")
    app = pd.Series(rng.gamma(2, 0.3, 96), hours, name="w/app/cpu_cores")
    sidecar = pd.Series(rng.gamma(2, 0.05, 96), hours, name="w/sidecar/cpu_cores")
    app.iloc[[3, 40]] = np.nan
    replicas = pd.Series(rng.integers(1, 9, 96).astype(float), hours, name="w//replicas")
    replicas.iloc[70] = np.nan
    if not same_hours:
        sidecar = sidecar.iloc[10:]
    expected = ((app + sidecar) * replicas).dropna()
    usage = WorkloadUsage({"app": app, "sidecar": sidecar}, {}, replicas)
    assert usage.demand is not None
    pd.testing.assert_series_equal(usage.demand, expected, check_exact=True, check_freq=False)
    shared = [s.rename("w") for s in (app, sidecar, replicas)]  # pandas keeps a shared name
    named = WorkloadUsage({"app": shared[0], "sidecar": shared[1]}, {}, shared[2]).demand
    assert named is not None and named.name == "w"
    coarser = replicas.set_axis(hours.as_unit("s"))  # the same instants in another unit
    pd.testing.assert_series_equal(
        WorkloadUsage({"app": app, "sidecar": sidecar}, {}, coarser).demand,
        ((app + sidecar) * coarser).dropna(),
        check_exact=True,
        check_freq=False,
    )
    assert len(usage.demand) == 96 - 3 - (0 if same_hours else 10 - 1)
    whole = WorkloadUsage({"app": app.fillna(0.5)}, {}, replicas.fillna(2.0))
    assert whole.demand is not None and len(whole.demand) == 96
    assert WorkloadUsage({"app": app}, {}, None).demand is None


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("column", ["namespace", "kind", "workload"])
def test_a_row_without_its_workload_is_refused_at_its_line(tmp_path, column, wide):
    names = {"namespace": "shop", "kind": "Deployment", "workload": "api"}
    blank = {**names, column: " " if column == "kind" else ""}  # spaces are no name either
    stamps = pd.date_range("2026-11-01", periods=4, freq="h", tz="UTC")
    lines = []
    for position, stamp in enumerate(stamps):
        who = blank if position in (2, 3) else names
        named = ",".join(who[name] for name in ("namespace", "kind", "workload"))
        keys = f"{stamp:%Y-%m-%dT%H:%M:%SZ},prod,{named},api"
        lines.append(f"{keys},0.5,1e8\n" if wide else f"{keys},cpu_cores,0.5\n")
    header = (
        "timestamp,environment,namespace,kind,workload,container,cpu_cores,memory_bytes\n"
        if wide
        else HEADER
    )
    with pytest.raises(InputError) as error:
        load_utilisation(_csv(tmp_path, header + "".join(lines)))
    assert error.value.where.endswith("usage.csv:4")
    assert f"column {column}: {blank[column]!r} is blank on 2 rows (this is the first)" in (
        error.value.problem
    )


def test_a_parquet_row_without_its_workload_is_refused_at_its_row(tmp_path):
    stamps = pd.date_range("2026-11-01", periods=3, freq="h", tz="UTC")
    frame = pd.DataFrame(
        {
            "timestamp": stamps,
            "environment": "prod",
            "namespace": "shop",
            "kind": "Deployment",
            "workload": ["api", None, "api"],  # a null: read as blank
            "container": "api",
            "metric": "cpu_cores",
            "value": 0.5,
        }
    )
    path = tmp_path / "usage.parquet"
    frame.to_parquet(path)
    with pytest.raises(InputError) as error:
        load_utilisation(path)
    assert error.value.where.endswith("usage.parquet row 2")
    assert "column workload: '' is blank on 1 row (this is the first)" in error.value.problem
