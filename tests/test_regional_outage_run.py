"""The plan's regional outage end to end: with us-east-1 gone, `pytest suites/ --dr-allow-restore` still
decides. Every recovery criterion passes from the DR region, the preparedness criteria only the lost
region can tell are "not verifiable while us-east-1 is down" and named, the drills that need the lost
region are not verifiable while the regional restore passes, and DR-region faults still fail."""

import json

import pytest

from conftest import run_suite
from pytest_kosmos_dr.catalog import catalog, recovery_gate

pytestmark = pytest.mark.slow  # the whole run during an outage, and its fault matrix

REGION_DOWN = "not verified: not verifiable while us-east-1 is down"


def test_the_whole_run_decides_during_the_outage(sandbox, fault, pytester, tmp_path):
    fault("primary-region-outage")
    card_path, ledger = tmp_path / "card.json", tmp_path / "ledger.jsonl"
    result = run_suite(pytester, "--dr-allow-restore", "--dr-scorecard", str(card_path), "--dr-ledger", str(ledger),
                       "-rs")
    card = json.loads(card_path.read_text())
    rows = {row["id"]: row for row in card["criteria"]}
    assert {cid: rows[cid]["status"] for cid in recovery_gate()} == {cid: "passed" for cid in recovery_gate()}, \
        result.stdout.str()
    down = card["not_verifiable_region_down"]
    assert "REC-FAILOVER-TRIGGER" in down
    assert all(catalog()[cid].role == "preparedness" for cid in down)
    for cid in down:
        assert rows[cid]["reason"].startswith(REGION_DOWN), rows[cid]
    assert card["verdict"] == "passed" and result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([f"*not verifiable while a region is down ({len(down)}, preparedness): *"])
    assert rows["REC-DB-SNAPSHOT"]["status"] == "passed"  # the regional restore of the cross-region copy
    for drill in ("REC-DB-PITR", "SCN-DATA-CORRUPTION"):  # they need the lost region
        assert rows[drill]["status"] == "not verified" and rows[drill]["reason"].startswith(REGION_DOWN)


@pytest.mark.parametrize(("dr_fault", "criterion"), [
    ("dr-replica-not-promoted", "VAL-DB-CONNECT"),
    ("node-not-ready", "REC-DR-NODES"),
    ("agent-backup-stale-40m", "BAK-AGENT-REALTIME"),
])
def test_a_dr_region_fault_still_fails_during_the_outage(sandbox, fault, pytester, dr_fault, criterion):
    fault("primary-region-outage")
    fault(dr_fault)
    result = run_suite(pytester, "-m", "gate", "-rf")
    result.stdout.fnmatch_lines([f"DR check failed: {criterion}: *"])
    assert result.ret == 1
