"""The agent-state backup bucket: versioned, with a 7-day lifecycle, holding real archives.

Bucket, prefix, key pattern, archive names and members come from the sandbox layout (``ctx.layout``):
the default layout writes ``agent-state/<agent>/<agent>-state-<timestamp>.tar.gz`` holding
``<agent>-state/`` with ``memory.json``, ``tasks.json`` and ``MANIFEST.sha256``; the alternate one the
plan's flat ``agents/state/zeus-state-<date>.tar.gz`` (one key a day, each backup a new S3 version of
it) holding ``zeus-state/`` with ``memory.json`` and the manifest. Their times are history: S3
``LastModified`` cannot be set over HTTP, so the sandbox writes them through moto's in-process backend
and sets it there.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from datetime import datetime, timedelta

from ..dr_database import current_scale
from ..layout import DEFAULT
from .rds_backend import ACCOUNT_ID, naive_utc

# the default layout's names (kept for callers that predate layouts)
BUCKET = DEFAULT.bucket
PREFIX = DEFAULT.agent_state_prefix


def lifecycle(layout=DEFAULT) -> dict:
    """The bucket's lifecycle: agent state kept 7 days (noncurrent versions), current ones 8."""
    return {
        "Rules": [{
            "ID": "agent-state-retention",
            "Filter": {"Prefix": layout.agent_state_prefix},
            "Status": "Enabled",
            "Expiration": {"Days": 8},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
        }]
    }


LIFECYCLE = lifecycle(DEFAULT)
HISTORY = timedelta(days=7, hours=12)
COARSE_EVERY = timedelta(hours=6)
FINE_EVERY = timedelta(minutes=5)
NEWEST_BEFORE_INCIDENT = timedelta(minutes=3)


def _store(bucket: str):
    from moto.s3.models import s3_backends

    return s3_backends[ACCOUNT_ID]["aws"].get_bucket(bucket).keys


def stored_versions(prefix: str, bucket: str = BUCKET) -> list:
    """moto's stored versions (FakeKey) under ``prefix``, for faults that rewrite what S3 would show."""
    store = _store(bucket)
    return [version for name in list(dict.keys(store)) if name.startswith(prefix) for version in store.getlist(name)]


def archive_key(agent: str, at: datetime, layout=DEFAULT) -> str:
    """The full key of ``agent``'s archive written at ``at``, as the layout names it."""
    return layout.archive_key(agent, at)


def _member_body(member: str, agent: str, at: datetime) -> bytes:
    """What the agent's backup job writes for one state file."""
    if member.rsplit("/", 1)[-1] == "memory.json":
        return json.dumps({"agent": agent, "saved_at": at.isoformat(), "facts": [
            f"{agent} fact {i}" for i in range(5)]}, indent=2).encode()
    if member.rsplit("/", 1)[-1] == "tasks.json":
        return json.dumps({"agent": agent, "open": [f"task-{at:%H%M}-{i}" for i in range(3)]}, indent=2).encode()
    if member.endswith(".json"):
        return json.dumps({"agent": agent, "saved_at": at.isoformat(), "file": member}, indent=2).encode()
    return f"{agent} state {member} saved {at.isoformat()}\n".encode()


def build_archive(agent: str, at: datetime, state: dict[str, bytes] | None = None, layout=DEFAULT) -> bytes:
    """A real state archive as the agent's backup job writes it: the layout's members under
    ``<archive name>-state/`` with a ``MANIFEST.sha256`` (``state``: other state files, for faults)."""
    files = dict(state) if state is not None else {
        member: _member_body(member, agent, at) for member in layout.agent_state_members}
    manifest = "".join(f"{hashlib.sha256(body).hexdigest()}  {name}\n" for name, body in files.items())
    files["MANIFEST.sha256"] = manifest.encode()
    folder = f"{layout.archive_name(agent)}-state"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size, info.mtime, info.mode = len(body), int(at.timestamp()), 0o644
            tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def agent_versions(s3, agent: str, layout=DEFAULT) -> list[dict]:
    """Every version of ``agent``'s archives (ListObjectVersions under the prefix, the keys the layout
    gives for its archive name)."""
    from ...archive_keys import ArchiveKeys

    keys = ArchiveKeys(layout.agent_state_prefix, layout.agent_state_key)
    archive = layout.archive_name(agent)
    found = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=layout.bucket,
                                                                  Prefix=layout.agent_state_prefix):
        found += [v for v in page.get("Versions", []) if keys.match(v.get("Key"), archive)]
    return found


