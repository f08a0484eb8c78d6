"""Restore and agent-state drills: they pass on the sandbox, create only tagged throwaway instances,
and leave nothing behind after success, failure, Ctrl-C, or SIGKILL + `kosmos-dr cleanup` (which
never touches an instance it did not tag)."""

import json
import os
import signal
import tempfile
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import boto3
import pytest

from conftest import REPO, run_suite

KOSMOS_DR = str(Path(sys.executable).parent / "kosmos-dr")


def drill_run(tmp_path, allow=True, production=False, run_id="x"):
    """A run as the drills see it: its permission (options, target), id and folder."""
    from types import SimpleNamespace

    from pytest_kosmos_dr.target import Target

    return SimpleNamespace(options=SimpleNamespace(allow_restore=allow, confirmed_targets=set()),
                           target=Target("t", production=production), run_id=run_id, run_dir=tmp_path, owner_pid=0)

HOLD_RESTORE = """
import os, time

def test_hold_a_restored_database(restored_database):
    with open(os.environ["RESTORE_MARK"], "w") as handle:
        handle.write(restored_database.identifier)
    time.sleep(120)
"""

RECORD_IDENTIFIER = """
import os

def _record(restored_database):
    with open(os.environ["RESTORE_MARK"], "a") as handle:
        handle.write(restored_database.identifier + "\\n")

def test_one(restored_database):
    _record(restored_database)

def test_two(restored_database):
    _record(restored_database)
"""


def rds(sandbox, region="us-east-1"):
    aws = sandbox.state["aws"]
    return boto3.client("rds", region_name=region, endpoint_url=aws["endpoint_url"],
                        aws_access_key_id=aws["access_key_id"], aws_secret_access_key=aws["secret_access_key"])


def drill_instances(sandbox, region="us-east-1") -> list[str]:
    ids = [i["DBInstanceIdentifier"] for i in rds(sandbox, region).describe_db_instances()["DBInstances"]]
    return [i for i in ids if i.startswith("kosmos-dr-")]


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        if process.poll() is not None:
            raise AssertionError(f"the drill run ended early:\n{process.stdout.read().decode()}")
        time.sleep(0.2)
    raise AssertionError(f"{path} never written")


@pytest.mark.slow  # runs a drill
def test_drills_pass_and_leave_no_instance_behind(sandbox, pytester):
    result = run_suite(pytester, "test_database_recovery.py", "test_agent_state_recovery.py", "--dr-allow-restore", "-v")
    assert result.parseoutcomes() == {"passed": 6}, result.stdout.str()
    result.stdout.fnmatch_lines(["*test_point_in_time_restore_is_available_and_intact PASSED*",
                                 "*test_newest_cross_region_copy_restores_in_the_dr_region PASSED*"])
    assert drill_instances(sandbox) == [] and drill_instances(sandbox, "us-west-2") == []


def test_without_permission_drills_are_skipped_naming_the_flag(sandbox, pytester):
    result = run_suite(pytester, "test_database_recovery.py", "test_agent_state_recovery.py", "-rs")
    assert result.parseoutcomes() == {"passed": 1, "skipped": 5}
    result.stdout.fnmatch_lines(["*drill creates resources: run with --dr-allow-restore to allow it*"])


@pytest.mark.slow  # runs a drill
def test_restore_happens_once_per_run_under_xdist(sandbox, pytester, tmp_path, monkeypatch):
    mark = tmp_path / "ids"
    monkeypatch.setenv("RESTORE_MARK", str(mark))
    pytester.makepyfile(test_two_users=RECORD_IDENTIFIER)
    pytester.runpytest_subprocess("-n", "2", "--dr-allow-restore").assert_outcomes(passed=2)
    identifiers = mark.read_text().split()
    assert len(identifiers) == 2 and len(set(identifiers)) == 1
    assert drill_instances(sandbox) == []


