"""`rightsizer serve` whose runs segfault for one repository, as a broken C extension would
when it parses that repository: the real app, worker, isolation and store, with the crash
put where parsing happens (`python -m tests.crashing_service --port N`)."""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from bot.forges.connect import ForgeOptions
from bot.service.worker import RunSummary, planned_and_published

BOMB = "acme/bomb"


def run_or_crash(options: ForgeOptions, *arguments: Any) -> RunSummary:
    if options.repository == BOMB:
        ctypes.string_at(0)  # reads address 0: SIGSEGV, in the run's own process
    return planned_and_published(options, *arguments)


if __name__ == "__main__":
    from bot.service.app import run_service

    port = int(sys.argv[sys.argv.index("--port") + 1])
    run_service("127.0.0.1", port, with_worker=True, work=run_or_crash)
