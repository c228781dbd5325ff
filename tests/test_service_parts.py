"""The service's parts without a server: settings checked at start, the durable job queue,
schedules kept in step with the repositories."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import subprocess
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from bot.decisions.overrides import names_workload, pin_value
from bot.service.logs import JsonFormatter
from bot.service.scheduler import Schedules
from bot.service.settings import ServiceSettings, load_settings, settings_warnings
from bot.service.worker import repository_cache
from bot.store import Store
from bot.store.rows import JobRow
from bot.store.tables import ApiBudgetRecord
from recommenders.errors import InputError, redacted
from recommenders.model import WorkloadKey
from tests.job_engine import (
    dead_worker,
    drain,
    fails_on_the_forge,
    fetch,
    finish,
    leaves_budget,
    prune,
    rate_limited,
    recover,
)


@pytest.fixture
def store(database: str) -> Store:
    return Store(database)


def test_settings_come_from_the_environment_and_a_file_and_are_checked(tmp_path):
    key = tmp_path / "app.pem"
    key.write_text("-----BEGIN RSA PRIVATE KEY-----\n")
    secret = tmp_path / "secret"
    secret.write_text("from a mounted file\n")
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text("debounce_seconds: 5\nschedule: '30 4 * * *'\n")
    settings = load_settings({
        "RIGHTSIZER_SETTINGS_FILE": str(settings_file),
        "RIGHTSIZER_GITHUB_APP_ID": "123",
        "RIGHTSIZER_GITHUB_PRIVATE_KEY": str(key),
        "RIGHTSIZER_GITHUB_WEBHOOK_SECRET_FILE": str(secret),
        "RIGHTSIZER_DEBOUNCE_SECONDS": "2.5",
    })  # fmt: skip
    assert settings.forge("github").webhook_secret == "from a mounted file"
    assert settings.debounce_seconds == 2.5, "the environment wins over the file"
    assert settings.schedule == "30 4 * * *"
    assert "from a mounted file" not in repr(settings)
    assert load_settings({}) == ServiceSettings()


def test_each_forge_reads_its_own_settings_from_its_variables_and_the_file(tmp_path):
    """A forge's settings are its folder's (`bot/forges/<name>/service.py`): read as
    `RIGHTSIZER_<FORGE>_<FIELD>` or `<forge>_<field>` in the file, secrets from files too,
    each forge's defaults where none was given; an unknown key is refused with the known."""
    token = tmp_path / "token"
    token.write_text("glpat-secret\n")
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text("gitlab_url: https://gitlab.acme.example\ngithub_write_interval: 2\n")
    settings = load_settings({
        "RIGHTSIZER_SETTINGS_FILE": str(settings_file),
        "RIGHTSIZER_GITLAB_TOKEN_FILE": str(token),
        "RIGHTSIZER_GITLAB_PROJECTS": "platform/infra",
    })  # fmt: skip
    gitlab, github = settings.forge("gitlab"), settings.forge("github")
    assert (gitlab.url, gitlab.token) == ("https://gitlab.acme.example", "glpat-secret")
    assert gitlab.served() == {"platform/infra": None}
    assert (github.write_interval, github.url) == (2.0, "https://api.github.com")
    assert "glpat-secret" not in repr(settings) and "glpat-secret" in settings.secrets()
    options = gitlab.run_options("platform/infra", None)
    assert (options.forge, options.gitlab_url, options.token) == (
        "gitlab",
        "https://gitlab.acme.example",
        "glpat-secret",
    )
    settings_file.write_text("github_nope: 1\n")
    with pytest.raises(InputError, match=r"unknown setting 'github_nope'; known: .*github_app_id"):
        load_settings({"RIGHTSIZER_SETTINGS_FILE": str(settings_file)})


