"""A plan answered again from the last one (bot/plan_cache.py) is the plan made now: byte for
byte through the real command line, never when anything it reads has changed, and never
past the moment a rule that reads the clock could decide otherwise (`Plan.until`)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from blake3 import blake3

from bot import digests
from bot.config import load_config
from bot.inputs import SourceRequest, read_inputs
from bot.plan_cache import Answer, PlanAnswers, PlanKey, plan_key
from bot.planner import Plan, make_plan
from bot.policy.load import load_policy
from bot.report import plan_as_json
from recommenders.forecasters import ForecastCache
from tests.conftest import COST, GIT_ENV, MONOREPO, UTILISATION, git, make_repo, rightsizer

pytestmark = pytest.mark.slow
DATA_END = datetime(2026, 11, 27, tzinfo=UTC)
"""Where the bundled export ends: its last hour starts at 23:00 the day before."""
MORNING = DATA_END + timedelta(hours=6, minutes=20)


def _cli(repo: Path, cache: Path, *extra: str | Path, usage: Path = UTILISATION):
    result = rightsizer(
        "plan", "--repo", repo, "--utilisation", usage, "--cost", COST,
        "--forecast-cache", cache, *extra,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


def _stamp(cache: Path) -> tuple[int, int]:
    found = cache.stat()
    return (found.st_ino, found.st_mtime_ns)


def _planned_again(cache: Path, before: tuple[int, int]) -> bool:
    """Whether the last command made its plan (and so wrote the forecast cache afresh)
    rather than answering from the stored one."""
    return _stamp(cache) != before


def test_a_warm_plan_is_the_cold_plan_byte_for_byte_and_plans_nothing_again(tmp_path):
    repo = make_repo(MONOREPO, tmp_path / "monorepo")
    cache = tmp_path / "forecasts.sqlite"
    cold = _cli(repo, cache, "--format", "json")
    stamp = _stamp(cache)
    warm = _cli(repo, cache, "--format", "json")
    assert warm.stdout == cold.stdout and warm.stderr == cold.stderr
    assert "no currency column" in warm.stderr  # the input's warnings are said again
    assert json.loads(warm.stdout)
    assert not _planned_again(cache, stamp)
    stages = _cli(repo, cache, "--format", "json", "--timings").stderr.splitlines()[-1]
    assert stages.startswith("stages: answer key ") and "renders" not in stages
    # Another output is another answer; it is made once, then answered in turn.
    markdown = _cli(repo, cache, "--format", "markdown", "--timings")
    assert _planned_again(cache, stamp)
    stages = markdown.stderr.splitlines()[-1]
    for name in ("inputs", "inventory", "renders", "usage lookup", "forecasts", "sizing"):
        assert f" {name} " in stages, name
    stamp = _stamp(cache)
    assert _cli(repo, cache, "--format", "markdown").stdout == markdown.stdout
    assert not _planned_again(cache, stamp)


def test_whatever_the_plan_reads_changing_makes_it_again(tmp_path):
    repo = make_repo(MONOREPO, tmp_path / "monorepo")
    cache = tmp_path / "forecasts.sqlite"
    _cli(repo, cache, "--format", "json")
    deployment = repo / "applications/checkout/base/deployment.yaml"
    usage = tmp_path / "usage.csv"
    usage.write_bytes(UTILISATION.read_bytes())
    changes = {
        "an edit not committed": lambda: deployment.write_text(
            deployment.read_text() + "# a comment\n"
        ),
        "the edit committed": lambda: git(repo, "commit", "--quiet", "-am", "Comment"),
        "an untracked file": lambda: (repo / "NOTES.md").write_text("notes\n"),
    }
    for label, change in changes.items():
        stamp = _stamp(cache)
        change()
        _cli(repo, cache, "--format", "json")
        assert _planned_again(cache, stamp), label
    stamp = _stamp(cache)
    _cli(repo, cache, "--format", "json", usage=usage)  # the same bytes elsewhere: a new key
    assert _planned_again(cache, stamp)
    stamp = _stamp(cache)
    _cli(repo, cache, "--format", "json", usage=usage)
    assert not _planned_again(cache, stamp)
    with usage.open("a") as handle:
        handle.write("\n")
    _cli(repo, cache, "--format", "json", usage=usage)
    assert _planned_again(cache, stamp), "the export's bytes changed"
    for as_of in ("2026-11-27T05:59:00Z", "2026-11-27T06:30:00Z"):
        stamp = _stamp(cache)
        _cli(repo, cache, "--format", "json", "--as-of", as_of, usage=usage)
        assert _planned_again(cache, stamp), f"planned as of {as_of}, outside the last plan's time"


def test_a_damaged_answers_file_is_replaced_not_an_error(tmp_path):
    repo = make_repo(MONOREPO, tmp_path / "monorepo")
    cache = tmp_path / "forecasts.sqlite"
    answers = Path(f"{cache}.plans")
    answers.write_text("not a database\n")
    cold = _cli(repo, cache, "--format", "json")
    with sqlite3.connect(answers) as db:
        assert db.execute("SELECT count(*) FROM answers").fetchone() == (1,)
    assert _cli(repo, cache, "--format", "json").stdout == cold.stdout


def test_a_key_reads_again_only_the_files_whose_stamps_moved(tmp_path, monkeypatch):
    """Digests are reused by stamp (size, modification and change times, inode): a rerun
    reads no file, a file rewritten to the same size and modification time is read again
    (its change time moved), and so is one written too recently to trust its stamp."""
    repo = make_repo(MONOREPO, tmp_path / "monorepo")
    usage = tmp_path / "usage.csv"
    usage.write_bytes(UTILISATION.read_bytes())
    request = SourceRequest(utilisation=[usage], cost=[COST])
    answers = PlanAnswers(tmp_path / "forecasts.sqlite.plans")
    read: list[Path] = []
    hashed = digests.file_digest
    monkeypatch.setattr(digests, "file_digest", lambda path: read.append(path) or hashed(path))
    monkeypatch.setattr(digests, "SETTLED_NS", 0)

    def key() -> PlanKey:
        read.clear()
        found = plan_key(repo, "main", request, (), "json", answers.digests())
        assert found is not None
        answers.remember(found)
        return found

    first = key()
    assert usage in read and len(read) > 20
    again = key()
    assert read == [] and again.digest == first.digest and again.files == first.files
    before = usage.stat()
    text = usage.read_text()
    usage.write_text(text.replace("0.", "1.", 1))  # the same size, other bytes
    os.utime(usage, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert usage.stat().st_mtime_ns == before.st_mtime_ns
    changed = key()
    assert read == [usage] and changed.digest != first.digest
    monkeypatch.setattr(digests, "SETTLED_NS", 3600 * 10**9)  # everything is recent now
    deployment = repo / "applications/checkout/base/deployment.yaml"
    deployment.write_text(deployment.read_text() + "# a comment\n")
    assert key().files != first.files and read == [deployment]
    assert key().files != first.files and read == [deployment], "read again: too recent"


def test_a_digest_follows_a_linked_export_and_is_not_kept_when_written_while_read(
    tmp_path, monkeypatch
):
    """An export linked from elsewhere (a mounted ConfigMap swaps the link's target) is
    stamped by its target; a file written while it was hashed is not kept by that stamp;
    an answers file that cannot be written is no error."""
    monkeypatch.setattr(digests, "SETTLED_NS", 0)
    data = tmp_path / "data"
    for version, extra in (("v1", b""), ("v2", b"\n")):
        (data / version).mkdir(parents=True)
        (data / version / "usage.csv").write_bytes(UTILISATION.read_bytes() + extra)
    (data / "current").symlink_to("v1")
    usage = tmp_path / "usage.csv"
    usage.symlink_to(data / "current" / "usage.csv")  # as a ConfigMap volume links its keys
    known = digests.FileDigests()
    first = known.of(usage)
    (data / "next").symlink_to("v2")
    (data / "next").replace(data / "current")  # the volume's update: the link itself stays
    again = digests.FileDigests(known.found)
    assert again.of(usage) != first and again.learned()

    hashed = digests.file_digest

    def written_meanwhile(path: Path) -> str:
        found = hashed(path)
        with path.open("ab") as handle:
            handle.write(b"\n")
        return found

    monkeypatch.setattr(digests, "file_digest", written_meanwhile)
    racing = digests.FileDigests()
    racing.of(data / "v1" / "usage.csv")
    assert racing.found == {} and not racing.learned()

    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory\n")
    answers = PlanAnswers(blocked / "forecasts.sqlite.plans")
    request = SourceRequest(utilisation=[usage], cost=[COST])
    monkeypatch.setattr(digests, "file_digest", hashed)
    found = plan_key(make_repo(MONOREPO, tmp_path / "repo"), "main", request, (), "json")
    assert found is not None and found.digests.learned()
    answers.remember(found)  # cannot be written: what this checks is that nothing raises


def test_an_answers_file_held_by_another_process_is_left_alone_and_a_foreign_one_replaced(
    tmp_path,
):
    key = plan_key(
        make_repo(MONOREPO, tmp_path / "repo"), "main", SourceRequest([UTILISATION], [COST]),
        (), "json",
    )  # fmt: skip
    assert key is not None
    now, answer = datetime(2026, 12, 7, tzinfo=UTC), Answer("the plan", ("a note",))
    held = PlanAnswers(tmp_path / "held.plans")
    held.keep(key, Answer("an earlier plan", ()), now, None)
    with closing(sqlite3.connect(held.path, isolation_level=None)) as other:
        other.execute("BEGIN EXCLUSIVE")
        held.keep(key, answer, now, None)  # busy: nothing kept, nothing raised
        other.execute("COMMIT")
    assert held.find(key, now) == Answer("an earlier plan", ())

    foreign = PlanAnswers(tmp_path / "foreign.plans")
    with closing(sqlite3.connect(foreign.path)) as db, db:
        db.execute("CREATE TABLE answers (something TEXT)")  # another program's table
    foreign.keep(key, answer, now, None)
    assert foreign.find(key, now) == answer


def test_a_pipe_has_no_digest_so_the_plan_has_no_key_instead_of_waiting_on_it(tmp_path):
    """Hashing a FIFO would wait for a writer (in a repository) or use up the bytes its
    reader needs (an export given as a pipe)."""
    repo = make_repo(MONOREPO, tmp_path / "repo")
    exported = tmp_path / "usage.pipe"
    os.mkfifo(exported)
    assert _within(30, lambda: plan_key(repo, "main", SourceRequest([exported]), (), "json"))
    os.mkfifo(repo / "left-behind")
    assert _within(30, lambda: plan_key(repo, "main", SourceRequest([UTILISATION]), (), "json"))


def test_a_digest_is_of_every_byte_read_in_chunks_and_an_old_digest_table_is_dropped(
    tmp_path, monkeypatch
):
    """The key's digest is BLAKE3 of the whole file whatever its size against the reads
    (a file that is a few reads, on threads; one that is less than one; an empty one).
    Digests earlier releases kept, of another hash, are dropped, never mixed with these."""
    monkeypatch.setattr(digests, "CHUNK", 7)
    monkeypatch.setattr(digests, "SETTLED_NS", 0)  # files just written may be kept
    for size in (0, 5, 7, 100):
        exported = tmp_path / f"usage-{size}.csv"
        exported.write_bytes(bytes(range(size)))
        assert digests.file_digest(exported) == blake3(bytes(range(size))).hexdigest()
    answers = PlanAnswers(tmp_path / "forecasts.sqlite.plans")
    with closing(sqlite3.connect(answers.path)) as db, db:
        db.execute("CREATE TABLE file_digests_1 (path, stamp, digest, stored)")
        db.execute("CREATE TABLE digests (path, stamp, digest, stored)")  # older still
    key = plan_key(make_repo(MONOREPO, tmp_path / "repo"), "main", SourceRequest(), (), "json")
    assert key is not None and key.digests.learned()
    answers.remember(key)
    with closing(sqlite3.connect(answers.path)) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert not {"file_digests_1", "digests"} & tables
    assert answers.digests() == key.digests.found


def test_a_file_that_grows_while_hashed_is_read_in_whole_reads_not_its_opening_size(
    tmp_path, monkeypatch
):
    """Rewritten in place, an export is empty when opened and 1.6 GB by the end: sized by
    its opening stat, the reads were of one byte (a quarter of an hour)."""
    exported = tmp_path / "usage.csv"
    exported.write_bytes(b"x" * 200_000)
    fstat = os.fstat

    def opened_empty(fd: int) -> os.stat_result:
        found = fstat(fd)
        return os.stat_result((*found[:6], 0, *found[7:10]))  # its size when opened: 0

    updates: list[int] = []

    class Counted:
        def __init__(self, **options: int) -> None:
            self.hashed = blake3(**options)

        def update(self, data: memoryview) -> None:
            updates.append(len(data))
            self.hashed.update(data)

        def hexdigest(self) -> str:
            return self.hashed.hexdigest()

    monkeypatch.setattr(digests.os, "fstat", opened_empty)
    monkeypatch.setattr(digests, "blake3", Counted)
    assert digests.file_digest(exported) == blake3(b"x" * 200_000).hexdigest()
    assert len(updates) <= 4, updates[:5]


@pytest.mark.skipif(digests.threads(digests.CHUNK) < 2, reason="one CPU: no threads to start")
def test_a_digest_whose_threads_cannot_start_is_made_on_one(tmp_path):
    """At its address-space limit (a service run's memory ceiling) a process cannot start
    the hashing threads: blake3 panics, a BaseException; the digest is made on one."""
    exported = tmp_path / "usage.csv"
    exported.write_bytes(b"x" * 1000)
    code = f"""
import re, resource
from pathlib import Path
from bot import digests
digests.CHUNK = 7
status = Path("/proc/self/status").read_text()
size = int(re.search(r"VmSize:\\s+(\\d+) kB", status).group(1)) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + (1 << 20), resource.RLIM_INFINITY))
print(digests.file_digest(Path({str(exported)!r})))
print(digests.file_digest(Path({str(exported)!r})))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [blake3(b"x" * 1000).hexdigest()] * 2
    assert done.stderr.count("ThreadPoolBuildError") == 1  # tried once, not at every file


