"""Backup strategy of agent state (BAK-AGENT-*): the versioned agent-state bucket, its retention,
and the archives' recency and contents.

One listing of every version under the agent-state prefix serves every check here (and OBJ-RPO).
Times are measured against a ``backups.Reference`` (the incident start when known, else now).
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
        return [v for v in self.versions if v["Key"].startswith(own) and v["Key"].endswith(ARCHIVE_SUFFIXES)]

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


# -- BAK-AGENT-REALTIME -------------------------------------------------------------------------------
def agent_realtime(listing: AgentVersions, agents: list[str], reference: Reference, rpo: timedelta) -> CheckResult:
    """BAK-AGENT-REALTIME: every agent's newest state backup (at or before the reference) younger than the RPO."""
    cid = "BAK-AGENT-REALTIME"
    ages: dict[str, timedelta | None] = {}
    lines = []
    for agent in agents:
        times = [_aware(v["LastModified"]) for v in listing.archives(agent) if _aware(v["LastModified"]) <= reference.at]
        newest = max(times, default=None)
        ages[agent] = None if newest is None else reference.at - newest
        lines.append(f"{agent}: {len(times)} backups, newest {isoformat(newest) if newest else '-'}")
    evidence = [Evidence("newest state backup per agent", listing.listed, "\n".join(lines))]
    offenders = [f"{agent}: {'no state backup' if age is None else 'newest state backup ' + format_duration(age)} "
                 f"before {reference.label}" for agent, age in ages.items() if age is None or age > rpo]
    measured = {agent: age for agent, age in ages.items()}
    if offenders:
        return CheckResult(cid, False, "; ".join(offenders) + f", limit {format_duration(rpo)} (RPO)",
                           measured=measured, limit=rpo, offenders=offenders, evidence=evidence)
    oldest_agent = max(ages, key=lambda a: ages[a])
    return CheckResult(cid, True, f"newest state backup of every agent ({len(agents)}) at most "
                       f"{format_duration(ages[oldest_agent])} before {reference.label} ({oldest_agent}), limit "
                       f"{format_duration(rpo)} (RPO)", measured=measured, limit=rpo, evidence=evidence)


# -- BAK-AGENT-VERSIONING -----------------------------------------------------------------------------
def agent_versioning(s3, bucket: str) -> CheckResult:
    """BAK-AGENT-VERSIONING: versioning is Enabled on the agent-state bucket."""
    cid = "BAK-AGENT-VERSIONING"
    answer = call(f"S3 GetBucketVersioning {bucket}", s3.get_bucket_versioning, Bucket=bucket)
    status = answer.get("Status") or "never enabled"
    evidence = [Evidence("bucket versioning", f"aws s3api get-bucket-versioning --bucket {bucket}",
                         f"Status={answer.get('Status')} MFADelete={answer.get('MFADelete')}")]
    return CheckResult(cid, status == "Enabled", f"versioning of s3://{bucket} is {status}, required Enabled",
                       measured=status, limit="Enabled", offenders=[] if status == "Enabled" else [bucket],
                       evidence=evidence)


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


def agent_retention(rules: list[dict], listing: AgentVersions, agents: list[str], reference: Reference,
                    retention: timedelta) -> CheckResult:
    """BAK-AGENT-RETENTION: no Enabled lifecycle rule that applies to the agent-state prefix removes current
    or noncurrent versions before the retention; every agent has versions reaching back the retention."""
    cid = "BAK-AGENT-RETENTION"
    days = retention.days
    offenders: list[str] = []
    lines = []
    for rule in rules:
        prefix, narrowed = _rule_prefix(rule)
        applies = rule.get("Status") == "Enabled" and (
            (prefix or "").startswith(listing.prefix) or listing.prefix.startswith(prefix or ""))
        name = f"rule {rule.get('ID') or '(no id)'}"
        lines.append(f"{name}: status={rule.get('Status')} prefix={prefix!r}{' +filter' if narrowed else ''} "
                     f"Expiration={rule.get('Expiration')} NoncurrentVersionExpiration="
                     f"{rule.get('NoncurrentVersionExpiration')}")
        if not applies:
            continue
        expiration = rule.get("Expiration") or {}
        noncurrent = rule.get("NoncurrentVersionExpiration") or {}
        if expiration.get("Days") is not None and expiration["Days"] < days:
            offenders.append(f"{name} expires current versions after {expiration['Days']} d")
        if expiration.get("Date") is not None:
            offenders.append(f"{name} expires current versions on {expiration['Date']}")
        if noncurrent.get("NoncurrentDays") is not None and noncurrent["NoncurrentDays"] < days:
            offenders.append(f"{name} expires noncurrent versions after {noncurrent['NoncurrentDays']} d")
    required = reference.at - retention
    reach: dict[str, timedelta | None] = {}
    for agent in agents:
        times = [_aware(v["LastModified"]) for v in listing.archives(agent)]
        oldest = min(times, default=None)
        reach[agent] = None if oldest is None else reference.at - oldest
        covered = sum(1 for t in times if required <= t <= reference.at)
        lines.append(f"{agent}: {len(times)} versions, oldest {isoformat(oldest) if oldest else '-'}, "
                     f"{covered} in the {days} d before {reference.label}")
        if oldest is None or oldest > required:
            shown = "no versions" if oldest is None else f"versions reach back only {format_duration(reach[agent])}"
            offenders.append(f"{agent}: {shown} before {reference.label}")
    evidence = [Evidence("lifecycle rules", f"aws s3api get-bucket-lifecycle-configuration --bucket {listing.bucket}",
                         "\n".join(lines[:len(rules)]) or "no lifecycle configuration"),
                Evidence("versions per agent", listing.listed, "\n".join(lines[len(rules):]))]
    if offenders:
        return CheckResult(cid, False, f"agent state kept less than {days} d: " + "; ".join(offenders)
                           + f" (limit {days} d)", measured=reach, limit=retention, offenders=offenders,
                           evidence=evidence)
    shortest = min(reach.values(), default=None)
    return CheckResult(cid, True, f"no lifecycle rule removes agent state before {days} d ({len(rules)} rules); "
                       f"every agent's versions reach back at least {format_duration(shortest or timedelta(0))} before "
                       f"{reference.label}, limit {days} d", measured=reach, limit=retention, evidence=evidence)


