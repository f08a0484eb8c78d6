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
    dr_check(backups.snapshots_hourly(dr_rds.production_snapshot_history, reference=backup_reference,
                                      interval=dr_objectives.snapshot_interval, grace=dr_objectives.snapshot_grace,
                                      window=dr_target.backups.snapshot_window))


@pytest.mark.dr_criterion("BAK-DB-PITR-RETENTION")
def test_production_is_restorable_to_any_point_of_the_last_30_days(dr_rds, dr_objectives, dr_target, dr_check):
    """While the primary region is down, judged from the DR instance and the replicated automated backups."""
    dr_check(backups.pitr_retention(dr_rds.production_restore_window, retention=dr_objectives.pitr_retention,
                                    slack=dr_target.backups.pitr_slack))


@pytest.mark.dr_criterion("BAK-DB-CROSS-REGION")
def test_production_backups_are_copied_to_the_secondary_region(dr_rds, dr_objectives, backup_reference, dr_check):
    # the copies must not depend on the primary region's API: without it they are matched by name only
    dr_check(backups.cross_region(dr_rds.production_backup_copies, reference=backup_reference,
                                  interval=dr_objectives.snapshot_interval, grace=dr_objectives.snapshot_grace))
