"""The drill permission, checked inside every call that changes the DR environment.

A skip marker is not a guard (``-p no:skipping``, or a direct call, goes around it): each mutating
function of ``pytest_kosmos_dr.drills`` calls :func:`check` with the run first, and sends nothing
when the run may not drill (no ``--dr-allow-restore``, a production target without
``--dr-confirm-target``, or the run's drill lease lost to another run).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..errors import DRUnverifiable

PAUSE_AT_ENV = "KOSMOS_DR_TEST_PAUSE_AT"  # tests only: the drill point at which to pause
PAUSE_MARK_ENV = "KOSMOS_DR_TEST_PAUSE_MARK"  # ... and the file written when it is reached
PAUSE_SECONDS_ENV = "KOSMOS_DR_TEST_PAUSE_S"
PAUSE_POINTS = ("restore", "kill-switch-engaged", "agent-state-copy")


class DrillRefused(DRUnverifiable):
    """A drill may not change the DR environment in this run (reported as could not verify)."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(f"drill refused: {action}", reason)


def refusal(run) -> str | None:
    """Why ``run`` may not drill now, or None."""
    from ..criteria_marks import drill_refusal

    if run is None:
        return "no DR run given: a drill only changes the DR environment for a run that allows it"
    reason = drill_refusal(run)
    if reason:
        return reason
    from .lease import lost_reason

    return lost_reason(getattr(run, "run_id", None))


def check(run, action: str) -> None:
    """Raise DrillRefused unless ``run`` may drill; call it before every mutating request."""
    reason = refusal(run)
    if reason:
        raise DrillRefused(action, reason)


def pause_point(name: str) -> None:
    """Tests only: with $KOSMOS_DR_TEST_PAUSE_AT=<name>, write $KOSMOS_DR_TEST_PAUSE_MARK and sleep here
    (so a test can SIGKILL the run at a known point of a drill)."""
    if os.environ.get(PAUSE_AT_ENV) != name:
        return
    mark = os.environ.get(PAUSE_MARK_ENV)
    if mark:
        Path(mark).write_text(f"{name} {os.getpid()}\n")
    time.sleep(float(os.environ.get(PAUSE_SECONDS_ENV) or 300))
