"""`.rightsizer.yaml` is validated: typos are errors with a line, never silent defaults."""

import pytest

from bot.config import GROUPINGS, SCHEMA, RepoConfig, load_config
from recommenders.errors import InputError
from recommenders.strategies import STRATEGIES, get_strategy
from recommenders.strategies.krr_simple import KrrSimpleSettings
from tests.conftest import MONOREPO, ROOT


def test_fixture_config_is_read():
    config = load_config(MONOREPO)
    assert config.annotation_prefix == "example.com/"
    assert config.group_by == "environment"
    assert config.bot.email == "rightsizer-bot@acme.example"
    assert config.prices.source == "price table in .rightsizer.yaml"


def test_strategy_settings_reach_the_strategy(tmp_path):
    (tmp_path / ".rightsizer.yaml").write_text(
        "strategy: krr-simple\nstrategy_settings:\n  cpu_percentile: 99\n"
    )
    config = load_config(tmp_path)
    strategy = get_strategy(config.strategy, config.strategy_settings)
    assert strategy.settings == KrrSimpleSettings(cpu_percentile=99)


def test_the_schema_names_what_the_code_knows_and_the_fixtures_point_editors_at_it():
    """policies/config.schema.json is the file's shape; its choices are the code's, and the
    fixture's `.rightsizer.yaml` names it for the YAML language server."""
    assert SCHEMA["properties"]["strategy"]["enum"] == list(STRATEGIES)
    assert tuple(SCHEMA["properties"]["group_by"]["enum"]) == GROUPINGS
    first = (MONOREPO / ".rightsizer.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../policies/config.schema.json"
    assert (MONOREPO / first.split("=", 1)[1]).resolve() == ROOT / "policies" / "config.schema.json"
    policy = (MONOREPO / "policies" / "rightsizer.yaml").read_text().splitlines()[0]
    assert policy == "# yaml-language-server: $schema=../../../policies/schema.json"


def test_no_config_file_means_defaults(tmp_path):
    assert load_config(tmp_path) == RepoConfig()


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        (
            "base_branch: main\ngroup_bye: environment\n",
            ".rightsizer.yaml:2",
            "unknown key 'group_bye'",
        ),
        (
            "group_by: teams\n",
            ".rightsizer.yaml:1",
            "group_by: 'teams' is not one of ['environment'",
        ),
        (
            "pull_requests: {max_open: 0}\n",
            ".rightsizer.yaml:1",
            "pull_requests.max_open: 0 is less than the minimum of 1",
        ),
        (
            "pull_requests: {labels: [ok, 3]}\n",
            ".rightsizer.yaml:1",
            "pull_requests.labels.1: 3 is not of type 'string'",
        ),
        (
            "pull_requests:\n  draft: yes please\n",
            ".rightsizer.yaml:2",
            "pull_requests.draft: 'yes please' is not of type 'boolean'",
        ),
        (
            "pull_requests: {reviewer: [a]}\n",
            ".rightsizer.yaml:1",
            "unknown key 'pull_requests.reviewer'",
        ),
        (
            "strategy: magic\n",
            ".rightsizer.yaml:1",
            "strategy: 'magic' is not one of ['default', 'vpa', 'krr-simple']",
        ),
        (
            "prices:\n  cpu_core_hour: cheap\n",
            ".rightsizer.yaml:2",
            "'cheap' is not of type 'number'",
        ),
        (
            "prices:\n  cpu_core_hour: 1\n  gpu_hour: 3\n",
            ".rightsizer.yaml:3",
            "unknown key 'prices.gpu_hour'",
        ),
        ("a: [\n", ".rightsizer.yaml", "invalid YAML"),
        ("policy:\nschedule:\n", ".rightsizer.yaml:1", "policy: None is not of type 'object'"),
        (
            "strategy: vpa\nstrategy_settings:\n  cpu_risk: 0.1\n",
            ".rightsizer.yaml:3",
            "unknown key 'cpu_risk' in strategy_settings; known keys: half_life_hours",
        ),
        (
            "strategy_settings:\n  memory_margin: 0.1\n  cpu_risk: 2\n",
            ".rightsizer.yaml:3",
            "cpu_risk: 2 is outside [0.001, 0.5]",
        ),
        (
            "strategy_settings:\n  cpu_risk: low\n",
            ".rightsizer.yaml:2",
            "'low' is not of type 'number'",
        ),
    ],
)
def test_bad_config_names_file_and_line(tmp_path, text, where, problem):
    (tmp_path / ".rightsizer.yaml").write_text(text)
    with pytest.raises(InputError) as error:
        load_config(tmp_path)
    assert error.value.where.startswith(where)
    assert problem in error.value.problem


@pytest.mark.parametrize(
    "prefix", ["bot..x/", "bot/@{x}/", "-bot/", "bot x/", "bot~1/", "bot/.hidden"]
)
def test_a_branch_prefix_git_would_refuse_is_an_error_at_its_line(tmp_path, prefix):
    (tmp_path / ".rightsizer.yaml").write_text(f"base_branch: main\nbranch_prefix: {prefix!r}\n")
    with pytest.raises(InputError) as error:
        load_config(tmp_path)
    assert error.value.where == ".rightsizer.yaml:2"
    assert "does not make a branch name git accepts" in error.value.problem
