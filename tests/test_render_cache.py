"""kustomize's output kept between runs (bot/manifests/render_cache.py): an unchanged
repository renders nothing again and gets the same renders; any changed file, and a render
that failed, render again."""

from __future__ import annotations

import datetime
import sqlite3
from pathlib import Path

import pytest

from bot.manifests import render
from bot.manifests.render_cache import RenderCache
from bot.planner import kept_renders
from bot.proof import inspect
from tests.conftest import MONOREPO, make_repo


@pytest.fixture
def kustomize_runs(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The directories kustomize really ran in."""
    runs: list[Path] = []
    real = render._kustomize

    def counted(directory: Path) -> str | render.Rendered:
        runs.append(directory)
        return real(directory)

    monkeypatch.setattr(render, "_kustomize", counted)
    return runs


def _inspected(repo: Path, cache: Path):
    renders = kept_renders(cache, repo)
    assert renders is not None
    inventory = inspect(repo, renders)
    renders.save()
    return inventory


def test_an_unchanged_repository_is_not_rendered_again(tmp_path, kustomize_runs):
    repo = make_repo(MONOREPO, tmp_path / "monorepo")
    cache = tmp_path / "forecasts.sqlite"
    first = _inspected(repo, cache)
    assert kustomize_runs and all(rendered.error is None for rendered in first.renders.values())
    kustomize_runs.clear()
    again = _inspected(repo, cache)
    assert kustomize_runs == []
    assert again.renders == first.renders
    assert [w.unverified for w in again.workloads] == [w.unverified for w in first.workloads]


def test_an_unchanged_repository_reads_its_inventory_back_and_a_change_builds_it(
    tmp_path, monkeypatch
):
    from bot import proof

    builds: list[Path] = []
    real = proof.build_inventory
    monkeypatch.setattr(proof, "build_inventory", lambda repo: builds.append(repo) or real(repo))
    repo = make_repo(MONOREPO, tmp_path / "monorepo")
    cache = tmp_path / "forecasts.sqlite"
    first = _inspected(repo, cache)
    again = _inspected(repo, cache)
    assert builds == [repo]
    assert again.workloads == first.workloads and again.file_users == first.file_users
    assert again.problems == first.problems
    _inspected(repo, cache)  # a kept inventory is kept again by the run that read it
    assert builds == [repo]
    (repo / "README.txt").write_text("any file counts\n")
    _inspected(repo, cache)
    assert builds == [repo, repo]


def test_any_changed_file_renders_again(tmp_path, kustomize_runs):
    repo = make_repo(MONOREPO, tmp_path / "monorepo")
    cache = tmp_path / "forecasts.sqlite"
    _inspected(repo, cache)
    (repo / "README.txt").write_text("a file no environment reads still counts\n")
    kustomize_runs.clear()
    _inspected(repo, cache)
    assert kustomize_runs


def test_a_failed_render_is_not_kept_and_a_damaged_file_is_no_cache(tmp_path, kustomize_runs):
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "kustomization.yaml").write_text("resources:\n- missing.yaml\n")
    cache = tmp_path / "forecasts.sqlite"
    Path(f"{cache}.renders").write_text("not a database\n")
    for _ in range(2):
        renders = kept_renders(cache, repo)
        assert renders is not None
        (rendered,) = render.render_all(repo, ["app"], cache=renders).values()
        assert rendered.error and "missing.yaml" in rendered.error
        assert renders.made == {} and renders.hits == set()
        renders.save()
    assert len(kustomize_runs) == 2


def test_renders_are_kept_parsed_only_where_json_holds_them_exactly(tmp_path):
    cache = RenderCache(tmp_path / "f.renders", "context")
    exact = [{"kind": "Deployment", "spec": {"replicas": 3, "ratio": 0.5, "on": True}}, None]
    cache.keep(["a"], exact)
    cache.keep(["b"], [{"kind": "ConfigMap", "data": {1: "a number as a key"}}])
    cache.keep(["c"], [{"kind": "ConfigMap", "metadata": {"created": datetime.date(2026, 12, 6)}}])
    cache.keep(["d"], [{"kind": "X", "spec": {"weight": float("nan")}}])
    cache.save()
    again = RenderCache(tmp_path / "f.renders", "context")
    assert again.lookup(["a"]) == exact
    assert [again.lookup([d]) for d in "bcd"] == [None, None, None]
    assert RenderCache(tmp_path / "f.renders", "another context").lookup(["a"]) is None


def test_a_damaged_render_row_is_rendered_again(tmp_path):
    cache = RenderCache(tmp_path / "f.renders", "context")
    cache.keep(["a"], [{"kind": "Deployment"}])
    cache.save()
    with sqlite3.connect(tmp_path / "f.renders") as db:
        db.execute("UPDATE renders SET output = 'kind: Deployment'")
    again = RenderCache(tmp_path / "f.renders", "context")
    assert again.lookup(["a"]) is None and again.hits == set()
