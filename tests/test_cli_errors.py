"""A user's mistake is one line naming file and problem, exit status 2, and nothing written."""

import pytest

from tests.conftest import COST, UTILISATION, git, rightsizer


def _assert_clean_failure(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def _assert_nothing_written(repo, pr_dir):
    assert git(repo, "branch", "--list").split() == ["*", "main"]
    assert git(repo, "status", "--porcelain") == ""
    assert not pr_dir.exists()


def _run(repo, pr_dir, utilisation=UTILISATION):
    return rightsizer(
        "run", "--repo", repo, "--utilisation", utilisation, "--cost", COST, "--pr-dir", pr_dir
    )


def test_missing_repo_path(tmp_path):
    result = _run(tmp_path / "nowhere", tmp_path / "prs")
    _assert_clean_failure(result, "nowhere", "no such directory")


def test_repo_may_be_any_directory_inside_the_repository(monorepo):
    from_top = rightsizer(
        "plan", "--repo", monorepo, "--utilisation", UTILISATION, "--format", "json"
    )
    inside = rightsizer(
        "plan", "--repo", monorepo / "applications" / "checkout", "--utilisation", UTILISATION,
        "--format", "json",
    )  # fmt: skip
    assert from_top.returncode == inside.returncode == 0, inside.stderr
    assert inside.stdout == from_top.stdout


def test_repo_that_is_not_git(tmp_path):
    (tmp_path / "repo").mkdir()
    _assert_clean_failure(_run(tmp_path / "repo", tmp_path / "prs"), "not a git repository")


def test_export_with_a_missing_column(tmp_path, monorepo):
    bad = tmp_path / "usage.csv"
    bad.write_text("timestamp,environment,value\n2026-11-01T00:00:00Z,prod,1\n")
    result = _run(monorepo, tmp_path / "prs", utilisation=bad)
    _assert_clean_failure(result, "usage.csv", "missing column(s)")
    _assert_nothing_written(monorepo, tmp_path / "prs")


def test_config_with_an_unknown_key(tmp_path, monorepo):
    config = monorepo / ".rightsizer.yaml"
    config.write_text(config.read_text() + "group_bye: team\n")
    git(monorepo, "commit", "--quiet", "-am", "typo")
    result = _run(monorepo, tmp_path / "prs")
    _assert_clean_failure(result, ".rightsizer.yaml:", "unknown key 'group_bye'")
    _assert_nothing_written(monorepo, tmp_path / "prs")


def test_uncommitted_changes_are_refused_before_any_work(tmp_path, monorepo):
    (monorepo / "README.md").write_text("edited\n")
    result = _run(monorepo, tmp_path / "prs")
    _assert_clean_failure(result, "uncommitted changes")
    assert not (tmp_path / "prs").exists()


def test_a_moment_that_is_not_a_date_is_named(tmp_path):
    result = rightsizer(
        "plan", "--repo", tmp_path, "--utilisation", UTILISATION, "--as-of", "yesterday"
    )
    _assert_clean_failure(result, "--as-of: 'yesterday' is not an ISO 8601 date or time")


def test_version_prints_the_installed_version():
    import importlib.metadata

    result = rightsizer("--version")
    assert (result.returncode, result.stdout) == (
        0,
        f"rightsizer {importlib.metadata.version('rightsizer')}\n",
    )


@pytest.mark.parametrize("command", ["plan", "run"])
def test_help_says_what_the_command_does_with_an_example(command):
    result = rightsizer(command, "--help")
    assert result.returncode == 0
    assert "Example: rightsizer" in result.stdout


def test_a_forecast_cache_that_is_a_directory_is_named_before_any_work(tmp_path, monorepo):
    result = rightsizer(
        "run", "--repo", monorepo, "--utilisation", UTILISATION, "--cost", COST,
        "--pr-dir", tmp_path / "prs", "--forecast-cache", tmp_path,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"error: {tmp_path}: is a directory; name a file for the forecast cache"
    _assert_nothing_written(monorepo, tmp_path / "prs")


def test_a_cache_path_that_is_a_directory_is_named_while_the_export_is_read_beside_it(
    tmp_path, monorepo
):
    (tmp_path / "cache").mkdir()
    result = rightsizer(
        "plan", "--repo", monorepo, "--utilisation", UTILISATION,
        "--forecast-cache", tmp_path / "cache",
    )  # fmt: skip
    _assert_clean_failure(result, "cache", "is a directory")


def test_when_the_export_and_the_cache_are_both_wrong_the_export_is_named_as_if_read_first(
    tmp_path, monorepo
):
    (tmp_path / "cache").mkdir()
    bad = tmp_path / "usage.csv"
    bad.write_text("timestamp,environment,value\n2026-11-01T00:00:00Z,prod,1\n")
    result = rightsizer(
        "plan", "--repo", monorepo, "--utilisation", bad, "--forecast-cache", tmp_path / "cache"
    )
    _assert_clean_failure(result, "usage.csv", "missing column(s)")
