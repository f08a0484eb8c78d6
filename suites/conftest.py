"""The KOSMOS DR suites. Fixtures come from the pytest-kosmos-dr plugin (pytest_kosmos_dr); the
listings several suites evaluate are made here, once per run."""

import pytest


@pytest.fixture(scope="session")
def agent_state_versions(dr_aws, dr_target):
    """Every version under the agent-state prefix (one paginated list-object-versions): the backup
    criteria and OBJ-RPO evaluate the same listing."""
    from pytest_kosmos_dr.checks import backups

    return backups.list_agent_versions(dr_aws.client("s3"), dr_target.backups.bucket,
                                       dr_target.backups.agent_state_prefix)
