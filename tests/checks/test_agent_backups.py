"""BAK-AGENT-* on plain data: a healthy listing passes; each wrong world fails with what is wrong."""

import hashlib
import io
import json
import tarfile
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from pytest_kosmos_dr import DRUnverifiable
from pytest_kosmos_dr.archive_keys import ArchiveKeys, ArchiveLayout
from pytest_kosmos_dr.checks import agent_backups as ab
from pytest_kosmos_dr.checks.backups import Reference

AT = datetime(2025, 12, 13, 9, 12, tzinfo=timezone.utc)
REF = Reference(AT, "the incident start")
RPO, KEEP = timedelta(minutes=15), timedelta(days=7)
ZEUS = "zeus-orchestrator"


def version(minutes_before, agent=ZEUS, size=4000, version_id=None, latest=True, storage="STANDARD"):
    at = AT - timedelta(minutes=minutes_before)
    return {"Key": f"agent-state/{agent}/{agent}-state-{at:%Y%m%dT%H%M%SZ}.tar.gz", "LastModified": at, "Size": size,
            "VersionId": version_id or f"v{minutes_before}", "IsLatest": latest, "StorageClass": storage}


def history(agent=ZEUS):
    """Every 5 min in the last hour, every 6 h back over 7.5 days."""
    return [version(m, agent) for m in range(3, 60, 5)] + [version(60 * h, agent) for h in range(6, 181, 6)]


FOLDERS = ArchiveLayout(ArchiveKeys("agent-state/", "{agent}/{agent}-state-{timestamp}.tar.gz"),
                        ("memory.json", "tasks.json"))


def listing(versions, markers=(), layout=FOLDERS):
    return ab.AgentVersions("kosmos-backups", "agent-state/", list(versions), list(markers), layout)


RULES = [{"ID": "agent-state-retention", "Filter": {"Prefix": "agent-state/"}, "Status": "Enabled",
          "Expiration": {"Days": 8}, "NoncurrentVersionExpiration": {"NoncurrentDays": 7}}]


def archive(agent=ZEUS, memory=None, tasks=None, manifest=True):
    files = {"memory.json": json.dumps(memory if memory is not None else {"facts": ["a"]}).encode(),
             "tasks.json": json.dumps(tasks if tasks is not None else {"open": []}).encode()}
    if manifest:
        files["MANIFEST.sha256"] = "".join(f"{hashlib.sha256(b).hexdigest()}  {n}\n" for n, b in files.items()).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(f"{agent}-state/{name}")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


class S3:
    def __init__(self, body=b"", status="Enabled"):
        self.body, self.status = body, status

    def get_bucket_versioning(self, Bucket):
        return {"Status": self.status} if self.status else {}

    def get_object(self, **_):
        return {"Body": io.BytesIO(self.body)}


# -- BAK-AGENT-REALTIME -------------------------------------------------------------------------------
def test_realtime_passes_on_a_fresh_history():
    result = ab.agent_realtime(listing(history()), [ZEUS], REF, rpo=RPO)
    assert result.passed, result.summary


def test_realtime_fails_on_no_agents():
    assert not ab.agent_realtime(listing(history()), [], REF, rpo=RPO).passed


DELETED_NOTE = " (8 newer deleted (a delete marker is the current version))"


@pytest.mark.parametrize(("deleted_at", "note"), [
    (AT + timedelta(minutes=5), DELETED_NOTE),
    # S3 lists LastModified to the second: a marker listed in the incident's own second may be from after it
    (AT, DELETED_NOTE),
    (AT - timedelta(seconds=1), ""),  # deleted before the incident: no backups at it, nothing "newer deleted"
])
def test_realtime_does_not_count_backups_a_delete_marker_hides(deleted_at, note):
    versions = history()
    markers = [{"Key": v["Key"], "VersionId": "m" + v["VersionId"], "IsLatest": True, "LastModified": deleted_at}
               for v in versions if v["LastModified"] > AT - timedelta(minutes=40)]
    for v in versions:
        if v["LastModified"] > AT - timedelta(minutes=40):
            v["IsLatest"] = False
    result = ab.agent_realtime(listing(versions, markers), [ZEUS], REF, rpo=RPO)
    assert not result.passed
    assert result.summary == (f"zeus-orchestrator: newest state backup 43 min before the incident start{note}, "
                              "limit 15 min (RPO)")


