"""The sandbox: `kosmos-dr sandbox up|status|down` by hand (psql and curl reach it), and the
plugin's own sandbox: started once per run (also under -n 2), stopped at the end, nothing left."""

import json
import os
import shutil
import sys
import subprocess
from pathlib import Path

import pytest

from pytest_kosmos_dr.sandbox import manager

pytestmark = pytest.mark.slow  # each test starts and stops a sandbox of its own

KOSMOS_DR = shutil.which("kosmos-dr", path=str(Path(sys.executable).parent)) or "kosmos-dr"

RECORD_SANDBOX = """
import json, os

def _record(dr_sandbox, name):
    out = os.environ["SANDBOX_RECORD"]
    with open(out, "a") as handle:
        handle.write(json.dumps({"test": name, "pid": dr_sandbox.pid,
                                 "data_dir": dr_sandbox.state["data_dir"],
                                 "worker": os.environ.get("PYTEST_XDIST_WORKER", "main")}) + "\\n")

def test_one(dr_sandbox):
    _record(dr_sandbox, "one")

def test_two(dr_sandbox):
    _record(dr_sandbox, "two")
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "pytest_kosmos_dr.sandbox.daemon" in Path(f"/proc/{pid}/cmdline").read_text()


def _postgres_under(data_dir: str) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True, timeout=10).stdout
    return [line for line in ps.splitlines() if data_dir in line and "postgres" in line]


def _shell(env_file: Path, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f"source {env_file} && {command}"], capture_output=True, text=True, timeout=30)


@pytest.fixture
def private_state_dir(tmp_path, monkeypatch):
    """An empty sandbox folder, so nothing reuses the tests' shared sandbox."""
    state_dir = tmp_path / "state"
    monkeypatch.setenv("KOSMOS_DR_SANDBOX_DIR", str(state_dir))
    return state_dir


def test_cli_up_gives_a_sandbox_that_psql_and_curl_reach_until_down(private_state_dir):
    up = subprocess.run([KOSMOS_DR, "sandbox", "up"], capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    running = manager.find_running(private_state_dir)
    try:
        assert "sandbox started" in up.stdout and str(running.env_file) in up.stdout
        for secret in running.secrets():
            assert secret not in up.stdout  # credentials stay in the 0600 env file
        assert oct(running.env_file.stat().st_mode & 0o777) == "0o600"
        psql = _shell(running.env_file, 'psql -XAtc "SELECT count(*) > 0 FROM conversations"')
        assert psql.stdout.strip() == "t", psql.stderr
        curl = _shell(running.env_file, 'curl -sS -H "Authorization: Bearer $KOSMOS_API_TOKEN" '
                                        '"$KOSMOS_API_URL/v1/agents/zeus-orchestrator/probe"')
        assert json.loads(curl.stdout)["agent"] == "zeus-orchestrator"
        status = subprocess.run([KOSMOS_DR, "sandbox", "status"], capture_output=True, text=True, timeout=30)
        assert status.returncode == 0 and f"pid {running.pid}" in status.stdout
        again = subprocess.run([KOSMOS_DR, "sandbox", "up"], capture_output=True, text=True, timeout=60)
        assert "sandbox already running" in again.stdout
    finally:
        down = subprocess.run([KOSMOS_DR, "sandbox", "down"], capture_output=True, text=True, timeout=60)
    assert down.returncode == 0 and "sandbox stopped" in down.stdout
    assert not _alive(running.pid)
    assert not Path(running.state["data_dir"]).exists()
    assert not _postgres_under(running.state["data_dir"])
    assert not (private_state_dir / "sandbox.json").exists()
    # the kubeconfig (a token), config repository and databases go with it; the log stays
    assert {p.name for p in private_state_dir.iterdir()} <= {"sandbox.log", ".lock"}
    status = subprocess.run([KOSMOS_DR, "sandbox", "status"], capture_output=True, text=True, timeout=30)
    assert status.returncode == 1 and "no sandbox running" in status.stderr


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist-2"])
def test_plugin_starts_one_sandbox_per_run_and_stops_it(pytester, private_state_dir, tmp_path, monkeypatch, workers):
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("SANDBOX_RECORD", str(record))
    pytester.makepyfile(test_record=RECORD_SANDBOX)
    result = pytester.runpytest_subprocess(*workers)
    result.assert_outcomes(passed=2)
    seen = [json.loads(line) for line in record.read_text().splitlines()]
    assert len({entry["pid"] for entry in seen}) == 1, seen  # one sandbox for the whole run
    if workers:
        assert {entry["worker"] for entry in seen} == {"gw0", "gw1"}
    pid, data_dir = seen[0]["pid"], seen[0]["data_dir"]
    assert not _alive(pid) and not Path(data_dir).exists() and not _postgres_under(data_dir)
    assert not list(private_state_dir.glob("*")) if private_state_dir.exists() else True


def test_plugin_reuses_a_running_sandbox_and_leaves_it_running(sandbox, pytester, tmp_path, monkeypatch):
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("SANDBOX_RECORD", str(record))
    pytester.makepyfile(test_record=RECORD_SANDBOX)
    pytester.runpytest_subprocess().assert_outcomes(passed=2)
    assert json.loads(record.read_text().splitlines()[0])["pid"] == sandbox.pid
    assert _alive(sandbox.pid)


def test_sandbox_that_cannot_start_breaks_the_tests_with_the_reason(pytester, private_state_dir, monkeypatch):
    monkeypatch.setenv("KOSMOS_DR_PG_BINDIR", "/nonexistent/bin")
    monkeypatch.setenv("PATH", "/usr/bin:/bin:" + str(Path(shutil.which("python3") or "/usr/bin/python3").parent))
    pytester.makepyfile(test_x="def test_x(dr_environment): pass")
    result = pytester.runpytest_subprocess()
    result.stdout.fnmatch_lines(["BROKEN *test_x - could not verify: sandbox: sandbox failed to start: "
                                 "SandboxError: PostgreSQL server binaries (initdb, pg_ctl) not found: install them*"])
