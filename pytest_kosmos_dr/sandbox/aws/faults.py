"""Faults of the AWS side: each breaks one criterion through what the AWS API (or DNS) reports,
and its revert puts back exactly what was there. Names (regions, instances, bucket, archive keys)
are the sandbox layout's."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
from datetime import timedelta

from ..component import Fault
from . import agent_state, route53
from .rds_backend import ACCOUNT_ID, aware_utc

FAULTED_AGENT = "zeus-orchestrator"  # the agent whose archives the agent-state faults break


def truncated_archive(agent: str) -> bytes:
    """A ``.tar.gz`` cut off after 200 bytes: what an interrupted upload leaves."""
    body = os.urandom(4096)  # incompressible: the cut lands inside the member
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"{agent}-state/memory.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()[:200]


def _stored_keys(bucket: str):
    """moto's version store of ``bucket`` (key -> list of versions, the newest last)."""
    from moto.s3.models import s3_backends

    return s3_backends[ACCOUNT_ID]["aws"].get_bucket(bucket).keys


# Foreign-key triggers are bypassed as a faulty replication or restore tool would.
ORPHAN_SQL = ("INSERT INTO messages (conversation_id, role, body, created_at) "
              "SELECT max(id) + 1000000, 'user', 'sandbox fault: orphaned message', now() - interval '2 days' "
              "FROM conversations")
CORRUPTION_SQL = ("DELETE FROM conversations WHERE id IN (SELECT id FROM conversations ORDER BY created_at DESC LIMIT 10)",
                  "INSERT INTO messages (conversation_id, role, body, created_at) "
                  "SELECT max(id) + 1000000, 'user', 'corrupted backup: orphaned message', now() - interval '2 days' "
                  "FROM conversations")


def _without_foreign_keys(server, *statements: str) -> None:
    """Run ``statements`` with foreign-key triggers off (as a faulty restore or replication tool would)."""
    import psycopg

    with psycopg.connect(server.conninfo(server.dbname), autocommit=True) as conn:
        conn.execute("SET statement_timeout = 10000")
        conn.execute("SET session_replication_role = replica")
        for statement in statements:
            conn.execute(statement)


