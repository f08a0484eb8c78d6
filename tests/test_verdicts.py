"""Green means recovered: a verdict of PASSED needs every gate criterion of the plan to have passed in
a run that finished. A partial selection is PARTIAL (and OBJ-RTO not verified), an interrupted run is
INTERRUPTED and records no drill, an RTO already run out is a missed RTO (the checks still run), and a
check result can only speak for its own test's criteria."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from conftest import run_suite
from pytest_kosmos_dr.catalog import catalog
from pytest_kosmos_dr.checks import objectives
from pytest_kosmos_dr.errors import DRUnverifiable
from pytest_kosmos_dr.reporting import scorecard
from pytest_kosmos_dr.reporting.scorecard import ScorecardCollector
from pytest_kosmos_dr.reporting.scorecard import TestOutcome as Outcome
from pytest_kosmos_dr.target import Target
from pytest_kosmos_dr.timeparse import isoformat, utcnow

GATE = [cid for cid, c in catalog().items() if c.kind == "gate"]


class _Report:
    def __init__(self, nodeid, when, outcome, criteria, longrepr=None):
        self.nodeid, self.when, self.outcome, self.dr_criteria = nodeid, when, outcome, criteria
        self.passed, self.failed, self.skipped = outcome == "passed", outcome == "failed", outcome == "skipped"
        self.longrepr, self.user_properties, self.stop = longrepr, [], 0.0


def _card(tests, interrupted=False):
    return scorecard.build(tests, Target(name="t", kind="real"), 0, None, interrupted=interrupted)


# -- plain data: the scorecard -------------------------------------------------------------------
def test_a_test_whose_call_never_finished_is_not_run_never_passed():
    collector = ScorecardCollector()
    collector.add(_Report("t::a", "setup", "passed", ["VAL-DB-CONNECT"]))  # Ctrl-C during the call: no call report
    collector.add(_Report("t::a", "teardown", "passed", ["VAL-DB-CONNECT"]))
    (test,) = collector.finished_tests()
    assert (test.status, test.reason) == ("not run", scorecard.UNFINISHED)
    card = _card(collector.finished_tests(), interrupted=True)
    assert card["verdict"] == "interrupted"
    assert {r["id"]: r["status"] for r in card["criteria"]}["VAL-DB-CONNECT"] == "not run"


def test_only_a_finished_passing_call_is_a_pass():
    collector = ScorecardCollector()
    for when in ("setup", "call", "teardown"):
        collector.add(_Report("t::a", when, "passed", ["VAL-DB-CONNECT"]))
    assert [t.status for t in collector.finished_tests()] == ["passed"]


def test_every_gate_criterion_passed_is_passed_and_one_left_out_is_partial_naming_it():
    everything = [Outcome(f"t::{cid}", [cid], "passed") for cid in GATE]
    assert _card(everything)["verdict"] == "passed"
    partial = _card(everything[1:])
    assert partial["verdict"] == "partial" and partial["gate_not_verified"] == [GATE[0]]
    assert any(line.startswith(f"gate criteria not verified in this run (1): {GATE[0]}")
               for line in scorecard.terminal_lines(partial, None))


def test_a_gate_criterion_not_verified_is_partial_and_broken_is_not_verified_and_failed_wins():
    tests = [Outcome(f"t::{cid}", [cid], "passed") for cid in GATE]
    tests[0].status = "not verified"
    assert _card(tests)["verdict"] == "partial"
    tests[1].status = "broken"
    assert _card(tests)["verdict"] == "not verified"
    tests[2].status = "failed"
    assert _card(tests)["verdict"] == "failed"
    assert _card(tests, interrupted=True)["verdict"] == "interrupted"
    assert _card([])["verdict"] == "nothing verified"


# -- plain data: OBJ-RTO -------------------------------------------------------------------------
def _verdict(outcome, cid="VAL-SMOKE", at=None):
    return {"nodeid": f"t::{cid}", "criteria": [cid], "outcome": outcome,
            "at": (at or datetime.now(timezone.utc)).isoformat()}


def test_rto_missed_when_the_gate_passed_after_the_rto_reports_the_measured_time():
    incident = datetime.now(timezone.utc) - timedelta(hours=5)
    result = objectives.rto(incident, [_verdict("passed")], limit=timedelta(hours=4))
    assert not result.passed and result.measured >= 5 * 3600 - 5
    assert "RTO 4 h 00 min: missed by 60 min" in result.summary


def test_rto_with_only_broken_gates_is_not_verified_unless_the_rto_ran_out():
    recent = datetime.now(timezone.utc) - timedelta(minutes=30)
    with pytest.raises(DRUnverifiable, match="could not be verified .*VAL-SMOKE"):
        objectives.rto(recent, [_verdict("passed", "VAL-API-HEALTH"), _verdict("broken")], limit=timedelta(hours=4))
    late = datetime.now(timezone.utc) - timedelta(hours=5)
    result = objectives.rto(late, [_verdict("broken")], limit=timedelta(hours=4))
    assert not result.passed and "(missed)" in result.summary
    failed = objectives.rto(recent, [_verdict("failed")], limit=timedelta(hours=4))
    assert not failed.passed and "VAL-SMOKE" in failed.summary


# -- against the sandbox -------------------------------------------------------------------------
def test_a_result_s_criterion_is_a_keyword_and_a_malformed_result_is_refused():
    from pytest_kosmos_dr.results import CheckResult

    assert CheckResult(True, "s").criterion == ""  # the test's marker decides it (dr_check stamps it)
    assert CheckResult(False, "s", criterion="VAL-DB-CONNECT").criterion == "VAL-DB-CONNECT"
    with pytest.raises(TypeError, match="passed must be a bool, not str 'VAL-SMOKE'"):
        CheckResult("VAL-SMOKE", True, "s")  # the old positional ID never passes as passed="VAL-SMOKE"
    with pytest.raises(TypeError, match="passed must be a bool, not int"):
        CheckResult(1, "s")
    with pytest.raises(TypeError, match="summary must be a str, not NoneType"):
        CheckResult(True, None)
    with pytest.raises(ValueError, match="summary is empty"):
        CheckResult(True, "  ")


def test_a_partial_selection_is_partial_with_the_rto_not_verified(sandbox, pytester, tmp_path):
    card_path = tmp_path / "card.json"
    result = run_suite(pytester, "-k", "rto or select_1", "--dr-scorecard", str(card_path), "-rs")
    assert result.ret == 1, result.stdout.str()  # exit 0 means PASSED, nothing less
    card = json.loads(card_path.read_text())
    assert card["verdict"] == "partial"
    rows = {r["id"]: r for r in card["criteria"]}
    assert rows["VAL-DB-CONNECT"]["status"] == "passed"
    assert rows["OBJ-RTO"]["status"] == "not verified"
    assert "left 14 recovery gate criteria out" in rows["OBJ-RTO"]["reason"]
    result.stdout.fnmatch_lines(["*PARTIAL: what ran passed, but not every gate criterion*",
                                 "gate criteria not verified in this run (27): OBJ-RTO, OBJ-RPO, *"])


@pytest.mark.slow  # a long run: the whole gate
def test_an_rto_already_missed_is_failed_with_the_measured_time_and_every_check_still_runs(sandbox, pytester):
    over = isoformat(utcnow() - timedelta(hours=5))
    result = run_suite(pytester, "-m", "gate", "--dr-incident-start", over, "-rfE")
    assert "run deadline" not in result.stdout.str()
    result.stdout.fnmatch_lines(["DR check failed: OBJ-RTO: *5 h 0* min*RTO 4 h 00 min*"])
    outcomes = result.parseoutcomes()
    assert outcomes.get("broken", 0) == 0, result.stdout.str()


INTERRUPTED = """
import os, signal, time
import pytest

