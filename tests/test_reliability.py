"""Reliability and safety: a gate run changes nothing (request log and database counters), partial
outages are reported broken while the rest still runs, the deadline bounds the run, transient
errors are retried with the attempts in the evidence, and bad input is one clear line."""

import json
import sys
import time
from datetime import timedelta

import httpx
import psycopg
import pytest

from conftest import REPO, SUITES, run_suite
from pytest_kosmos_dr.errors import DRUnverifiable

OUTAGE_MID_RUN = """
from pytest_kosmos_dr.sandbox import manager

def test_000_outage_begins(dr_sandbox):
    dr_sandbox.apply_fault("{fault}")
"""


def _db_writes(sandbox) -> int:
    db = sandbox.state["database"]
    with psycopg.connect(host=db["host"], port=db["port"], dbname=db["dbname"], user=db["user"],
                         password=db["password"], connect_timeout=5) as conn:
        return conn.execute("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables").fetchone()[0]


@pytest.mark.slow  # a long run: the whole gate
def test_a_gate_run_makes_no_mutating_call_anywhere(sandbox, pytester):
    sandbox.clear_requests()
    writes_before = _db_writes(sandbox)
    result = run_suite(pytester, "-m", "gate")
    assert result.ret == 0, result.stdout.str()
    time.sleep(1.5)  # let PostgreSQL flush its table statistics
    requests = sandbox.requests()
    touched = {r["component"] for r in requests}
    assert {"aws", "kubernetes", "api", "grafana", "status_page"} <= touched  # the log saw every service
    assert [r for r in requests if r["mutating"]] == []
    assert _db_writes(sandbox) == writes_before


@pytest.mark.slow  # runs a drill
def test_the_request_log_does_see_mutations(sandbox, pytester):
    """The proof above could not pass by accident: a drill run shows up as mutating calls."""
    sandbox.clear_requests()
    run_suite(pytester, "test_database_recovery.py", "--dr-allow-restore", "-k", "point_in_time")
    actions = {r["action"] for r in sandbox.requests() if r["mutating"]}
    assert {"RestoreDBInstanceToPointInTime", "DeleteDBInstance"} <= actions


@pytest.mark.parametrize(
    ("fault_name", "broken_line", "still_passing"),
    [
        ("kube-api-down", "BROKEN *test_every_dr_cluster_node_is_ready - REC-DR-NODES: could not verify: DR cluster API "
                          "(context dr-cluster): connection refused*", "*test_api_health_reports_every_component_healthy PASSED*"),
        ("aws-endpoint-down", "BROKEN *test_agent_state_bucket_is_versioned - BAK-AGENT-VERSIONING: could not verify: *",
         "*test_every_dr_cluster_node_is_ready PASSED*"),
        ("dr-database-down", "BROKEN *test_dr_database_is_intact_up_to_the_incident - REC-DB-INTEGRITY: could not verify: "
                             "DR database *: connection refused*", "*test_every_dr_cluster_node_is_ready PASSED*"),
    ],
)
@pytest.mark.slow  # the whole gate, once per component lost
def test_component_lost_mid_run_breaks_only_what_needs_it(sandbox, pytester, fault_name, broken_line, still_passing):
    pytester.makepyfile(test_000_outage=OUTAGE_MID_RUN.format(fault=fault_name))
    try:
        result = pytester.runpytest_subprocess("test_000_outage.py", str(SUITES), "-m", "not drill", "-v",
                                               "-p", "no:cacheprovider", "--rootdir", str(REPO), "--dr-deadline", "3m")
    finally:
        sandbox.revert_fault(fault_name)
    result.stdout.fnmatch_lines([still_passing])
    result.stdout.fnmatch_lines([broken_line])
    outcomes = result.parseoutcomes()
    assert outcomes.get("broken", 0) >= 1 and outcomes.get("passed", 0) >= 5


def test_the_deadline_bounds_a_hanging_check(pytester):
    pytester.makepyfile(test_hang="import time, pytest\n"
                                  "@pytest.mark.dr_criterion('VAL-DB-CONNECT')\ndef test_hangs():\n    time.sleep(3600)\n\n"
                                  "@pytest.mark.dr_criterion('VAL-SMOKE')\ndef test_after():\n    pass\n")
    # a hang guard, not a duration: without the deadline the run would sleep an hour
    result = pytester.runpytest_subprocess("--dr-deadline", "2s", "-p", "no:cacheprovider", timeout=600)
    result.stdout.fnmatch_lines(["BROKEN *test_hangs - VAL-DB-CONNECT: could not verify: run deadline: passed at *",
                                 "BROKEN *test_after - VAL-SMOKE: could not verify: run deadline: passed at *"])


