"""The job engine: procrastinate, on the service's PostgreSQL.

procrastinate fetches a due job whose repository runs nothing else (the `lock` the queue
gives every job), runs it in a thread of the worker process, retries it as `Backoff` says,
and keeps a heartbeat per worker process. A worker that dies (OOM-killed, SIGKILLed, its
node gone) stops beating: the periodic `recover` task of any living worker puts its job back
in the queue, or gives it up once it has taken its worker down `POISON_AFTER` times. The
jobs are deferred by `bot/store/queue.py`, in the service's own transactions.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from procrastinate import App, BaseRetryStrategy, JobContext, PsycopgConnector, RetryDecision
from procrastinate.exceptions import ConnectorException
from procrastinate.jobs import Job, Status
from procrastinate.manager import JobManager

from bot.service.isolated import start_fork_server
from bot.service.worker import POISON_AFTER, BudgetWait, JobFailed, RetryLater, Worker
from bot.store.chunks import QUEUE as CHUNK_QUEUE
from bot.store.chunks import TASK as CHUNK_TASK
from bot.store.database import libpq_url
from bot.store.queue import QUEUE, TASK

log = logging.getLogger("rightsizer.engine")
RECOVER_TASK = "rightsizer.recover"
PRUNE_TASK = "rightsizer.prune"
HOUSEKEEPING = "housekeeping"
"""The queue of the periodic tasks: a job every few seconds, kept an hour, not 14 days."""
RECOVER_CRON = "* * * * * */5"
"""Every five seconds (croniter's sixth field is the second): a dead worker's job waits for
its heartbeat to go stale, then at most this long."""
MAX_ATTEMPTS = 5


class Backoff(BaseRetryStrategy):
    """A run that failed on something passing (`RetryLater`: the forge, a crash) is tried
    again after the delay the worker chose, until `MAX_ATTEMPTS`; any other failure is not.
    A run waiting for its installation's API budget (`BudgetWait`) starts again when the
    budget is full, however often (procrastinate counts it as an attempt all the same)."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, BudgetWait):
            return RetryDecision(retry_at=datetime.now(UTC) + timedelta(seconds=exception.after))
        if isinstance(exception, RetryLater) and job.attempts + 1 < MAX_ATTEMPTS:
            return RetryDecision(retry_at=datetime.now(UTC) + timedelta(seconds=exception.after))
        return None


def engine_app(url: str) -> App:
    """procrastinate's app on the database at `url`, with the bot's tasks: the runs, and the
    periodic recovery of dead workers' jobs and pruning of old ones."""
    app = App(connector=PsycopgConnector(conninfo=libpq_url(url)))
    app.task(name=TASK, queue=QUEUE, pass_context=True, retry=Backoff())(_run)
    app.task(name=CHUNK_TASK, queue=CHUNK_QUEUE, pass_context=True)(_fit)
    recover = app.task(
        name=RECOVER_TASK, queue=HOUSEKEEPING, pass_context=True, queueing_lock=RECOVER_TASK
    )(_recover)
    app.periodic(cron=RECOVER_CRON, periodic_id="stalled")(recover)
    prune = app.task(
        name=PRUNE_TASK, queue=HOUSEKEEPING, pass_context=True, queueing_lock=PRUNE_TASK
    )(_prune)
    app.periodic(cron="17 * * * *", periodic_id="prune")(prune)
    return app


async def run_worker(
    app: App,
    worker: Worker,
    concurrency: int,
    *,
    wait: bool = True,
    signals: bool = True,
) -> None:
    """Jobs run, `concurrency` at once (each in a child process of its own, see
    `isolated.py`), until the process is stopped, or with `wait=False` until none is due.
    The app must be open."""
    logging.getLogger("procrastinate.worker").addFilter(_expected_failures)
    start_fork_server()  # from this thread, which lives as long as the worker
    heartbeat = worker.settings.worker_heartbeat_seconds
    await app.run_worker_async(
        queues=[QUEUE, CHUNK_QUEUE, HOUSEKEEPING],
        concurrency=concurrency,
        wait=wait,
        install_signal_handlers=signals,
        update_heartbeat_interval=heartbeat,
        stalled_worker_timeout=3 * heartbeat,
        shutdown_graceful_timeout=worker.settings.job_timeout_seconds,
        additional_context={"worker": worker},
    )


def _run(context: JobContext, repository: int, reason: str, details: dict[str, Any]) -> None:
    job = context.job
    assert job.id is not None
    worker: Worker = context.additional_context["worker"]
    worker.handle(job.id, repository, reason, details, job.attempts + 1)


def _fit(context: JobContext, chunk: int) -> None:
    """A share of another run's forecasts (`fanout.py`)."""
    worker: Worker = context.additional_context["worker"]
    worker.share(chunk)


async def _recover(context: JobContext, timestamp: int) -> None:
    await recover_stalled(context.app.job_manager, context.additional_context["worker"])


async def recover_stalled(manager: JobManager, worker: Worker) -> None:
    """Jobs of workers whose heartbeat went stale, back in the queue or poisoned."""
    stalled_after = 3 * worker.settings.worker_heartbeat_seconds
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        assert job.id is not None
        if job.task_name == CHUNK_TASK:  # its claim goes stale and its run takes it back
            await manager.finish_job(job, Status.FAILED, delete_job=False)
            continue
        tried = job.attempts + 1
        if job.task_name == TASK and tried >= POISON_AFTER:
            message = f"poisoned: its worker stopped during it {tried} times; not tried again"
            await manager.finish_job(job, Status.FAILED, delete_job=False)
            await asyncio.to_thread(worker.store.runs.abandon, job.id, message)
            log.warning(message, extra={"job": job.id})
            continue
        retried = "its worker stopped during the run; tried again"
        await asyncio.to_thread(worker.store.runs.abandon, job.id, retried)
        try:
            await manager.retry_job(job)
        except ConnectorException:  # the same window was queued again meanwhile: it stands
            await manager.finish_job(job, Status.FAILED, delete_job=False)
        log.info("resumed a job whose worker died", extra={"job": job.id})


async def _prune(context: JobContext, timestamp: int) -> None:
    await prune_finished(context.app.job_manager, context.additional_context["worker"])


async def prune_finished(manager: JobManager, worker: Worker) -> None:
    """Run jobs that ended over `job_history_days` ago, and the periodic tasks' and forecast
    chunks' own jobs after an hour, deleted with their events: the queue's table stays the
    size of its recent past. Each run's record is kept (`runs`). Chunks whose run died
    before it could delete them go after twice a run's timeout."""
    history = int(worker.settings.job_history_days * 24)
    for queue, hours in ((QUEUE, history), (HOUSEKEEPING, 1), (CHUNK_QUEUE, 1)):
        await manager.delete_old_jobs(
            nb_hours=hours,
            queue=queue,
            include_failed=True,
            include_cancelled=True,
            include_aborted=True,
        )
    older = timedelta(seconds=2 * worker.settings.job_timeout_seconds)
    await asyncio.to_thread(worker.store.chunks.prune, older)


def _expected_failures(record: logging.LogRecord) -> bool:
    """A run that failed in the repository or on the forge was logged by the worker in one
    line; procrastinate's traceback of the exception that reports it would only bury that."""
    if record.exc_info and isinstance(record.exc_info[1], JobFailed | RetryLater | BudgetWait):
        record.exc_info = None
    return True