@pytest.mark.parametrize(
    ("environ", "where", "problem"),
    [
        (
            {"RIGHTSIZER_DEBOUNCE_SECONDS": "soon"},
            "RIGHTSIZER_DEBOUNCE_SECONDS",
            "expected a number",
        ),
        ({"RIGHTSIZER_GITHUB_APP_ID": "1"}, "RIGHTSIZER_GITHUB_PRIVATE_KEY", "private key"),
        (
            {"RIGHTSIZER_GITHUB_PRIVATE_KEY": "/nowhere.pem"},
            "RIGHTSIZER_GITHUB_PRIVATE_KEY",
            "not a file",
        ),
        (
            {"RIGHTSIZER_GITHUB_WRITE_INTERVAL": "-1"},
            "RIGHTSIZER_GITHUB_WRITE_INTERVAL",
            "must not be negative",
        ),
        (
            {"RIGHTSIZER_GITLAB_URL": "x", "RIGHTSIZER_GITHUB_WRITE_INTERVAL": "often"},
            "RIGHTSIZER_GITHUB_WRITE_INTERVAL",
            "expected a number",
        ),
        ({"RIGHTSIZER_MAX_BODY_BYTES": "10"}, "RIGHTSIZER_MAX_BODY_BYTES", "at least 1024"),
        ({"RIGHTSIZER_SCHEDULE": "0 6 * *"}, "RIGHTSIZER_SCHEDULE", "needs five fields"),
        (
            {"RIGHTSIZER_SETTINGS_FILE": "/nowhere.yaml"},
            "RIGHTSIZER_SETTINGS_FILE",
            "does not exist",
        ),
    ],
)
def test_bad_settings_name_the_variable(environ, where, problem):
    with pytest.raises(InputError) as caught:
        load_settings(environ)
    assert caught.value.where == where and problem in caught.value.problem


