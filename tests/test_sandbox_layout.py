"""The alternate sandbox layout (issue 14): the same DR environment under other names, wired from the
CLI and the plugin to every AWS-side part, and seen through real clients (the aws CLI, boto3, DNS).

One alternate sandbox serves the module; it is the shared sandbox of the inner runs here
(KOSMOS_DR_SANDBOX_DIR), which read it through the targets-file entry `kosmos-dr sandbox target` prints.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a sandbox of its own in the alternate layout

pytest.importorskip("moto")
pytest.importorskip("dnslib")

import boto3  # noqa: E402
import botocore.exceptions  # noqa: E402
from botocore.config import Config  # noqa: E402
from conftest import run_suite  # noqa: E402

from pytest_kosmos_dr.config import load_config  # noqa: E402
from pytest_kosmos_dr.sandbox import manager  # noqa: E402
from pytest_kosmos_dr.sandbox.aws.dns_server import query  # noqa: E402
from pytest_kosmos_dr.sandbox.aws.outage import RegionOutage  # noqa: E402
from pytest_kosmos_dr.sandbox.layout import ALTERNATE, DEFAULT, target_toml  # noqa: E402

KOSMOS_DR = shutil.which("kosmos-dr", path=str(Path(sys.executable).parent)) or "kosmos-dr"
PRIMARY, SECONDARY = ALTERNATE.primary_region, ALTERNATE.secondary_region  # eu-west-1, eu-central-1
TARGET = "sandbox-alternate"


def cli(*args, env=None, cwd=None):
    return subprocess.run([KOSMOS_DR, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, cwd=cwd)


@pytest.fixture(scope="module")
def alternate():
    """A sandbox started with layout alternate (dies with this process at worst)."""
    state_dir = Path(tempfile.mkdtemp(prefix="kosmos-dr-alternate-"))
    running, started = manager.start(state_dir, owner_pid=os.getpid(), layout="alternate")
    assert started
    try:
        yield running
    finally:
        manager.stop(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def alt_toml(tmp_path_factory):
    """The alternate layout's targets file, as `kosmos-dr sandbox target --layout alternate` prints it."""
    result = cli("sandbox", "target", "--layout", "alternate")
    assert result.returncode == 0, result.stderr
    path = tmp_path_factory.mktemp("alt") / "alt.toml"
    path.write_text(result.stdout)
    return path


@pytest.fixture
def shared(alternate, monkeypatch):
    """Inner runs find the alternate sandbox as the user's running one."""
    monkeypatch.setenv("KOSMOS_DR_SANDBOX_DIR", str(alternate.state_dir))
    return alternate


def aws_env(sandbox) -> dict:
    aws = sandbox.state["aws"]
    return {"AWS_ENDPOINT_URL": aws["endpoint_url"], "AWS_ACCESS_KEY_ID": aws["access_key_id"],
            "AWS_SECRET_ACCESS_KEY": aws["secret_access_key"], "AWS_DEFAULT_REGION": SECONDARY,
            "AWS_MAX_ATTEMPTS": "1", "AWS_PAGER": ""}


def aws_cli(sandbox, *args):
    # the endpoint explicitly: aws CLI v1 ignores AWS_ENDPOINT_URL for some services and regions
    env = {**os.environ, **aws_env(sandbox)}
    return subprocess.run(["aws", *args, "--endpoint-url", env["AWS_ENDPOINT_URL"]], env=env,
                          capture_output=True, text=True, timeout=60)


def client(sandbox, service, region):
    aws = sandbox.state["aws"]
    return boto3.client(service, region_name=region, endpoint_url=aws["endpoint_url"],
                        aws_access_key_id=aws["access_key_id"], aws_secret_access_key=aws["secret_access_key"],
                        config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 1}))


# -- the names, through real clients ----------------------------------------------------------------
def test_sandbox_json_records_the_layout_and_its_names(alternate):
    state = alternate.state
    assert alternate.layout == state["layout"] == "alternate"
    aws = state["aws"]
    assert (aws["primary_region"], aws["secondary_region"]) == (PRIMARY, SECONDARY)
    assert aws["rds"]["production"] == {"region": PRIMARY, "id": "kosmos-main"}
    assert aws["rds"]["dr"] == {"region": SECONDARY, "id": "kosmos-main-dr"}
    assert (aws["s3"]["agent_state_bucket"], aws["s3"]["prefix"]) == ("acme-kosmos-state", "agents/state/")
    assert aws["route53"]["endpoints"] == {PRIMARY: f"api.{PRIMARY}.kosmos.internal.",
                                           SECONDARY: f"api.{SECONDARY}.kosmos.internal."}
    assert (state["incident"]["primary_region"], state["incident"]["secondary_region"]) == (PRIMARY, SECONDARY)
    text = json.dumps(state)
    for default_name in ("us-east-1", "us-west-2", "kosmos-prod", "kosmos-backups", "agent-state/"):
        assert default_name not in text, default_name


