"""The digest of a large export, as a plan's key takes it, against the hashes it could use.

Why: the next day's plan (issue #17) must hash the changed export before anything else can
start, and the key reads every byte of it. A file of `--size` GiB of CSV-like bytes is
written once; then each way of hashing it runs `--repeats` times, interleaved, from the page
cache (as a rerun finds an export it was just given):

- `file_digest`: what the key uses (bot/digests.py);
- SHA-256 (`hashlib.file_digest`), which this CPU computes in hardware (SHA-NI);
- BLAKE3 over a memory map of the file, which the key does not use (a file truncated while
  mapped kills the process) but which shows what reading costs.

The medians are printed, each with its ratio to SHA-256's.

    python benchmarks/digest.py [--size 1.5] [--repeats 5]
"""

from __future__ import annotations

import argparse
import hashlib
import mmap
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from blake3 import blake3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.digests import file_digest


def sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def mapped(path: Path) -> str:
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return blake3(m, max_threads=blake3.AUTO).hexdigest()


def export(path: Path, gib: float) -> None:
    """Rows of digits and commas, 64 MiB at a time: what an export's bytes look like to a
    hash (it does not care what they say)."""
    rng = np.random.default_rng(7)
    left = int(gib * 2**30)
    with path.open("wb") as handle:
        while left > 0:
            block = rng.integers(ord("0"), ord(":"), min(left, 64 * 2**20), dtype=np.uint8)
            block[::40], block[7::40] = ord("\n"), ord(",")
            handle.write(block.tobytes())
            left -= len(block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=1.5, help="GiB")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ways: dict[str, Callable[[Path], str]] = {
        "SHA-256": sha256,
        "file_digest": file_digest,
        "BLAKE3, mapped": mapped,
    }
    with tempfile.TemporaryDirectory(prefix="rightsizer-digest-") as scratch:
        path = Path(scratch) / "export.csv"
        export(path, args.size)
        if file_digest(path) != mapped(path):
            sys.exit("file_digest is not BLAKE3 of the file's bytes")
        seconds: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(args.repeats):
            for name, way in ways.items():
                began = time.perf_counter()
                way(path)
                seconds[name].append(time.perf_counter() - began)
    base = statistics.median(seconds["SHA-256"])
    print(f"{args.size:g} GiB, medians of {args.repeats}, interleaved:")
    for name, runs in seconds.items():
        middle = statistics.median(runs)
        print(f"  {name:15} {middle:6.3f} s  {middle / args.size:6.3f} s/GiB  "
              f"{middle / base:5.2f}× SHA-256's")  # fmt: skip


if __name__ == "__main__":
    main()
