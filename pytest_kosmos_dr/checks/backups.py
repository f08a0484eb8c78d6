"""Backup strategy of the database: replication, snapshots, point-in-time retention, cross-region
copies (BAK-DB-*). The agent-state bucket (BAK-AGENT-*) is ``checks.agent_backups``.

Listings are paginated once and evaluated locally (``list_*`` below); every AWS call goes through
``clients.aws.call`` so an error is "could not verify" with one line. Times are measured against a
*reference*: the incident start when one is known (after a regional outage the primary stops
taking backups, so "now" would blame the plan for the outage itself), else now.

While the primary region is down (its RDS raises ``RegionDown``) the same facts are read in the DR
region where it holds them: the snapshot copies (hourly cadence, by their original snapshot time),
the DR instance's own retention and the replicated automated backups' restore window. Only what no
DR-region source holds stays ``RegionDown`` ("not verifiable while <region> is down").

The criteria take ``ProductionBackups`` (what was read, ``down`` set while the primary region is
down) plus keyword-only limits, and choose between the two readings themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Sequence

from ..clients.aws import call, describe_error
from ..errors import DRUnverifiable, RegionDown
from ..results import CheckResult, Evidence
from ..target import BackupSettings
from ..timeparse import format_duration, isoformat, utcnow
from .integrity import Contract, ident, read_catalog, span, timestamped_tables

# The target's defaults (backups.snapshot_window: the hours BAK-DB-SNAPSHOTS-HOURLY judges;
# backups.pitr_slack: how soon after its creation a young instance's first backup must be).
_BACKUPS = BackupSettings()
# Automated backups are taken once a day (an RDS fact), so with a retention of N days the oldest one
# kept can be up to a day inside the N-day window; the earliest restorable time may fall short by that much.
DAILY_BACKUP_CYCLE = timedelta(days=1)
REPLICA_LAG_METRIC_WINDOW = timedelta(minutes=10)


# -- reference time -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reference:
    """The instant ages are measured against, and how to name it in a summary."""

    at: datetime
    label: str  # "the incident start" | "now"

    @classmethod
    def of(cls, incident_start: datetime | None, now: datetime | None = None) -> "Reference":
        if incident_start is not None:
            return cls(incident_start, "the incident start")
        return cls(now or utcnow(), "now")

    def describe(self) -> str:
        return f"{self.label} {isoformat(self.at)}"


def _aware(value: datetime) -> datetime:
    if value.tzinfo is timezone.utc:  # already what the conversion gives (listings: tens of thousands)
        return value
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _age(reference: Reference, at: datetime) -> timedelta:
    """How long before the reference ``at`` lies (callers pass only instants at or before it)."""
    return reference.at - at


def _grace_limit(interval: timedelta, grace: timedelta) -> str:
    return f"{format_duration(interval + grace)} ({format_duration(interval)} + {format_duration(grace)} grace)"


# -- what the primary region answered ----------------------------------------------------------------
@dataclass(frozen=True)
class PrimaryRead:
    """A read of the primary region: its ``value``, or ``down`` (the ``RegionDown``) when the region
    answered like a regional outage. Any other error is raised as it is."""

    value: Any = None
    down: RegionDown | None = None

    @classmethod
    def of(cls, read: Callable[[], Any]) -> "PrimaryRead":
        try:
            return cls(read())
        except RegionDown as down:
            return cls(None, down)

    def get(self) -> Any:
        if self.down is not None:
            raise self.down
        return self.value


@dataclass(frozen=True)
class ProductionBackups:
    """Production's backups as one BAK-DB-* criterion reads them (plain data: ``dr_rds`` reads them,
    a unit test writes them). ``down``: why the primary region's API could not be read (its
    ``RegionDown``), else None; the criteria then judge the secondary region's fields. A field the
    criterion does not read is left empty (never a pass: an empty listing fails)."""

    production_id: str
    primary: str
    secondary: str
    production: dict | None = None  # described in the primary region; None: RDS has no such instance
    resource_id: str | None = None  # production's DbiResourceId; None: unknown (backups matched by name)
    automated_backups: Sequence[dict] = ()  # production's, in the primary region
    snapshots: Sequence[dict] = ()  # production's, in the primary region
    secondary_snapshots: Sequence[dict] = ()  # every snapshot in the secondary region (the copies among them)
    secondary_automated_backups: Sequence[dict] = ()  # the secondary region's (replicated ones among them)
    dr_id: str = ""
    dr_instance: dict | None = None  # described in the secondary region; None: RDS has no such instance
    down: RegionDown | None = None


def copied_from(snapshot: dict, region: str) -> bool:
    """A cross-region copy whose source snapshot lives in ``region``."""
    return snapshot.get("SourceRegion") == region or f":{region}:" in (snapshot.get("SourceDBSnapshotIdentifier") or "")


# -- listings (paginated, wrapped) --------------------------------------------------------------------
def _paginate(what: str, client, operation: str, key: str, **kwargs) -> list[dict]:
    def collect():
        return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page.get(key, [])]

    return call(what, collect)


def list_snapshots(rds, instance: str | None, region: str) -> list[dict]:
    """Every DB snapshot (automated, manual, AWS Backup) of ``instance`` (or all, when None) in ``region``."""
    kwargs = {"DBInstanceIdentifier": instance} if instance else {}
    what = f"RDS DescribeDBSnapshots {instance or '(all)'} in {region}"
    return _paginate(what, rds, "describe_db_snapshots", "DBSnapshots", **kwargs)


def list_automated_backups(rds, region: str, instance: str | None = None) -> list[dict]:
    """Automated backups (retained and replicated ones included) in ``region``."""
    kwargs = {"DBInstanceIdentifier": instance} if instance else {}
    what = f"RDS DescribeDBInstanceAutomatedBackups {instance or '(all)'} in {region}"
    return _paginate(what, rds, "describe_db_instance_automated_backups", "DBInstanceAutomatedBackups", **kwargs)


def describe_instance(rds, identifier: str, region: str) -> dict | None:
    """The instance, or None when RDS says there is no such instance (other errors: could not verify)."""
    try:
        return rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    except DRUnverifiable:  # RegionDown from a lost region's client stays what it is
        raise
    except Exception as exc:  # botocore raises many unrelated classes
        code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
        if code == "DBInstanceNotFound":
            return None
        _, reason = describe_error(exc)
        raise DRUnverifiable(f"RDS DescribeDBInstances {identifier} in {region}", reason) from None


# -- BAK-DB-REPLICATION ---------------------------------------------------------------------------------
def _replication_status(instance: dict) -> dict | None:
    """The ``read replication`` entry of the instance's StatusInfos (AWS reports it for read replicas)."""
    for info in instance.get("StatusInfos") or []:
        if (info or {}).get("StatusType") == "read replication":
            return info
    return None


