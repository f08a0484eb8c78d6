"""Backup strategy of agent state (BAK-AGENT-*): the versioned agent-state bucket, its retention,
and the archives' recency and contents.

One listing of every version under the agent-state prefix serves every check here (and OBJ-RPO).
Times are measured against a ``backups.Reference`` (the incident start when known, else now).

Everything here is read from the DR side: the S3 client the suites pass is the secondary region's and
the agent-state bucket is the DR copy, so the checks (and OBJ-RPO) still decide while the primary
region is down.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zlib
from dataclasses import dataclass
from datetime import timedelta

from ..clients.aws import call, describe_error
from ..errors import DRUnverifiable
from ..results import CheckResult, Evidence, trim
from ..timeparse import format_duration, isoformat
from .backups import Reference, _aware

EXPECTED_STATE_FILES = ("memory.json", "tasks.json")
MANIFEST = "MANIFEST.sha256"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024


@dataclass
class AgentVersions:
    """One listing of every version and delete marker under the agent-state prefix."""

    bucket: str
    prefix: str
    versions: list[dict]
    delete_markers: list[dict]

    def archives(self, agent: str) -> list[dict]:
        """The agent's archive versions (delete markers and other files left out)."""
        own = f"{self.prefix}{agent}/"
        return [v for v in self.versions
                if (v.get("Key") or "").startswith(own) and v["Key"].endswith(ARCHIVE_SUFFIXES) and v.get("LastModified")]

    @property
    def listed(self) -> str:
        return (f"aws s3api list-object-versions --bucket {self.bucket} --prefix {self.prefix} "
                f"({len(self.versions)} versions, {len(self.delete_markers)} delete markers)")


def list_agent_versions(s3, bucket: str, prefix: str) -> AgentVersions:
    """Every version under ``prefix`` in one paginated listing (1000 per call)."""

    def collect():
        versions, markers = [], []
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            versions += page.get("Versions", [])
            markers += page.get("DeleteMarkers", [])
        return versions, markers

    versions, markers = call(f"S3 ListObjectVersions s3://{bucket}/{prefix}", collect)
    return AgentVersions(bucket, prefix, versions, markers)


# -- reading the listing ------------------------------------------------------------------------------
# The smallest gzip stream is 18 bytes of header and trailer around at least 2 bytes of deflate data:
# anything smaller is no .tar.gz (an empty placeholder a failing backup job uploaded).
MIN_ARCHIVE_BYTES = 20
# Asynchronous archive classes: a version there is downloadable only after a restore request that
# takes hours (S3 Glacier Flexible Retrieval, Deep Archive), not by the plan's `aws s3 cp`.
OFFLINE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
# "Kept 7 days": every day of the window holds a version of the agent's state.
MAX_HISTORY_GAP = timedelta(days=1)


def _at(entry: dict):
    """LastModified of a listing entry (aware), or None when the field is missing."""
    value = entry.get("LastModified") if isinstance(entry, dict) else None
    return _aware(value) if value is not None else None


def _agents_problem(agents) -> str | None:
    if not agents:
        return "no agents to check (the target lists none): an empty agent list proves nothing"
    return None


def _listing_problem(listing) -> None:
    if listing is None or not isinstance(getattr(listing, "versions", None), list):
        raise DRUnverifiable("agent-state listing", "no listing of the agent-state prefix was made")


def agent_entries(listing: AgentVersions, agent: str) -> dict[str, list[tuple[object, bool, dict]]]:
    """Per archive key of the agent: its entries (time, is delete marker, entry), newest first."""
    own = f"{listing.prefix}{agent}/"
    keys: dict[str, list[tuple[object, bool, dict]]] = {}
    for entries, marker in ((listing.versions, False), (listing.delete_markers or [], True)):
        for entry in entries:
            key = entry.get("Key") or ""
            if key.startswith(own) and key.endswith(ARCHIVE_SUFFIXES) and _at(entry) is not None:
                keys.setdefault(key, []).append((_at(entry), marker, entry))
    for entries in keys.values():
        entries.sort(key=lambda item: (item[0], bool(item[2].get("IsLatest"))), reverse=True)
    return keys


