"""Evidence of a check, attached to the Allure report (when Allure is on), secrets masked.

Each check result becomes one Allure step "VAL-X: passed|FAILED - summary" holding:
* a text attachment "VAL-X evidence" (the full rendering, see ``render``);
* one sub-step per piece of evidence ("asked: <title>") with what was asked and what came back.

``attempt(title)`` is the step to wrap each polling attempt in, so on-call sees every try.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any, Iterator

from .redaction import redact
from .results import CheckResult


def format_value(value: Any) -> str:
    """A measured value or limit as a person reads it (durations as '1 h 02 min', not seconds)."""
    if value is None:
        return "-"
    if isinstance(value, timedelta):
        return format_duration(value.total_seconds())
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {format_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value)
    return str(value)


def format_duration(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds:.3g} s" if seconds < 10 else f"{sign}{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{sign}{days} d {hours:02d} h {minutes:02d} min"
    if hours:
        return f"{sign}{hours} h {minutes:02d} min {secs:02d} s"
    return f"{sign}{minutes} min {secs:02d} s"


def render(result: CheckResult) -> str:
    """Plain-text evidence: verdict, measured vs limit, offenders, each request and answer."""
    lines = [
        f"criterion: {result.criterion}",
        f"verdict:   {'passed' if result.passed else 'FAILED'}",
        f"summary:   {result.summary}",
        f"measured:  {format_value(result.measured)}",
        f"limit:     {format_value(result.limit)}",
    ]
    if result.provenance:
        lines.append(f"source:    {result.provenance}")
    if result.offenders:
        lines.append(f"offenders ({len(result.offenders)}):")
        lines += [f"  - {o}" for o in result.offenders]
    for number, item in enumerate(result.evidence, 1):
        lines += ["", f"## {number}. {item.title}", "asked:", _indent(item.asked), "answer:",
                  _indent(item.answer or "(nothing came back)")]
    return redact("\n".join(lines))


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in (text or "").splitlines()) or "    "


def _allure():
    try:
        import allure
    except ImportError:  # allure-pytest is a dependency, but never fail a check over a report
        return None
    return allure


def attach(result: CheckResult) -> None:
    """Attach ``result`` to the running test (a no-op without --alluredir)."""
    allure = _allure()
    if allure is None:
        return
    text = allure.attachment_type.TEXT
    verdict = "passed" if result.passed else "FAILED"
    with allure.step(redact(f"{result.criterion}: {verdict} - {result.summary}")):
        allure.attach(render(result), name=f"{result.criterion} evidence", attachment_type=text)
        if result.provenance:
            with allure.step(redact(f"evidence source: {result.provenance}")):
                pass
        for item in result.evidence:
            with allure.step(redact(f"asked: {item.title}")):
                allure.attach(redact(item.asked), name="asked", attachment_type=text)
                allure.attach(redact(item.answer or "(nothing came back)"), name="answer", attachment_type=text)


@contextlib.contextmanager
def attempt(title: str) -> Iterator[None]:
    """One polling attempt as an Allure step, e.g. ``with attempt(f"try {n}: GET /health"):``."""
    allure = _allure()
    if allure is None:
        yield
        return
    with allure.step(redact(title)):
        yield
