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
    criterion: str
    passed: bool
    summary: str  # one line: what was measured against what, e.g. "newest snapshot 47 min old, limit 60 min"
    measured: Any = None
    limit: Any = None
    offenders: list[str] = field(default_factory=list)  # which objects are wrong
    evidence: list[Evidence] = field(default_factory=list)
    # where the evidence judged came from, e.g. "run-recorded ledger entry (run 1a2b3c4d)",
    # "incident record reports/incident.json (sha256 ...)", "sandbox-seeded (self-attested)"
    provenance: str = ""

    def __bool__(self) -> bool:
        return self.passed


def trim(text: str, limit: int = 4000) -> str:
    """Evidence stays readable: long answers are cut with a note of how much was left out."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit} more characters)"