def backups_at(listing: AgentVersions, agent: str, at) -> tuple[list[dict], list[str]]:
    """The agent's state backups as they stood at ``at`` and as a restore finds them now: per key, the
    version that was current at ``at``, unless a delete marker is the key's current entry now (``aws s3
    ls``/``aws s3 cp`` no longer see it) or the object is too small to be an archive. Returns (backups,
    why newer entries were not counted)."""
    backups, dropped = [], []
    for key, entries in agent_entries(listing, agent).items():
        then = next((e for e in entries if e[0] <= at), None)
        if then is None or then[1]:
            continue
        version = then[2]
        if any(marker and entry.get("IsLatest") for _, marker, entry in entries):
            dropped.append((then[0], "deleted (a delete marker is the current version)"))
        elif int(version.get("Size") or 0) < MIN_ARCHIVE_BYTES:
            dropped.append((then[0], f"{int(version.get('Size') or 0)} bytes, too small to be a .tar.gz"))
        else:
            backups.append(version)
    newest = max((_at(v) for v in backups), default=None)
    newer = [why for when, why in dropped if newest is None or when > newest]
    notes = [f"{newer.count(why)} newer {why}" for why in dict.fromkeys(newer)]
    return backups, notes


# -- BAK-AGENT-REALTIME -------------------------------------------------------------------------------
def agent_realtime(listing: AgentVersions, agents: list[str], reference: Reference, rpo: timedelta) -> CheckResult:
    """BAK-AGENT-REALTIME: every agent's newest state backup (at or before the reference, still current,
    not an empty placeholder) younger than the RPO."""
    cid = "BAK-AGENT-REALTIME"
    problem = _agents_problem(agents)
    if problem:
        return CheckResult(cid, False, problem, measured=0, limit=">= 1 agent")
    _listing_problem(listing)
    ages: dict[str, timedelta | None] = {}
    notes: dict[str, list[str]] = {}
    lines = []
    for agent in agents:
        backups, notes[agent] = backups_at(listing, agent, reference.at)
        newest = max((_at(v) for v in backups), default=None)
        ages[agent] = None if newest is None else reference.at - newest
        lines.append(f"{agent}: {len(backups)} backups, newest {isoformat(newest) if newest else '-'}"
                     + (f" ({', '.join(notes[agent])})" if notes[agent] else ""))
    evidence = [Evidence("newest state backup per agent", listing.listed, "\n".join(lines))]
    offenders = [f"{agent}: {'no state backup' if age is None else 'newest state backup ' + format_duration(age)} "
                 f"before {reference.label}" + (f" ({', '.join(notes[agent])})" if notes[agent] else "")
                 for agent, age in ages.items() if age is None or age > rpo]
    measured = {agent: age for agent, age in ages.items()}
    if offenders:
        return CheckResult(cid, False, "; ".join(offenders) + f", limit {format_duration(rpo)} (RPO)",
                           measured=measured, limit=rpo, offenders=offenders, evidence=evidence)
    oldest_agent = max(ages, key=lambda a: ages[a])
    return CheckResult(cid, True, f"newest state backup of every agent ({len(agents)}) at most "
                       f"{format_duration(ages[oldest_agent])} before {reference.label} ({oldest_agent}), limit "
                       f"{format_duration(rpo)} (RPO)", measured=measured, limit=rpo, evidence=evidence)