def replication(rds, cloudwatch, conn, replica_id: str, production_id: str, region: str,
                incident_start: datetime | None, *, rpo: timedelta, where: str, database=None,
                described=None) -> CheckResult:
    """BAK-DB-REPLICATION: a replica of production exists in ``region`` and lags by at most the RPO.

    Still replicating: the replica's StatusInfos must say ``replicating`` (an ``available`` instance
    whose replication stopped is no replica), then CloudWatch ``ReplicaLag`` (max of the last 10 min),
    else the replica's ``now() - pg_last_xact_replay_timestamp()``. Promoted (no replication source
    any more): it must have existed before the incident (one created after it never replicated
    production), and the lag is the incident start minus the newest write committed at or before it
    in the DR database ``conn`` (over the target's written tables, ``database.window_tables``, by
    their write timestamp; ``database``: the target's ``[database]`` settings). ``described``: the replica's
    ``describe_instance`` already started (its ``result()``: the instance, None, or the error it raised).
    """
    instance = described.result() if described is not None else describe_instance(rds, replica_id, region)
    described = (f"aws rds describe-db-instances --region {region} --db-instance-identifier {replica_id} "
                 "--query 'DBInstances[0].[DBInstanceStatus,ReadReplicaSourceDBInstanceIdentifier,StatusInfos,"
                 "InstanceCreateTime]'")
    if instance is None:
        return CheckResult(False, f"no DB instance {replica_id} in {region}: production {production_id} has no "
                           f"replica there (limit: lag <= {format_duration(rpo)})", measured=None, limit=rpo,
                           offenders=[replica_id], evidence=[Evidence("replica instance", described, "DBInstanceNotFound")])
    source = instance.get("ReadReplicaSourceDBInstanceIdentifier") or ""
    status = instance.get("DBInstanceStatus")
    replicating = _replication_status(instance)
    created = _aware(instance["InstanceCreateTime"]) if instance.get("InstanceCreateTime") else None
    evidence = [Evidence("replica instance", described, f"status={status} ReadReplicaSource={source or '-'} "
                         f"StatusInfos[read replication]={replicating or '-'} created={created}")]
    if source:
        if source.split(":")[-1] != production_id:
            return CheckResult(False, f"{replica_id} ({region}) replicates {source}, not production {production_id}",
                               measured=source, limit=production_id, offenders=[replica_id], evidence=evidence)
        if replicating is not None and (replicating.get("Status") != "replicating" or replicating.get("Normal") is False):
            said = replicating.get("Status") or "unknown"
            message = f": {replicating['Message']}" if replicating.get("Message") else ""
            return CheckResult(False, f"{replica_id} ({region}) is {status} but its replication of {production_id} "
                               f"is {said!r}{message} (required: replicating, lag <= {format_duration(rpo)})",
                               measured=said, limit="replicating", offenders=[replica_id], evidence=evidence)
        lag, method = _streaming_lag(cloudwatch, conn, replica_id, region, where, evidence)
        if lag is None:
            return CheckResult(False, f"{replica_id} ({region}) reports ReplicaLag -1: replication of "
                               f"{production_id} is not active ({method}), limit {format_duration(rpo)} (RPO)",
                               measured=None, limit=rpo, offenders=[replica_id], evidence=evidence)
        state = f"{replica_id} ({region}) replicating {production_id}"
    else:
        if incident_start is None:
            return CheckResult(False, f"{replica_id} ({region}) is not replicating (status {status}, no replication "
                               "source) and no incident start is known: production has no live replica",
                               measured=None, limit=rpo, offenders=[replica_id], evidence=evidence)
        if created is None or created > incident_start:
            when = f"created {isoformat(created)}" if created else "no InstanceCreateTime"
            return CheckResult(False, f"{replica_id} ({region}) has no replication source and was {when}, after "
                               f"the incident start {isoformat(incident_start)}: it is not the replica that replicated "
                               f"{production_id} before the incident", measured=created, limit=incident_start,
                               offenders=[replica_id], evidence=evidence)
        lag, method = _lag_at_incident(conn, incident_start, where, evidence, Contract.of(database))
        state = f"{replica_id} ({region}) promoted"
        if lag is None:
            return CheckResult(False, f"{state}: the DR database {where} holds no write at or before the incident "
                               f"start {isoformat(incident_start)} ({method})", measured=None, limit=rpo,
                               offenders=[replica_id], evidence=evidence)
    summary = f"{state}: replication lag {format_duration(lag)} ({method}), limit {format_duration(rpo)} (RPO)"
    passed = lag <= rpo
    return CheckResult(passed, summary, measured=lag, limit=rpo, offenders=[] if passed else [replica_id],
                       evidence=evidence)


