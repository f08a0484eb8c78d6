"""Drills that cannot hurt production (issue 15, items 2-5): the guard lives in the code that sends, the
agent-state drill never writes live state, one drill run per target at a time (a Kubernetes Lease),
cleanup decides liveness from the lease, and a drill run SIGKILLed at any of three points is undone
exactly by `kosmos-dr cleanup` (no tagged instance, live agent state unchanged, kill switch released,
lease gone)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs

import boto3
import httpx
import pytest

from conftest import REPO, SUITES, run_suite
from pytest_kosmos_dr.config import load_config
from pytest_kosmos_dr.drills import lease as drill_lease
from pytest_kosmos_dr.drills.agent_state import PodFiles, SCRATCH_PREFIX
from pytest_kosmos_dr.drills.cleanup import cleanup_command
from pytest_kosmos_dr.drills.resources import process_alive as _alive
from pytest_kosmos_dr.environment import resolve

AGENT = "zeus-orchestrator"
DRILL_SUITES = ("test_database_recovery.py", "test_security_breach.py", "test_agent_state_recovery.py")


@pytest.fixture(scope="module")
def world(sandbox):
    """The sandbox target's environment: its cluster, API and live agent state."""
    from pytest_kosmos_dr.clients.kube import connect

    target = load_config(REPO, None).target("sandbox")
    env = resolve(target, sandbox.state)
    agent = target.agent(AGENT)
    cluster = connect(env.kubeconfig, env.kube_context, target.timeouts)
    api = httpx.Client(base_url=env.api_url, timeout=10, headers={"Authorization": f"Bearer {env.api_token}"})

    class World:
        pass

    w = World()
    w.target, w.env, w.cluster, w.api, w.agent = target, env, cluster, api, agent
    w.namespace = target.kubernetes.namespace
    w.pod = PodFiles(env.kubeconfig, env.kube_context, w.namespace, agent.pod_name)
    yield w
    api.close()
    cluster.close()


@pytest.fixture
def private_tmp(monkeypatch):
    """This test's run folders only (cleanup scans the temp folder for killed runs)."""
    runs = Path(tempfile.mkdtemp(prefix="kdr-", dir="/tmp"))
    monkeypatch.setenv("TMPDIR", str(runs))
    monkeypatch.setattr(tempfile, "tempdir", str(runs))
    monkeypatch.chdir(REPO)
    yield runs
    import shutil

    shutil.rmtree(runs, ignore_errors=True)


def rds(sandbox, region):
    aws = sandbox.state["aws"]
    return boto3.client("rds", region_name=region, endpoint_url=aws["endpoint_url"],
                        aws_access_key_id=aws["access_key_id"], aws_secret_access_key=aws["secret_access_key"])


def tagged_instances(sandbox, world) -> list[str]:
    found = []
    for region in dict.fromkeys((world.target.aws.primary_region, world.target.aws.secondary_region)):
        found += [i["DBInstanceIdentifier"] for i in rds(sandbox, region).describe_db_instances()["DBInstances"]
                  if i["DBInstanceIdentifier"].startswith("kosmos-dr-")]
    return found


def switch(world) -> dict:
    return world.api.get(world.target.kill_switch.path).json()


def lease_state(world):
    found = drill_lease.read(world.cluster, world.namespace)
    return None if found is None else found[0]


def scratch_folders(world) -> list[str]:
    out = world.pod._exec(["find", "/tmp", "-maxdepth", "1", "-name", SCRATCH_PREFIX.rsplit("/", 1)[-1] + "*"])
    return [line for line in out.decode().split() if line]


def put_lease(world, holder: str, renewed: datetime, host: str = "ci-runner-2") -> None:
    body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": drill_lease.LEASE_NAME, "namespace": world.namespace,
                         "annotations": {"kosmos-dr/host": host, "kosmos-dr/pid": "4242"}},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": drill_lease.DURATION_S,
                     "acquireTime": drill_lease.micro_time(renewed), "renewTime": drill_lease.micro_time(renewed)}}
    status, answer = drill_lease.call(world.cluster, "POST", f"/apis/coordination.k8s.io/v1/namespaces/"
                                      f"{world.namespace}/leases", body)
    assert status == 201, answer


