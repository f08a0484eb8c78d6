"""Backup strategy of the database: production replicated, snapshotted hourly, restorable 30 days back
and copied to the secondary region (BAK-DB-*). Each listing is made once per run (paginated) and
evaluated locally.

Ages are measured against the incident start when one is known (--dr-incident-start, or the
sandbox's recorded incident), else against now."""

import pytest

from pytest_kosmos_dr.checks import backups
from pytest_kosmos_dr.errors import DRUnverifiable


@pytest.fixture(scope="session")
def production_instance(dr_aws, dr_target):
    """The production instance in the primary region (None when RDS says it does not exist)."""
    region = dr_target.aws.primary_region
    return backups.describe_instance(dr_aws.client("rds", region), dr_target.database.production_instance, region)


@pytest.fixture(scope="session")
def production_resource_id(production_instance):
    """Production's DbiResourceId: it tells its backups from those of an earlier instance of the same name."""
    return (production_instance or {}).get("DbiResourceId")


@pytest.fixture(scope="session")
def production_snapshots(dr_aws, dr_target):
    """Every snapshot of the production instance in the primary region (one paginated listing)."""
    region = dr_target.aws.primary_region
    return backups.list_snapshots(dr_aws.client("rds", region), dr_target.database.production_instance, region)


@pytest.mark.dr_criterion("BAK-DB-REPLICATION")
def test_production_has_a_replica_in_the_secondary_region_within_the_rpo(dr_aws, dr_target, dr_database,
                                                                         dr_environment, dr_incident_start, dr_check):
    region = dr_target.aws.secondary_region
    dr_check(backups.replication(dr_aws.client("rds", region), dr_aws.client("cloudwatch", region), dr_database,
                                 dr_target.database.replica_instance, dr_target.database.production_instance, region,
                                 dr_incident_start, dr_target.objectives.rpo, dr_environment.database.describe()))


@pytest.mark.dr_criterion("BAK-DB-SNAPSHOTS-HOURLY")
def test_production_is_snapshotted_every_hour(production_snapshots, production_resource_id, dr_target, backup_reference,
                                             dr_check):
    objectives = dr_target.objectives
    dr_check(backups.snapshots_hourly(production_snapshots, dr_target.database.production_instance,
                                      dr_target.aws.primary_region, backup_reference, objectives.snapshot_interval,
                                      objectives.snapshot_grace, production_resource_id))


@pytest.mark.dr_criterion("BAK-DB-PITR-RETENTION")
def test_production_is_restorable_to_any_point_of_the_last_30_days(production_snapshots, production_instance, dr_aws,
                                                                   dr_target, dr_check):
    primary, secondary = dr_target.aws.primary_region, dr_target.aws.secondary_region
    db = dr_target.database
    rds = dr_aws.client("rds", primary)
    dr_check(backups.pitr_retention(
        production_instance, db.production_instance, primary,
        backups.describe_instance(dr_aws.client("rds", secondary), db.replica_instance, secondary),
        db.replica_instance, secondary, backups.list_automated_backups(rds, primary, db.production_instance),
        production_snapshots, dr_target.objectives.pitr_retention))


@pytest.mark.dr_criterion("BAK-DB-CROSS-REGION")
def test_production_backups_are_copied_to_the_secondary_region(dr_aws, dr_target, backup_reference, dr_check):
    secondary, primary = dr_target.aws.secondary_region, dr_target.aws.primary_region
    rds = dr_aws.client("rds", secondary)
    objectives = dr_target.objectives
    try:  # the copies must not depend on the primary region's API: without it they are matched by name only
        resource_id = (backups.describe_instance(dr_aws.client("rds", primary), dr_target.database.production_instance,
                                                 primary) or {}).get("DbiResourceId")
    except DRUnverifiable:
        resource_id = None
    dr_check(backups.cross_region(backups.list_snapshots(rds, None, secondary),
                                  backups.list_automated_backups(rds, secondary), dr_target.database.production_instance,
                                  dr_target.aws.primary_region, secondary, backup_reference,
                                  objectives.snapshot_interval, objectives.snapshot_grace, resource_id))
