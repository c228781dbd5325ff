"""The worker: what a job does, once the engine (`engine.py`) hands it over.

A run is carried out in a child process of its own (`isolated.py`). How it ends decides what
the engine does next: a run that fails on the forge, crashes or hangs is retried with backoff
(`RetryLater`), a mistake in the repo (its config, a policy) is not (`JobFailed`), since
running again would fail the same way until someone fixes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.dashboard_ticks import Tick
from bot.decisions.overrides import Override, OverrideKind, names_workload, pin_value
from bot.decisions.releases import Release
from bot.forges.base import ForgeError
from bot.forges.connect import Conversation, ForgeOptions, open_conversation
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
from bot.service.fanout import SharedFits, sharing, take
from bot.service.isolated import Ended, run_isolated
from bot.service.settings import ServiceSettings
from bot.store import Store
from bot.store.rows import JobRow, RecommendationRow, RepositoryRow, VerdictRow
from recommenders.errors import InputError
from recommenders.forecasters.batch import release_workers
from recommenders.model import WorkloadKey

log = logging.getLogger("rightsizer.worker")
POISON_AFTER = 3
"""Attempts of a job whose run crashed or hung its process (or whose worker died during it),
after which it is given up on (poisoned) instead of tried again."""


class RetryLater(Exception):
    """The job failed on something passing; the engine runs it again after `after` s."""

    def __init__(self, message: str, after: float) -> None:
        super().__init__(message)
        self.after = after


class JobFailed(Exception):
    """The job failed and is not tried again; the message says why."""


class BudgetWait(Exception):
    """The installation's API budget cannot cover another run this hour: the engine starts
    the job again after `after` s, when it is full, without counting a failure."""

    def __init__(self, after: float) -> None:
        super().__init__(f"the installation's API budget is spent; waiting {after:.0f} s")
        self.after = after


class Worker:
    def __init__(
        self,
        store: Store,
        settings: ServiceSettings,
        work: Callable[..., RunSummary] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.work = work or planned_and_published
        """What a run's child process does (a test gives one that crashes)."""
        self._runs = 0
        self._counting = threading.Lock()

    def handle(
        self, job_id: int, repository_id: int, reason: str, details: dict, attempt: int
    ) -> None:
        """Carry out one job: returns when it is done, raises `RetryLater` or `JobFailed`."""
        repository = self.store.repositories.served(repository_id)
        if repository is None:  # removed since it was queued: the forge would refuse us
            log.info("job skipped: repository no longer served", extra={"job": job_id})
            return
        job = JobRow(job_id, repository, reason, details, attempt)
        started = time.monotonic()
        try:
            if reason.startswith("command:"):
                self._command(job)
            elif reason.startswith("dashboard:"):
                self._ticked(job)
            else:
                self._run(job)
        finally:
            metrics.RUN_SECONDS.observe(time.monotonic() - started)

    def _drop_chunks(self, run_id: int) -> None:
        """The run's shared chunks, deleted however it ended (its child deletes them itself
        unless it died first). A failure here must not hide how the run ended: `prune`
        deletes what is left."""
        try:
            self.store.chunks.drop(run_id)
        except Exception as exc:  # the database, passing; logged, never raised over the run
            log.warning("the run's forecast chunks not deleted: %s", exc, extra={"run": run_id})

    def share(self, chunk: int) -> None:
        """Fit a chunk another run shared (`fanout.py`), unless this worker is carrying out
        a run itself: that run's forecast processes have its CPUs, and the chunk is better
        left to an idle worker, or to its run."""
        if not self._runs:
            take(self.store, chunk)

    def _running(self, change: int) -> None:
        with self._counting:
            self._runs += change

    def _backoff(self, job: JobRow, asked: float | None = None) -> float:
        """Exponential from `retry_seconds`, and never sooner than the forge asked."""
        return max(self.settings.retry_seconds * 2 ** (job.attempts - 1), asked or 0.0)

    def _run(self, job: JobRow) -> None:
        """The run in a child process of its own: a crash or a hang there fails this job,
        and one that has crashed or hung its process `POISON_AFTER` times is not tried
        again, while the worker goes on with the others."""
        budget = self._reserve(job.repository)
        run_id = self.store.runs.start(job)
        context = _context(job)
        arguments = (
            self._options(job.repository),
            run_moment(self.settings.as_of, "RIGHTSIZER_AS_OF"),
            self.settings.org_policy,
            repository_cache(self.settings.forecast_cache, job.repository.full_name),
            self.store.overrides.of(job.repository),
            self.store.releases.of(job.repository),
            SharedFits(self.store.database.url, run_id),
        )
        self._running(+1)
        ended: Ended | None = None
        try:
            ended = run_isolated(self.work, arguments, self.settings.job_timeout_seconds)
        finally:
            self._running(-1)
            observed = ended.value.api_budget if ended and ended.kind == "ok" else None
            if budget is not None:
                self.store.budgets.settle(*budget, observed)
            self._drop_chunks(run_id)
        if ended.kind == "ok":
            summary: RunSummary = ended.value
            for line in summary.said:
                log.info(line, extra=context)
            self._record(job, run_id, summary)
            metrics.RUNS.labels(job.reason, "ok").inc()
            log.info("run finished", extra=context)
            return
        if ended.kind == "error":
            log.error("run failed: %s", ended.value, extra=context)
        self._failed(job, run_id, ended)

    def _reserve(self, repository: RepositoryRow) -> tuple[str, int, int] | None:
        """The run's share of its installation's API budget, set aside; BudgetWait when
        it does not fit. None for a repository without an installation (GitLab, a token)."""
        if repository.installation_id is None:
            return None
        share = (repository.forge, repository.installation_id, self.settings.api_requests_per_run)
        wait = self.store.budgets.reserve(*share)
        if wait is not None:
            log.info(
                "waiting for the installation's API budget",
                extra={"repository": repository.full_name, "seconds": round(wait)},
            )
            raise BudgetWait(wait)
        return share

    def _failed(self, job: JobRow, run_id: int, ended: Ended) -> None:
        """The run recorded as failed, and the job ended as its kind of failure asks."""
        message = str(ended.value).splitlines()[0]
        retry = ended.kind != "input"
        if ended.kind == "input":
            message = f"the repository needs a fix: {message}"
        elif ended.kind == "forge":
            message = f"forge error: {message}"
        elif ended.kind in ("crashed", "timeout") and job.attempts >= POISON_AFTER:
            message += f"; poisoned after {job.attempts} attempts, not tried again"
            retry = False
        waiting = self.store.queue.waiting(
            job.repository.forge, job.repository.full_name, job.reason, job.id
        )
        if retry and waiting is not None:
            message += f"; job {waiting}, queued since, stands for this one"
            retry = False
        self.store.runs.finish(run_id, "failed", message)
        metrics.RUNS.labels(job.reason, "failed").inc()
        log.warning(message, extra=_context(job))
        if retry:
            raise RetryLater(message, self._backoff(job, ended.retry_after))
        raise JobFailed(message)

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
        self.store.verifications.record(repository, summary.verdicts)
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
        with self._conversation(job) as conversation:
            login, body = conversation.comment(number, comment_id)
            line = command_line(body)
            if line is None:
                return  # edited since: it no longer holds a command
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

    @contextmanager
    def _conversation(self, job: JobRow) -> Iterator[Conversation]:
        """The job's forge to talk to, and how its failures end the job: retried later when
        the forge failed, never when the service is not set up for this forge."""
        try:
            yield open_conversation(self._options(job.repository))
        except ForgeError as exc:
            raise RetryLater(str(exc), self._backoff(job, exc.retry_after)) from exc
        except InputError as exc:
            raise JobFailed(str(exc)) from exc

    def _ticked(self, job: JobRow) -> None:
        """Boxes one person ticked in one edit of the dashboard issue (the webhook read which
        from the edit itself). The forge is asked whether the issue is the bot's own open
        dashboard and whether the person may write; then each release is kept and one run
        carries them out and rewrites the issue with its boxes clear. A refusal is logged,
        not answered: the next run clears the box."""
        details = job.details
        number, login = int(details["number"]), str(details["login"])
        if "ticks" not in details:  # queued before jobs carried them: nothing to act on
            log.info("dashboard job without its ticks: skipped", extra=_context(job))
            return
        ticks = [Tick(action, group) for action, group in details["ticks"]]
        with self._conversation(job) as conversation:
            if not conversation.is_dashboard(number):
                log.info(
                    "boxes ticked in #%s, not the bot's dashboard", number, extra=_context(job)
                )
                return
            if not may_command(conversation.permission(login)):
                log.info("dashboard box refused: %s may not write", login, extra=_context(job))
                metrics.RUNS.labels("dashboard", "refused").inc()
                return
        now = datetime.now(UTC)
        for tick in ticks:
            if tick.group is not None:
                self.store.releases.add(job.repository, Release(tick.group, login, now))
        self.store.queue.enqueue(job.repository, "rerun", 0.0)
        metrics.RUNS.labels("dashboard", "ok").inc()

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
        """The run's options, as the repository's forge makes them from its settings."""
        forge = self.settings.forge(repository.forge)
        return forge.run_options(repository.full_name, repository.installation_id)


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
    api_budget: tuple[int, float] | None = None
    """What the forge said is left of the installation's requests, and when it resets."""
    verdicts: list[VerdictRow] = field(default_factory=list)
    """What became of the bot's merged changes, as this run judged them."""