def test_a_hasher_s_own_error_is_not_taken_for_threads_that_cannot_start(monkeypatch):
    def refused(**options: int) -> blake3:
        raise TypeError("max_threads")

    monkeypatch.setattr(digests, "blake3", refused)
    with pytest.raises(TypeError):
        digests._hasher(2)


def _within(seconds: float, call: Callable[[], object]) -> bool:
    """Whether `call` returned None in time; a daemon thread, so that one blocked for good
    fails the test instead of holding the run."""
    found: list[object] = []
    worker = threading.Thread(target=lambda: found.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    return found == [None]


@pytest.fixture(scope="module")
def planner(tmp_path_factory):
    """make_plan on the example repository as of any moment, with the bot's change to prod
    payments' CPU request merged at `history` if given; one forecast cache for all."""
    cache = ForecastCache()
    inputs = read_inputs(SourceRequest((UTILISATION,), (COST,), None, None, None))
    made: dict[str, Path] = {}

    def plan(now: datetime, history: datetime | None = None) -> Plan:
        name = "cooled" if history else "plain"
        if name not in made:
            repo = make_repo(MONOREPO, tmp_path_factory.mktemp(name) / "monorepo")
            if history:
                (repo / "NOTES.md").write_text("rightsized\n")
                # The usage shows payments' CPU far above the 250m this change wrote: left
                # on, verification would (rightly) hold it for a revert, not the cooldown.
                with (repo / "policies" / "rightsizer.yaml").open("a") as policy:
                    policy.write("verify:\n  days: 0\n")
                git(repo, "add", "NOTES.md", "policies/rightsizer.yaml")
                message = (
                    "Rightsize prod: 1 change\n\nRightsizer-Change: prod/payments/Deployment/"
                    "payments payments requests.cpu 0.5 -> 0.25\n"
                )
                subprocess.run(
                    ["git", "commit", "--quiet", "-m", message],
                    cwd=repo,
                    env={**os.environ, **GIT_ENV, "GIT_COMMITTER_DATE": history.isoformat()},
                    check=True,
                )
            made[name] = repo
        repo = made[name]
        config = load_config(repo)
        policy = load_policy(repo, None, config.annotation_prefix)
        return make_plan(repo, config, policy, inputs.table, inputs.prices, cache, now)

    return plan


def _rows(plan: Plan) -> str:
    return json.dumps(plan_as_json(plan))


def _rules(plan: Plan, name: str, field: str) -> list[str]:
    found = [c for c in plan.changes if c.workload.name == name and c.field == field]
    return [hit.rule for change in found for hit in change.decision.rules]


def test_fresh_data_holds_until_the_horizon_reaches_its_next_hour(planner):
    plan = planner(MORNING)  # the horizon counts 7 hours late
    assert plan.until == DATA_END + timedelta(hours=7, microseconds=1)
    assert _rows(planner(plan.until - timedelta(microseconds=1))) == _rows(plan)


def test_data_turning_stale_ends_the_plan_when_it_turns(planner):
    limit = timedelta(days=2)  # the example policy's max_data_age_days
    now = DATA_END + limit - timedelta(minutes=10)
    plan = planner(now)
    assert plan.until == DATA_END + limit + timedelta(microseconds=1)
    assert _rows(planner(plan.until - timedelta(microseconds=1))) == _rows(plan)
    later = planner(plan.until + timedelta(hours=1))
    assert _rows(later).count("stale-data") > _rows(plan).count("stale-data")


def test_a_cooldown_running_out_ends_the_plan_when_it_runs_out(planner):
    merged = MORNING + timedelta(minutes=10) - timedelta(days=14)  # prod's 14-day cooldown
    plan = planner(MORNING, history=merged)
    assert plan.until == merged + timedelta(days=14)
    assert "cooldown" in _rules(plan, "payments", "requests.cpu")
    just_before = planner(plan.until - timedelta(microseconds=1), history=merged)
    assert _rows(just_before) == _rows(plan)
    after = planner(plan.until, history=merged)
    assert "cooldown" not in _rules(after, "payments", "requests.cpu")


def test_a_plan_sized_while_its_fits_arrive_is_the_plan_fitted_first_and_keeps_every_fit(
    tmp_path, monkeypatch
):
    """Chunks of one go to loky's real worker processes and are collected when sizing
    needs them; the plan settles the rest: here a sidecar the export reports and no
    manifest names, whose fits nothing sizes. It is the plan made with every fit here."""
    import pandas as pd

    from recommenders.forecasters import batch

    repo = make_repo(MONOREPO, tmp_path / "monorepo")
    config = load_config(repo)
    policy = load_policy(repo, None, config.annotation_prefix)
    rows = pd.read_csv(UTILISATION)
    sidecar = rows[(rows["workload"] == "catalog") & (rows["container"] == "catalog")].copy()
    sidecar["container"], sidecar["value"] = "unlisted-sidecar", sidecar["value"] * 0.3
    usage = tmp_path / "usage.csv"
    pd.concat([rows, sidecar]).to_csv(usage, index=False)
    inputs = read_inputs(SourceRequest((usage,), (COST,), None, None, None))

    def planned(cache: ForecastCache) -> Plan:
        return make_plan(repo, config, policy, inputs.table, inputs.prices, cache, MORNING)

    here = ForecastCache()
    alone = planned(here)  # fewer misses than a chunk at a time: every fit made here
    monkeypatch.setattr(batch, "CHUNK", 1)  # each series its own chunk: none received by luck
    cache = ForecastCache()
    try:
        sent = planned(cache)
    finally:
        batch.release_workers()
    assert _rows(sent) == _rows(alone)
    assert cache.arriving == {}, "every fit sent was received before the plan returned"
    assert set(cache.fitted) == set(here.forecasts) and len(cache.fitted) >= 10
    assert cache.warm_starts == here.warm_starts, "every series warm-starts the next day"
    assert any("unlisted-sidecar" in name for name in cache.warm_starts)