def _streaming_lag(cloudwatch, conn, replica_id: str, region: str, where: str,
                   evidence: list[Evidence]) -> tuple[timedelta | None, str]:
    """(lag, method); lag None when ReplicaLag says replication is not active (-1)."""
    end = utcnow()
    start = end - REPLICA_LAG_METRIC_WINDOW
    stats = call(f"CloudWatch ReplicaLag {replica_id} in {region}", cloudwatch.get_metric_statistics,
                 Namespace="AWS/RDS", MetricName="ReplicaLag",
                 Dimensions=[{"Name": "DBInstanceIdentifier", "Value": replica_id}],
                 StartTime=start, EndTime=end, Period=60, Statistics=["Maximum"])
    points = sorted(stats.get("Datapoints", []), key=lambda p: p["Timestamp"])
    evidence.append(Evidence("ReplicaLag metric", f"aws cloudwatch get-metric-statistics --region {region} "
                             f"--namespace AWS/RDS --metric-name ReplicaLag --dimensions Name=DBInstanceIdentifier,"
                             f"Value={replica_id} --start-time {isoformat(start)} --end-time {isoformat(end)} "
                             "--period 60 --statistics Maximum",
                             "\n".join(f"{p['Timestamp']}  {p['Maximum']} s" for p in points) or "no datapoints"))
    if points:
        if min(p["Maximum"] for p in points) < 0:
            return None, "CloudWatch ReplicaLag -1 in the last 10 min"
        return timedelta(seconds=max(p["Maximum"] for p in points)), "CloudWatch ReplicaLag, max of the last 10 min"
    sql = "SELECT pg_is_in_recovery(), now() - pg_last_xact_replay_timestamp()"
    recovering, lag = _query(conn, sql, None, where).fetchone()
    evidence.append(Evidence("replay position", f"{sql}  -- on {where}", f"in recovery={recovering}, lag={lag}"))
    if not recovering or lag is None:
        raise DRUnverifiable(f"replication lag of {replica_id}", "no ReplicaLag datapoints, and the DR database "
                             f"{where} is not the replica (pg_is_in_recovery() = {recovering})")
    return lag, "now() - pg_last_xact_replay_timestamp() on the replica; overstates the lag while production is idle"


def _query(conn, sql: str, params, where: str):
    """Run one read-only query on the DR database; a database error is "could not verify"."""
    import psycopg

    try:
        return conn.execute(sql, params)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DRUnverifiable(f"DR database {where}", reason) from None


def _lag_at_incident(conn, incident_start: datetime, where: str, evidence: list[Evidence],
                     contract: Contract) -> tuple[timedelta | None, str]:
    """Over the target's continuously written tables (database.window_tables) the DR database has."""
    import psycopg

    stamp, schema = contract.write_timestamp, contract.schema
    try:
        present = set(timestamped_tables(read_catalog(conn, schema), contract))
    except psycopg.Error as exc:
        raise DRUnverifiable(f"DR database {where}", str(exc).strip().splitlines()[0] if str(exc).strip()
                             else type(exc).__name__) from None
    tables = [t for t in contract.window_tables if t in present]
    if not tables:
        named = ", ".join(contract.window_tables) or "none (database.window_tables is empty)"
        evidence.append(Evidence("newest committed write per table", f"catalog of schema {schema} on {where}",
                                 f"written tables named by the target: {named}; with a {stamp} column in schema "
                                 f"{schema}: none"))
        return None, f"none of its written tables ({named}) is in schema {schema} with a {stamp} column"
    parts = " UNION ALL ".join(f"SELECT '{table.replace(chr(39), chr(39) * 2)}', max({ident(stamp)}) FROM "
                               f"{ident(schema)}.{ident(table)} WHERE {ident(stamp)} <= %(t)s" for table in tables)
    rows = _query(conn, parts, {"t": incident_start}, where).fetchall()
    evidence.append(Evidence("newest committed write per table",
                             f"{parts.replace('%(t)s', repr(isoformat(incident_start)))}  -- on {where}\n"
                             f"(shell: psql -c \"SELECT max({stamp}) FROM <table> WHERE {stamp} <= "
                             f"'{isoformat(incident_start)}'\")",
                             "\n".join(f"{table}: {newest}" for table, newest in rows)))
    known = [newest for _, newest in rows if newest is not None]
    method = "incident start minus the newest committed write in the DR database"
    if not known:
        return None, method
    newest = max(known)
    return max(timedelta(0), incident_start - newest), f"{method}, {isoformat(newest)}"


