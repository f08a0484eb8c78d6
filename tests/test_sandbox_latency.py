"""The sandbox's latency knob (``kosmos-dr sandbox up --latency``): the delaying proxies on their own (a local
echo server), and a sandbox at 200 ms reached with the real clients.

A behaviour test of the knob: it asserts that the delay is at least the latency asked for (a lower bound),
never how long anything takes."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_kosmos_dr.sandbox.latency import LatencyProxies, TcpDelayProxy, UdpDelayProxy, parse_latency

DELAY = 0.2


def run(coro):
    return asyncio.run(coro)


async def echo_server(behaviour=None):
    """A TCP server answering each chunk with ``behaviour(data, writer)`` (default: echo)."""
    async def serve(reader, writer):
        try:
            while data := await reader.read(65536):
                if behaviour:
                    await behaviour(data, writer)
                else:
                    writer.write(data)
                    await writer.drain()
            writer.close()
        except (ConnectionError, OSError):
            writer.transport.abort()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_parse_latency():
    assert parse_latency("100ms") == pytest.approx(0.1)
    assert parse_latency("0.2s") == pytest.approx(0.2)
    assert parse_latency("0") == 0
    for bad in ("fast", "-5ms", "11s", "100"):
        with pytest.raises(ValueError):
            parse_latency(bad)


def test_exchange_costs_one_round_trip_both_directions_pass_bytes():
    async def main():
        server, port = await echo_server()
        proxy = await TcpDelayProxy(("127.0.0.1", port), DELAY).start()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        rounds = []
        for payload in (b"ping", b"x" * 300_000):  # a large answer arrives in many chunks
            started = time.monotonic()
            writer.write(payload)
            await writer.drain()
            got = await reader.readexactly(len(payload))
            rounds.append(time.monotonic() - started)
            assert got == payload
        writer.close()
        await writer.wait_closed()
        await proxy.stop()
        server.close()
        await server.wait_closed()
        return rounds, proxy

    rounds, proxy = run(main())
    assert all(r >= DELAY for r in rounds)
    assert not proxy.connections
    assert (proxy.opened, proxy.round_trips) == (1, 2)  # two exchanges on one connection


def test_chunked_response_arrives_whole_and_delayed():
    """Ten chunks of one answer, each sent 0.05 s apart, all arrive, in order, each at least one latency
    after the request (how long the whole answer takes is a benchmark figure, not asserted here)."""
    async def answer(data, writer):
        for i in range(10):
            writer.write(b"%d;" % i)
            await writer.drain()
            await asyncio.sleep(0.05)

    async def main():
        server, port = await echo_server(answer)
        proxy = await TcpDelayProxy(("127.0.0.1", port), DELAY).start()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        started = time.monotonic()
        writer.write(b"go")
        received, arrivals = b"", []
        while received.count(b";") < 10:
            received += await reader.read(100)
            arrivals.append(time.monotonic() - started)
        writer.close()
        await proxy.stop()
        server.close()
        return received, arrivals

    received, arrivals = run(main())
    assert received == b"".join(b"%d;" % i for i in range(10))
    assert arrivals[0] >= DELAY


def test_server_close_reaches_client_after_the_data():
    async def answer_and_close(data, writer):
        writer.write(b"bye")
        await writer.drain()
        writer.close()

    async def main():
        server, port = await echo_server(answer_and_close)
        proxy = await TcpDelayProxy(("127.0.0.1", port), DELAY).start()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"hello")
        data = await reader.read()  # until EOF
        writer.close()
        for _ in range(50):
            if not proxy.connections:
                break
            await asyncio.sleep(0.02)
        left = set(proxy.connections)
        await proxy.stop()
        server.close()
        return data, left

    data, left = run(main())
    assert data == b"bye"
    assert not left  # the connection's task ended when both sides had closed


def test_client_half_close_still_gets_the_answer():
    async def main():
        server, port = await echo_server()
        proxy = await TcpDelayProxy(("127.0.0.1", port), DELAY).start()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"last words")
        writer.write_eof()
        data = await reader.read()
        writer.close()
        await proxy.stop()
        server.close()
        return data

    assert run(main()) == b"last words"


def test_client_disconnecting_mid_response_leaves_no_task():
    async def stream(data, writer):
        for _ in range(200):
            writer.write(b"y" * 65536)
            await writer.drain()
            await asyncio.sleep(0.005)

    async def main():
        server, port = await echo_server(stream)
        proxy = await TcpDelayProxy(("127.0.0.1", port), DELAY).start()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"go")
        await reader.read(1000)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.transport.abort()  # gone mid-response, with a reset
        for _ in range(100):
            if not proxy.connections:
                break
            await asyncio.sleep(0.02)
        left = set(proxy.connections)
        await proxy.stop()
        server.close()
        await server.wait_closed()
        tasks = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        return left, tasks

    left, tasks = run(main())
    assert not left
    assert not tasks


def test_stop_ends_open_connections():
    async def main():
        server, port = await echo_server()
        proxy = await TcpDelayProxy(("127.0.0.1", port), DELAY).start()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"x")
        await reader.readexactly(1)
        await proxy.stop()
        data = await reader.read()  # the proxy closed it
        server.close()
        await server.wait_closed()
        return data, await _tasks_left()

    data, tasks = run(main())
    assert data == b""
    assert not tasks


def test_upstream_looked_up_per_connection_and_unreachable_upstream_is_a_reset():
    async def main():
        first, port1 = await echo_server()
        second, port2 = await echo_server(lambda data, w: _reply(w, b"second"))
        where = {"port": port1}
        proxy = await TcpDelayProxy(lambda: ("127.0.0.1", where["port"]), DELAY).start()
        answers = []
        for port in (port1, port2):
            where["port"] = port
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"who")
            answers.append(await reader.read(100))
            writer.close()
        second.close()
        await second.wait_closed()
        with socket.socket() as s:  # a port where nothing listens
            s.bind(("127.0.0.1", 0))
            where["port"] = s.getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        try:
            answers.append(await reader.read(100))
        except ConnectionResetError:
            answers.append("reset")
        writer.close()
        await proxy.stop()
        first.close()
        return answers

    assert run(main()) == [b"who", b"second", "reset"]


async def _tasks_left(polls: int = 50) -> set[asyncio.Task]:
    """The tasks still running besides this one, once the echo server's own have seen their connection end."""
    for _ in range(polls):
        tasks = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        if not tasks:
            break
        await asyncio.sleep(0.02)
    return tasks


