"""VAL-*: the Recovery Validation suite passes on a healthy sandbox, and each check fails,
alone and with a message naming what is wrong, when the sandbox is broken the way it guards against."""

import pytest

from conftest import run_suite

SUITE = "test_recovery_validation.py"


def test_validation_suite_passes_against_a_healthy_sandbox(sandbox, pytester):
    result = run_suite(pytester, SUITE, "-v")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*test_api_health_reports_every_component_healthy PASSED*"])


@pytest.mark.parametrize(
    ("fault_name", "failing_test", "message"),
    [
        ("api-health-503", "test_api_health_reports_every_component_healthy",
         "*VAL-API-HEALTH: /health: HTTP 503; overall status 'degraded'; unhealthy components: queue=down*"),
        ("grafana-database-down", "test_grafana_health_reports_database_ok",
         "*VAL-MONITORING: Grafana /api/health: HTTP 503, database='failing'*"),
        ("agent-misrouted", "test_probe_for_zeus_orchestrator_is_answered_by_it",
         "*VAL-AGENT-ROUTING: probe to zeus-orchestrator: HTTP 200, answered by 'athena-analyst'*"),
        ("api-read-malformed", "test_api_read_endpoints_answer_well_formed_data",
         "*VAL-SMOKE: API read endpoints: /v1/conversations?limit=5 did not answer a JSON object*"),
    ],
)
def test_fault_fails_exactly_its_validation_check(sandbox, fault, pytester, fault_name, failing_test, message):
    fault(fault_name)
    result = run_suite(pytester, SUITE, "-rf")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines([message, f"FAILED *::{failing_test}*"])
    result.stdout.no_fnmatch_line("*BROKEN*")
