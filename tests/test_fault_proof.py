"""The fault proof, completed: every criterion of the catalog has a named way to break the sandbox
(or, for evidence criteria, a broken record or ledger), and the criteria not proven elsewhere are
proven here: database integrity, the restore drills, the agent-state drill, RPO and RTO."""

import pytest

from conftest import run_suite
from pytest_kosmos_dr.catalog import catalog


def test_every_gate_and_drill_criterion_has_a_named_sandbox_fault(sandbox):
    covered = {cid for fault in sandbox.faults() for cid in fault["criteria"]}
    missing = [c.id for c in catalog().values() if c.kind != "evidence" and c.id not in covered]
    assert missing == [], f"no sandbox fault breaks {missing}"
    # evidence criteria are broken with bad incident records and ledgers: tests/test_evidence.py


def test_every_gate_criterion_has_at_least_three_fault_twins_and_a_wrong_worlds_entry(sandbox):
    """Three ways the real world can be wrong while what the check fetches looks healthy, each a
    named fault (docs/wrong-worlds/)."""
    from collections import Counter
    from pathlib import Path

    faults = sandbox.faults()
    names = [fault["name"] for fault in faults]
    assert len(names) == len(set(names)), "fault names must be unique"
    per_criterion = Counter(cid for fault in faults for cid in fault["criteria"])
    gate = [c.id for c in catalog().values() if c.kind == "gate"]
    short = {cid: per_criterion[cid] for cid in gate if per_criterion[cid] < 3}
    assert short == {}, f"gate criteria with fewer than three fault twins: {short}"
    documented = "\n".join(p.read_text() for p in (Path(__file__).parent.parent / "docs" / "wrong-worlds").glob("*.md"))
    assert [cid for cid in gate if f"## {cid}" not in documented] == []


def test_orphaned_message_in_the_dr_database_fails_its_integrity(sandbox, fault, pytester):
    fault("dr-database-orphan")
    result = run_suite(pytester, "test_database_recovery.py", "-rf")
    assert result.parseoutcomes() == {"failed": 1, "skipped": 4}  # the 4 restore drills need --dr-allow-restore
    result.stdout.fnmatch_lines(["DR check failed: REC-DB-INTEGRITY: DR database: 1 messages rows whose "
                                 "conversation_id has no conversations*"])


def test_corrupted_backups_fail_every_restore_drill(sandbox, fault, pytester):
    fault("backup-corrupted")
    result = run_suite(pytester, "test_database_recovery.py", "--dr-allow-restore", "-rf")
    assert result.parseoutcomes() == {"failed": 4, "passed": 1}, result.stdout.str()  # the regional restore too
    result.stdout.fnmatch_lines([
        "DR check failed: REC-DB-PITR: kosmos-dr-pitr-* conversations in the hour before *, source the DR database "
        "has * (missing 10)*messages rows whose conversation_id has no conversations*",
    ])
    result.stdout.fnmatch_lines(["DR check failed: REC-DB-SNAPSHOT: kosmos-dr-snap-*has no conversations*"])
    result.stdout.fnmatch_lines(["DR check failed: SCN-DATA-CORRUPTION: *messages rows whose conversation_id has no "
                                 "conversations*"])


def test_corrupt_state_archive_fails_the_agent_state_drill_and_leaves_the_pod_as_found(sandbox, fault, pytester):
    fault("agent-archive-corrupt")
    result = run_suite(pytester, "test_agent_state_recovery.py", "--dr-allow-restore", "-rf")
    assert result.parseoutcomes() == {"failed": 1}, result.stdout.str()
    result.stdout.fnmatch_lines(["DR check failed: REC-AGENT-STATE: s3://kosmos-backups/agent-state/zeus-orchestrator/"
                                 "*.tar.gz: not a readable .tar.gz*"])


@pytest.mark.parametrize(("fault_name", "message"), [
    ("agent-backup-stale-40m", "agent state zeus-orchestrator: 4? min lost"),
    ("agent-backups-deleted-40m", "agent state zeus-orchestrator: 4? min lost"),   # deleted: a restore cannot find it
    ("agent-backup-placeholders-40m", "agent state zeus-orchestrator: 4? min lost"),  # 0-byte uploads are no backup
    ("replica-lagging-20m", "table conversations: 2? min lost; table messages: 2? min lost*"),
])
def test_lost_data_fails_the_rpo_per_source(sandbox, fault, pytester, fault_name, message):
    fault(fault_name)
    result = run_suite(pytester, "test_objectives.py", "-k", "rpo", "-rf")
    result.stdout.fnmatch_lines([f"DR check failed: OBJ-RPO: data loss over the RPO (15 min): {message}"])


@pytest.mark.parametrize(("fault_name", "criteria"), [
    ("api-health-503", "VAL-API-HEALTH"),
    # OBJ-RTO waits on the recovery criteria: REC-FAILOVER-TRIGGER and BAK-AGENT-REALTIME are preparedness
    ("dns-secondary-points-at-primary", "REC-DNS, SCN-REGIONAL-OUTAGE"),
    ("agent-backups-deleted-40m", "OBJ-RPO"),
])
def test_a_failing_gate_means_the_rto_is_not_met(sandbox, fault, pytester, fault_name, criteria):
    fault(fault_name)
    result = run_suite(pytester, "-m", "gate", "-rf")
    count = len(criteria.split(", "))
    result.stdout.fnmatch_lines([f"DR check failed: OBJ-RTO: not recovered after *: {count} gate criteria have not "
                                 f"passed ({criteria}); RTO 4 h 00 min"])