async def _reply(writer, data):
    writer.write(data)
    await writer.drain()


def test_udp_answers_are_delayed_and_reach_each_client():
    async def main():
        loop = asyncio.get_running_loop()

        class Echo(asyncio.DatagramProtocol):
            def connection_made(self, transport):
                self.transport = transport

            def datagram_received(self, data, addr):
                self.transport.sendto(b"re:" + data, addr)

        server, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        proxy = await UdpDelayProxy(server.get_extra_info("sockname"), DELAY).start()
        results = []
        for name in (b"a", b"b"):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
                client.setblocking(False)
                started = time.monotonic()
                await loop.sock_sendto(client, name, ("127.0.0.1", proxy.port))
                data = await asyncio.wait_for(loop.sock_recv(client, 100), 5)
                results.append((data, time.monotonic() - started))
        await proxy.stop()
        server.close()
        return results, {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}

    results, tasks = run(main())
    assert [data for data, _ in results] == [b"re:a", b"re:b"]
    assert all(elapsed >= DELAY for _, elapsed in results)
    assert not tasks


def test_published_view_names_the_proxies_and_leaves_the_state_direct():
    proxies = LatencyProxies(DELAY)
    proxies.ports = {1111: 2111, 1222: 2222, 1333: 2333}

    class Db:
        port = 9999

    proxies.database = Db()
    proxies._database_port = lambda: 1444
    state = {"api": {"url": "http://127.0.0.1:1111", "https_url": "https://api.kosmos.internal:1222"},
             "database": {"host": "127.0.0.1", "port": 1444}, "dns": {"host": "127.0.0.1", "port": 1333},
             "control": {"url": "http://127.0.0.1:1555"}}
    env = {"KOSMOS_API_URL": "http://127.0.0.1:1111", "KOSMOS_API_RESOLVE": "api.kosmos.internal:1222:127.0.0.1",
           "PGPORT": "1444", "DB_PORT": "1444", "PGHOST": "127.0.0.1"}
    published, new_env = proxies.published(state, env)
    assert published["api"] == {"url": "http://127.0.0.1:2111", "https_url": "https://api.kosmos.internal:2222"}
    assert published["database"]["port"] == 9999 and published["dns"]["port"] == 2333
    assert published["control"]["url"] == "http://127.0.0.1:1555"  # the harness's: direct
    assert new_env == {"KOSMOS_API_URL": "http://127.0.0.1:2111", "KOSMOS_API_RESOLVE": "api.kosmos.internal:2222:127.0.0.1",
                       "PGPORT": "9999", "DB_PORT": "9999", "PGHOST": "127.0.0.1"}
    assert state["database"]["port"] == 1444 and env["PGPORT"] == "1444"  # components keep talking directly


