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


@pytest.mark.dr_criterion("BAK-DB-REPLICATION")
def test_production_has_a_replica_in_the_secondary_region_within_the_rpo(database_replication, dr_check):
    dr_check(database_replication)  # backups.replication: the replica described, its lag read on the DR database


@pytest.mark.dr_criterion("BAK-DB-SNAPSHOTS-HOURLY")
def test_production_is_snapshotted_every_hour(dr_rds, dr_objectives, dr_target, backup_reference, dr_check):
    """While the primary region is down, judged from production's copies in the secondary region."""
    limits = dict(interval=dr_objectives.snapshot_interval, grace=dr_objectives.snapshot_grace,
                  resource_id=dr_rds.production_resource_id, window=dr_target.backups.snapshot_window)
    snapshots = dr_rds.production_snapshots
    dr_check(backups.snapshots_hourly(snapshots.value, dr_rds.production_id, dr_rds.primary, backup_reference, **limits)
             if snapshots.down is None else
             backups.snapshots_hourly_from_copies(dr_rds.secondary_snapshots, dr_rds.production_id, dr_rds.primary,
                                                  dr_rds.secondary, backup_reference, down=snapshots.down, **limits))


@pytest.mark.dr_criterion("BAK-DB-PITR-RETENTION")
def test_production_is_restorable_to_any_point_of_the_last_30_days(dr_rds, dr_objectives, dr_target, dr_check):
    """While the primary region is down, judged from the DR instance and the replicated automated backups."""
    dr_instance, limits = dr_rds.replica, dict(retention=dr_objectives.pitr_retention, slack=dr_target.backups.pitr_slack)
    dr_check(backups.pitr_retention(dr_rds.production.value, dr_rds.production_id, dr_rds.primary, dr_instance,
                                    dr_rds.replica_id, dr_rds.secondary, dr_rds.production_automated_backups.value,
                                    dr_rds.production_snapshots.value, **limits) if dr_rds.production_down is None else
             backups.pitr_retention_in_dr_region(dr_instance, dr_rds.replica_id, dr_rds.secondary, dr_rds.production_id,
                                                 dr_rds.primary, dr_rds.secondary_automated_backups,
                                                 down=dr_rds.production_down, **limits))


@pytest.mark.dr_criterion("BAK-DB-CROSS-REGION")
def test_production_backups_are_copied_to_the_secondary_region(dr_rds, dr_objectives, backup_reference, dr_check):
    # the copies must not depend on the primary region's API: without it they are matched by name only
    dr_check(backups.cross_region(dr_rds.secondary_snapshots, dr_rds.secondary_automated_backups, dr_rds.production_id,
                                  dr_rds.primary, dr_rds.secondary, backup_reference,
                                  interval=dr_objectives.snapshot_interval, grace=dr_objectives.snapshot_grace,
                                  resource_id=dr_rds.production_resource_id_if_answered))
