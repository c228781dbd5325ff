"""Repository content never chooses where the bot's credentials go: `.rightsizer.yaml` picks
one of the operator's Prometheus servers by name, and the client follows no redirect."""

from __future__ import annotations

import pytest

from bot.config import load_config
from bot.inputs import configured_prometheus, operator_prometheus
from bot.pipeline import configured_sources
from recommenders.errors import InputError
from recommenders.sources.utilisation.prometheus import load_prometheus
from tests.prometheus_server import LocalServer, Reply
from tests.test_prometheus import SECRET, no_proxy, source  # noqa: F401 (autouse)

OPERATOR = {
    "RIGHTSIZER_PROMETHEUS_URL": "https://prometheus.internal",
    "RIGHTSIZER_PROMETHEUS_SOURCES": "prod=https://thanos.prod.internal, eu-2=http://vm.eu:8428",
}


@pytest.mark.parametrize(
    "named",
    [
        "https://attacker.example",
        "http://10.0.0.1:9090",
        "//attacker.example",
        "attacker.example",
        "Prod",
        "../default",
        "",
    ],
)
def test_a_repository_that_names_a_url_or_host_is_refused_at_its_line(tmp_path, named):
    (tmp_path / ".rightsizer.yaml").write_text(f"sources:\n  prometheus: {named!r}\n")
    with pytest.raises(InputError) as error:
        load_config(tmp_path)
    assert error.value.where == ".rightsizer.yaml:2"
    assert "never a URL: the bot sends its credentials there" in error.value.problem


def test_a_repository_picks_the_operators_prometheus_by_name(tmp_path, monkeypatch):
    for name, value in {**OPERATOR, "RIGHTSIZER_PROMETHEUS_TOKEN": SECRET}.items():
        monkeypatch.setenv(name, value)
    (tmp_path / ".rightsizer.yaml").write_text("sources:\n  prometheus: prod\n")
    request = configured_sources(load_config(tmp_path), tmp_path)
    assert request.prometheus is not None
    assert request.prometheus.url == "https://thanos.prod.internal"
    assert request.prometheus.token == SECRET
    assert operator_prometheus(OPERATOR) == {
        "default": "https://prometheus.internal",
        "prod": "https://thanos.prod.internal",
        "eu-2": "http://vm.eu:8428",
    }


def test_a_name_the_operator_did_not_set_is_an_error_listing_the_known_ones():
    with pytest.raises(InputError) as error:
        configured_prometheus("staging", OPERATOR)
    assert str(error.value) == (
        ".rightsizer.yaml: sources.prometheus: 'staging' is not one of the operator's "
        "Prometheus sources (known: default, eu-2, prod)"
    )
    with pytest.raises(InputError, match="known: none: the operator sets RIGHTSIZER_PROMETHEUS"):
        configured_prometheus("default", {})


@pytest.mark.parametrize("item", ["prod", "prod=ftp://x", "Prod=https://x", "=https://x"])
def test_the_operators_list_is_checked_too(item):
    with pytest.raises(InputError, match="RIGHTSIZER_PROMETHEUS_SOURCES: expected name="):
        operator_prometheus({"RIGHTSIZER_PROMETHEUS_SOURCES": item})


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_so_the_credentials_stay(status):
    with LocalServer.scripted(Reply(200, b"{}")) as elsewhere:
        moved = Reply(status, b"", {"Location": f"{elsewhere.url}/api/v1/query_range"})
        with LocalServer.scripted(moved) as server, pytest.raises(InputError) as error:
            load_prometheus(source(server.url, token=SECRET))
    assert elsewhere.requests == []
    assert f"HTTP {status}, a redirect, not followed" in error.value.problem
    assert SECRET not in str(error.value)