# -- BAK-DB-SNAPSHOTS-HOURLY ----------------------------------------------------------------------------
def _snapshot_time(snapshot: dict) -> datetime:
    """When the snapshot's data was taken: a copy keeps its source's time in OriginalSnapshotCreateTime."""
    return _aware(snapshot.get("OriginalSnapshotCreateTime") or snapshot["SnapshotCreateTime"])


def _usable(snapshots: list[dict]) -> list[dict]:
    return [s for s in snapshots if s.get("Status") == "available" and s.get("SnapshotCreateTime")]


def _snapshots_of(snapshots: list[dict], instance: str, resource_id: str | None) -> tuple[list[dict], list[str]]:
    """(usable snapshots of ``instance``, oldest first; why the other listed ones do not count).

    Usable: of that instance (and of its current incarnation, when its DbiResourceId is known: an
    instance deleted and recreated under the same name leaves the old one's snapshots listed under
    the name), status ``available``, with a creation time.
    """
    usable, other_instance, earlier, waiting, untimed = [], [], [], {}, 0
    for snapshot in snapshots:
        owner = snapshot.get("DBInstanceIdentifier")
        if owner != instance:
            other_instance.append(owner or "-")
        elif resource_id and snapshot.get("DbiResourceId") != resource_id:
            earlier.append(snapshot.get("DbiResourceId") or "-")
        elif snapshot.get("Status") != "available":
            status = snapshot.get("Status") or "no status"
            waiting[status] = waiting.get(status, 0) + 1
        elif not snapshot.get("SnapshotCreateTime"):
            untimed += 1
        else:
            usable.append(snapshot)
    ignored = []
    if other_instance:
        ignored.append(f"{len(other_instance)} of other instances ({', '.join(sorted(set(other_instance))[:3])})")
    if earlier:
        ignored.append(f"{len(earlier)} of an earlier instance named {instance} (DbiResourceId "
                       f"{', '.join(sorted(set(earlier))[:3])}, not the current {resource_id})")
    if waiting:
        ignored.append(f"{sum(waiting.values())} not available ("
                       + ", ".join(f"{status}: {n}" for status, n in sorted(waiting.items())) + ")")
    if untimed:
        ignored.append(f"{untimed} without SnapshotCreateTime")
    return sorted(usable, key=_snapshot_time), ignored


def _not_counted(ignored: list[str]) -> str:
    return f"; not counted: {'; '.join(ignored)}" if ignored else ""


def snapshots_hourly(backups: ProductionBackups, *, reference: Reference, interval: timedelta,
                     grace: timedelta, window: timedelta = _BACKUPS.snapshot_window) -> CheckResult:
    """BAK-DB-SNAPSHOTS-HOURLY on production's snapshots in the primary region; while it is down
    (``backups.down``), on their copies in the secondary region (``_snapshots_hourly_from_copies``)."""
    if backups.down is None:
        return _snapshot_cadence(backups.snapshots, backups.production_id, backups.primary, reference,
                                 interval=interval, grace=grace, resource_id=backups.resource_id, window=window)
    return _snapshots_hourly_from_copies(backups.secondary_snapshots, backups.production_id, backups.primary,
                                         backups.secondary, reference, interval=interval, grace=grace,
                                         down=backups.down, resource_id=backups.resource_id, window=window)


