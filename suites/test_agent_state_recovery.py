"""Agent state recovery (REC-AGENT-STATE, drill): the plan's `aws s3 cp` + `tar -xzf` + `kubectl cp`
into the drilled agent's pod (the target's first agent: the plan's zeus-orchestrator), read back by checksum.

The live state folder is never written: the copy goes into a scratch folder of this run in the pod
(recorded in the run folder before it is made, removed afterwards, or by `kosmos-dr cleanup` after
a killed run), and is compared there."""

import pytest


@pytest.mark.dr_criterion("REC-AGENT-STATE")
def test_newest_zeus_state_archive_restores_into_its_pod(agent_state_drill, agent_state_versions, dr_check):
    dr_check(agent_state_drill(agent_state_versions))
