"""Installations and the repositories the bot serves: added and removed by installation
events (each in one transaction with its delivery and the first runs it queues), and each
repository's own schedule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from bot.store.database import Database, now
from bot.store.deliveries import DUPLICATE, insert_delivery
from bot.store.queue import cancel_waiting, enqueue_in
from bot.store.rows import RepositoryRow, repository_row
from bot.store.tables import Installation, Repository


class Repositories:
    def __init__(self, database: Database) -> None:
        self.session = database.session

    def add_installation(self, forge: str, installation: int, account: str) -> None:
        with self.session() as session:
            _add_installation(session, forge, installation, account)

    def installation_active(self, forge: str, installation: int) -> bool:
        with self.session() as session:
            found = session.get(Installation, (installation, forge))
            return found is not None and found.removed_at is None

    def known(self, forge: str, full_name: str) -> bool:
        """Whether the repository was ever added, active or not."""
        with self.session() as session:
            query = select(Repository.id).where(
                Repository.forge == forge, Repository.full_name == full_name
            )
            return session.scalar(query) is not None

    def add(self, forge: str, full_name: str, installation: int | None) -> RepositoryRow:
        with self.session() as session:
            return repository_row(_add_repository(session, forge, full_name, installation))

    def remove(self, forge: str, full_name: str) -> None:
        with self.session() as session:
            _deactivate(session, Repository.forge == forge, Repository.full_name == full_name)

    def install(
        self,
        delivery: str | None,
        forge: str,
        event: str,
        installation: int,
        account: str | None,
        added: list[str],
        removed: list[str],
    ) -> list[tuple[str, int, bool]] | str:
        """An installation event in one transaction with its delivery: the installation
        (when `account` is given), repositories removed and added, and a first run queued for
        each added one: (name, job, new). A crash leaves none of it, so the forge's
        redelivery is new again. DUPLICATE when the delivery was seen before."""
        with self.session() as session:
            if delivery and not insert_delivery(session, delivery, forge, event):
                return DUPLICATE
            if account is not None:
                _add_installation(session, forge, installation, account)
            for name in removed:
                _deactivate(session, Repository.forge == forge, Repository.full_name == name)
            jobs = []
            for name in added:
                repository = _add_repository(session, forge, name, installation)
                jobs.append((name, *enqueue_in(session, repository, "installation", 0.0, None)))
            return jobs

    def uninstall(self, delivery: str | None, forge: str, event: str, installation: int) -> bool:
        """The installation and its repositories forgotten with the delivery, in one
        transaction; False when the delivery was seen before."""
        with self.session() as session:
            if delivery and not insert_delivery(session, delivery, forge, event):
                return False
            _remove_installation(session, forge, installation)
            return True

    def get(self, forge: str, full_name: str) -> RepositoryRow | None:
        with self.session() as session:
            found = session.scalar(
                select(Repository).where(
                    Repository.forge == forge,
                    Repository.full_name == full_name,
                    Repository.active.is_(True),
                )
            )
            return repository_row(found) if found is not None else None

    def take_schedule_slot(self, repository: RepositoryRow, spread: float) -> bool:
        """Whether this process queues the scheduled run that is due now: every web replica
        fires the same schedule, and the first one within `spread` seconds of the others
        takes the slot (an atomic update: the others find it taken)."""
        with self.session() as session:
            taken = session.execute(
                update(Repository)
                .where(
                    Repository.id == repository.id,
                    or_(
                        Repository.scheduled_at.is_(None),
                        Repository.scheduled_at < func.now() - timedelta(seconds=spread),
                    ),
                )
                .values(scheduled_at=func.now())
            )
            return bool(taken.rowcount)  # type: ignore[attr-defined]

    def served(self, repository_id: int) -> RepositoryRow | None:
        """The repository a job names, while the bot still serves it."""
        with self.session() as session:
            found = session.get(Repository, repository_id)
            return repository_row(found) if found is not None and found.active else None

    def active(self) -> list[RepositoryRow]:
        with self.session() as session:
            rows = session.scalars(select(Repository).where(Repository.active.is_(True)))
            return [repository_row(row) for row in rows]

    def set_schedule(self, repository: RepositoryRow, cron: str | None, timezone: str) -> None:
        """The repo's own schedule, as its `.rightsizer.yaml` said at its last run."""
        with self.session() as session:
            session.execute(
                update(Repository)
                .where(Repository.id == repository.id)
                .values(schedule_cron=cron, schedule_timezone=timezone)
            )


def _add_installation(session: Session, forge: str, installation: int, account: str) -> None:
    found = session.get(Installation, (installation, forge))
    if found is None:
        session.add(Installation(id=installation, forge=forge, account=account, added_at=now()))
    else:
        found.removed_at, found.account = None, account


def _remove_installation(session: Session, forge: str, installation: int) -> None:
    found = session.get(Installation, (installation, forge))
    if found is not None:
        found.removed_at = now()
    _deactivate(session, Repository.forge == forge, Repository.installation_id == installation)


def _add_repository(
    session: Session, forge: str, full_name: str, installation: int | None
) -> Repository:
    found = session.scalar(
        select(Repository).where(Repository.forge == forge, Repository.full_name == full_name)
    )
    if found is None:
        found = Repository(
            forge=forge, full_name=full_name, installation_id=installation, added_at=now()
        )
        session.add(found)
    found.active, found.installation_id = True, installation or found.installation_id
    session.flush()
    return found


def _deactivate(session: Session, *where: Any) -> None:
    """Repositories the bot no longer serves, and the jobs still waiting for them cancelled:
    the forge would refuse them anyway."""
    ids = list(session.scalars(select(Repository.id).where(*where)))
    session.execute(update(Repository).where(Repository.id.in_(ids)).values(active=False))
    cancel_waiting(session, ids)