def test_the_aws_cli_finds_the_instances_under_the_layouts_names(alternate):
    out = aws_cli(alternate, "rds", "describe-db-instances", "--region", SECONDARY, "--output", "json")
    assert out.returncode == 0, out.stderr
    (dr,) = json.loads(out.stdout)["DBInstances"]
    assert dr["DBInstanceIdentifier"] == "kosmos-main-dr" and dr["DBInstanceStatus"] == "available"
    assert dr["DBInstanceArn"] == f"arn:aws:rds:{SECONDARY}:123456789012:db:kosmos-main-dr"
    assert dr["AvailabilityZone"].startswith(SECONDARY)  # a cross-region replica lives in its own region's zones
    assert "ReadReplicaSourceDBInstanceIdentifier" not in dr  # promoted at the incident
    out = aws_cli(alternate, "rds", "describe-db-instances", "--region", PRIMARY, "--output", "json")
    assert out.returncode == 0, out.stderr
    (prod,) = json.loads(out.stdout)["DBInstances"]
    assert (prod["DBInstanceIdentifier"], prod["DBInstanceStatus"]) == ("kosmos-main", "failed")
    assert prod["AvailabilityZone"].startswith(PRIMARY)
    for region in DEFAULT.primary_region, DEFAULT.secondary_region:  # nothing under the default layout's names
        out = aws_cli(alternate, "rds", "describe-db-instances", "--region", region, "--output", "json")
        assert out.returncode == 0 and json.loads(out.stdout)["DBInstances"] == [], out.stdout + out.stderr


def test_the_aws_cli_lists_the_plans_flat_daily_archive_keys(alternate):
    out = aws_cli(alternate, "s3", "ls", "s3://acme-kosmos-state/agents/state/")
    assert out.returncode == 0, out.stderr
    keys = [line.split()[-1] for line in out.stdout.splitlines() if line.strip()]
    assert keys, out.stdout
    assert all(re.fullmatch(r"(zeus|athena|hermes)-state-\d{8}\.tar\.gz", key) for key in keys), keys
    assert any(key.startswith("zeus-state-") for key in keys)
    buckets = aws_cli(alternate, "s3", "ls")
    assert "acme-kosmos-state" in buckets.stdout and "kosmos-backups" not in buckets.stdout


def test_route53_and_dns_fail_over_between_the_layouts_regions(alternate):
    dns = alternate.state["dns"]
    rcode, answers = query(dns["host"], dns["port"], "api.kosmos.internal.")
    assert rcode == "NOERROR"
    assert ("api.kosmos.internal.", "CNAME", f"api.{SECONDARY}.kosmos.internal.") in answers
    route53 = client(alternate, "route53", "us-east-1")
    checks = route53.list_health_checks()["HealthChecks"]
    watched = {c["HealthCheckConfig"]["FullyQualifiedDomainName"]: c["HealthCheckConfig"]["ResourcePath"]
               for c in checks}
    assert watched == {f"api.{PRIMARY}.kosmos.internal": ALTERNATE.health_path,
                       f"api.{SECONDARY}.kosmos.internal": ALTERNATE.health_path}


def test_status_page_and_evidence_name_the_layouts_regions(alternate):
    import httpx

    summary = httpx.get(alternate.state["status_page"]["url"] + "/api/v2/summary.json", timeout=10).json()
    (incident,) = summary["incidents"]
    assert incident["name"] == f"Regional outage in {PRIMARY}"
    assert all(SECONDARY in u["body"] for u in incident["incident_updates"])
    record = json.loads(Path(alternate.state["evidence"]["incident_record"]).read_text())
    assert record["updates"][0]["text"] == f"Investigating: API unavailable in {PRIMARY}; failing over to {SECONDARY}."
    from pytest_kosmos_dr import ledger as drill_ledger

    drill_ledger.seed_sandbox_history(alternate.state["evidence"]["ledger"], target=TARGET)  # what a run does first
    seeded = [json.loads(line) for line in Path(alternate.state["evidence"]["ledger"]).read_text().splitlines()]
    assert {entry["target"] for entry in seeded} == {TARGET}  # the target that describes this layout


