"""The run's deadline: ``--dr-deadline`` (a duration from now or an ISO time), else, when an
incident start is known, the moment the RTO runs out. Past it, tests are broken at once; a test
still running when it passes is interrupted (SIGALRM on the main thread) and reported broken."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from datetime import datetime

from .errors import DRUnverifiable
from .timeparse import isoformat, utcnow


class DeadlinePassed(DRUnverifiable):
    def __init__(self, deadline: datetime) -> None:
        super().__init__("run deadline", f"passed at {isoformat(deadline)}",
                         "not run; allow more time with --dr-deadline")


def check_not_passed(deadline: datetime | None) -> None:
    if deadline is not None and utcnow() >= deadline:
        raise DeadlinePassed(deadline)


@contextmanager
def bounded_by(deadline: datetime | None):
    """Interrupt the body when the deadline passes (main thread only; elsewhere a no-op)."""
    if deadline is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    remaining = (deadline - utcnow()).total_seconds()
    check_not_passed(deadline)

    def interrupt(signum, frame):
        raise DeadlinePassed(deadline)

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, max(remaining, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
