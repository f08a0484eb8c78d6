"""The plan's host names in the sandbox: DNS answers them, the API and Grafana serve HTTPS with the sandbox
CA, and the lines ``endpoint_lines`` prints work when pasted into a shell (real curl, psql and dig)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from pytest_kosmos_dr.sandbox import ca
from pytest_kosmos_dr.sandbox.aws.dns_server import query
from pytest_kosmos_dr.sandbox.component import SandboxContext
from pytest_kosmos_dr.sandbox.endpoints import API_HOST, GRAFANA_HOST, endpoint_lines, rds_endpoint_name

PRIMARY_ADDRESS = "127.0.0.2"  # the lost primary region's API endpoint (aws/component.py)
VERIFIED = "0"  # curl's %{ssl_verify_result}: the peer's certificate verified


def _need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


def _bare_env(sandbox) -> dict[str, str]:
    """A shell environment with no sandbox variable but the database password (the lines carry no secret)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "PGPASSWORD": sandbox.state["database"]["password"], "PGCONNECT_TIMEOUT": "5"}
    return env


def _run(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def _commands(lines: list[str]) -> list[str]:
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _curl_with_status(line: str) -> str:
    """The printed curl line, also writing the HTTP status and the certificate verification result."""
    return line + " -sS -w '\\n%{http_code} %{ssl_verify_result}'"


# -- no sandbox: the CA ---------------------------------------------------------------------------------
def test_ca_signs_certificates_a_client_verifies_for_their_names_only(tmp_path):
    authority = ca.SandboxCA()
    leaf = authority.issue([API_HOST, "api.us-west-2.kosmos.internal"])
    assert set(leaf.names) >= {API_HOST, "api.us-west-2.kosmos.internal", "localhost", "127.0.0.1"}
    (tmp_path / "ca.crt").write_bytes(authority.pem)
    server = leaf.server_context()
    client = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    for name, ok in ((API_HOST, True), ("127.0.0.1", True), (GRAFANA_HOST, False)):
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        def serve():
            conn, _ = listener.accept()
            try:
                with server.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                if ok:
                    with client.wrap_socket(raw, server_hostname=name) as tls:
                        assert tls.version() in ("TLSv1.2", "TLSv1.3")
                        tls.sendall(b"x")
                else:
                    with pytest.raises(ssl.SSLCertVerificationError):
                        client.wrap_socket(raw, server_hostname=name)
        finally:
            thread.join(5)
            listener.close()


def test_ca_files_are_shared_by_the_stand_ins_and_removed_by_the_last_one(tmp_path):
    ctx = SandboxContext(state_dir=tmp_path, data_dir=tmp_path)
    first, second = ca.acquire(ctx), ca.acquire(ctx)
    assert first is second
    ca_file, bundle = Path(ctx.state["ca"]["ca_bundle"]), Path(ctx.state["ca"]["trust_bundle"])
    assert ctx.env["KOSMOS_DR_CA_BUNDLE"] == str(ca_file) and ctx.env["CURL_CA_BUNDLE"] == str(bundle)
    assert "SSL_CERT_FILE" not in ctx.env  # would replace every OpenSSL program's trust store
    assert ca_file.read_bytes() == first.pem
    assert bundle.read_bytes().endswith(first.pem)
    roots = ca.system_roots()
    if roots:  # the bundle keeps the public roots: curl still trusts public sites in that shell
        assert bundle.read_bytes().count(b"BEGIN CERTIFICATE") == roots.count(b"BEGIN CERTIFICATE") + 1
    ca.release(ctx)
    assert ca_file.exists() and bundle.exists()
    ca.release(ctx)
    assert not ca_file.exists() and not bundle.exists()


def test_endpoint_lines_of_a_state_without_endpoints_print_nothing_to_run():
    assert _commands(endpoint_lines({})) == []
    assert _commands(endpoint_lines({"api": {"url": "http://127.0.0.1:1"}, "dns": {}})) == []


# -- the sandbox ---------------------------------------------------------------------------------------
def test_printed_lines_answer_with_real_clients_and_verified_tls(sandbox):
    _need("curl", "psql", "dig")
    lines = endpoint_lines(sandbox.state)
    commands = _commands(lines)
    env = _bare_env(sandbox)  # no CURL_CA_BUNDLE: the printed lines stand alone
    dr = sandbox.state["aws"]["rds"]["dr"]
    db_name = rds_endpoint_name(dr["id"], dr["region"])
    seen = set()
    for command in commands:
        client = command.split()[0] if not command.startswith("PGHOSTADDR=") else "psql"
        if client == "curl":
            assert "--cacert" in command and "--resolve" in command and "https://" in command, command
            done = _run(_curl_with_status(command), env)
            assert done.returncode == 0, f"{command}\n{done.stderr}"
            body, _, status = done.stdout.rpartition("\n")
            assert status == f"200 {VERIFIED}", f"{command}: HTTP status, verify result = {status!r}"
            answer = json.loads(body)
            host = re.search(r"https://([^:/]+)", command).group(1)
            if host == API_HOST:
                assert answer["status"] == "ok" and answer["region"] == sandbox.state["aws"]["secondary_region"]
                assert answer["components"]["database"]["status"] == "ok", answer
            elif host == GRAFANA_HOST:
                assert answer["database"] == "ok", answer
            else:
                assert answer["page"]["id"] == "kosmos", answer
            seen.add(host)
        elif client == "psql":
            assert f"-h {db_name}" in command and "-U admin" in command and "-d kosmos" in command, command
            done = _run(command, env)
            assert done.returncode == 0, f"{command}\n{done.stderr}"
            assert re.search(r"^\s*1\s*$", done.stdout, re.M) and "(1 row)" in done.stdout, done.stdout
            seen.add("psql")
        elif client == "dig":
            done = _run(command, env)
            name = command.split()[-1]
            assert done.returncode == 0 and "status: NOERROR" in done.stdout, f"{command}\n{done.stdout}"
            answer = re.search(r"^" + re.escape(name) + r"\.?\s", done.stdout.split("ANSWER SECTION:")[1], re.M)
            assert answer and re.search(r"\sA\s+127\.0\.0\.1$", done.stdout, re.M), f"{command}\n{done.stdout}"
            seen.add(name)
        else:
            pytest.fail(f"unexpected printed command: {command}")
    assert {API_HOST, GRAFANA_HOST, "psql", db_name} <= seen, lines


def test_https_refuses_without_the_sandbox_ca_or_for_another_name(sandbox):
    _need("curl")
    line = next(c for c in _commands(endpoint_lines(sandbox.state)) if f"https://{API_HOST}" in c)
    env = _bare_env(sandbox)
    untrusted = _run(re.sub(r" --cacert \S+", "", line) + " -sS", env)  # the system's roots only
    assert untrusted.returncode == 60, untrusted.stderr  # CURLE_PEER_FAILED_VERIFICATION
    port = re.search(r"https://[^:/]+:(\d+)", line).group(1)
    other = line.replace(API_HOST, "api.example.com")
    wrong_name = _run(other + " -sS", env)
    assert wrong_name.returncode == 60 and "api.example.com" in wrong_name.stderr, (port, wrong_name.stderr)


def test_plugin_http_client_trusts_the_targets_ca_bundle_only(sandbox):
    """The checks' HTTP client verifies TLS against the target's CA bundle (``endpoints.ca_bundle``),
    and against the system roots without one: the sandbox's certificate is then refused."""
    from pytest_kosmos_dr.clients.http import http_client
    from pytest_kosmos_dr.target import Timeouts

    port = re.search(r":(\d+)$", sandbox.state["grafana"]["https_url"].rstrip("/")).group(1)
    url = f"https://127.0.0.1:{port}"
    bundle = re.search(r"^export KOSMOS_DR_CA_BUNDLE=(\S+)$", sandbox.env_file.read_text(), re.M).group(1)
    patient = Timeouts(connect=timedelta(seconds=60), read=timedelta(seconds=60))  # a loaded machine: no timeout first
    with http_client(url, patient, verify=bundle) as client:
        assert client.get("/api/health").status_code == 200
    with http_client(url, patient, verify=True) as client, pytest.raises(Exception, match="verify failed") as refused:
        client.get("/api/health")
    # by name: the client's own httpx (a long session may have re-imported httpx since, with pytester)
    assert type(refused.value).__name__ == "ConnectError", refused.value


def test_env_file_lets_curl_verify_and_keeps_the_plans_psql_line(sandbox):
    _need("curl", "psql")
    env_file = sandbox.env_file
    text = env_file.read_text()
    assert "export KOSMOS_DR_CA_BUNDLE=" in text and "export CURL_CA_BUNDLE=" in text
    assert "SSL_CERT_FILE" not in text
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    api = _run(f"source {env_file} && curl -sS -w '\\n%{{http_code}} %{{ssl_verify_result}}' "
               f"--resolve \"$KOSMOS_API_RESOLVE\" \"$KOSMOS_API_HTTPS_URL/health\"", base)
    assert api.returncode == 0 and api.stdout.endswith(f"\n200 {VERIFIED}"), api.stdout + api.stderr
    grafana = _run(f"source {env_file} && curl -sSf --resolve \"$GRAFANA_RESOLVE\" \"$GRAFANA_HTTPS_URL/api/health\"",
                   base)
    assert grafana.returncode == 0 and json.loads(grafana.stdout)["database"] == "ok", grafana.stderr
    plan = _run(f'source {env_file} && psql -XAt -h $DB_HOST -U $DB_USER -c "SELECT 1"', base)
    assert plan.returncode == 0 and plan.stdout.strip() == "1", plan.stderr


def test_plans_names_resolve_over_udp_and_tcp_and_grafana_is_a_route53_record(sandbox):
    import boto3

    state = sandbox.state
    dns, aws = state["dns"], state["aws"]
    dr, prod = aws["rds"]["dr"], aws["rds"]["production"]
    for tcp in (False, True):
        rcode, answers = query(dns["host"], dns["port"], API_HOST, tcp=tcp)
        assert rcode == "NOERROR" and answers[-1][1:] == ("A", "127.0.0.1"), answers
        assert query(dns["host"], dns["port"], GRAFANA_HOST, tcp=tcp) == (
            "NOERROR", [(GRAFANA_HOST + ".", "A", "127.0.0.1")])
        name = rds_endpoint_name(dr["id"], dr["region"])
        assert query(dns["host"], dns["port"], name, tcp=tcp) == ("NOERROR", [(name + ".", "A", "127.0.0.1")])
        # no such instance (the production one lives in the other region), no such account suffix
        for missing in (rds_endpoint_name(prod["id"], dr["region"]), rds_endpoint_name("no-such-db", dr["region"]),
                        f"{dr['id']}.bbbbbbbbbb.{dr['region']}.rds.amazonaws.com"):
            assert query(dns["host"], dns["port"], missing, tcp=tcp) == ("NXDOMAIN", []), missing
    route53 = boto3.client("route53", region_name="us-east-1", endpoint_url=aws["endpoint_url"],
                           aws_access_key_id=aws["access_key_id"], aws_secret_access_key=aws["secret_access_key"])
    records = route53.list_resource_record_sets(HostedZoneId=aws["route53"]["zone_id"])["ResourceRecordSets"]
    grafana = [r for r in records if r["Name"] == GRAFANA_HOST + "."]
    assert grafana and grafana[0]["Type"] == "A" and grafana[0]["ResourceRecords"] == [{"Value": "127.0.0.1"}]


def test_printed_api_line_follows_route53_failover(sandbox, fault):
    """While Route53 answers the primary region (its health check rigged healthy), the printed line pins
    the API name to the primary's endpoint, where nothing answers: the line tells the truth."""
    _need("curl")
    fault("healthcheck-calculated-always-healthy")
    lines = endpoint_lines(sandbox.state)
    line = next(c for c in _commands(lines) if f"https://{API_HOST}" in c)
    assert f"{API_HOST}:" in line and f":{PRIMARY_ADDRESS} " in line, line
    assert any(line.startswith(f"# {API_HOST} resolves to {PRIMARY_ADDRESS}") for line in lines), lines
    done = _run(line + " -sS", _bare_env(sandbox))
    assert done.returncode == 7, done.stderr  # CURLE_COULDNT_CONNECT: the lost region's endpoint


def test_endpoint_lines_follow_the_layout_and_say_when_a_name_does_not_resolve():
    state = {"layout": "alternate", "ca": {"ca_bundle": "/tmp/x/sandbox-ca.crt"},
             "api": {"url": "http://127.0.0.1:1", "https_url": f"https://{API_HOST}:8443", "address": "127.0.0.1"},
             "database": {"host": "127.0.0.1", "port": 5433, "dbname": "kosmos", "user": "admin"}}
    lines = endpoint_lines(state)
    assert (f"curl --resolve {API_HOST}:8443:127.0.0.1 --cacert /tmp/x/sandbox-ca.crt "
            f"https://{API_HOST}:8443/actuator/health") in lines
    assert f"# {API_HOST} does not resolve through the sandbox's DNS now; pinned to where it listens" in lines
    # no RDS to name the DR instance: the database as sandbox.json publishes it
    assert 'psql -h 127.0.0.1 -p 5433 -U admin -d kosmos -c "SELECT 1"' in lines
    assert not any("password" in line.lower() for line in lines)


def test_a_rewritten_ca_bundle_is_trusted_afresh(tmp_path):
    """The shared TLS context follows the bundle's file: a new sandbox's CA at the same path is loaded."""
    from pytest_kosmos_dr.clients.http import tls_context
    from pytest_kosmos_dr.sandbox.ca import SandboxCA

    bundle = tmp_path / "ca.crt"
    bundle.write_bytes(SandboxCA().pem)
    before = tls_context(str(bundle))
    bundle.write_bytes(SandboxCA().pem + b"\n")
    assert tls_context(str(bundle)) is not before
    assert tls_context(str(bundle)) is tls_context(str(bundle))  # and cached again