def backup_times(incident: datetime, per_agent: int = 0) -> list[datetime]:
    """When each agent's archives were written: every 5 min in the last hour, then every 6 h back
    over the 7.5-day history; with ``per_agent`` (scale mode), that many archives in all, the older
    ones evenly spaced over the same history."""
    newest = (incident - NEWEST_BEFORE_INCIDENT).replace(microsecond=0)
    times = [newest - FINE_EVERY * i for i in range(12)]
    if per_agent > len(times):
        start, oldest = newest - timedelta(hours=1), incident - HISTORY - COARSE_EVERY
        older = per_agent - len(times)
        step = (start - oldest) / older
        times += [(start - step * (i + 1)).replace(microsecond=0) for i in range(older)]
        return sorted(set(times))
    at = newest - timedelta(hours=1)
    while at >= incident - HISTORY:
        at -= COARSE_EVERY
        times.append(at)
    return sorted(times)


_LISTED_KEY_CLASSES: dict[type, type] = {}


def _listed_key_class(base: type) -> type:
    """A subclass of moto's ``FakeKey`` whose deep copy is a metadata copy.

    moto's ListObjectVersions deep-copies *every* stored version on *every* page (to set
    ``IsLatest`` on the copies), and a deep copy of a key copies its body: 20,000 archives made
    each page cost seconds, the listing minutes. S3's cost is per page; so is this one's. The copy
    shares name, version, times, size and ETag and gets an empty body buffer of its own (a listing
    never reads bodies, and disposing of the copy must not close the stored key's buffer)."""
    if base not in _LISTED_KEY_CLASSES:
        def __deepcopy__(self, memo):  # noqa: N807
            if self._etag is None:
                self.etag  # noqa: B018 - computes and caches the ETag before the body is left behind
            clone = object.__new__(type(self))
            clone.__dict__.update(self.__dict__)
            clone._value_buffer = io.BytesIO()
            clone.multipart = None
            clone.lock = threading.Lock()
            clone.disposed = True  # nothing of the stored key to release when the copy goes
            return clone

        _LISTED_KEY_CLASSES[base] = type("ListedFakeKey", (base,), {"__deepcopy__": __deepcopy__})
    return _LISTED_KEY_CLASSES[base]


def put_backdated(key: str, body: bytes, at: datetime, bucket: str = BUCKET) -> str:
    """Write one object version dated ``at`` (under the bucket's versioning status); returns its VersionId.

    The key's versions stay in time order (moto's newest is the last one), as S3 keeps them: in the
    flat layout one key holds a day of versions, and a version put back into the past must not become
    the one ``GetObject`` returns."""
    from moto.s3.models import s3_backends

    backend = s3_backends[ACCOUNT_ID]["aws"]
    store = backend.get_bucket(bucket).keys
    kept = None
    if getattr(backend.get_bucket(bucket), "versioning_status", None) == "Suspended" and store.getlist(key):
        # S3 with versioning suspended replaces only the key's null version; moto would drop them all
        kept = list(store.getlist(key))
        dict.__delitem__(store, key)
    obj = backend.put_object(bucket, key, body)
    if kept:
        for version in kept:
            if getattr(version, "version_id", None) == "null" and hasattr(version, "dispose"):
                version.dispose()
        dict.__setitem__(store, key, [v for v in kept if getattr(v, "version_id", None) != "null"] + [obj])
    obj.last_modified = naive_utc(at)
    obj.etag  # noqa: B018 - cached now, so listings never read bodies
    obj.__class__ = _listed_key_class(type(obj))
    versions = _store(bucket).getlist(key) or []
    if len(versions) > 1 and versions[-1] is obj and versions[-2].last_modified > obj.last_modified:
        versions.sort(key=lambda v: v.last_modified)  # in place: nothing disposed
    return obj.version_id


