"""Backup strategy of agent state: backed up continuously, versioned, kept 7 days and restorable
(BAK-AGENT-*). One listing of every version under the agent-state prefix (``agent_state_versions``,
made once per run) serves every check here; archives are the keys ``backups.agent_state_key`` gives.

"Every agent" is the targets file's agents plus those running in the DR cluster under
``kubernetes.agent_selector`` (``dr_agents``): one that runs but is not listed and has no backup fails
every criterion here, named.

Ages are measured against the incident start when one is known (--dr-incident-start, or the
sandbox's recorded incident), else against now. The S3 client is the secondary region's
(``dr_aws.client("s3")``): these checks never ask the primary region, so they still decide during its outage."""

import pytest

from pytest_kosmos_dr.checks import agent_backups


@pytest.mark.dr_criterion("BAK-AGENT-REALTIME")
def test_every_agent_state_backup_is_younger_than_the_rpo(agent_state_versions, dr_agents, dr_objectives,
                                                          backup_reference, dr_check):
    dr_check(agent_backups.agent_realtime(agent_state_versions, dr_agents.names, backup_reference,
                                          rpo=dr_objectives.rpo, discovered=dr_agents.discovered))


@pytest.mark.dr_criterion("BAK-AGENT-VERSIONING")
def test_agent_state_bucket_is_versioned(agent_state_versioning, dr_check):
    dr_check(agent_state_versioning)  # agent_backups.agent_versioning over the listing, every agent


@pytest.mark.dr_criterion("BAK-AGENT-RETENTION")
def test_agent_state_is_kept_seven_days(agent_state_versions, dr_agents, agent_state_lifecycle_rules, dr_objectives,
                                        backup_reference, dr_check):
    dr_check(agent_backups.agent_retention(agent_state_lifecycle_rules, agent_state_versions, dr_agents.names,
                                           backup_reference, retention=dr_objectives.agent_state_retention,
                                           discovered=dr_agents.discovered))


@pytest.mark.dr_criterion("BAK-AGENT-ARCHIVE")
def test_every_agent_newest_archive_is_a_usable_state_archive(agent_state_archives, dr_check):
    dr_check(agent_state_archives)  # agent_backups.agent_archive: each agent's newest archive downloaded and read
