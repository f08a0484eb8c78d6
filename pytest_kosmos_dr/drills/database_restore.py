"""Restore production into a throwaway instance (point in time or newest snapshot in the primary
region, or the newest cross-region snapshot copy in the DR region: the regional outage's path), once
per run.

Under pytest-xdist the first worker that needs a restore performs it under a file lock in the run
folder and writes the outcome there; the others read it. The controller deletes everything the
run recorded when the run ends (see ``run.DRRun.close``), whatever happened to the workers.
"""

from __future__ import annotations

import fcntl
import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..errors import DRUnverifiable, RegionDown
from ..progress import ProgressLine, terminal
from ..timeparse import isoformat, parse_instant
from . import guard
from .resources import CreatedInstance, record

POLL_S = 2.0


@dataclass(frozen=True)
class RestoreOutcome:
    """What a restore produced (shared between workers as JSON)."""

    method: str  # "point-in-time", "snapshot" or "cross-region-snapshot"
    identifier: str
    region: str
    host: str
    port: int
    restore_point: str  # ISO-8601
    source: str  # the source instance or snapshot
    seconds_to_available: float
    error: str | None = None
    down_region: str | None = None  # the error was that region's outage (RegionDown)

    @property
    def restore_time(self) -> datetime:
        return parse_instant(self.restore_point)


def _rds_error(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code')}: {error.get('Message')}"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def wait_available(rds, identifier: str, timeout: timedelta) -> float:
    """Poll until the instance is ``available``; bounded by ``timeout``. Returns the seconds waited."""
    started = time.monotonic()
    deadline = started + timeout.total_seconds()
    # a real restore takes 10-40 min: a progress line on the operator's terminal (silent in CI)
    with terminal() as tty, ProgressLine(f"restoring {identifier}", tty) as line:
        while True:
            instance = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
            status = instance.get("DBInstanceStatus")
            if status == "available" and instance.get("Endpoint"):
                return time.monotonic() - started
            if status in ("failed", "incompatible-restore", "incompatible-parameters", "storage-full"):
                raise DRUnverifiable(f"restored instance {identifier}", f"ended in status {status!r}")
            if time.monotonic() >= deadline:
                raise DRUnverifiable(f"restored instance {identifier}",
                                     f"not available after {timeout.total_seconds():.0f} s (status {status!r})")
            line.update(f"status {status}")
            time.sleep(POLL_S)


def networking(database) -> dict:
    """Where a restored instance goes (the target's ``database.restore_*``), as RDS restore arguments;
    a setting left empty is not passed (RDS then picks: the default subnet group and security group,
    the source's instance class)."""
    extra: dict = {}
    if database.restore_subnet_group:
        extra["DBSubnetGroupName"] = database.restore_subnet_group
    if database.restore_security_groups:
        extra["VpcSecurityGroupIds"] = list(database.restore_security_groups)
    if database.restore_instance_class:
        extra["DBInstanceClass"] = database.restore_instance_class
    return extra


def _requested(run, rds, identifier: str, region: str, run_dir: Path, run_id: str, action: str) -> None:
    """Before a restore is requested: the run may drill, the identifier is free, the instance is recorded."""
    guard.check(run, f"{action} into {identifier}")
    _refuse_existing(rds, identifier)
    record(run_dir, CreatedInstance(region, identifier, run_id))


def _refuse_existing(rds, identifier: str) -> None:
    from botocore.exceptions import ClientError

    try:
        rds.describe_db_instances(DBInstanceIdentifier=identifier)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "DBInstanceNotFound":
            return
        raise
    raise DRUnverifiable(f"restore into {identifier}", "an instance with that identifier already exists",
                         "refusing to touch what this run did not create")


def restore_point_in_time(rds, region: str, source_id: str, identifier: str, restore_time: datetime | None,
                          tags: list[dict], run_dir: Path, run_id: str, timeout: timedelta, *, run,
                          extra: dict | None = None) -> RestoreOutcome:
    """``restore-db-instance-to-point-in-time`` into ``identifier`` and wait until available.

    The point is fixed when the restore is requested: "latest" (``restore_time`` None) is the source's
    LatestRestorableTime read then, passed as an explicit RestoreTime, so the recorded point is the
    one restored to (read after the restore, it would have moved on with the live source).
    """
    source = rds.describe_db_instances(DBInstanceIdentifier=source_id)["DBInstances"][0]
    earliest = source.get("EarliestRestorableTime")
    latest = source.get("LatestRestorableTime")
    if restore_time is None:
        if latest is None:
            raise DRUnverifiable(f"point-in-time restore of {source_id}",
                                 "RDS reports no LatestRestorableTime (no automated backups?)")
        restore_time = _aware(latest).replace(microsecond=0)  # a whole second, recorded as requested
    if earliest and latest and not (earliest <= restore_time <= latest):
        raise DRUnverifiable(
            f"point-in-time restore of {source_id}",
            f"--dr-restore-time {isoformat(restore_time)} is outside the restorable window "
            f"{isoformat(earliest)} .. {isoformat(latest)} (InvalidRestoreFault)",
        )
    _requested(run, rds, identifier, region, run_dir, run_id, "point-in-time restore")
    rds.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier=source_id, TargetDBInstanceIdentifier=identifier, Tags=tags, MultiAZ=False,
        PubliclyAccessible=False, DeletionProtection=False, RestoreTime=restore_time, **(extra or {}))
    guard.pause_point("restore")
    waited = wait_available(rds, identifier, timeout)
    return _outcome(rds, "point-in-time", identifier, region, restore_time, source_id, waited)


