"""Agent-state archive keys (backups.agent_state_key) and archive members (backups.agent_state_members) on
plain data: both layouts, keys that are no archives, and what an archive must hold."""

import hashlib
import io
import json
import tarfile
from datetime import datetime, timedelta, timezone

import pytest

from pytest_kosmos_dr.archive_keys import ArchiveKeys, ArchiveLayout, KeyMatch
from pytest_kosmos_dr.checks import agent_backups as ab
from pytest_kosmos_dr.target import Agent, BackupSettings

FLAT = ArchiveKeys("agent-state/", "{agent}-state-{date}.tar.gz")
FOLDERS = ArchiveKeys("agent-state/", "{agent}/{agent}-state-{timestamp}.tar.gz")
AT = datetime(2025, 12, 13, 9, 12, 5, tzinfo=timezone.utc)
DAY = datetime(2025, 12, 13, tzinfo=timezone.utc)


# -- keys -----------------------------------------------------------------------------------------------
def test_plans_flat_key_names_the_archive_and_its_day():
    assert FLAT.match("agent-state/zeus-state-20251213.tar.gz") == KeyMatch("zeus", DAY, timedelta(days=1))
    assert FLAT.format("zeus", AT) == "agent-state/zeus-state-20251213.tar.gz"


def test_per_agent_folder_key_names_the_archive_and_its_second():
    key = "agent-state/zeus-orchestrator/zeus-orchestrator-state-20251213T091205Z.tar.gz"
    assert FOLDERS.match(key) == KeyMatch("zeus-orchestrator", AT, timedelta(0))
    assert FOLDERS.format("zeus-orchestrator", AT) == key


def test_format_takes_any_time_zone_as_utc():
    local = AT.astimezone(timezone(timedelta(hours=-8)))
    assert FLAT.format("zeus", local) == "agent-state/zeus-state-20251213.tar.gz"


@pytest.mark.parametrize("key", [
    "", None, 42, "agent-state/", "agent-state/README.md", "agent-state/zeus-state-20251213.tar",
    "agent-state/zeus-state-20251213.tar.gz.tmp", "other/zeus-state-20251213.tar.gz",
    "agent-state/zeus-state-2025121.tar.gz", "agent-state/zeus-state-latest.tar.gz",
    "agent-state/sub/zeus-state-20251213.tar.gz",  # {agent} never spans a folder
    "agent-state/-state-20251213.tar.gz",
])
def test_garbage_keys_are_no_archives(key):
    assert FLAT.match(key) is None


@pytest.mark.parametrize("key", ["agent-state/zeus-state-20251340.tar.gz", "agent-state/zeus-state-20250229.tar.gz",
                                 "agent-state/zeus-state-00000000.tar.gz"])
def test_a_date_that_is_no_date_is_no_archive(key):
    assert FLAT.match(key) is None


def test_a_timestamp_that_is_no_time_is_no_archive():
    assert FOLDERS.match("agent-state/zeus/zeus-state-20251213T256000Z.tar.gz") is None


def test_folder_and_file_must_name_the_same_agent():
    assert FOLDERS.match("agent-state/zeus/athena-state-20251213T091205Z.tar.gz") is None


def test_date_and_timestamp_in_one_key_must_agree():
    keys = ArchiveKeys("p/", "{date}/{agent}-{timestamp}.tgz")
    assert keys.match("p/20251213/zeus-20251213T091205Z.tgz") == KeyMatch("zeus", AT, timedelta(0))
    assert keys.match("p/20251212/zeus-20251213T091205Z.tgz") is None


def test_an_archive_name_matches_only_its_own_keys():
    """The plan's `zeus` archive name is not the prefix of another agent's key, nor the other way round."""
    orchestrator = "agent-state/zeus-orchestrator-state-20251213.tar.gz"
    assert FLAT.match(orchestrator).archive == "zeus-orchestrator"
    assert FLAT.match(orchestrator, "zeus") is None
    assert FLAT.match("agent-state/zeus-state-20251213.tar.gz", "zeus-orchestrator") is None
    assert FLAT.match("agent-state/zeus-state-20251213.tar.gz", "zeus").archive == "zeus"


