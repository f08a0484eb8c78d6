"""The agent-state backup bucket: versioned, with a 7-day lifecycle, holding real archives.

Every archive is a real ``.tar.gz`` (``<agent>-state/`` with ``memory.json``, ``tasks.json``
and ``MANIFEST.sha256``). Their times are history: S3 ``LastModified`` cannot be set over
HTTP, so the sandbox writes them through moto's in-process backend and sets it there.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from datetime import datetime, timedelta

from .rds_backend import ACCOUNT_ID, naive_utc

BUCKET = "kosmos-backups"
PREFIX = "agent-state/"
LIFECYCLE = {
    "Rules": [{
        "ID": "agent-state-retention",
        "Filter": {"Prefix": PREFIX},
        "Status": "Enabled",
        "Expiration": {"Days": 8},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
    }]
}
HISTORY = timedelta(days=7, hours=12)
COARSE_EVERY = timedelta(hours=6)
FINE_EVERY = timedelta(minutes=5)
NEWEST_BEFORE_INCIDENT = timedelta(minutes=3)


def archive_key(agent: str, at: datetime) -> str:
    return f"{PREFIX}{agent}/{agent}-state-{at:%Y%m%dT%H%M%SZ}.tar.gz"


def build_archive(agent: str, at: datetime) -> bytes:
    """A real state archive as the agent's backup job writes it."""
    files = {
        "memory.json": json.dumps({"agent": agent, "saved_at": at.isoformat(), "facts": [
            f"{agent} fact {i}" for i in range(5)]}, indent=2).encode(),
        "tasks.json": json.dumps({"agent": agent, "open": [f"task-{at:%H%M}-{i}" for i in range(3)]}, indent=2).encode(),
    }
    manifest = "".join(f"{hashlib.sha256(body).hexdigest()}  {name}\n" for name, body in files.items())
    files["MANIFEST.sha256"] = manifest.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(f"{agent}-state/{name}")
            info.size, info.mtime, info.mode = len(body), int(at.timestamp()), 0o644
            tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def backup_times(incident: datetime) -> list[datetime]:
    newest = (incident - NEWEST_BEFORE_INCIDENT).replace(microsecond=0)
    times = [newest - FINE_EVERY * i for i in range(12)]
    at = newest - timedelta(hours=1)
    while at >= incident - HISTORY:
        at -= COARSE_EVERY
        times.append(at)
    return sorted(times)


def put_backdated(key: str, body: bytes, at: datetime) -> None:
    from moto.s3.models import s3_backends

    obj = s3_backends[ACCOUNT_ID]["aws"].put_object(BUCKET, key, body)
    obj.last_modified = naive_utc(at)


def create_bucket(s3, region: str, agents: list[str], incident: datetime) -> dict:
    """Bucket, versioning, lifecycle, and every agent's archives up to a few minutes before ``incident``."""
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration=LIFECYCLE)
    newest = {}
    for at in backup_times(incident):
        for agent in agents:
            key = archive_key(agent, at)
            put_backdated(key, build_archive(agent, at), at)
            newest[agent] = key
    return newest
