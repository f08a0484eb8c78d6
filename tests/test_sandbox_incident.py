"""Incident timing and manual failover (issue 19 items 4 and 5): a sandbox ready before its incident, with
production live and a workload writing into it; the incident after a delay or on ``sandbox incident``; and
a manual failover that the plan's own script (``scripts/failover-to-dr.sh``) completes."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from conftest import run_suite
from pytest_kosmos_dr.plan_commands import sandbox_checkout
from pytest_kosmos_dr.sandbox import manager
from pytest_kosmos_dr.timeparse import parse_instant

pytestmark = pytest.mark.slow  # sandboxes of its own with a delayed or manual incident

SCRIPT = "scripts/failover-to-dr.sh"


def _started(incident_after: float, manual_failover: bool = False):
    state_dir = Path(tempfile.mkdtemp(prefix="kosmos-dr-incident-"))
    running, _ = manager.start(state_dir, owner_pid=os.getpid(), incident_after=incident_after,
                               manual_failover=manual_failover)
    return state_dir, running


def _stop(state_dir: Path) -> None:
    manager.stop(state_dir)
    shutil.rmtree(state_dir, ignore_errors=True)


def _env(running) -> dict[str, str]:
    env = dict(os.environ)
    for line in running.env_file.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = value.strip("'")
    return env


def _conninfo(env: dict[str, str]) -> str:
    return (f"host={env['PGHOST']} port={env['PGPORT']} dbname={env['PGDATABASE']} user={env['PGUSER']} "
            f"password={env['PGPASSWORD']}")


def _wait_for(running, state: str, within_s: float = 60) -> dict:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        incident = running.incident()
        if incident.get("state") == state:
            return incident
        assert incident.get("state") != "error", incident
        time.sleep(0.5)
    raise AssertionError(f"the incident never reached {state!r}: {running.incident()}")


def _refreshed(running):
    found = manager.find_running(running.state_dir)
    assert found is not None
    return found


def _script(running, *args: str) -> subprocess.CompletedProcess:
    if shutil.which("aws") is None:
        pytest.skip("the aws CLI is not installed")
    env = {**_env(running), "AWS_PAGER": "", "KOSMOS_FAILOVER_TIMEOUT_S": "60"}
    return subprocess.run(["bash", SCRIPT, *args], cwd=sandbox_checkout(), env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture
def suite_in(monkeypatch):
    """Run shipped suites against a given sandbox folder (the inner run finds it as a user's would)."""

    def run(running, pytester, *args):
        monkeypatch.setenv("KOSMOS_DR_SANDBOX_DIR", str(running.state_dir))
        return run_suite(pytester, *args)

    return run


# -- automatic failover after a delay ------------------------------------------------------------------
@pytest.fixture(scope="module")
def delayed():
    state_dir, running = _started(incident_after=3)
    try:
        yield running
    finally:
        _stop(state_dir)


def test_ready_before_the_incident_with_production_live_and_the_replica_streaming(delayed):
    incident = delayed.state["incident"]
    if incident.get("state") != "scheduled":
        pytest.skip("the 3 s delay ran out before the first look (a slow machine)")
    assert incident["start"] is None and parse_instant(incident["scheduled_at"])
    prod = _conninfo(_env(delayed))  # before the incident PG* is production, the live database
    with psycopg.connect(prod) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
        first = conn.execute("SELECT count(*) FROM conversations WHERE title LIKE 'live conversation %'").fetchone()[0]
    time.sleep(0.6)
    with psycopg.connect(prod) as conn:
        later = conn.execute("SELECT count(*) FROM conversations WHERE title LIKE 'live conversation %'").fetchone()[0]
    assert later > first, "production takes no writes before the incident"


def test_after_the_delay_the_world_is_failed_over_and_holds_the_live_writes(delayed, pytester, suite_in):
    incident = _wait_for(delayed, "failed over")
    running = _refreshed(delayed)
    assert running.state["incident"]["state"] == "failed over"
    start, last = parse_instant(incident["start"]), parse_instant(incident["last_production_write"])
    assert last <= start and incident["writes_committed"] > 0 and incident["failover"] == "automatic"
    with psycopg.connect(_conninfo(_env(running))) as conn:  # PG* now: the promoted replica
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
        newest = conn.execute("SELECT max(created_at) FROM conversations").fetchone()[0]
        live = conn.execute("SELECT count(*) FROM conversations WHERE title LIKE 'live conversation %'").fetchone()[0]
    assert live == incident["writes_committed"]  # every committed live write reached the DR database
    assert abs((newest - last).total_seconds()) < 1
    result = suite_in(running, pytester, "test_objectives.py::test_data_loss_per_source_within_the_rpo",
                      "test_database_recovery.py", "test_failover.py", "-m", "gate")
    result.assert_outcomes(passed=5)


# -- `sandbox incident` early, manual failover, the plan's script --------------------------------------
@pytest.fixture(scope="module")
def manual():
    state_dir, running = _started(incident_after=3600, manual_failover=True)
    try:
        yield running
    finally:
        _stop(state_dir)


def test_sandbox_incident_starts_it_now_and_leaves_the_failover_to_the_operator(manual, pytester, suite_in):
    assert manual.incident()["state"] == "scheduled"
    incident = manual.start_incident()
    assert incident["state"] == "primary failed" and incident["failover"] == "manual"
    assert parse_instant(incident["start"]) < parse_instant(incident["scheduled_at"])
    assert manual.start_incident()["start"] == incident["start"]  # a second call changes nothing
    result = suite_in(_refreshed(manual), pytester, "test_failover.py", "-m", "gate")
    result.stdout.fnmatch_lines(["*DR check failed: REC-DNS: Route53 answers the PRIMARY record*"])
    assert result.ret != 0


def test_failover_script_completes_the_manual_failover_and_the_gate_passes(manual, pytester, suite_in):
    if manual.incident()["state"] == "scheduled":
        manual.start_incident()
    done = _script(manual, "--region", manual.state["aws"]["secondary_region"], "--validate")
    assert done.returncode == 0, done.stderr
    assert "failover to us-west-2 complete" in done.stdout
    incident = _wait_for(manual, "failed over", 10)
    assert incident["failover_at"]
    again = _script(manual, "--region", "us-west-2", "--validate")  # idempotent
    assert again.returncode == 0 and "already standalone" in again.stdout, again.stderr
    result = suite_in(_refreshed(manual), pytester, "test_failover.py", "test_database_recovery.py",
                      "test_objectives.py::test_data_loss_per_source_within_the_rpo", "-m", "gate")
    result.assert_outcomes(passed=5)


def test_failover_script_fails_with_one_line_when_aws_is_unreachable(manual):
    if shutil.which("aws") is None:
        pytest.skip("the aws CLI is not installed")
    env = {**_env(manual), "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1"}
    done = subprocess.run(["bash", SCRIPT, "--region", "us-west-2"], cwd=sandbox_checkout(), env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("failover-to-dr: aws rds describe-db-instances failed"), done.stderr


# -- a long wait: the world keeps moving until the incident ---------------------------------------------
@pytest.fixture(scope="module")
def archiving(monkeypatch_module):
    monkeypatch_module.setenv("KOSMOS_DR_SANDBOX_ARCHIVE_EVERY", "2")  # instead of every 5 min
    state_dir, running = _started(incident_after=10)
    try:
        yield running
    finally:
        _stop(state_dir)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_agents_keep_archiving_and_the_probe_sees_the_incident(archiving):
    import boto3
    import httpx

    ready = parse_instant(archiving.state["ready_at"])
    incident = _wait_for(archiving, "failed over")
    running = _refreshed(archiving)
    aws = running.state["aws"]
    s3 = boto3.client("s3", region_name=aws["secondary_region"], endpoint_url=aws["endpoint_url"],
                      aws_access_key_id=aws["access_key_id"], aws_secret_access_key=aws["secret_access_key"])
    versions = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=aws["s3"]["agent_state_bucket"],
                                                                  Prefix=aws["s3"]["prefix"]):
        versions += page.get("Versions", [])
    start = parse_instant(incident["start"])
    for agent in running.state["agents"]:
        newest = max(v["LastModified"] for v in versions if agent.split("-")[0] in v["Key"])
        assert ready < newest <= start, f"{agent}: no archive written while the incident waited ({newest})"
    grafana = running.state["grafana"]
    series = 'probe_success{job="kosmos-api"}'
    answer = httpx.get(f"{grafana['url']}/api/datasources/proxy/uid/prometheus/api/v1/query",
                       params={"query": f"min_over_time({series}[1m])", "time": start.timestamp() + 1},
                       headers={"Authorization": f"Bearer {grafana['token']}"}, timeout=10).json()
    assert answer["status"] == "success" and answer["data"]["result"], answer
    assert float(answer["data"]["result"][0]["value"][1]) == 0.0, "the probe did not fail at the incident"
