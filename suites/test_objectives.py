"""Recovery objectives (OBJ-RPO, OBJ-RTO): the data-loss window per source and the time from the
incident start to the moment every gate criterion had passed, against the target's objectives.
OBJ-RPO's sources: the tables with a continuous write stream (``database.window_tables``) and every
agent's state (the listed agents and those running in the DR cluster)."""

import pytest

from pytest_kosmos_dr import gate_board
from pytest_kosmos_dr.checks import objectives
from pytest_kosmos_dr import DRUnverifiable

GATE_WAIT_S = 600


def _incident(dr_incident_start):
    if dr_incident_start is None:
        pytest.skip("not verified: no incident start (give --dr-incident-start)")
    return dr_incident_start


@pytest.mark.dr_criterion("OBJ-RPO")
def test_data_loss_per_source_within_the_rpo(dr_database, newest_writes, agent_state_versions, dr_agents, dr_target,
                                             dr_incident_start, dr_check):
    incident = _incident(dr_incident_start)
    tables = newest_writes.result()  # objectives.newest_writes_before, in the database lane
    # the run's one listing of the agent-state prefix (also BAK-AGENT-*): current versions = ListObjectsV2;
    # every agent: the listed ones and those running in the DR cluster (dr_agents)
    agents = objectives.newest_current_backups(agent_state_versions, dr_agents.names, incident)
    dr_check(objectives.rpo(incident, tables, agents, limit=dr_target.objectives.rpo, where="the DR database",
                            discovered=dr_agents.discovered))


@pytest.mark.dr_criterion("OBJ-RTO")
def test_recovery_validated_within_the_rto(dr_run, dr_incident_start, dr_target, dr_check):
    incident = _incident(dr_incident_start)
    _, left_out = gate_board.expected(dr_run.run_dir)
    if left_out:  # OBJ-RTO is judged over the whole gate catalog, never over a selection
        pytest.skip(f"not verified: this run left {len(left_out)} recovery gate criteria out ({', '.join(left_out)}); "
                    "OBJ-RTO needs every recovery criterion of the plan")
    verdicts, missing = gate_board.wait_for_all(dr_run.run_dir, GATE_WAIT_S)
    if missing:
        raise DRUnverifiable("OBJ-RTO", f"{len(missing)} gate tests had no verdict after {GATE_WAIT_S} s")
    dr_check(objectives.rto(incident, verdicts, dr_target.objectives.rto))