@pytest.mark.parametrize(
    ("arguments", "environment", "said"),
    [
        (
            ["worker"],
            {},
            "error: RIGHTSIZER_DATABASE_URL: a worker of its own needs the PostgreSQL the web "
            "process uses; on one node, run `rightsizer serve --with-worker` instead\n",
        ),
        (
            ["worker", "--concurrency", "2"],
            {"RIGHTSIZER_WORKER_HEARTBEAT_SECONDS": "0"},
            "error: RIGHTSIZER_WORKER_HEARTBEAT_SECONDS: must be positive\n",
        ),
    ],
)
def test_a_worker_that_cannot_start_says_why_in_one_line(tmp_path, arguments, environment, said):
    env = {key: value for key, value in os.environ.items() if not key.startswith("RIGHTSIZER_")}
    finished = subprocess.run(
        [sys.executable, "-m", "bot.cli", *arguments],
        env={**env, **environment},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (finished.returncode, finished.stderr) == (2, said)


def test_an_app_without_a_webhook_secret_is_refused(tmp_path):
    key = tmp_path / "app.pem"
    key.write_text("key")
    with pytest.raises(InputError, match="unsigned deliveries are never accepted"):
        load_settings({"RIGHTSIZER_GITHUB_APP_ID": "1", "RIGHTSIZER_GITHUB_PRIVATE_KEY": str(key)})


def test_one_queued_job_per_repository_and_reason_debounced(store):
    repo = store.repositories.add("github", "acme/infra", 7)
    first, created = store.queue.enqueue(repo, "push", delay=0.3)
    again, created_again = store.queue.enqueue(repo, "push", delay=0.3)
    assert created and not created_again and again == first
    assert fetch(store) is None, "debounced: not due yet"
    time.sleep(0.35)
    job = fetch(store)
    assert job is not None and job[0] == first
    assert job[1] == {"repository": repo.id, "reason": "push", "details": {}}
    # While it runs, a new push queues a new job, which waits for the running one, and so
    # does a job of the same repository for another reason.
    second, created = store.queue.enqueue(repo, "push")
    command, _ = store.queue.enqueue(repo, "command:9")
    assert created and second != first
    assert fetch(store) is None, "one running job per repository"
    other = store.repositories.add("github", "acme/other", 7)
    elsewhere, _ = store.queue.enqueue(other, "push")
    assert fetch(store) == (elsewhere, {"repository": other.id, "reason": "push", "details": {}})
    finish(store, first)
    assert fetch(store)[0] == second
    finish(store, second)
    assert fetch(store)[0] == command
    assert store.queue.depth() == 0


def test_a_debounced_job_moves_later_never_earlier(store):
    repo = store.repositories.add("github", "acme/infra", 7)
    job, _ = store.queue.enqueue(repo, "push", delay=60)
    assert store.queue.enqueue(repo, "push", delay=0) == (job, False)
    assert fetch(store) is None, "a later push does not make the waiting run due sooner"


def test_failed_jobs_are_retried_with_backoff_then_given_up(database, store):
    repo = store.repositories.add("github", "acme/infra", 7)
    job_id, _ = store.queue.enqueue(repo, "schedule")
    drain(database, store, ServiceSettings(retry_seconds=0.0), work=fails_on_the_forge)
    assert store.queue.jobs() == [(job_id, "schedule", "failed", 5)]
    assert outcomes_of(store, repo) == ["failed"] * 5


def outcomes_of(store, repo) -> list[str]:
    return [outcome for _, outcome, _, _ in store.runs.of(repo)]


def test_a_run_s_log_lines_carry_the_delivery_that_queued_it(database, store, caplog):
    repo = store.repositories.add("github", "acme/infra", 7)
    found = store.queue.deliver_and_enqueue(
        "d3f1c9e0-0000-4000-8000-000000000001", "github", "push", "acme/infra", "push", 0.0, None
    )
    assert isinstance(found, tuple)
    settings = ServiceSettings(retry_seconds=0.0)
    with caplog.at_level(logging.WARNING, logger="rightsizer.worker"):
        drain(database, store, settings, work=fails_on_the_forge)
    lines = [r for r in caplog.records if r.name == "rightsizer.worker"]
    assert lines and all(
        (r.job, r.delivery) == (found[0], "d3f1c9e0-0000-4000-8000-000000000001")  # type: ignore[attr-defined]
        for r in lines
    )
    assert outcomes_of(store, repo) == ["failed"] * 5


def test_a_run_the_forge_asks_to_wait_for_is_retried_no_sooner(database, store):
    repo = store.repositories.add("github", "acme/infra", 7)
    job_id, _ = store.queue.enqueue(repo, "schedule")
    drain(database, store, ServiceSettings(retry_seconds=0.0), work=rate_limited)
    assert store.queue.jobs() == [(job_id, "schedule", "queued", 1)]
    with store.session() as session:
        wait = session.scalar(
            text("select extract(epoch from scheduled_at - now()) from procrastinate_jobs")
        )
    assert 3500 < wait <= 3600, "Retry-After: 3600 is honoured over the 0 s backoff"


def test_a_job_whose_worker_died_is_resumed_then_poisoned(database, store):
    settings = ServiceSettings(worker_heartbeat_seconds=1.0)
    repo = store.repositories.add("github", "acme/infra", 7)
    job, _ = store.queue.enqueue(repo, "push")
    for attempt in range(1, 4):
        assert fetch(store, dead_worker(store))[0] == job
        store.runs.start(JobRow(job, repo, "push", {}, attempt))
        recover(database, store, settings)
    assert store.queue.jobs() == [(job, "push", "failed", 3)]
    with store.session() as session:
        runs = session.execute(text("select outcome, message from runs order by id")).all()
    assert [outcome for outcome, _ in runs] == ["failed"] * 3
    assert runs[0].message == "its worker stopped during the run; tried again"
    assert runs[-1].message.startswith("poisoned: its worker stopped during it 3 times")


def test_a_job_of_a_living_worker_is_left_alone(database, store):
    repo = store.repositories.add("github", "acme/infra", 7)
    job, _ = store.queue.enqueue(repo, "push")
    with store.session() as session:
        alive = session.scalar(
            text("insert into procrastinate_workers default values returning id")
        )
    assert fetch(store, alive)[0] == job
    recover(database, store, ServiceSettings(worker_heartbeat_seconds=60.0))
    assert store.queue.jobs() == [(job, "push", "running", 1)]


def test_two_web_replicas_firing_one_schedule_queue_one_run(database, store):
    """Each replica's scheduler fires; the first takes the slot, the other finds it taken.
    The queueing lock alone would not do: the first run may already have started."""
    settings = ServiceSettings()
    replicas = [Schedules(store, settings), Schedules(Store(database), settings)]
    repo = store.repositories.add("github", "acme/infra", 7)
    replicas[0].fire(repo, 30)
    job = fetch(store)
    assert job is not None  # the run started before the other replica fired
    replicas[1].fire(repo, 30)
    assert store.queue.depth() == 0 and len(store.queue.jobs()) == 1
    with store.session() as session:  # the next slot, a day later
        session.execute(text("update repositories set scheduled_at = now() - interval '1 day'"))
    replicas[1].fire(repo, 30)
    assert store.queue.depth() == 1


def test_schedules_follow_the_repositories_and_their_own_cron(store):
    settings = ServiceSettings(schedule="0 6 * * *", schedule_jitter_seconds=900)
    schedules = Schedules(store, settings)
    repo = store.repositories.add("github", "acme/infra", 7)
    other = store.repositories.add("gitlab", "platform/infra", None)
    store.repositories.set_schedule(other, "30 22 * * 1-5", "Europe/Berlin")
    schedules.sync()
    jobs = {job.id: job for job in schedules.scheduler.get_jobs()}
    assert set(jobs) == {f"repo-{repo.id}", f"repo-{other.id}"}
    assert jobs[f"repo-{repo.id}"].trigger.jitter == 900
    berlin = jobs[f"repo-{other.id}"].trigger
    assert berlin.jitter is None and str(berlin) == "cron['30 22 * * 1-5', Europe/Berlin]"
    # cron's 1-5 is Monday to Friday (APScheduler's own numbers start at Monday = 0)
    friday_night = datetime(2026, 12, 4, 23, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    monday = berlin.get_next_fire_time(None, friday_night)
    assert monday == datetime(2026, 12, 7, 22, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    store.repositories.remove("github", "acme/infra")
    schedules.sync()
    assert [job.id for job in schedules.scheduler.get_jobs()] == [f"repo-{other.id}"]


def test_an_installation_budget_is_reserved_by_one_run_at_a_time_until_it_resets(store):
    reset = time.time() + 3600
    assert store.budgets.reserve("github", 7, 100) is None, "nothing known yet: go"
    store.budgets.settle("github", 7, 100, (150, reset))
    assert store.budgets.reserve("github", 7, 100) is None, "150 left covers one run"
    wait = store.budgets.reserve("github", 7, 100)
    assert wait is not None and 3590 < wait <= 3600, "not two: the second waits for the reset"
    assert store.budgets.reserve("github", 8, 100) is None, "another installation's own budget"
    store.budgets.settle("github", 7, 100, (140, reset))
    assert store.budgets.reserve("github", 7, 100) is None, "given back when the run ended"
    assert store.budgets.reserve("github", 7, 100) is not None, "140 - 100 left this hour"
    store.budgets.settle("github", 7, 100, (0, time.time() - 1))  # an older hour's answer
    assert store.budgets.reserve("github", 7, 100) is None, "still 140 left this hour"
    store.budgets.reserve("github", 9, 0)
    store.budgets.settle("github", 9, 0, (30, time.time() + 1))
    assert store.budgets.reserve("github", 9, 100) is not None
    time.sleep(1.1)
    assert store.budgets.reserve("github", 9, 100) is None, "a new hour, a full budget"


def test_a_run_waits_for_its_installation_budget_instead_of_failing(database, store):
    spent = store.repositories.add("github", "acme/infra", 7)
    other = store.repositories.add("github", "other/infra", 8)
    store.budgets.reserve("github", 7, 0)
    store.budgets.settle("github", 7, 0, (60, time.time() + 3600))
    waiting, _ = store.queue.enqueue(spent, "schedule")
    ran, _ = store.queue.enqueue(other, "schedule")
    drain(database, store, ServiceSettings(api_requests_per_run=100), work=leaves_budget)
    states = {job: state for job, _, state, _ in store.queue.jobs()}
    assert states == {waiting: "queued", ran: "done"}
    assert store.runs.of(spent) == [], "not started, so not failed either"
    with store.session() as session:
        wait = session.scalar(
            text("select extract(epoch from scheduled_at - now()) from procrastinate_jobs "
                 "where id = :id"), {"id": waiting}
        )  # fmt: skip
        seen = session.get(ApiBudgetRecord, ("github", 8))
    assert 3500 < wait <= 3600, "it starts again when the budget is full"
    assert (seen.remaining, seen.reserved) == (4321, 0), "what the run saw, recorded"


def test_finished_jobs_are_pruned_after_the_history_days_and_runs_are_kept(database, store):
    repo = store.repositories.add("github", "acme/infra", 7)
    old, _ = store.queue.enqueue(repo, "schedule")
    drain(database, store, ServiceSettings(), work=leaves_budget)
    recent, _ = store.queue.enqueue(repo, "push")
    drain(database, store, ServiceSettings(), work=leaves_budget)
    waiting, _ = store.queue.enqueue(repo, "rerun", delay=3600)
    with store.session() as session:
        session.execute(
            text("update procrastinate_events set at = at - interval '15 days' where job_id = :j"),
            {"j": old},
        )
    with store.session() as session:  # a periodic task's job, finished two hours ago
        session.execute(
            text(
                "select procrastinate_defer_jobs_v1(array[row('housekeeping', "
                "'rightsizer.recover', 0, null, null, '{}'::jsonb, null)"
                "::procrastinate_job_to_defer_v1])"
            )
        )
    (housekeeping, _) = fetch(store, queue="housekeeping")
    finish(store, housekeeping)
    with store.session() as session:
        session.execute(
            text("update procrastinate_events set at = at - interval '2 hours' where job_id = :j"),
            {"j": housekeeping},
        )
    prune(database, store, ServiceSettings(job_history_days=14))
    assert [job for job, *_ in store.queue.jobs()] == [recent, waiting]
    assert [reason for reason, *_ in store.runs.of(repo)] == ["schedule", "push"]
    with store.session() as session:
        left = session.scalar(
            text("select count(*) from procrastinate_jobs where id = :j"), {"j": housekeeping}
        )
    assert left == 0, "the periodic tasks' jobs are kept an hour"


def test_a_delivery_and_its_job_commit_together_and_once(store):
    repo = store.repositories.add("github", f"acme/infra-{time.time_ns()}", 7)
    first, created = store.queue.enqueue(repo, "push")
    queued = store.queue.deliver_and_enqueue(
        "d-1", "github", "push", repo.full_name, "push", 0, None
    )
    assert created and queued == (first, False)
    again = store.queue.deliver_and_enqueue(
        "d-1", "github", "push", repo.full_name, "push", 0, None
    )
    assert again == "duplicate"
    unknown = store.queue.deliver_and_enqueue("d-2", "github", "push", "acme/gone", "push", 0, None)
    assert unknown is None and store.deliveries.first("d-2", "github", "push")
    assert [job for job, *_ in store.queue.jobs()] == [first]


def test_a_command_names_a_workload_as_a_reviewer_types_it():
    key = WorkloadKey("prod", "checkout", "Deployment", "checkout")
    assert names_workload("deployment", "checkout", None, None, key)
    assert names_workload("Deployment", "checkout", "checkout", "prod", key)
    assert not names_workload("Deployment", "checkout", None, "staging", key)
    assert not names_workload("Deployment", "Checkout", None, None, key)
    assert not names_workload("StatefulSet", "checkout", None, None, key)


@pytest.mark.parametrize(
    ("field", "text", "value"),
    [
        ("requests.cpu", "250m", 0.25),
        ("limits.memory", "1Gi", 2.0**30),
        ("hpa.minReplicas", "3", 3),
    ],
)
def test_pinned_values_are_read_as_the_editor_writes_them(field, text, value):
    assert pin_value(field, text) == value


@pytest.mark.parametrize(("field", "text"), [("requests.cpu", "lots"), ("hpa.minReplicas", "2.5")])
def test_a_pin_the_editor_could_not_write_is_refused(field, text):
    with pytest.raises(InputError):
        pin_value(field, text)


def test_each_repository_has_its_own_forecast_cache_inside_the_directory(tmp_path):
    names = ["acme/shop", "acme/shop-eu", "a/b-c", "a-b/c", "../../etc/passwd"]
    paths = [repository_cache(tmp_path, name) for name in names]
    assert len(set(paths)) == len(names)
    assert all(path.parent == tmp_path and path.suffix == ".sqlite" for path in paths)
    assert paths[0].name.startswith("acme_shop-")
    assert repository_cache(None, "acme/shop") is None


def test_a_private_key_others_can_read_is_warned_about(tmp_path):
    key = tmp_path / "app.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    key.chmod(0o644)
    environ = {
        "RIGHTSIZER_GITHUB_APP_ID": "1",
        "RIGHTSIZER_GITHUB_PRIVATE_KEY": str(key),
        "RIGHTSIZER_GITHUB_WEBHOOK_SECRET": "s",
    }
    settings = load_settings(environ)
    assert settings_warnings(settings) == [
        f"RIGHTSIZER_GITHUB_PRIVATE_KEY: {key} is readable by others (mode 644); chmod 600 it"
    ]
    key.chmod(0o600)
    assert settings_warnings(settings) == []


def test_credentials_in_urls_never_reach_an_error_or_a_log_line():
    error = InputError(
        "https://x-access-token:ghs_s3cret@github.com/acme/infra.git",
        "cannot reach http://me:pa55@10.0.0.1:9090 or postgresql://rs:pw@db:5432/rightsizer",
    )
    assert str(error) == (
        "https://***@github.com/acme/infra.git: cannot reach http://***@10.0.0.1:9090 or "
        "postgresql://***@db:5432/rightsizer"
    )
    record = logging.LogRecord("rightsizer", logging.ERROR, "", 0, "%s", ("https://a:b@h/",), None)
    line = JsonFormatter([]).format(record)
    assert "a:b" not in line and "https://***@h/" in line
    assert redacted("git@github.com:acme/infra.git mail me@example.com") == (
        "git@github.com:acme/infra.git mail me@example.com"
    )


def test_a_json_log_line_carries_no_terminal_colour_codes():
    record = logging.LogRecord(
        "rightsizer",
        logging.WARNING,
        "",
        0,
        "\x1b[33mwarning:\x1b[0m %s",
        ("\x1b[1mbold\x1b[0m",),
        None,
    )
    record.tool = "\x1b[31mkustomize said no\x1b[0m"
    line = JsonFormatter([]).format(record)
    assert "\x1b" not in line and "\\u001b" not in line
    parsed = json.loads(line)
    assert (parsed["message"], parsed["tool"]) == ("warning: bold", "kustomize said no")


def test_the_dashboard_and_metrics_are_off_without_a_token_and_guarded_with_one(database):
    from fastapi.testclient import TestClient

    from bot.service.app import create_app

    off = TestClient(create_app(ServiceSettings(database_url=database)))
    assert off.get("/").status_code == 404 and off.get("/metrics").status_code == 404
    assert off.get("/healthz").status_code in (200, 503)  # health stays public
    on = TestClient(create_app(ServiceSettings(database_url=database, dashboard_token="t0k")))
    refused = on.get("/")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Basic realm="rightsizer"'
    for wrong in ({"Authorization": "Bearer t0"}, {"Authorization": "Basic !!"}, {}):
        assert on.get("/metrics", headers=wrong).status_code == 401
    assert on.get("/", auth=("anyone", "t0k")).status_code == 200
    assert on.get("/metrics", headers={"Authorization": "Bearer t0k"}).status_code == 200


def test_metrics_show_the_process_the_build_each_repos_last_good_run_and_the_rate_limit(
    database, store
):
    from fastapi.testclient import TestClient
    from prometheus_client.parser import text_string_to_metric_families

    from bot.service.app import create_app

    repo = store.repositories.add("github", "acme/infra", 7)
    store.repositories.add("github", "acme/idle", 7)  # never ran: no sample
    for outcome in ("ok", "failed"):  # the last good run counts, not the last run
        job, _ = store.queue.enqueue(repo, f"push-{outcome}")
        run = store.runs.start(JobRow(job, repo, "push", {}, 1))
        store.runs.finish(run, outcome, "")
    reset = time.time() + 1800
    store.budgets.reserve("github", 7, 100)
    store.budgets.settle("github", 7, 100, (4321, reset))
    client = TestClient(create_app(ServiceSettings(database_url=database, dashboard_token="t")))
    answer = client.get("/metrics", headers={"Authorization": "Bearer t"})
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }
    names = {name for name, _ in samples}
    assert {"process_resident_memory_bytes", "process_cpu_seconds_total"} <= names
    build = next(labels for name, labels in samples if name == "rightsizer_build_info")
    assert dict(build)["version"] == importlib.metadata.version("rightsizer")
    with store.session() as session:
        ended = session.scalar(text("select max(finished_at) from runs where outcome = 'ok'"))
    last = samples[
        ("rightsizer_last_success_timestamp_seconds",
         (("forge", "github"), ("repository", "acme/infra")))
    ]  # fmt: skip
    assert last == pytest.approx(ended.timestamp())
    assert not any("acme/idle" in str(labels) for _, labels in samples)
    installation = (("forge", "github"), ("installation", "7"))
    assert samples[("rightsizer_forge_rate_limit_remaining", installation)] == 4321
    reset_at = samples[("rightsizer_forge_rate_limit_reset_timestamp_seconds", installation)]
    assert reset_at == pytest.approx(reset, abs=1)


@pytest.mark.parametrize("listed", ["infra", "group/app=", "group app/x", "/x"])
def test_a_gitlab_project_list_that_does_not_parse_is_refused_at_start(listed):
    with pytest.raises(InputError, match=r"RIGHTSIZER_GITLAB_PROJECTS: .*group/project=token"):
        load_settings({"RIGHTSIZER_GITLAB_PROJECTS": listed})
