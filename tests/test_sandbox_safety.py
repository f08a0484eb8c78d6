"""The sandbox cannot hurt its host: its servers die with it (even a SIGKILLed daemon), its socket
paths fit a Unix socket whatever $TMPDIR is, a shared state folder keeps its mode and other programs'
files, and its AWS endpoint answers only the credentials the env file hands out."""

from __future__ import annotations

import io
import os
import shutil
import signal
import stat
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.error import HTTPError

import pytest

from pytest_kosmos_dr.errors import SandboxError
from pytest_kosmos_dr.sandbox import manager, postgres
from pytest_kosmos_dr.sandbox.aws.moto_server import AccessKeys, auth_gate, request_access_key
from pytest_kosmos_dr.sandbox.aws.outage import INTERNAL_HEADER, RegionOutage

POLL_BOUND_S = 90  # generous bound for polling; no duration is asserted


def _postgres_under(folder: str) -> list[str]:
    """Command lines of running PostgreSQL processes that name ``folder`` (read whole from /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if folder in args and "postgres" in args:
            found.append(args)
    return found


def _poll(condition, what: str) -> None:
    end = time.monotonic() + POLL_BOUND_S
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"still not true after polling: {what}")
        time.sleep(0.2)


@pytest.fixture
def fresh_socket_root(monkeypatch):
    """This process's socket root forgotten (and tempfile's cached $TMPDIR) for the test."""
    monkeypatch.setattr(postgres, "_socket_root", None)
    monkeypatch.setattr(tempfile, "tempdir", None)
    yield
    postgres.remove_socket_root()


@pytest.fixture
def long_tmpdir():
    """A $TMPDIR of 120+ characters that the postgres OS user can traverse (the sandbox may run as root)."""
    base = Path(tempfile.mkdtemp(prefix="kdr-long-tmpdir-", dir="/tmp"))
    folder = base / ("t" * 60) / ("m" * 60)
    folder.mkdir(parents=True)
    for path in (base, folder.parent, folder):
        path.chmod(0o755)
    yield folder
    shutil.rmtree(base, ignore_errors=True)


# -- socket paths --------------------------------------------------------------------------------------
def test_socket_folders_stay_within_a_unix_socket_path_under_a_long_tmpdir(long_tmpdir, monkeypatch,
                                                                            fresh_socket_root):
    long_tmp = long_tmpdir
    monkeypatch.setenv("TMPDIR", str(long_tmp))
    root = postgres.socket_root()
    assert not str(root).startswith(str(long_tmp))
    longest = root / "XXXXXXXX" / postgres.LONGEST_SOCKET_FILE
    assert len(os.fsencode(str(longest))) <= postgres.SOCKET_PATH_MAX


def test_socket_path_too_long_everywhere_is_one_clear_line(long_tmpdir, monkeypatch, fresh_socket_root):
    long_tmp = long_tmpdir
    monkeypatch.setenv("TMPDIR", str(long_tmp))
    monkeypatch.setattr(postgres.os, "access", lambda *a, **k: False)  # /tmp not usable either
    with pytest.raises(SandboxError) as raised:
        postgres.socket_root()
    message = str(raised.value)
    assert "\n" not in message and "107" in message and "TMPDIR" in message and str(long_tmp) in message


# -- the AWS endpoint's credentials ------------------------------------------------------------------
def _call(gate, method="GET", path="/bucket/key", query="", headers=None, content_type="", body=b""):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "CONTENT_TYPE": content_type,
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    answer = b"".join(gate(environ, start_response))
    return seen["status"], answer.decode()


@pytest.fixture
def gate():
    keys, outage = AccessKeys(), RegionOutage()
    keys.allow("AKIASANDBOXKEY")
    reached = []

    def app(environ, start_response):
        reached.append(environ["PATH_INFO"])
        start_response("200 OK", [])
        return [b"ok"]

    return auth_gate(app, keys, outage), outage, reached


def test_gate_lets_the_sandbox_key_and_its_own_clients_through(gate):
    app, outage, reached = gate
    signed = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIASANDBOXKEY/20260101/us-west-2/s3/aws4_request, "
                               "SignedHeaders=host, Signature=abc"}
    assert _call(app, headers=signed)[0] == "200 OK"
    presigned = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIASANDBOXKEY%2F20260101%2Fus-west-2%2Fs3"
    assert _call(app, query=presigned + "%2Faws4_request&X-Amz-Signature=abc")[0] == "200 OK"
    assert _call(app, headers={INTERNAL_HEADER: outage.internal_token})[0] == "200 OK"
    assert len(reached) == 3


@pytest.mark.parametrize("headers, query, content_type, code", [
    ({}, "", "", "AccessDenied"),  # unsigned S3 write
    ({"Authorization": "AWS4-HMAC-SHA256 Credential=AKIAOTHERUSER/20260101/us-west-2/s3/aws4_request"}, "", "",
     "InvalidAccessKeyId"),
    ({}, "X-Amz-Credential=AKIAOTHERUSER%2F20260101%2Fus-west-2%2Fs3%2Faws4_request", "", "InvalidAccessKeyId"),
    ({"Authorization": "AWS AKIAOTHERUSER:c2ln"}, "", "", "InvalidAccessKeyId"),
    ({}, "Action=DeleteDBInstance", "", "MissingAuthenticationToken"),
    ({"Authorization": "AWS4-HMAC-SHA256 Credential=AKIAOTHERUSER/20260101/us-west-2/rds/aws4_request"}, "",
     "application/x-www-form-urlencoded", "InvalidClientTokenId"),
    ({"X-Amz-Target": "Logs.PutLogEvents"}, "", "application/x-amz-json-1.1", "MissingAuthenticationTokenException"),
    ({"X-Amz-Target": "Logs.PutLogEvents",
      "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAOTHERUSER/20260101/us-west-2/logs/aws4_request"}, "",
     "application/x-amz-json-1.1", "UnrecognizedClientException"),
    ({INTERNAL_HEADER: "guessed-token"}, "", "", "AccessDenied"),
])
def test_gate_refuses_other_credentials_with_aws_error_document(gate, headers, query, content_type, code):
    app, _, reached = gate
    form = b"Action=DeleteDBInstance&DBInstanceIdentifier=kosmos-prod" if "form" in content_type else b"x"
    status, body = _call(app, method="PUT", headers=headers, query=query, content_type=content_type, body=form)
    assert status == "403 Forbidden" and code in body
    assert not reached


def test_request_access_key_reads_header_and_presigned_forms():
    assert request_access_key({"HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AKIA1/2/3/s3/aws4_request"}) == "AKIA1"
    assert request_access_key({"QUERY_STRING": "AWSAccessKeyId=AKIA2&Signature=x"}) == "AKIA2"
    assert request_access_key({"QUERY_STRING": "", "HTTP_AUTHORIZATION": ""}) is None


def _boto(sandbox, service, access_key=None, secret_key=None):
    import boto3
    from botocore.config import Config

    aws = sandbox.state["aws"]
    return boto3.client(service, region_name=aws["secondary_region"], endpoint_url=aws["endpoint_url"],
                        aws_access_key_id=access_key or aws["access_key_id"],
                        aws_secret_access_key=secret_key or aws["secret_access_key"],
                        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30))


def test_sandbox_aws_endpoint_answers_only_its_own_credentials(sandbox):
    from botocore.exceptions import ClientError

    aws = sandbox.state["aws"]
    bucket = aws["s3"]["agent_state_bucket"]
    key = "kosmos-dr-tests/auth-probe.txt"
    # a local user without the env file: unsigned write refused, nothing written
    request = urllib.request.Request(f"{aws['endpoint_url']}/{bucket}/{key}", data=b"x", method="PUT")
    with pytest.raises(HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403 and b"<Code>AccessDenied</Code>" in refused.value.read()
    reset = urllib.request.Request(f"{aws['endpoint_url']}/moto-api/reset", data=b"", method="POST")
    with pytest.raises(HTTPError) as refused:
        urllib.request.urlopen(reset, timeout=10)
    assert refused.value.code == 403
    # someone else's key: refused with AWS's codes
    other = _boto(sandbox, "s3", "AKIAOTHERLOCALUSER00", "not-the-sandbox-secret")
    with pytest.raises(ClientError) as denied:
        other.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert denied.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    with pytest.raises(ClientError) as denied:
        _boto(sandbox, "rds", "AKIAOTHERLOCALUSER00", "x").describe_db_instances()
    assert denied.value.response["Error"]["Code"] == "InvalidClientTokenId"
    # the env file's credentials, and presigned URLs made with them, work
    s3 = _boto(sandbox, "s3")
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=bucket, Key=key)
    assert missing.value.response["Error"]["Code"] in ("404", "NoSuchKey")  # the refused writes wrote nothing
    s3.put_object(Bucket=bucket, Key=key, Body=b"probe")
    try:
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == b"probe"
        forged = other.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
        with pytest.raises(HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=10)
        assert refused.value.code == 403
    finally:
        s3.delete_object(Bucket=bucket, Key=key)
    assert _boto(sandbox, "rds").describe_db_instances()["DBInstances"]


# -- a shared state folder, a long TMPDIR, a SIGKILLed daemon ----------------------------------------------
@pytest.fixture
def shared_folder(tmp_path, monkeypatch):
    """A state folder other programs use too (mode 0755, their files in it)."""
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o755)
    (folder / "notes.txt").write_text("someone else's")
    (folder / "other-tool").mkdir()
    (folder / "other-tool" / "data").write_text("keep")
    monkeypatch.setenv("KOSMOS_DR_SANDBOX_DIR", str(folder))
    return folder


def _foreign_files_intact(folder: Path) -> None:
    assert (folder / "notes.txt").read_text() == "someone else's"
    assert (folder / "other-tool" / "data").read_text() == "keep"
    assert (folder / "added-while-running.txt").read_text() == "mine"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


@pytest.mark.slow  # starts and stops a sandbox of its own
def test_shared_state_folder_keeps_its_mode_and_other_files_after_stop(shared_folder):
    running, started = manager.start(shared_folder, owner_pid=os.getpid())
    assert started
    try:
        (shared_folder / "added-while-running.txt").write_text("mine")
        assert stat.S_IMODE(shared_folder.stat().st_mode) == 0o755
        assert (shared_folder / "kubeconfig").exists()
    finally:
        manager.stop(shared_folder)
    _foreign_files_intact(shared_folder)
    left = {p.name for p in shared_folder.iterdir()}
    assert left == {"notes.txt", "other-tool", "added-while-running.txt", "sandbox.log", ".lock"}, left


@pytest.mark.slow  # starts a sandbox of its own and kills it
def test_sigkilled_daemon_leaves_no_server_data_or_sockets_even_with_a_long_tmpdir(shared_folder, long_tmpdir,
                                                                                  monkeypatch):
    long_tmp = long_tmpdir
    monkeypatch.setenv("TMPDIR", str(long_tmp))
    monkeypatch.setenv("KOSMOS_DR_SANDBOX_IN_MEMORY", "0")  # the data on the long $TMPDIR, not in /dev/shm
    running, started = manager.start(shared_folder)  # no owner: only the daemon's death ends it
    assert started
    data_dir, socket_dir = running.state["data_dir"], running.state["socket_dir"]
    try:
        assert data_dir.startswith(str(long_tmp)) and _postgres_under(data_dir)
        (shared_folder / "added-while-running.txt").write_text("mine")
    finally:
        os.kill(running.pid, signal.SIGKILL)  # the out-of-memory killer
    _poll(lambda: not _postgres_under(data_dir), f"PostgreSQL servers under {data_dir} stopped")
    _poll(lambda: not Path(data_dir).exists(), f"{data_dir} removed")
    _poll(lambda: not Path(socket_dir).exists(), f"{socket_dir} removed")
    _poll(lambda: not (shared_folder / "sandbox.json").exists(), "sandbox.json removed")
    assert not (shared_folder / "sandbox.env").exists() and not (shared_folder / "kubeconfig").exists()
    _foreign_files_intact(shared_folder)
    assert manager.find_running(shared_folder) is None