# -- a sandbox at 200 ms, reached with the real clients ----------------------------------------------
LATENCY_MS = 200


@pytest.fixture(scope="module")
def slow_sandbox(tmp_path_factory):
    """A sandbox of its own at --latency 200ms (a latency is fixed when a sandbox starts)."""
    from pytest_kosmos_dr.sandbox import manager

    state_dir = Path(f"/tmp/kdr-lat-{os.getpid()}")
    try:
        running, _ = manager.start(state_dir, owner_pid=os.getpid(), latency_ms=LATENCY_MS, layout="default")
        yield running
    finally:
        manager.stop(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


def _shell(sandbox, command: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.monotonic()
    done = subprocess.run(["bash", "-c", f'source "{sandbox.env_file}" && {command}'], capture_output=True, text=True,
                          timeout=120)
    return time.monotonic() - started, done


CLIENT_COMMANDS = {
    "api": 'curl -sf -H "Authorization: Bearer $KOSMOS_API_TOKEN" "$KOSMOS_API_URL/health"',
    "api-https": 'curl -sf --resolve "$KOSMOS_API_RESOLVE" -H "Authorization: Bearer $KOSMOS_API_TOKEN" '
                 '"$KOSMOS_API_HTTPS_URL/health"',
    "grafana": 'curl -sf "$KOSMOS_GRAFANA_URL/api/health"',
    "status-page": 'curl -sf "$KOSMOS_STATUS_PAGE_URL/api/v2/status.json"',
    "psql": 'psql -Atc "SELECT 1"',
    "kubectl": "kubectl get nodes",
    "aws": "aws rds describe-db-instances --output text --query 'DBInstances[].DBInstanceIdentifier'",
}


@pytest.mark.parametrize("client", sorted(CLIENT_COMMANDS))
@pytest.mark.slow  # owns a sandbox at --latency
def test_real_clients_work_through_the_latency(slow_sandbox, client):
    walls = []
    for _ in range(2):
        wall, done = _shell(slow_sandbox, CLIENT_COMMANDS[client])
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip()
        walls.append(wall)
    assert min(walls) >= LATENCY_MS / 1000  # at least one round trip, through the proxy


@pytest.mark.parametrize("transport", ["", "+tcp"])
@pytest.mark.slow  # owns a sandbox at --latency
def test_dns_answers_through_the_latency(slow_sandbox, transport):
    dns = slow_sandbox.state["dns"]
    wall, done = _shell(slow_sandbox, f"dig @{dns['host']} -p {dns['port']} {transport} +short +tries=1 +time=5 "
                                      "api.kosmos.internal")
    assert done.returncode == 0 and "127.0.0.1" in done.stdout, done.stdout + done.stderr
    assert wall >= LATENCY_MS / 1000


@pytest.mark.slow  # owns a sandbox at --latency
def test_single_request_round_trip_is_at_least_the_latency(slow_sandbox):
    """One HTTP request on an open connection (no connect, no interpreter): the minimum of several."""
    import httpx

    url = slow_sandbox.state["grafana"]["url"] + "/api/health"
    with httpx.Client(timeout=30) as client:
        client.get(url)
        rounds = []
        for _ in range(3):
            started = time.monotonic()
            assert client.get(url).status_code == 200
            rounds.append(time.monotonic() - started)
    assert min(rounds) >= LATENCY_MS / 1000


@pytest.mark.slow  # owns a sandbox at --latency
def test_python_clients_and_status_show_the_latency(slow_sandbox):
    """psycopg, boto3 and the official Kubernetes client through the proxies; ``sandbox status`` names the latency."""
    import boto3
    import psycopg
    from kubernetes import client as kube, config

    state = slow_sandbox.state
    assert state["latency"]["ms"] == LATENCY_MS
    db = state["database"]
    password = _env(slow_sandbox)["PGPASSWORD"]
    with psycopg.connect(host=db["host"], port=db["port"], dbname=db["dbname"], user=db["user"],
                         password=password, connect_timeout=30) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    env = _env(slow_sandbox)
    rds = boto3.client("rds", region_name="us-west-2", endpoint_url=env["AWS_ENDPOINT_URL"],
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    assert rds.describe_db_instances()["DBInstances"]
    api = kube.CoreV1Api(config.new_client_from_config(config_file=state["kubernetes"]["kubeconfig"]))
    assert api.list_node().items
    proxies = state["latency"]["proxies"]
    assert str(db["port"]) == str(proxies["database"]["port"])
    out = subprocess.run([sys.executable, "-m", "pytest_kosmos_dr.cli", "sandbox", "--state-dir", str(slow_sandbox.state_dir), "status"],
                         capture_output=True, text=True, timeout=60)
    assert f"latency:      {LATENCY_MS} ms" in out.stdout, out.stdout + out.stderr


@pytest.mark.slow  # owns a sandbox at --latency
def test_rds_endpoint_is_behind_the_latency(slow_sandbox):
    """A client that takes the DR database's port from describe-db-instances (the plan's ``psql -h <RDS
    endpoint>``) goes through a delaying proxy too: the connection is counted by that proxy, and takes
    at least one round trip; ``sandbox status`` prints the same port. (Production is down after the
    incident: nothing to connect to.)"""
    instance, region = "kosmos-prod-replica", "us-west-2"
    import boto3
    import psycopg

    env = _env(slow_sandbox)
    rds = boto3.client("rds", region_name=region, endpoint_url=env["AWS_ENDPOINT_URL"],
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    endpoint = rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]["Endpoint"]
    port = int(endpoint["Port"])
    proxied = {name: counts for name, counts in slow_sandbox.latency_counts().items() if name.startswith("rds:")}
    assert len(proxied) >= 1, slow_sandbox.latency_counts()
    before = sum(c["connections"] for c in proxied.values())
    started = time.monotonic()
    with psycopg.connect(host=endpoint["Address"], port=port, dbname=env["PGDATABASE"], user=env["PGUSER"],
                         password=env["PGPASSWORD"], connect_timeout=30) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert time.monotonic() - started >= LATENCY_MS / 1000
    after = {name: c for name, c in slow_sandbox.latency_counts().items() if name.startswith("rds:")}
    assert sum(c["connections"] for c in after.values()) > before, (port, after)
    out = subprocess.run([sys.executable, "-m", "pytest_kosmos_dr.cli", "sandbox", "--state-dir",
                          str(slow_sandbox.state_dir), "status"], capture_output=True, text=True, timeout=60)
    assert f" -p {port} " in out.stdout, out.stdout + out.stderr  # the psql line by the RDS endpoint name


@pytest.mark.slow  # owns a sandbox at --latency
def test_another_latency_is_a_mismatch(slow_sandbox):
    from pytest_kosmos_dr.sandbox import manager

    with pytest.raises(manager.LatencyMismatch, match="adds 200 ms latency, not 0 ms"):
        manager.start(slow_sandbox.state_dir, latency_ms=0)
    running, started = manager.start(slow_sandbox.state_dir)  # no latency asked: any running one
    assert not started and running.latency_ms == LATENCY_MS


@pytest.mark.slow  # owns a sandbox at --latency
def test_gate_passes_through_the_proxies(slow_sandbox, pytester, monkeypatch):
    from conftest import run_suite

    monkeypatch.setenv("KOSMOS_DR_SANDBOX_DIR", str(slow_sandbox.state_dir))
    result = run_suite(pytester, "-m", "gate")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) > 0 and not outcomes.get("failed") and not outcomes.get("errors"), \
        "\n".join(result.outlines[-40:])


def _env(sandbox) -> dict[str, str]:
    out = subprocess.run(["bash", "-c", f'source "{sandbox.env_file}" && env -0'], capture_output=True, timeout=30)
    return dict(item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)