# -- the regional outage: the layout's primary region, and Route53's API where it really lives -------------
def unavailable(call):
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        call()
    return raised.value.response["ResponseMetadata"]["HTTPStatusCode"], raised.value.response["Error"]["Code"]


def test_losing_eu_west_1_leaves_route53s_api_in_us_east_1_answering(alternate):
    alternate.apply_fault("primary-region-outage")
    try:
        outage = manager.find_running(alternate.state_dir).state["outage"]
        assert outage["region"] == PRIMARY
        assert "Route53's API, in us-east-1, still answers" in outage["aws_api"]
        assert "kosmos-main stopped" in outage["database"]
        assert outage["api_endpoint"].startswith(f"api.{PRIMARY}.kosmos.internal -> 127.0.0.2")
        assert unavailable(client(alternate, "rds", PRIMARY).describe_db_instances) == (503, "ServiceUnavailable")
        for region in (PRIMARY, "us-east-1"):  # whatever region the client signs Route53 for
            zones = client(alternate, "route53", region).list_hosted_zones()["HostedZones"]
            assert [z["Name"] for z in zones] == ["kosmos.internal."]
        dr = client(alternate, "rds", SECONDARY).describe_db_instances(DBInstanceIdentifier="kosmos-main-dr")
        assert dr["DBInstances"][0]["DBInstanceStatus"] == "available"
    finally:
        alternate.revert_fault("primary-region-outage")
    assert client(alternate, "rds", PRIMARY).describe_db_instances()["DBInstances"][0]["DBInstanceIdentifier"] \
        == "kosmos-main"


def test_global_services_are_lost_only_with_us_east_1():
    outage = RegionOutage()
    signed = "AWS4-HMAC-SHA256 Credential=AKIAX/20260101/{region}/{service}/aws4_request"
    outage.begin("eu-west-1")
    assert outage.lost_region(signed.format(region="eu-west-1", service="route53"), "", "") is None
    assert outage.lost_region(signed.format(region="eu-west-1", service="iam"), "", "") is None
    assert outage.lost_region(signed.format(region="eu-west-1", service="rds"), "", "") == "eu-west-1"
    assert outage.lost_region(signed.format(region="eu-central-1", service="rds"), "", "") is None
    outage.end("eu-west-1")
    outage.begin("us-east-1")
    assert outage.lost_region(signed.format(region="us-west-2", service="route53"), "", "") == "us-east-1"
    assert outage.lost_region(signed.format(region="us-west-2", service="s3"), "", "") is None


