"""Backup strategy of agent state (BAK-AGENT-*): the versioned agent-state bucket, its retention,
and the archives' recency and contents.

One listing of every version under the agent-state prefix serves every check here (and OBJ-RPO).
Times are measured against a ``backups.Reference`` (the incident start when known, else now).

Everything here is read from the DR side: the S3 client the suites pass is the secondary region's and
the agent-state bucket is the DR copy, so the checks (and OBJ-RPO) still decide while the primary
region is down.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import tarfile
import zlib
from dataclasses import dataclass
from datetime import timedelta

from ..archive_keys import KEY_TIME_SLACK, ArchiveLayout, KeyMatch
from ..clients.aws import call, describe_error
from ..clients.s3_versions import list_versions
from ..errors import DRUnverifiable
from ..results import CheckResult, Evidence, trim
from ..timeparse import format_duration, isoformat
from .backups import Reference, _aware

MANIFEST = "MANIFEST.sha256"  # sha256sum's output, verified where an archive carries one
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024
ARCHIVES_AT_ONCE_BYTES = 64 * 1024 * 1024  # archives downloaded together up to this much (a larger one alone)


@dataclass
class AgentVersions:
    """One listing of every version and delete marker under the agent-state prefix, and the layout
    (key pattern, archive names, expected members) that says which of them are whose archives."""

    bucket: str
    prefix: str
    versions: list[dict]
    delete_markers: list[dict]
    layout: ArchiveLayout | None = None  # None: the targets file's documented defaults under ``prefix``

    def __post_init__(self) -> None:
        if self.layout is None:
            self.layout = ArchiveLayout.default(self.prefix)
        self._matched: dict[str, dict[str, KeyMatch | None]] = {}
        self._entries: dict[str, dict[str, list[tuple[object, bool, dict]]]] = {}
        self._facts: dict[str, list[tuple]] = {}
        self._matched_layout = self.layout

    def match(self, key: object, agent: str) -> KeyMatch | None:
        """``layout.match(key, agent)``, worked out once per key and agent: every check (and OBJ-RPO) asks
        it of every listed key for every agent, tens of thousands of keys at scale. A key that does not
        contain the agent's archive name is none of its archives (every key pattern has ``{agent}``)."""
        if not isinstance(key, str):
            return self.layout.match(key, agent)
        self._check_layout()
        known = self._matched.get(agent)
        if known is None:
            known = self._matched.setdefault(agent, {})
        try:
            return known[key]
        except KeyError:
            archive = self.layout.archive(agent)
            found = known[key] = self.layout.match(key, agent) if archive in key else None
            return found

    def _check_layout(self) -> None:
        if self._matched_layout is not self.layout:  # another layout given since: its own answers
            self._matched, self._entries, self._facts, self._matched_layout = {}, {}, {}, self.layout

    def entries(self, agent: str) -> dict[str, list[tuple[object, bool, dict]]]:
        """``agent_entries(self, agent)``, worked out once per agent (every BAK-AGENT check and OBJ-RPO asks;
        callers only read it)."""
        self._check_layout()
        known = self._entries.get(agent)
        if known is None:
            known = self._entries[agent] = _entries_of(self, agent)
        return known

    def key_facts(self, agent: str) -> list[tuple]:
        """``_facts_of(self, agent)``, worked out once per agent (BAK-AGENT-REALTIME and OBJ-RPO both ask)."""
        self._check_layout()
        known = self._facts.get(agent)
        if known is None:
            known = self._facts[agent] = _facts_of(self, agent)
        return known

    def sort_out(self, agents) -> None:
        """Work out which listed keys are whose archives for ``agents`` now (the read's thread), not in
        each check that asks first."""
        for agent in agents:
            self.key_facts(agent)

    def archives(self, agent: str) -> list[dict]:
        """The agent's archive versions: keys the pattern gives for its archive name (delete markers and
        other files left out)."""
        return [v for v in self.versions
                if isinstance(v, dict) and v.get("LastModified") and self.match(v.get("Key"), agent)]

    def where(self, agent: str) -> str:
        """The agent's archives as an S3 address pattern, for messages."""
        return f"s3://{self.bucket}/{self.layout.shown(agent)}"

    @property
    def listed(self) -> str:
        return (f"aws s3api list-object-versions --bucket {self.bucket} --prefix {self.prefix} "
                f"({len(self.versions)} versions, {len(self.delete_markers)} delete markers; archives are "
                f"{self.prefix}{self.layout.keys.pattern})")