@pytest.mark.slow  # runs a drill
def test_restore_time_outside_the_window_is_one_clear_line(sandbox, pytester):
    result = run_suite(pytester, "test_database_recovery.py", "--dr-allow-restore",
                       "--dr-restore-time", "2020-01-01T00:00:00Z", "-k", "point_in_time")
    result.stdout.fnmatch_lines(["BROKEN *test_point_in_time_restore_is_available_and_intact - *could not verify: "
                                 "point-in-time restore*InvalidRestoreFault*2020-01-01*restorable window*"])
    assert drill_instances(sandbox) == []


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
@pytest.mark.slow  # runs a drill
def test_interrupted_drill_leaves_nothing_after_teardown_or_cleanup(sandbox, pytester, tmp_path, monkeypatch, how,
                                                                     capsys):
    from pytest_kosmos_dr.drills.cleanup import cleanup_command

    mark = tmp_path / "identifier"
    monkeypatch.setenv("RESTORE_MARK", str(mark))
    runs = Path(tempfile.mkdtemp(prefix="kdr-", dir="/tmp"))  # this test's run folders only (cleanup scans them)
    monkeypatch.setenv("TMPDIR", str(runs))
    monkeypatch.setattr(tempfile, "tempdir", str(runs))
    pytester.makepyfile(test_hold=HOLD_RESTORE)
    # Somebody else's instance, not tagged by us: cleanup must not touch it.
    other = f"someone-elses-{how.lower()}"
    rds(sandbox).restore_db_instance_to_point_in_time(SourceDBInstanceIdentifier="kosmos-prod",
                                                      TargetDBInstanceIdentifier=other, UseLatestRestorableTime=True)
    process = subprocess.Popen([sys.executable, "-m", "pytest", "test_hold.py", "--dr-allow-restore",
                                "-p", "no:cacheprovider"], cwd=pytester.path, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        identifier = _wait_for(mark, process)
        assert identifier in drill_instances(sandbox)
        os.killpg(process.pid, getattr(signal, how))
        output = process.communicate(timeout=60)[0].decode()
        if how == "SIGINT":  # the run's own teardown removed it
            assert "KeyboardInterrupt" in output and drill_instances(sandbox) == []
        else:  # nothing ran after SIGKILL: cleanup finds it by tag
            assert drill_instances(sandbox) == [identifier]
            monkeypatch.chdir(REPO)
            capsys.readouterr()
            assert cleanup_command(None, None, dry_run=True) == 0
            dry = capsys.readouterr().out
            assert f"would delete us-east-1/{identifier}" in dry and other not in dry
            assert cleanup_command(None, None, dry_run=False) == 0
            done = capsys.readouterr()
            assert f"us-east-1/{identifier}: deleted" in done.out, done.out + done.err
            assert drill_instances(sandbox) == []
            assert "removed run folder" in done.out  # the killed run's own folder too
            assert list(runs.glob("kosmos-dr-run-*")) == []
        remaining = [i["DBInstanceIdentifier"] for i in rds(sandbox).describe_db_instances()["DBInstances"]]
        assert other in remaining
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        rds(sandbox).delete_db_instance(DBInstanceIdentifier=other, SkipFinalSnapshot=True)
        import shutil

        shutil.rmtree(runs, ignore_errors=True)


HOLD_AND_TELL_PID = """
import os, time

def test_hold_a_restored_database(restored_database):
    with open(os.environ["RESTORE_MARK"], "w") as handle:
        handle.write(f"{restored_database.identifier} {os.getpid()}")
    time.sleep(120)
"""


@pytest.mark.slow  # runs a drill
def test_killed_xdist_worker_still_leaves_no_instance_behind(sandbox, pytester, tmp_path, monkeypatch):
    mark = tmp_path / "identifier"
    monkeypatch.setenv("RESTORE_MARK", str(mark))
    pytester.makepyfile(test_hold=HOLD_AND_TELL_PID)
    process = subprocess.Popen([sys.executable, "-m", "pytest", "test_hold.py", "-n", "1", "--dr-allow-restore",
                                "-p", "no:cacheprovider"], cwd=pytester.path, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        identifier, worker_pid = _wait_for(mark, process).split()
        assert identifier in drill_instances(sandbox)
        os.kill(int(worker_pid), signal.SIGKILL)  # the worker dies mid-drill; the controller survives
        output = process.communicate(timeout=120)[0].decode()
        assert "crashed" in output or "worker" in output.lower()
        assert drill_instances(sandbox) == []  # the controller's teardown removed it
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def test_a_restore_refuses_an_identifier_that_already_exists(sandbox, tmp_path):
    from datetime import timedelta

    from pytest_kosmos_dr.drills.database_restore import restore_point_in_time
    from pytest_kosmos_dr.errors import DRUnverifiable

    client = rds(sandbox)
    with pytest.raises(DRUnverifiable, match=r"already exists \(refusing to touch what this run did not create\)"):
        restore_point_in_time(client, "us-east-1", "kosmos-prod", "kosmos-prod", None, [], tmp_path, "x",
                              timedelta(seconds=30), run=drill_run(tmp_path))
    assert not (tmp_path / "created.jsonl").exists()


def test_run_ids_make_valid_rds_identifiers(pytester):
    import re

    pytester.makepyfile(test_id="""
def test_id(dr_run):
    print("RUN-ID", dr_run.run_id)
""")
    for _ in range(5):
        out = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider").stdout.str()
        run_id = out.split("RUN-ID ")[1].split()[0]
        # RDS: letters, digits, hyphens; starts with a letter; no double or trailing hyphen; <= 63
        assert re.fullmatch(r"kosmos-dr-pitr-[a-z0-9]+(-[a-z0-9]+)*", f"kosmos-dr-pitr-{run_id}")


class _MovingRds:
    """An RDS whose source keeps taking writes: LatestRestorableTime moves on while a restore runs."""

    def __init__(self, latest):
        from datetime import timedelta

        self.latest = latest
        self.requested = None
        self.step = timedelta(minutes=5)

    def describe_db_instances(self, DBInstanceIdentifier):
        from botocore.exceptions import ClientError

        if DBInstanceIdentifier == "kosmos-prod":
            return {"DBInstances": [{"LatestRestorableTime": self.latest,
                                     "EarliestRestorableTime": self.latest.replace(year=2020)}]}
        if self.requested is None:
            raise ClientError({"Error": {"Code": "DBInstanceNotFound", "Message": "none"}}, "DescribeDBInstances")
        return {"DBInstances": [{"DBInstanceStatus": "available", "Endpoint": {"Address": "h", "Port": 5432}}]}

    def restore_db_instance_to_point_in_time(self, **kwargs):
        self.requested = kwargs
        self.latest = self.latest + self.step  # the source moved on while the restore ran


def test_latest_restore_point_is_fixed_when_the_restore_is_requested(tmp_path):
    from datetime import datetime, timedelta, timezone

    from pytest_kosmos_dr.drills.database_restore import restore_point_in_time

    latest = datetime(2025, 12, 13, 9, 11, 42, 517000, tzinfo=timezone.utc)
    rds_client = _MovingRds(latest)
    outcome = restore_point_in_time(rds_client, "us-east-1", "kosmos-prod", "kosmos-dr-pitr-x", None, [], tmp_path,
                                    "x", timedelta(seconds=5), run=drill_run(tmp_path))
    point = latest.replace(microsecond=0)
    assert rds_client.requested["RestoreTime"] == point and "UseLatestRestorableTime" not in rds_client.requested
    assert outcome.restore_time == point  # not the LatestRestorableTime read after the restore (5 min later)


def test_restore_point_is_recorded_to_the_microsecond(tmp_path):
    from datetime import datetime, timedelta, timezone

    from pytest_kosmos_dr.drills.database_restore import restore_point_in_time

    asked = datetime(2025, 12, 13, 9, 0, 0, 250000, tzinfo=timezone.utc)
    rds_client = _MovingRds(datetime(2025, 12, 13, 9, 11, tzinfo=timezone.utc))
    outcome = restore_point_in_time(rds_client, "us-east-1", "kosmos-prod", "kosmos-dr-pitr-x", asked, [], tmp_path,
                                    "x", timedelta(seconds=5), run=drill_run(tmp_path))
    assert outcome.restore_time == asked and rds_client.requested["RestoreTime"] == asked


# -- the guard inside the code that restores; restore networking (issue 14) ---------------------------

@pytest.mark.parametrize("permission", [dict(allow=False), dict(production=True)], ids=["no-allow", "production"])
def test_a_restore_without_permission_sends_nothing(tmp_path, permission):
    from datetime import datetime, timezone

    from pytest_kosmos_dr.drills.database_restore import restore_point_in_time
    from pytest_kosmos_dr.drills.guard import DrillRefused

    rds_client = _MovingRds(datetime(2025, 12, 13, 9, 11, tzinfo=timezone.utc))
    with pytest.raises(DrillRefused, match=r"could not verify: drill refused: point-in-time restore into kosmos-dr-"):
        restore_point_in_time(rds_client, "us-east-1", "kosmos-prod", "kosmos-dr-pitr-x", None, [], tmp_path, "x",
                              timedelta(seconds=5), run=drill_run(tmp_path, **permission))
    assert rds_client.requested is None and not (tmp_path / "created.jsonl").exists()


def _stubbed_rds():
    import boto3

    return boto3.client("rds", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")


def _available(identifier):
    return {"DBInstances": [{"DBInstanceIdentifier": identifier, "DBInstanceStatus": "available",
                             "Endpoint": {"Address": "restored.example", "Port": 5432}}]}


NETWORKED = dict(restore_subnet_group="kosmos-dr-private", restore_security_groups=("sg-0a1b", "sg-2c3d"),
                 restore_instance_class="db.r6g.large")


def test_point_in_time_restore_passes_the_targets_networking(tmp_path):
    from datetime import datetime, timezone

    from botocore.stub import ANY, Stubber

    from pytest_kosmos_dr.drills.database_restore import networking, restore_point_in_time
    from pytest_kosmos_dr.target import DatabaseSettings

    client = _stubbed_rds()
    latest = datetime(2025, 12, 13, 9, 11, 42, tzinfo=timezone.utc)
    extra = networking(DatabaseSettings(**NETWORKED))
    with Stubber(client) as stub:
        stub.add_response("describe_db_instances", {"DBInstances": [
            {"DBInstanceIdentifier": "kosmos-prod", "LatestRestorableTime": latest}]}, {"DBInstanceIdentifier": "kosmos-prod"})
        stub.add_client_error("describe_db_instances", "DBInstanceNotFound", "none",
                              expected_params={"DBInstanceIdentifier": "kosmos-dr-pitr-x"})
        stub.add_response("restore_db_instance_to_point_in_time", {}, {
            "SourceDBInstanceIdentifier": "kosmos-prod", "TargetDBInstanceIdentifier": "kosmos-dr-pitr-x",
            "Tags": [], "MultiAZ": False, "PubliclyAccessible": False, "DeletionProtection": False,
            "RestoreTime": ANY, "DBSubnetGroupName": "kosmos-dr-private",
            "VpcSecurityGroupIds": ["sg-0a1b", "sg-2c3d"], "DBInstanceClass": "db.r6g.large"})
        stub.add_response("describe_db_instances", _available("kosmos-dr-pitr-x"))
        stub.add_response("describe_db_instances", _available("kosmos-dr-pitr-x"))
        restore_point_in_time(client, "us-east-1", "kosmos-prod", "kosmos-dr-pitr-x", None, [], tmp_path, "x",
                              timedelta(seconds=5), run=drill_run(tmp_path), extra=extra)
        stub.assert_no_pending_responses()


def test_snapshot_restore_passes_the_targets_networking_and_nothing_when_unset(tmp_path):
    from datetime import datetime, timezone

    from botocore.stub import Stubber

    from pytest_kosmos_dr.drills.database_restore import networking, restore_snapshot
    from pytest_kosmos_dr.target import DatabaseSettings

    assert networking(DatabaseSettings()) == {}  # unset: RDS picks (nothing passed)
    for settings, expected in ((DatabaseSettings(), {}),
                               (DatabaseSettings(restore_security_groups=("sg-1",)), {"VpcSecurityGroupIds": ["sg-1"]})):
        client = _stubbed_rds()
        with Stubber(client) as stub:
            stub.add_response("describe_db_snapshots", {"DBSnapshots": [
                {"DBSnapshotIdentifier": "snap-1", "Status": "available",
                 "SnapshotCreateTime": datetime(2025, 12, 13, 9, tzinfo=timezone.utc)}]})
            stub.add_client_error("describe_db_instances", "DBInstanceNotFound", "none")
            stub.add_response("restore_db_instance_from_db_snapshot", {}, {
                "DBInstanceIdentifier": "kosmos-dr-snap-x", "DBSnapshotIdentifier": "snap-1", "Tags": [],
                "MultiAZ": False, "PubliclyAccessible": False, "DeletionProtection": False, **expected})
            stub.add_response("describe_db_instances", _available("kosmos-dr-snap-x"))
            stub.add_response("describe_db_instances", _available("kosmos-dr-snap-x"))
            restore_snapshot(client, "us-east-1", "kosmos-prod", "kosmos-dr-snap-x", [], tmp_path, "x",
                             timedelta(seconds=5), run=drill_run(tmp_path), extra=networking(settings))
            stub.assert_no_pending_responses()
