"""Exports load into tidy frames, and bad rows are reported by file, line and column."""

from pathlib import Path

import pytest

from recommenders.errors import InputError
from recommenders.model import WorkloadKey
from recommenders.sources.cost_csv import load_unit_prices
from recommenders.sources.utilisation_csv import load_utilisation
from tests.conftest import COST, UTILISATION

HEADER = "timestamp,environment,namespace,kind,workload,container,metric,value\n"


def test_fixture_utilisation_has_30_days_for_every_container():
    table = load_utilisation(UTILISATION)
    usage = table.for_workload(WorkloadKey("prod", "checkout", "Deployment", "checkout"))
    assert set(usage.cpu) == {"checkout", "log-shipper"}
    assert usage.hours == 720
    assert usage.replicas is not None and usage.replicas.min() >= 2
    short = table.for_workload(
        WorkloadKey("prod", "recommendations", "Deployment", "recommendations")
    )
    assert short.hours == 72


def test_unit_prices_per_environment_come_from_the_cost_export():
    prices = load_unit_prices(COST)
    assert set(prices) == {"dev", "staging", "prod"}
    assert prices["prod"].cpu_core_hour == pytest.approx(0.0316, rel=1e-3)
    assert prices["prod"].memory_gib_hour == pytest.approx(0.00424, rel=1e-2)
    assert "cost.csv" in prices["prod"].source


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "usage.csv"
    path.write_text(text)
    return path


def test_missing_column_names_the_file_and_the_column(tmp_path):
    path = _csv(tmp_path, "timestamp,environment,workload,value\n")
    with pytest.raises(InputError) as error:
        load_utilisation(path)
    assert error.value.where == str(path)
    assert "missing column(s) namespace, kind, container, metric" in error.value.problem


def test_a_bad_value_names_its_line(tmp_path):
    rows = [
        "2026-11-01T00:00:00Z,prod,shop,Deployment,api,api,cpu_cores,0.5",
        "2026-11-01T01:00:00Z,prod,shop,Deployment,api,api,cpu_cores,lots",
    ]
    path = _csv(tmp_path, HEADER + "\n".join(rows) + "\n")
    with pytest.raises(InputError) as error:
        load_utilisation(path)
    assert error.value.where == f"{path}:3"
    assert "'lots'" in error.value.problem


def test_a_bad_timestamp_and_an_unknown_metric_name_their_lines(tmp_path):
    bad_time = _csv(tmp_path, HEADER + "yesterday,prod,shop,Deployment,api,api,cpu_cores,0.5\n")
    with pytest.raises(InputError, match=r":2: column timestamp"):
        load_utilisation(bad_time)
    bad_metric = _csv(
        tmp_path, HEADER + "2026-11-01T00:00:00Z,prod,shop,Deployment,api,api,gpu,1\n"
    )
    with pytest.raises(InputError, match=r":2: column metric: 'gpu'"):
        load_utilisation(bad_metric)
