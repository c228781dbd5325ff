"""The worker: claims jobs from the store one at a time and runs them.

One thread is enough on the machines this runs on (a run is CPU-bound forecasting and
kustomize), and the store already guarantees one running job per repository. A run that
fails on the forge is retried with backoff; a mistake in the repo (its config, a policy) is
not, since running again would fail the same way until someone fixes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.decisions.overrides import Override, OverrideKind, names_workload, pin_value
from bot.forges.base import ForgeError
from bot.forges.connect import ForgeOptions, open_conversation
from bot.markdown import inert
from bot.pipeline import RunReport, run_moment, run_once
from bot.planner import workload_key
from bot.run import GroupResult
from bot.service import metrics
from bot.service.commands import (
    CommandError,
    Explain,
    Ignore,
    Pin,
    Rerun,
    Snooze,
    WorkloadRef,
    command_line,
    may_command,
    parse_command,
)
from bot.service.isolated import run_isolated
from bot.service.settings import ServiceSettings
from bot.store import Store
from bot.store.queue import POISON_AFTER
from bot.store.rows import JobRow, RecommendationRow, RepositoryRow
from recommenders.errors import InputError
from recommenders.model import WorkloadKey

log = logging.getLogger("rightsizer.worker")


class Worker:
    def __init__(
        self,
        store: Store,
        settings: ServiceSettings,
        poll_seconds: float = 0.5,
        work: Callable[..., RunSummary] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.poll_seconds = poll_seconds
        self.work = work or planned_and_published
        """What a run's child process does (a test gives one that crashes)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # One process runs jobs, so at its start no job can really be running: every job
        # marked so was cut off by a crash or a kill, however long its lease.
        resumed = self.store.queue.resume(every_running=True)
        if resumed:
            log.info("resumed jobs whose worker died", extra={"jobs": resumed})
        self._thread = threading.Thread(target=self._loop, name="rightsizer-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_pending()
                metrics.QUEUE_DEPTH.set(self.store.queue.depth())
            except Exception:  # the loop outlives any one job's bug or a database blip
                log.exception("worker loop failed")
                worked = False
            if not worked:
                self._stop.wait(self.poll_seconds)

    def run_pending(self) -> bool:
        """Run the next due job, if any; True when one ran."""
        job = self.store.queue.claim(self.settings.worker_lease_seconds)
        if job is None:
            return False
        started = time.monotonic()
        try:
            if job.reason.startswith("command:"):
                self._command(job)
            else:
                self._run(job)
        except Exception as exc:  # whatever broke, the job is not left marked running
            log.exception("job failed", extra={"job": job.id, "reason": job.reason})
            self.store.queue.finish(job.id, f"{type(exc).__name__}: {exc}", self._backoff(job))
        metrics.RUN_SECONDS.observe(time.monotonic() - started)
        return True

    def _backoff(self, job: JobRow) -> float:
        return self.settings.retry_seconds * 2 ** (job.attempts - 1)

    def _run(self, job: JobRow) -> None:
        """The run in a child process of its own (`isolated`): a crash or a hang there fails
        this job, and a job that has crashed or hung its process `POISON_AFTER` times is not
        tried again, while the worker goes on with the others."""
        run_id = self.store.runs.start(job)
        context = {"repository": job.repository.full_name, "reason": job.reason, "job": job.id}
        arguments = (
            self._options(job.repository),
            run_moment(self.settings.as_of, "RIGHTSIZER_AS_OF"),
            self.settings.org_policy,
            repository_cache(self.settings.forecast_cache, job.repository.full_name),
            self.store.overrides.of(job.repository),
        )
        ended = run_isolated(self.work, arguments, self.settings.job_timeout_seconds)
        if ended.kind == "input":
            self._failed(job, run_id, f"the repository needs a fix: {ended.value}", retry=False)
        elif ended.kind == "forge":
            self._failed(job, run_id, f"forge error: {ended.value}", retry=True)
        elif ended.kind == "error":
            log.error("run failed: %s", ended.value, extra=context)
            self._failed(job, run_id, str(ended.value).splitlines()[0], retry=True)
        elif ended.kind in ("crashed", "timeout"):
            poisoned = job.attempts >= POISON_AFTER
            message = str(ended.value) + (
                f"; poisoned after {job.attempts} attempts, not tried again" if poisoned else ""
            )
            self._failed(job, run_id, message, retry=not poisoned)
        else:
            summary: RunSummary = ended.value
            for line in summary.said:
                log.info(line, extra=context)
            self._record(job, run_id, summary)
            self.store.queue.finish(job.id)
            metrics.RUNS.labels(job.reason, "ok").inc()
            log.info("run finished", extra=context)

    def _failed(self, job: JobRow, run_id: int, message: str, *, retry: bool) -> None:
        self.store.runs.finish(run_id, "failed", message)
        self.store.queue.finish(job.id, message, self._backoff(job) if retry else None)
        metrics.RUNS.labels(job.reason, "failed").inc()
        log.warning(message, extra={"repository": job.repository.full_name, "job": job.id})

    def _record(self, job: JobRow, run_id: int, summary: RunSummary) -> None:
        repository = job.repository
        self.store.repositories.set_schedule(repository, *summary.schedule)
        opened = sum(r.pull_request == "created" for r in summary.results)
        updated = sum(r.pull_request == "updated" for r in summary.results)
        metrics.PULL_REQUESTS.labels("created").inc(opened)
        metrics.PULL_REQUESTS.labels("updated").inc(updated)
        for result in summary.results:
            if result.number is not None:
                self.store.runs.record_pull(
                    repository, result.number, result.branch, "open", result.location
                )
        held = [f"{r.group}: {r.location}" for r in summary.results if r.branch_outcome == "held"]
        self.store.runs.finish(
            run_id, "ok", "; ".join(held), (summary.changes, opened, updated), summary.rows
        )

    def _command(self, job: JobRow) -> None:
        """Read the comment from the forge (who wrote it and what it says: the payload's
        word is not enough, GitLab's webhook token is shared by every project and a comment
        can be edited), ask whether its author may command the bot, then act and answer."""
        details = job.details
        number, comment_id = int(details["number"]), int(details["comment_id"])
        try:
            conversation = open_conversation(self._options(job.repository))
            login, body = conversation.comment(number, comment_id)
            line = command_line(body)
            if line is None:
                self.store.queue.finish(job.id)  # edited since: it no longer holds a command
                return
            if not may_command(conversation.permission(login)):
                conversation.reply(
                    number,
                    f"@{login}, thanks — only people with write access to this repository can "
                    "give Rightsizer commands, so this one was not carried out.",
                )
                metrics.RUNS.labels("command", "refused").inc()
            else:
                conversation.reply(number, self._act(job.repository, login, line))
                metrics.RUNS.labels("command", "ok").inc()
        except ForgeError as exc:
            self.store.queue.finish(job.id, str(exc), self._backoff(job))
            return
        except InputError as exc:  # the service is not set up for this forge: no retry
            self.store.queue.finish(job.id, str(exc))
            return
        self.store.queue.finish(job.id)

    def _act(self, repository: RepositoryRow, login: str, line: str) -> str:
        """Carry out one command; the reply says what was done, or why not."""
        unknown = False
        try:
            command = parse_command(line)
            if isinstance(command, Explain):
                return f"@{login}, {explanation(self.store, repository, command.workload)}"
            if not isinstance(command, Rerun):
                override = to_override(command, login, datetime.now(UTC))
                self.store.overrides.add(repository, override)
                _, latest = self.store.runs.latest_recommendations(repository.id)
                unknown = bool(latest) and not any(_names(r, command.workload) for r in latest)
        except (CommandError, InputError) as exc:
            return f"@{login}, {exc}"
        self.store.queue.enqueue(repository, "rerun", 0.0)
        if isinstance(command, Rerun):
            return f"@{login}, rerunning now; the PRs update when it is done."
        warning = (
            " Note: the latest run has no workload by that name; check the spelling."
            if unknown
            else ""
        )
        return (
            f"@{login}, done: `{command.workload}` is {override.describe()}. Rerunning now; "
            f"for a lasting rule, put it in `policies/rightsizer.yaml` or an annotation.{warning}"
        )

    def _options(self, repository: RepositoryRow) -> ForgeOptions:
        settings = self.settings
        return ForgeOptions(
            forge=repository.forge,
            repository=repository.full_name,
            github_url=settings.github_url,
            gitlab_url=settings.gitlab_url,
            app_id=settings.github_app_id,
            private_key=settings.github_private_key,
            installation_id=repository.installation_id,
            token=settings.gitlab_token if repository.forge == "gitlab" else None,
            write_interval=settings.github_write_interval,
        )


def to_override(command: Ignore | Snooze | Pin, login: str, now: datetime) -> Override:
    ref = command.workload
    until = now + timedelta(days=command.days) if isinstance(command, Snooze) else None
    field = value = None
    if isinstance(command, Pin):
        field, value = command.field, command.value
        pin_value(field, value)  # refuse a value the editor could not write, now
    kind: OverrideKind = (
        "pin" if isinstance(command, Pin) else "snooze" if isinstance(command, Snooze) else "ignore"
    )
    return Override(
        kind, ref.kind, ref.name, ref.namespace, ref.env, login, now, until, field, value
    )


@dataclass(frozen=True)
class RunSummary:
    """What the worker records of a run, as plain data made in the run's own process."""

    schedule: tuple[str | None, str]
    """The repository's cron and time zone, as its `.rightsizer.yaml` says."""
    results: list[GroupResult]
    changes: int
    rows: list[RecommendationRow]
    said: list[str]
    """What the run said along the way (warnings about its inputs), for the worker's log."""


def planned_and_published(
    options: ForgeOptions,
    moment: datetime,
    org_policy: str | None,
    cache: Path | None,
    overrides: list[Override],
) -> RunSummary:
    """One run, as the child process of `Worker._run` carries it out."""
    said: list[str] = []
    report = run_once(
        options,
        None,
        moment,
        org_policy=org_policy,
        forecast_cache=cache,
        overrides=overrides,
        say=said.append,
    )
    schedule = report.config.schedule
    return RunSummary(
        (schedule.cron, schedule.timezone),
        report.results,
        len(report.plan.changes),
        recommendation_rows(report),
        said,
    )


def recommendation_rows(report: RunReport) -> list[RecommendationRow]:
    """Each planned value, with its explanation and its resource's chart, for the dashboard
    and `explain`."""
    rows = []
    for change in report.plan.changes:
        workload = change.workload
        key = workload_key(workload)
        recommendation = report.plan.recommendations.get(key)
        decision = change.decision
        field = decision.recommendation
        rules = "; ".join(f"{hit.rule}: {hit.text}" for hit in decision.rules)
        explanation = field.basis + (f"; {rules}" if rules else "")
        metric = "memory" if change.field.endswith("memory") else "cpu"
        charts = recommendation.charts if recommendation is not None else ()
        chart = next(
            (c for c in charts if c.metric == metric and c.container == change.container), None
        )
        rows.append(
            RecommendationRow(
                str(key),
                f"{change.container} {change.field}" if change.container else change.field,
                field.current,
                decision.value,
                decision.action,
                explanation,
                json.dumps(dataclasses.asdict(chart)) if chart is not None else "",
            )
        )
    return rows


def explanation(store: Store, repository: RepositoryRow, workload: WorkloadRef) -> str:
    """The latest run's values for a workload, each with the basis and rules that set it."""
    _, latest = store.runs.latest_recommendations(repository.id)
    rows = [r for r in latest if _names(r, workload)]
    shown = f"{workload.kind}/{workload.name}"
    if not rows:
        return f"the latest run has no recommendation for `{shown}`."
    lines = [f"this is how Rightsizer sized `{rows[0].workload}` in its latest run:", ""]
    lines += [
        f"- {r.field}: {r.current:g} → {r.proposed:g} ({r.action}): {inert(r.explanation)}"
        for r in rows
    ]
    return "\n".join(lines)


def _names(row: RecommendationRow, ref: WorkloadRef) -> bool:
    key = WorkloadKey(*row.workload.split("/", 3))
    return names_workload(ref.kind, ref.name, ref.namespace, ref.env, key)


def repository_cache(directory: Path | None, repository: str) -> Path | None:
    """The repository's own cache file: series ids name workloads, and one repository's
    history must never warm-start another's forecasts. The name is made safe for a file
    system and kept apart by a hash of the full name (`a/b-c` and `a-b/c` never meet)."""
    if directory is None:
        return None
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", repository)[:80]
    digest = hashlib.blake2b(repository.encode(), digest_size=6).hexdigest()
    return directory / f"{safe}-{digest}.sqlite"
