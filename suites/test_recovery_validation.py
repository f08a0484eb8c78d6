"""Recovery Validation: the plan's health checks and smoke tests (VAL-*).

The API must answer its health endpoint (the target's ``health`` contract) from the DR region,
fresh (after the incident). The plan's smoke tests and agent-routing script run as the plan names
them, in the KOSMOS checkout of the target's ``smoke`` settings, against the DR API (see
pytest_kosmos_dr/plan_commands.py for their environment). Each test's reads start with the run's
other reads (pytest_kosmos_dr/gate_reads.py); the test checks the result."""

import pytest


@pytest.mark.dr_criterion("VAL-API-HEALTH")
def test_api_health_reports_every_component_healthy(api_health, dr_check):
    dr_check(api_health)


@pytest.mark.dr_criterion("VAL-DB-CONNECT")
def test_dr_database_answers_select_1(select_1, dr_check):
    dr_check(select_1)


@pytest.mark.dr_criterion("VAL-MONITORING")
def test_grafana_health_reports_database_ok(grafana_health, dr_check):
    dr_check(grafana_health)


@pytest.mark.dr_criterion("VAL-SMOKE")
def test_plan_smoke_tests_pass_against_the_dr_api(plan_smoke_tests, dr_check):
    dr_check(plan_smoke_tests)


@pytest.mark.dr_criterion("VAL-AGENT-ROUTING")
def test_plan_agent_routing_script_passes_for_every_agent(plan_agent_routing, dr_check):
    dr_check(plan_agent_routing)
