"""What a check returns: pass or fail, the measured value beside the limit, and the evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Evidence:
    """One thing the check asked and what came back (both already free of secrets)."""

    title: str
    asked: str  # the request, SQL or command (and the CLI command that shows the same)
    answer: str = ""  # what came back, trimmed


@dataclass
class CheckResult:
    """A check's verdict. The test's ``dr_criterion`` marker decides ``criterion``: ``dr_check`` stamps it
    onto a result naming none, so a check names one only when its result speaks for another criterion."""

    passed: bool
    summary: str  # one line: what was measured against what, e.g. "newest snapshot 47 min old, limit 60 min"
    measured: Any = None
    limit: Any = None
    offenders: list[str] = field(default_factory=list)  # which objects are wrong
    evidence: list[Evidence] = field(default_factory=list)
    # where the evidence judged came from, e.g. "run-recorded ledger entry (run 1a2b3c4d)",
    # "incident record reports/incident.json (sha256 ...)", "sandbox-seeded (self-attested)"
    provenance: str = ""
    criterion: str = field(default="", kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.passed, bool):  # e.g. CheckResult("VAL-SMOKE", True, ...): the ID is a keyword now
            raise TypeError(f"CheckResult.passed must be a bool, not {type(self.passed).__name__} "
                            f"{self.passed!r} (name a criterion with criterion=...)")
        if not isinstance(self.summary, str):
            raise TypeError(f"CheckResult.summary must be a str, not {type(self.summary).__name__} {self.summary!r}")
        if not self.summary.strip():
            raise ValueError("CheckResult.summary is empty: say what was measured against what")
        if not isinstance(self.criterion, str):
            raise TypeError(f"CheckResult.criterion must be a str, not {type(self.criterion).__name__}")

    def __bool__(self) -> bool:
        return self.passed


def trim(text: str, limit: int = 4000) -> str:
    """Evidence stays readable: long answers are cut with a note of how much was left out."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit} more characters)"
