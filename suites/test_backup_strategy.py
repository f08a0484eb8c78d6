"""Backup strategy: production replicated, snapshotted hourly, restorable 30 days back and copied to
the secondary region (BAK-DB-*); agent state backed up continuously, versioned, kept 7 days and
restorable (BAK-AGENT-*). Each listing is made once per run (paginated) and evaluated locally.

Ages are measured against the incident start when one is known (--dr-incident-start, or the
sandbox's recorded incident), else against now."""

import pytest

from pytest_kosmos_dr.checks import backups


@pytest.fixture(scope="session")
def backup_reference(dr_incident_start):
    """The instant backup ages are measured against: the incident start, else now."""
    return backups.Reference.of(dr_incident_start)


@pytest.fixture(scope="session")
def production_snapshots(dr_aws, dr_target):
    """Every snapshot of the production instance in the primary region (one paginated listing)."""
    region = dr_target.aws.primary_region
    return backups.list_snapshots(dr_aws.client("rds", region), dr_target.database.production_instance, region)


def _agents(dr_target):
    return [agent.name for agent in dr_target.agents]


@pytest.mark.dr_criterion("BAK-DB-REPLICATION")
def test_production_has_a_replica_in_the_secondary_region_within_the_rpo(dr_aws, dr_target, dr_database,
                                                                         dr_environment, dr_incident_start, dr_check):
    region = dr_target.aws.secondary_region
    dr_check(backups.replication(dr_aws.client("rds", region), dr_aws.client("cloudwatch", region), dr_database,
                                 dr_target.database.replica_instance, dr_target.database.production_instance, region,
                                 dr_incident_start, dr_target.objectives.rpo, dr_environment.database.describe()))


@pytest.mark.dr_criterion("BAK-DB-SNAPSHOTS-HOURLY")
def test_production_is_snapshotted_every_hour(production_snapshots, dr_target, backup_reference, dr_check):
    objectives = dr_target.objectives
    dr_check(backups.snapshots_hourly(production_snapshots, dr_target.database.production_instance,
                                      dr_target.aws.primary_region, backup_reference, objectives.snapshot_interval,
                                      objectives.snapshot_grace))


@pytest.mark.dr_criterion("BAK-DB-PITR-RETENTION")
def test_production_is_restorable_to_any_point_of_the_last_30_days(production_snapshots, dr_aws, dr_target, dr_check):
    primary, secondary = dr_target.aws.primary_region, dr_target.aws.secondary_region
    db = dr_target.database
    rds = dr_aws.client("rds", primary)
    dr_check(backups.pitr_retention(
        backups.describe_instance(rds, db.production_instance, primary), db.production_instance, primary,
        backups.describe_instance(dr_aws.client("rds", secondary), db.replica_instance, secondary),
        db.replica_instance, secondary, backups.list_automated_backups(rds, primary, db.production_instance),
        production_snapshots, dr_target.objectives.pitr_retention))


@pytest.mark.dr_criterion("BAK-DB-CROSS-REGION")
def test_production_backups_are_copied_to_the_secondary_region(dr_aws, dr_target, backup_reference, dr_check):
    secondary = dr_target.aws.secondary_region
    rds = dr_aws.client("rds", secondary)
    objectives = dr_target.objectives
    dr_check(backups.cross_region(backups.list_snapshots(rds, None, secondary),
                                  backups.list_automated_backups(rds, secondary), dr_target.database.production_instance,
                                  dr_target.aws.primary_region, secondary, backup_reference,
                                  objectives.snapshot_interval, objectives.snapshot_grace))


@pytest.mark.dr_criterion("BAK-AGENT-REALTIME")
def test_every_agent_state_backup_is_younger_than_the_rpo(agent_state_versions, dr_target, backup_reference, dr_check):
    dr_check(backups.agent_realtime(agent_state_versions, _agents(dr_target), backup_reference,
                                    dr_target.objectives.rpo))


@pytest.mark.dr_criterion("BAK-AGENT-VERSIONING")
def test_agent_state_bucket_is_versioned(dr_aws, dr_target, dr_check):
    dr_check(backups.agent_versioning(dr_aws.client("s3"), dr_target.backups.bucket))


@pytest.mark.dr_criterion("BAK-AGENT-RETENTION")
def test_agent_state_is_kept_seven_days(agent_state_versions, dr_aws, dr_target, backup_reference, dr_check):
    rules = backups.lifecycle_rules(dr_aws.client("s3"), dr_target.backups.bucket)
    dr_check(backups.agent_retention(rules, agent_state_versions, _agents(dr_target), backup_reference,
                                     dr_target.objectives.agent_state_retention))


@pytest.mark.dr_criterion("BAK-AGENT-ARCHIVE")
def test_every_agent_newest_archive_is_a_usable_state_archive(agent_state_versions, dr_aws, dr_target, dr_check):
    dr_check(backups.agent_archive(dr_aws.client("s3"), agent_state_versions, _agents(dr_target)))
