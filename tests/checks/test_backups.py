"""BAK-DB-* checks on plain data (no sandbox): passing, failing and degenerate listings."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from pytest_kosmos_dr.checks import backups
from pytest_kosmos_dr.errors import RegionDown

INCIDENT = datetime(2025, 12, 13, 9, 12, tzinfo=timezone.utc)
REFERENCE = backups.Reference.of(INCIDENT)
HOUR, GRACE = timedelta(hours=1), timedelta(minutes=10)
RID = "db-CURRENTKOSMOSPROD"


def snapshot(hours_before: float, *, instance="kosmos-prod", status="available", rid=RID, original=None, **extra):
    at = INCIDENT - timedelta(hours=hours_before)
    return {"DBSnapshotIdentifier": f"rds:{instance}-{hours_before}", "DBInstanceIdentifier": instance,
            "SnapshotCreateTime": at, "OriginalSnapshotCreateTime": original or at, "Status": status,
            "SnapshotType": "automated", "DbiResourceId": rid, **extra}


def hourly(**kwargs):
    return [snapshot(h + 0.2, **kwargs) for h in range(24)]


def copies(**kwargs):
    return [snapshot(h + 0.3, SourceRegion="us-east-1", **kwargs) for h in range(24)]


def production_backups(**read):
    """Production's backups as a criterion read them (kosmos-prod in us-east-1, its DR instance in us-west-2)."""
    return backups.ProductionBackups("kosmos-prod", "us-east-1", "us-west-2", dr_id="kosmos-prod-replica", **read)


DOWN = RegionDown("us-east-1", "AWS describe_db_snapshots in us-east-1", "ServiceUnavailable")


def snapshots_hourly(listing, rid=RID, **limits):
    return backups.snapshots_hourly(production_backups(snapshots=listing, resource_id=rid), reference=REFERENCE,
                                    interval=HOUR, grace=GRACE, **limits)


# -- BAK-DB-SNAPSHOTS-HOURLY -----------------------------------------------------------------------------
def test_hourly_snapshots_pass():
    result = snapshots_hourly(hourly())
    assert result.passed, result.summary


def test_only_snapshots_after_the_incident_fail_instead_of_counting_as_zero_old():
    later = [snapshot(-1), snapshot(-2)]
    result = snapshots_hourly(later)
    assert not result.passed
    assert "has no available snapshot at or before the incident start 2025-12-13T09:12:00Z (2 taken after it)" \
        in result.summary


@pytest.mark.parametrize(("listing", "said"), [
    (hourly(status="creating"), "24 not available (creating: 24)"),
    (hourly(rid="db-EARLIER"), "24 of an earlier instance named kosmos-prod (DbiResourceId db-EARLIER"),
    (hourly(instance="kosmos-staging"), "24 of other instances (kosmos-staging)"),
    ([], "has no available snapshot at or before"),
])
def test_snapshots_that_are_not_production_s_usable_ones_do_not_count(listing, said):
    result = snapshots_hourly(listing)
    assert not result.passed and said in result.summary


def test_a_fresh_copy_of_old_data_counts_by_its_data_time():
    stale = [snapshot(h + 0.2, original=INCIDENT - timedelta(hours=12)) for h in range(6)] + [
        snapshot(h + 0.2) for h in range(6, 24)]
    result = snapshots_hourly(stale)
    assert not result.passed and "newest snapshot rds:kosmos-prod-6.2 6 h 12 min before the incident start" \
        in result.summary


def test_while_the_primary_is_down_the_cadence_is_read_from_the_copies():
    """The primary listing is left unread (empty): the copies in the secondary region hold the fact."""
    down = production_backups(secondary_snapshots=copies(), down=DOWN)
    result = backups.snapshots_hourly(down, reference=REFERENCE, interval=HOUR, grace=GRACE)
    assert result.passed and "read from the copies in us-west-2 by their original snapshot time, matched by name: " \
        "us-east-1 is down (ServiceUnavailable)" in result.summary, result.summary
    with pytest.raises(RegionDown, match="us-west-2 holds no copy of them"):
        backups.snapshots_hourly(production_backups(snapshots=hourly(), down=DOWN), reference=REFERENCE,
                                 interval=HOUR, grace=GRACE)


# -- BAK-DB-CROSS-REGION ---------------------------------------------------------------------------------
def cross(listing, backups_listed=(), rid=RID):
    return backups.cross_region(production_backups(secondary_snapshots=listing,
                                                   secondary_automated_backups=list(backups_listed), resource_id=rid),
                                reference=REFERENCE, interval=HOUR, grace=GRACE)


def test_copies_pass():
    assert cross(copies()).passed


def test_only_copies_newer_than_the_incident_fail():
    result = cross([snapshot(-1, SourceRegion="us-east-1")])
    assert not result.passed
    assert "no copy of kosmos-prod's backups in us-west-2 holds data at or before the incident start" in result.summary


