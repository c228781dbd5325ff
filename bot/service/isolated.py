"""One job's work in a child process of its own, with a deadline and limits.

Why: a run parses and renders a repository that anyone with push access shapes, through C
extensions (ruamel's, pyarrow's, numpy's) and Go libraries (Helm). A segfault, a runaway
allocation or a hang there must cost that job, not the service: the child gets a memory
ceiling and a deadline, and whatever ends it (an error, a signal, the deadline) comes back
as an `Ended` the worker records. What crosses back is plain data the bot's own code built
(strings, numbers, its dataclasses), pickled by multiprocessing: repository content shapes
the values in it, never the objects' types.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import multiprocessing.forkserver
import os
import resource
import signal
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from bot.forges.base import ForgeError
from bot.garbage import collect_less
from recommenders.errors import InputError
from recommenders.forecasters.batch import SINGLE_THREADED

Kind = Literal["ok", "input", "forge", "error", "crashed", "timeout"]
PR_SET_PDEATHSIG = 1
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(
    [
        "bot.service.fork_server",
        "bot.pipeline",
        "bot.service.worker",
        "statsmodels.tsa.holtwinters",
        "statsmodels.tsa.seasonal",
    ]
)
"""Children are forked from a server process that imported the bot once: a spawned child
imports it again for every run (about 2 s of CPU before any work); a child forked from the
worker itself would inherit its threads' locks. The server is a fresh single-threaded
process (`start_fork_server`). statsmodels, which the models import only when they first
fit, is preloaded too: every run that fits in its own process paid 0.66 s importing it."""
MEMORY_LIMIT_BYTES = 8 * 1024**3
"""Address space for a run's process: the forecasts of a big monorepo fit; a bomb does not."""


@dataclass(frozen=True)
class Ended:
    kind: Kind
    value: Any = None
    """What the work returned (`ok`), else the message that says why it ended."""
    retry_after: float | None = None
    """For `forge`: the wait the forge asked for, if it did."""


def start_fork_server() -> None:
    """Start the fork server now, from the thread that lives as long as the process: the
    server dies with the thread that started it (`fork_server.py`). Its BLAS is held to one
    thread, as the forecast workers' are (`SINGLE_THREADED`): a run and a worker's share of
    another run's fits (`fanout.py`) each fit in their own process, and two processes with
    threaded BLAS on small fits ran 2.5× slower, not faster (FACTS.md)."""
    saved = {name: os.environ.get(name) for name in SINGLE_THREADED}
    os.environ.update(SINGLE_THREADED)  # read by the server's BLAS as it loads
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_isolated(
    work: Callable[..., Any],
    args: tuple[Any, ...],
    deadline: float,
    memory: int = MEMORY_LIMIT_BYTES,
) -> Ended:
    """`work(*args)` in a child process; `work` must be importable (a module's function)."""
    receiving, sending = _CONTEXT.Pipe(duplex=False)
    # Not a daemon: a run forecasts on worker processes of its own, which a daemon may not
    # start. It dies with the worker all the same (`die_with_parent`).
    child = _CONTEXT.Process(target=_child, args=(sending, work, args, memory))
    child.start()
    sending.close()
    try:
        if not receiving.poll(deadline):
            child.kill()
            child.join()
            return Ended("timeout", f"the run took over {deadline:g} s and was stopped")
        try:
            kind, value, retry_after = receiving.recv()
        except (EOFError, OSError):
            child.join()
            return Ended("crashed", _death(child.exitcode))
        child.join(timeout=10)
        return Ended(kind, value, retry_after)
    finally:
        receiving.close()
        if child.is_alive():
            child.kill()


def forked_pool(workers: int, memory: int = MEMORY_LIMIT_BYTES) -> ProcessPoolExecutor:
    """Processes forked from the fork server, each limited as a run's child is, that stay
    for many small tasks: they start with the bot and statsmodels imported (a fresh process
    spent 2.5 s of CPU importing them), and each task is spared a fork of its own (0.08 s).
    A task sets its own deadline (`within`)."""
    return ProcessPoolExecutor(workers, _CONTEXT, initializer=_limited, initargs=(memory,))


def within(seconds: float) -> None:
    """Kill this process (SIGALRM's default action) if it is still at its task in `seconds`:
    a Python exception could not stop a hung C extension. 0 clears it."""
    signal.setitimer(signal.ITIMER_REAL, seconds)


def _limited(memory: int) -> None:
    die_with_parent()
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _child(sending: Any, work: Callable[..., Any], args: tuple[Any, ...], memory: int) -> None:
    _limited(memory)
    collect_less()  # a run plans, as `rightsizer plan` does
    answer: tuple[Kind, Any, float | None]
    try:
        answer = ("ok", work(*args), None)
    except InputError as exc:
        answer = ("input", str(exc), None)
    except ForgeError as exc:
        answer = ("forge", str(exc), exc.retry_after)
    except MemoryError:
        gib = memory / 2**30
        answer = ("crashed", f"the run needed more than {gib:g} GiB and was stopped", None)
    except Exception as exc:  # reported to the worker, which logs and retries
        answer = ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}", None)
    sending.send(answer)
    sending.close()


def die_with_parent() -> None:
    """This process is killed when its parent dies (Linux's parent-death signal): a worker
    that is SIGKILLed or OOM-killed has its job retried elsewhere, and an orphan still
    running it would publish twice. A run's parent is the fork server, and the fork
    server's is the worker (`fork_server.py`)."""
    parent = os.getppid()
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the signal was set
        os._exit(1)


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the run's process died of {name}"
    return f"the run's process exited ({exitcode}) without an answer"
