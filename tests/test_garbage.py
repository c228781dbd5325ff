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
    made_before = [[]]

    def collected() -> bool:
        """Whether the collector looks at it (frozen objects are in no generation)."""
        return any(found is made_before for found in gc.get_objects())

    assert collected()
    with long_lived():
        assert not collected()
        with long_lived():
            assert not collected()
        assert not collected()  # an inner block hands nothing back
    assert collected()
    with pytest.raises(ZeroDivisionError), long_lived():
        assert not collected()
        print(1 / 0)
    assert collected()
