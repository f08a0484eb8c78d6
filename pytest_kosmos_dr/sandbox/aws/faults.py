"""Faults of the AWS side: each breaks one criterion through what the AWS API (or DNS) reports,
and its revert puts back exactly what was there."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from ..component import Fault
from . import agent_state, route53
from .rds_backend import ACCOUNT_ID, aware_utc


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

    east = lambda: rds_backends[ACCOUNT_ID][aws.primary]  # noqa: E731
    west = lambda: rds_backends[ACCOUNT_ID][aws.secondary]  # noqa: E731
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
        newest = max(s.created for s in east().database_snapshots.values() if s.db_instance_identifier == aws.prod_id)
        hole = {newest.replace(minute=0, second=0, microsecond=0) - timedelta(hours=h) for h in (5, 6)}
        pick = lambda sid, s: s.created in hole  # noqa: E731
        pop_snapshots("gap-east", east, lambda sid, s: s.db_instance_identifier == aws.prod_id and pick(sid, s))
        copies = _copies_of(stash["gap-east"][1])
        pop_snapshots("gap-west", west, lambda sid, s: sid in copies)

    async def gap_revert():
        put_back("gap-east")
        put_back("gap-west")

    async def retention(days):
        for client, ident in ((aws.rds_east, aws.prod_id), (aws.rds_west, aws.dr_id)):
            await asyncio.to_thread(client.modify_db_instance, DBInstanceIdentifier=ident,
                                    BackupRetentionPeriod=days, ApplyImmediately=True)

    async def copies_apply():
        pop_snapshots("copies", west, lambda sid, s: getattr(s, "source_region", None) == aws.primary)

    async def copies_revert():
        put_back("copies")

    # -- agent state ---------------------------------------------------------------------------
    async def versioning(status):
        await asyncio.to_thread(aws.s3.put_bucket_versioning, Bucket=agent_state.BUCKET,
                                VersioningConfiguration={"Status": status})

    async def lifecycle_apply():
        rules = {"Rules": [{"ID": "agent-state-retention", "Filter": {"Prefix": agent_state.PREFIX},
                            "Status": "Enabled", "Expiration": {"Days": 3},
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 3}}]}
        await asyncio.to_thread(aws.s3.put_bucket_lifecycle_configuration, Bucket=agent_state.BUCKET,
                                LifecycleConfiguration=rules)

    async def lifecycle_revert():
        await asyncio.to_thread(aws.s3.put_bucket_lifecycle_configuration, Bucket=agent_state.BUCKET,
                                LifecycleConfiguration=agent_state.LIFECYCLE)

    def zeus_versions():
        prefix = f"{agent_state.PREFIX}zeus-orchestrator/"
        return aws.s3.list_object_versions(Bucket=agent_state.BUCKET, Prefix=prefix).get("Versions", [])

    async def stale_apply():
        cutoff = aws.incident_start - timedelta(minutes=40)
        removed = []
        for version in await asyncio.to_thread(zeus_versions):
            if aware_utc(version["LastModified"]) > cutoff:
                body = aws.s3.get_object(Bucket=agent_state.BUCKET, Key=version["Key"],
                                         VersionId=version["VersionId"])["Body"].read()
                removed.append((version["Key"], body, version["LastModified"]))
                aws.s3.delete_object(Bucket=agent_state.BUCKET, Key=version["Key"], VersionId=version["VersionId"])
        stash["stale"] = sorted(removed, key=lambda item: item[2])

    async def stale_revert():
        for key, body, at in stash.pop("stale", []):
            agent_state.put_backdated(key, body, at)

    async def corrupt_apply():
        newest = max(await asyncio.to_thread(zeus_versions), key=lambda v: v["LastModified"])
        body = agent_state.build_archive("zeus-orchestrator", aws.incident_start)[:200]  # truncated gzip
        put = aws.s3.put_object(Bucket=agent_state.BUCKET, Key=newest["Key"], Body=body)
        stash["corrupt"] = (newest["Key"], put["VersionId"])

    async def corrupt_revert():
        key, version_id = stash.pop("corrupt", (None, None))
        if key:
            await asyncio.to_thread(aws.s3.delete_object, Bucket=agent_state.BUCKET, Key=key, VersionId=version_id)

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

    return [
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
              f"versioning of s3://{agent_state.BUCKET} is Suspended",
              lambda: versioning("Suspended"), lambda: versioning("Enabled")),
        Fault("agent-lifecycle-3d", ("BAK-AGENT-RETENTION",),
              "the agent-state lifecycle rule expires current and noncurrent versions after 3 days",
              lifecycle_apply, lifecycle_revert),
        Fault("agent-backup-stale-40m", ("BAK-AGENT-REALTIME", "OBJ-RPO"),
              "zeus-orchestrator's archives of the last 40 min before the incident are gone",
              stale_apply, stale_revert),
        Fault("agent-archive-corrupt", ("BAK-AGENT-ARCHIVE", "REC-AGENT-STATE"),
              "zeus-orchestrator's newest archive has a new current version that is a truncated gzip",
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