def test_the_alternate_layout_starts_with_its_primary_region_lost(tmp_path):
    state_dir = Path(tempfile.mkdtemp(prefix="kosmos-dr-alt-outage-"))
    try:
        running, _ = manager.start(state_dir, owner_pid=os.getpid(), layout="alternate", outage="primary-region")
        assert running.layout == "alternate" and running.state["outage"]["region"] == PRIMARY
        assert [f["name"] for f in running.faults() if f["applied"]] == ["primary-region-outage"]
        assert unavailable(client(running, "rds", PRIMARY).describe_db_instances) == (503, "ServiceUnavailable")
        assert client(running, "route53", PRIMARY).list_hosted_zones()["HostedZones"]
    finally:
        manager.stop(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


# -- the faults of the AWS side, on the alternate names --------------------------------------------------
def _agent_state_view(sandbox):
    s3 = client(sandbox, "s3", SECONDARY)
    pages = s3.get_paginator("list_object_versions").paginate(Bucket="acme-kosmos-state", Prefix="agents/state/")
    versions = sorted((v["Key"], v["VersionId"], v["LastModified"], v["IsLatest"], v["ETag"])
                      for page in pages for v in page.get("Versions", []))
    return versions, s3.get_bucket_lifecycle_configuration(Bucket="acme-kosmos-state")["Rules"]


@pytest.mark.parametrize("name", ["agent-backup-stale-40m", "agent-archive-corrupt", "agent-lifecycle-3d",
                                  "agent-versioning-suspended"])
def test_agent_state_faults_break_the_layouts_bucket_and_revert_exactly(alternate, name):
    before = _agent_state_view(alternate)
    alternate.apply_fault(name)
    try:
        during = _agent_state_view(alternate)
    finally:
        alternate.revert_fault(name)
    if name != "agent-versioning-suspended":
        assert during != before
    assert _agent_state_view(alternate) == before


# -- the wiring: CLI, the targets file, the plugin --------------------------------------------------------
def test_sandbox_target_prints_a_targets_file_that_loads(alt_toml, tmp_path):
    assert alt_toml.read_text() == target_toml(ALTERNATE)
    target = load_config(tmp_path, str(alt_toml)).target(TARGET)
    assert target.is_sandbox and target.sandbox.layout == "alternate"
    assert (target.aws.primary_region, target.aws.secondary_region) == (PRIMARY, SECONDARY)
    assert (target.database.production_instance, target.database.replica_instance) == ("kosmos-main", "kosmos-main-dr")
    assert (target.backups.bucket, target.backups.agent_state_key) == ("acme-kosmos-state", "{agent}-state-{date}.tar.gz")
    assert {a.name: a.archive for a in target.agents}["zeus-orchestrator"] == "zeus"
    empty = tmp_path / "none"
    empty.mkdir()
    default = cli("sandbox", "--state-dir", str(empty), "target")  # no sandbox there, no --layout: the default's
    assert default.returncode == 0 and default.stdout == target_toml(DEFAULT)


def test_up_reuses_only_the_same_layout_and_names_its_target(alternate, alt_toml):
    state_dir = str(alternate.state_dir)
    again = cli("sandbox", "--state-dir", state_dir, "up", "--layout", "alternate")
    assert again.returncode == 0, again.stderr
    assert "sandbox already running" in again.stdout and "layout:       alternate" in again.stdout
    assert "kosmos-dr sandbox target --layout alternate" in again.stdout
    found = cli("sandbox", "--state-dir", state_dir, "up", "--config", str(alt_toml))
    assert f"target:       {TARGET} ({alt_toml})" in found.stdout
    other = cli("sandbox", "--state-dir", state_dir, "up", "--layout", "default")
    assert other.returncode == 1 and other.stderr.count("\n") == 1
    assert "serves layout 'alternate', not 'default'" in other.stderr and "kosmos-dr sandbox down" in other.stderr
    with pytest.raises(manager.LayoutMismatch):
        manager.start(alternate.state_dir, layout="default")
    printed = cli("sandbox", "--state-dir", state_dir, "target")  # the running sandbox's layout
    assert printed.stdout == target_toml(ALTERNATE)


def test_targets_shows_the_running_sandboxs_layout_and_its_target(shared, alt_toml):
    result = cli("targets", "--config", str(alt_toml))
    assert result.returncode == 0, result.stderr
    assert f"running sandbox ({shared.state_dir}): layout 'alternate'; its target: {TARGET}" in result.stdout
    api = shared.state["api"]["url"]
    assert f"endpoints: api={api}, grafana={shared.state['grafana']['url']}" in result.stdout  # not the file's names
    assert "none running for this layout now" in result.stdout  # the default-layout 'sandbox' target
    data = json.loads(cli("targets", "--config", str(alt_toml), "--json").stdout)
    running = data["running_sandbox"]
    assert {k: running[k] for k in ("state_dir", "layout", "targets")} == {
        "state_dir": str(shared.state_dir), "layout": "alternate", "targets": [TARGET]}
    assert running["endpoints"]["api"] == api and running["endpoints"]["aws"] == shared.state["aws"]["endpoint_url"]


def test_a_run_for_another_layout_than_the_running_sandbox_is_one_usage_error(shared, pytester, tmp_path,
                                                                              monkeypatch):
    runs = tmp_path / "tmp"  # the refused run's temporary folder: it must leave no run folder there
    runs.mkdir()
    monkeypatch.setenv("TMPDIR", str(runs))
    result = run_suite(pytester, "test_failover.py", "--dr-target", "sandbox")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*the running sandbox serves layout 'alternate' but target 'sandbox' describes "
                                 "'default': stop it (kosmos-dr sandbox down) or *"])
    assert "Traceback" not in result.stderr.str()
    assert list(runs.glob("kosmos-dr-run-*")) == []


CHECKS = 11  # BAK-DB-*, BAK-AGENT-*, REC-FAILOVER-TRIGGER, REC-DNS, SCN-REGIONAL-OUTAGE