def _snapshot_cadence(snapshots: Sequence[dict], instance: str, region: str, reference: Reference, *,
                      interval: timedelta, grace: timedelta, resource_id: str | None = None,
                      read_from: tuple[str, str] | None = None,
                      window: timedelta = _BACKUPS.snapshot_window) -> CheckResult:
    """BAK-DB-SNAPSHOTS-HOURLY over one listing: the newest snapshot holding data at or before the reference
    is at most interval + grace old; no gap between consecutive snapshots in the ``window`` (backups.snapshot_window)
    before the reference exceeds interval + grace. Only available snapshots of ``instance`` (of its current incarnation,
    ``resource_id`` = its DbiResourceId, when known) count; a copy counts by its data's time.
    ``read_from`` = (the listing's command, why it was read there) when not listed in ``region``."""
    limit = interval + grace
    usable, ignored = _snapshots_of(snapshots, instance, resource_id)
    asked = (f"aws rds describe-db-snapshots --region {region} --db-instance-identifier {instance} "
             "--query 'DBSnapshots[].[OriginalSnapshotCreateTime,SnapshotCreateTime,Status,DbiResourceId,"
             "SnapshotType,DBSnapshotIdentifier]'")
    source = ""
    if read_from is not None:
        asked, source = read_from[0], f"; {read_from[1]}"
    if window <= timedelta(0):
        raise DRUnverifiable("BAK-DB-SNAPSHOTS-HOURLY", f"snapshot window {format_duration(window)}: no hours to judge",
                             "set backups.snapshot_window")
    span_text = span(window)
    window_start = reference.at - window
    at_or_before = [s for s in usable if _snapshot_time(s) <= reference.at]
    in_window = [s for s in at_or_before if window_start <= _snapshot_time(s)]
    before = [s for s in at_or_before if _snapshot_time(s) < window_start]
    lines = [f"{isoformat(_snapshot_time(s))}  {s.get('SnapshotType')}  {s['DBSnapshotIdentifier']}" for s in in_window]
    evidence = [Evidence(f"snapshots of {instance}", asked,
                         f"{len(usable)} usable of {len(snapshots)} listed{_not_counted(ignored)}; in the {span_text} "
                         f"before {reference.describe()}:\n" + ("\n".join(lines) or "none"))]
    every = _grace_limit(interval, grace)
    if not at_or_before:
        later = f" ({len(usable)} taken after it)" if usable else ""
        return CheckResult(False, f"{instance} ({region}) has no available snapshot at or before "
                           f"{reference.describe()}{later}{_not_counted(ignored)}, limit one every {every}{source}",
                           measured=None, limit=limit, offenders=[instance], evidence=evidence)
    newest = at_or_before[-1]
    newest_age = _age(reference, _snapshot_time(newest))
    offenders = []
    if newest_age > limit:
        offenders.append(f"newest snapshot {newest['DBSnapshotIdentifier']} {format_duration(newest_age)} before "
                         f"{reference.label}")
    chain = ([before[-1]] if before else []) + in_window
    for older, newer in zip(chain, chain[1:]):
        gap = _snapshot_time(newer) - _snapshot_time(older)
        if gap > limit:
            offenders.append(f"gap of {format_duration(gap)} between {isoformat(_snapshot_time(older))} and "
                             f"{isoformat(_snapshot_time(newer))}")
    widest = max((_snapshot_time(b) - _snapshot_time(a) for a, b in zip(chain, chain[1:])), default=timedelta(0))
    measured = {"newest_age": newest_age, "widest_gap": widest, "snapshots_in_window": len(in_window), "window": window}
    if offenders:
        return CheckResult(False, f"{instance} ({region}) snapshots: " + "; ".join(offenders) + ", limit "
                           f"{every}{_not_counted(ignored)}{source}", measured=measured, limit=limit,
                           offenders=offenders, evidence=evidence)
    return CheckResult(True, f"{instance} ({region}): newest snapshot {format_duration(newest_age)} before "
                       f"{reference.label}, widest gap in the {span_text} before it {format_duration(widest)} over "
                       f"{len(in_window)} snapshots, limit {every}{source}",
                       measured=measured, limit=limit, evidence=evidence)


def _snapshots_hourly_from_copies(snapshots: Sequence[dict], instance: str, primary: str, secondary: str,
                                  reference: Reference, *, interval: timedelta, grace: timedelta,
                                  down: RegionDown, resource_id: str | None = None,
                                  window: timedelta = _BACKUPS.snapshot_window) -> CheckResult:
    """BAK-DB-SNAPSHOTS-HOURLY while ``primary`` is down: the same cadence read from the copies of
    ``instance``'s snapshots in ``secondary`` (``snapshots`` = that region's listing), each by its
    OriginalSnapshotCreateTime. A gap there is a gap in what the DR region can restore. With no copy
    of ``instance`` there, nothing in the DR region holds the fact: ``down`` is raised."""
    copies = [s for s in snapshots if copied_from(s, primary)]
    if not any(s.get("DBInstanceIdentifier") == instance for s in copies):
        raise RegionDown(down.region, f"snapshots of {instance} ({down.what})",
                         f"{down.reason}; {secondary} holds no copy of them ({len(copies)} copies from {primary} "
                         f"among {len(snapshots)} snapshots listed there)")
    asked = (f"aws rds describe-db-snapshots --region {secondary} --query \"DBSnapshots[?SourceRegion=='{primary}' && "
             f"DBInstanceIdentifier=='{instance}'].[OriginalSnapshotCreateTime,SnapshotCreateTime,Status,DbiResourceId,"
             "SnapshotType,DBSnapshotIdentifier]\"")
    matched = "" if resource_id else ", matched by name"
    why = (f"read from the copies in {secondary} by their original snapshot time{matched}: {primary} is down "
           f"({down.reason})")
    return _snapshot_cadence(copies, instance, primary, reference, interval=interval, grace=grace,
                             resource_id=resource_id, read_from=(asked, why), window=window)


# -- BAK-DB-PITR-RETENTION --------------------------------------------------------------------------
def pitr_retention(backups: ProductionBackups, *, retention: timedelta, now: datetime | None = None,
                   slack: timedelta = _BACKUPS.pitr_slack) -> CheckResult:
    """BAK-DB-PITR-RETENTION on production and the DR instance; while the primary region is down
    (``backups.down``), read in the secondary region (``_pitr_retention_in_dr_region``)."""
    if backups.down is None:
        return _pitr_retention_in_primary(backups.production, backups.production_id, backups.primary,
                                          backups.dr_instance, backups.dr_id, backups.secondary,
                                          backups.automated_backups, backups.snapshots, retention=retention,
                                          now=now, slack=slack)
    return _pitr_retention_in_dr_region(backups.dr_instance, backups.dr_id, backups.secondary, backups.production_id,
                                        backups.primary, backups.secondary_automated_backups, retention=retention,
                                        down=backups.down, now=now, slack=slack)