def test_literal_parts_are_literal():
    keys = ArchiveKeys("a.b/", "{agent}+state.{date}.tar.gz")
    assert keys.match("a.b/zeus+state.20251213.tar.gz").archive == "zeus"
    assert keys.match("aXb/zeus+state.20251213.tar.gz") is None
    assert keys.match("a.b/zeusstate.20251213.tar.gz") is None


def test_a_key_without_a_time_names_none():
    assert ArchiveKeys("s/", "{agent}.tar.gz").match("s/zeus.tar.gz") == KeyMatch("zeus", None, timedelta(0))


@pytest.mark.parametrize("pattern", ["{date}.tar.gz", "{agent}-{when}.tar.gz", "{agent:>10}.tar.gz", "{agent",
                                     "{agent!r}.tgz"])
def test_unusable_patterns_are_refused(pattern):
    with pytest.raises(ValueError):
        ArchiveKeys("p/", pattern)


def test_key_time_disagreement_allows_a_day_beyond_the_period_the_key_names():
    day = FLAT.match("agent-state/zeus-state-20251213.tar.gz")
    assert FLAT.disagreement(day, DAY + timedelta(hours=23)) is None
    assert FLAT.disagreement(day, DAY + timedelta(days=1, hours=23)) is None  # uploaded after midnight
    assert FLAT.disagreement(day, DAY + timedelta(days=3)) == timedelta(days=3)
    assert FLAT.disagreement(day, DAY - timedelta(days=2)) == timedelta(days=2)
    assert FLAT.disagreement(KeyMatch("z", None, timedelta(0)), DAY) is None


def test_layout_maps_archive_names_back_to_agents():
    backups = BackupSettings()
    layout = ArchiveLayout.of(backups, [Agent("zeus-orchestrator", archive_name="zeus"), Agent("athena-analyst")])
    assert layout.archive("zeus-orchestrator") == "zeus" and layout.archive("athena-analyst") == "athena-analyst"
    assert layout.agent_of("zeus") == "zeus-orchestrator" and layout.agent_of("hermes") == "hermes"
    assert layout.key("zeus-orchestrator", AT) == "agent-state/zeus-state-20251213.tar.gz"
    assert layout.match("agent-state/zeus-state-20251213.tar.gz", "zeus-orchestrator")
    assert not layout.match("agent-state/zeus-orchestrator-state-20251213.tar.gz", "zeus-orchestrator")
    assert layout.shown("zeus-orchestrator") == "agent-state/zeus-state-{date}.tar.gz"


def test_the_sandbox_layouts_write_keys_their_targets_match():
    from pytest_kosmos_dr.sandbox.layout import ALTERNATE, DEFAULT

    for sandbox in (DEFAULT, ALTERNATE):
        keys = ArchiveKeys(sandbox.agent_state_prefix, sandbox.agent_state_key)
        key = sandbox.archive_key("zeus-orchestrator", AT)
        found = keys.match(key, sandbox.archive_name("zeus-orchestrator"))
        assert found is not None and found.at <= AT, (sandbox.name, key)


# -- members ---------------------------------------------------------------------------------------------
def tgz(files: dict[str, bytes], manifest_in: str | None = None) -> bytes:
    files = dict(files)
    if manifest_in is not None:
        inside = {n[len(manifest_in):]: b for n, b in files.items() if n.startswith(manifest_in)}
        files[manifest_in + "MANIFEST.sha256"] = "".join(
            f"{hashlib.sha256(b).hexdigest()}  {n}\n" for n, b in inside.items()).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


MEMORY = json.dumps({"facts": ["a"]}).encode()
TASKS = json.dumps({"open": ["t"]}).encode()
TWO = ("memory.json", "tasks.json")


def test_members_at_the_archive_root():
    body = tgz({"memory.json": MEMORY, "tasks.json": TASKS}, manifest_in="")
    assert ab.archive_problems(body, TWO)[0] == []


def test_members_under_one_top_folder():
    body = tgz({"zeus-state/memory.json": MEMORY, "zeus-state/tasks.json": TASKS}, manifest_in="zeus-state/")
    assert ab.archive_problems(body, TWO, agent="zeus-orchestrator")[0] == []


