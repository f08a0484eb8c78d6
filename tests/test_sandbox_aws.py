"""The AWS side of the sandbox, seen from outside: boto3, the aws CLI, psql-like clients and DNS."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from datetime import timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a sandbox of its own (its module fixture overrides the shared one)

pytest.importorskip("moto")
pytest.importorskip("dnslib")

import boto3  # noqa: E402
import psycopg  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from pytest_kosmos_dr.sandbox import manager  # noqa: E402
from pytest_kosmos_dr.sandbox.aws.dns_server import query  # noqa: E402
from pytest_kosmos_dr.timeparse import parse_instant  # noqa: E402

WRITE_INTERVAL_S = 0.1


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("sandbox")
    running, _ = manager.start(state_dir, owner_pid=os.getpid())  # dies with this process at worst
    data_dir = running.state["data_dir"]
    try:
        yield running
    finally:
        manager.stop(state_dir)
    time.sleep(0.3)
    leftovers = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, timeout=10).stdout
    assert data_dir not in leftovers, "a server of the sandbox outlived it"
    assert not Path(data_dir).exists()


def client(sandbox, service, region=None):
    aws = sandbox.state["aws"]
    return boto3.client(
        service, region_name=region or aws["secondary_region"], endpoint_url=aws["endpoint_url"],
        aws_access_key_id=aws["access_key_id"], aws_secret_access_key=aws["secret_access_key"],
        config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 1}),
    )


def connect(endpoint, sandbox):
    db = sandbox.state["database"]
    return psycopg.connect(host=endpoint["Address"], port=endpoint["Port"], user=db["user"],
                           password=db["password"], dbname="kosmos", connect_timeout=5)


def newest_row(conn):
    return conn.execute("SELECT max(created_at) FROM conversations").fetchone()[0]


def test_instances_described_by_boto3_and_cli(sandbox):
    east, west = client(sandbox, "rds", "us-east-1"), client(sandbox, "rds", "us-west-2")
    prod = east.describe_db_instances(DBInstanceIdentifier="kosmos-prod")["DBInstances"][0]
    dr = west.describe_db_instances(DBInstanceIdentifier="kosmos-prod-replica")["DBInstances"][0]
    assert prod["DBInstanceStatus"] == "failed"  # its region is down since the incident
    assert dr["DBInstanceStatus"] == "available" and dr["MultiAZ"] and dr["BackupRetentionPeriod"] == 30
    assert "ReadReplicaSourceDBInstanceIdentifier" not in dr  # promoted
    assert dr["Endpoint"] == {"Address": "127.0.0.1", "Port": sandbox.state["database"]["port"],
                              **({"HostedZoneId": dr["Endpoint"]["HostedZoneId"]} if "HostedZoneId" in dr["Endpoint"] else {})}
    env = {**os.environ, **_sandbox_env(sandbox)}
    out = subprocess.run(["aws", "rds", "describe-db-instances", "--output", "json"], env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert [i["DBInstanceIdentifier"] for i in json.loads(out.stdout)["DBInstances"]] == ["kosmos-prod-replica"]


def _sandbox_env(sandbox):
    env = {}
    for line in sandbox.env_file.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = value.strip("'")
    return env


def test_dr_database_is_the_promoted_replica(sandbox):
    db, incident = sandbox.state["database"], sandbox.state["incident"]
    with psycopg.connect(host=db["host"], port=db["port"], user=db["user"], password=db["password"],
                         dbname=db["dbname"], connect_timeout=5) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
        newest = newest_row(conn)
        assert newest < parse_instant(incident["start"])  # nothing written after the incident reached the DR side
        # its newest row is production's last write (the row's own clock vs the workload's: under a second apart)
        assert abs(newest - parse_instant(incident["last_production_write"])) < timedelta(seconds=1)
        conn.execute("CREATE TEMP TABLE writable (x int)")  # it takes writes
    assert parse_instant(incident["start"]) <= parse_instant(incident["failover_at"]) <= parse_instant(incident["dns_switched_at"])


def test_point_in_time_restore_is_real(sandbox):
    east = client(sandbox, "rds", "us-east-1")
    start = parse_instant(sandbox.state["incident"]["start"])
    target = start - timedelta(seconds=0.75)
    made = east.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier="kosmos-prod", TargetDBInstanceIdentifier="pitr-test", RestoreTime=target,
    )["DBInstance"]
    with connect(made["Endpoint"], sandbox) as conn:
        newest = newest_row(conn)
    assert target - timedelta(seconds=WRITE_INTERVAL_S * 5) < newest <= target

    latest = east.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier="kosmos-prod", TargetDBInstanceIdentifier="pitr-latest",
        UseLatestRestorableTime=True,
    )["DBInstance"]
    with connect(latest["Endpoint"], sandbox) as conn:
        assert start - timedelta(seconds=1) < newest_row(conn) < start

    with pytest.raises(ClientError) as error:  # the 30-day history is restorable; before it, nothing is
        east.restore_db_instance_to_point_in_time(
            SourceDBInstanceIdentifier="kosmos-prod", TargetDBInstanceIdentifier="pitr-too-old",
            RestoreTime=start - timedelta(days=31))
    assert error.value.response["Error"]["Code"] == "InvalidRestoreFault"

    root = Path(sandbox.state["data_dir"]) / "rds" / "us-east-1" / "pitr-test"
    assert root.exists()
    east.delete_db_instance(DBInstanceIdentifier="pitr-test", SkipFinalSnapshot=True)
    east.delete_db_instance(DBInstanceIdentifier="pitr-latest", SkipFinalSnapshot=True)
    assert not root.exists()
    assert str(root) not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, timeout=10).stdout
    with pytest.raises(psycopg.OperationalError):
        connect(made["Endpoint"], sandbox).close()


def test_every_instance_has_its_own_resource_id_and_its_backups_carry_it(sandbox):
    east, west = client(sandbox, "rds", "us-east-1"), client(sandbox, "rds", "us-west-2")
    prod = east.describe_db_instances(DBInstanceIdentifier="kosmos-prod")["DBInstances"][0]["DbiResourceId"]
    dr = west.describe_db_instances(DBInstanceIdentifier="kosmos-prod-replica")["DBInstances"][0]["DbiResourceId"]
    assert prod != dr and prod.startswith("db-") and len(prod) == 29
    assert {s["DbiResourceId"] for s in east.describe_db_snapshots(DBInstanceIdentifier="kosmos-prod")["DBSnapshots"]} \
        == {prod}
    copies = [s for s in west.describe_db_snapshots()["DBSnapshots"] if s.get("SourceRegion") == "us-east-1"]
    assert copies and {s["DbiResourceId"] for s in copies} == {prod}


def test_snapshots_history_and_restore(sandbox):
    east, west = client(sandbox, "rds", "us-east-1"), client(sandbox, "rds", "us-west-2")
    snaps = sorted(east.describe_db_snapshots(DBInstanceIdentifier="kosmos-prod")["DBSnapshots"],
                   key=lambda s: s["SnapshotCreateTime"])
    times = [s["SnapshotCreateTime"] for s in snaps]
    assert times[0] <= times[-1] - timedelta(hours=22)
    assert max(b - a for a, b in zip(times, times[1:])) <= timedelta(hours=1)
    copies = [s for s in west.describe_db_snapshots()["DBSnapshots"] if s.get("SourceRegion") == "us-east-1"]
    assert len(copies) == len(snaps)

    newest = snaps[-1]["DBSnapshotIdentifier"]
    made = east.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="snap-test", DBSnapshotIdentifier=newest)
    with connect(made["DBInstance"]["Endpoint"], sandbox) as conn:
        assert conn.execute("SELECT count(*) FROM conversations").fetchone()[0] >= 2000
        # the live writes begin once the real snapshot is taken: it holds none, nothing after its time
        assert conn.execute("SELECT count(*) FROM conversations WHERE title LIKE 'live conversation %'").fetchone()[0] == 0
        assert conn.execute("SELECT max(created_at) FROM conversations").fetchone()[0] <= snaps[-1]["SnapshotCreateTime"]
    east.delete_db_instance(DBInstanceIdentifier="snap-test", SkipFinalSnapshot=True)
    # the oldest listed snapshot restores too, with the rows of its time (tests/test_sandbox_history.py)
    oldest = east.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="snap-old",
                                                       DBSnapshotIdentifier=snaps[0]["DBSnapshotIdentifier"])
    with connect(oldest["DBInstance"]["Endpoint"], sandbox) as conn:
        newest_row = conn.execute("SELECT max(created_at) FROM conversations").fetchone()[0]
    assert newest_row <= snaps[0]["SnapshotCreateTime"]
    east.delete_db_instance(DBInstanceIdentifier="snap-old", SkipFinalSnapshot=True)


def test_agent_state_bucket(sandbox):
    s3 = client(sandbox, "s3")
    assert s3.get_bucket_versioning(Bucket="kosmos-backups")["Status"] == "Enabled"
    rule = s3.get_bucket_lifecycle_configuration(Bucket="kosmos-backups")["Rules"][0]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 7 and rule["Expiration"]["Days"] >= 7
    start = parse_instant(sandbox.state["incident"]["start"])
    for agent in sandbox.state["agents"]:
        versions = s3.list_object_versions(Bucket="kosmos-backups", Prefix=f"agent-state/{agent}/")["Versions"]
        stamps = sorted(v["LastModified"] for v in versions)
        assert stamps[0] < start - timedelta(days=7)
        assert start - timedelta(minutes=10) < stamps[-1] < start
        newest = max(versions, key=lambda v: v["LastModified"])
        assert newest["Key"].startswith(f"agent-state/{agent}/{agent}-state-") and newest["Key"].endswith("Z.tar.gz")
        body = s3.get_object(Bucket="kosmos-backups", Key=newest["Key"])["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
            names = sorted(tar.getnames())
            assert names == [f"{agent}-state/{n}" for n in ("MANIFEST.sha256", "memory.json", "tasks.json")]


def test_dns_answers_the_secondary_after_the_incident(sandbox):
    dns = sandbox.state["dns"]
    rcode, answers = query(dns["host"], dns["port"], "api.kosmos.internal.")
    assert rcode == "NOERROR"
    assert ("api.kosmos.internal.", "CNAME", "api.us-west-2.kosmos.internal.") in answers
    assert answers[-1][1:] == ("A", "127.0.0.1")
    route53 = client(sandbox, "route53")
    checks = route53.list_health_checks()["HealthChecks"]
    status = {c["HealthCheckConfig"]["FullyQualifiedDomainName"]:
              route53.get_health_check_status(HealthCheckId=c["Id"])["HealthCheckObservations"] for c in checks}
    assert all(o["StatusReport"]["Status"].startswith("Failure") for o in status["api.us-east-1.kosmos.internal"])
    assert all(o["StatusReport"]["Status"].startswith("Success") for o in status["api.us-west-2.kosmos.internal"])


# -- faults: what each one changes, and that its revert restores it --------------------------------
def _snapshot_ids(sandbox, region):
    rds = client(sandbox, "rds", region)
    return sorted(s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots()["DBSnapshots"])


def _retention(sandbox):
    return client(sandbox, "rds", "us-west-2").describe_db_instances(
        DBInstanceIdentifier="kosmos-prod-replica")["DBInstances"][0]["BackupRetentionPeriod"]


def _zeus_newest(sandbox):
    s3 = client(sandbox, "s3")
    versions = s3.list_object_versions(Bucket="kosmos-backups", Prefix="agent-state/zeus-orchestrator/")["Versions"]
    newest = max(versions, key=lambda v: v["LastModified"])
    body = s3.get_object(Bucket="kosmos-backups", Key=newest["Key"], VersionId=newest["VersionId"])["Body"].read()
    try:
        gzip.decompress(body)
        readable = True
    except (OSError, EOFError):
        readable = False
    return newest["LastModified"], readable


def _dns(sandbox):
    dns = sandbox.state["dns"]
    return query(dns["host"], dns["port"], "api.kosmos.internal.")[1][0][2]


def _thresholds(sandbox):
    r53 = client(sandbox, "route53")
    return sorted(c["HealthCheckConfig"]["FailureThreshold"] for c in r53.list_health_checks()["HealthChecks"])


def _dr_newest(sandbox):
    db = sandbox.state["database"]
    with psycopg.connect(host=db["host"], port=db["port"], user=db["user"], password=db["password"],
                         dbname=db["dbname"], connect_timeout=5) as conn:
        return newest_row(conn)


def _snapshot_states(sandbox, region):
    rds = client(sandbox, "rds", region)
    return sorted((s["DBSnapshotIdentifier"], s["Status"], s["DBInstanceIdentifier"], s["DbiResourceId"],
                   s["OriginalSnapshotCreateTime"]) for s in rds.describe_db_snapshots()["DBSnapshots"])


def _replica(sandbox):
    dr = client(sandbox, "rds", "us-west-2").describe_db_instances(
        DBInstanceIdentifier="kosmos-prod-replica")["DBInstances"][0]
    return dr.get("ReadReplicaSourceDBInstanceIdentifier"), dr.get("StatusInfos"), dr["InstanceCreateTime"]


def _dr_query(sql):
    def ask(sandbox):
        db = sandbox.state["database"]
        with psycopg.connect(host=db["host"], port=db["port"], user=db["user"], password=db["password"],
                             dbname=db["dbname"], connect_timeout=5) as conn:
            return conn.execute(sql).fetchall()

    return ask


OBSERVE = {
    "snapshots-stuck-creating": lambda sb: _snapshot_states(sb, "us-east-1"),
    "snapshots-of-earlier-instance": lambda sb: _snapshot_states(sb, "us-east-1"),
    "snapshots-recopied-stale": lambda sb: _snapshot_states(sb, "us-east-1"),
    "copies-of-another-instance": lambda sb: _snapshot_states(sb, "us-west-2"),
    "copies-failed": lambda sb: _snapshot_states(sb, "us-west-2"),
    "copies-of-stale-data": lambda sb: _snapshot_states(sb, "us-west-2"),
    "dr-replica-of-another-instance": _replica,
    "dr-replication-stopped": _replica,
    "dr-replica-recreated-after-incident": _replica,
    "dr-database-in-recovery": _dr_query("SELECT pg_is_in_recovery()"),
    "dr-database-schema-missing": _dr_query("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                                            "'public' ORDER BY 1"),
    "dr-database-blank": _dr_query("SELECT count(*), max(id) FROM conversations"),
    "dr-window-messages-lost": _dr_query("SELECT count(*), md5(string_agg(m::text, '|' ORDER BY id)) FROM messages m"),
    "dr-schema-other-version": _dr_query("SELECT column_name FROM information_schema.columns WHERE table_name = "
                                         "'conversations' ORDER BY 1"),
    "snapshot-gap-3h": lambda sb: _snapshot_ids(sb, "us-east-1"),
    "pitr-retention-7d": _retention,
    "no-cross-region-copies": lambda sb: _snapshot_ids(sb, "us-west-2"),
    "agent-versioning-suspended": lambda sb: client(sb, "s3").get_bucket_versioning(Bucket="kosmos-backups")["Status"],
    "agent-lifecycle-3d": lambda sb: client(sb, "s3").get_bucket_lifecycle_configuration(
        Bucket="kosmos-backups")["Rules"][0]["Expiration"]["Days"],
    "agent-backup-stale-40m": lambda sb: _zeus_newest(sb)[0],
    "agent-archive-corrupt": lambda sb: _zeus_newest(sb)[1],
    "dns-failover-on-primary": _dns,
    "healthcheck-slow-10m": _thresholds,
    "replica-lagging-20m": _dr_newest,
}


def test_every_fault_is_listed_with_its_criterion(sandbox):
    listed = {f["name"]: f["criteria"] for f in sandbox.faults()}
    assert set(OBSERVE) <= set(listed)
    assert all(listed[name] for name in OBSERVE)


@pytest.mark.parametrize("name", sorted(OBSERVE))
def test_fault_changes_what_aws_reports_and_revert_restores_it(sandbox, name):
    before = OBSERVE[name](sandbox)
    sandbox.apply_fault(name)
    try:
        during = OBSERVE[name](sandbox)
    finally:
        sandbox.revert_fault(name)
    after = OBSERVE[name](sandbox)
    assert during != before
    assert after == before
    if name == "replica-lagging-20m":
        start = parse_instant(sandbox.state["incident"]["start"])
        assert start - during > timedelta(minutes=20)
    if name == "dns-failover-on-primary":
        assert during == "api.us-east-1.kosmos.internal."
    if name == "agent-backup-stale-40m":
        start = parse_instant(sandbox.state["incident"]["start"])
        assert start - during >= timedelta(minutes=40)


# -- what the sandbox does not implement: AWS's error documents, never an HTML page ------------------
@pytest.fixture(scope="module")
def bare_moto():
    """The sandbox's AWS endpoint alone (no sandbox around it): for protocol-level answers."""
    from pytest_kosmos_dr.sandbox.aws.moto_server import MotoServer

    server = MotoServer(access_key="AKIAFIDELITYTEST0001")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _bare_client(server, service, region="us-west-2"):
    return boto3.client(service, region_name=region, endpoint_url=server.url,
                        aws_access_key_id="AKIAFIDELITYTEST0001", aws_secret_access_key="unused",
                        config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 1}))