def drop_lease(world) -> None:
    drill_lease.call(world.cluster, "DELETE", f"/apis/coordination.k8s.io/v1/namespaces/{world.namespace}/leases/"
                     f"{drill_lease.LEASE_NAME}")


def mutating(sandbox, component: str) -> list[dict]:
    return [r for r in sandbox.requests() if r["mutating"] and r["component"] == component]


# -- item 2: the guard is in the code that sends ----------------------------------------------------

def test_with_skipping_disabled_and_no_permission_no_drill_sends_anything(sandbox, world, pytester):
    sandbox.clear_requests()
    result = run_suite(pytester, *DRILL_SUITES, "-p", "no:skipping", "-rs")
    assert result.ret != 0 or result.parseoutcomes().get("passed", 0) <= 1, result.stdout.str()
    assert result.parseoutcomes().get("skipped", 0) >= 4, result.stdout.str()
    result.stdout.fnmatch_lines(["*drill creates resources: run with --dr-allow-restore to allow it*"])
    assert mutating(sandbox, "api") == [] and mutating(sandbox, "kubernetes") == []
    assert [r for r in mutating(sandbox, "aws") if "Restore" in r["action"]] == []
    assert switch(world)["engaged"] is False and tagged_instances(sandbox, world) == []


# -- item 3: live agent state is never written --------------------------------------------------------

@pytest.mark.slow  # runs a drill
def test_the_agent_state_drill_never_writes_the_live_state_folder(sandbox, world, pytester):
    before = world.pod.checksums(world.agent.state_path)
    assert before, "the sandbox's live agent state is empty: the proof would prove nothing"
    sandbox.clear_requests()
    result = run_suite(pytester, "test_agent_state_recovery.py", "--dr-allow-restore", "-v")
    result.assert_outcomes(passed=1)
    commands = [parse_qs(r["query"]).get("command", []) for r in sandbox.requests()
                if r["component"] == "kubernetes" and r["path"].endswith("/exec")]
    assert any(any(SCRATCH_PREFIX in arg for arg in argv) for argv in commands), commands
    live = world.agent.state_path.rstrip("/")
    assert [argv for argv in commands if any(live in arg for arg in argv)] == []  # not even read
    assert world.pod.checksums(world.agent.state_path) == before
    assert scratch_folders(world) == []  # the scratch folder is removed after the comparison


# -- item 4: one drill run per target -----------------------------------------------------------------

@pytest.mark.slow  # runs the drills against a held lease: a further drill-safety twin
def test_a_live_lease_of_another_run_refuses_the_drills_in_one_line(sandbox, world, pytester):
    put_lease(world, "otherrun1", datetime.now(timezone.utc))
    try:
        sandbox.clear_requests()
        result = run_suite(pytester, *DRILL_SUITES, "--dr-allow-restore")
        assert result.ret != 0
        outcomes = result.parseoutcomes()
        assert outcomes.get("broken", 0) >= 4 and "passed" not in outcomes or outcomes["passed"] <= 1, outcomes
        result.stdout.fnmatch_lines(["BROKEN *test_kill_switch_stops_agent_work_and_releases - SCN-SECURITY-BREACH: "
                                     "could not verify: drill refused: drills against target 'sandbox': Lease "
                                     f"{world.namespace}/kosmos-dr-drills is held by run otherrun1 on ci-runner-2 *"])
        assert [r for r in mutating(sandbox, "aws") if "Restore" in r["action"]] == []
        assert mutating(sandbox, "api") == []
        assert lease_state(world).holder == "otherrun1"  # left to its holder
    finally:
        drop_lease(world)


@pytest.mark.slow  # runs a drill
def test_an_expired_lease_is_taken_over_and_released_at_the_end(sandbox, world, pytester):
    put_lease(world, "deadrun1", datetime.now(timezone.utc) - timedelta(minutes=10))
    try:
        result = run_suite(pytester, "test_security_breach.py", "--dr-allow-restore")
        result.assert_outcomes(passed=1)
        assert lease_state(world) is None  # taken over, then deleted at the end of the run
    finally:
        drop_lease(world)


