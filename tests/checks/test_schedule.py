"""SCH-* on plain data: only run-recorded drills and manual tabletops with who and a reference count;
sandbox-seeded entries never do (not verified when they are all there is)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pytest_kosmos_dr.checks import schedule
from pytest_kosmos_dr.checks.communication import NotVerified
from pytest_kosmos_dr.ledger import Ledger
from pytest_kosmos_dr.timeparse import isoformat

NOW = datetime(2025, 12, 13, 10, 0, tzinfo=timezone.utc)
SHA = "cd" * 32


def ago(days: float) -> str:
    return isoformat(NOW - timedelta(days=days))


def run_entry(kind="restore", days=3, **extra) -> dict:
    return {"seq": 1, "kind": kind, "at": ago(days), "target": "dr-cluster", "result": "passed", "source": "run",
            "run_id": "1a2b3c4d", "scorecard_sha256": SHA, "criteria": ["OBJ-RTO", "REC-AGENT-STATE", "REC-DB-PITR"],
            **extra}


def seeded(kind="restore", days=3) -> dict:
    return {"seq": 1, "kind": kind, "at": ago(days), "target": "dr-cluster", "result": "passed",
            "source": "sandbox-seed"}


def ledger(*entries, problems=()) -> Ledger:
    return Ledger(Path("l.jsonl"), tuple((n, e) for n, e in enumerate(entries, 1)), tuple(problems))


def judge(criterion, *entries, problems=()):
    return schedule.drill_recency(criterion, ledger(*entries, problems=problems), "dr-cluster", NOW)


@pytest.mark.parametrize(("criterion", "kind"), [("SCH-RESTORE-MONTHLY", "restore"),
                                                 ("SCH-AGENT-DRILL-WEEKLY", "agent-drill"),
                                                 ("SCH-FAILOVER-QUARTERLY", "failover"),
                                                 ("SCH-FULL-DR-ANNUAL", "full-dr")])
def test_a_recent_run_recorded_drill_passes(criterion, kind):
    result = judge(criterion, run_entry(kind))
    assert result.passed, result.summary
    assert result.provenance.startswith(f"run-recorded ledger entry #1 (run 1a2b3c4d, scorecard sha256 {SHA}")


def test_an_overdue_run_recorded_drill_fails():
    result = judge("SCH-RESTORE-MONTHLY", run_entry(days=40))
    assert not result.passed and result.summary.endswith("(overdue), limit 31 d")


def test_a_run_entry_whose_criteria_do_not_make_the_drill_does_not_count():
    result = judge("SCH-AGENT-DRILL-WEEKLY", run_entry("agent-drill", criteria=["VAL-SMOKE"]))
    assert not result.passed
    assert "1 ignored: run-recorded entry whose passed criteria include none of REC-AGENT-STATE" in result.summary


def test_a_manual_tabletop_with_by_and_ref_passes_and_without_fails():
    good = {"seq": 1, "kind": "tabletop", "at": ago(30), "target": "dr-cluster", "result": "passed",
            "source": "manual", "by": "alice", "ref": "DR-TT-7"}
    result = judge("SCH-TABLETOP-BIANNUAL", good)
    assert result.passed and result.provenance.startswith("manual ledger entry #1 by alice, ref DR-TT-7")
    assert not judge("SCH-TABLETOP-BIANNUAL", {**good, "ref": ""}).passed


def test_seeded_entries_alone_are_not_verified_and_never_hide_a_run_entry():
    with pytest.raises(NotVerified, match="sandbox-seeded stand-ins"):
        judge("SCH-RESTORE-MONTHLY", seeded(days=1))
    old_run = run_entry(days=40)
    result = judge("SCH-RESTORE-MONTHLY", seeded(days=1), old_run)
    assert not result.passed and "40 d ago" in result.summary


def test_a_problem_in_the_chain_fails_even_a_good_entry():
    result = judge("SCH-RESTORE-MONTHLY", run_entry(), problems=["line 1: HMAC does not match"])
    assert not result.passed and result.summary.startswith("ledger tampered: line 1: HMAC does not match")


def test_an_empty_ledger_fails():
    result = judge("SCH-FULL-DR-ANNUAL")
    assert not result.passed
    assert result.summary.startswith("no run-recorded passing full DR simulation for target dr-cluster in l.jsonl "
                                     "(0 entries)")


# -- the target's schedule windows -------------------------------------------------------------------------
def test_the_windows_are_the_targets():
    from pytest_kosmos_dr.target import Schedule

    fortnightly = Schedule(backup_restore=timedelta(days=14))
    entry = run_entry(days=20)
    assert judge("SCH-RESTORE-MONTHLY", entry).passed  # the plan's 31 d
    result = schedule.drill_recency("SCH-RESTORE-MONTHLY", ledger(entry), "dr-cluster", NOW, windows=fortnightly)
    assert not result.passed and result.summary.endswith("(overdue), limit 14 d")


@pytest.mark.parametrize("criterion", sorted(schedule.SCHEDULE))
def test_every_criterion_reads_its_own_window(criterion):
    from dataclasses import fields

    from pytest_kosmos_dr.target import Schedule

    key = schedule.SCHEDULE[criterion][1]
    assert key in {f.name for f in fields(Schedule)}
    assert schedule.window_of(criterion, Schedule(**{key: timedelta(days=2)})) == timedelta(days=2)


def test_a_zero_window_fails():
    from pytest_kosmos_dr.target import Schedule

    result = schedule.drill_recency("SCH-TABLETOP-BIANNUAL", ledger(), "dr-cluster", NOW, windows=Schedule(tabletop=timedelta(0)))
    assert not result.passed and "schedule.tabletop" in result.summary
