"""Agent state recovery (REC-AGENT-STATE, drill): the plan's `aws s3 cp` + `tar -xzf` + `kubectl cp`
into zeus-orchestrator-0, read back by checksum; the pod's state is put back as it was found."""

import pytest

from pytest_kosmos_dr.checks import agent_backups
from pytest_kosmos_dr.checks.agent_state import state_restored
from pytest_kosmos_dr.criteria_marks import drill_refusal
from pytest_kosmos_dr.drills import agent_state as drill
from pytest_kosmos_dr.errors import DRCheckFailed

AGENT = "zeus-orchestrator"


@pytest.fixture
def zeus_pod_files(dr_run, dr_environment, dr_target, agent_pod):
    """The agent pod's files; its state folder is snapshotted now and put back at teardown."""
    refusal = drill_refusal(dr_run)
    if refusal:
        pytest.skip(refusal)
    agent = dr_target.agent(AGENT)
    agent_pod(AGENT)  # the pod must exist (fails the test otherwise)
    files = drill.PodFiles(dr_environment.kubeconfig, dr_environment.kube_context, dr_target.kubernetes.namespace,
                           agent.pod_name)
    before = files.snapshot(agent.state_path)
    original = files.checksums(agent.state_path)
    yield files
    files.clear(agent.state_path)
    files.put(agent.state_path, before)
    assert files.checksums(agent.state_path) == original, "the pod's state was not put back as found"


@pytest.mark.dr_criterion("REC-AGENT-STATE")
def test_newest_zeus_state_archive_restores_into_its_pod(zeus_pod_files, agent_state_versions, dr_aws, dr_target,
                                                         dr_check, tmp_path):
    agent = dr_target.agent(AGENT)
    bucket, prefix = dr_target.backups.bucket, dr_target.backups.agent_state_prefix
    newest = agent_backups.newest_archive(agent_state_versions, AGENT)
    if newest is None:
        raise DRCheckFailed(f"REC-AGENT-STATE: no state archive for {AGENT} under s3://{bucket}/{prefix}{AGENT}/")
    key = newest["Key"]
    body = agent_backups.download(dr_aws.client("s3"), bucket, newest)
    problems, _ = agent_backups.archive_problems(body, agent=AGENT, agents=[a.name for a in dr_target.agents])
    if problems:  # another agent's state, empty state, a bad manifest: restoring it is no recovery
        raise DRCheckFailed(f"REC-AGENT-STATE: s3://{bucket}/{key}: " + "; ".join(problems))
    try:
        folder = drill.extract(body, tmp_path / "extracted")
    except ValueError as exc:
        raise DRCheckFailed(f"REC-AGENT-STATE: s3://{bucket}/{key} is {exc}") from None
    expected = drill.local_checksums(folder)
    try:
        zeus_pod_files.put(agent.state_path, drill.tar_of(folder))
    except drill.PodCommandFailed as exc:
        raise DRCheckFailed(f"REC-AGENT-STATE: copy into {agent.pod_name} failed: {exc}") from None
    found = zeus_pod_files.checksums(agent.state_path)
    copy = (f"aws s3 cp s3://{bucket}/{key} . && tar -xzf {key.rsplit('/', 1)[-1]} && "
            f"kubectl cp {folder.name}/ {dr_target.kubernetes.namespace}/{agent.pod_name}:{agent.state_path}")
    dr_check(state_restored(AGENT, agent.pod_name, agent.state_path, key, expected, found, copy))