@pytest.mark.parametrize(("listing", "said"), [
    (copies(instance="kosmos-staging"), "24 of other instances (kosmos-staging)"),
    (copies(status="failed"), "24 not available (failed: 24)"),
    (copies(rid="db-EARLIER"), "of an earlier instance named kosmos-prod"),
    ([snapshot(0.3, SourceRegion="eu-west-1")], "0 snapshot copies from us-east-1"),
])
def test_copies_that_are_not_of_production_do_not_count(listing, said):
    result = cross(listing)
    assert not result.passed and said in result.summary


def test_replicated_automated_backup_of_an_earlier_instance_does_not_count():
    replicated = {"DBInstanceIdentifier": "kosmos-prod", "Region": "us-east-1", "DbiResourceId": "db-EARLIER",
                  "Status": "replicating", "RestoreWindow": {"LatestTime": INCIDENT - timedelta(minutes=5)}}
    assert cross([], [replicated]).passed is False
    assert cross([], [{**replicated, "DbiResourceId": RID}]).passed


# -- BAK-DB-REPLICATION ----------------------------------------------------------------------------------
class _Rds:
    def __init__(self, instance):
        self.instance = instance

    def describe_db_instances(self, DBInstanceIdentifier):
        return {"DBInstances": [self.instance]}


class _CloudWatch:
    def __init__(self, values):
        self.values = values

    def get_metric_statistics(self, **_):
        return {"Datapoints": [{"Timestamp": INCIDENT, "Maximum": v} for v in self.values]}


SOURCE = "arn:aws:rds:us-east-1:123456789012:db:kosmos-prod"


def replication(instance, lag=(2.0,), incident=None):
    return backups.replication(_Rds(instance), _CloudWatch(list(lag)), None, "kosmos-prod-replica", "kosmos-prod",
                               "us-west-2", incident, rpo=timedelta(minutes=15), where="dr")


def test_available_replica_whose_replication_stopped_fails():
    instance = {"DBInstanceStatus": "available", "ReadReplicaSourceDBInstanceIdentifier": SOURCE,
                "StatusInfos": [{"StatusType": "read replication", "Status": "error", "Normal": False,
                                 "Message": "WAL receiver gone"}]}
    result = replication(instance)
    assert not result.passed and "its replication of kosmos-prod is 'error': WAL receiver gone" in result.summary
    healthy = {**instance, "StatusInfos": [{"StatusType": "read replication", "Status": "replicating", "Normal": True}]}
    assert replication(healthy).passed


def test_replica_lag_minus_one_means_replication_is_not_active():
    result = replication({"DBInstanceStatus": "available", "ReadReplicaSourceDBInstanceIdentifier": SOURCE}, lag=(-1,))
    assert not result.passed and "ReplicaLag -1" in result.summary


def test_promoted_instance_created_after_the_incident_is_not_the_replica():
    instance = {"DBInstanceStatus": "available", "InstanceCreateTime": INCIDENT + timedelta(minutes=30)}
    result = replication(instance, incident=INCIDENT)
    assert not result.passed and "after the incident start 2025-12-13T09:12:00Z" in result.summary


def test_replica_of_another_instance_fails():
    instance = {"DBInstanceStatus": "available",
                "ReadReplicaSourceDBInstanceIdentifier": SOURCE.replace("kosmos-prod", "kosmos-staging")}
    assert "not production kosmos-prod" in replication(instance).summary


# -- BAK-DB-PITR-RETENTION -------------------------------------------------------------------------------
def pitr(production, snapshots, dr=None, retention=timedelta(days=30), **limits):
    return backups.pitr_retention(production_backups(production=production, snapshots=snapshots, dr_instance=dr),
                                  retention=retention, now=INCIDENT, **limits)


def test_retention_reaching_back_30_days_passes_and_a_short_window_on_an_old_instance_fails():
    old = {"BackupRetentionPeriod": 30, "InstanceCreateTime": INCIDENT - timedelta(days=90), "DbiResourceId": RID}
    month = [snapshot(24 * d) for d in range(31)]
    assert pitr(old, month).passed
    result = pitr(old, hourly())
    assert not result.passed and "reaches back only" in result.summary


def test_automated_snapshots_of_an_earlier_instance_give_no_restorable_time():
    young = {"BackupRetentionPeriod": 30, "InstanceCreateTime": INCIDENT - timedelta(days=1), "DbiResourceId": RID}
    result = pitr(young, hourly(rid="db-EARLIER"))
    assert not result.passed and "has no restorable time" in result.summary and "earlier instance" in result.summary


def test_promoted_dr_instance_with_short_retention_fails():
    young = {"BackupRetentionPeriod": 30, "InstanceCreateTime": INCIDENT - timedelta(hours=23), "DbiResourceId": RID}
    result = pitr(young, hourly(), dr={"BackupRetentionPeriod": 1})
    assert not result.passed and "kosmos-prod-replica (us-west-2) BackupRetentionPeriod 1 d" in result.summary