@pytest.mark.dr_criterion("VAL-DB-CONNECT")
def test_gate_interrupted_mid_call(dr_check):
    os.kill(os.getpid(), signal.SIGINT)   # Ctrl-C while the check runs
    time.sleep(5)

@pytest.mark.dr_criterion("REC-AGENT-STATE")
def test_drill_that_would_pass(dr_check):
    pass
"""


def test_an_interrupted_run_is_interrupted_counts_nothing_unfinished_and_records_no_drill(pytester, tmp_path):
    pytester.makepyfile(test_x=INTERRUPTED)
    ledger, card_path = tmp_path / "ledger.jsonl", tmp_path / "card.json"
    result = pytester.runpytest_subprocess("--dr-allow-restore", "--dr-ledger", str(ledger),
                                           "--dr-scorecard", str(card_path), "-p", "no:cacheprovider",
                                           "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    card = json.loads(card_path.read_text())
    assert card["verdict"] == "interrupted"
    assert {r["id"]: r["status"] for r in card["criteria"]}["VAL-DB-CONNECT"] == "not run"
    assert not ledger.exists()
    result.stdout.fnmatch_lines(["*INTERRUPTED: the run did not finish*"])


def test_a_check_result_for_another_criterion_is_refused(pytester):
    pytester.makepyfile(test_x="""
