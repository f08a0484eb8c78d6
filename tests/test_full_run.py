"""The whole catalog against the sandbox: `pytest suites/ --dr-allow-restore` with the sandbox's
evidence files covers every criterion of the plan, each one passed, and records its drills."""

import json
from pathlib import Path

from conftest import run_suite
from pytest_kosmos_dr.catalog import catalog


def test_every_catalog_criterion_passes_on_the_sandbox(sandbox, pytester, tmp_path):
    evidence = sandbox.state["evidence"]
    card_path = tmp_path / "scorecard.json"
    result = run_suite(pytester, "--dr-allow-restore", "--dr-strict-coverage",
                       "--dr-evidence", evidence["previous_incident_record"], "--dr-scorecard", str(card_path))
    assert result.ret == 0, result.stdout.str()
    card = json.loads(card_path.read_text())
    statuses = {row["id"]: row["status"] for row in card["criteria"]}
    assert statuses == {cid: "passed" for cid in catalog()}
    assert card["verdict"] == "passed" and card["coverage"]["not_run"] == []
    result.stdout.fnmatch_lines(["*passed (43): OBJ-RTO, OBJ-RPO*", "drill ledger: recorded restore drill #*"])
    ledger = Path(evidence["ledger"]).read_text().splitlines()
    assert json.loads(ledger[-1])["kind"] == "full-dr"


def test_the_ongoing_sandbox_incident_leaves_resolution_criteria_not_verified(sandbox, pytester):
    """Without a resolved record the sandbox's own incident is ongoing: never reported as passed."""
    result = run_suite(pytester, "test_communication.py", "-rs")
    result.stdout.fnmatch_lines(["*not verified: incident SANDBOX-* not resolved yet*"])
    assert "COM-RESOLUTION-EMAIL" in result.stdout.str()
