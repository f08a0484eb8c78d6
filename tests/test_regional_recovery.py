"""The database side of a regional outage (issue 13): with us-east-1 lost, the backup criteria are
read in us-west-2 where it holds them (snapshot copies, the DR instance, replicated automated
backups), what only us-east-1 knows is "not verifiable while us-east-1 is down", and the newest
cross-region snapshot copy restores in us-west-2 and passes the integrity checks. Plain data first,
then the sandbox with the fault ``primary-region-outage``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import boto3
import pytest

from conftest import run_suite
from pytest_kosmos_dr.checks import backups
from pytest_kosmos_dr.errors import DRUnverifiable, RegionDown

INCIDENT = datetime(2025, 12, 13, 9, 12, tzinfo=timezone.utc)
REF = backups.Reference.of(INCIDENT)
H, G = timedelta(hours=1), timedelta(minutes=10)
DAYS30 = timedelta(days=30)
DOWN = RegionDown("us-east-1", "AWS describe_db_snapshots in us-east-1", "ServiceUnavailable: endpoint down")
SOURCE = "arn:aws:rds:us-east-1:123456789012:snapshot:rds:kosmos-prod-{:%H}"


def copy(at: datetime, instance: str = "kosmos-prod", **extra) -> dict:
    """A copy in us-west-2 of an hourly snapshot taken at ``at`` (copied a few minutes later)."""
    return {"DBSnapshotIdentifier": f"kosmos-prod-{at:%H}-copy", "DBInstanceIdentifier": instance,
            "Status": "available", "SnapshotType": "manual", "SourceRegion": "us-east-1",
            "SourceDBSnapshotIdentifier": SOURCE.format(at), "OriginalSnapshotCreateTime": at,
            "SnapshotCreateTime": at + timedelta(minutes=6), **extra}


def hourly_copies(hours: int = 24, skip: tuple[int, ...] = ()) -> list[dict]:
    top = INCIDENT.replace(minute=0)
    return [copy(top - timedelta(hours=h)) for h in range(hours) if h not in skip]


def replicated(earliest: datetime, period: int = 30, **extra) -> dict:
    return {"DBInstanceIdentifier": "kosmos-prod", "Region": "us-east-1", "Status": "replicating",
            "DBInstanceArn": "arn:aws:rds:us-east-1:123456789012:db:kosmos-prod", "BackupRetentionPeriod": period,
            "InstanceCreateTime": INCIDENT - timedelta(days=400),
            "RestoreWindow": {"EarliestTime": earliest, "LatestTime": INCIDENT}, **extra}


PROMOTED = {"DBInstanceIdentifier": "kosmos-prod-replica", "BackupRetentionPeriod": 30}


def read_while_down(**read):
    """Production's backups as read while us-east-1 is down: only the DR region's listings."""
    return backups.ProductionBackups("kosmos-prod", "us-east-1", "us-west-2", dr_id="kosmos-prod-replica",
                                     down=DOWN, **read)


def pitr(dr_instance, automated):
    return backups.pitr_retention(read_while_down(dr_instance=dr_instance, secondary_automated_backups=automated),
                                  retention=DAYS30, now=INCIDENT)


def hourly(snapshots):
    return backups.snapshots_hourly(read_while_down(secondary_snapshots=snapshots), reference=REF, interval=H, grace=G)


# -- BAK-DB-SNAPSHOTS-HOURLY from the copies ---------------------------------------------------------
def test_hourly_cadence_is_read_from_the_copies_by_their_original_time():
    result = hourly(hourly_copies())
    assert result.passed, result.summary
    assert "read from the copies in us-west-2 by their original snapshot time, matched by name: us-east-1 is down " \
           "(ServiceUnavailable: endpoint down)" in result.summary
    assert "--region us-west-2" in result.evidence[0].asked


def test_a_gap_in_the_copies_fails_naming_the_dr_region_source():
    result = hourly(hourly_copies(skip=(3, 4, 5)))
    assert not result.passed
    assert "gap of 4 h 00 min" in result.summary and "read from the copies in us-west-2" in result.summary


def test_copies_of_other_instances_or_other_regions_do_not_count():
    others = [copy(s["OriginalSnapshotCreateTime"], "kosmos-staging") for s in hourly_copies()]
    own_region = [{**s, "SourceRegion": None, "SourceDBSnapshotIdentifier": None} for s in hourly_copies()]
    for snapshots in (others, own_region, []):
        with pytest.raises(RegionDown, match=r"not verifiable while us-east-1 is down: snapshots of kosmos-prod .*"
                                             r"us-west-2 holds no copy of them"):
            hourly(snapshots)


def test_a_stale_newest_copy_fails():
    result = hourly(hourly_copies()[3:])
    assert not result.passed and "newest snapshot" in result.summary


# -- BAK-DB-PITR-RETENTION in the DR region -------------------------------------------------------------
def test_retention_is_read_from_the_dr_instance_and_the_replicated_backup():
    result = pitr(PROMOTED, [replicated(INCIDENT - timedelta(days=30, hours=2))])
    assert result.passed, result.summary
    assert "kosmos-prod-replica 30 d" in result.summary and "read in us-west-2: us-east-1 is down" in result.summary


def test_a_short_dr_instance_retention_fails_even_without_a_replicated_backup():
    result = pitr({**PROMOTED, "BackupRetentionPeriod": 7}, [])
    assert not result.passed and "kosmos-prod-replica (us-west-2) BackupRetentionPeriod 7 d" in result.summary


def test_a_short_replicated_window_fails():
    result = pitr(PROMOTED, [replicated(INCIDENT - timedelta(days=5), period=7)])
    assert not result.passed
    assert "BackupRetentionPeriod 7 d" in result.summary and "reaches back only 5 d" in result.summary


def test_without_a_replicated_backup_the_window_is_not_verifiable():
    with pytest.raises(RegionDown, match=r"not verifiable while us-east-1 is down: point-in-time window of "
                                         r"kosmos-prod .*kept only in us-east-1; kosmos-prod-replica's own "
                                         r"BackupRetentionPeriod 30 d checked"):
        pitr(PROMOTED, [{"DBInstanceIdentifier": "kosmos-prod-replica", "Status": "active"}])


# Degenerate inputs of the two DR-region readings (the same contract as tests/checks/test_degenerate_world.py).
DEGENERATE = {
    "backups.snapshots_hourly (primary down)": [
        ("no snapshots", lambda: hourly([])),
        ("empty snapshot record", lambda: hourly([{}])),
        ("copy with None times", lambda: hourly([copy(INCIDENT, OriginalSnapshotCreateTime=None,
                                                      SnapshotCreateTime=None)])),
        ("copy not available", lambda: hourly([copy(INCIDENT - H, Status=None)])),
    ],
    "backups.pitr_retention (primary down)": [
        ("nothing in the DR region", lambda: pitr(None, [])),
        ("empty records", lambda: pitr({}, [{}])),
        ("replicated backup without a window", lambda: pitr(PROMOTED, [replicated(INCIDENT, RestoreWindow=None)])),
        ("retention None everywhere", lambda: pitr({"BackupRetentionPeriod": None},
                                                   [replicated(INCIDENT - DAYS30, BackupRetentionPeriod=None)])),
    ],
}


@pytest.mark.parametrize(("call",), [(c,) for cases in DEGENERATE.values() for _, c in cases],
                         ids=[f"{k}:{label}" for k, cases in DEGENERATE.items() for label, _ in cases])
def test_degenerate_dr_region_input_never_passes(call):
    try:
        result = call()
    except DRUnverifiable:
        return
    assert not result.passed and result.summary


# -- the drills keep a lost region's outage as such --------------------------------------------------
def test_a_restore_that_met_the_outage_is_not_verifiable_for_every_worker(tmp_path):
    from pytest_kosmos_dr.drills.database_restore import restore_once

    def perform():
        raise RegionDown("us-east-1", "AWS describe_db_instances in us-east-1", "ServiceUnavailable: down")

    for _ in range(2):  # the first performs, the second reads the recorded outcome
        with pytest.raises(RegionDown, match="not verifiable while us-east-1 is down: AWS describe_db_instances"):
            restore_once(tmp_path, "point-in-time", perform)


def test_the_newest_copy_is_chosen_by_its_data_time():
    from pytest_kosmos_dr.drills.database_restore import newest_cross_region_copy

    older_data_copied_later = copy(INCIDENT - 2 * H, SnapshotCreateTime=INCIDENT)
    newest = copy(INCIDENT - H)

    class _Pages:
        def paginate(self, **_):
            return [{"DBSnapshots": [older_data_copied_later, newest, copy(INCIDENT, Status="copying"),
                                     copy(INCIDENT, "kosmos-staging")]}]

    class _Rds:
        def get_paginator(self, _):
            return _Pages()

    assert newest_cross_region_copy(_Rds(), "us-west-2", "kosmos-prod", "us-east-1") is newest


# -- the sandbox, us-east-1 lost ---------------------------------------------------------------------
def rds(sandbox, region):
    aws = sandbox.state["aws"]
    return boto3.client("rds", region_name=region, endpoint_url=aws["endpoint_url"],
                        aws_access_key_id=aws["access_key_id"], aws_secret_access_key=aws["secret_access_key"])


def drill_instances(sandbox, region) -> list[str]:
    ids = [i["DBInstanceIdentifier"] for i in rds(sandbox, region).describe_db_instances()["DBInstances"]]
    return [i for i in ids if i.startswith("kosmos-dr-")]


NOT_VERIFIABLE = "*not verified: not verifiable while us-east-1 is down: *"


def test_backup_suite_during_the_outage_passes_what_the_dr_region_can_tell(sandbox, fault, pytester):
    fault("primary-region-outage")
    result = run_suite(pytester, "test_backup_strategy.py", "-v", "-rs")
    # replication, hourly snapshots (from the copies) and cross-region copies are read in us-west-2;
    # production's 30-day restore window is kept only in us-east-1 (no replicated automated backups)
    assert result.parseoutcomes() == {"passed": 3, "skipped": 1}, result.stdout.str()
    result.stdout.fnmatch_lines(["*test_production_has_a_replica_in_the_secondary_region_within_the_rpo PASSED*",
                                 "*test_production_is_snapshotted_every_hour PASSED*",
                                 "*test_production_is_restorable_to_any_point_of_the_last_30_days SKIPPED*",
                                 "*test_production_backups_are_copied_to_the_secondary_region PASSED*"])
    result.stdout.fnmatch_lines([NOT_VERIFIABLE + "point-in-time window of kosmos-prod*no replicated automated "
                                 "backup of it*kosmos-prod-replica's own BackupRetentionPeriod 30 d checked*"])


def test_regional_restore_drill_passes_during_the_outage_and_leaves_nothing(sandbox, fault, pytester):
    fault("primary-region-outage")
    result = run_suite(pytester, "test_database_recovery.py", "--dr-allow-restore", "-v", "-rs")
    assert result.parseoutcomes() == {"passed": 2, "skipped": 3}, result.stdout.str()
    result.stdout.fnmatch_lines(["*test_newest_cross_region_copy_restores_in_the_dr_region PASSED*"])
    for drill in ("test_point_in_time_restore_is_available_and_intact", "test_newest_snapshot_restores_available_and_"
                  "intact", "test_restore_from_backup_after_corruption_matches_the_source"):
        result.stdout.fnmatch_lines([f"*{drill} SKIPPED*"])
    result.stdout.fnmatch_lines([NOT_VERIFIABLE + "AWS describe_db_instances in us-east-1*"])
    assert drill_instances(sandbox, "us-west-2") == []


@pytest.mark.slow  # runs the restore drills
def test_healthy_backup_and_database_suites_are_unchanged(sandbox, pytester):
    result = run_suite(pytester, "test_backup_strategy.py", "test_database_recovery.py", "--dr-allow-restore", "-v")
    assert result.parseoutcomes() == {"passed": 9}, result.stdout.str()
    assert drill_instances(sandbox, "us-east-1") == [] and drill_instances(sandbox, "us-west-2") == []
