"""Recovery Validation: the plan's health checks and smoke tests (VAL-*).

The API must answer its health endpoint (the target's ``health`` contract) from the DR region,
fresh (after the incident). The plan's smoke tests and agent-routing script run as the plan names
them, in the KOSMOS checkout of the target's ``smoke`` settings, against the DR API (see
pytest_kosmos_dr/plan_commands.py for their environment)."""

import pytest

from pytest_kosmos_dr import plan_commands
from pytest_kosmos_dr.checks import database_connection, validation


@pytest.fixture(scope="module")
def plan_command_env(dr_target, dr_environment, dr_incident_start):
    """The environment the plan's commands run with: the DR API's URL and token, the DR context."""
    return plan_commands.command_environment(
        api_url=dr_environment.api_url, api_token=dr_environment.api_token,
        token_env=dr_target.endpoints.api_token_env, extra=dr_target.smoke.env,
        context=plan_commands.dr_context(dr_target, dr_incident_start), ca_bundle=dr_target.endpoints.ca_bundle)


@pytest.mark.dr_criterion("VAL-API-HEALTH")
def test_api_health_reports_every_component_healthy(kosmos_api, dr_target, dr_incident_start, dr_check):
    dr_check(validation.api_health(kosmos_api, dr_target.health, region=dr_target.aws.secondary_region,
                                   incident_start=dr_incident_start))


@pytest.mark.dr_criterion("VAL-DB-CONNECT")
def test_dr_database_answers_select_1(dr_environment, dr_target, dr_check):
    dr_check(database_connection.database_connect(dr_environment.database, connect_timeout=dr_target.timeouts.connect,
                                                 statement_timeout=dr_target.database.statement_timeout))


@pytest.mark.dr_criterion("VAL-MONITORING")
def test_grafana_health_reports_database_ok(grafana, dr_target, dr_check):
    dr_check(validation.grafana_health(grafana, dr_target.monitoring))


@pytest.mark.dr_criterion("VAL-SMOKE")
def test_plan_smoke_tests_pass_against_the_dr_api(dr_run, dr_target, plan_command_env, dr_check):
    dr_check(validation.smoke_tests(dr_target.smoke, plan_command_env, dr_run.run_dir / "plan-commands"))


@pytest.mark.dr_criterion("VAL-AGENT-ROUTING")
def test_plan_agent_routing_script_passes_for_every_agent(dr_run, dr_target, plan_command_env, dr_check):
    agents = tuple(agent.name for agent in dr_target.agents)
    dr_check(validation.agent_routing(dr_target.smoke, agents, plan_command_env, dr_run.run_dir / "plan-commands"))
