"""Database recovery (REC-DB-*, SCN-DATA-CORRUPTION): integrity of the DR database after failover
(gate), and restores of production into throwaway instances (drills, --dr-allow-restore), compared
table by table with the DR database, which carries production's data since the failover. Tables,
columns and foreign keys come from each database's catalog; the window, the write timestamp and the
tables that must hold rows from the target's ``[database]``.

The restores in the primary region are "not verifiable while <primary> is down" during a regional
outage; the restore of the newest cross-region snapshot copy in the DR region is the outage's own
recovery path and needs nothing from the primary region."""

import pytest

from pytest_kosmos_dr.checks import integrity


def matches_the_dr_database(restored, where, criterion, dr_database, dr_target):
    """The restored database holds, table by table, the rows the DR database holds up to the restore point."""
    return integrity.database_integrity(restored.connection, restored.restore_point, f"{restored.identifier} ({where})",
                                        source_conn=dr_database, source_name="the DR database", criterion=criterion,
                                        database=dr_target.database)


@pytest.mark.gate
@pytest.mark.dr_criterion("REC-DB-INTEGRITY")
def test_dr_database_is_intact_up_to_the_incident(dr_database_integrity, dr_check):
    dr_check(dr_database_integrity)  # integrity.database_integrity of the DR database up to the incident


@pytest.mark.dr_criterion("REC-DB-PITR", "REC-DB-INTEGRITY")
def test_point_in_time_restore_is_available_and_intact(restored_database, dr_database, dr_target, dr_check):
    outcome = restored_database.outcome
    where = f"restored to {outcome.restore_point} in {outcome.seconds_to_available:.0f} s"
    dr_check(matches_the_dr_database(restored_database, where, "REC-DB-PITR", dr_database, dr_target))


@pytest.mark.dr_criterion("REC-DB-SNAPSHOT", "REC-DB-INTEGRITY")
def test_newest_snapshot_restores_available_and_intact(snapshot_restored_database, dr_database, dr_target, dr_check):
    restored = snapshot_restored_database
    where = f"from snapshot {restored.source} of {restored.outcome.restore_point}"
    dr_check(matches_the_dr_database(restored, where, "REC-DB-SNAPSHOT", dr_database, dr_target))


@pytest.mark.dr_criterion("REC-DB-SNAPSHOT")
def test_newest_cross_region_copy_restores_in_the_dr_region(regional_restored_database, dr_database, dr_target,
                                                            dr_check):
    """The newest copy of production's snapshots in the DR region, restored there, holds, table by
    table, the rows the DR database holds up to the copy's original snapshot time."""
    restored = regional_restored_database
    where = f"{restored.outcome.region}, from cross-region copy {restored.source} of {restored.outcome.restore_point}"
    dr_check(matches_the_dr_database(restored, where, "REC-DB-SNAPSHOT", dr_database, dr_target))


@pytest.mark.dr_criterion("SCN-DATA-CORRUPTION")
def test_restore_from_backup_after_corruption_matches_the_source(restored_database, dr_database, dr_target, dr_check):
    """Production restored to a point before the corruption (--dr-restore-time) holds, table by table,
    the rows the DR database holds up to that point: counts and content over the window before it."""
    where = f"restored from backup to {restored_database.outcome.restore_point}"
    dr_check(matches_the_dr_database(restored_database, where, "SCN-DATA-CORRUPTION", dr_database, dr_target))
