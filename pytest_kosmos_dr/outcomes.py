"""Failed vs broken: "the DR environment is wrong" vs "we could not look".

A test that raised an AssertionError (a check failed) is *failed*. A test (or its fixture) that
raised anything else (unreachable, credentials, timeout, sandbox not starting) is *broken*: it
gets its own status letter ``B``, its own count in the summary line, and a one-line reason.
Both still make pytest exit non-zero.
"""

from __future__ import annotations

import pytest

from .errors import DRUnverifiable, RegionDown
from .redaction import redact

BROKEN = "broken"


def classify_report(item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> None:
    """Mark a failing report broken or failed, and shorten DR messages to one clean line.

    A lost region's outage (``RegionDown``) is neither: the criterion is *not verified* while that
    region is down (reported as a skip with that reason)."""
    if not report.failed or call.excinfo is None:
        return
    exc = call.excinfo.value
    if isinstance(exc, RegionDown) and report.when in ("setup", "call"):
        path, line, _ = item.location
        report.outcome = "skipped"
        report.longrepr = (str(item.path), (line or 0) + 1, redact(f"Skipped: not verified: {exc}"))
        report.dr_region_down = exc.region
        return
    criteria = [m.args for m in item.iter_markers("dr_criterion")]
    label = ",".join(c for args in criteria for c in args)
    if isinstance(exc, (AssertionError, pytest.fail.Exception)) and report.when == "call":
        report.dr_outcome = "failed"
        from .errors import DRCheckFailed

        if isinstance(exc, DRCheckFailed):
            report.longrepr = redact(f"{item.nodeid}\nDR check failed: {exc}")
    else:
        report.dr_outcome = BROKEN
        if isinstance(exc, DRUnverifiable):
            report.longrepr = redact(f"{item.nodeid}\n{label + ': ' if label else ''}{exc}")
    if isinstance(report.longrepr, str):
        report.longrepr = redact(report.longrepr)


def outcome_of(report: pytest.TestReport) -> str:
    """passed, failed, broken or skipped."""
    if report.failed:
        return getattr(report, "dr_outcome", "failed")
    return "skipped" if report.skipped else "passed"


def report_teststatus(report: pytest.TestReport):
    if getattr(report, "dr_outcome", None) == BROKEN and report.failed:
        return BROKEN, "B", ("BROKEN", {"yellow": True})
    return None


def one_line_reason(report: pytest.TestReport) -> str:
    """The last line of a string longrepr, or the crash message of a traceback."""
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return redact(crash.message.strip().splitlines()[0] if crash.message.strip() else "")
    lines = str(longrepr).strip().splitlines()
    return redact(lines[-1]) if lines else "unknown reason"


def terminal_summary(terminalreporter) -> None:
    broken = terminalreporter.stats.get(BROKEN, [])
    if not broken:
        return
    terminalreporter.write_sep("=", "could not verify (broken: the DR environment was not checked)", yellow=True)
    for report in broken:
        terminalreporter.write_line(f"BROKEN {report.nodeid} - {one_line_reason(report)}")