@pytest.mark.slow  # runs a drill
def test_two_drill_runs_do_not_interleave(sandbox, world, pytester, tmp_path):
    """The first run holds the lease (paused with the switch engaged); the second refuses and sends nothing."""
    first, mark = _start_paused(world, "kill-switch-engaged", tmp_path, ["test_security_breach.py"])
    try:
        held = lease_state(world)
        assert held is not None and held.fresh()
        sandbox.clear_requests()
        second = run_suite(pytester, "test_security_breach.py", "--dr-allow-restore")
        assert second.ret != 0
        second.stdout.fnmatch_lines([f"*drill refused: drills against target 'sandbox': *held by run {held.holder} *"])
        assert mutating(sandbox, "api") == []
        assert switch(world)["engaged"] is True  # still the first run's
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    assert cleanup_command(None, None, dry_run=False) == 0
    assert switch(world)["engaged"] is False and lease_state(world) is None


# -- item 5: cleanup decides liveness from the lease ----------------------------------------------------

@pytest.mark.slow  # runs a drill
def test_cleanup_leaves_a_live_remote_runs_instance_and_deletes_it_once_its_lease_expired(sandbox, world,
                                                                                         private_tmp, capsys):
    from pytest_kosmos_dr.drills.resources import drill_tags

    client = rds(sandbox, world.target.aws.primary_region)
    tags = [t if t["Key"] != "kosmos-dr:host" else {"Key": "kosmos-dr:host", "Value": "ci-runner-2"}
            for t in drill_tags("remoterun1", 4242, "point-in-time restore drill")]
    client.restore_db_instance_to_point_in_time(SourceDBInstanceIdentifier=world.target.database.production_instance,
                                                TargetDBInstanceIdentifier="kosmos-dr-pitr-remoterun1",
                                                UseLatestRestorableTime=True, Tags=tags)
    put_lease(world, "remoterun1", datetime.now(timezone.utc))
    try:
        assert cleanup_command(None, None, dry_run=False) == 0
        out = capsys.readouterr().out
        assert "kosmos-dr-pitr-remoterun1: left alone, run remoterun1 is alive: it holds the drill lease" in out
        assert "kosmos-dr-pitr-remoterun1" in tagged_instances(sandbox, world)
        drop_lease(world)
        put_lease(world, "remoterun1", datetime.now(timezone.utc) - timedelta(minutes=5))  # heartbeat stopped
        assert cleanup_command(None, None, dry_run=False) == 0
        out = capsys.readouterr().out
        assert "kosmos-dr-pitr-remoterun1: deleted (run remoterun1: its drill lease expired" in out
        assert tagged_instances(sandbox, world) == [] and lease_state(world) is None
    finally:
        drop_lease(world)
        if "kosmos-dr-pitr-remoterun1" in tagged_instances(sandbox, world):
            client.delete_db_instance(DBInstanceIdentifier="kosmos-dr-pitr-remoterun1", SkipFinalSnapshot=True)


