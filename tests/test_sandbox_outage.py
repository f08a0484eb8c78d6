"""The sandbox's primary-region outage, seen from outside: boto3, the aws CLI, DNS, psql-like clients.

One sandbox started with ``--outage primary-region`` (manager.start(outage=...)) for the module."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a sandbox of its own, started during a regional outage

pytest.importorskip("moto")
pytest.importorskip("dnslib")

import boto3  # noqa: E402
import botocore.exceptions  # noqa: E402
from botocore.config import Config  # noqa: E402
from conftest import run_suite  # noqa: E402

from pytest_kosmos_dr.sandbox import manager  # noqa: E402
from pytest_kosmos_dr.sandbox.aws.dns_server import query  # noqa: E402

OUTAGE = "primary-region-outage"
EAST, WEST = "us-east-1", "us-west-2"


@pytest.fixture(scope="module")
def lost_east():
    """A sandbox whose primary region is lost since its start; inner runs find it as the shared one."""
    state_dir = Path(tempfile.mkdtemp(prefix="kosmos-dr-outage-"))
    previous = os.environ.get("KOSMOS_DR_SANDBOX_DIR")
    os.environ["KOSMOS_DR_SANDBOX_DIR"] = str(state_dir)
    running, _ = manager.start(state_dir, owner_pid=os.getpid(), outage="primary-region")
    try:
        yield running
    finally:
        manager.stop(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)
        if previous is None:
            os.environ.pop("KOSMOS_DR_SANDBOX_DIR", None)
        else:
            os.environ["KOSMOS_DR_SANDBOX_DIR"] = previous


@pytest.fixture
def mode(lost_east):
    """Switch how the lost region answers for one test; back to 503 afterwards."""
    yield lost_east.set_outage_mode
    lost_east.set_outage_mode("503")


def client(sandbox, service, region, **config):
    aws = sandbox.state["aws"]
    return boto3.client(
        service, region_name=region, endpoint_url=aws["endpoint_url"],
        aws_access_key_id=aws["access_key_id"], aws_secret_access_key=aws["secret_access_key"],
        config=Config(connect_timeout=5, read_timeout=config.pop("read_timeout", 30), retries={"max_attempts": 1}),
    )


def unavailable(call):
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        call()
    return raised.value.response["ResponseMetadata"]["HTTPStatusCode"], raised.value.response["Error"]["Code"]


def refuses(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def aws_cli(sandbox, *args):
    env = {**os.environ, "AWS_ENDPOINT_URL": sandbox.state["aws"]["endpoint_url"],
           "AWS_ACCESS_KEY_ID": sandbox.state["aws"]["access_key_id"],
           "AWS_SECRET_ACCESS_KEY": sandbox.state["aws"]["secret_access_key"], "AWS_DEFAULT_REGION": WEST,
           "AWS_MAX_ATTEMPTS": "1", "AWS_PAGER": ""}
    return subprocess.run(["aws", *args, "--endpoint-url", env["AWS_ENDPOINT_URL"], "--output", "json"],
                          env=env, capture_output=True, text=True, timeout=60)


def test_the_outage_is_on_from_the_start(lost_east):
    outage = lost_east.state["outage"]
    assert outage["region"] == EAST and outage["mode"] == "503"
    assert "503 ServiceUnavailable" in outage["aws_api"] and "connection refused" in outage["database"]
    assert [f["name"] for f in lost_east.faults() if f["applied"]] == [OUTAGE]
    assert lost_east.outage()["region"] == EAST


def test_the_lost_region_answers_503_for_every_service(lost_east):
    assert unavailable(client(lost_east, "rds", EAST).describe_db_instances) == (503, "ServiceUnavailable")
    assert unavailable(client(lost_east, "cloudwatch", EAST).list_metrics) == (503, "ServiceUnavailable")
    assert unavailable(client(lost_east, "s3", EAST).list_buckets) == (503, "ServiceUnavailable")
    # Route53's API lives in us-east-1: lost whatever region the client signs for
    for region in (EAST, WEST):
        assert unavailable(client(lost_east, "route53", region).list_hosted_zones) == (503, "ServiceUnavailable")


def test_the_dr_region_and_dns_answers_keep_working(lost_east):
    dr = client(lost_east, "rds", WEST).describe_db_instances(DBInstanceIdentifier="kosmos-prod-replica")
    assert dr["DBInstances"][0]["DBInstanceStatus"] == "available"
    assert client(lost_east, "s3", WEST).list_objects_v2(Bucket="kosmos-backups", MaxKeys=1)["KeyCount"] == 1
    dns = lost_east.state["dns"]
    rcode, answers = query(dns["host"], dns["port"], "api.kosmos.internal.")
    assert rcode == "NOERROR" and answers[-1][1:] == ("A", "127.0.0.1")
    import psycopg

    db = lost_east.state["database"]
    with psycopg.connect(host=db["host"], port=db["port"], user=db["user"], password=db["password"],
                         dbname=db["dbname"], connect_timeout=5) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)


def test_the_primary_database_and_api_endpoint_refuse(lost_east):
    dns = lost_east.state["dns"]
    rcode, answers = query(dns["host"], dns["port"], "api.us-east-1.kosmos.internal.")
    assert rcode == "NOERROR" and answers[-1][1:] == ("A", "127.0.0.2")
    api_port = int(lost_east.state["api"]["url"].rsplit(":", 1)[1])
    assert refuses("127.0.0.2", api_port) and refuses("127.0.0.2", 443)
    prod = lost_east.state["outage"]["database"].rsplit(" at ", 1)[1]
    host, port = prod.rsplit(":", 1)
    assert refuses(host, int(port))


def test_the_aws_cli_sees_the_same(lost_east):
    east = aws_cli(lost_east, "rds", "describe-db-instances", "--region", EAST)
    assert east.returncode != 0 and "ServiceUnavailable" in east.stderr
    route53 = aws_cli(lost_east, "route53", "list-hosted-zones")
    assert route53.returncode != 0 and "ServiceUnavailable" in route53.stderr
    west = aws_cli(lost_east, "rds", "describe-db-instances", "--region", WEST)
    assert west.returncode == 0, west.stderr
    assert [i["DBInstanceIdentifier"] for i in json.loads(west.stdout)["DBInstances"]] == ["kosmos-prod-replica"]


def test_reset_and_timeout_modes_give_no_answer(lost_east, mode):
    mode("reset")
    assert lost_east.outage()["mode"] == "reset"
    with pytest.raises((botocore.exceptions.ConnectionClosedError, botocore.exceptions.EndpointConnectionError)):
        client(lost_east, "rds", EAST).describe_db_instances()
    assert client(lost_east, "rds", WEST).describe_db_instances()["DBInstances"]
    mode("timeout", 5)
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        client(lost_east, "route53", EAST, read_timeout=1).list_hosted_zones()
    with pytest.raises((botocore.exceptions.ConnectionClosedError, botocore.exceptions.EndpointConnectionError)):
        client(lost_east, "rds", EAST, read_timeout=30).describe_db_instances()  # held 5 s, then reset


def test_reverting_the_outage_restores_the_primary_region(lost_east):
    lost_east.revert_fault(OUTAGE)
    try:
        assert manager.find_running(lost_east.state_dir).state.get("outage") is None
        prod = client(lost_east, "rds", EAST).describe_db_instances(DBInstanceIdentifier="kosmos-prod")
        assert prod["DBInstances"][0]["DBInstanceStatus"] == "failed"  # failed in the incident, as before
        assert client(lost_east, "route53", EAST).list_hosted_zones()["HostedZones"]
        assert aws_cli(lost_east, "route53", "list-hosted-zones").returncode == 0
    finally:
        lost_east.apply_fault(OUTAGE)
    assert manager.find_running(lost_east.state_dir).state["outage"]["region"] == EAST
    assert unavailable(client(lost_east, "rds", EAST).describe_db_instances) == (503, "ServiceUnavailable")


def test_manager_refuses_to_reuse_a_sandbox_without_the_outage(lost_east):
    lost_east.revert_fault(OUTAGE)
    try:
        with pytest.raises(manager.SandboxError, match="without the primary-region outage"):
            manager.start(lost_east.state_dir, outage="primary-region")
    finally:
        lost_east.apply_fault(OUTAGE)
    reused, started = manager.start(lost_east.state_dir, outage="primary-region")
    assert not started and reused.pid == lost_east.pid


def test_an_unpromoted_dr_replica_still_fails_during_the_outage(lost_east, pytester):
    import re

    import psycopg

    lost_east.apply_fault("dr-replica-not-promoted")
    try:
        west = client(lost_east, "rds", WEST).describe_db_instances(DBInstanceIdentifier="kosmos-prod-replica")
        assert west["DBInstances"][0]["ReadReplicaSourceDBInstanceIdentifier"].endswith(":db:kosmos-prod")
        result = run_suite(pytester, "test_recovery_validation.py", "test_backup_strategy.py", "-m", "gate", "-rfE")
    finally:
        lost_east.revert_fault("dr-replica-not-promoted")
    output = result.stdout.str()
    listed = re.search(r"^  failed \(\d+\): (.*(?:\n      .*)*)", output, re.M)  # the scorecard's list
    failed = set(re.findall(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+", listed.group(1))) if listed else set()
    assert failed == {"VAL-DB-CONNECT"}, output[-3000:]
    assert "not promoted, it refuses writes" in output
    west = client(lost_east, "rds", WEST).describe_db_instances(DBInstanceIdentifier="kosmos-prod-replica")
    assert "ReadReplicaSourceDBInstanceIdentifier" not in west["DBInstances"][0]
    db = lost_east.state["database"]
    with psycopg.connect(host=db["host"], port=db["port"], user=db["user"], password=db["password"],
                         dbname=db["dbname"], connect_timeout=5) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