# -- BAK-AGENT-VERSIONING -----------------------------------------------------------------------------
def agent_versioning(s3, listing: AgentVersions, agents: list[str], reference: Reference,
                     retention: timedelta) -> CheckResult:
    """BAK-AGENT-VERSIONING: versioning is Enabled on the bucket that holds the agents' archives, and was
    on while the archives of the retention window were written (no version ``null`` among them)."""
    cid = "BAK-AGENT-VERSIONING"
    problem = _agents_problem(agents)
    if problem:
        return CheckResult(cid, False, problem, measured=0, limit=">= 1 agent")
    _listing_problem(listing)
    bucket = listing.bucket
    answer = call(f"S3 GetBucketVersioning {bucket}", s3.get_bucket_versioning, Bucket=bucket) or {}
    status = answer.get("Status") or "never enabled"
    since = reference.at - retention
    offenders = [] if status == "Enabled" else [f"versioning of s3://{bucket} is {status}, required Enabled"]
    lines = []
    for agent in agents:
        versions = [e for entries in agent_entries(listing, agent).values() for t, marker, e in entries
                    if not marker and since <= t <= reference.at]
        unversioned = sorted(_at(v) for v in versions if (v.get("VersionId") or "null") == "null")
        lines.append(f"{agent}: {len(versions)} archive versions in the {retention.days} d before {reference.label}, "
                     f"{len(unversioned)} with VersionId null")
        if not versions:
            offenders.append(f"{agent}: no archive versions in s3://{bucket}/{listing.prefix}{agent}/ in the "
                             f"{retention.days} d before {reference.label}: the versioned bucket holds none of its state")
        elif unversioned:
            offenders.append(f"{agent}: {len(unversioned)} of {len(versions)} archives written "
                             f"{isoformat(unversioned[0])} .. {isoformat(unversioned[-1])} have VersionId null: "
                             "versioning was off when they were written")
    evidence = [Evidence("bucket versioning", f"aws s3api get-bucket-versioning --bucket {bucket}",
                         f"Status={answer.get('Status')} MFADelete={answer.get('MFADelete')}"),
                Evidence("version ids of the archives", listing.listed, "\n".join(lines))]
    if offenders:
        return CheckResult(cid, False, "; ".join(offenders), measured=status, limit="Enabled",
                           offenders=[bucket] if status != "Enabled" and len(offenders) == 1 else offenders,
                           evidence=evidence)
    return CheckResult(cid, True, f"versioning of s3://{bucket} is Enabled and every archive of the {retention.days} d "
                       f"before {reference.label} has a version id ({len(agents)} agents)", measured=status,
                       limit="Enabled", evidence=evidence)


# -- BAK-AGENT-RETENTION ------------------------------------------------------------------------------
def lifecycle_rules(s3, bucket: str) -> list[dict]:
    """The bucket's lifecycle rules ([] when it has none)."""
    try:
        return s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except Exception as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
            return []
        _, reason = describe_error(exc)
        raise DRUnverifiable(f"S3 GetBucketLifecycleConfiguration {bucket}", reason) from None


def _rule_prefix(rule: dict) -> tuple[str | None, bool]:
    """(prefix, tag-filtered) of a lifecycle rule."""
    filt = rule.get("Filter")
    if filt is None:
        return rule.get("Prefix", ""), False
    if "And" in filt:
        return filt["And"].get("Prefix", ""), bool(filt["And"].get("Tags"))
    return filt.get("Prefix", ""), "Tag" in filt or "ObjectSizeGreaterThan" in filt or "ObjectSizeLessThan" in filt


def _rule_problems(rule: dict, name: str, days: int) -> list[str]:
    """What one lifecycle rule (that applies to the agent-state prefix) does to agent state within ``days``."""
    problems = []
    expiration = rule.get("Expiration") or {}
    noncurrent = rule.get("NoncurrentVersionExpiration") or {}
    if expiration.get("Days") is not None and expiration["Days"] < days:
        problems.append(f"{name} expires current versions after {expiration['Days']} d")
    if expiration.get("Date") is not None:
        problems.append(f"{name} expires current versions on {expiration['Date']}")
    if noncurrent.get("NoncurrentDays") is not None and noncurrent["NoncurrentDays"] < days:
        problems.append(f"{name} expires noncurrent versions after {noncurrent['NoncurrentDays']} d")
    for field_name, kind, unit in (("Transitions", "current", "Days"),
                                   ("NoncurrentVersionTransitions", "noncurrent", "NoncurrentDays")):
        for move in rule.get(field_name) or []:
            if move.get("StorageClass") not in OFFLINE_CLASSES:
                continue
            when = f"after {move[unit]} d" if move.get(unit) is not None else f"on {move.get('Date')}"
            if move.get(unit) is None or move[unit] < days:
                problems.append(f"{name} moves {kind} versions to {move['StorageClass']} {when}: not downloadable "
                                "without a restore request that takes hours")
    return problems