def aws_faults(aws) -> list[Fault]:
    """``aws`` is the running AwsComponent."""
    from moto.rds.models import rds_backends

    primary_rds = lambda: rds_backends[ACCOUNT_ID][aws.primary]  # noqa: E731
    secondary_rds = lambda: rds_backends[ACCOUNT_ID][aws.secondary]  # noqa: E731
    stash: dict[str, object] = {}

    def pop_snapshots(name, backend, pick):
        taken = {sid: snap for sid, snap in backend().database_snapshots.items() if pick(sid, snap)}
        for sid in taken:
            del backend().database_snapshots[sid]
        stash[name] = (backend, taken)

    def put_back(name):
        backend, taken = stash.pop(name, (None, {}))
        for sid, snap in taken.items():
            backend().database_snapshots.setdefault(sid, snap)

    # -- database backups ---------------------------------------------------------------------
    async def gap_apply():
        newest = max(s.created for s in primary_rds().database_snapshots.values()
                     if s.db_instance_identifier == aws.prod_id)
        hole = {newest.replace(minute=0, second=0, microsecond=0) - timedelta(hours=h) for h in (5, 6)}
        pick = lambda sid, s: s.created in hole  # noqa: E731
        pop_snapshots("gap-primary", primary_rds, lambda sid, s: s.db_instance_identifier == aws.prod_id and pick(sid, s))
        copies = _copies_of(stash["gap-primary"][1])
        pop_snapshots("gap-secondary", secondary_rds, lambda sid, s: sid in copies)

    async def gap_revert():
        put_back("gap-primary")
        put_back("gap-secondary")

    async def retention(days):
        for client, ident in ((aws.rds_primary, aws.prod_id), (aws.rds_secondary, aws.dr_id)):
            await asyncio.to_thread(client.modify_db_instance, DBInstanceIdentifier=ident,
                                    BackupRetentionPeriod=days, ApplyImmediately=True)

    async def copies_apply():
        pop_snapshots("copies", secondary_rds, lambda sid, s: getattr(s, "source_region", None) == aws.primary)

    async def copies_revert():
        put_back("copies")

    # -- agent state (the layout's bucket, prefix and archive keys) ------------------------------
    layout = aws.ctx.layout
    bucket = layout.bucket

    async def versioning(status):
        await asyncio.to_thread(aws.s3.put_bucket_versioning, Bucket=bucket,
                                VersioningConfiguration={"Status": status})

    def lifecycle_3d():
        kept = aws.s3.get_bucket_lifecycle_configuration(Bucket=bucket)
        stash["lifecycle"] = {"Rules": kept["Rules"]}
        rules = {"Rules": [{"ID": "agent-state-retention", "Filter": {"Prefix": layout.agent_state_prefix},
                            "Status": "Enabled", "Expiration": {"Days": 3},
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 3}}]}
        aws.s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=rules)

    def lifecycle_back():
        kept = stash.pop("lifecycle", None)
        if kept is not None:
            aws.s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=kept)

    async def lifecycle_apply():
        await asyncio.to_thread(lifecycle_3d)

    async def lifecycle_revert():
        await asyncio.to_thread(lifecycle_back)

    def agent_versions():
        return agent_state.agent_versions(aws.s3, FAULTED_AGENT, layout)

    def stale():
        """Take the archives of the last 40 min before the incident out of the store (kept for the revert:
        the same versions, ids and times come back)."""
        cutoff = aws.incident_start - timedelta(minutes=40)
        store = _stored_keys(bucket)
        taken = {}
        for key in sorted({v["Key"] for v in agent_versions() if aware_utc(v["LastModified"]) > cutoff}):
            versions = list(store.getlist(key) or [])
            kept = [v for v in versions if aware_utc(v.last_modified) <= cutoff]
            taken[key] = versions
            if kept:
                dict.__setitem__(store, key, kept)  # not setlist: it would dispose of the taken versions' bodies
            else:
                dict.__delitem__(store, key)
        stash["stale"] = taken

    def stale_back():
        store = _stored_keys(bucket)
        for key, versions in stash.pop("stale", {}).items():
            dict.__setitem__(store, key, versions)

    async def stale_apply():
        await asyncio.to_thread(stale)

    async def stale_revert():
        await asyncio.to_thread(stale_back)

    def corrupt():
        newest = max(agent_versions(), key=lambda v: v["LastModified"])
        put = aws.s3.put_object(Bucket=bucket, Key=newest["Key"], Body=truncated_archive(FAULTED_AGENT))
        stash["corrupt"] = (newest["Key"], put["VersionId"])

    async def corrupt_apply():
        await asyncio.to_thread(corrupt)

    async def corrupt_revert():
        key, version_id = stash.pop("corrupt", (None, None))
        if key:
            await asyncio.to_thread(aws.s3.delete_object, Bucket=bucket, Key=key, VersionId=version_id)

    # -- DNS and failover --------------------------------------------------------------------
    async def primary_record(health_check_id):
        change = route53.failover_change("UPSERT", "PRIMARY", aws.primary, health_check_id)
        await asyncio.to_thread(aws.route53.change_resource_record_sets, HostedZoneId=aws.zone["zone_id"],
                                ChangeBatch={"Changes": [change]})

    async def threshold(value):
        for check_id in aws.zone["health_checks"].values():
            await asyncio.to_thread(aws.route53.update_health_check, HealthCheckId=check_id, FailureThreshold=value)

    # -- replication -------------------------------------------------------------------------
    async def lag_apply():
        stash["lag"] = await asyncio.to_thread(aws.withhold_recent_writes, aws.incident_start - timedelta(minutes=20))

    async def lag_revert():
        await asyncio.to_thread(aws.return_withheld_writes, stash.pop("lag", None))

    async def endpoint_down():
        await asyncio.to_thread(aws.moto.stop)

    async def endpoint_up():
        if aws.moto._server is None:
            await asyncio.to_thread(aws.moto.start)

    def dr_server():
        return aws.rds.instance(aws.secondary, aws.dr_id).server

    async def database_down():
        await asyncio.to_thread(dr_server().stop, "immediate")

    async def database_up():
        server = dr_server()
        if not await asyncio.to_thread(server.is_running):
            await asyncio.to_thread(server.start)

    def corrupt_restore(real) -> None:
        """What a corrupted backup yields: the newest conversations gone, a message orphaned."""
        _without_foreign_keys(real.server, *CORRUPTION_SQL)

    async def restore_corruption_apply():
        if corrupt_restore not in aws.rds.after_restore:
            aws.rds.after_restore.append(corrupt_restore)

    async def restore_corruption_revert():
        if corrupt_restore in aws.rds.after_restore:
            aws.rds.after_restore.remove(corrupt_restore)

    async def orphan_apply():
        await asyncio.to_thread(_without_foreign_keys, dr_server(), ORPHAN_SQL)

    async def orphan_revert():
        await asyncio.to_thread(_without_foreign_keys, dr_server(),
                                "DELETE FROM messages WHERE body = 'sandbox fault: orphaned message'")

    wrong_worlds = _wrong_database_worlds(aws, primary_rds, secondary_rds, dr_server, stash)
    return wrong_worlds + [
        Fault("backup-corrupted", ("REC-DB-PITR", "REC-DB-SNAPSHOT", "SCN-DATA-CORRUPTION"),
              "restores yield a corrupted database: the 10 newest conversations missing, an orphaned message",
              restore_corruption_apply, restore_corruption_revert),
        Fault("dr-database-orphan", ("REC-DB-INTEGRITY",),
              "the DR database holds a message whose conversation does not exist (foreign keys bypassed)",
              orphan_apply, orphan_revert),
        Fault("snapshot-gap-3h", ("BAK-DB-SNAPSHOTS-HOURLY",),
              "two hourly production snapshots (5 h and 6 h before the newest) are missing: a 3 h gap",
              gap_apply, gap_revert),
        Fault("pitr-retention-7d", ("BAK-DB-PITR-RETENTION",),
              "BackupRetentionPeriod is 7 days on production and the DR instance",
              lambda: retention(7), lambda: retention(30)),
        Fault("no-cross-region-copies", ("BAK-DB-CROSS-REGION",),
              f"no snapshot copies in {aws.secondary}", copies_apply, copies_revert),
        Fault("agent-versioning-suspended", ("BAK-AGENT-VERSIONING",),
              f"versioning of s3://{bucket} is Suspended",
              lambda: versioning("Suspended"), lambda: versioning("Enabled")),
        Fault("agent-lifecycle-3d", ("BAK-AGENT-RETENTION",),
              "the agent-state lifecycle rule expires current and noncurrent versions after 3 days",
              lifecycle_apply, lifecycle_revert),
        Fault("agent-backup-stale-40m", ("BAK-AGENT-REALTIME", "OBJ-RPO"),
              f"{FAULTED_AGENT}'s archives of the last 40 min before the incident are gone",
              stale_apply, stale_revert),
        Fault("agent-archive-corrupt", ("BAK-AGENT-ARCHIVE", "REC-AGENT-STATE"),
              f"{FAULTED_AGENT}'s newest archive has a new current version that is a truncated gzip",
              corrupt_apply, corrupt_revert),
        # Without a health check nothing watches the primary, so failover can never trigger either.
        Fault("dns-failover-on-primary", ("REC-DNS", "REC-FAILOVER-TRIGGER", "SCN-REGIONAL-OUTAGE"),
              "the PRIMARY failover record lost its health check, so Route53 (and the sandbox DNS) answer the primary",
              lambda: primary_record(None), lambda: primary_record(aws.zone["health_checks"][aws.primary])),
        Fault("healthcheck-slow-10m", ("REC-FAILOVER-TRIGGER",),
              "health checks fail over only after 30 s x 20 = 10 min",
              lambda: threshold(20), lambda: threshold(route53.THRESHOLD)),
        Fault("aws-endpoint-down", ("BAK-DB-REPLICATION", "BAK-DB-SNAPSHOTS-HOURLY", "BAK-DB-PITR-RETENTION",
                                    "BAK-DB-CROSS-REGION", "BAK-AGENT-REALTIME", "BAK-AGENT-VERSIONING",
                                    "BAK-AGENT-RETENTION", "BAK-AGENT-ARCHIVE", "REC-FAILOVER-TRIGGER", "REC-DNS",
                                    "SCN-MULTI-AZ", "BAK-CONFIG-MIRROR", "OBJ-RPO"),
              "the AWS API endpoint stops answering (partial outage: AWS checks are broken)",
              endpoint_down, endpoint_up),
        Fault("dr-database-down", ("VAL-DB-CONNECT", "VAL-API-HEALTH", "VAL-SMOKE", "REC-DB-INTEGRITY", "OBJ-RPO",
                                   "BAK-DB-REPLICATION"),
              "the DR database server stops (partial outage: DB checks fail or are broken)",
              database_down, database_up),
        Fault("replica-lagging-20m", ("BAK-DB-REPLICATION", "OBJ-RPO"),
              "the promoted replica never received the last 20 min of writes before the incident",
              lag_apply, lag_revert),
    ]


