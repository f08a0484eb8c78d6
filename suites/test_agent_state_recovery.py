"""Agent state recovery (REC-AGENT-STATE, drill): the plan's `aws s3 cp` + `tar -xzf` + `kubectl cp`
into the drilled agent's pod (the target's first agent: the plan's zeus-orchestrator), read back by checksum.

The live state folder is never written: the copy goes into a scratch folder of this run in the pod
(recorded in the run folder before it is made, removed afterwards, or by `kosmos-dr cleanup` after
a killed run), and is compared there."""

import pytest

from pytest_kosmos_dr.checks import agent_backups
from pytest_kosmos_dr.checks.agent_state import state_restored
from pytest_kosmos_dr.drills import agent_state as drill
from pytest_kosmos_dr.errors import DRCheckFailed


@pytest.fixture(scope="session")
def drilled_agent(dr_target):
    """The agent whose state the drill restores: the target's first (the plan's zeus-orchestrator)."""
    return dr_target.agents[0]


@pytest.fixture
def zeus_scratch(dr_run, drill_lease, dr_environment, dr_target, agent_pod, drilled_agent):
    """A scratch folder of this run in the agent's pod; removed at teardown (the live state is untouched)."""
    agent = drilled_agent
    agent_pod(agent.name)  # the pod must exist (fails the test otherwise)
    files = drill.PodFiles(dr_environment.kubeconfig, dr_environment.kube_context, dr_target.kubernetes.namespace,
                           agent.pod_name)
    scratch = drill.Scratch(files, dr_run, agent.name, agent.state_path).create()
    try:
        yield scratch
    finally:
        scratch.discard()


@pytest.mark.dr_criterion("REC-AGENT-STATE")
def test_newest_zeus_state_archive_restores_into_its_pod(zeus_scratch, drilled_agent, agent_state_versions, dr_aws,
                                                         dr_target, dr_check, tmp_path):
    agent = drilled_agent
    name = agent.name
    bucket, prefix = dr_target.backups.bucket, dr_target.backups.agent_state_prefix
    newest = agent_backups.newest_archive(agent_state_versions, name)
    if newest is None:
        raise DRCheckFailed(f"REC-AGENT-STATE: no state archive for {name} under s3://{bucket}/{prefix} "
                            f"(key pattern {dr_target.backups.agent_state_key})")
    key = newest["Key"]
    body = agent_backups.download(dr_aws.client("s3"), bucket, newest)
    problems, _ = agent_backups.archive_problems(body, agent=name, agents=[a.name for a in dr_target.agents])
    if problems:  # another agent's state, empty state, a bad manifest: restoring it is no recovery
        raise DRCheckFailed(f"REC-AGENT-STATE: s3://{bucket}/{key}: " + "; ".join(problems))
    try:
        folder = drill.extract(body, tmp_path / "extracted")
    except ValueError as exc:
        raise DRCheckFailed(f"REC-AGENT-STATE: s3://{bucket}/{key} is {exc}") from None
    expected = drill.local_checksums(folder)
    try:
        zeus_scratch.put(drill.tar_of(folder))
    except drill.PodCommandFailed as exc:
        raise DRCheckFailed(f"REC-AGENT-STATE: copy into {agent.pod_name}:{zeus_scratch.path} failed: {exc}") from None
    found = zeus_scratch.checksums()
    copy = (f"aws s3 cp s3://{bucket}/{key} . && tar -xzf {key.rsplit('/', 1)[-1]} && "
            f"kubectl cp {folder.name}/ {dr_target.kubernetes.namespace}/{agent.pod_name}:{zeus_scratch.path}\n"
            f"(into a scratch folder of this run; the live {agent.state_path} is not written)")
    dr_check(state_restored(name, agent.pod_name, zeus_scratch.path, key, expected, found, copy))