def agent_retention(rules: list[dict], listing: AgentVersions, agents: list[str], reference: Reference,
                    retention: timedelta) -> CheckResult:
    """BAK-AGENT-RETENTION: no Enabled lifecycle rule that applies to the agent-state prefix removes current
    or noncurrent versions, or moves them to an offline archive class, before the retention; every agent has
    versions reaching back the retention, with no day of it missing."""
    cid = "BAK-AGENT-RETENTION"
    problem = _agents_problem(agents)
    if problem:
        return CheckResult(cid, False, problem, measured=0, limit=">= 1 agent")
    _listing_problem(listing)
    if rules is None:
        raise DRUnverifiable(f"lifecycle rules of s3://{listing.bucket}", "not read")
    days = retention.days
    offenders: list[str] = []
    rule_lines = []
    for rule in rules:
        prefix, narrowed = _rule_prefix(rule)
        applies = rule.get("Status") == "Enabled" and (
            (prefix or "").startswith(listing.prefix) or listing.prefix.startswith(prefix or ""))
        name = f"rule {rule.get('ID') or '(no id)'}"
        rule_lines.append(f"{name}: status={rule.get('Status')} prefix={prefix!r}{' +filter' if narrowed else ''} "
                          f"Expiration={rule.get('Expiration')} NoncurrentVersionExpiration="
                          f"{rule.get('NoncurrentVersionExpiration')} Transitions={rule.get('Transitions')} "
                          f"NoncurrentVersionTransitions={rule.get('NoncurrentVersionTransitions')}")
        if applies:
            offenders += _rule_problems(rule, name, days)
    required = reference.at - retention
    reach: dict[str, timedelta | None] = {}
    lines = []
    for agent in agents:
        versions = [e for entries in agent_entries(listing, agent).values() for t, marker, e in entries
                    if not marker and t <= reference.at and int(e.get("Size") or 0) >= MIN_ARCHIVE_BYTES]
        times = sorted(_at(v) for v in versions)
        oldest = times[0] if times else None
        reach[agent] = None if oldest is None else reference.at - oldest
        window = [t for t in times if t >= required]
        offline = [v for v in versions if v.get("StorageClass") in OFFLINE_CLASSES and _at(v) >= required]
        before = [t for t in times if t < required]
        points = before[-1:] + window + [reference.at]
        gaps = [(b - a, a, b) for a, b in zip(points, points[1:])]
        gap, gap_from, gap_to = max(gaps, key=lambda g: g[0], default=(timedelta(0), None, None))
        lines.append(f"{agent}: {len(times)} versions, oldest {isoformat(oldest) if oldest else '-'}, "
                     f"{len(window)} in the {days} d before {reference.label}, largest gap {format_duration(gap)}")
        if oldest is None or oldest > required:
            shown = "no versions" if oldest is None else f"versions reach back only {format_duration(reach[agent])}"
            offenders.append(f"{agent}: {shown} before {reference.label}")
        elif gap > MAX_HISTORY_GAP:
            offenders.append(f"{agent}: no version between {isoformat(gap_from)} and {isoformat(gap_to)} "
                             f"({format_duration(gap)} of its history missing, limit {format_duration(MAX_HISTORY_GAP)})")
        if offline:
            offenders.append(f"{agent}: {len(offline)} versions of the last {days} d in "
                             f"{'/'.join(sorted({v['StorageClass'] for v in offline}))}, not downloadable")
    evidence = [Evidence("lifecycle rules", f"aws s3api get-bucket-lifecycle-configuration --bucket {listing.bucket}",
                         "\n".join(rule_lines) or "no lifecycle configuration"),
                Evidence("versions per agent", listing.listed, "\n".join(lines))]
    if offenders:
        return CheckResult(cid, False, f"agent state kept less than {days} d: " + "; ".join(offenders)
                           + f" (limit {days} d)", measured=reach, limit=retention, offenders=offenders,
                           evidence=evidence)
    shortest = min(reach.values(), default=None)
    return CheckResult(cid, True, f"no lifecycle rule removes or archives agent state before {days} d ({len(rules)} "
                       f"rules); every agent's versions reach back at least {format_duration(shortest or timedelta(0))} "
                       f"before {reference.label} with no day missing, limit {days} d", measured=reach,
                       limit=retention, evidence=evidence)