def test_while_the_primary_is_down_the_retention_is_read_in_the_dr_region():
    replicated = {"DBInstanceIdentifier": "kosmos-prod", "Region": "us-east-1", "Status": "replicating",
                  "BackupRetentionPeriod": 30, "InstanceCreateTime": INCIDENT - timedelta(days=400),
                  "RestoreWindow": {"EarliestTime": INCIDENT - timedelta(days=30), "LatestTime": INCIDENT}}
    promoted = {"BackupRetentionPeriod": 1}
    facts = production_backups(dr_instance=promoted, secondary_automated_backups=[replicated], down=DOWN)
    result = backups.pitr_retention(facts, retention=timedelta(days=30), now=INCIDENT)
    assert not result.passed and "kosmos-prod-replica (us-west-2) BackupRetentionPeriod 1 d" in result.summary
    assert "read in us-west-2: us-east-1 is down (ServiceUnavailable)" in result.summary
    assert backups.pitr_retention(replace(facts, dr_instance={"BackupRetentionPeriod": 30}),
                                  retention=timedelta(days=30), now=INCIDENT).passed
    with pytest.raises(RegionDown, match="kept only in us-east-1"):
        backups.pitr_retention(production_backups(dr_instance=promoted, down=DOWN), retention=timedelta(days=1),
                               now=INCIDENT)


# -- the target's windows (backups.snapshot_window, backups.pitr_slack) ---------------------------------
def test_the_snapshot_window_is_the_targets():
    """A 3 h gap 30 h before the incident: outside the default 24 h window, inside a 36 h one."""
    listing = [snapshot(h + 0.2) for h in range(48) if h not in (29, 30)]
    assert snapshots_hourly(listing).passed
    result = snapshots_hourly(listing, window=timedelta(hours=36))
    assert not result.passed and "gap of 3 h" in result.summary
    assert "in the 36 h before" in result.evidence[0].answer


def test_a_zero_snapshot_window_cannot_be_judged():
    with pytest.raises(backups.DRUnverifiable, match="snapshot window"):
        snapshots_hourly(hourly(), window=timedelta(0))


def test_a_three_day_restore_window_passes_on_three_days_and_fails_on_two():
    old = {"BackupRetentionPeriod": 3, "InstanceCreateTime": INCIDENT - timedelta(days=90), "DbiResourceId": RID}
    three = [snapshot(24 * d) for d in range(4)]
    ok = pitr(old, three, retention=timedelta(days=3))
    assert ok.passed, ok.summary
    short = pitr(dict(old, BackupRetentionPeriod=2), three[:2], retention=timedelta(days=3))
    assert not short.passed and "short of 3 d" in short.summary and "BackupRetentionPeriod 2 d" in short.summary


def test_the_first_backup_slack_is_the_targets():
    """A 2-day-old instance whose first backup came 90 min after its creation: within a 2 h slack, not 1 h."""
    young = {"BackupRetentionPeriod": 30, "InstanceCreateTime": INCIDENT - timedelta(hours=48), "DbiResourceId": RID}
    listing = [snapshot(48 - 1.5)]

    def judged(slack):
        return pitr(young, listing, slack=slack)

    assert judged(timedelta(hours=2)).passed
    result = judged(timedelta(hours=1))
    assert not result.passed and "(+ 60 min)" in result.summary


def test_a_promoted_replicas_lag_is_measured_on_the_targets_written_tables():
    """The newest write at or before the incident, over database.window_tables found in the catalog."""
    from degenerate_integrity import FakeDatabase

    from pytest_kosmos_dr.checks.integrity import Contract

    class Written(FakeDatabase):
        def fetchall(self):
            if "UNION ALL" in self.sql or "max(" in self.sql:
                return [("tickets", INCIDENT - timedelta(minutes=4))]
            return super().fetchall()

    db = Written(tables={"tickets": ("id", "inserted_at")}, keys=[])
    promoted = {"DBInstanceStatus": "available", "InstanceCreateTime": INCIDENT - timedelta(days=9)}
    contract = Contract("app", timedelta(hours=1), "inserted_at", ("tickets",), (), ())
    result = backups.replication(_Rds(promoted), _CloudWatch([]), db, "kosmos-prod-replica", "kosmos-prod",
                                 "us-west-2", INCIDENT, rpo=timedelta(minutes=15), where="dr", database=contract)
    assert result.passed and "replication lag 4 min" in result.summary, result.summary
    assert any('FROM "app"."tickets" WHERE "inserted_at" <= %(t)s' in sql for sql in db.asked)
    missing = backups.replication(_Rds(promoted), _CloudWatch([]), Written(tables={}, keys=[]), "kosmos-prod-replica",
                                  "kosmos-prod", "us-west-2", INCIDENT, rpo=timedelta(minutes=15), where="dr", database=contract)
    assert not missing.passed and "none of its written tables (tickets) is in schema app" in missing.summary
