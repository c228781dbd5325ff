"""The cycle collector's thresholds, set only where the collector is generational."""

from __future__ import annotations

import gc
import sys

import pytest

from bot.garbage import THRESHOLDS, collect_less, incremental, long_lived


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ((3, 11, 7, "final", 0), False),
        ((3, 13, 9), False),
        ((3, 14, 0, "candidate", 1), True),
        ((3, 14, 4), True),
        ((3, 14, 5), False),  # the generational collector came back
        ((3, 15, 0, "alpha", 1), False),
    ],
)
def test_only_the_releases_with_an_incremental_collector_keep_its_defaults(version, expected):
    assert incremental(version) is expected


@pytest.mark.skipif(incremental(sys.version_info), reason="defaults kept on this release")
def test_a_planning_process_collects_young_objects_less_often():
    before = gc.get_threshold()
    try:
        collect_less()
        assert gc.get_threshold() == THRESHOLDS
    finally:
        gc.set_threshold(*before)


def test_what_lives_through_a_plan_is_frozen_within_and_collected_after():
    made_before = [[] for _ in range(1000)]
    with long_lived():
        assert gc.get_freeze_count() >= len(made_before)
    assert gc.get_freeze_count() == 0
    with pytest.raises(ZeroDivisionError), long_lived():
        assert gc.get_freeze_count() >= len(made_before)
        print(1 / 0)
    assert gc.get_freeze_count() == 0