# -- BAK-AGENT-ARCHIVE --------------------------------------------------------------------------------
def newest_archive(listing: AgentVersions, agent: str) -> dict | None:
    """The agent's newest current archive: what a restore (``aws s3 cp``) downloads now."""
    current = [v for v in listing.archives(agent) if v.get("IsLatest")]
    return max(current, key=lambda v: _aware(v["LastModified"]), default=None)


def download(s3, bucket: str, version: dict) -> bytes:
    """The bytes of one object version (bounded size; errors: could not verify)."""
    key = version["Key"]
    if version.get("Size", 0) > MAX_ARCHIVE_BYTES:
        raise DRUnverifiable(f"s3://{bucket}/{key}", f"{version['Size']} bytes, more than this check downloads "
                             f"({MAX_ARCHIVE_BYTES} bytes)")

    def fetch():
        return s3.get_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])["Body"].read()

    return call(f"S3 GetObject s3://{bucket}/{key} (version {version['VersionId']})", fetch)


def _identity_problem(agent: str, names, documents: dict[str, object], agents) -> str | None:
    """Whose state the archive says it holds: its top folder (``<agent>-state/``) and the JSON files'
    ``agent`` field, where present, must name ``agent`` (or its short name, ``zeus`` for ``zeus-orchestrator``)."""
    folders = {name.split("/", 1)[0] for name in names if "/" in name}
    for folder in sorted(folders):
        stem = folder[:-len("-state")] if folder.endswith("-state") else None
        if stem and not _names(agent, stem):
            owner = next((a for a in agents or () if a != agent and _names(a, stem)), None)
            return f"holds {owner or stem}'s state ({folder}/), not {agent}'s"
    for file_name, document in sorted(documents.items()):
        claimed = document.get("agent") if isinstance(document, dict) else None
        if isinstance(claimed, str) and claimed and not _names(agent, claimed):
            return f"{file_name} is the state of agent {claimed!r}, not {agent}'s"
    return None


def _names(agent: str, name: str) -> bool:
    """``name`` names ``agent`` (in full or by its short name)."""
    return name == agent or agent.startswith(name + "-")


def _empty(value) -> bool:
    return value is None or value in ("", {}, [])