def list_agent_versions(s3, backups, agents=(), prefix: str | None = None) -> AgentVersions:
    """Every version under the agent-state prefix, as one paginated listing returns them (1000 per call;
    a longer one listed by folder, concurrently: clients/s3_versions.py).

    ``backups`` is the Target's ``BackupSettings`` (``agents`` its ``Agent``s, for their archive names);
    the older form ``(s3, bucket, prefix)`` lists with the documented default key pattern."""
    if isinstance(backups, str):
        bucket, prefix = backups, prefix if prefix is not None else (agents if isinstance(agents, str) else "")
        layout = ArchiveLayout.default(prefix)
    else:
        bucket, prefix = backups.bucket, backups.agent_state_prefix
        layout = ArchiveLayout.of(backups, agents)

    versions, markers = call(f"S3 ListObjectVersions s3://{bucket}/{prefix}", list_versions, s3, bucket, prefix)
    listing = AgentVersions(bucket, prefix, versions, markers, layout)
    if not isinstance(backups, str):
        listing.sort_out(agent.name for agent in agents or ())
    return listing


# -- every agent: the listed ones and those running in the DR cluster ---------------------------------
def unlisted_running_agents(pods: list[dict], agent_label: str, agents) -> dict[str, str]:
    """Agents running in the DR cluster (``pods``: those matching ``kubernetes.agent_selector``) that the
    targets file does not list (``agents``: its ``Agent``s or names): name (the ``agent_label`` label) ->
    where it runs. A listed agent matches by its name or archive name. A pod that matches the selector
    but carries no ``agent_label`` cannot be told apart: could not verify."""
    listed = set()
    for agent in agents or ():
        listed |= {agent} if isinstance(agent, str) else {agent.name, agent.archive}
    found: dict[str, list[str]] = {}
    unnamed = []
    for pod in pods or ():
        meta = (pod or {}).get("metadata") or {}
        if ((pod or {}).get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue  # a finished pod runs no agent
        name = (meta.get("labels") or {}).get(agent_label)
        if not name:
            unnamed.append(f"{meta.get('namespace', '?')}/{meta.get('name', '?')}")
        elif name not in listed:
            found.setdefault(name, []).append(meta.get("name", "?"))
    if unnamed:
        raise DRUnverifiable("agents running in the DR cluster",
                             f"{len(unnamed)} pods match the agent selector but have no label {agent_label} "
                             f"({', '.join(unnamed[:3])}): cannot tell which agent they run",
                             "set kubernetes.agent_label to the label that names the agent")
    return {name: "pod " + ", ".join(sorted(pods_of)) for name, pods_of in sorted(found.items())}


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


def _unbacked(listing: AgentVersions, agent: str, discovered) -> str | None:
    """For an agent found running in the DR cluster but not listed in the targets file, with no archive
    at all: the one line that names it."""
    if not discovered or agent not in discovered or agent_entries(listing, agent):
        return None
    return (f"{agent} runs in the DR cluster ({discovered[agent]}) but has no state archive under "
            f"{listing.where(agent)} (it is not in the targets file; a recovery would lose its state)")


def _matcher(listing):
    """``(key, agent) -> KeyMatch | None`` of a listing (an ``AgentVersions`` remembers its answers)."""
    return listing.match if isinstance(listing, AgentVersions) else listing.layout.match


def agent_entries(listing: AgentVersions, agent: str) -> dict[str, list[tuple[object, bool, dict]]]:
    """Per archive key of the agent: its entries (time, is delete marker, entry), newest first."""
    if isinstance(listing, AgentVersions):
        return listing.entries(agent)
    return _entries_of(listing, agent)


def _entries_of(listing, agent: str) -> dict[str, list[tuple[object, bool, dict]]]:
    keys: dict[str, list[tuple[object, bool, dict]]] = {}
    match = _matcher(listing)
    for entries, marker in ((listing.versions, False), (listing.delete_markers or [], True)):
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            key = entry.get("Key") or ""
            if not match(key, agent):
                continue
            at = _at(entry)
            if at is not None:
                keys.setdefault(key, []).append((at, marker, entry))
    for entries in keys.values():
        entries.sort(key=lambda item: (item[0], bool(item[2].get("IsLatest"))), reverse=True)
    return keys


def _facts_of(listing, agent: str) -> list[tuple]:
    """Per archive key of the agent, what does not depend on the time asked about: (key, its entries newest
    first, the key's ``KeyMatch``, whether a delete marker is its current entry)."""
    match = _matcher(listing)
    return [(key, entries, match(key, agent), any(marker and entry.get("IsLatest") for _, marker, entry in entries))
            for key, entries in agent_entries(listing, agent).items()]


def _key_facts(listing, agent: str) -> list[tuple]:
    return listing.key_facts(agent) if isinstance(listing, AgentVersions) else _facts_of(listing, agent)


def backups_at(listing: AgentVersions, agent: str, at) -> tuple[list[dict], list[str]]:
    """The agent's state backups as they stood at ``at`` and as a restore finds them now: per key, the
    version that was current at ``at``, unless a delete marker is the key's current entry now (``aws s3
    ls``/``aws s3 cp`` no longer see it), the object is too small to be an archive, or its key names a
    time more than ``KEY_TIME_SLACK`` away from when it was written (a copied or mis-dated archive: the
    state it holds is not known to be from its LastModified). Returns (backups, why newer entries were
    not counted)."""
    backups, dropped = [], []
    for _key, entries, named, deleted_now in _key_facts(listing, agent):
        then = next((e for e in entries if e[0] <= at and not (e[1] and _in_the_second_of(e[0], at))), None)
        if then is None or then[1]:
            continue
        version = then[2]
        off = listing.layout.keys.disagreement(named, then[0]) if named else None
        if deleted_now:
            dropped.append((then[0], "deleted (a delete marker is the current version)"))
        elif int(version.get("Size") or 0) < MIN_ARCHIVE_BYTES:
            dropped.append((then[0], f"{int(version.get('Size') or 0)} bytes, too small to be a .tar.gz"))
        elif off is not None:
            dropped.append((then[0], f"written more than {format_duration(KEY_TIME_SLACK)} away from the time its "
                                     "key names (a copied or mis-dated archive)"))
        else:
            backups.append(version)
    newest = max((_at(v) for v in backups), default=None)
    newer = [why for when, why in dropped if newest is None or when > newest]
    notes = [f"{newer.count(why)} newer {why}" for why in dict.fromkeys(newer)]
    return backups, notes


def _in_the_second_of(when, at) -> bool:
    """S3 lists LastModified to the second: an entry listed in ``at``'s own second may have been written after
    ``at``. A delete marker there is not taken as already current at ``at`` (the archive it hides still counts
    as deleted now, and is named so: "N newer deleted")."""
    return when.microsecond == 0 and when == at.replace(microsecond=0)


# -- BAK-AGENT-REALTIME -------------------------------------------------------------------------------
def agent_realtime(listing: AgentVersions, agents: list[str], reference: Reference, *, rpo: timedelta,
                   discovered: dict[str, str] | None = None) -> CheckResult:
    """BAK-AGENT-REALTIME: every agent's newest state backup (at or before the reference, still current,
    not an empty placeholder, not a copy under an older key) younger than the RPO. ``discovered``: agents
    found running in the DR cluster that the targets file does not list (name -> where they run)."""
    problem = _agents_problem(agents)
    if problem:
        return CheckResult(False, problem, measured=0, limit=">= 1 agent")
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
    offenders = [_unbacked(listing, agent, discovered) or
                 f"{agent}: {'no state backup' if age is None else 'newest state backup ' + format_duration(age)} "
                 f"before {reference.label}" + (f" ({', '.join(notes[agent])})" if notes[agent] else "")
                 for agent, age in ages.items() if age is None or age > rpo]
    measured = {agent: age for agent, age in ages.items()}
    if offenders:
        return CheckResult(False, "; ".join(offenders) + f", limit {format_duration(rpo)} (RPO)",
                           measured=measured, limit=rpo, offenders=offenders, evidence=evidence)
    oldest_agent = max(ages, key=lambda a: ages[a])
    return CheckResult(True, f"newest state backup of every agent ({len(agents)}) at most "
                       f"{format_duration(ages[oldest_agent])} before {reference.label} ({oldest_agent}), limit "
                       f"{format_duration(rpo)} (RPO)", measured=measured, limit=rpo, evidence=evidence)


# -- BAK-AGENT-VERSIONING -----------------------------------------------------------------------------
def agent_versioning(s3, listing: AgentVersions, agents: list[str], reference: Reference, *,
                     retention: timedelta, discovered: dict[str, str] | None = None) -> CheckResult:
    """BAK-AGENT-VERSIONING: versioning is Enabled on the bucket that holds the agents' archives, and was
    on while the archives of the retention window were written (no version ``null`` among them)."""
    problem = _agents_problem(agents)
    if problem:
        return CheckResult(False, problem, measured=0, limit=">= 1 agent")
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
            offenders.append(_unbacked(listing, agent, discovered) or
                             f"{agent}: no archive versions in {listing.where(agent)} in the {retention.days} d "
                             f"before {reference.label}: the versioned bucket holds none of its state")
        elif unversioned:
            offenders.append(f"{agent}: {len(unversioned)} of {len(versions)} archives written "
                             f"{isoformat(unversioned[0])} .. {isoformat(unversioned[-1])} have VersionId null: "
                             "versioning was off when they were written")
    evidence = [Evidence("bucket versioning", f"aws s3api get-bucket-versioning --bucket {bucket}",
                         f"Status={answer.get('Status')} MFADelete={answer.get('MFADelete')}"),
                Evidence("version ids of the archives", listing.listed, "\n".join(lines))]
    if offenders:
        return CheckResult(False, "; ".join(offenders), measured=status, limit="Enabled",
                           offenders=[bucket] if status != "Enabled" and len(offenders) == 1 else offenders,
                           evidence=evidence)
    return CheckResult(True, f"versioning of s3://{bucket} is Enabled and every archive of the {retention.days} d "
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


def agent_retention(rules: list[dict], listing: AgentVersions, agents: list[str], reference: Reference, *,
                    retention: timedelta, discovered: dict[str, str] | None = None) -> CheckResult:
    """BAK-AGENT-RETENTION: no Enabled lifecycle rule that applies to the agent-state prefix removes current
    or noncurrent versions, or moves them to an offline archive class, before the retention; every agent has
    versions reaching back the retention, with no day of it missing."""
    problem = _agents_problem(agents)
    if problem:
        return CheckResult(False, problem, measured=0, limit=">= 1 agent")
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
            offenders.append(_unbacked(listing, agent, discovered) or f"{agent}: {shown} before {reference.label}")
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
        return CheckResult(False, f"agent state kept less than {days} d: " + "; ".join(offenders)
                           + f" (limit {days} d)", measured=reach, limit=retention, offenders=offenders,
                           evidence=evidence)
    shortest = min(reach.values(), default=None)
    return CheckResult(True, f"no lifecycle rule removes or archives agent state before {days} d ({len(rules)} "
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


def _download_ahead(s3, bucket: str, newest: list[tuple[str, dict | None]], start: int) -> dict[int, bytes]:
    """The archive at ``start`` and the next ones, downloaded at once (one round trip, not one per agent),
    up to CONCURRENT_READS archives and ARCHIVES_AT_ONCE_BYTES (by their listed sizes) together: what is
    held in memory stays bounded. The first download in order that failed raises, as one after another."""
    from ..clients.kube import CONCURRENT_READS, concurrently

    group: list[int] = []
    size = 0
    for index in range(start, len(newest)):
        version = newest[index][1]
        if version is None:
            continue
        size += version.get("Size", 0) or 0
        if group and (len(group) == CONCURRENT_READS or size > ARCHIVES_AT_ONCE_BYTES):
            break
        group.append(index)
    bodies = concurrently([functools.partial(download, s3, bucket, newest[index][1]) for index in group])
    return dict(zip(group, bodies))


def _state_folder(files: dict[str, bytes]) -> tuple[str, dict[str, bytes]]:
    """(folder, files relative to it): the archive's files at its root, or all under one top folder
    (``tar -czf <archive>-state-<date>.tar.gz <archive>-state/``)."""
    clean = {}
    for name, data in files.items():
        while name.startswith("./"):
            name = name[2:]
        clean[name.lstrip("/")] = data
    tops = {name.split("/", 1)[0] if "/" in name else None for name in clean}
    if len(tops) == 1 and None not in tops:
        folder = tops.pop()
        return folder, {name[len(folder) + 1:]: data for name, data in clean.items()}
    return "", clean


def _names(agent: str, name: str, archive: str) -> bool:
    """``name`` (a JSON ``agent`` field) names ``agent``: its name, its archive name, or a dash-prefix of
    its name (``a`` for ``a-b``)."""
    return name in (agent, archive) or agent.startswith(name + "-")


def _folder_owner(folder: str, candidates: dict[str, set[str]]) -> str | None:
    """The agent a top folder is named after (``<agent>-state/``): the longest agent or archive
    name the folder is or starts with (followed by ``-``, ``_`` or ``.``)."""
    best, length = None, -1
    for owner, names in candidates.items():
        for name in names:
            if name and (folder == name or folder.startswith((name + "-", name + "_", name + "."))) and len(name) > length:
                best, length = owner, len(name)
    return best


def _identity_problem(agent: str, folder: str, documents: dict[str, object], agents, layout: ArchiveLayout) -> str | None:
    """Whose state the archive says it holds: a top folder named after another known agent, or a JSON
    file whose ``agent`` field names another agent."""
    archive = layout.archive(agent)
    candidates = {a: {a, layout.archive(a)} for a in dict.fromkeys([agent, *(agents or ())])}
    if folder:
        owner = _folder_owner(folder, candidates)
        if owner is not None and owner != agent:
            return f"holds {owner}'s state ({folder}/), not {agent}'s"
    for file_name, document in sorted(documents.items()):
        claimed = document.get("agent") if isinstance(document, dict) else None
        if isinstance(claimed, str) and claimed and not _names(agent, claimed, archive):
            return f"{file_name} is the state of agent {claimed!r}, not {agent}'s"
    return None


def _empty(value) -> bool:
    return value is None or value in ("", {}, [])


def _manifest_problems(manifest: bytes, state: dict[str, bytes], required: list[str]) -> list[str]:
    """``sha256sum -c MANIFEST.sha256`` in the state folder, and every required file listed."""
    problems, listed = [], set()
    for number, line in enumerate(manifest.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        digest, _, name = line.strip().partition(" ")
        name = name.strip().lstrip("*")
        while name.startswith("./"):
            name = name[2:]
        if not name:
            problems.append(f"{MANIFEST} line {number} names no file")
            continue
        listed.add(name)
        data = state.get(name)
        if data is None:
            problems.append(f"{name} listed in {MANIFEST} but missing")
        elif hashlib.sha256(data).hexdigest() != digest.lower():
            problems.append(f"{name} sha256 {hashlib.sha256(data).hexdigest()[:12]}..., {MANIFEST} says {digest[:12]}...")
    unlisted = [name for name in required if name in state and name not in listed]
    if unlisted:
        problems.append(f"{MANIFEST} does not list {', '.join(unlisted)}: their checksums are not verified")
    return problems


def archive_problems(body: bytes, expected: tuple[str, ...] | None = None, agent: str | None = None,
                     agents: tuple[str, ...] | list[str] = (), layout: ArchiveLayout | None = None
                     ) -> tuple[list[str], str]:
    """(problems, listing) of one state archive: a readable .tar.gz whose state folder (its root, or its one
    top folder) holds the expected members (``expected``, else ``layout.members``; none named: at least one
    non-empty file), not all empty, JSON files valid, a ``MANIFEST.sha256`` (where one exists) that lists
    them and matches, and (with ``agent``) no sign that it is another agent's state."""
    layout = layout or ArchiveLayout.default()
    expected = tuple(layout.members if expected is None else expected)
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
    folder, state = _state_folder(files)
    content = {name: data for name, data in state.items() if name != MANIFEST}
    order = [name for name in expected if name in content] + sorted(n for n in content if n not in expected)
    problems = [f"{name} missing" + (f" (the state folder is {folder}/)" if folder else "")
                for name in expected if name not in content]
    documents: dict[str, object] = {}
    for name in order:
        if name.endswith(".json") and content[name]:
            try:
                documents[name] = json.loads(content[name])
            except ValueError:
                problems.append(f"{name} is not valid JSON")

    def emptiness(name: str) -> str | None:
        if not content[name]:
            return "0 bytes"
        if name in documents and _empty(documents[name]):
            return json.dumps(documents[name])
        return None

    if not content:
        problems.append("holds no state: no files" + (" besides " + MANIFEST if MANIFEST in state else ""))
    elif all(emptiness(name) for name in order) and not any(p.endswith("not valid JSON") for p in problems):
        problems.append("holds no state: " + ", ".join(f"{name} is {emptiness(name)}" for name in order))
    else:
        problems += [f"{name} is empty (0 bytes)" for name in expected if name in content and not content[name]]
    if agent:
        identity = _identity_problem(agent, folder, documents, agents, layout)
        if identity:
            problems.append(identity)
    if MANIFEST in state:
        problems += _manifest_problems(state[MANIFEST], state, list(expected) or order)
    return problems, listing


def agent_archive(s3, listing: AgentVersions, agents: list[str],
                  discovered: dict[str, str] | None = None) -> CheckResult:
    """BAK-AGENT-ARCHIVE: each agent's newest archive downloads, is a readable .tar.gz of that agent's state
    holding the target's expected members (none named: at least one non-empty file), not all empty, and its
    checksums match MANIFEST.sha256 where one exists."""
    problem = _agents_problem(agents)
    if problem:
        return CheckResult(False, problem, measured=0, limit=">= 1 agent")
    _listing_problem(listing)
    members = listing.layout.members
    wanted = ", ".join(members) if members else "at least one non-empty file"
    offenders = []
    evidence = []
    with_manifest = 0
    newest = [(agent, newest_archive(listing, agent)) for agent in agents]
    bodies: dict[int, bytes] = {}
    for index, (agent, version) in enumerate(newest):
        if version is None:
            offenders.append(_unbacked(listing, agent, discovered) or
                             f"{agent}: no state archive under {listing.where(agent)}")
            continue
        if index not in bodies:
            bodies.update(_download_ahead(s3, listing.bucket, newest, index))
        key = version["Key"]
        body = bodies.pop(index)
        problems, files = archive_problems(body, agent=agent, agents=agents, layout=listing.layout)
        with_manifest += MANIFEST in files
        evidence.append(Evidence(f"{agent} newest archive",
                                 f"aws s3api get-object --bucket {listing.bucket} --key {key} --version-id "
                                 f"{version.get('VersionId')} state.tar.gz && tar -tzvf state.tar.gz && "
                                 f"tar -xzf state.tar.gz && sha256sum -c {MANIFEST} (in the state folder)",
                                 f"LastModified {isoformat(_aware(version['LastModified']))}, {len(body)} bytes\n"
                                 + trim("\n".join(problems) or files, 1500)))
        offenders += [f"{agent}: {key.rsplit('/', 1)[-1]}: {p}" for p in problems]
    if offenders:
        return CheckResult(False, "unusable agent-state archives: " + "; ".join(offenders)
                           + f" (expected a .tar.gz of the agent's state with {wanted}, matching its manifest)",
                           measured=f"{len(agents) - len({o.split(':')[0].split(' ')[0] for o in offenders})}"
                                    f"/{len(agents)} usable",
                           limit="all usable", offenders=offenders, evidence=evidence)
    return CheckResult(True, f"newest archive of all {len(agents)} agents is a readable .tar.gz of its own state "
                       f"with {wanted}, checksums match {MANIFEST} ({with_manifest} of {len(agents)} have one)",
                       measured=f"{len(agents)}/{len(agents)} usable", limit="all usable", evidence=evidence)
