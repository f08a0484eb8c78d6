"""Backup strategy of the database: production replicated, snapshotted hourly, restorable 30 days back
and copied to the secondary region (BAK-DB-*); the objectives and windows are the target's
(``objectives.*``, ``backups.snapshot_window``, ``backups.pitr_slack``). Each listing is made once
per run (paginated) and evaluated locally.

Ages are measured against the incident start when one is known (--dr-incident-start, or the
sandbox's recorded incident), else against now. While the primary region is down, each criterion is
read in the secondary region where it holds the fact (snapshot copies, the DR instance, replicated
automated backups), else it is "not verifiable while <primary> is down"."""

import pytest

from pytest_kosmos_dr.checks import backups
from pytest_kosmos_dr.errors import DRUnverifiable


@pytest.fixture(scope="session")
def production_instance(dr_aws, dr_target):
    """The production instance in the primary region (value None when RDS says it does not exist;
    ``.down`` when the region answers like an outage)."""
    region = dr_target.aws.primary_region
    return backups.PrimaryRead.of(lambda: backups.describe_instance(
        dr_aws.client("rds", region), dr_target.database.production_instance, region))


@pytest.fixture(scope="session")
def production_resource_id(production_instance):
    """Production's DbiResourceId: it tells its backups from those of an earlier instance of the same
    name (None while the primary region is down: its copies are then matched by name)."""
    return (production_instance.value or {}).get("DbiResourceId")


@pytest.fixture(scope="session")
def production_snapshots(dr_aws, dr_target):
    """Every snapshot of the production instance in the primary region (one paginated listing)."""
    region = dr_target.aws.primary_region
    return backups.PrimaryRead.of(lambda: backups.list_snapshots(
        dr_aws.client("rds", region), dr_target.database.production_instance, region))


@pytest.fixture(scope="session")
def secondary_snapshots(dr_aws, dr_target):
    """Every snapshot in the secondary region (copies of production's among them)."""
    region = dr_target.aws.secondary_region
    return backups.list_snapshots(dr_aws.client("rds", region), None, region)


@pytest.fixture(scope="session")
def secondary_automated_backups(dr_aws, dr_target):
    """Automated backups in the secondary region (replicated ones of production among them)."""
    region = dr_target.aws.secondary_region
    return backups.list_automated_backups(dr_aws.client("rds", region), region)


@pytest.mark.dr_criterion("BAK-DB-REPLICATION")
def test_production_has_a_replica_in_the_secondary_region_within_the_rpo(dr_aws, dr_target, dr_database,
                                                                         dr_environment, dr_incident_start, dr_check):
    region = dr_target.aws.secondary_region
    dr_check(backups.replication(dr_aws.client("rds", region), dr_aws.client("cloudwatch", region), dr_database,
                                 dr_target.database.replica_instance, dr_target.database.production_instance, region,
                                 dr_incident_start, dr_target.objectives.rpo, dr_environment.database.describe(),
                                 dr_target.database))


@pytest.mark.dr_criterion("BAK-DB-SNAPSHOTS-HOURLY")
def test_production_is_snapshotted_every_hour(request, production_snapshots, production_resource_id, dr_target,
                                             backup_reference, dr_check):
    objectives, aws = dr_target.objectives, dr_target.aws
    instance = dr_target.database.production_instance
    if production_snapshots.down is None:
        dr_check(backups.snapshots_hourly(production_snapshots.value, instance, aws.primary_region, backup_reference,
                                          objectives.snapshot_interval, objectives.snapshot_grace,
                                          production_resource_id, window=dr_target.backups.snapshot_window))
        return
    dr_check(backups.snapshots_hourly_from_copies(
        request.getfixturevalue("secondary_snapshots"), instance, aws.primary_region, aws.secondary_region,
        backup_reference, objectives.snapshot_interval, objectives.snapshot_grace, production_snapshots.down,
        production_resource_id, window=dr_target.backups.snapshot_window))


@pytest.mark.dr_criterion("BAK-DB-PITR-RETENTION")
def test_production_is_restorable_to_any_point_of_the_last_30_days(request, production_snapshots, production_instance,
                                                                   dr_aws, dr_target, dr_check):
    primary, secondary = dr_target.aws.primary_region, dr_target.aws.secondary_region
    db = dr_target.database
    dr_instance = backups.describe_instance(dr_aws.client("rds", secondary), db.replica_instance, secondary)
    automated = backups.PrimaryRead.of(lambda: backups.list_automated_backups(
        dr_aws.client("rds", primary), primary, db.production_instance))
    down = production_instance.down or production_snapshots.down or automated.down
    if down is None:
        dr_check(backups.pitr_retention(
            production_instance.value, db.production_instance, primary, dr_instance, db.replica_instance, secondary,
            automated.value, production_snapshots.value, dr_target.objectives.pitr_retention,
            slack=dr_target.backups.pitr_slack))
        return
    dr_check(backups.pitr_retention_in_dr_region(
        dr_instance, db.replica_instance, secondary, db.production_instance, primary,
        request.getfixturevalue("secondary_automated_backups"), dr_target.objectives.pitr_retention, down,
        slack=dr_target.backups.pitr_slack))


@pytest.mark.dr_criterion("BAK-DB-CROSS-REGION")
def test_production_backups_are_copied_to_the_secondary_region(secondary_snapshots, secondary_automated_backups,
                                                               dr_aws, dr_target, backup_reference, dr_check):
    secondary, primary = dr_target.aws.secondary_region, dr_target.aws.primary_region
    objectives = dr_target.objectives
    try:  # the copies must not depend on the primary region's API: without it they are matched by name only
        resource_id = (backups.describe_instance(dr_aws.client("rds", primary), dr_target.database.production_instance,
                                                 primary) or {}).get("DbiResourceId")
    except DRUnverifiable:  # RegionDown included
        resource_id = None
    dr_check(backups.cross_region(secondary_snapshots, secondary_automated_backups,
                                  dr_target.database.production_instance, primary, secondary, backup_reference,
                                  objectives.snapshot_interval, objectives.snapshot_grace, resource_id))