def test_pending_maintenance_actions_answer_as_an_account_with_none(bare_moto):
    rds = _bare_client(bare_moto, "rds")
    assert rds.describe_pending_maintenance_actions()["PendingMaintenanceActions"] == []
    with pytest.raises(ClientError) as err:
        rds.describe_pending_maintenance_actions(ResourceIdentifier="arn:aws:rds:us-west-2:123456789012:db:nope")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundFault"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIAFIDELITYTEST0001", "AWS_SECRET_ACCESS_KEY": "unused",
           "AWS_ENDPOINT_URL": bare_moto.url, "AWS_DEFAULT_REGION": "us-west-2", "AWS_PAGER": ""}
    if shutil.which("aws"):
        out = subprocess.run(["aws", "rds", "describe-pending-maintenance-actions"], env=env, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == {"PendingMaintenanceActions": []}


@pytest.mark.parametrize("service, operation, kwargs, status", [
    ("rds", "describe_db_proxy_endpoints", {}, 501),  # RDS (query protocol) operation moto lacks
    ("logs", "describe_account_policies", {"policyType": "DATA_PROTECTION_POLICY"}, 501),  # JSON protocol
    ("route53", "get_traffic_policy", {"Id": "x", "Version": 1}, 501),  # REST-XML: no route in moto
])
def test_an_unimplemented_operation_is_an_aws_error_botocore_parses(bare_moto, service, operation, kwargs, status):
    with pytest.raises(ClientError) as err:
        getattr(_bare_client(bare_moto, service), operation)(**kwargs)
    response = err.value.response
    assert response["Error"]["Code"] == "NotImplemented"
    assert "kosmos-dr sandbox does not implement" in response["Error"]["Message"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_an_unknown_action_is_invalid_action_as_aws_answers(bare_moto):
    import httpx

    sign = "AWS4-HMAC-SHA256 Credential=AKIAFIDELITYTEST0001/20250101/us-west-2/{}/aws4_request, SignedHeaders=host, Signature=x"
    query = httpx.post(bare_moto.url + "/", data={"Action": "NoSuchAction", "Version": "2014-10-31"},
                       headers={"Authorization": sign.format("rds")}, timeout=10)
    assert query.status_code == 400 and query.headers["content-type"].startswith("text/xml")
    assert query.text.startswith("<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code>"
                                 "<Message>The action NoSuchAction is not valid for this web service.</Message>")
    rpc = httpx.post(bare_moto.url + "/", content=b"{}", timeout=10, headers={
        "Authorization": sign.format("dynamodb"), "X-Amz-Target": "DynamoDB_20120810.NoSuchAction",
        "Content-Type": "application/x-amz-json-1.0"})
    assert rpc.status_code == 400 and rpc.json()["__type"] == "UnknownOperationException"
    if shutil.which("curl"):  # a real client signing the request itself
        out = subprocess.run(["curl", "-sS", "-w", " %{http_code}", "--aws-sigv4", "aws:amz:us-west-2:rds", "--user",
                              "AKIAFIDELITYTEST0001:unused", "-X", "POST", bare_moto.url + "/",
                              "-d", "Action=NoSuchAction&Version=2014-10-31"], capture_output=True, text=True, timeout=30)
        assert "<Code>InvalidAction</Code>" in out.stdout and out.stdout.endswith(" 400"), out.stdout


def test_dns_answers_over_tcp_as_over_udp(sandbox):
    dns = sandbox.state["dns"]
    assert query(dns["host"], dns["port"], "api.kosmos.internal.", tcp=True) == \
        query(dns["host"], dns["port"], "api.kosmos.internal.")
    assert query(dns["host"], dns["port"], "no-such-name.kosmos.internal.", tcp=True)[0] == "NXDOMAIN"
    assert query(dns["host"], dns["port"], "example.com.", tcp=True)[0] == "REFUSED"
    if shutil.which("dig"):
        out = subprocess.run(["dig", "+tcp", f"@{dns['host']}", "-p", str(dns["port"]), "api.kosmos.internal", "+short"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and "api.us-west-2.kosmos.internal." in out.stdout, out.stdout + out.stderr


def test_the_env_file_exports_the_plans_names(sandbox):
    env = _sandbox_env(sandbox)
    assert env["DB_HOST"] == env["PGHOST"] and env["DB_USER"] == env["PGUSER"] == "admin"
    assert env["DB_PORT"] == env["PGPORT"] and env["GRAFANA_URL"] == env["KOSMOS_GRAFANA_URL"]
