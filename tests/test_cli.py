"""The kosmos-dr command: targets (secrets hidden), criteria, and clear errors."""

import json
import shutil
import sys
import subprocess
from pathlib import Path

import pytest

KOSMOS_DR = shutil.which("kosmos-dr", path=str(Path(sys.executable).parent)) or "kosmos-dr"


def run(*args, env=None, cwd=None):
    return subprocess.run([KOSMOS_DR, *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd)


def test_targets_show_resolved_settings_but_never_secrets(monkeypatch):
    from conftest import REPO

    monkeypatch.setenv("PGPASSWORD", "s3cret-db-password")
    monkeypatch.setenv("KOSMOS_API_TOKEN", "s3cret-api-token")
    result = run("targets", cwd=REPO)
    assert result.returncode == 0
    assert "[dr-cluster] aws PRODUCTION" in result.stdout
    assert "context=dr-cluster" in result.stdout and "rpo=15 min" in result.stdout
    assert "password_env=PGPASSWORD" in result.stdout
    assert "s3cret" not in result.stdout + result.stderr
    data = json.loads(run("targets", "--json", cwd=REPO).stdout)
    assert data["targets"]["dr-cluster"]["backups"]["bucket"] == "kosmos-backups"


def test_criteria_lists_the_whole_catalog_with_kinds():
    result = run("criteria")
    assert result.returncode == 0
    assert "43 criteria" in result.stdout
    assert "VAL-API-HEALTH" in result.stdout and "gate" in result.stdout
    drills = json.loads(run("criteria", "--kind", "drill", "--json").stdout)
    assert {c["id"] for c in drills} == {"SCN-DATA-CORRUPTION", "SCN-SECURITY-BREACH", "REC-DB-PITR",
                                        "REC-DB-SNAPSHOT", "REC-AGENT-STATE"}


def test_bad_config_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "kosmos-dr.toml").write_text('[targets.x.objectives]\nrto = "soon"\n')
    result = run("targets", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "targets.x.objectives.rto: expected a duration" in result.stderr


def test_fault_on_a_missing_sandbox_says_how_to_start_one(tmp_path):
    result = run("sandbox", "--state-dir", str(tmp_path), "fault", "--list")
    assert result.returncode == 1
    assert "no sandbox running" in result.stderr and "kosmos-dr sandbox up" in result.stderr


def test_sandbox_target_prints_each_layouts_targets_file_entry(tmp_path):
    from pytest_kosmos_dr.config import load_config

    for layout, name in (("alternate", "sandbox-alternate"), ("default", "sandbox")):
        result = run("sandbox", "--state-dir", str(tmp_path / "none"), "target", "--layout", layout)
        assert result.returncode == 0, result.stderr
        (tmp_path / f"{layout}.toml").write_text(result.stdout)
        assert load_config(tmp_path, str(tmp_path / f"{layout}.toml")).target(name).sandbox.layout == layout
    unknown = run("sandbox", "target", "--layout", "sideways")
    assert unknown.returncode == 2 and "invalid choice: 'sideways'" in unknown.stderr


def test_the_sandbox_state_is_read_typed_and_a_malformed_one_is_one_line():
    from pytest_kosmos_dr.errors import SandboxError
    from pytest_kosmos_dr.sandbox.state import SandboxState

    raw = {"database": {"host": "127.0.0.1", "port": "5432", "dbname": "kosmos", "user": "admin", "password": "pw"},
           "api": {"url": "http://127.0.0.1:1", "token": "tk"}, "grafana": {"url": "http://127.0.0.1:2"},
           "dns": {"host": "127.0.0.1", "port": 53}, "incident": {"start": "2026-11-30T10:00:00Z"},
           "evidence": {"ledger": "/state/drill-ledger.jsonl"}}
    state = SandboxState.from_dict(raw)
    assert (state.database.port, state.dns.port, state.aws, state.status_page) == (5432, 53, None, None)
    assert (state.incident.state, state.incident.failover) == ("failed over", "automatic")  # the sandbox's defaults
    assert state.evidence_path("ledger") == Path("/state/drill-ledger.jsonl") and state.evidence_path("x") is None
    assert "pw" not in repr(state) and "tk" not in repr(state)
    for broken, line in [({}, "sandbox state: no 'database' section"),
                         ({**raw, "api": {}}, "sandbox state: no 'api' section"),
                         ({**raw, "grafana": {"token": "t"}}, "sandbox state: no grafana.url"),
                         ({**raw, "dns": {"host": "h", "port": "x"}}, "sandbox state: dns.port is 'x', not a port"),
                         ({**raw, "incident": "soon"}, "sandbox state: 'incident' is str, not a section")]:
        with pytest.raises(SandboxError) as caught:
            SandboxState.from_dict(broken)
        assert str(caught.value) == line
