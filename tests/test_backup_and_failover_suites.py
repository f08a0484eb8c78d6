"""Backup strategy and failover checks (BAK-DB-*, BAK-AGENT-*, REC-FAILOVER-TRIGGER, REC-DNS,
SCN-REGIONAL-OUTAGE): all pass on the healthy sandbox; each named sandbox fault fails its check,
and only the checks it honestly breaks, with a message naming what is wrong and the measured value
beside the limit."""

import pytest

from conftest import run_suite

SUITES = ("test_backup_strategy.py", "test_agent_state_backups.py", "test_failover.py")
CHECKS = {
    "BAK-DB-REPLICATION": "test_production_has_a_replica_in_the_secondary_region_within_the_rpo",
    "BAK-DB-SNAPSHOTS-HOURLY": "test_production_is_snapshotted_every_hour",
    "BAK-DB-PITR-RETENTION": "test_production_is_restorable_to_any_point_of_the_last_30_days",
    "BAK-DB-CROSS-REGION": "test_production_backups_are_copied_to_the_secondary_region",
    "BAK-AGENT-REALTIME": "test_every_agent_state_backup_is_younger_than_the_rpo",
    "BAK-AGENT-VERSIONING": "test_agent_state_bucket_is_versioned",
    "BAK-AGENT-RETENTION": "test_agent_state_is_kept_seven_days",
    "BAK-AGENT-ARCHIVE": "test_every_agent_newest_archive_is_a_usable_state_archive",
    "REC-FAILOVER-TRIGGER": "test_health_checks_fail_over_within_five_minutes_from_several_regions",
    "REC-DNS": "test_api_name_answers_and_resolves_to_the_secondary_region",
    "SCN-REGIONAL-OUTAGE": "test_secondary_region_serves_after_a_regional_outage",
}


def assert_failing(result, expected: dict[str, str]) -> None:
    """Exactly the criteria in ``expected`` failed (each with its message); everything else passed."""
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == len(expected), result.stdout.str()
    assert outcomes.get("passed") == len(CHECKS) - len(expected), result.stdout.str()
    assert "broken" not in outcomes and "error" not in outcomes and "errors" not in outcomes, result.stdout.str()
    for criterion, message in expected.items():
        result.stdout.fnmatch_lines([f"DR check failed: {criterion}: {message}"])
        result.stdout.fnmatch_lines([f"FAILED *::{CHECKS[criterion]}*"])


def test_backup_and_failover_checks_pass_on_the_healthy_sandbox(sandbox, pytester):
    result = run_suite(pytester, *SUITES, "-v")
    assert result.parseoutcomes() == {"passed": len(CHECKS)}, result.stdout.str()


DNS_ON_PRIMARY = ("Route53 answers the PRIMARY record (api.us-east-1.kosmos.internal.: healthy (no health check, counts "
                  "as healthy)), not the SECONDARY (api.us-west-2.kosmos.internal.); api.kosmos.internal. resolves to "
                  "api.us-east-1.kosmos.internal. -> 127.0.0.2 through DNS server 127.0.0.1:*, expected the secondary "
                  "endpoint api.us-west-2.kosmos.internal. (127.0.0.1)")


