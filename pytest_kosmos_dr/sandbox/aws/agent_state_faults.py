"""Named faults of the agent-state bucket (BAK-AGENT-*): wrong worlds in which the objects the checks
fetch still look healthy (fresh times, Enabled versioning, a 7-day expiration, a readable .tar.gz).
Each revert puts back the keys, bodies and times that were there."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from ..component import Fault
from . import agent_state
from .rds_backend import aware_utc

AGENT = "zeus-orchestrator"


def agent_state_faults(component) -> list[Fault]:
    """Faults of the agent-state bucket (BAK-AGENT-*); registered by the component's ``faults()``."""
    aws = component
    bucket = agent_state.BUCKET
    stash: dict[str, object] = {}

    def versions(agent: str = AGENT) -> list[dict]:
        found = []
        pages = aws.s3.get_paginator("list_object_versions").paginate(Bucket=bucket,
                                                                      Prefix=f"{agent_state.PREFIX}{agent}/")
        for page in pages:
            found += page.get("Versions", [])
        return found

    def between(older: timedelta, newer: timedelta = timedelta(0)) -> list[dict]:
        """zeus' versions written in (incident - older, incident - newer]."""
        start, end = aws.incident_start - older, aws.incident_start - newer
        return [v for v in versions() if start < aware_utc(v["LastModified"]) <= end]

    def take_out(name: str, chosen: list[dict]) -> None:
        """Delete versions for good (by version id), keeping key, body and time for the revert."""
        taken = []
        for version in chosen:
            body = aws.s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
            taken.append((version["Key"], body, aware_utc(version["LastModified"])))
            aws.s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
        stash[name] = taken

    def put_back(name: str) -> None:
        for key, body, at in stash.pop(name, []):
            agent_state.put_backdated(key, body, at)

    def newest() -> dict:
        return max((v for v in versions() if v.get("IsLatest")), key=lambda v: v["LastModified"])

    def overwrite_newest(name: str, body: bytes) -> None:
        """A new current version of zeus' newest archive (as a re-run backup job would write it)."""
        key = newest()["Key"]
        put = aws.s3.put_object(Bucket=bucket, Key=key, Body=body)
        stash[name] = (key, put["VersionId"])

    def remove_overwrite(name: str) -> None:
        key, version_id = stash.pop(name, (None, None))
        if key:
            aws.s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id)

    # -- BAK-AGENT-REALTIME ------------------------------------------------------------------------
    def deleted_apply():
        markers = []
        for version in between(timedelta(minutes=40)):
            marker = aws.s3.delete_object(Bucket=bucket, Key=version["Key"])
            markers.append((version["Key"], marker["VersionId"]))
        stash["deleted"] = markers

    def deleted_revert():
        for key, marker_id in stash.pop("deleted", []):
            aws.s3.delete_object(Bucket=bucket, Key=key, VersionId=marker_id)

    def placeholders_apply():
        chosen = between(timedelta(minutes=40))
        take_out("placeholders-originals", chosen)
        stash["placeholders"] = [(key, agent_state.put_backdated(key, b"", at))
                                 for key, _, at in stash["placeholders-originals"]]

    def placeholders_revert():
        for key, version_id in stash.pop("placeholders", []):
            aws.s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id)
        put_back("placeholders-originals")

    # -- BAK-AGENT-VERSIONING ----------------------------------------------------------------------
    def suspended_window_apply():
        at = (aws.incident_start - timedelta(hours=3, minutes=2, seconds=30)).replace(microsecond=0)
        key = agent_state.archive_key(AGENT, at)
        aws.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
        try:
            version_id = agent_state.put_backdated(key, agent_state.build_archive(AGENT, at), at)
        finally:
            aws.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        stash["suspended-window"] = (key, version_id)

    def suspended_window_revert():
        key, version_id = stash.pop("suspended-window", (None, None))
        if key:
            aws.s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id)

    def enabled_late_apply():
        cutoff = aws.incident_start - timedelta(days=2)
        changed = []
        for version in agent_state.stored_versions(agent_state.PREFIX):
            if aware_utc(version.last_modified) < cutoff and version.version_id != "null":
                changed.append((version, version._version_id))
                version._version_id = None  # moto's "null": written before versioning was enabled
        stash["enabled-late"] = changed

    def enabled_late_revert():
        for version, version_id in stash.pop("enabled-late", []):
            version._version_id = version_id

    # -- BAK-AGENT-RETENTION -----------------------------------------------------------------------
    def lifecycle(config):
        aws.s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=config)

    deep_archive = {"Rules": [dict(agent_state.LIFECYCLE["Rules"][0],
                                   Transitions=[{"Days": 1, "StorageClass": "DEEP_ARCHIVE"}],
                                   NoncurrentVersionTransitions=[{"NoncurrentDays": 1, "StorageClass": "DEEP_ARCHIVE"}])]}

    def hole_apply():
        take_out("hole", between(timedelta(days=5), timedelta(days=2)))

    # -- BAK-AGENT-ARCHIVE -------------------------------------------------------------------------
    def other_agent_apply():
        other = next(a for a in aws.ctx.state["agents"] if a != AGENT)
        overwrite_newest("other-agent", agent_state.build_archive(other, aws.incident_start))

    def empty_state_apply():
        state = {"memory.json": json.dumps({}).encode(), "tasks.json": json.dumps({}).encode()}
        overwrite_newest("empty-state", agent_state.build_archive(AGENT, aws.incident_start, state))

    def run(func, *args):
        async def runner():
            await asyncio.to_thread(func, *args)
        return runner

    return [
        Fault("agent-backups-deleted-40m", ("BAK-AGENT-REALTIME", "OBJ-RPO", "OBJ-RTO"),
              f"{AGENT}'s archives of the last 40 min before the incident were deleted: a delete marker is their "
              "current version (their data is still there as noncurrent versions)",
              run(deleted_apply), run(deleted_revert)),
        Fault("agent-backup-placeholders-40m", ("BAK-AGENT-REALTIME", "BAK-AGENT-ARCHIVE", "REC-AGENT-STATE", "OBJ-RPO"),
              f"{AGENT}'s backup job kept uploading on time for the last 40 min, but empty (0-byte) objects",
              run(placeholders_apply), run(placeholders_revert)),
        Fault("agent-versioning-suspended-window", ("BAK-AGENT-VERSIONING",),
              "versioning was suspended and re-enabled 3 h before the incident: the archive written meanwhile has "
              "VersionId null", run(suspended_window_apply), run(suspended_window_revert)),
        Fault("agent-versioning-enabled-late", ("BAK-AGENT-VERSIONING",),
              "versioning was enabled only 2 days before the incident: the older archives of the 7 days have "
              "VersionId null", run(enabled_late_apply), run(enabled_late_revert)),
        Fault("agent-lifecycle-deep-archive-1d", ("BAK-AGENT-RETENTION",),
              "the agent-state lifecycle rule keeps versions 7 days but moves them to DEEP_ARCHIVE after 1 day",
              run(lifecycle, deep_archive), run(lifecycle, agent_state.LIFECYCLE)),
        Fault("agent-history-hole-3d", ("BAK-AGENT-RETENTION",),
              f"{AGENT}'s versions from 5 to 2 days before the incident are gone (deleted by version id); the oldest "
              "still reach back 7 days", run(hole_apply), run(put_back, "hole")),
        Fault("agent-archive-of-another-agent", ("BAK-AGENT-ARCHIVE",),
              f"{AGENT}'s newest archive has a new current version: a valid archive of another agent's state",
              run(other_agent_apply), run(remove_overwrite, "other-agent")),
        Fault("agent-archive-empty-state", ("BAK-AGENT-ARCHIVE",),
              f"{AGENT}'s newest archive has a new current version: a valid archive whose memory.json and tasks.json "
              "are {} (with a matching manifest)", run(empty_state_apply), run(remove_overwrite, "empty-state")),
    ]