def _pitr_retention_in_primary(production: dict | None, production_id: str, primary: str, dr_instance: dict | None,
                               dr_id: str, secondary: str, automated_backups: Sequence[dict],
                               snapshots: Sequence[dict], *, retention: timedelta, now: datetime | None,
                               slack: timedelta) -> CheckResult:
    """BAK-DB-PITR-RETENTION: BackupRetentionPeriod >= the retention on production (and on the DR
    instance once it is promoted), and production's earliest restorable time reaches back the
    retention, or, when it is younger, to within ``slack`` (backups.pitr_slack) of its creation."""
    now = now or utcnow()
    days = retention.days
    offenders: list[str] = []
    lines: list[str] = []
    asked = (f"aws rds describe-db-instances --region {primary} --db-instance-identifier {production_id} "
             "--query 'DBInstances[0].[BackupRetentionPeriod,InstanceCreateTime]'; "
             f"aws rds describe-db-instance-automated-backups --region {primary} --db-instance-identifier "
             f"{production_id} --query 'DBInstanceAutomatedBackups[].RestoreWindow'; "
             f"aws rds describe-db-snapshots --region {primary} --db-instance-identifier {production_id} "
             "--snapshot-type automated")
    if production is None:
        return CheckResult(False, f"production instance {production_id} not found in {primary}: no point-in-time "
                           f"recovery, limit {days} d", measured=None, limit=retention, offenders=[production_id],
                           evidence=[Evidence("production instance", asked, "DBInstanceNotFound")])
    checked = [(production, production_id, primary)]
    if dr_instance is not None and not dr_instance.get("ReadReplicaSourceDBInstanceIdentifier"):
        checked.append((dr_instance, dr_id, secondary))  # promoted: it is the live database now
    periods = {}
    for instance, ident, region in checked:
        period = int(instance.get("BackupRetentionPeriod") or 0)
        periods[ident] = period
        lines.append(f"{ident} ({region}): BackupRetentionPeriod={period}")
        if period < days:
            offenders.append(f"{ident} ({region}) BackupRetentionPeriod {period} d")
    created = _aware(production["InstanceCreateTime"]) if production.get("InstanceCreateTime") else None
    resource_id = production.get("DbiResourceId")
    windows = [_aware(b["RestoreWindow"]["EarliestTime"]) for b in automated_backups
               if b.get("DBInstanceIdentifier") == production_id and (b.get("RestoreWindow") or {}).get("EarliestTime")
               and b.get("Region", primary) == primary
               and not (resource_id and b.get("DbiResourceId") and b["DbiResourceId"] != resource_id)]
    own, ignored = _snapshots_of(snapshots, production_id, resource_id)
    automated = [_snapshot_time(s) for s in own if s.get("SnapshotType") == "automated"]
    if windows:
        earliest, source = min(windows), "automated backup RestoreWindow"
    elif automated:
        earliest, source = min(automated), "oldest automated snapshot; no RestoreWindow reported"
    else:
        earliest, source = None, "no automated backup or snapshot"
    lines.append(f"InstanceCreateTime={isoformat(created) if created else '-'} DbiResourceId={resource_id or '-'}; "
                 f"earliest restorable={isoformat(earliest) if earliest else '-'} ({source}){_not_counted(ignored)}")
    required = now - retention
    young = created is not None and created > required
    reach = None
    if earliest is None:
        offenders.append(f"{production_id} has no restorable time ({source}{_not_counted(ignored)})")
    else:
        if young:
            reach_ok = earliest <= created + slack
            target = f"the instance's creation {isoformat(created)} (+ {format_duration(slack)})"
            reach = now - min(earliest, created)
        else:
            reach_ok = earliest <= required + DAILY_BACKUP_CYCLE
            target = f"{days} d back"
            reach = now - earliest
        if not reach_ok:
            offenders.append(f"earliest restorable time {isoformat(earliest)} reaches back only "
                             f"{format_duration(now - earliest)}, not to {target}")
    evidence = [Evidence("retention and restore window", asked, "\n".join(lines))]
    measured = {"retention_days": periods, "reach": reach}
    periods_text = ", ".join(f"{ident} {p} d" for ident, p in periods.items())
    if offenders:
        return CheckResult(False, "point-in-time recovery short of " f"{days} d: " + "; ".join(offenders)
                           + f" (limit BackupRetentionPeriod >= {days} d)", measured=measured, limit=retention,
                           offenders=offenders, evidence=evidence)
    reach_text = (f"to the instance's creation {format_duration(now - created)} ago (younger than {days} d)"
                  if young else f"{format_duration(reach)} back")
    return CheckResult(True, f"BackupRetentionPeriod {periods_text}, limit >= {days} d; earliest restorable "
                       f"time reaches {reach_text} ({source})", measured=measured, limit=retention, evidence=evidence)


