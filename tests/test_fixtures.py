"""Fixtures reach the target's DR environment with bounded, read-only clients; when they
cannot, the tests that need them are *broken* with one clear reason, never a traceback wall."""

import pytest

from conftest import run_suite

FIXTURE_PROBE = """
import psycopg, pytest

def test_target_and_objectives(dr_target, dr_objectives):
    assert dr_target.name == "sandbox" and dr_objectives.rpo.total_seconds() == 900

def test_database_session_is_read_only_with_a_statement_timeout(dr_database):
    assert dr_database.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
    assert dr_database.execute("SHOW statement_timeout").fetchone()[0] == "30s"
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        dr_database.execute("INSERT INTO agents (id, display_name) VALUES ('x', 'x')")

def test_api_client_carries_the_token_and_timeouts(kosmos_api):
    assert kosmos_api.headers["Authorization"].startswith("Bearer ")
    assert kosmos_api.timeout.connect == 5 and kosmos_api.timeout.read == 15
    assert kosmos_api.get("/v1/agents").status_code == 200

def test_incident_start_comes_from_the_sandbox(dr_incident_start, dr_sandbox):
    assert dr_incident_start.isoformat().startswith(dr_sandbox.state["incident"]["start"][:16])
"""


def test_fixtures_resolve_the_sandbox_target(sandbox, pytester):
    pytester.makepyfile(test_probe=FIXTURE_PROBE)
    pytester.runpytest_subprocess().assert_outcomes(passed=4)


def _elsewhere_target(pytester, sandbox, **endpoints):
    db = sandbox.state["database"]
    api = endpoints.get("api", sandbox.state["api"]["url"])
    grafana = endpoints.get("grafana", sandbox.state["grafana"]["url"])
    pytester.makefile(".toml", **{"elsewhere": f"""
[targets.elsewhere]
kind = "aws"
[targets.elsewhere.database]
host = "{db['host']}"
port = {db['port']}
user = "{db['user']}"
password_env = "ELSEWHERE_DB_PASSWORD"
sslmode = "disable"
[targets.elsewhere.endpoints]
api = "{api}"
grafana = "{grafana}"
api_token_env = "ELSEWHERE_API_TOKEN"
[targets.elsewhere.smoke]
checkout = "@sandbox"
smoke_command = "{{python}} -m pytest -q -p no:cacheprovider tests/integration/smoke_tests.py"
routing_command = "{{python}} scripts/test_agent_routing.py --agent {{agent}}"
[targets.elsewhere.timeouts]
connect = "2s"
read = "3s"
"""})
    return ["--dr-config", str(pytester.path / "elsewhere.toml"), "--dr-target", "elsewhere"]


def test_wrong_database_password_is_broken_not_failed_and_never_printed(sandbox, pytester, monkeypatch):
    wrong = "not-the-password-4711"
    monkeypatch.setenv("ELSEWHERE_DB_PASSWORD", wrong)
    monkeypatch.setenv("ELSEWHERE_API_TOKEN", sandbox.state["api"]["token"])
    monkeypatch.setenv("GRAFANA_TOKEN", sandbox.state["grafana"]["token"])  # VAL-MONITORING reads data sources
    args = _elsewhere_target(pytester, sandbox)
    result = run_suite(pytester, "test_recovery_validation.py", *args)
    assert result.parseoutcomes() == {"passed": 4, "broken": 1}
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # a CI gate still fails
    result.stdout.fnmatch_lines([
        "*could not verify (broken*",
        "BROKEN *test_dr_database_answers_select_1 - VAL-DB-CONNECT: could not verify: DR database "
        "admin@127.0.0.1:*/kosmos: password rejected (check the password environment variable)",
    ])
    assert wrong not in result.stdout.str() + result.stderr.str()


@pytest.mark.slow  # the fault matrix: a further could-not-verify twin
def test_service_down_fails_the_check_while_an_unresolvable_name_is_broken(sandbox, pytester, monkeypatch):
    monkeypatch.setenv("ELSEWHERE_DB_PASSWORD", sandbox.state["database"]["password"])
    monkeypatch.setenv("ELSEWHERE_API_TOKEN", sandbox.state["api"]["token"])
    args = _elsewhere_target(pytester, sandbox, api="http://127.0.0.1:9", grafana="http://grafana.kosmos.invalid")
    result = run_suite(pytester, "test_recovery_validation.py", *args, "-rf")
    result.stdout.fnmatch_lines([
        "*VAL-API-HEALTH: http://127.0.0.1:9/health did not answer: connection refused*",
        "BROKEN *test_grafana_health_reports_database_ok - VAL-MONITORING: could not verify: "
        "Grafana /api/health: *(check the URL, DNS and CA bundle of the target)",
    ])
    assert result.parseoutcomes() == {"failed": 3, "broken": 1, "passed": 1}


@pytest.mark.slow  # the fault matrix: a further could-not-verify twin
def test_wrong_api_token_is_broken_with_a_hint(sandbox, pytester, monkeypatch):
    monkeypatch.setenv("ELSEWHERE_DB_PASSWORD", sandbox.state["database"]["password"])
    monkeypatch.setenv("ELSEWHERE_API_TOKEN", "wrong-token-123456")
    args = _elsewhere_target(pytester, sandbox)
    result = run_suite(pytester, "test_recovery_validation.py::test_plan_agent_routing_script_passes_for_every_agent",
                       *args)
    # the plan's routing script exits 77 ("cannot test") on rejected credentials: not verified, not failed
    result.stdout.fnmatch_lines(["BROKEN *VAL-AGENT-ROUTING: could not verify: *exited 77, which says it could not "
                                 "look: CANNOT VERIFY: request for zeus-orchestrator: HTTP 401: the API rejected the "
                                 "credentials (check the token environment variable)*"])
    assert "wrong-token-123456" not in result.stdout.str()