def test_aws_side_suites_pass_on_the_alternate_layout_with_only_the_targets_file_changed(shared, alt_toml, pytester):
    result = run_suite(pytester, "test_backup_strategy.py", "test_agent_state_backups.py", "test_failover.py",
                       "--dr-config", str(alt_toml), "--dr-target", TARGET, "-v")
    assert result.parseoutcomes() == {"passed": CHECKS}, result.stdout.str()


@pytest.mark.parametrize(("fault_name", "criterion", "message"), [
    ("pitr-retention-7d", "BAK-DB-PITR-RETENTION", "point-in-time recovery short of 30 d: kosmos-main (eu-west-1) "
     "BackupRetentionPeriod 7 d; kosmos-main-dr (eu-central-1) BackupRetentionPeriod 7 d*"),
    ("agent-versioning-suspended", "BAK-AGENT-VERSIONING", "versioning of s3://acme-kosmos-state is Suspended*"),
    ("no-cross-region-copies", "BAK-DB-CROSS-REGION", "no copies of kosmos-main's backups in eu-central-1*"),
])
def test_aws_faults_fail_their_check_under_the_alternate_names(shared, alt_toml, pytester, fault_name, criterion,
                                                                message):
    shared.apply_fault(fault_name)
    try:
        result = run_suite(pytester, "test_backup_strategy.py", "test_agent_state_backups.py", "test_failover.py",
                           "--dr-config", str(alt_toml), "--dr-target", TARGET)
    finally:
        shared.revert_fault(fault_name)
    assert result.parseoutcomes() == {"passed": CHECKS - 1, "failed": 1}, result.stdout.str()
    result.stdout.fnmatch_lines([f"DR check failed: {criterion}: {message}"])


# -- which target a user's running sandbox serves (plain data) ---------------------------------------------
def _targets(tmp_path, *names_layouts):
    text = "".join(f'[targets.{name}]\nkind = "sandbox"\n[targets.{name}.sandbox]\nlayout = "{layout}"\n'
                   for name, layout in names_layouts)
    (tmp_path / "t.toml").write_text(text)
    cfg = load_config(tmp_path, str(tmp_path / "t.toml"))
    return [cfg.target(name) for name, _ in names_layouts]


@pytest.mark.parametrize(("running", "targets", "serves"), [
    (None, [("sandbox", "default")], "sandbox"),
    ("alternate", [("alt", "alternate")], "alt"),
    (None, [("sandbox", "default"), ("alt", "alternate")], "sandbox"),
    ("alternate", [("sandbox", "default"), ("alt", "alternate")], "alt"),  # the other starts its own
    ("default", [("sandbox", "default"), ("alt", "alternate")], "sandbox"),
    ("default", [("alt", "alternate"), ("alt2", "alternate")], None),  # nobody: both start their own
])
def test_a_running_sandbox_serves_only_a_target_of_its_layout(tmp_path, monkeypatch, running, targets, serves):
    from pytest_kosmos_dr import run

    found = None if running is None else manager.RunningSandbox(tmp_path, {"pid": 1, "layout": running})
    monkeypatch.setattr(manager, "find_running", lambda state_dir=None: found)
    assert run._shared_sandbox_target(_targets(tmp_path, *targets)) == serves


def test_a_single_target_of_another_layout_than_the_running_sandbox_is_refused(tmp_path, monkeypatch):
    from pytest_kosmos_dr import run
    from pytest_kosmos_dr.errors import DRConfigError

    found = manager.RunningSandbox(tmp_path, {"pid": 1, "layout": "default"})
    monkeypatch.setattr(manager, "find_running", lambda state_dir=None: found)
    with pytest.raises(DRConfigError, match="the running sandbox serves layout 'default' but target 'alt' describes "
                                            "'alternate': stop it"):
        run._shared_sandbox_target(_targets(tmp_path, ("alt", "alternate")))


def test_the_fault_list_aligns_and_a_fault_promises_no_more_than_it_does(shared):
    listed = cli("sandbox", "--state-dir", str(shared.state_dir), "fault", "--list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    column = header.index("what it does")
    assert len(rows) >= 30 and all(row[column - 2:column] == "  " and row[column] != " " for row in rows), \
        "every description starts in the same column"
    applied = cli("sandbox", "--state-dir", str(shared.state_dir), "fault", "node-not-ready")
    try:
        assert applied.returncode == 0, applied.stderr
        assert "not to pass (failed, or could not verify)" in applied.stdout and "to fail" not in applied.stdout
    finally:
        cli("sandbox", "--state-dir", str(shared.state_dir), "fault", "node-not-ready", "--revert")
