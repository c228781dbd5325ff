"""Inventory, render and edit times on a generated monorepo (2,000 services x 3 environments).

Why: the bot reads every manifest of a platform team's monorepo on each run and proves each
edit by rendering; both must stay fast as the repo grows. Medians are printed, with ratios
against baselines run in this same process on the same files: the round-trip loader the
resolver used before, and one kustomize process per environment.

    python benchmarks/manifests.py [--services 2000] [--repeat 3] [--edits 15] [--sample 40]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generate_monorepo import generate

from bot.manifests.edit import ValueEdit, plan_file_changes
from bot.manifests.inventory import build_inventory
from bot.manifests.render import render_all
from bot.manifests.yamlio import parse_documents, parse_positioned, read_if_present
from bot.proof import inspect, prove


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def median_of(repeat: int, action: Callable[[], object]) -> float:
    return statistics.median(timed(action) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--edits", type=int, default=15)
    parser.add_argument("--sample", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rightsizer-bench-") as scratch:
        repo = Path(scratch) / "monorepo"
        generate(repo, args.services)
        files = sorted(repo.rglob("*.yaml"))
        print(f"repo: {args.services} services, {len(files)} YAML files")

        sample = [p.read_text() for p in files[:: max(1, len(files) // 500)]]
        positioned = median_of(args.repeat, lambda: [parse_positioned(t, "f") for t in sample])
        round_trip = median_of(args.repeat, lambda: [parse_documents(t, "f") for t in sample])
        per_file = positioned / len(sample) * 1000
        print(
            f"parse, {len(sample)} files: positioned C parser {per_file:.2f} ms/file, "
            f"round-trip {round_trip / len(sample) * 1000:.2f} ms/file "
            f"({round_trip / positioned:.1f}x slower)"
        )

        resolver = median_of(args.repeat, lambda: build_inventory(repo))
        inventory = build_inventory(repo)
        environments = sorted({w.overlay for w in inventory.workloads})
        print(
            f"inventory (resolver), {len(inventory.workloads)} workloads in "
            f"{len(environments)} environments: median {resolver:.1f} s "
            f"({resolver / len(environments) * 1000:.1f} ms/environment)"
        )

        start = time.perf_counter()
        checked = inspect(repo)
        full = time.perf_counter() - start
        unverified = sum(1 for w in checked.workloads if w.unverified)
        print(
            f"inventory + kustomize render of every environment: {full:.1f} s "
            f"(render {full - resolver:.1f} s, {unverified} workloads unverified)"
        )

        picked = random.Random(1).sample(environments, min(args.sample, len(environments)))
        single = timed(lambda: render_all(repo, picked)) / len(picked)
        batched = (full - resolver) / len(environments)
        print(
            f"render per environment: batched {batched * 1000:.1f} ms, one kustomize process "
            f"each {single * 1000:.1f} ms over {len(picked)} environments, both cores "
            f"({single / batched:.1f}x); one at a time the repo would take "
            f"~{single * len(environments):.0f} s"
        )

        rng = random.Random(2)
        edit_times = []
        for workload in rng.sample(checked.workloads, min(args.edits, len(checked.workloads))):
            container = workload.containers[0]
            if "requests.cpu" not in container.resources:
                continue
            edits = [ValueEdit(workload, "requests.cpu", container.name, "123m")]

            def edit_and_prove(edits: list[ValueEdit] = edits) -> None:
                changes = plan_file_changes(checked, edits, lambda p: read_if_present(repo, p))
                prove(repo, checked, changes, edits)

            edit_times.append(timed(edit_and_prove))
        print(
            f"edit + proof (rebuild and render the affected environments), {len(edit_times)} "
            f"edits: median {statistics.median(edit_times):.2f} s, max {max(edit_times):.2f} s"
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory (this process): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
