"""Recovery objectives (OBJ-RPO, OBJ-RTO): the data-loss window per source and the time from the
incident start to the moment every gate criterion had passed, against the target's objectives.
OBJ-RPO's sources: the tables with a continuous write stream (``database.window_tables``) and every
agent's state (the listed agents and those running in the DR cluster)."""

import pytest

from pytest_kosmos_dr.checks import objectives


@pytest.mark.dr_criterion("OBJ-RPO")
def test_data_loss_per_source_within_the_rpo(newest_writes, agent_state_versions, dr_agents, dr_objectives,
                                             known_incident_start, dr_check):
    """Every agent: the listed ones and those running in the DR cluster; their newest current versions in
    the run's one listing of the agent-state prefix (also BAK-AGENT-*)."""
    agents = objectives.newest_current_backups(agent_state_versions, dr_agents.names, known_incident_start)
    dr_check(objectives.rpo(known_incident_start, newest_writes, agents, limit=dr_objectives.rpo,
                            where="the DR database", discovered=dr_agents.discovered))


@pytest.mark.dr_criterion("OBJ-RTO")
def test_recovery_validated_within_the_rto(known_incident_start, gate_verdicts, dr_objectives, dr_check):
    dr_check(objectives.rto(known_incident_start, gate_verdicts, limit=dr_objectives.rto))