import pytest
from pytest_kosmos_dr.results import CheckResult

@pytest.mark.dr_criterion("VAL-SMOKE")
def test_smoke_claims_another_criterion(dr_check):
    dr_check(CheckResult(True, "SELECT 1 returned 1", criterion="VAL-DB-CONNECT"))
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["BROKEN *test_smoke_claims_another_criterion - VAL-SMOKE: could not verify: check "
                                 "identity: a VAL-DB-CONNECT result was checked in a test marked VAL-SMOKE*"])
    assert result.ret == 1


FINISHED = """
import pytest

@pytest.mark.dr_criterion("REC-AGENT-STATE")
def test_drill_that_passes(dr_check):
    pass
"""


def test_a_finished_run_records_its_drill_with_run_id_and_scorecard_hash_and_publishes_the_head(pytester, tmp_path):
    import hashlib

    from pytest_kosmos_dr.ledger import head_of

    pytester.makepyfile(test_x=FINISHED)
    ledger, card_path, results = tmp_path / "ledger.jsonl", tmp_path / "card.json", tmp_path / "allure"
    result = pytester.runpytest_subprocess("--dr-allow-restore", "--dr-ledger", str(ledger), "--dr-scorecard",
                                           str(card_path), f"--alluredir={results}", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines([f"drill ledger: recorded agent-drill drill #1 for sandbox in {ledger}",
                                 "drill ledger head: * (keep it outside the ledger; pass it back with --dr-ledger-head)"])
    (entry,) = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert entry["source"] == "run" and entry["kind"] == "agent-drill" and entry["run_id"]
    assert entry["scorecard_sha256"] == hashlib.sha256(card_path.read_bytes()).hexdigest()
    assert f"drill.ledger.head={head_of(ledger)}" in (results / "environment.properties").read_text()


def test_the_bundle_carries_the_ledger_and_its_head(tmp_path):
    import subprocess
    import sys
    import tarfile

    from pytest_kosmos_dr.ledger import head_of, record_run

    reports = tmp_path / "reports"
    (reports / "allure-results").mkdir(parents=True)
    (reports / "allure-results" / "0-result.json").write_text("{}")  # no results: exit 2, nothing bundled
    (reports / "dr-scorecard.json").write_text("{}")
    record_run(reports / "drill-ledger.jsonl", run_id="0a1b2c3d", target="sandbox",
               passed_criteria={"REC-DB-PITR"}, scorecard_sha256="0" * 64, failover=False)
    made = subprocess.run([sys.executable, "-m", "pytest_kosmos_dr.cli", "bundle", "--reports", str(reports),
                           "-o", str(tmp_path / "evidence.tar.gz")], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    head = head_of(reports / "drill-ledger.jsonl")
    assert f"drill ledger head: {head}" in made.stdout
    with tarfile.open(tmp_path / "evidence.tar.gz") as tar:
        assert tar.extractfile("evidence/drill-ledger.head").read().decode().strip() == head
        assert "drill-ledger.jsonl" in tar.extractfile("evidence/MANIFEST.sha256").read().decode()


def test_every_gate_criterion_has_a_role_and_a_dr_region_source():
    gate = {cid: c for cid, c in catalog().items() if c.kind == "gate"}
    assert {cid: c.role for cid, c in gate.items() if c.role not in ("recovery", "preparedness")} == {}
    assert [cid for cid, c in gate.items() if not c.dr_source] == []


def test_a_preparedness_criterion_of_a_lost_region_is_named_and_does_not_block_the_verdict():
    tests = [Outcome(f"t::{cid}", [cid], "passed") for cid in GATE]
    down = next(t for t in tests if t.criteria == ["REC-FAILOVER-TRIGGER"])
    down.status, down.reason = "not verified", "not verified: not verifiable while us-east-1 is down: AWS ..."
    card = _card(tests)
    assert card["verdict"] == "passed" and card["not_verifiable_region_down"] == ["REC-FAILOVER-TRIGGER"]
    recovery = next(t for t in tests if t.criteria == ["REC-DNS"])
    recovery.status, recovery.reason = down.status, down.reason  # a recovery criterion must be verified
    assert _card(tests)["verdict"] == "partial"


def test_the_roles_page_lists_every_gate_criterion_as_the_catalog_does():
    from pathlib import Path

    page = (Path(__file__).parent.parent / "docs" / "recovery-and-preparedness.md").read_text()
    for cid, c in catalog().items():
        if c.kind == "gate":
            assert f"| {cid} | {c.role} | {c.dr_source} |" in page, cid