def _copies_of(snapshots: dict) -> set[str]:
    from .history import copy_id

    return {copy_id(sid) for sid in snapshots}


# -- wrong worlds of the database: everything the checks fetch still looks healthy ------------------
EARLIER_RESOURCE_ID = "db-EARLIERKOSMOSPRODINSTANCE"
STANDBY_SIGNAL = "standby.signal"
BLANK_TABLES = ("messages", "conversations")  # children first
DISPLACED = "{}_displaced_by_fault"


def _set_attributes(stash: dict, name: str, objects, **values) -> None:
    """Set ``values`` on each moto object, keeping what was there for ``_put_attributes_back``."""
    kept = stash.setdefault(name, [])
    for obj in objects:
        kept.append((obj, {key: getattr(obj, key, None) for key in values}))
        for key, value in values.items():
            setattr(obj, key, value)


def _put_attributes_back(stash: dict, name: str) -> None:
    for obj, values in reversed(stash.pop(name, [])):
        for key, value in values.items():
            setattr(obj, key, value)


def _sql(server, *statements: str, fetch: str | None = None):
    import psycopg

    with psycopg.connect(server.conninfo(server.dbname), autocommit=True) as conn:
        conn.execute("SET statement_timeout = 10000")
        for statement in statements:
            conn.execute(statement)
        return conn.execute(fetch).fetchall() if fetch else None