def test_realtime_does_not_count_empty_placeholders():
    versions = [dict(v, Size=0) if v["LastModified"] > AT - timedelta(minutes=40) else v for v in history()]
    result = ab.agent_realtime(listing(versions), [ZEUS], REF, rpo=RPO)
    assert not result.passed
    assert "newest state backup 43 min before the incident start (8 newer 0 bytes, too small" in result.summary


def test_realtime_ignores_backups_written_after_the_reference():
    result = ab.agent_realtime(listing([version(-5), version(60)]), [ZEUS], REF, rpo=RPO)
    assert not result.passed and "60 min" in result.summary


# -- BAK-AGENT-VERSIONING -----------------------------------------------------------------------------
def test_versioning_passes_when_enabled_and_every_archive_is_versioned():
    assert ab.agent_versioning(S3(), listing(history()), [ZEUS], REF, retention=KEEP).passed


def test_versioning_suspended_keeps_its_message():
    result = ab.agent_versioning(S3(status="Suspended"), listing(history()), [ZEUS], REF, retention=KEEP)
    assert result.summary == "versioning of s3://kosmos-backups is Suspended, required Enabled"


def test_versioning_enabled_but_archives_of_the_window_unversioned():
    versions = [dict(v, VersionId="null") if v["LastModified"] < AT - timedelta(days=2) else v for v in history()]
    result = ab.agent_versioning(S3(), listing(versions), [ZEUS], REF, retention=KEEP)
    assert not result.passed and "have VersionId null: versioning was off when they were written" in result.summary


def test_versioning_of_a_bucket_without_the_agents_archives_fails():
    result = ab.agent_versioning(S3(), listing(history("athena-analyst")), [ZEUS], REF, retention=KEEP)
    assert not result.passed and "the versioned bucket holds none of its state" in result.summary


# -- BAK-AGENT-RETENTION ------------------------------------------------------------------------------
def test_retention_passes_on_a_seven_day_history():
    result = ab.agent_retention(RULES, listing(history()), [ZEUS], REF, retention=KEEP)
    assert result.passed, result.summary


def test_retention_sees_a_rule_on_part_of_the_prefix():
    rules = RULES + [{"ID": "zeus-cleanup", "Filter": {"Prefix": "agent-state/zeus"}, "Status": "Enabled",
                      "Expiration": {"Days": 2}}]
    result = ab.agent_retention(rules, listing(history()), [ZEUS], REF, retention=KEEP)
    assert not result.passed and "rule zeus-cleanup expires current versions after 2 d" in result.summary


def test_retention_sees_a_transition_to_an_offline_class():
    rules = [dict(RULES[0], Transitions=[{"Days": 1, "StorageClass": "GLACIER"}])]
    result = ab.agent_retention(rules, listing(history()), [ZEUS], REF, retention=KEEP)
    assert not result.passed and "moves current versions to GLACIER after 1 d" in result.summary


