"""Each installation's API budget, shared by every worker.

GitHub gives an App installation a few thousand requests an hour, counted across all the
processes that use it. Each run reserves what a run may spend before it starts, and after it
records what GitHub said is left (its `X-RateLimit-Remaining` and `-Reset`) and gives the
reservation back. A run whose reservation does not fit waits for the reset instead of
starting, so the workers together stay under the limit rather than each finding out by
failing. Reservations of runs whose worker died lapse with the hour they were made in.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from bot.store.database import Database, now
from bot.store.tables import ApiBudgetRecord


class Budgets:
    def __init__(self, database: Database) -> None:
        self.session = database.session

    def reserve(self, forge: str, installation: int, cost: int) -> float | None:
        """None when `cost` requests are set aside for a run now; else the seconds until
        the budget is full again, for the run to wait."""
        with self.session() as session:
            session.execute(
                insert(ApiBudgetRecord)
                .values(forge=forge, installation_id=installation, reserved=0)
                .on_conflict_do_nothing()
            )
            budget = session.scalars(
                select(ApiBudgetRecord)
                .where(
                    ApiBudgetRecord.forge == forge,
                    ApiBudgetRecord.installation_id == installation,
                )
                .with_for_update()
            ).one()
            moment = now()
            if budget.resets_at is None or budget.resets_at <= moment:  # a new hour
                budget.remaining, budget.resets_at, budget.reserved = None, None, cost
                return None
            if budget.remaining is None or budget.remaining - budget.reserved >= cost:
                budget.reserved += cost
                return None
            return (budget.resets_at - moment).total_seconds()

    def settle(
        self, forge: str, installation: int, cost: int, observed: tuple[int, float] | None
    ) -> None:
        """The reservation given back, and what the forge said is left (requests, and the
        Unix time they are full again), when it said."""
        with self.session() as session:
            budget = session.get(ApiBudgetRecord, (forge, installation), with_for_update=True)
            if budget is None:
                return
            budget.reserved = max(0, budget.reserved - cost)
            if observed is None:
                return
            remaining, reset = observed
            resets_at = datetime.fromtimestamp(reset, UTC)
            if budget.resets_at is None or resets_at > budget.resets_at:
                budget.remaining, budget.resets_at = remaining, resets_at
            elif resets_at == budget.resets_at:
                budget.remaining = min(budget.remaining or remaining, remaining)

    def known(self) -> list[tuple[str, int, int, datetime]]:
        """(forge, installation, requests left, when they reset) as the forge last said,
        for the hours not yet over."""
        with self.session() as session:
            query = (
                select(
                    ApiBudgetRecord.forge,
                    ApiBudgetRecord.installation_id,
                    ApiBudgetRecord.remaining,
                    ApiBudgetRecord.resets_at,
                )
                .where(ApiBudgetRecord.remaining.is_not(None), ApiBudgetRecord.resets_at > now())
                .order_by(ApiBudgetRecord.forge, ApiBudgetRecord.installation_id)
            )
            return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]
