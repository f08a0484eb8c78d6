"""Degenerate inputs for the BAK-DB-* checks: empty listings, missing fields, None."""

from datetime import datetime, timedelta, timezone

from pytest_kosmos_dr.checks import backups
from pytest_kosmos_dr.errors import RegionDown

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


_DOWN = RegionDown("us-east-1", "AWS describe_db_snapshots in us-east-1", "ServiceUnavailable")


def _production(**read):
    return backups.ProductionBackups("kosmos-prod", "us-east-1", "us-west-2", dr_id="kosmos-prod-replica", **read)


def _pitr(production, snapshots=(), **read):
    return backups.pitr_retention(_production(production=production, snapshots=list(snapshots), **read),
                                  retention=timedelta(days=30), now=INCIDENT)


def _hourly(snapshots, resource_id=None, **read):
    return backups.snapshots_hourly(_production(snapshots=snapshots, resource_id=resource_id, **read), reference=REF,
                                    interval=H, grace=G)


def _cross(snapshots, automated):
    return backups.cross_region(_production(secondary_snapshots=snapshots, secondary_automated_backups=automated),
                                reference=REF, interval=H, grace=G)


CASES = {
    "backups.snapshots_hourly": [
        ("no snapshots", lambda: _hourly([])),
        ("only snapshots after the reference", lambda: _hourly([LATER])),
        ("snapshot without fields", lambda: _hourly([{}])),
        ("snapshot with None time", lambda: _hourly([{**LATER, "SnapshotCreateTime": None}], resource_id="db-X")),
        ("nothing read", lambda: _hourly(())),
        ("primary down, no copies", lambda: _hourly([], down=_DOWN)),
        ("primary down, only copies after the reference", lambda: _hourly(
            [], down=_DOWN, secondary_snapshots=[{**LATER, "SourceRegion": "us-east-1"}])),
    ],
    "backups.cross_region": [
        ("nothing in the secondary region", lambda: _cross([], [])),
        ("only copies after the reference", lambda: _cross([{**LATER, "SourceRegion": "us-east-1"}], [])),
        ("empty snapshot and backup records", lambda: _cross([{}], [{}])),
        ("replicated backup without a window", lambda: _cross(
            [], [{"DBInstanceIdentifier": "kosmos-prod", "Region": "us-east-1", "RestoreWindow": None}])),
        ("only the primary region's listing", lambda: backups.cross_region(
            _production(snapshots=[{**LATER, "SnapshotCreateTime": INCIDENT}]), reference=REF, interval=H, grace=G)),
    ],
    "backups.pitr_retention": [
        ("no production instance", lambda: _pitr(None)),
        ("empty instance record", lambda: _pitr({})),
        ("retention None, no backups", lambda: _pitr({"BackupRetentionPeriod": None, "InstanceCreateTime": None})),
        ("retention 30, no backups", lambda: _pitr({"BackupRetentionPeriod": 30,
                                                    "InstanceCreateTime": INCIDENT - timedelta(days=2)})),
        ("primary down, nothing in the DR region", lambda: _pitr(None, down=_DOWN)),
        ("primary down, empty records", lambda: _pitr(None, down=_DOWN, dr_instance={},
                                                      secondary_automated_backups=[{}])),
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


def _copies_hourly(snapshots):
    return _hourly([], down=_DOWN, secondary_snapshots=snapshots)


def _pitr_dr(dr_instance, automated):
    return _pitr(None, down=_DOWN, dr_instance=dr_instance, secondary_automated_backups=automated)


_COPY = {**LATER, "SourceRegion": "us-east-1", "SnapshotCreateTime": None, "OriginalSnapshotCreateTime": None}
_REPLICATED = {"DBInstanceIdentifier": "kosmos-prod", "Region": "us-east-1", "Status": "replicating"}
CASES["backups.snapshots_hourly"] += [  # while the primary region is down: read from the copies
    ("primary down, empty snapshot record", lambda: _copies_hourly([{}])),
    ("primary down, copy with None times", lambda: _copies_hourly([_COPY])),
]
CASES["backups.pitr_retention"] += [  # while the primary region is down: read in the DR region
    ("primary down, replicated backup without a window", lambda: _pitr_dr(
        {"BackupRetentionPeriod": 30}, [{**_REPLICATED, "BackupRetentionPeriod": 30}])),
    ("primary down, retention None everywhere", lambda: _pitr_dr({"BackupRetentionPeriod": None}, [_REPLICATED])),
]
