"""Production's believable past: the write workload and the hourly snapshot history.

The workload is real: conversations and messages committed with ``now()`` every
``WRITE_INTERVAL_S`` until the incident, so the point-in-time window is real. The seeded 30 days
before it are a compressed history (``dr_database.create_kosmos_database``): rows committed in
simulated-time order with a real WAL restore point after each step. The hourly snapshots of the last
24 h stand on it: each one is the base backup taken before the history plus the WAL up to the restore
point of its ``SnapshotCreateTime`` (``RealRds.history_snapshot``), so restoring it gives the rows that
time implies; the newest snapshot is a real base backup taken now. Each one has a copy in the secondary
region with its own base backup and WAL there, so it restores in the secondary region while the
primary one is down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from .rds_backend import ACCOUNT_ID, RealRds, naive_utc, now_utc

WRITE_INTERVAL_S = 0.1
SNAPSHOT_HOURS = 24
COPY_DELAY = timedelta(minutes=6)  # a cross-region copy finishes a few minutes after its source


def run_workload(server, agents: list[str], until: datetime) -> datetime:
    """Commit one conversation with two messages every WRITE_INTERVAL_S until ``until``.

    Returns the time right after the last commit.
    """
    import psycopg

    n = 0
    last = now_utc()
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute("SET statement_timeout = 5000")
        while now_utc() + timedelta(seconds=WRITE_INTERVAL_S) < until:
            n += 1
            with conn.transaction():
                cid = conn.execute(
                    "INSERT INTO conversations (agent_id, title) VALUES (%s, %s) RETURNING id",
                    (agents[n % len(agents)], f"live conversation {n}"),
                ).fetchone()[0]
                conn.execute(
                    "INSERT INTO messages (conversation_id, role, body) VALUES (%s, 'user', %s), (%s, 'agent', %s)",
                    (cid, f"question {n}", cid, f"answer {n}"),
                )
            last = now_utc()
            time.sleep(WRITE_INTERVAL_S)
    return last


def snapshot_id(instance: str, at: datetime) -> str:
    return f"rds:{instance}-{at:%Y-%m-%d-%H-%M}"


def copy_id(source_id: str) -> str:
    return source_id.replace("rds:", "") + "-copy"


def create_snapshot_history(rds: RealRds, instance: str, primary: str, secondary: str,
                            after_real_snapshot: Callable[[], object] | None = None) -> dict:
    """Replace the creation-time snapshot by a real one taken now, add 24 backdated hourly ones (each
    restorable to the history's restore point for its time), and copy them all to the secondary region.
    ``after_real_snapshot`` is called once the real snapshot's base backup is taken and the history's WAL
    archived: from then on new writes touch no snapshot (the live workload may start).

    Returns {"real": id, "represented": [hourly ids, oldest first], "restorable": [every id, oldest
    first], "copies": [their copies' ids in the secondary region]} ("represented": the older name of
    the hourly ones, which now restore as well)."""
    from moto.rds.models import rds_backends

    east = rds_backends[ACCOUNT_ID][primary]
    west = rds_backends[ACCOUNT_ID][secondary]
    for sid, snap in list(east.database_snapshots.items()):  # the empty one from creation
        if snap.db_instance_identifier == instance:
            east.delete_db_snapshot(sid)
    now = now_utc()
    real = east.create_auto_snapshot(instance, snapshot_id(instance, now))  # a real base backup
    # the hourly grid ends at the real snapshot's own time (a slow base backup may finish past the
    # hour): every hour before it has its snapshot, so no gap exceeds an hour
    taken = real.created.replace(tzinfo=now.tzinfo) if real.created.tzinfo is None else real.created
    top = taken.replace(minute=0, second=0, microsecond=0)
    real_instance = rds.instance(primary, instance)
    if real_instance is not None and real_instance.history is not None:
        real_instance.server.archive_now()  # every restore point's WAL in the archive
    if after_real_snapshot is not None:
        after_real_snapshot()
    represented = []
    for hours in range(SNAPSHOT_HOURS, 0, -1):
        at = top - timedelta(hours=hours - 1)
        # identifiers have minute resolution: a sandbox started in the hour's first minute would give
        # the top-of-hour slot the real snapshot's own identifier (and copy it twice)
        if at >= taken or snapshot_id(instance, at) == real.db_snapshot_identifier:
            continue
        snap = _backdated(east, instance, snapshot_id(instance, at), at)
        if real_instance is not None and real_instance.history is not None:
            rds.history_snapshot(primary, snap.db_snapshot_identifier, real_instance, at)
        represented.append(snap.db_snapshot_identifier)
    for sid in represented + [real.db_snapshot_identifier]:
        source = east.database_snapshots[sid]
        copied = west.copy_db_snapshot(source.db_snapshot_arn, copy_id(sid))
        copied_at = min(naive_utc(now), source.created + COPY_DELAY)
        copied.created = copied_at
    restorable = represented + [real.db_snapshot_identifier]
    return {"real": real.db_snapshot_identifier, "represented": represented, "restorable": restorable,
            "copies": [copy_id(sid) for sid in restorable]}


def _backdated(backend, instance: str, sid: str, at: datetime):
    from moto.rds.models import DBSnapshot

    snap = DBSnapshot(backend, backend.databases[instance], sid, "automated", original_created_at=naive_utc(at))
    snap.created = naive_utc(at)
    backend.database_snapshots[snap.db_snapshot_identifier] = snap
    return snap
