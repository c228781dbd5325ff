"""Scheduled runs: one APScheduler cron job per repository, kept in step with the store.

A repository's own `.rightsizer.yaml` `schedule:` (read at each run) wins over the service's
default; the default carries jitter so that installations do not all run at the same minute.
The scheduler only enqueues: the durable queue, not APScheduler's memory, is what survives
a restart. Every web replica runs the same schedules; the first to fire takes the slot in the
database (`take_schedule_slot`), so a repository runs once per slot however many replicas
there are.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from bot.cron import CronSchedule
from bot.service.settings import ServiceSettings
from bot.store import Store
from bot.store.rows import RepositoryRow

log = logging.getLogger("rightsizer.scheduler")
SYNC_SECONDS = 60
SLOT_SECONDS = 30
"""Replicas fire the same schedule within this of each other (jitter aside)."""


class Schedules:
    def __init__(self, store: Store, settings: ServiceSettings) -> None:
        self.store = store
        self.settings = settings
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self._known: dict[int, tuple[str, str]] = {}

    def start(self) -> None:
        self.sync()
        self.scheduler.add_job(self.sync, "interval", seconds=SYNC_SECONDS, id="sync")
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def sync(self) -> None:
        """Add, change or drop cron jobs to match the active repositories."""
        repositories = {repo.id: repo for repo in self.store.repositories.active()}
        for gone in set(self._known) - set(repositories):
            self.scheduler.remove_job(f"repo-{gone}")
            del self._known[gone]
        for repository in repositories.values():
            wanted = self.cron_of(repository)
            if self._known.get(repository.id) == wanted:
                continue
            cron, zone = wanted
            # A repo's own schedule runs when it says; the default one is spread out.
            jitter = None if repository.schedule_cron else self.settings.schedule_jitter_seconds
            try:
                trigger = CronSchedule(cron, zone, jitter)
            except ValueError as exc:  # checked when read; one bad row must not stop the rest
                log.warning(
                    "schedule refused",
                    extra={"repository": repository.full_name, "error": str(exc)},
                )
                continue
            self.scheduler.add_job(
                self.fire,
                trigger,
                args=(repository, SLOT_SECONDS + (trigger.jitter or 0)),
                id=f"repo-{repository.id}",
                replace_existing=True,
                misfire_grace_time=3600,
                coalesce=True,
            )
            self._known[repository.id] = wanted
            log.info(
                "scheduled", extra={"repository": repository.full_name, "cron": cron, "tz": zone}
            )

    def fire(self, repository: RepositoryRow, spread: float) -> None:
        """The scheduled run queued, unless another replica queued it within `spread` s
        (each replica draws its own jitter)."""
        if self.store.repositories.take_schedule_slot(repository, spread):
            self.store.queue.enqueue(repository, "schedule")

    def cron_of(self, repository: RepositoryRow) -> tuple[str, str]:
        if repository.schedule_cron:
            return repository.schedule_cron, repository.schedule_timezone
        return self.settings.schedule, "UTC"