def test_an_rto_already_run_out_does_not_stop_the_checks_and_the_run_is_still_bounded(pytester):
    """The default deadline bounds the run, not the RTO: a run 5 h after the incident (RTO 4 h) still
    runs every check (OBJ-RTO then reports the RTO missed, see tests/test_verdicts.py)."""
    from pytest_kosmos_dr.timeparse import isoformat, utcnow

    pytester.makepyfile(test_x="import pytest\n"
                               "@pytest.mark.dr_criterion('VAL-DB-CONNECT')\n"
                               "def test_x(dr_run):\n"
                               "    from pytest_kosmos_dr.run import default_run_bound\n"
                               "    assert dr_run.deadline - dr_run.started == default_run_bound(dr_run.target, False)\n"
                               "    assert dr_run.deadline > dr_run.started\n")
    over = isoformat(utcnow() - timedelta(hours=5))  # the RTO ran out an hour ago
    result = pytester.runpytest_subprocess("--dr-incident-start", over, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "run deadline" not in result.stdout.str()


def test_bad_deadline_is_a_usage_error(pytester):
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest_inprocess("--dr-deadline", "soonish")  # stops at configuration
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --dr-deadline soonish: expected a duration like '10m' or an ISO-8601 time"])


def test_eventually_retries_a_converging_check_and_records_every_attempt():
    from pytest_kosmos_dr.eventually import eventually
    from pytest_kosmos_dr.results import CheckResult

    def probe(attempt):
        return CheckResult(attempt >= 3, f"{attempt - 1} of 2 pods Ready")

    result = eventually(probe, timedelta(seconds=5), interval_s=0.05)
    assert result.passed and "passed after 3 attempts" in result.summary
    assert "attempt 1" in result.evidence[-1].asked and "attempt 3" in result.evidence[-1].answer
    never = eventually(lambda a: CheckResult(False, "still down"), timedelta(seconds=0.3), interval_s=0.05)
    assert not never.passed and "still failing after" in never.summary


def test_transient_http_errors_are_retried_with_the_attempts_recorded():
    from pytest_kosmos_dr.clients.http import get

    answers = iter([503, 502, 200])
    transport = httpx.MockTransport(lambda request: httpx.Response(next(answers), json={"status": "ok"}))
    attempts: list[str] = []
    with httpx.Client(transport=transport, base_url="http://api") as client:
        response = get(client, "/health", "health", attempts)
    assert response.status_code == 200
    assert [a.split(":")[1].split(" in")[0].strip() for a in attempts] == ["HTTP 503", "HTTP 502", "HTTP 200"]
    # a definitive answer is not retried
    calls = []
    transport = httpx.MockTransport(lambda request: calls.append(1) or httpx.Response(500))
    with httpx.Client(transport=transport, base_url="http://api") as client:
        assert get(client, "/health", "health").status_code == 500
    assert len(calls) == 1


def test_s3_access_denied_is_could_not_verify_with_the_code():
    from botocore.exceptions import ClientError

    from pytest_kosmos_dr.clients.aws import call

    def denied(**kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "ListObjectVersions")

    with pytest.raises(DRUnverifiable, match=r"^could not verify: S3 ListObjectVersions kosmos-backups: AccessDenied: Access Denied$"):
        call("S3 ListObjectVersions kosmos-backups", denied, Bucket="kosmos-backups")


def _kube_target(pytester, sandbox, **kube):
    lines = "\n".join(f'{k} = "{v}"' for k, v in kube.items())
    aws = sandbox.state["aws"]
    pytester.makefile(".toml", **{"kube": f'[targets.k]\nkind = "aws"\n[targets.k.kubernetes]\n{lines}\n'})
    return ["--dr-config", str(pytester.path / "kube.toml"), "--dr-target", "k"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"kubeconfig": "/nonexistent/kubeconfig"},
         "could not verify: DR cluster: kubeconfig /nonexistent/kubeconfig not found (set kubernetes.kubeconfig in the target or $KUBECONFIG)"),
        ({"context": "prod-cluster"}, "could not verify: DR cluster: context 'prod-cluster' is not in *(available: dr-cluster)"),
    ],
)
def test_missing_kubeconfig_or_context_is_one_line(sandbox, pytester, settings, message):
    settings.setdefault("kubeconfig", sandbox.state["kubernetes"]["kubeconfig"])
    args = _kube_target(pytester, sandbox, **settings)
    result = run_suite(pytester, "test_dr_cluster.py", *args, "-k", "node_is_ready")
    result.stdout.fnmatch_lines([f"BROKEN *test_every_dr_cluster_node_is_ready - REC-DR-NODES: {message}"])


@pytest.mark.slow  # the fault matrix: a further could-not-verify twin
def test_wrong_kubernetes_token_is_broken_and_not_printed(sandbox, pytester, tmp_path):
    import yaml

    config = yaml.safe_load(open(sandbox.state["kubernetes"]["kubeconfig"]))
    config["users"][0]["user"]["token"] = "wrong-token-0123456789"
    path = tmp_path / "wrong-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    args = _kube_target(pytester, sandbox, kubeconfig=str(path), context="dr-cluster")
    result = run_suite(pytester, "test_dr_cluster.py", *args, "-k", "node_is_ready")
    result.stdout.fnmatch_lines(["BROKEN *REC-DR-NODES: could not verify: DR cluster API (context dr-cluster): "
                                 "HTTP 401: credentials rejected (check the kubeconfig user / token)"])
    assert "wrong-token-0123456789" not in result.stdout.str()


@pytest.mark.slow  # the fault matrix: a further could-not-verify twin
def test_tls_verification_failure_is_broken_naming_the_trust_problem(sandbox, pytester):
    """The API URL points at an HTTPS server whose certificate nobody trusts."""
    untrusted = sandbox.state["kubernetes"]["url"]
    pytester.makefile(".toml", **{"tls": f'[targets.t]\nkind = "aws"\n[targets.t.endpoints]\napi = "{untrusted}"\n'})
    result = run_suite(pytester, "test_recovery_validation.py", "--dr-config", str(pytester.path / "tls.toml"),
                       "--dr-target", "t", "-k", "api_health")
    result.stdout.fnmatch_lines(["BROKEN *VAL-API-HEALTH: could not verify: KOSMOS API /health: *certificate verify failed*"])


def test_the_deadline_bounds_fixture_setup_too(pytester):
    pytester.makepyfile(test_slow_fixture="import time, pytest\n"
                                          "@pytest.fixture\ndef hangs():\n    time.sleep(60)\n\n"
                                          "@pytest.mark.dr_criterion('VAL-DB-CONNECT')\ndef test_x(hangs):\n    pass\n")
    result = pytester.runpytest_subprocess("--dr-deadline", "2s", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["BROKEN *test_x - VAL-DB-CONNECT: could not verify: run deadline: passed at *"])