def archive_problems(body: bytes, expected: tuple[str, ...] = EXPECTED_STATE_FILES, agent: str | None = None,
                     agents: tuple[str, ...] | list[str] = ()) -> tuple[list[str], str]:
    """(problems, listing) of one state archive: readable .tar.gz of ``agent``'s state (when given), expected
    files valid JSON and not all empty, a manifest (where one exists) that lists them and matches."""
    if not body:
        return ["empty object (0 bytes)"], "0 bytes"
    try:
        files: dict[str, bytes] = {}
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
            for member in tar.getmembers():
                if member.isfile():
                    files[member.name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        return [f"not a readable .tar.gz ({type(exc).__name__}: {str(exc) or 'truncated'})"], f"{len(body)} bytes"
    listing = "\n".join(f"{name}  {len(data)} bytes" for name, data in sorted(files.items())) or "no files"
    by_base = {name.rsplit("/", 1)[-1]: name for name in files}
    problems = []
    documents: dict[str, object] = {}
    for wanted in expected:
        if wanted not in by_base:
            problems.append(f"{wanted} missing")
        elif wanted.endswith(".json"):
            try:
                documents[wanted] = json.loads(files[by_base[wanted]])
            except ValueError:
                problems.append(f"{wanted} is not valid JSON")
    json_files = [w for w in expected if w.endswith(".json")]
    if json_files and len(documents) == len(json_files) and all(_empty(d) for d in documents.values()):
        problems.append("holds no state: " + ", ".join(f"{name} is {json.dumps(documents[name])}" for name in json_files))
    if agent:
        identity = _identity_problem(agent, files, documents, agents)
        if identity:
            problems.append(identity)
    if MANIFEST in by_base:
        manifest_path = by_base[MANIFEST]
        folder = manifest_path.rsplit("/", 1)[0] + "/" if "/" in manifest_path else ""
        listed = set()
        for line in files[manifest_path].decode("utf-8", "replace").splitlines():
            if not line.strip():
                continue
            digest, _, name = line.strip().partition(" ")
            name = name.strip().lstrip("*")
            listed.add(name.rsplit("/", 1)[-1])
            data = files.get(folder + name)
            if data is None:
                problems.append(f"{name} listed in {MANIFEST} but missing")
            elif hashlib.sha256(data).hexdigest() != digest.lower():
                problems.append(f"{name} sha256 {hashlib.sha256(data).hexdigest()[:12]}..., {MANIFEST} says "
                                f"{digest[:12]}...")
        unlisted = [w for w in expected if w in by_base and w not in listed]
        if unlisted:
            problems.append(f"{MANIFEST} does not list {', '.join(unlisted)}: their checksums are not verified")
    return problems, listing


def agent_archive(s3, listing: AgentVersions, agents: list[str]) -> CheckResult:
    """BAK-AGENT-ARCHIVE: each agent's newest archive downloads, is a readable .tar.gz of that agent's state
    holding the expected state files (not all empty), and its checksums match MANIFEST.sha256 where one exists."""
    cid = "BAK-AGENT-ARCHIVE"
    problem = _agents_problem(agents)
    if problem:
        return CheckResult(cid, False, problem, measured=0, limit=">= 1 agent")
    _listing_problem(listing)
    offenders = []
    evidence = []
    with_manifest = 0
    for agent in agents:
        version = newest_archive(listing, agent)
        if version is None:
            offenders.append(f"{agent}: no state archive under s3://{listing.bucket}/{listing.prefix}{agent}/")
            continue
        key = version["Key"]
        body = download(s3, listing.bucket, version)
        problems, files = archive_problems(body, agent=agent, agents=agents)
        with_manifest += MANIFEST in files
        evidence.append(Evidence(f"{agent} newest archive",
                                 f"aws s3api get-object --bucket {listing.bucket} --key {key} --version-id "
                                 f"{version.get('VersionId')} state.tar.gz && tar -tzvf state.tar.gz && "
                                 f"tar -xzf state.tar.gz && (cd {agent}-state && sha256sum -c {MANIFEST})",
                                 f"LastModified {isoformat(_aware(version['LastModified']))}, {len(body)} bytes\n"
                                 + trim("\n".join(problems) or files, 1500)))
        offenders += [f"{agent}: {key.rsplit('/', 1)[-1]}: {p}" for p in problems]
    if offenders:
        return CheckResult(cid, False, "unusable agent-state archives: " + "; ".join(offenders)
                           + f" (expected a .tar.gz of the agent's state with {', '.join(EXPECTED_STATE_FILES)} matching "
                           "its manifest)",
                           measured=f"{len(agents) - len({o.split(':')[0] for o in offenders})}/{len(agents)} usable",
                           limit="all usable", offenders=offenders, evidence=evidence)
    return CheckResult(cid, True, f"newest archive of all {len(agents)} agents is a readable .tar.gz of its own state "
                       f"with {', '.join(EXPECTED_STATE_FILES)}, checksums match {MANIFEST} ({with_manifest} of "
                       f"{len(agents)} have one)", measured=f"{len(agents)}/{len(agents)} usable", limit="all usable",
                       evidence=evidence)
