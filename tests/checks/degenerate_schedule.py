"""Degenerate inputs for the SCH-* check: an empty ledger, entries with missing fields, no target,
and entries that say nothing about where they came from. None may pass."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from pytest_kosmos_dr.checks import schedule
from pytest_kosmos_dr.ledger import Ledger

NOW = datetime(2025, 12, 13, 10, 0, tzinfo=timezone.utc)
YESTERDAY = "2025-12-12T10:00:00Z"


def ledger(*entries: dict, problems: tuple[str, ...] = ()) -> Ledger:
    return Ledger(Path("drill-ledger.jsonl"), tuple((n, e) for n, e in enumerate(entries, 1)), problems)


CASES = {
    "schedule.drill_recency": [
        ("empty ledger", lambda: schedule.drill_recency("SCH-RESTORE-MONTHLY", ledger(), "dr-cluster", NOW)),
        ("empty entries", lambda: schedule.drill_recency("SCH-TABLETOP-BIANNUAL", ledger({}, {}), "dr-cluster", NOW)),
        ("no target", lambda: schedule.drill_recency(
            "SCH-AGENT-DRILL-WEEKLY", ledger({"kind": "agent-drill", "at": YESTERDAY, "result": "passed",
                                              "source": "run"}), None, NOW)),
        ("entry with null fields", lambda: schedule.drill_recency(
            "SCH-RESTORE-MONTHLY", ledger({"kind": "restore", "at": YESTERDAY, "target": "dr-cluster",
                                           "result": "passed", "source": "run", "run_id": None,
                                           "scorecard_sha256": None, "criteria": None}), "dr-cluster", NOW)),
        ("run entry with no criteria", lambda: schedule.drill_recency(
            "SCH-FAILOVER-QUARTERLY", ledger({"kind": "failover", "at": YESTERDAY, "target": "dr-cluster",
                                              "result": "passed", "source": "run", "run_id": "r",
                                              "scorecard_sha256": "ab" * 32, "criteria": []}), "dr-cluster", NOW)),
        ("entry without source", lambda: schedule.drill_recency(
            "SCH-FULL-DR-ANNUAL", ledger({"kind": "full-dr", "at": YESTERDAY, "target": "dr-cluster",
                                          "result": "passed"}), "dr-cluster", NOW)),
        ("manual tabletop with empty by and ref", lambda: schedule.drill_recency(
            "SCH-TABLETOP-BIANNUAL", ledger({"kind": "tabletop", "at": YESTERDAY, "target": "dr-cluster",
                                             "result": "passed", "source": "manual", "by": "", "ref": " "}),
            "dr-cluster", NOW)),
        ("a problem and no entries", lambda: schedule.drill_recency(
            "SCH-RESTORE-MONTHLY", ledger(problems=("line 1: not valid JSON",)), "dr-cluster", NOW)),
    ],
}
