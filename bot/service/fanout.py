"""A big run's forecasts fitted by every worker of the service, not by its machine alone.

Why: one repository of 50,000 workloads is more fits than one machine makes in a job's time,
and the service has other workers, most of them idle between schedules. The run keeps its
own machine busy first (its local worker processes, `recommenders/forecasters/batch.py`) and
puts each chunk those cannot take now in the database, with a job any worker may fetch
(`bot/store/chunks.py`). While it waits, the run claims its own chunks that nobody took, so
it is never slower than fitting alone: with no other worker free, it fits every chunk
itself, and a helper that dies or fails leaves its chunk to be claimed again.

What travels is numbers and text (`recommenders/forecasters/wire.py`), never a pickle: a
worker fits what a run of another repository sent it.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

from loky import cpu_count

from bot.service.isolated import forked_pool, within
from bot.store import Store
from bot.store.chunks import Chunks
from bot.store.database import Database
from recommenders.forecasters.batch import fanned_out, fit_chunk, local_pool
from recommenders.forecasters.forecaster import QUANTILES, Forecast, ForecastSettings
from recommenders.forecasters.wire import (
    Task,
    decode_forecasts,
    decode_tasks,
    encode_forecasts,
    encode_tasks,
)

log = logging.getLogger("rightsizer.fanout")
STALE_SECONDS = 120.0
"""A claim this old is taken for abandoned: a chunk of 64 fits takes seconds."""
BACKSTOP_SECONDS = 30.0
"""Beyond a fit's deadline, how long a worker waits for the process the deadline should
have killed (one in uninterruptible sleep): then it gives the chunk back and the pool up."""
POLL_SECONDS = 0.2
"""How often a run with nothing left to fit looks for its helpers' answers."""


@dataclass(frozen=True)
class SharedFits:
    """What a run's child needs to share its fits: the service's database, and its run."""

    database_url: str = field(repr=False)
    run_id: int


def taker() -> str:
    """Who claims a chunk, as the table shows it: the host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class ChunkBoard:
    """The `Fanout` of one run (`recommenders.forecasters.batch.fanned_out`). The database
    is opened on the first chunk the run's own processes cannot take: a run that never
    overflows never connects."""

    def __init__(
        self, open_chunks: Callable[[], Chunks], run_id: int, workers: int | None = None
    ) -> None:
        self.open_chunks = open_chunks
        self.run_id = run_id
        self.workers = max(workers or cpu_count(), 1)
        self.me = f"run {run_id} at {taker()}"
        self.mine: dict[int, tuple[list[Task], ForecastSettings]] = {}
        """The chunks not yet returned, kept to fit again if no answer reads whole."""
        self.fitting: dict[int, Future[list[Forecast]]] = {}
        """Chunks on this machine's forecast processes."""
        self.answered: dict[int, list[Forecast]] = {}
        self.returned: set[int] = set()
        self._local_ids = itertools.count(-1, -1)
        """Chunks fitted here are numbered below 0: never a row, nobody else sees them."""
        self.shared = 0
        """Chunks put in the database, and of those, fitted here: the rest a helper fitted."""
        self.taken_back = 0

    @cached_property
    def chunks(self) -> Chunks:
        return self.open_chunks()

    def submit(self, tasks: list[Task], settings: ForecastSettings) -> Ticket:
        self._harvest()
        if self.workers > 1 and len(self.fitting) < self.workers:
            chunk = next(self._local_ids)
            self.mine[chunk] = (tasks, settings)
            self._fit_here(chunk)
        else:
            chunk = self.chunks.put(self.run_id, encode_tasks(tasks, settings))
            self.mine[chunk] = (tasks, settings)
            self.shared += 1
        return Ticket(self, chunk)

    def done(self, chunk: int) -> bool:
        """Asked for every chunk at every progress count: a look, not a harvest."""
        fitting = self.fitting.get(chunk)
        return chunk in self.answered or chunk in self.returned or bool(fitting and fitting.done())

    def result(self, chunk: int) -> list[Forecast]:
        """The chunk's forecasts, from whoever fitted them; meanwhile this machine fits any
        of the run's chunks that no other worker holds."""
        if chunk in self.returned:
            raise RuntimeError(f"chunk {chunk} was returned already: its forecasts are gone")
        while chunk not in self.answered:
            self._harvest()
            if chunk in self.answered or self._take_over():
                continue
            self._read_answers()
            if chunk in self.answered:
                continue
            if self.fitting:
                wait(list(self.fitting.values()), POLL_SECONDS, FIRST_COMPLETED)
            else:
                time.sleep(POLL_SECONDS)
        del self.mine[chunk]
        self.returned.add(chunk)
        return self.answered.pop(chunk)

    def close(self) -> None:
        """The run's chunks deleted, if it shared any: jobs still waiting for them will find
        nothing to do. (A run that dies first has them deleted by its worker, `worker.py`.)"""
        if "chunks" in self.__dict__:
            self.chunks.drop(self.run_id)

    def _fit_here(self, chunk: int) -> None:
        tasks, settings = self.mine[chunk]
        if self.workers > 1:
            self.fitting[chunk] = local_pool(self.workers).submit(fit_chunk, tasks, settings)
        else:
            self.answered[chunk] = fit_chunk(tasks, settings)

    def _harvest(self) -> None:
        for chunk, pending in list(self.fitting.items()):
            if pending.done():
                self.answered[chunk] = pending.result()
                del self.fitting[chunk]
                if chunk > 0:
                    self.chunks.withdraw(chunk)

    def _take_over(self) -> bool:
        """Claim the run's chunks nobody holds (or whose taker went silent), as many as
        this machine has free forecast processes; True if it claimed any. A chunk fitted
        here is withdrawn from the table, so that no helper fits it again."""
        claimed = False
        while self.shared and len(self.fitting) < self.workers:
            chunk = self.chunks.claim_next(self.run_id, self.me, STALE_SECONDS)
            if chunk is None:
                break
            claimed = True
            self.taken_back += 1
            self._fit_here(chunk)
            if chunk in self.answered:  # fitted in this process, there and then
                self.chunks.withdraw(chunk)
                break
        return claimed

    def _read_answers(self) -> None:
        waiting = [
            c for c in self.mine if c > 0 and c not in self.answered and c not in self.fitting
        ]
        if not waiting:
            return
        for chunk, blob in self.chunks.answers(waiting).items():
            tasks, settings = self.mine[chunk]
            try:
                found = decode_forecasts(blob)
                lengths = [(len(f.mean), len(f.distribution)) for f in found]
                if lengths != [(job.steps, len(QUANTILES)) for job, _ in tasks]:
                    raise ValueError(f"{len(found)} forecasts do not answer {len(tasks)} series")
            except ValueError as exc:  # a damaged row, or a worker of another version
                log.warning("forecast chunk %s: unreadable answer (%s); fitted here", chunk, exc)
                found = fit_chunk(tasks, settings)
            self.answered[chunk] = found


