"""Named faults of the agent-state bucket (BAK-AGENT-*): wrong worlds in which the objects the checks
fetch still look healthy (fresh times, Enabled versioning, a 7-day expiration, a readable .tar.gz).
Each revert puts back the keys, bodies and times that were there. Bucket, prefix, keys and members are
the sandbox layout's (``ctx.layout``), so every fault works on both layouts.

``unlisted-agent-without-backup`` also reaches the DR cluster's store (``ctx.components["kubernetes"]``):
it starts an agent pod the targets file does not list."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import timedelta

from ..component import Fault
from ..layout import DEFAULT
from . import agent_state
from .rds_backend import aware_utc

AGENT = "zeus-orchestrator"
UNLISTED_AGENT = "apollo-scout"  # runs in the DR cluster, in no targets file, never backed up
AGENT_SELECTOR = ("app.kubernetes.io/component", "agent")  # the sandbox targets' kubernetes.agent_selector
AGENT_LABEL = "app.kubernetes.io/name"  # kubernetes.agent_label's default


def agent_state_faults(component) -> list[Fault]:
    """Faults of the agent-state bucket (BAK-AGENT-*); registered by the component's ``faults()``."""
    aws = component
    layout = getattr(getattr(aws, "ctx", None), "layout", None) or DEFAULT
    bucket = layout.bucket
    stash: dict[str, object] = {}

    def versions(agent: str = AGENT) -> list[dict]:
        return agent_state.agent_versions(aws.s3, agent, layout)

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
            agent_state.put_backdated(key, body, at, bucket)

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
        for key in dict.fromkeys(v["Key"] for v in between(timedelta(minutes=40))):  # one `aws s3 rm` a key
            marker = aws.s3.delete_object(Bucket=bucket, Key=key)
            markers.append((key, marker["VersionId"]))
        stash["deleted"] = markers

    def deleted_revert():
        for key, marker_id in stash.pop("deleted", []):
            aws.s3.delete_object(Bucket=bucket, Key=key, VersionId=marker_id)

    def placeholders_apply():
        chosen = between(timedelta(minutes=40))
        take_out("placeholders-originals", chosen)
        stash["placeholders"] = [(key, agent_state.put_backdated(key, b"", at, bucket))
                                 for key, _, at in stash["placeholders-originals"]]

    def placeholders_revert():
        for key, version_id in stash.pop("placeholders", []):
            aws.s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id)
        put_back("placeholders-originals")

    # -- BAK-AGENT-VERSIONING ----------------------------------------------------------------------
    def suspended_window_apply():
        at = (aws.incident_start - timedelta(hours=3, minutes=2, seconds=30)).replace(microsecond=0)
        key = agent_state.archive_key(AGENT, at, layout)
        aws.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
        try:
            version_id = agent_state.put_backdated(key, agent_state.build_archive(AGENT, at, layout=layout), at,
                                                   bucket)
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
        for version in agent_state.stored_versions(layout.agent_state_prefix, bucket):
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

    deep_archive = {"Rules": [dict(agent_state.lifecycle(layout)["Rules"][0],
                                   Transitions=[{"Days": 1, "StorageClass": "DEEP_ARCHIVE"}],
                                   NoncurrentVersionTransitions=[{"NoncurrentDays": 1, "StorageClass": "DEEP_ARCHIVE"}])]}

    def hole_apply():
        take_out("hole", between(timedelta(days=5), timedelta(days=2)))

    # -- BAK-AGENT-ARCHIVE -------------------------------------------------------------------------
    def other_agent_apply():
        other = next(a for a in aws.ctx.state["agents"] if a != AGENT)
        overwrite_newest("other-agent", agent_state.build_archive(other, aws.incident_start, layout=layout))

    def empty_state_apply():
        state = {member: json.dumps({}).encode() for member in layout.agent_state_members}
        overwrite_newest("empty-state", agent_state.build_archive(AGENT, aws.incident_start, state, layout))

    def member_missing_apply():
        members = list(layout.agent_state_members)
        kept = {m: json.dumps({"agent": AGENT, "saved_at": aws.incident_start.isoformat(), "file": m}).encode()
                for m in members[:-1]}
        overwrite_newest("member-missing", agent_state.build_archive(AGENT, aws.incident_start, kept, layout))

    # -- every agent: one that runs in the DR cluster but is in no targets file --------------------
    def kube():
        cluster = aws.ctx.components.get("kubernetes")
        if cluster is None or getattr(cluster, "store", None) is None:
            raise RuntimeError("the sandbox's DR cluster is not running: no pod can be started")
        from ..kube.resources import find_type

        return cluster.store, find_type("", "v1", "pods")

    def unlisted_apply():
        store, pods = kube()
        key, value = AGENT_SELECTOR
        agent_pods = [p for p in store.list(pods, None) if (p["metadata"].get("labels") or {}).get(key) == value]
        if not agent_pods:
            raise RuntimeError(f"no pod labelled {key}={value} to model the unlisted agent's pod on")
        pod = copy.deepcopy(agent_pods[0])
        meta = pod["metadata"]
        name = f"{UNLISTED_AGENT}-0"
        labels = {k: v for k, v in (meta.get("labels") or {}).items()
                  if k not in ("controller-revision-hash", "statefulset.kubernetes.io/pod-name")}
        labels.update({AGENT_LABEL: UNLISTED_AGENT, key: value})
        pod["metadata"] = {"name": name, "namespace": meta["namespace"], "labels": labels,
                           "annotations": dict(meta.get("annotations") or {})}
        pod["spec"]["hostname"] = name
        for container in pod["spec"].get("containers", []):
            container["args"] = [f"--agent={UNLISTED_AGENT}" if str(a).startswith("--agent=") else a
                                 for a in container.get("args", [])]
        store.create(pods, pod)
        stash["unlisted"] = (meta["namespace"], name)

    def unlisted_revert():
        where = stash.pop("unlisted", None)
        if where:
            store, pods = kube()
            store.delete(pods, *where)

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
              run(lifecycle, deep_archive), run(lifecycle, agent_state.lifecycle(layout))),
        Fault("agent-history-hole-3d", ("BAK-AGENT-RETENTION",),
              f"{AGENT}'s versions from 5 to 2 days before the incident are gone (deleted by version id); the oldest "
              "still reach back 7 days", run(hole_apply), run(put_back, "hole")),
        Fault("agent-archive-of-another-agent", ("BAK-AGENT-ARCHIVE",),
              f"{AGENT}'s newest archive has a new current version: a valid archive of another agent's state",
              run(other_agent_apply), run(remove_overwrite, "other-agent")),
        Fault("agent-archive-empty-state", ("BAK-AGENT-ARCHIVE",),
              f"{AGENT}'s newest archive has a new current version: a valid archive whose state files "
              f"({', '.join(layout.agent_state_members)}) are {{}} (with a matching manifest)",
              run(empty_state_apply), run(remove_overwrite, "empty-state")),
        Fault("agent-archive-member-missing", ("BAK-AGENT-ARCHIVE",),
              f"{AGENT}'s newest archive has a new current version: a valid .tar.gz with a matching manifest, but "
              f"without {layout.agent_state_members[-1] if layout.agent_state_members else 'its state'} (the backup "
              "job's file list changed)", run(member_missing_apply), run(remove_overwrite, "member-missing")),
        Fault("unlisted-agent-without-backup",
              ("BAK-AGENT-REALTIME", "BAK-AGENT-VERSIONING", "BAK-AGENT-RETENTION", "BAK-AGENT-ARCHIVE", "OBJ-RPO"),
              f"an agent pod {UNLISTED_AGENT}-0 runs in the DR cluster (labelled like every agent) but the targets "
              "file does not list it and its state was never backed up: every listed agent looks fine",
              run(unlisted_apply), run(unlisted_revert)),
    ]