def _replicated_backups_of(automated_backups: list[dict], production_id: str, primary: str,
                           resource_id: str | None = None) -> tuple[list[dict], list[str]]:
    """(replicated automated backups of production from ``primary`` that count, why others do not)."""
    replicated, skipped = [], []
    for backup in automated_backups:
        if backup.get("DBInstanceIdentifier") != production_id or not (
                backup.get("Region") == primary or f":{primary}:" in (backup.get("DBInstanceArn") or "")):
            continue
        if resource_id and backup.get("DbiResourceId") and backup["DbiResourceId"] != resource_id:
            skipped.append(f"replicated automated backup of an earlier {production_id} ({backup['DbiResourceId']})")
        elif backup.get("Status") and backup["Status"] not in REPLICATED_BACKUP_STATES:
            skipped.append(f"replicated automated backup in status {backup['Status']}")
        else:
            replicated.append(backup)
    return replicated, skipped


def _pitr_retention_in_dr_region(dr_instance: dict | None, dr_id: str, secondary: str, production_id: str,
                                 primary: str, automated_backups: Sequence[dict], *, retention: timedelta,
                                 down: RegionDown, now: datetime | None = None,
                                 slack: timedelta = _BACKUPS.pitr_slack) -> CheckResult:
    """BAK-DB-PITR-RETENTION while ``primary`` is down, read in ``secondary``: the promoted DR
    instance's own BackupRetentionPeriod, and production's replicated automated backup there
    (``automated_backups`` = that region's listing): its BackupRetentionPeriod >= the retention and
    its RestoreWindow reaching back the retention (or to production's creation when younger).
    Without a replicated backup, production's restore window is kept only in the lost region:
    ``RegionDown`` (after failing on a DR-instance retention that is already too short)."""
    now = now or utcnow()
    days = retention.days
    offenders: list[str] = []
    lines: list[str] = []
    periods: dict[str, int] = {}
    asked = (f"aws rds describe-db-instances --region {secondary} --db-instance-identifier {dr_id} "
             "--query 'DBInstances[0].[BackupRetentionPeriod,ReadReplicaSourceDBInstanceIdentifier]'; "
             f"aws rds describe-db-instance-automated-backups --region {secondary} --query \"DBInstanceAutomatedBackups"
             f"[?Region=='{primary}'].[DBInstanceIdentifier,Status,BackupRetentionPeriod,RestoreWindow,"
             "InstanceCreateTime,DbiResourceId]\"")
    if dr_instance is None:
        lines.append(f"{dr_id} ({secondary}): not found")
    elif dr_instance.get("ReadReplicaSourceDBInstanceIdentifier"):
        lines.append(f"{dr_id} ({secondary}): still a read replica of "
                     f"{dr_instance['ReadReplicaSourceDBInstanceIdentifier']} (its own retention is not yet the live one)")
    else:
        period = int(dr_instance.get("BackupRetentionPeriod") or 0)
        periods[dr_id] = period
        lines.append(f"{dr_id} ({secondary}, promoted): BackupRetentionPeriod={period}")
        if period < days:
            offenders.append(f"{dr_id} ({secondary}) BackupRetentionPeriod {period} d")
    replicated, ignored = _replicated_backups_of(automated_backups, production_id, primary)
    newest = max(replicated, key=lambda b: _aware((b.get("RestoreWindow") or {}).get("LatestTime")
                                                     or datetime.min), default=None)
    lines.append(f"replicated automated backups of {production_id} from {primary}: {len(replicated)} of "
                 f"{len(automated_backups)} listed{_not_counted(ignored)}")
    reach = None
    earliest = None
    if newest is not None:
        period = int(newest.get("BackupRetentionPeriod") or 0)
        periods[f"{production_id} (replicated to {secondary})"] = period
        earliest_raw = (newest.get("RestoreWindow") or {}).get("EarliestTime")
        earliest = _aware(earliest_raw) if earliest_raw else None
        created = _aware(newest["InstanceCreateTime"]) if newest.get("InstanceCreateTime") else None
        lines.append(f"newest: status={newest.get('Status') or '-'} BackupRetentionPeriod={period} "
                     f"RestoreWindow={newest.get('RestoreWindow') or '-'} InstanceCreateTime="
                     f"{isoformat(created) if created else '-'} DbiResourceId={newest.get('DbiResourceId') or '-'}")
        if period < days:
            offenders.append(f"replicated automated backup of {production_id} in {secondary} BackupRetentionPeriod "
                             f"{period} d")
        if earliest is None:
            offenders.append(f"replicated automated backup of {production_id} in {secondary} reports no restore window")
        else:
            required = now - retention
            young = created is not None and created > required
            if young:
                reach_ok, target, reach = earliest <= created + slack, \
                    f"{production_id}'s creation {isoformat(created)} (+ {format_duration(slack)})", \
                    now - min(earliest, created)
            else:
                reach_ok, target, reach = earliest <= required + DAILY_BACKUP_CYCLE, f"{days} d back", now - earliest
            if not reach_ok:
                offenders.append(f"earliest restorable time {isoformat(earliest)} in {secondary} reaches back only "
                                 f"{format_duration(now - earliest)}, not to {target}")
    where = f"read in {secondary}: {primary} is down ({down.reason})"
    evidence = [Evidence(f"retention and restore window in {secondary}", asked, "\n".join(lines))]
    measured = {"retention_days": periods, "reach": reach}
    periods_text = ", ".join(f"{ident} {p} d" for ident, p in periods.items())
    if offenders:
        return CheckResult(False, f"point-in-time recovery short of {days} d: " + "; ".join(offenders)
                           + f" (limit BackupRetentionPeriod >= {days} d; {where})", measured=measured,
                           limit=retention, offenders=offenders, evidence=evidence)
    if newest is None:
        checked = f"; {dr_id}'s own BackupRetentionPeriod {periods[dr_id]} d checked" if dr_id in periods else ""
        raise RegionDown(down.region, f"point-in-time window of {production_id} ({down.what})",
                         f"{down.reason}; {secondary} holds no replicated automated backup of it, so its restore "
                         f"window is kept only in {primary}{_not_counted(ignored)}{checked}")
    return CheckResult(True, f"BackupRetentionPeriod {periods_text}, limit >= {days} d; earliest restorable time "
                       f"{isoformat(earliest)} reaches {format_duration(reach)} back (replicated automated backup "
                       f"RestoreWindow; {where})", measured=measured, limit=retention, evidence=evidence)