def install_paged_version_listing(backend) -> None:
    """Make ``backend.list_object_versions`` cost one page, not the whole bucket, per call.

    moto sorts and copies every version of the bucket for each page; S3 pages through an index.
    For the listings clients make (a prefix, no delimiter) this walks the sorted key names from
    the marker and copies only the returned versions: the same versions, order, ``IsLatest`` and
    markers as moto (its marker rules are kept verbatim). With a delimiter, moto's own loop runs over the
    stored versions, copying only those it returns.
    Each page's answer is written by ``version_listing`` (not moto's generic serializer)."""
    import copy

    from moto.core.utils import unix_time_millis
    from moto.s3.models import FakeKey

    from .version_listing import serve_version_listing

    serve_version_listing()
    if getattr(backend, "_kosmos_paged_versions", False):
        return
    listed_classes = _LISTED_KEY_CLASSES.values()

    def list_object_versions(bucket_name, delimiter=None, key_marker=None, max_keys=1000, prefix="",
                             version_id_marker=None):
        if delimiter:
            return delimited(bucket_name, delimiter, key_marker, max_keys, prefix or "", version_id_marker)
        prefix = prefix or ""
        store = backend.get_bucket(bucket_name).keys
        names = sorted(name for name in dict.keys(store)  # from the marker on: the page and what follows it
                       if name.startswith(prefix) and (not key_marker or name >= key_marker))
        requested, markers = [], []
        next_key_marker = next_version_id_marker = None
        last_added = None
        skipping = key_marker is not None
        for name in names:
            versions = store.getlist(name) or []
            if len(versions) > 1:
                versions = sorted(versions, key=lambda r: -unix_time_millis(r.last_modified))
            for index, version in enumerate(versions):
                if skipping:
                    skipping = before_marker(version, key_marker, version_id_marker)
                    continue
                if max_keys is not None and len(requested) + len(markers) >= max_keys:
                    next_key_marker = last_added.name if last_added is not None else name
                    next_version_id_marker = last_added.version_id if last_added is not None else None
                    return requested, [], markers, next_key_marker, next_version_id_marker
                last_added = listed = copied(version, index == 0)
                (requested if isinstance(listed, FakeKey) else markers).append(listed)
        return requested, [], markers, next_key_marker, next_version_id_marker

    def before_marker(version, key_marker, version_id_marker) -> bool:
        """moto's marker rule, for a version skipped as at or before the page's marker: whether the next one
        is still before it (a key marker alone: the keys before it; with a version marker: up to that version)."""
        if not version_id_marker:
            return version.name < key_marker
        return not (version.name == key_marker and version.version_id == version_id_marker)

    def copied(version, is_latest):
        """A returned version: a seeded archive's metadata copy (``_listed_key_class``) made directly."""
        listed = version.__deepcopy__({}) if type(version) in listed_classes else copy.deepcopy(version)
        listed.is_latest = is_latest
        return listed

    def delimited(bucket_name, delimiter, key_marker, max_keys, prefix, version_id_marker):
        """moto's delimited listing, its loop verbatim, over the stored versions instead of a deep copy of
        every one of them (0.7 s at scale for the listing the gate makes of the prefix's folders): only the
        returned versions are copied."""
        bucket = backend.get_bucket(bucket_name)
        common_prefixes: set[str] = set()
        requested_versions, delete_markers = [], []
        next_key_marker = next_version_id_marker = None
        all_versions = [version for _, versions in bucket.keys.iterlists() for version in versions]
        all_versions.sort(key=lambda r: (r.name, -unix_time_millis(r.last_modified)))
        last_name = None
        skip_versions = key_marker is not None
        last_item_added = None
        for version in all_versions:
            name = version.name
            is_latest = name != last_name
            if is_latest:
                last_name = name
            if skip_versions:
                skip_versions = before_marker(version, key_marker, version_id_marker)
                continue
            if not name.startswith(prefix):
                continue
            is_common_prefix = False
            if delimiter and delimiter in name[len(prefix):]:
                end_of_delimiter = len(prefix) + name[len(prefix):].index(delimiter) + len(delimiter)
                prefix_including_delimiter = name[0:end_of_delimiter]
                if prefix_including_delimiter == key_marker:
                    continue
                common_prefixes.add(prefix_including_delimiter)
                name = prefix_including_delimiter
                is_common_prefix = True
            elif last_item_added:
                name = last_item_added.name
            if max_keys is not None and len(requested_versions) + len(delete_markers) + len(common_prefixes) >= max_keys:
                next_key_marker = name
                if is_common_prefix:
                    next_version_id_marker = None
                elif last_item_added is not None:
                    next_version_id_marker = last_item_added.version_id
                else:
                    next_version_id_marker = None
                break
            if not is_common_prefix:
                last_item_added = listed = copied(version, is_latest)
                (requested_versions if isinstance(listed, FakeKey) else delete_markers).append(listed)
        return requested_versions, sorted(common_prefixes), delete_markers, next_key_marker, next_version_id_marker

    backend.list_object_versions = list_object_versions
    backend._kosmos_paged_versions = True


def create_bucket(s3, region: str, agents: list[str], incident: datetime, layout=DEFAULT) -> dict:
    """Bucket, versioning, lifecycle, and every agent's archives up to a few minutes before ``incident``,
    named, keyed and filled as ``layout`` says."""
    from moto.s3.models import s3_backends

    install_paged_version_listing(s3_backends[ACCOUNT_ID]["aws"])
    bucket = layout.bucket
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=lifecycle(layout))
    newest = {}
    total = current_scale().agent_state_objects
    per_agent = -(-total // len(agents)) if total and agents else 0
    for at in backup_times(incident, per_agent):
        for agent in agents:
            key = archive_key(agent, at, layout)
            put_backdated(key, build_archive(agent, at, layout=layout), at, bucket)
            newest[agent] = key
    return newest