def test_retention_ignores_an_abort_rule_and_instant_retrieval():
    rules = RULES + [{"ID": "abort", "Filter": {"Prefix": ""}, "Status": "Enabled",
                      "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                      "Transitions": [{"Days": 1, "StorageClass": "GLACIER_IR"}]}]
    assert ab.agent_retention(rules, listing(history()), [ZEUS], REF, retention=KEEP).passed


def test_retention_sees_a_hole_in_the_history():
    versions = [v for v in history() if not AT - timedelta(days=5) < v["LastModified"] < AT - timedelta(days=2)]
    result = ab.agent_retention(RULES, listing(versions), [ZEUS], REF, retention=KEEP)
    assert not result.passed and "of its history missing, limit 24 h 00 min" in result.summary


def test_retention_sees_versions_already_archived():
    versions = [dict(v, StorageClass="DEEP_ARCHIVE") if v["LastModified"] < AT - timedelta(days=1) else v
                for v in history()]
    result = ab.agent_retention(RULES, listing(versions), [ZEUS], REF, retention=KEEP)
    assert not result.passed and "in DEEP_ARCHIVE, not downloadable" in result.summary


# -- BAK-AGENT-ARCHIVE --------------------------------------------------------------------------------
def test_archive_passes_on_the_agents_own_state():
    result = ab.agent_archive(S3(archive()), listing(history()), [ZEUS])
    assert result.passed, result.summary


def test_archive_of_another_agent_fails():
    result = ab.agent_archive(S3(archive("athena-analyst")), listing(history()), [ZEUS, "athena-analyst"])
    assert not result.passed and "holds athena-analyst's state (athena-analyst-state/), not zeus-orchestrator's" in \
        result.summary


AGENTS = [ZEUS, "athena-analyst", "hermes-courier"]


class ArchivesByKey:
    """Each agent's own archive by key; ``gate`` (a barrier) holds every download until that many are asked."""

    def __init__(self, gate=None, failing=()):
        self.gate, self.failing, self.lock = gate, failing, threading.Lock()
        self.in_flight = self.most = 0

    def get_object(self, Bucket, Key, VersionId):
        agent = Key.split("/")[1]
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            if self.gate is not None:
                self.gate.wait()
            else:
                time.sleep(0.05)
            if agent in self.failing:
                raise RuntimeError(f"read of {agent} failed")
            return {"Body": io.BytesIO(archive(agent))}
        finally:
            with self.lock:
                self.in_flight -= 1


def every_agents_history(size=4000):
    return [dict(v, Size=size) for agent in AGENTS for v in history(agent)]


def test_the_agents_archives_are_downloaded_at_once_and_judged_in_order():
    s3 = ArchivesByKey(gate=threading.Barrier(3, timeout=10))  # one after another, the first would wait alone
    result = ab.agent_archive(s3, listing(every_agents_history()), AGENTS)
    assert result.passed, result.summary
    assert [e.title for e in result.evidence] == [f"{agent} newest archive" for agent in AGENTS]


def test_large_archives_are_downloaded_one_at_a_time():
    s3 = ArchivesByKey()
    result = ab.agent_archive(s3, listing(every_agents_history(size=40 * 1024 * 1024)), AGENTS)
    assert result.passed, result.summary
    assert s3.most == 1  # 2 x 40 MB is over what is downloaded together


def test_the_first_failed_download_in_the_agents_order_is_what_cannot_be_verified():
    s3 = ArchivesByKey(failing=("athena-analyst", "hermes-courier"))
    with pytest.raises(DRUnverifiable, match="athena-analyst"):
        ab.agent_archive(s3, listing(every_agents_history()), AGENTS)


def test_archive_under_the_plans_short_name_passes():
    assert ab.archive_problems(archive("zeus"), agent=ZEUS, layout=FOLDERS)[0] == []


def test_archive_with_only_empty_state_fails():
    problems, _ = ab.archive_problems(archive(memory={}, tasks={}), agent=ZEUS, layout=FOLDERS)
    assert problems == ["holds no state: memory.json is {}, tasks.json is {}"]


def test_archive_whose_manifest_lists_nothing_fails():
    body = archive(manifest=False)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as src, tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member in src.getmembers():
            tar.addfile(member, src.extractfile(member))
        info = tarfile.TarInfo(f"{ZEUS}-state/MANIFEST.sha256")
        tar.addfile(info, io.BytesIO(b""))
    problems, _ = ab.archive_problems(buffer.getvalue(), agent=ZEUS, layout=FOLDERS)
    assert problems == ["MANIFEST.sha256 does not list memory.json, tasks.json: their checksums are not verified"]


def test_archive_that_is_an_empty_object_fails():
    assert ab.archive_problems(b"")[0] == ["empty object (0 bytes)"]


# -- the plan's flat layout: agent-state/zeus-state-YYYYMMDD.tar.gz, S3 versions within the day -----------
FLAT = ArchiveLayout(ArchiveKeys("agent-state/", "{agent}-state-{date}.tar.gz"), (), ((ZEUS, "zeus"),))


def flat_version(minutes_before, size=4000, latest=False, key_day=None):
    at = AT - timedelta(minutes=minutes_before)
    return {"Key": f"agent-state/zeus-state-{(key_day or at):%Y%m%d}.tar.gz", "LastModified": at, "Size": size,
            "VersionId": f"v{minutes_before}", "IsLatest": latest, "StorageClass": "STANDARD"}


def flat_history():
    """Every 5 min in the last hour, every 6 h back over 7.5 days; the newest of each day's key is current."""
    versions = [flat_version(m) for m in range(3, 60, 5)] + [flat_version(60 * h) for h in range(6, 181, 6)]
    for day in {v["Key"] for v in versions}:
        max((v for v in versions if v["Key"] == day), key=lambda v: v["LastModified"])["IsLatest"] = True
    return versions


def test_flat_layout_passes_every_listing_check():
    versions = flat_history()
    assert ab.agent_realtime(listing(versions, layout=FLAT), [ZEUS], REF, rpo=RPO).passed
    assert ab.agent_versioning(S3(), listing(versions, layout=FLAT), [ZEUS], REF, retention=KEEP).passed
    result = ab.agent_retention(RULES, listing(versions, layout=FLAT), [ZEUS], REF, retention=KEEP)
    assert result.passed, result.summary
    newest = ab.newest_archive(listing(versions, layout=FLAT), ZEUS)
    assert newest["VersionId"] == "v3" and newest["Key"] == "agent-state/zeus-state-20251213.tar.gz"


def test_flat_layout_archive_passes_with_any_non_empty_state():
    result = ab.agent_archive(S3(archive("zeus")), listing(flat_history(), layout=FLAT), [ZEUS])
    assert result.passed, result.summary
    assert "with at least one non-empty file" in result.summary


def test_per_agent_folders_are_not_the_plans_layout():
    """The folder layout's keys are no archives under the plan's flat pattern: no state backup."""
    result = ab.agent_realtime(listing(history(), layout=FLAT), [ZEUS], REF, rpo=RPO)
    assert not result.passed
    assert result.summary.startswith("zeus-orchestrator: no state backup before the incident start")


def test_a_deleted_days_key_hides_every_version_of_that_day():
    versions = flat_history()
    today = "agent-state/zeus-state-20251213.tar.gz"
    for v in versions:
        if v["Key"] == today:
            v["IsLatest"] = False
    marker = {"Key": today, "VersionId": "m", "IsLatest": True, "LastModified": AT + timedelta(minutes=1)}
    result = ab.agent_realtime(listing(versions, [marker], layout=FLAT), [ZEUS], REF, rpo=RPO)
    assert not result.passed and "1 newer deleted (a delete marker is the current version)" in result.summary


def test_an_archive_written_days_after_the_date_its_key_names_is_no_backup_of_that_time():
    """A copy of an old archive re-uploaded under its old key: fresh LastModified, old state."""
    versions = [flat_version(3, latest=True, key_day=AT - timedelta(days=3))] + [
        v for v in flat_history() if v["LastModified"] < AT - timedelta(hours=1)]
    result = ab.agent_realtime(listing(versions, layout=FLAT), [ZEUS], REF, rpo=RPO)
    assert not result.passed
    assert "1 newer written more than 24 h 00 min away from the time its key names (a copied or mis-dated " \
        "archive)" in result.summary


def test_listed_agent_found_by_its_archive_name_only():
    versions = [dict(v, Key=v["Key"].replace("zeus-state", "zeus-orchestrator-state")) for v in flat_history()]
    result = ab.agent_realtime(listing(versions, layout=FLAT), [ZEUS], REF, rpo=RPO)
    assert not result.passed and "no state backup" in result.summary


# -- agents running in the DR cluster ---------------------------------------------------------------------
def pod(name, agent, phase="Running"):
    labels = {"app.kubernetes.io/component": "agent"}
    if agent:
        labels["app.kubernetes.io/name"] = agent
    return {"metadata": {"name": name, "namespace": "kosmos", "labels": labels}, "status": {"phase": phase}}


def test_running_agents_the_targets_file_does_not_list():
    pods = [pod("zeus-orchestrator-0", ZEUS), pod("hermes-x-0", "hermes-x"), pod("old-job", "cron-x", "Succeeded")]
    assert ab.unlisted_running_agents(pods, "app.kubernetes.io/name", [ZEUS]) == {"hermes-x": "pod hermes-x-0"}
    assert ab.unlisted_running_agents([], "app.kubernetes.io/name", [ZEUS]) == {}


def test_a_running_pod_without_the_agent_label_cannot_be_judged():
    import pytest

    from pytest_kosmos_dr.errors import DRUnverifiable

    with pytest.raises(DRUnverifiable, match="have no label app.kubernetes.io/name"):
        ab.unlisted_running_agents([pod("mystery-0", None)], "app.kubernetes.io/name", [ZEUS])


DISCOVERED = {"hermes-x": "pod hermes-x-0"}
UNBACKED = ("hermes-x runs in the DR cluster (pod hermes-x-0) but has no state archive under "
            "s3://kosmos-backups/agent-state/hermes-x/hermes-x-state-{timestamp}.tar.gz")


def test_unlisted_running_agent_without_backup_fails_every_criterion():
    agents = [ZEUS, "hermes-x"]
    results = [
        ab.agent_realtime(listing(history()), agents, REF, rpo=RPO, discovered=DISCOVERED),
        ab.agent_versioning(S3(), listing(history()), agents, REF, retention=KEEP, discovered=DISCOVERED),
        ab.agent_retention(RULES, listing(history()), agents, REF, retention=KEEP, discovered=DISCOVERED),
        ab.agent_archive(S3(archive()), listing(history()), agents, discovered=DISCOVERED),
    ]
    for result in results:
        assert not result.passed and UNBACKED in result.summary, result.summary
        assert "zeus-orchestrator:" not in result.summary  # the listed agent is fine


def test_unlisted_running_agent_with_backups_is_judged_like_the_listed_ones():
    versions = history() + history("hermes-x")
    result = ab.agent_realtime(listing(versions), [ZEUS, "hermes-x"], REF, rpo=RPO, discovered=DISCOVERED)
    assert result.passed and "(2)" in result.summary


def test_the_listing_answers_for_each_key_what_the_layout_does():
    """``AgentVersions.match`` (worked out once per key and agent, keys without the archive name skipped) says
    of every key what ``layout.match`` says: agents whose names contain each other, a short archive name,
    stray keys, keys that are no string; and a layout given afterwards answers for itself."""
    keys = [v["Key"] for v in history() + history("zeus") + history("athena")] + [
        "agent-state/stray.txt", "agent-state/zeus-orchestrator/", "agent-state/zeus-state-20251213.tar.gz",
        "agent-state/zeus-orchestrator-state-20251340.tar.gz", "other/zeus-state-20251213.tar.gz", "", None, 7]
    agents = [ZEUS, "zeus", "athena", "hermes"]
    for layout in (FOLDERS, FLAT):
        found = listing([{"Key": key, "LastModified": AT} for key in keys], layout=layout)
        found.sort_out(agents)
        for _ in range(2):  # worked out, then remembered
            assert [[found.match(key, a) for a in agents] for key in keys] == \
                   [[layout.match(key, a) for a in agents] for key in keys]
        found.layout = FLAT if layout is FOLDERS else FOLDERS
        assert [found.match(key, ZEUS) for key in keys] == [found.layout.match(key, ZEUS) for key in keys]
    assert sum(bool(FOLDERS.match(key, "zeus")) for key in keys) == len(history("zeus"))
    assert sum(bool(FLAT.match(key, ZEUS)) for key in keys) == 1  # the plan's short name, zeus


def test_the_listing_keeps_delete_markers_and_stray_keys_in_view():
    """Sorting out whose keys are whose leaves nothing out: a stray key is listed (and counted), a delete
    marker still hides the backup it covers."""
    newest = version(3)
    hidden = listing(history() + [{"Key": "agent-state/stray.txt", "LastModified": AT, "Size": 1}],
                     markers=[{"Key": newest["Key"], "LastModified": AT - timedelta(minutes=1), "IsLatest": True,
                               "VersionId": "m1"}])
    hidden.sort_out([ZEUS])
    assert "(43 versions, 1 delete markers;" in hidden.listed
    backups, _ = ab.backups_at(hidden, ZEUS, AT)
    assert newest not in backups and len(backups) == len(history()) - 1
    assert ab.agent_realtime(hidden, [ZEUS], REF, rpo=RPO).measured[ZEUS] == timedelta(minutes=8)