# -- BAK-DB-CROSS-REGION ------------------------------------------------------------------------------
REPLICATED_BACKUP_STATES = ("replicating", "active", "retained")


def cross_region(backups: ProductionBackups, *, reference: Reference, interval: timedelta,
                 grace: timedelta) -> CheckResult:
    """BAK-DB-CROSS-REGION: copies of production's snapshots (or replicated automated backups) exist in
    the secondary region, the newest holding data at or before the reference at most interval + grace
    older than it. Only available copies from the primary region of production (of its current
    incarnation, ``backups.resource_id`` = its DbiResourceId, when known) count, by their data's time.
    Read in the secondary region only, whether or not the primary region is down."""
    snapshots, automated_backups = backups.secondary_snapshots, backups.secondary_automated_backups
    production_id, primary, secondary = backups.production_id, backups.primary, backups.secondary
    resource_id = backups.resource_id
    limit = interval + grace
    every = _grace_limit(interval, grace)
    from_primary = [s for s in snapshots if copied_from(s, primary)]
    copies, ignored = _snapshots_of(from_primary, production_id, resource_id)
    replicated, skipped = _replicated_backups_of(automated_backups, production_id, primary, resource_id)
    ignored += skipped
    points: list[tuple[datetime, str]] = [(_snapshot_time(s), f"snapshot copy {s['DBSnapshotIdentifier']}") for s in copies]
    points += [(_aware(b["RestoreWindow"]["LatestTime"]), "replicated automated backup (RestoreWindow.LatestTime)")
               for b in replicated if (b.get("RestoreWindow") or {}).get("LatestTime")]
    at_or_before = sorted((p for p in points if p[0] <= reference.at), key=lambda p: p[0])
    asked = (f"aws rds describe-db-snapshots --region {secondary} --query \"DBSnapshots[?SourceRegion=='{primary}']"
             ".[OriginalSnapshotCreateTime,SnapshotCreateTime,Status,DBInstanceIdentifier,DbiResourceId,"
             "DBSnapshotIdentifier]\"; "
             f"aws rds describe-db-instance-automated-backups --region {secondary}")
    newest_lines = [f"{isoformat(t)}  {what}" for t, what in sorted(points, key=lambda p: p[0])[-5:]]
    evidence = [Evidence(f"backups of {production_id} in {secondary}", asked,
                         f"{len(copies)} usable snapshot copies of {production_id} from {primary} "
                         f"({len(from_primary)} copies from {primary}, {len(snapshots)} snapshots listed), "
                         f"{len(replicated)} replicated automated backups{_not_counted(ignored)}"
                         + ("" if resource_id else "; production's DbiResourceId unknown: matched by name only")
                         + "; newest:\n"
                         + ("\n".join(newest_lines) or "none"))]
    if not points:
        return CheckResult(False, f"no copies of {production_id}'s backups in {secondary} ({len(copies)} snapshot "
                           f"copies from {primary}, {len(replicated)} replicated automated backups{_not_counted(ignored)}), "
                           f"limit newest within {every}", measured=None, limit=limit, offenders=[secondary],
                           evidence=evidence)
    if not at_or_before:
        return CheckResult(False, f"no copy of {production_id}'s backups in {secondary} holds data at or before "
                           f"{reference.describe()} ({len(points)} hold later data){_not_counted(ignored)}, limit newest "
                           f"within {every}", measured=None, limit=limit, offenders=[secondary], evidence=evidence)
    newest_at, what = at_or_before[-1]
    age = _age(reference, newest_at)
    summary = (f"newest backup of {production_id} in {secondary} holds data {format_duration(age)} older than "
               f"{reference.label} ({what}, {len(copies)} copies), limit {every}"
               + (_not_counted(ignored) if age > limit else ""))
    return CheckResult(age <= limit, summary, measured=age, limit=limit,
                       offenders=[] if age <= limit else [what], evidence=evidence)
