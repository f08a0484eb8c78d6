"""Production's restorable 30-day history in the sandbox: point-in-time restores into the seeded past,
every listed snapshot (and its cross-region copy) restoring with the rows its time implies, the
automated backups' RestoreWindow and the RDS events of the failover."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest

pytest.importorskip("moto")

import boto3  # noqa: E402
import psycopg  # noqa: E402
from botocore.config import Config  # noqa: E402

from pytest_kosmos_dr.timeparse import parse_instant  # noqa: E402

PRODUCTION = "kosmos-prod"
DR = "kosmos-prod-replica"


def rds(sandbox, region: str):
    aws = sandbox.state["aws"]
    return boto3.client(
        "rds", region_name=region, endpoint_url=aws["endpoint_url"], aws_access_key_id=aws["access_key_id"],
        aws_secret_access_key=aws["secret_access_key"],
        config=Config(connect_timeout=5, read_timeout=120, retries={"max_attempts": 1}),
    )


def regions(sandbox) -> tuple[str, str]:
    aws = sandbox.state["aws"]
    return aws["primary_region"], aws["secondary_region"]


def connect(sandbox, endpoint: dict):
    db = sandbox.state["database"]
    return psycopg.connect(host=endpoint["Address"], port=endpoint["Port"], user=db["user"],
                           password=db["password"], dbname="kosmos", connect_timeout=5)


def counts(conn, at: datetime | None = None) -> tuple[int, int]:
    """(conversations, messages) written up to ``at`` (all of them when None)."""
    cutoff = at or datetime.max.replace(tzinfo=timezone.utc)
    return (conn.execute("SELECT count(*) FROM conversations WHERE created_at <= %s", (cutoff,)).fetchone()[0],
            conn.execute("SELECT count(*) FROM messages WHERE created_at <= %s", (cutoff,)).fetchone()[0])


def expected_rows(sandbox, at: datetime) -> tuple[int, int]:
    """What production held at ``at``: the DR database (production's promoted replica) filtered by created_at."""
    db = sandbox.state["database"]
    with psycopg.connect(host=db["host"], port=db["port"], user=db["user"], password=db["password"],
                         dbname=db["dbname"], connect_timeout=5) as conn:
        return counts(conn, at)


def assert_holds_exactly_until(sandbox, endpoint: dict, at: datetime) -> None:
    """The restored database holds exactly production's rows with created_at <= ``at`` and nothing newer."""
    want = expected_rows(sandbox, at)
    assert want[0] > 0, f"production holds no conversation up to {at.isoformat()}: nothing to compare"
    with connect(sandbox, endpoint) as conn:
        got_all, got_until = counts(conn), counts(conn, at)
        newest = conn.execute("SELECT max(created_at) FROM messages").fetchone()[0]
    assert got_all == got_until == want, (
        f"restore to {at.isoformat()}: (conversations, messages) = {got_all}, {got_until} up to the time; "
        f"production held {want}; newest message {newest}")


def simulated_yesterday_14h(sandbox) -> datetime:
    start = parse_instant(sandbox.state["incident"]["start"])
    return datetime.combine((start - timedelta(days=1)).date(), time(14, 0, 0, 500_000), timezone.utc)


def delete(client, *identifiers: str) -> None:
    for identifier in identifiers:
        try:
            client.delete_db_instance(DBInstanceIdentifier=identifier, SkipFinalSnapshot=True)
        except Exception:  # noqa: BLE001 - never made
            pass


@pytest.mark.parametrize("label", ["yesterday-14h", "20-days-ago"])
@pytest.mark.slow  # restores a database
def test_point_in_time_restore_into_the_seeded_past(sandbox, label):
    primary, _ = regions(sandbox)
    east = rds(sandbox, primary)
    start = parse_instant(sandbox.state["incident"]["start"])
    target = simulated_yesterday_14h(sandbox) if label == "yesterday-14h" else start - timedelta(days=20, minutes=7)
    name = f"pitr-history-{label}"
    try:
        made = east.restore_db_instance_to_point_in_time(
            SourceDBInstanceIdentifier=PRODUCTION, TargetDBInstanceIdentifier=name, RestoreTime=target)["DBInstance"]
        assert_holds_exactly_until(sandbox, made["Endpoint"], target)
    finally:
        delete(east, name)


def test_restore_window_is_thirty_days(sandbox):
    primary, _ = regions(sandbox)
    east = rds(sandbox, primary)
    instance = east.describe_db_instances(DBInstanceIdentifier=PRODUCTION)["DBInstances"][0]
    backups = east.describe_db_instance_automated_backups(DBInstanceIdentifier=PRODUCTION)["DBInstanceAutomatedBackups"]
    assert backups, "production has no automated backups"
    window = backups[0]["RestoreWindow"]
    width = window["LatestTime"] - window["EarliestTime"]
    assert timedelta(days=instance["BackupRetentionPeriod"]) <= width < timedelta(days=instance["BackupRetentionPeriod"],
                                                                                   hours=1), window
    too_old = window["EarliestTime"] - timedelta(minutes=1)
    with pytest.raises(east.exceptions.ClientError) as refused:
        east.restore_db_instance_to_point_in_time(SourceDBInstanceIdentifier=PRODUCTION,
                                                  TargetDBInstanceIdentifier="pitr-too-old", RestoreTime=too_old)
    assert refused.value.response["Error"]["Code"] == "InvalidRestoreFault"


def test_dr_instance_reports_its_restore_window(sandbox):
    _, secondary = regions(sandbox)
    west = rds(sandbox, secondary)
    backups = west.describe_db_instance_automated_backups(DBInstanceIdentifier=DR)["DBInstanceAutomatedBackups"]
    window = backups[0]["RestoreWindow"]
    promoted = parse_instant(sandbox.state["incident"]["failover_at"])
    # a promoted replica's own backups begin with the promotion
    assert promoted - timedelta(seconds=5) <= window["EarliestTime"] <= window["LatestTime"]


@pytest.mark.slow  # restores databases
def test_listed_snapshots_restore_with_the_rows_their_time_implies(sandbox):
    primary, secondary = regions(sandbox)
    east, west = rds(sandbox, primary), rds(sandbox, secondary)
    listed = sorted(east.describe_db_snapshots(DBInstanceIdentifier=PRODUCTION)["DBSnapshots"],
                    key=lambda s: s["SnapshotCreateTime"])
    copies = sorted((s for s in west.describe_db_snapshots(DBInstanceIdentifier=PRODUCTION)["DBSnapshots"]
                     if s.get("SourceRegion") == primary), key=lambda s: s["SnapshotCreateTime"])
    assert len(listed) >= 24 and len(copies) == len(listed)
    chosen = [(east, listed[0]), (east, listed[len(listed) // 2]), (west, copies[0]), (west, copies[-2])]
    made = []
    try:
        for client, snapshot in chosen:
            name = f"snap-history-{len(made)}"
            instance = client.restore_db_instance_from_db_snapshot(
                DBInstanceIdentifier=name, DBSnapshotIdentifier=snapshot["DBSnapshotIdentifier"])["DBInstance"]
            made.append((client, name))
            # a copy holds its source's data: the source's creation time
            at = snapshot.get("OriginalSnapshotCreateTime") or snapshot["SnapshotCreateTime"]
            assert_holds_exactly_until(sandbox, instance["Endpoint"], at)
    finally:
        for client, name in made:
            delete(client, name)


def test_events_record_the_promotion(sandbox):
    _, secondary = regions(sandbox)
    events = rds(sandbox, secondary).describe_events(SourceType="db-instance", Duration=1440)["Events"]
    promoted = [e for e in events if e["SourceIdentifier"] == DR and "Promoted Read Replica" in e["Message"]]
    assert promoted, [e["Message"] for e in events]
    failover = parse_instant(sandbox.state["incident"]["failover_at"])
    assert abs(promoted[0]["Date"] - failover) < timedelta(seconds=30)


def test_history_index_maps_a_time_to_the_newest_restore_point_at_or_before_it(tmp_path):
    from pytest_kosmos_dr.sandbox.postgres import History, RestorePoint, restore_point_name

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    times = [start, start + timedelta(hours=1), start + timedelta(hours=1, seconds=2)]
    points = [RestorePoint(at, restore_point_name(at), 0x1_0300_0000 + i, start + timedelta(days=30))
              for i, at in enumerate(times)]
    history = History(start, start + timedelta(days=30, seconds=5), "commit", points)
    history.save(tmp_path / "index.json")
    loaded = History.load(tmp_path / "index.json")
    assert loaded == history
    assert loaded.point_at(start - timedelta(microseconds=1)) is None
    assert loaded.point_at(times[1] + timedelta(seconds=1)).name == "kosmos-20260101T010000.000000Z"
    assert loaded.point_at(times[2]) == points[2]
    assert points[0].segment == "0000000100000003"
    assert not loaded.in_seeded_past(history.seeded_until) and loaded.in_seeded_past(times[2])
    assert History.load(tmp_path / "missing.json") is None
