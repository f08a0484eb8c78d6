"""Failed vs broken: "the DR environment is wrong" vs "we could not look".

A test that raised an AssertionError (a check failed) is *failed*. A test (or its fixture) that
raised anything else (unreachable, credentials, timeout, sandbox not starting) is *broken*: it
gets its own status letter ``B``, its own count in the summary line, and a one-line reason.
Both still make pytest exit non-zero. Only DR tests (``criteria_marks.is_dr_test``) are classified:
``session.DRPlugin`` calls ``classify_report`` for them alone, so a plain test of the same session
keeps pytest's own outcome.
"""

from __future__ import annotations

import re

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
            # one line (pytest's FAILURES header names the test): the short summary then shows the reason
            report.longrepr = redact(f"DR check failed: {exc}")
    else:
        report.dr_outcome = BROKEN
        if isinstance(exc, DRUnverifiable):
            report.longrepr = redact(f"{item.nodeid}\n{label + ': ' if label else ''}{exc}")
        else:  # an unexpected exception: plain words for the one line, the traceback stays in longrepr
            report.dr_reason = redact(f"{label + ': ' if label else ''}could not verify: {plain_words(exc)}")
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


# "psycopg.errors.AdminShutdown: ", "RecursionError: ", "<class 'KeyError'>" - Python names in a message
_CLASS_NAME = re.compile(r"<class '[\w.]+'>|\b(?:[a-z_]\w*\.)+[A-Z]\w*:\s*|\b(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Exit|Shutdown|Canceled|"
                         r"Timeout|Interrupt|Failure|Warning)\b:?\s*")


def plain_words(exc: BaseException) -> str:
    """An unexpected exception in plain words: what went wrong, no Python class names."""
    import socket

    name = type(exc).__module__ + "." + type(exc).__name__
    if name.startswith("psycopg"):
        from .clients.database import plain_reason

        return f"DR database: {plain_reason(exc)}"
    if isinstance(exc, RecursionError):
        return "the check ran into endless recursion (maximum recursion depth exceeded); the report has the traceback"
    if isinstance(exc, MemoryError):
        return "the check ran out of memory"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return "connection lost"
    if isinstance(exc, (TimeoutError, socket.timeout)) or "timeout" in name.lower():
        return "no answer in time"
    if name.startswith(("httpx.", "httpcore.")) and ("connect" in name.lower() or "network" in name.lower()):
        return "could not connect"
    if isinstance(exc, KeyError):
        return f"a field was missing: {exc.args[0] if exc.args else '?'}"
    if isinstance(exc, FileNotFoundError):
        return f"file not found: {exc.filename or exc}"
    text = " ".join(str(exc).split())
    text = _CLASS_NAME.sub("", text).strip(" :")
    return (text[:300] or "an unexpected error in the check") + " (the report has the traceback)"


def one_line_reason(report: pytest.TestReport) -> str:
    """The last line of a string longrepr, or the crash message of a traceback; a broken test that
    raised an unexpected exception: "could not verify: <plain words>" (see ``classify_report``)."""
    plain = getattr(report, "dr_reason", None)
    if plain and getattr(report, "dr_outcome", None) == BROKEN:
        return redact(plain)
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
