"""The end of a DR run freezes the heap for the last collections; the next in-process run thaws it."""

import gc

from pytest_kosmos_dr import heap


def test_a_run_freezes_the_heap_and_the_next_run_thaws_it():
    try:
        heap.freeze_after_run()
        assert gc.get_freeze_count() > 0, "objects alive at the run's end are left to later collections"
        heap.thaw_before_run()
        assert gc.get_freeze_count() == 0, "a second run in the same process must not inherit frozen objects"
        heap.thaw_before_run()  # nothing frozen: nothing to do
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()



def test_a_run_collects_less_and_puts_the_thresholds_back():
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        heap.collect_less_during_run()
        assert gc.get_threshold() == heap.RUN_THRESHOLDS, "the run's many long-lived objects: fewer full walks"
        heap.collect_less_during_run()  # a second call keeps what the process had before the run
        heap.freeze_after_run()
        assert gc.get_threshold() == (700, 10, 10), "the process gets its own thresholds back when the run ends"
        gc.set_threshold(100_000, 10, 10)
        heap.collect_less_during_run()
        assert gc.get_threshold() == (100_000, 10, 10), "a process that collects even less is left as it is"
    finally:
        heap.freeze_after_run()
        gc.unfreeze()
        gc.set_threshold(*before)