@contextmanager
def sharing(shared: SharedFits | None) -> Iterator[None]:
    """Within it, a run's chunks go to every worker through the database `shared` names
    (nothing changes without one); the run's chunks are deleted when it leaves."""
    if shared is None:
        yield
        return
    url = shared.database_url
    board = ChunkBoard(lambda: Chunks(Database(url, migrate=False)), shared.run_id)
    try:
        with fanned_out(board):
            yield
    finally:
        board.close()


@dataclass
class Ticket:
    board: ChunkBoard
    chunk: int

    def done(self) -> bool:
        return self.board.done(self.chunk)

    def result(self) -> list[Forecast]:
        return self.board.result(self.chunk)


def take(store: Store, chunk: int) -> bool:
    """A worker's part: the chunk claimed, fitted and answered. False when there was nothing
    to take (answered, gone with its run, or held by another) or the fit failed; a failed
    claim is released so that the run takes the chunk back at once.

    The fit runs on this worker's fitting processes (`fitters`); the numbers come from a
    repository's exports, so they have a run's memory ceiling and each fit a deadline."""
    me = taker()
    work = store.chunks.claim(chunk, me, STALE_SECONDS)
    if work is None:
        return False
    pool = None
    try:
        pool = fitters()
        fitting = pool.submit(fit_in_time, work, STALE_SECONDS)
        answer = fitting.result(timeout=STALE_SECONDS + BACKSTOP_SECONDS)
    except Exception as exc:  # a chunk that does not decode; a process killed or crashed
        if pool is not None and isinstance(exc, BrokenProcessPool | TimeoutError):
            release_fitters(pool)
        store.chunks.release(chunk, me)
        log.warning("forecast chunk %s not fitted here: %s", chunk, exc)
        return False
    store.chunks.answer(chunk, answer)
    return True


_fitters: dict[int, ProcessPoolExecutor] = {}
"""A fitting process per job thread of the engine (its `concurrency`, a CPU each by
default), so that a process killed at its deadline breaks only its own thread's chunk:
Python fails every future of a pool whose process died."""
_starting = threading.Lock()


def fitters() -> ProcessPoolExecutor:
    """This job thread's process for other runs' chunks, kept for the worker's life: forked
    from its fork server, a chunk starts fitting at once, where loky's fresh processes spent
    2.5 s of CPU importing first (at half a CPU, 5 s of a helper's first chunk;
    `benchmarks/fanout.py`). Idle, it shares the server's pages."""
    thread = threading.get_ident()
    with _starting:
        if thread not in _fitters:
            _fitters[thread] = forked_pool(1)
        return _fitters[thread]


def release_fitters(pool: ProcessPoolExecutor | None = None) -> None:
    """Stop the fitting processes (`pool`'s, if it is still in use; else every one); the
    next chunk starts new ones. A process killed at its deadline breaks its pool."""
    with _starting:
        stopping = {t: p for t, p in _fitters.items() if pool is None or p is pool}
        for thread in stopping:
            del _fitters[thread]
    for found in stopping.values():
        found.shutdown(wait=False, cancel_futures=True)


def fit_in_time(work: bytes, seconds: float) -> bytes:
    """`fit_encoded` in a fitting process that is killed if it overruns `seconds`."""
    within(seconds)
    try:
        return fit_encoded(work)
    finally:
        within(0)


def fit_encoded(work: bytes) -> bytes:
    """A chunk's forecasts, bytes in and bytes out."""
    tasks, settings = decode_tasks(work)
    return encode_forecasts(fit_chunk(tasks, settings))
