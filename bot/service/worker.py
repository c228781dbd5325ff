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
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.decisions.overrides import Override, OverrideKind, names_workload, pin_value
from bot.forges.base import ForgeError
from bot.forges.connect import ForgeOptions, open_conversation
from bot.pipeline import RunReport, run_moment, run_once
from bot.planner import workload_key
from bot.service import metrics
from bot.service.commands import (
    CommandError,
    Explain,
    Ignore,
    Pin,
    Rerun,
    Snooze,
    WorkloadRef,
    may_command,
    parse_command,
)
from bot.service.settings import ServiceSettings
from bot.service.state import JobRow, RecommendationRow, RepositoryRow, Store
from recommenders.errors import InputError
from recommenders.model import WorkloadKey

log = logging.getLogger("rightsizer.worker")


class Worker:
    def __init__(self, store: Store, settings: ServiceSettings, poll_seconds: float = 0.5) -> None:
        self.store = store
        self.settings = settings
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # One process runs jobs, so at its start no job can really be running: every job
        # marked so was cut off by a crash or a kill, however long its lease.
        resumed = self.store.resume(every_running=True)
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
                metrics.QUEUE_DEPTH.set(self.store.queue_depth())
            except Exception:  # the loop outlives any one job's bug or a database blip
                log.exception("worker loop failed")
                worked = False
            if not worked:
                self._stop.wait(self.poll_seconds)

    def run_pending(self) -> bool:
        """Run the next due job, if any; True when one ran."""
        job = self.store.claim(self.settings.worker_lease_seconds)
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
            self.store.finish(job.id, f"{type(exc).__name__}: {exc}", self._backoff(job))
        metrics.RUN_SECONDS.observe(time.monotonic() - started)
        return True

    def _backoff(self, job: JobRow) -> float:
        return self.settings.retry_seconds * 2 ** (job.attempts - 1)

    def _run(self, job: JobRow) -> None:
        run_id = self.store.start_run(job)
        context = {"repository": job.repository.full_name, "reason": job.reason, "job": job.id}
        try:
            report = run_once(
                self._options(job.repository),
                None,
                run_moment(self.settings.as_of, "RIGHTSIZER_AS_OF"),
                org_policy=self.settings.org_policy,
                forecast_cache=repository_cache(
                    self.settings.forecast_cache, job.repository.full_name
                ),
                overrides=self.store.overrides(job.repository),
                say=lambda message: log.info(message, extra=context),
            )
        except InputError as exc:
            self._failed(job, run_id, f"the repository needs a fix: {exc}", retry=False)
            return
        except ForgeError as exc:
            self._failed(job, run_id, f"forge error: {exc}", retry=True)
            return
        except Exception as exc:
            log.exception("run failed", extra=context)
            self._failed(job, run_id, f"{type(exc).__name__}: {exc}", retry=True)
            return
        self._record(job, run_id, report)
        self.store.finish(job.id)
        metrics.RUNS.labels(job.reason, "ok").inc()
        log.info("run finished", extra=context)

    def _failed(self, job: JobRow, run_id: int, message: str, *, retry: bool) -> None:
        self.store.finish_run(run_id, "failed", message)
        self.store.finish(job.id, message, self._backoff(job) if retry else None)
        metrics.RUNS.labels(job.reason, "failed").inc()
        log.warning(message, extra={"repository": job.repository.full_name, "job": job.id})

    def _record(self, job: JobRow, run_id: int, report: RunReport) -> None:
        repository = job.repository
        schedule = report.config.schedule
        self.store.set_schedule(repository, schedule.cron, schedule.timezone)
        opened = sum(r.pull_request == "created" for r in report.results)
        updated = sum(r.pull_request == "updated" for r in report.results)
        metrics.PULL_REQUESTS.labels("created").inc(opened)
        metrics.PULL_REQUESTS.labels("updated").inc(updated)
        for result in report.results:
            if result.number is not None:
                self.store.record_pull(
                    repository, result.number, result.branch, "open", result.location
                )
        held = [f"{r.group}: {r.location}" for r in report.results if r.branch_outcome == "held"]
        self.store.finish_run(
            run_id,
            "ok",
            "; ".join(held),
            (len(report.plan.changes), opened, updated),
            recommendation_rows(report),
        )

    def _command(self, job: JobRow) -> None:
        """Ask the forge whether the commenter may command the bot (the payload's word is
        not enough: anyone can comment), then act and answer on the PR."""
        details = job.details
        number, login = int(details["number"]), str(details["login"])
        try:
            conversation = open_conversation(self._options(job.repository))
            if not may_command(conversation.permission(login)):
                conversation.reply(
                    number,
                    f"@{login}, thanks — only people with write access to this repository can "
                    "give Rightsizer commands, so this one was not carried out.",
                )
                metrics.RUNS.labels("command", "refused").inc()
            else:
                conversation.reply(
                    number, self._act(job.repository, login, str(details["command"]))
                )
                metrics.RUNS.labels("command", "ok").inc()
        except ForgeError as exc:
            self.store.finish(job.id, str(exc), self._backoff(job))
            return
        except InputError as exc:  # the service is not set up for this forge: no retry
            self.store.finish(job.id, str(exc))
            return
        self.store.finish(job.id)

    def _act(self, repository: RepositoryRow, login: str, line: str) -> str:
        """Carry out one command; the reply says what was done, or why not."""
        unknown = False
        try:
            command = parse_command(line)
            if isinstance(command, Explain):
                return f"@{login}, {explanation(self.store, repository, command.workload)}"
            if not isinstance(command, Rerun):
                override = to_override(command, login, datetime.now(UTC))
                self.store.add_override(repository, override)
                _, latest = self.store.latest_recommendations(repository.id)
                unknown = bool(latest) and not any(_names(r, command.workload) for r in latest)
        except (CommandError, InputError) as exc:
            return f"@{login}, {exc}"
        self.store.enqueue(repository, "rerun", 0.0)
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
    _, latest = store.latest_recommendations(repository.id)
    rows = [r for r in latest if _names(r, workload)]
    shown = f"{workload.kind}/{workload.name}"
    if not rows:
        return f"the latest run has no recommendation for `{shown}`."
    lines = [f"this is how Rightsizer sized `{rows[0].workload}` in its latest run:", ""]
    lines += [
        f"- {r.field}: {r.current:g} → {r.proposed:g} ({r.action}): {r.explanation}" for r in rows
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
