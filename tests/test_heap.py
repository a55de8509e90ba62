"""The garbage-collector settings the long-running bot starts with."""

from __future__ import annotations


def test_settling_the_heap_freezes_start_up_objects_and_collects_young_ones_less_often() -> None:
    import gc

    from bot import heap

    before = gc.get_threshold()
    started = ["something start-up made"]
    assert any(o is started for o in gc.get_objects())
    try:
        heap.settle()
        assert not any(o is started for o in gc.get_objects())  # out of the collector's sight now
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