def _wrong_database_worlds(aws, primary_rds, secondary_rds, dr_server, stash) -> list[Fault]:
    """Fault twins of docs/wrong-worlds/database.md: AWS and the DR database look healthy, are not."""
    from moto.core.utils import utcnow

    def prod_snapshots():
        return sorted((s for s in primary_rds().database_snapshots.values()
                       if s.db_instance_identifier == aws.prod_id), key=lambda s: s.original_snapshot_create_time)

    def prod_copies():
        return sorted((s for s in secondary_rds().database_snapshots.values()
                       if getattr(s, "source_region", None) == aws.primary),
                      key=lambda s: s.original_snapshot_create_time)

    def newest(snapshots, hours):
        top = snapshots[-1].original_snapshot_create_time
        return [s for s in snapshots if s.original_snapshot_create_time > top - timedelta(hours=hours)]

    def dr_instance():
        return secondary_rds().databases[aws.dr_id]

    def prod_instance():
        return primary_rds().databases[aws.prod_id]

    async def short_window_apply():  # an old instance whose real restore window is only 24 h long
        _set_attributes(stash, "pitr-window-short-on-old-instance", [prod_instance()],
                        instance_create_time=utcnow() - timedelta(days=90))
        _set_attributes(stash, "pitr-window-short-on-old-instance",
                        [aws.rds.instance(aws.primary, aws.prod_id)], backups_since=utcnow() - timedelta(hours=24))

    async def short_window_revert():
        _put_attributes_back(stash, "pitr-window-short-on-old-instance")

    def moto_fault(name, objects, **values):
        async def apply():
            _set_attributes(stash, name, objects(), **values)

        async def revert():
            _put_attributes_back(stash, name)

        return apply, revert

    def recopied(snapshots):
        """Objects whose data is 12 h older than the newest snapshot, though taken (copied) recently."""
        chosen = newest(snapshots(), 6)
        return chosen, snapshots()[-1].original_snapshot_create_time - timedelta(hours=12)

    def stale_fault(name, snapshots):
        async def apply():
            chosen, old = recopied(snapshots)
            _set_attributes(stash, name, chosen, original_snapshot_create_time=old, snapshot_type="manual")

        async def revert():
            _put_attributes_back(stash, name)

        return apply, revert

    production_arn = f"arn:aws:rds:{aws.primary}:{ACCOUNT_ID}:db:{aws.prod_id}"
    staging_arn = f"arn:aws:rds:{aws.primary}:{ACCOUNT_ID}:db:kosmos-staging"
    stopped = [{"StatusType": "read replication", "Normal": False, "Status": "error",
                "Message": "replication stopped: the WAL receiver lost its connection and was not restarted"}]

    # -- the DR database server itself --------------------------------------------------------------
    def standby_signal():
        return dr_server().data_dir / STANDBY_SIGNAL

    def restart_in_recovery():
        server = dr_server()
        server.stop("fast")
        server._signal(STANDBY_SIGNAL)  # no primary to follow: a hot standby that never gets promoted
        server.start()

    def restart_promoted():
        server = dr_server()
        server.stop("fast")
        standby_signal().unlink(missing_ok=True)
        server.start()  # shut down in recovery, no signal file: it starts as the primary it was
        server.wait_until_primary()

    async def in_recovery_apply():
        await asyncio.to_thread(restart_in_recovery)

    async def in_recovery_revert():
        if standby_signal().exists() or not await asyncio.to_thread(dr_server().is_running):
            await asyncio.to_thread(restart_promoted)

    async def schema_missing_apply():
        await asyncio.to_thread(_sql, dr_server(), "ALTER SCHEMA public RENAME TO kosmos_displaced_by_fault",
                                "CREATE SCHEMA public")

    async def schema_missing_revert():
        await asyncio.to_thread(_sql, dr_server(), "DROP SCHEMA public",
                                "ALTER SCHEMA kosmos_displaced_by_fault RENAME TO public")

    async def blank_apply():
        statements = [f"ALTER TABLE {t} RENAME TO {DISPLACED.format(t)}" for t in BLANK_TABLES]
        statements += [f"CREATE TABLE {t} (LIKE {DISPLACED.format(t)} INCLUDING ALL)" for t in reversed(BLANK_TABLES)]
        await asyncio.to_thread(_sql, dr_server(), *statements)

    async def blank_revert():
        statements = [f"DROP TABLE {t}" for t in BLANK_TABLES]
        statements += [f"ALTER TABLE {DISPLACED.format(t)} RENAME TO {t}" for t in BLANK_TABLES]
        await asyncio.to_thread(_sql, dr_server(), *statements)

    async def column_apply():
        await asyncio.to_thread(_sql, dr_server(), "ALTER TABLE conversations RENAME COLUMN updated_at TO last_activity_at")

    async def column_revert():
        await asyncio.to_thread(_sql, dr_server(), "ALTER TABLE conversations RENAME COLUMN last_activity_at TO updated_at")

    async def messages_lost_apply():
        window = (aws.incident_start - timedelta(hours=1), aws.incident_start)
        rows = await asyncio.to_thread(
            _sql, dr_server(), fetch=("DELETE FROM messages WHERE created_at > '%s' AND created_at <= '%s' RETURNING *"
                                      % (window[0].isoformat(), window[1].isoformat())))
        stash["messages-lost"] = rows

    async def messages_lost_revert():
        import psycopg

        rows = stash.pop("messages-lost", [])
        if not rows:
            return
        server = dr_server()

        def put_back():
            with psycopg.connect(server.conninfo(server.dbname), autocommit=False) as conn, conn.cursor() as cur:
                cur.executemany(f"INSERT INTO messages VALUES ({', '.join(['%s'] * len(rows[0]))})", rows)

        await asyncio.to_thread(put_back)

    # -- RDS as AWS reports it ------------------------------------------------------------------------
    async def dr_retention(days):
        await asyncio.to_thread(aws.rds_secondary.modify_db_instance, DBInstanceIdentifier=aws.dr_id,
                                BackupRetentionPeriod=days, ApplyImmediately=True)

    faults = [
        ("dr-replica-of-another-instance", ("BAK-DB-REPLICATION",),
         f"{aws.dr_id} reports a replication source, but it is kosmos-staging, not production",
         *moto_fault("dr-replica-of-another-instance", lambda: [dr_instance()],
                     source_db_instance_identifier=staging_arn)),
        ("dr-replication-stopped", ("BAK-DB-REPLICATION",),
         f"{aws.dr_id} is 'available' and names production as its source, but its replication status is 'error'",
         *moto_fault("dr-replication-stopped", lambda: [dr_instance()],
                     source_db_instance_identifier=production_arn, status_infos=stopped)),
        ("dr-replica-recreated-after-incident", ("BAK-DB-REPLICATION",),
         f"{aws.dr_id} has no replication source and was created after the incident (a standalone instance "
         "under the replica's name)",
         *moto_fault("dr-replica-recreated-after-incident", lambda: [dr_instance()], instance_create_time=utcnow())),
        ("snapshots-stuck-creating", ("BAK-DB-SNAPSHOTS-HOURLY",),
         "production's snapshots of the last 2.5 h are listed but stuck in status 'creating'",
         *moto_fault("snapshots-stuck-creating", lambda: newest(prod_snapshots(), 2.5), status="creating")),
        ("snapshots-of-earlier-instance", ("BAK-DB-SNAPSHOTS-HOURLY", "BAK-DB-PITR-RETENTION"),
         f"every snapshot listed under {aws.prod_id} belongs to an earlier instance of that name (another "
         "DbiResourceId): the current instance has no backup",
         *moto_fault("snapshots-of-earlier-instance", prod_snapshots, dbi_resource_id=EARLIER_RESOURCE_ID)),
        ("snapshots-recopied-stale", ("BAK-DB-SNAPSHOTS-HOURLY",),
         "the snapshots of the last 6 h are fresh copies of a 12 h old snapshot (new SnapshotCreateTime, old data)",
         *stale_fault("snapshots-recopied-stale", prod_snapshots)),
        ("dr-instance-retention-1d", ("BAK-DB-PITR-RETENTION",),
         f"production keeps 30 days, but the promoted {aws.dr_id}, the live database now, keeps 1 day",
         lambda: dr_retention(1), lambda: dr_retention(30)),
        ("pitr-window-short-on-old-instance", ("BAK-DB-PITR-RETENTION",),
         f"{aws.prod_id} is 90 days old with BackupRetentionPeriod 30, but its automated backups reach back 24 h",
         short_window_apply, short_window_revert),
        ("copies-of-another-instance", ("BAK-DB-CROSS-REGION",),
         f"the snapshot copies in {aws.secondary} from {aws.primary} are of kosmos-staging, not production",
         *moto_fault("copies-of-another-instance", prod_copies, db_instance_identifier="kosmos-staging")),
        ("copies-failed", ("BAK-DB-CROSS-REGION",),
         f"the copies of the last 2.5 h in {aws.secondary} are listed in status 'failed'",
         *moto_fault("copies-failed", lambda: newest(prod_copies(), 2.5), status="failed")),
        ("copies-of-stale-data", ("BAK-DB-CROSS-REGION",),
         f"the copies of the last 6 h in {aws.secondary} hold a 12 h old snapshot's data",
         *stale_fault("copies-of-stale-data", prod_copies)),
        ("dr-window-messages-lost", ("REC-DB-INTEGRITY", "VAL-SMOKE"),
         "the DR database keeps the conversations of the hour before the incident, but their messages are gone",
         messages_lost_apply, messages_lost_revert),
        ("dr-schema-other-version", ("REC-DB-INTEGRITY",),
         "the DR database is at another schema version: conversations.updated_at is now last_activity_at",
         column_apply, column_revert),
        ("dr-database-in-recovery", ("VAL-DB-CONNECT",),
         "the DR endpoint answers SELECT 1, but its server is a hot standby still in recovery (never promoted)",
         in_recovery_apply, in_recovery_revert),
        ("dr-database-schema-missing", ("VAL-DB-CONNECT", "REC-DB-INTEGRITY", "VAL-SMOKE"),
         "the DR endpoint answers SELECT 1, but the kosmos database has no KOSMOS tables (schema public is empty)",
         schema_missing_apply, schema_missing_revert),
        ("dr-database-blank", ("VAL-DB-CONNECT", "REC-DB-INTEGRITY", "BAK-DB-REPLICATION", "OBJ-RPO", "VAL-SMOKE"),
         "the DR endpoint answers SELECT 1 and has the KOSMOS tables, but conversations and messages are empty",
         blank_apply, blank_revert),
    ]
    return [Fault(name, criteria, description, apply, revert) for name, criteria, description, apply, revert in faults]
