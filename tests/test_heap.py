"""The garbage-collector settings the long-running bot starts with."""

from __future__ import annotations


def test_settling_the_heap_freezes_start_up_objects_and_collects_young_ones_less_often() -> None:
    import gc

    from bot import heap

    before = gc.get_threshold()
    try:
        heap.settle()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