def test_cleanup_does_not_say_servers_went_when_a_dead_sandboxs_postgres_still_runs(tmp_path, monkeypatch, capsys):
    """A sandbox daemon killed together with its watchdog leaves PostgreSQL running: cleanup names and stops it."""
    from pytest_kosmos_dr.sandbox import postgres

    bindir = postgres.find_bindir()
    runs = Path(tempfile.mkdtemp(prefix="kdr-", dir="/tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(runs))
    monkeypatch.setenv("KOSMOS_DR_SANDBOX_DIR", str(tmp_path / "no-sandbox"))
    monkeypatch.chdir(REPO)
    os.chmod(runs, 0o755)
    data = runs / "kosmos-dr-sandbox-orphan"
    server = data / "primary"
    data.mkdir()
    os.chmod(data, 0o777)
    done = postgres.run_as_server_user([str(bindir / "initdb"), "-D", str(server), "-A", "trust", "-U", "postgres"],
                                       timeout=120)
    assert done.returncode == 0, done.stderr
    sockets = Path(tempfile.mkdtemp(prefix="kdrs-", dir="/tmp"))
    os.chmod(sockets, 0o777)
    done = postgres.run_as_server_user([str(bindir / "pg_ctl"), "-w", "-D", str(server), "-o",
                                        f"-c listen_addresses='' -k {sockets}", "-l", str(data / "log"), "start"],
                                       timeout=60)
    assert done.returncode == 0, done.stderr
    pid = int((server / "postmaster.pid").read_text().splitlines()[0])
    try:
        assert cleanup_command(None, None, dry_run=True) == 0
        out = capsys.readouterr().out
        assert "went with it" not in out and f"its PostgreSQL servers still run: pid {pid}" in out
        assert cleanup_command(None, None, dry_run=False) == 0
        out = capsys.readouterr().out
        assert f"stopped the PostgreSQL servers it left running: pid {pid}" in out
        assert not _alive(pid) and not data.exists()
        assert cleanup_command(None, None, dry_run=False) == 0
        assert "nothing to clean" in capsys.readouterr().out
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        import shutil

        shutil.rmtree(runs, ignore_errors=True)
        shutil.rmtree(sockets, ignore_errors=True)


# -- done when: SIGKILL at three points, then cleanup restores the environment exactly -------------------

def _start_paused(world, point: str, tmp_path: Path, suites=DRILL_SUITES, env_extra=None):
    mark = tmp_path / f"paused-{point}"
    env = {**os.environ, "KOSMOS_DR_TEST_PAUSE_AT": point, "KOSMOS_DR_TEST_PAUSE_MARK": str(mark),
           **(env_extra or {})}
    process = subprocess.Popen([sys.executable, "-m", "pytest", *(str(SUITES / s) for s in suites), "-m", "drill",
                                "--dr-allow-restore", "-p", "no:cacheprovider", "--rootdir", str(REPO)],
                               cwd=REPO, env=env, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while not (mark.exists() and mark.read_text().strip()):
        if process.poll() is not None:
            raise AssertionError(f"the drill run ended before {point}:\n{process.stdout.read().decode()[-4000:]}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"the drill run never reached {point}")
        time.sleep(0.2)
    return process, mark


@pytest.mark.parametrize("point", ["restore", "kill-switch-engaged", "agent-state-copy"])
@pytest.mark.slow  # runs a drill
def test_a_drill_run_killed_at_any_point_is_undone_exactly_by_cleanup(sandbox, world, private_tmp, tmp_path, point,
                                                                       capsys):
    live_before = world.pod.checksums(world.agent.state_path)
    assert live_before and switch(world)["engaged"] is False and tagged_instances(sandbox, world) == []
    process, _ = _start_paused(world, point, tmp_path, env_extra={"TMPDIR": str(private_tmp)})
    try:
        held = lease_state(world)
        assert held is not None and held.fresh()  # the run holds the target's drill lease
        if point == "restore":
            assert [i for i in tagged_instances(sandbox, world) if held.holder in i]
        if point == "kill-switch-engaged":
            assert switch(world)["engaged"] is True and held.holder in switch(world)["reason"]
        if point == "agent-state-copy":
            assert scratch_folders(world) == [f"{SCRATCH_PREFIX}{held.holder}-{AGENT}"]
        assert world.pod.checksums(world.agent.state_path) == live_before
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert list(private_tmp.glob("kosmos-dr-run-*"))  # SIGKILL: nothing of the run's own teardown ran

    assert cleanup_command(None, None, dry_run=False) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert tagged_instances(sandbox, world) == [], out
    assert world.pod.checksums(world.agent.state_path) == live_before
    assert switch(world)["engaged"] is False, out
    assert lease_state(world) is None, out
    assert scratch_folders(world) == [], out
    assert list(private_tmp.glob("kosmos-dr-run-*")) == [], out
    assert world.api.get(world.target.kill_switch.probe_path.format(agent=AGENT)).status_code == 200