@pytest.mark.parametrize(
    ("fault_name", "expected"),
    [
        ("snapshot-gap-3h", {"BAK-DB-SNAPSHOTS-HOURLY": "kosmos-prod (us-east-1) snapshots: gap of 3 h 00 min between "
                             "* and *, limit 70 min (60 min + 10 min grace)"}),
        ("pitr-retention-7d", {"BAK-DB-PITR-RETENTION": "point-in-time recovery short of 30 d: kosmos-prod (us-east-1) "
                               "BackupRetentionPeriod 7 d; kosmos-prod-replica (us-west-2) BackupRetentionPeriod 7 d "
                               "(limit BackupRetentionPeriod >= 30 d)"}),
        ("no-cross-region-copies", {"BAK-DB-CROSS-REGION": "no copies of kosmos-prod's backups in us-west-2 (0 snapshot "
                                    "copies from us-east-1, 0 replicated automated backups), limit newest within 70 min*"}),
        ("agent-versioning-suspended", {"BAK-AGENT-VERSIONING": "versioning of s3://kosmos-backups is Suspended, "
                                        "required Enabled"}),
        ("agent-lifecycle-3d", {"BAK-AGENT-RETENTION": "agent state kept less than 7 d: rule agent-state-retention "
                                "expires current versions after 3 d; rule agent-state-retention expires noncurrent "
                                "versions after 3 d (limit 7 d)"}),
        ("agent-backup-stale-40m", {"BAK-AGENT-REALTIME": "zeus-orchestrator: newest state backup 4? min before the "
                                    "incident start, limit 15 min (RPO)"}),
        ("agent-archive-corrupt", {"BAK-AGENT-ARCHIVE": "unusable agent-state archives: zeus-orchestrator: "
                                   "zeus-orchestrator-state-*.tar.gz: not a readable .tar.gz (*"}),
        ("healthcheck-slow-10m", {"REC-FAILOVER-TRIGGER": "health check * (api.us-east-1.kosmos.internal): 30 s x 20 = "
                                  "10 min; health check * (api.us-west-2.kosmos.internal): 30 s x 20 = 10 min (limit: "
                                  "fail over within 5 min, *"}),
        ("replica-lagging-20m", {"BAK-DB-REPLICATION": "kosmos-prod-replica (us-west-2) promoted: replication lag ?? min "
                                 "(incident start minus the newest committed write in the DR database, *), limit 15 min "
                                 "(RPO)"}),
        # Without its health check nothing watches the primary: the trigger is broken as well as DNS.
        ("dns-failover-on-primary", {
            "REC-DNS": DNS_ON_PRIMARY,
            "REC-FAILOVER-TRIGGER": "the PRIMARY record (api.us-east-1.kosmos.internal.) has no health check: nothing "
                                    "watches the primary, Route53 never fails over*",
            "SCN-REGIONAL-OUTAGE": f"the secondary region does not serve: REC-DNS failed: {DNS_ON_PRIMARY}"}),
        ("node-not-ready", {"SCN-REGIONAL-OUTAGE": "the secondary region does not serve: REC-DR-NODES failed: 1 of 3 "
                            "nodes not Ready: node/dr-node-b: Ready=Unknown (NodeStatusUnknown*"}),
    ],
)
def test_named_fault_fails_exactly_the_checks_it_breaks(sandbox, fault, pytester, fault_name, expected):
    fault(fault_name)
    result = run_suite(pytester, *SUITES, "-rf")
    assert_failing(result, expected)


# -- the branches a real target takes (the sandbox's replica is promoted, its DNS is its own server) --------
class _Rds:
    def __init__(self, instance):
        self.instance = instance

    def describe_db_instances(self, DBInstanceIdentifier):
        return {"DBInstances": [self.instance]}


class _CloudWatch:
    def __init__(self, seconds):
        self.seconds = seconds

    def get_metric_statistics(self, **_):
        from datetime import datetime, timezone

        return {"Datapoints": [{"Timestamp": datetime.now(timezone.utc), "Maximum": s} for s in self.seconds]}


@pytest.mark.parametrize(("lag_s", "passed"), [(4.0, True), (1200.0, False)])
def test_replica_still_replicating_is_measured_by_cloudwatch_replica_lag(lag_s, passed):
    from datetime import timedelta

    from pytest_kosmos_dr.checks import backups

    replica = {"DBInstanceStatus": "available", "ReadReplicaSourceDBInstanceIdentifier":
               "arn:aws:rds:us-east-1:123456789012:db:kosmos-prod"}
    result = backups.replication(_Rds(replica), _CloudWatch([1.0, lag_s]), None, "kosmos-prod-replica", "kosmos-prod",
                                 "us-west-2", None, rpo=timedelta(minutes=15), where="dr db")
    assert result.passed is passed
    assert "replicating kosmos-prod: replication lag" in result.summary
    assert "(CloudWatch ReplicaLag, max of the last 10 min), limit 15 min (RPO)" in result.summary


def test_system_resolver_is_used_without_a_sandbox_and_resolves_like_getaddrinfo():
    from datetime import timedelta

    from pytest_kosmos_dr.checks import failover

    resolver = failover.resolver_for(None, timedelta(seconds=5))
    assert isinstance(resolver, failover.SystemResolver)
    answer = resolver.resolve("localhost")
    assert answer.error is None and answer.addresses
    assert resolver.resolve("no-such-name.invalid.").error


def test_archive_whose_file_differs_from_its_manifest_is_named():
    import hashlib
    import io
    import tarfile

    from pytest_kosmos_dr.checks import agent_backups as backups

    memory = b'{"facts": ["x"]}'
    files = {"memory.json": memory, "tasks.json": b"[]",
             "MANIFEST.sha256": f"{hashlib.sha256(memory).hexdigest()}  memory.json\n{'0' * 64}  tasks.json\n".encode()}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(f"zeus-state/{name}")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    problems, _ = backups.archive_problems(buffer.getvalue())
    assert problems == [f"tasks.json sha256 {hashlib.sha256(b'[]').hexdigest()[:12]}..., MANIFEST.sha256 says "
                        "000000000000..."]