def planned_and_published(
    options: ForgeOptions,
    moment: datetime,
    org_policy: str | None,
    cache: Path | None,
    overrides: list[Override],
    releases: list[Release],
    shared: SharedFits | None = None,
) -> RunSummary:
    """One run, as the child process of `Worker._run` carries it out: its fits shared with
    the service's other workers when `shared` says where."""
    said: list[str] = []
    try:
        with sharing(shared):
            report = run_once(
                options,
                None,
                moment,
                org_policy=org_policy,
                forecast_cache=cache,
                overrides=overrides,
                releases=releases,
                say=said.append,
            )
    finally:
        release_workers()
    schedule = report.config.schedule
    budget = report.api_budget
    return RunSummary(
        (schedule.cron, schedule.timezone),
        report.results,
        len(report.plan.changes),
        recommendation_rows(report),
        said,
        (budget.remaining, budget.resets_at) if budget is not None else None,
        [VerdictRow(v.key, v.sha, v.state, v.summary, v.merged) for v in report.plan.verdicts],
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


def _context(job: JobRow) -> dict[str, Any]:
    """What a run's log lines carry: its repository, reason and job, and the webhook
    delivery that queued the job, when one did (a debounced burst: the first one)."""
    found = {"repository": job.repository.full_name, "reason": job.reason, "job": job.id}
    if job.details.get("delivery"):
        found["delivery"] = job.details["delivery"]
    return found
