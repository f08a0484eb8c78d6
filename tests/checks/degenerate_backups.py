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
                               "us-west-2", incident, timedelta(minutes=15), "dr")


def _pitr(production, snapshots=()):
    return backups.pitr_retention(production, "kosmos-prod", "us-east-1", None, "kosmos-prod-replica", "us-west-2",
                                  [], list(snapshots), timedelta(days=30), now=INCIDENT)


CASES = {
    "backups.snapshots_hourly": [
        ("no snapshots", lambda: backups.snapshots_hourly([], "kosmos-prod", "us-east-1", REF, H, G)),
        ("only snapshots after the reference", lambda: backups.snapshots_hourly([LATER], "kosmos-prod", "us-east-1",
                                                                                REF, H, G)),
        ("snapshot without fields", lambda: backups.snapshots_hourly([{}], "kosmos-prod", "us-east-1", REF, H, G)),
        ("snapshot with None time", lambda: backups.snapshots_hourly(
            [{**LATER, "SnapshotCreateTime": None}], "kosmos-prod", "us-east-1", REF, H, G, "db-X")),
    ],
    "backups.cross_region": [
        ("nothing in the secondary region", lambda: backups.cross_region([], [], "kosmos-prod", "us-east-1",
                                                                         "us-west-2", REF, H, G)),
        ("only copies after the reference", lambda: backups.cross_region(
            [{**LATER, "SourceRegion": "us-east-1"}], [], "kosmos-prod", "us-east-1", "us-west-2", REF, H, G)),
        ("empty snapshot and backup records", lambda: backups.cross_region([{}], [{}], "kosmos-prod", "us-east-1",
                                                                           "us-west-2", REF, H, G)),
        ("replicated backup without a window", lambda: backups.cross_region(
            [], [{"DBInstanceIdentifier": "kosmos-prod", "Region": "us-east-1", "RestoreWindow": None}],
            "kosmos-prod", "us-east-1", "us-west-2", REF, H, G)),
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
                                                         INCIDENT, timedelta(minutes=15), "dr")),
        ("empty instance record, no incident", lambda: _replication({}, incident=None)),
        ("empty instance record, DR database empty", lambda: _replication({"InstanceCreateTime": INCIDENT
                                                                           - timedelta(days=1)})),
        ("replicating, no lag anywhere", lambda: _replication(
            {"ReadReplicaSourceDBInstanceIdentifier": "kosmos-prod", "StatusInfos": None})),
    ],
}
