"""Evidence of a check, attached to the Allure report (when Allure is on), secrets masked."""

from __future__ import annotations

from .redaction import redact
from .results import CheckResult


def render(result: CheckResult) -> str:
    """Plain-text evidence: verdict, measured vs limit, offenders, each request and answer."""
    lines = [
        f"criterion: {result.criterion}",
        f"verdict:   {'passed' if result.passed else 'FAILED'}",
        f"summary:   {result.summary}",
        f"measured:  {result.measured}",
        f"limit:     {result.limit}",
    ]
    if result.offenders:
        lines.append("offenders:")
        lines += [f"  - {o}" for o in result.offenders]
    for item in result.evidence:
        lines += ["", f"## {item.title}", "asked:", item.asked, "answer:", item.answer]
    return redact("\n".join(lines))


def attach(result: CheckResult) -> None:
    try:
        import allure
    except ImportError:  # allure-pytest is a dependency, but never fail a check over a report
        return
    allure.attach(render(result), name=f"{result.criterion} evidence", attachment_type=allure.attachment_type.TEXT)