def newest_snapshot(rds, source_id: str) -> dict:
    snapshots = []
    for page in rds.get_paginator("describe_db_snapshots").paginate(DBInstanceIdentifier=source_id):
        snapshots += [s for s in page["DBSnapshots"] if s.get("Status") == "available" and s.get("SnapshotCreateTime")]
    if not snapshots:
        raise DRUnverifiable(f"snapshot restore of {source_id}", "no available snapshot")
    return max(snapshots, key=lambda s: s["SnapshotCreateTime"])


def restore_snapshot(rds, region: str, source_id: str, identifier: str, tags: list[dict], run_dir: Path,
                     run_id: str, timeout: timedelta, *, run, extra: dict | None = None) -> RestoreOutcome:
    """``restore-db-instance-from-db-snapshot`` of the newest snapshot and wait until available."""
    snapshot = newest_snapshot(rds, source_id)
    _requested(run, rds, identifier, region, run_dir, run_id, "snapshot restore")
    rds.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=identifier, DBSnapshotIdentifier=snapshot["DBSnapshotIdentifier"], Tags=tags,
        MultiAZ=False, PubliclyAccessible=False, DeletionProtection=False, **(extra or {}))
    guard.pause_point("restore")
    waited = wait_available(rds, identifier, timeout)
    return _outcome(rds, "snapshot", identifier, region, snapshot["SnapshotCreateTime"],
                    snapshot["DBSnapshotIdentifier"], waited)


def newest_cross_region_copy(rds, region: str, source_id: str, source_region: str) -> dict:
    """The available copy in ``region`` of ``source_id``'s snapshots from ``source_region`` whose data is
    newest (by OriginalSnapshotCreateTime: a copy's own creation time is when it was copied)."""
    copies = []
    for page in rds.get_paginator("describe_db_snapshots").paginate():
        copies += [s for s in page["DBSnapshots"] if s.get("DBInstanceIdentifier") == source_id
                   and s.get("Status") == "available" and s.get("SnapshotCreateTime")
                   and (s.get("SourceRegion") == source_region
                        or f":{source_region}:" in (s.get("SourceDBSnapshotIdentifier") or ""))]
    if not copies:
        raise DRUnverifiable(f"cross-region snapshot restore of {source_id} in {region}",
                             f"no available copy of {source_id}'s snapshots from {source_region} in {region}")
    return max(copies, key=_data_time)


def _data_time(snapshot: dict) -> datetime:
    return _aware(snapshot.get("OriginalSnapshotCreateTime") or snapshot["SnapshotCreateTime"])


def restore_cross_region_copy(rds, region: str, source_id: str, source_region: str, identifier: str,
                              tags: list[dict], run_dir: Path, run_id: str, timeout: timedelta, *, run,
                              extra: dict | None = None) -> RestoreOutcome:
    """``restore-db-instance-from-db-snapshot`` of the newest copy of production's snapshots in the DR
    region ``region`` (``rds`` is that region's client: nothing here asks ``source_region``, which
    may be down); the restore point is the copy's original snapshot time."""
    copy = newest_cross_region_copy(rds, region, source_id, source_region)
    _requested(run, rds, identifier, region, run_dir, run_id, "cross-region snapshot restore")
    rds.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=identifier, DBSnapshotIdentifier=copy["DBSnapshotIdentifier"], Tags=tags,
        MultiAZ=False, PubliclyAccessible=False, DeletionProtection=False, **(extra or {}))
    guard.pause_point("restore")
    waited = wait_available(rds, identifier, timeout)
    return _outcome(rds, "cross-region-snapshot", identifier, region, _data_time(copy), copy["DBSnapshotIdentifier"],
                    waited)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _instant(point) -> str:
    """The point as ISO-8601, to the microsecond when it has any (never rounded to a later or earlier second)."""
    if not isinstance(point, datetime):
        return str(point)
    point = _aware(point)
    return isoformat(point) if not point.microsecond else point.isoformat().replace("+00:00", "Z")


def _outcome(rds, method, identifier, region, point, source, waited) -> RestoreOutcome:
    instance = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    endpoint = instance["Endpoint"]
    return RestoreOutcome(method, identifier, region, endpoint["Address"], int(endpoint["Port"]),
                          _instant(point), source, round(waited, 2))


def restore_once(run_dir: Path, method: str, perform) -> RestoreOutcome:
    """Run ``perform()`` once per run (across xdist workers); later callers get the same outcome."""
    run_dir.mkdir(parents=True, exist_ok=True)
    result_file = run_dir / f"restore-{method}.json"
    with open(run_dir / f"restore-{method}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if result_file.exists():
            outcome = RestoreOutcome(**json.loads(result_file.read_text()))
        else:
            try:
                outcome = perform()
            except DRUnverifiable as exc:  # RegionDown included: kept as such for every worker
                outcome = RestoreOutcome(method, "", "", "", 0, "", "", 0.0, error=str(exc),
                                         down_region=exc.region if isinstance(exc, RegionDown) else None)
            except Exception as exc:  # botocore and friends: one line, never a traceback wall
                outcome = RestoreOutcome(method, "", "", "", 0, "", "", 0.0,
                                         error=f"could not verify: {method} restore: {_rds_error(exc)}")
            result_file.write_text(json.dumps(asdict(outcome)))
    if outcome.error:
        raise _error_of(outcome)
    return outcome


def _error_of(outcome: RestoreOutcome) -> DRUnverifiable:
    """The recorded error as it was raised: a lost region's outage stays ``RegionDown``."""
    if outcome.down_region:
        down = RegionDown(outcome.down_region, "", "")
        down.args, down.reason = (outcome.error,), outcome.error
        return down
    return DRUnverifiable.from_message(outcome.error)
