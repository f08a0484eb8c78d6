"""The process's heap at the end of a DR run: the last cycle collections are skipped.

A gate run loads boto3, botocore's service models, the Kubernetes client and psycopg: millions of
objects that live until the process exits. After the run, pytest collects garbage once more (for
unraisable exceptions) and the interpreter once more at exit; each full collection walks all of
them (~0.4 s of CPU per run, measured). ``freeze_after_run`` moves what exists to the collector's
permanent generation, so those collections walk only what is created afterwards; objects are still
freed by reference counting. A process that runs pytest again in-process (pytester, an IDE) thaws
them at its next DR run (``thaw_before_run``), so nothing stays uncollectable beyond one run.
"""

from __future__ import annotations

import gc

_frozen = False


def freeze_after_run() -> None:
    """The run is over: exclude every object alive now from later cycle collections."""
    global _frozen
    gc.freeze()
    _frozen = True


def thaw_before_run() -> None:
    """A new run in the same process: objects frozen by the last one are collectable again."""
    global _frozen
    if _frozen:
        gc.unfreeze()
        _frozen = False
