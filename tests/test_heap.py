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

