"""Recovery Validation: the plan's health checks and smoke tests (VAL-*).

The API must answer from the DR region (the target's secondary region), fresh (after the
incident), and serve the recovered data (its newest conversation no older than the incident
start minus the RPO, when the incident start is known)."""

import pytest

from pytest_kosmos_dr.checks import database_connection, validation


@pytest.mark.dr_criterion("VAL-API-HEALTH")
def test_api_health_reports_every_component_healthy(kosmos_api, dr_target, dr_incident_start, dr_check):
    dr_check(validation.api_health(kosmos_api, region=dr_target.aws.secondary_region,
                                   incident_start=dr_incident_start))


@pytest.mark.dr_criterion("VAL-DB-CONNECT")
def test_dr_database_answers_select_1(dr_environment, dr_target, dr_check):
    dr_check(database_connection.database_connect(dr_environment.database, dr_target.timeouts.connect,
                                                 dr_target.database.statement_timeout))


@pytest.mark.dr_criterion("VAL-MONITORING")
def test_grafana_health_reports_database_ok(grafana, dr_check):
    dr_check(validation.grafana_health(grafana))


@pytest.mark.dr_criterion("VAL-SMOKE")
def test_api_read_endpoints_answer_well_formed_data(kosmos_api, dr_target, dr_objectives, dr_incident_start,
                                                    dr_check):
    newest_not_before = dr_incident_start - dr_objectives.rpo if dr_incident_start else None
    dr_check(validation.api_smoke(kosmos_api, agents=tuple(a.name for a in dr_target.agents),
                                  newest_not_before=newest_not_before))


@pytest.mark.dr_criterion("VAL-AGENT-ROUTING")
def test_probe_for_zeus_orchestrator_is_answered_by_it(kosmos_api, dr_target, dr_check):
    agent = dr_target.agent("zeus-orchestrator")
    dr_check(validation.agent_routing(kosmos_api, agent.name, pod=agent.pod_name,
                                      namespace=dr_target.kubernetes.namespace, region=dr_target.aws.secondary_region))
