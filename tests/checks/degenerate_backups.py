"""Degenerate inputs for the BAK-DB-* checks: empty listings, missing fields, None."""

from datetime import datetime, timedelta, timezone

from pytest_kosmos_dr.checks import backups

INCIDENT = datetime(2025, 12, 13, 9, 12, tzinfo=timezone.utc)
REF = backups.Reference.of(INCIDENT)
H, G = timedelta(hours=1), timedelta(minutes=10)
LATER = {"DBSnapshotIdentifier": "s", "DBInstanceIdentifier": "kosmos-prod", "Status": "available",
         "SnapshotCreateTime": INCIDENT + timedelta(hours=1)}


class _Rds:
    def __init__(self, instances):
        self.instances = instances

    def describe_db_instances(self, DBInstanceIdentifier):
        return {"DBInstances": self.instances}


class _CloudWatch:
    def get_metric_statistics(self, **_):
        return {"Datapoints": []}


class _Conn:
    """A DR database whose every query answers no rows / NULLs."""

    def execute(self, sql, params=None):
        return self

    def fetchone(self):
        return (None, None)

    def fetchall(self):
        return []


def _replication(instance, incident=INCIDENT):
    return backups.replication(_Rds([instance]), _CloudWatch(), _Conn(), "kosmos-prod-replica", "kosmos-prod",
                               "us-west-2", incident, rpo=timedelta(minutes=15), where="dr")


def _pitr(production, snapshots=()):
    return backups.pitr_retention(production, "kosmos-prod", "us-east-1", None, "kosmos-prod-replica", "us-west-2",
                                  [], list(snapshots), retention=timedelta(days=30), now=INCIDENT)


CASES = {
    "backups.snapshots_hourly": [
        ("no snapshots", lambda: backups.snapshots_hourly([], "kosmos-prod", "us-east-1", REF, interval=H, grace=G)),
        ("only snapshots after the reference", lambda: backups.snapshots_hourly([LATER], "kosmos-prod", "us-east-1",
                                                                                REF, interval=H, grace=G)),
        ("snapshot without fields", lambda: backups.snapshots_hourly([{}], "kosmos-prod", "us-east-1", REF, interval=H, grace=G)),
        ("snapshot with None time", lambda: backups.snapshots_hourly(
            [{**LATER, "SnapshotCreateTime": None}], "kosmos-prod", "us-east-1", REF, interval=H, grace=G, resource_id="db-X")),
    ],
    "backups.cross_region": [
        ("nothing in the secondary region", lambda: backups.cross_region([], [], "kosmos-prod", "us-east-1",
                                                                         "us-west-2", REF, interval=H, grace=G)),
        ("only copies after the reference", lambda: backups.cross_region(
            [{**LATER, "SourceRegion": "us-east-1"}], [], "kosmos-prod", "us-east-1", "us-west-2", REF, interval=H, grace=G)),
        ("empty snapshot and backup records", lambda: backups.cross_region([{}], [{}], "kosmos-prod", "us-east-1",
                                                                           "us-west-2", REF, interval=H, grace=G)),
        ("replicated backup without a window", lambda: backups.cross_region(
            [], [{"DBInstanceIdentifier": "kosmos-prod", "Region": "us-east-1", "RestoreWindow": None}],
            "kosmos-prod", "us-east-1", "us-west-2", REF, interval=H, grace=G)),
    ],
    "backups.pitr_retention": [
        ("no production instance", lambda: _pitr(None)),
        ("empty instance record", lambda: _pitr({})),
        ("retention None, no backups", lambda: _pitr({"BackupRetentionPeriod": None, "InstanceCreateTime": None})),
        ("retention 30, no backups", lambda: _pitr({"BackupRetentionPeriod": 30,
                                                    "InstanceCreateTime": INCIDENT - timedelta(days=2)})),
    ],
    "backups.replication": [
        ("no such instance", lambda: backups.replication(_Rds([None]), _CloudWatch(), _Conn(), "r", "p", "us-west-2",
                                                         INCIDENT, rpo=timedelta(minutes=15), where="dr")),
        ("empty instance record, no incident", lambda: _replication({}, incident=None)),
        ("empty instance record, DR database empty", lambda: _replication({"InstanceCreateTime": INCIDENT
                                                                           - timedelta(days=1)})),
        ("replicating, no lag anywhere", lambda: _replication(
            {"ReadReplicaSourceDBInstanceIdentifier": "kosmos-prod", "StatusInfos": None})),
    ],
}


from pytest_kosmos_dr.errors import RegionDown
_DOWN = RegionDown("us-east-1", "AWS describe_db_snapshots in us-east-1", "ServiceUnavailable")


def _copies_hourly(snapshots):
    return backups.snapshots_hourly_from_copies(snapshots, "kosmos-prod", "us-east-1", "us-west-2", REF, interval=H, grace=G, down=_DOWN)


def _pitr_dr(dr_instance, automated):
    return backups.pitr_retention_in_dr_region(dr_instance, "kosmos-prod-replica", "us-west-2", "kosmos-prod",
                                               "us-east-1", automated, retention=timedelta(days=30), down=_DOWN, now=INCIDENT)


_COPY = {**LATER, "SourceRegion": "us-east-1", "SnapshotCreateTime": None, "OriginalSnapshotCreateTime": None}
_REPLICATED = {"DBInstanceIdentifier": "kosmos-prod", "Region": "us-east-1", "Status": "replicating"}
CASES.update({
    "backups.snapshots_hourly_from_copies": [
        ("no snapshots", lambda: _copies_hourly([])),
        ("empty snapshot record", lambda: _copies_hourly([{}])),
        ("copy with None times", lambda: _copies_hourly([_COPY])),
        ("only copies after the reference", lambda: _copies_hourly([{**LATER, "SourceRegion": "us-east-1"}])),
    ],
    "backups.pitr_retention_in_dr_region": [
        ("nothing in the DR region", lambda: _pitr_dr(None, [])),
        ("empty records", lambda: _pitr_dr({}, [{}])),
        ("replicated backup without a window", lambda: _pitr_dr({"BackupRetentionPeriod": 30},
                                                                [{**_REPLICATED, "BackupRetentionPeriod": 30}])),
        ("retention None everywhere", lambda: _pitr_dr({"BackupRetentionPeriod": None}, [_REPLICATED])),
    ],
})