# -- BAK-AGENT-ARCHIVE --------------------------------------------------------------------------------
def newest_archive(listing: AgentVersions, agent: str) -> dict | None:
    """The agent's newest current archive: what a restore (``aws s3 cp``) downloads now."""
    current = [v for v in listing.archives(agent) if v.get("IsLatest")]
    return max(current, key=lambda v: v["LastModified"], default=None)


def download(s3, bucket: str, version: dict) -> bytes:
    """The bytes of one object version (bounded size; errors: could not verify)."""
    key = version["Key"]
    if version.get("Size", 0) > MAX_ARCHIVE_BYTES:
        raise DRUnverifiable(f"s3://{bucket}/{key}", f"{version['Size']} bytes, more than this check downloads "
                             f"({MAX_ARCHIVE_BYTES} bytes)")

    def fetch():
        return s3.get_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])["Body"].read()

    return call(f"S3 GetObject s3://{bucket}/{key} (version {version['VersionId']})", fetch)


def archive_problems(body: bytes, expected: tuple[str, ...] = EXPECTED_STATE_FILES) -> tuple[list[str], str]:
    """(problems, listing) of one state archive: readable .tar.gz, expected files (valid JSON), manifest."""
    try:
        files: dict[str, bytes] = {}
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
            for member in tar.getmembers():
                if member.isfile():
                    files[member.name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        return [f"not a readable .tar.gz ({type(exc).__name__}: {str(exc) or 'truncated'})"], f"{len(body)} bytes"
    listing = "\n".join(f"{name}  {len(data)} bytes" for name, data in sorted(files.items()))
    by_base = {name.rsplit("/", 1)[-1]: name for name in files}
    problems = []
    for wanted in expected:
        if wanted not in by_base:
            problems.append(f"{wanted} missing")
        elif wanted.endswith(".json"):
            try:
                json.loads(files[by_base[wanted]])
            except ValueError:
                problems.append(f"{wanted} is not valid JSON")
    if MANIFEST in by_base:
        manifest_path = by_base[MANIFEST]
        folder = manifest_path.rsplit("/", 1)[0] + "/" if "/" in manifest_path else ""
        for line in files[manifest_path].decode("utf-8", "replace").splitlines():
            if not line.strip():
                continue
            digest, _, name = line.strip().partition(" ")
            name = name.strip().lstrip("*")
            data = files.get(folder + name)
            if data is None:
                problems.append(f"{name} listed in {MANIFEST} but missing")
            elif hashlib.sha256(data).hexdigest() != digest.lower():
                problems.append(f"{name} sha256 {hashlib.sha256(data).hexdigest()[:12]}..., {MANIFEST} says "
                                f"{digest[:12]}...")
    return problems, listing


def agent_archive(s3, listing: AgentVersions, agents: list[str]) -> CheckResult:
    """BAK-AGENT-ARCHIVE: each agent's newest archive downloads, is a readable .tar.gz holding the expected
    state files, and its checksums match MANIFEST.sha256 where one exists."""
    cid = "BAK-AGENT-ARCHIVE"
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
        problems, files = archive_problems(body)
        with_manifest += MANIFEST in files
        evidence.append(Evidence(f"{agent} newest archive",
                                 f"aws s3api get-object --bucket {listing.bucket} --key {key} --version-id "
                                 f"{version['VersionId']} state.tar.gz && tar -tzvf state.tar.gz && "
                                 f"tar -xzf state.tar.gz && (cd {agent}-state && sha256sum -c {MANIFEST})",
                                 f"LastModified {isoformat(_aware(version['LastModified']))}, {len(body)} bytes\n"
                                 + trim("\n".join(problems) or files, 1500)))
        offenders += [f"{agent}: {key.rsplit('/', 1)[-1]}: {p}" for p in problems]
    if offenders:
        return CheckResult(cid, False, "unusable agent-state archives: " + "; ".join(offenders)
                           + f" (expected a .tar.gz with {', '.join(EXPECTED_STATE_FILES)} matching its manifest)",
                           measured=f"{len(agents) - len({o.split(':')[0] for o in offenders})}/{len(agents)} usable",
                           limit="all usable", offenders=offenders, evidence=evidence)
    return CheckResult(cid, True, f"newest archive of all {len(agents)} agents is a readable .tar.gz with "
                       f"{', '.join(EXPECTED_STATE_FILES)}, checksums match {MANIFEST} ({with_manifest} of "
                       f"{len(agents)} have one)", measured=f"{len(agents)}/{len(agents)} usable", limit="all usable",
                       evidence=evidence)
