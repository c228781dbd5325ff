"""Forecast chunks a big run shares with every worker, and the jobs that hand them out.

A run that has more fits than its machine's workers are free for puts each further chunk
here and defers a job for it (`TASK`, on `QUEUE`, fetched before any run since a run waits
on it). Whoever gets to a chunk first claims it: a worker that took its job, or the run
itself, which works off its own chunks whenever its machine is free. A claim older than
`stale` seconds (its taker died or stalls) can be taken again, so a chunk is never lost;
fits are deterministic, so a chunk fitted twice answers the same, and the first answer stays.
Rows are bytes only (`recommenders/forecasters/wire.py` reads them); they go with their run.
"""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import delete, select, text, update

from bot.store.database import Database, now
from bot.store.tables import ForecastChunk

TASK = "rightsizer.forecast"
QUEUE = "forecasts"
PRIORITY = 10
"""Above the runs' 0: procrastinate fetches higher priorities first, and a run is waiting."""
_CLAIMABLE = (
    "result is null and (claimed_at is null or claimed_at < now() - make_interval(secs => :stale))"
)


class Chunks:
    def __init__(self, database: Database) -> None:
        self.session = database.session

    def put(self, run_id: int, tasks: bytes) -> int:
        """The chunk stored and its job deferred, in one transaction."""
        with self.session() as session:
            chunk = ForecastChunk(run_id=run_id, tasks=tasks, created_at=now())
            session.add(chunk)
            session.flush()
            session.execute(
                text(
                    "select procrastinate_defer_jobs_v1(array[row(:queue, :task, :priority, "
                    "null, null, cast(:args as jsonb), null)::procrastinate_job_to_defer_v1])"
                ),
                {
                    "queue": QUEUE,
                    "task": TASK,
                    "priority": PRIORITY,
                    "args": json.dumps({"chunk": chunk.id}),
                },
            )
            return chunk.id

    def claim(self, chunk_id: int, by: str, stale: float) -> bytes | None:
        """The chunk's work, claimed for `by`; None when it is answered, gone (its run
        ended) or claimed by another within `stale` seconds."""
        with self.session() as session:
            return session.scalar(
                text(
                    f"update forecast_chunks set claimed_by = :by, claimed_at = now() "
                    f"where id = :id and {_CLAIMABLE} returning tasks"
                ),
                {"id": chunk_id, "by": by, "stale": stale},
            )

    def claim_next(self, run_id: int, by: str, stale: float) -> int | None:
        """The id of the run's oldest chunk nobody holds, claimed for `by`. Rows another
        transaction is claiming are skipped, not waited for."""
        with self.session() as session:
            return session.scalar(
                text(
                    "update forecast_chunks set claimed_by = :by, claimed_at = now() "
                    "where id = (select id from forecast_chunks where run_id = :run and "
                    f"{_CLAIMABLE} order by id limit 1 for update skip locked) returning id"
                ),
                {"run": run_id, "by": by, "stale": stale},
            )

    def answer(self, chunk_id: int, result: bytes) -> None:
        """The chunk's forecasts; a chunk answered already keeps its first answer."""
        with self.session() as session:
            session.execute(
                update(ForecastChunk)
                .where(ForecastChunk.id == chunk_id, ForecastChunk.result.is_(None))
                .values(result=result)
            )

    def withdraw(self, chunk_id: int) -> None:
        """The chunk taken off the table: its run fitted it itself, and a helper whose job
        comes late must not fit it again."""
        with self.session() as session:
            session.execute(delete(ForecastChunk).where(ForecastChunk.id == chunk_id))

    def release(self, chunk_id: int, by: str) -> None:
        """`by`'s claim given up (its fit failed): the run takes the chunk back at once
        instead of after the claim goes stale."""
        with self.session() as session:
            session.execute(
                update(ForecastChunk)
                .where(ForecastChunk.id == chunk_id, ForecastChunk.claimed_by == by)
                .values(claimed_by=None, claimed_at=None)
            )

    def answers(self, chunk_ids: list[int]) -> dict[int, bytes]:
        """The answered ones among `chunk_ids`."""
        with self.session() as session:
            rows = session.execute(
                select(ForecastChunk.id, ForecastChunk.result).where(
                    ForecastChunk.id.in_(chunk_ids), ForecastChunk.result.is_not(None)
                )
            )
            return {chunk_id: result for chunk_id, result in rows if result is not None}

    def drop(self, run_id: int) -> None:
        """The run's chunks, gone with it: their jobs, if still waiting, find nothing."""
        with self.session() as session:
            session.execute(delete(ForecastChunk).where(ForecastChunk.run_id == run_id))

    def prune(self, older: timedelta) -> int:
        """Chunks of runs that died before they could drop them."""
        with self.session() as session:
            gone = session.scalars(
                delete(ForecastChunk)
                .where(ForecastChunk.created_at < now() - older)
                .returning(ForecastChunk.id)
            )
            return len(gone.all())