def test_members_in_a_sub_folder_of_the_state_folder():
    body = tgz({"s/db/memory.json": MEMORY, "s/tasks.json": TASKS}, manifest_in="s/")
    assert ab.archive_problems(body, ("db/memory.json", "tasks.json"))[0] == []


def test_a_member_in_the_wrong_place_is_missing():
    body = tgz({"a/memory.json": MEMORY, "b/tasks.json": TASKS})  # two top folders: the root is the state folder
    assert ab.archive_problems(body, TWO)[0] == ["memory.json missing", "tasks.json missing"]


def test_missing_member_is_named_with_the_state_folder():
    body = tgz({"zeus-state/memory.json": MEMORY}, manifest_in="zeus-state/")
    assert ab.archive_problems(body, TWO)[0] == ["tasks.json missing (the state folder is zeus-state/)"]


def test_empty_member_is_named():
    body = tgz({"s/memory.json": MEMORY, "s/tasks.json": b""})
    assert ab.archive_problems(body, TWO)[0] == ["tasks.json is empty (0 bytes)"]


def test_only_empty_files_hold_no_state():
    body = tgz({"s/memory.json": b"", "s/tasks.json": b"[]"})
    assert ab.archive_problems(body, TWO)[0] == ["holds no state: memory.json is 0 bytes, tasks.json is []"]


def test_without_named_members_one_non_empty_file_suffices():
    assert ab.archive_problems(tgz({"zeus-state/notes.txt": b"x"}), ())[0] == []
    assert ab.archive_problems(tgz({"zeus-state/notes.txt": b""}), ())[0] == ["holds no state: notes.txt is 0 bytes"]


def test_an_archive_of_folders_and_a_manifest_only_holds_no_state():
    body = tgz({"s/MANIFEST.sha256": b""})
    assert ab.archive_problems(body, ())[0] == ["holds no state: no files besides MANIFEST.sha256"]


def test_invalid_json_member_is_named():
    body = tgz({"memory.json": b"{not json", "tasks.json": TASKS})
    assert ab.archive_problems(body, TWO)[0] == ["memory.json is not valid JSON"]


def test_manifest_must_list_every_file_when_no_members_are_named():
    body = tgz({"s/a.bin": b"1", "s/MANIFEST.sha256": f"{hashlib.sha256(b'1').hexdigest()}  a.bin\n".encode(),
                "s/b.bin": b"2"})
    assert ab.archive_problems(body, ())[0] == ["MANIFEST.sha256 does not list b.bin: their checksums are not verified"]


def test_members_come_from_the_layout_when_not_given():
    layout = ArchiveLayout(FLAT, ("memory.json",))
    body = tgz({"zeus-state/tasks.json": TASKS})
    assert ab.archive_problems(body, agent="zeus", layout=layout)[0] == [
        "memory.json missing (the state folder is zeus-state/)"]


def test_folder_named_after_another_listed_agent_by_its_archive_name():
    layout = ArchiveLayout(FLAT, (), (("zeus-orchestrator", "zeus"), ("athena-analyst", "athena")))
    body = tgz({"athena-state/memory.json": MEMORY})
    problems, _ = ab.archive_problems(body, agent="zeus-orchestrator", agents=["zeus-orchestrator", "athena-analyst"],
                                      layout=layout)
    assert problems == ["holds athena-analyst's state (athena-state/), not zeus-orchestrator's"]


@pytest.mark.parametrize("digits", ["20251213", "20240229", "00010101", "99991231", "20251213T091200Z",
                                    "20251231T235959Z", "20240229T000000Z",
                                    "20251340", "20250229", "00000101", "20251301T000000Z", "20250101T240000Z",
                                    "20250101T006000Z", "20250101T000060Z", "20250101T000061Z"])
def test_a_keys_time_is_read_as_strptime_reads_it(digits):
    from datetime import datetime, timezone

    from pytest_kosmos_dr.archive_keys import DATE_FORMAT, TIMESTAMP_FORMAT, _named_time

    try:
        expected = datetime.strptime(digits, TIMESTAMP_FORMAT if "T" in digits else DATE_FORMAT)
    except ValueError:
        with pytest.raises(ValueError):
            _named_time(digits)
        return
    assert _named_time(digits) == expected.replace(tzinfo=timezone.utc)
