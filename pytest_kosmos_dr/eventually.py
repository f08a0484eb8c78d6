"""One way to wait for convergence (pods becoming Ready after a failover): try a check until it
passes or its budget is spent; every attempt is recorded in the evidence. Never retries a check
that raised (could not look): only one whose result said "not yet"."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from .results import CheckResult, Evidence
from .timeparse import format_duration


def eventually(probe: Callable[[int], CheckResult], budget: timedelta, interval_s: float = 2.0) -> CheckResult:
    """``probe(attempt)`` until it passes or ``budget`` is spent; returns the last result."""
    started = time.monotonic()
    deadline = started + budget.total_seconds()
    lines: list[str] = []
    attempt = 0
    while True:
        attempt += 1
        result = probe(attempt)
        elapsed = time.monotonic() - started
        lines.append(f"attempt {attempt} at +{elapsed:.1f} s: {'passed' if result.passed else 'not yet'}: {result.summary}")
        if result.passed or time.monotonic() + interval_s > deadline:
            break
        time.sleep(interval_s)
    result.evidence.append(Evidence(f"attempts within {format_duration(budget)}", "\n".join(lines[:-1]) or "-",
                                    lines[-1]))
    if attempt > 1:
        state = "passed" if result.passed else "still failing"
        result.summary += f" ({state} after {attempt} attempts over {format_duration(time.monotonic() - started)})"
    return result
