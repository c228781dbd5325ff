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

import multiprocessing
import resource
import signal
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from bot.forges.base import ForgeError
from recommenders.errors import InputError

Kind = Literal["ok", "input", "forge", "error", "crashed", "timeout"]
MEMORY_LIMIT_BYTES = 8 * 1024**3
"""Address space for a run's process: the forecasts of a big monorepo fit; a bomb does not."""


@dataclass(frozen=True)
class Ended:
    kind: Kind
    value: Any = None
    """What the work returned (`ok`), else the message that says why it ended."""


def run_isolated(
    work: Callable[..., Any],
    args: tuple[Any, ...],
    deadline: float,
    memory: int = MEMORY_LIMIT_BYTES,
) -> Ended:
    """`work(*args)` in a spawned child; `work` must be importable (a module's function)."""
    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sending, work, args, memory), daemon=True)
    child.start()
    sending.close()
    try:
        if not receiving.poll(deadline):
            child.kill()
            child.join()
            return Ended("timeout", f"the run took over {deadline:g} s and was stopped")
        try:
            kind, value = receiving.recv()
        except (EOFError, OSError):
            child.join()
            return Ended("crashed", _death(child.exitcode))
        child.join(timeout=10)
        return Ended(kind, value)
    finally:
        receiving.close()
        if child.is_alive():
            child.kill()


def _child(sending: Any, work: Callable[..., Any], args: tuple[Any, ...], memory: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    try:
        answer: tuple[Kind, Any] = ("ok", work(*args))
    except InputError as exc:
        answer = ("input", str(exc))
    except ForgeError as exc:
        answer = ("forge", str(exc))
    except MemoryError:
        answer = ("crashed", f"the run needed more than {memory / 2**30:g} GiB and was stopped")
    except Exception as exc:  # reported to the worker, which logs and retries
        answer = ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    sending.send(answer)
    sending.close()


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the run's process died of {name}"
    return f"the run's process exited ({exitcode}) without an answer"
