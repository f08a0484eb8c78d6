"""A network's round trip in front of the sandbox's endpoints (``kosmos-dr sandbox up --latency 100ms``).

A real DR estate is not on loopback: every AWS, Kubernetes, Grafana and database call costs a round
trip. With a latency L the daemon puts a delaying proxy in front of every endpoint it publishes (AWS,
Kubernetes API, KOSMOS API, Grafana, status page: HTTP and HTTPS listeners; the DNS server over TCP and
UDP; the database) and publishes the proxies' ports instead (``sandbox.json``, ``sandbox.env``, the
kubeconfig). Traffic between the sandbox's own components stays direct.

The model is a delay line on the server -> client direction: every byte the server sends reaches the
client L later; client -> server bytes pass at once. So a request/response exchange costs one added round
trip L, as on a real network, whatever the response's size or how many chunks it arrives in (the chunks
of one response are delayed together, not once per chunk), and throughput is unchanged. Streams (a watch,
``kubectl exec``) see each event L late. End of stream and connection resets are delivered in order,
L late too. Not modelled: TCP's own handshake (a connection opens at once) and an upstream that refuses
the connection (the client sees the proxy close it with a reset, L later, instead of "connection
refused").

The proxy's upstream may be a callable, looked up for each new connection: the database proxy follows
``ctx.state["database"]``, which the sandbox re-publishes when the incident promotes the DR replica.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .component import LOOPBACK

log = logging.getLogger("kosmos_dr.sandbox")

QUEUE_CHUNKS = 256  # at most this many chunks in flight per connection (backpressure beyond)
MAX_LATENCY_S = 10.0
STOP_WAIT_S = 5.0  # stop() waits this long at most for the connections' sockets to close
UDP_IDLE_S = 30.0  # an upstream UDP socket per client address, closed after this long unused
_EOF, _RESET = object(), object()

Upstream = tuple[str, int] | Callable[[], tuple[str, int]]


def parse_latency(text: str | float | int | None) -> float:
    """``"100ms"``, ``"0.1s"``, ``"0"`` -> seconds. Raises ValueError with what is expected."""
    if text is None:
        return 0.0
    if isinstance(text, (int, float)):
        seconds = float(text)
    elif text.strip() in ("0", "0ms", "0s"):
        seconds = 0.0
    else:
        from ..timeparse import parse_duration

        try:
            seconds = parse_duration(text).total_seconds()
        except ValueError:
            raise ValueError(f"expected a round trip like '100ms' or '0.2s' (0: none), got {text!r}") from None
    if not 0 <= seconds <= MAX_LATENCY_S:
        raise ValueError(f"latency {seconds * 1000:g} ms: expected 0 to {MAX_LATENCY_S * 1000:g} ms")
    return seconds


def _reset(transport: asyncio.Transport) -> None:
    """Close a connection with a TCP reset (SO_LINGER 0), as the upstream did."""
    sock = transport.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    transport.abort()


class TcpDelayProxy:
    """Listens on ``host``:``port`` (0: a free one), forwards each connection to ``upstream``; every
    server -> client byte is delivered ``delay_s`` after it arrived."""

    def __init__(self, upstream: Upstream, delay_s: float, host: str = LOOPBACK, port: int = 0, name: str = "") -> None:
        self.upstream, self.delay_s, self.host, self.port, self.name = upstream, delay_s, host, port, name
        self.server: asyncio.base_events.Server | None = None
        self.connections: set[_Link] = set()
        self.opened = 0  # connections accepted
        self.round_trips = 0  # client turns: a client write after the server spoke (or first): one round trip each

    def target(self) -> tuple[str, int]:
        return self.upstream() if callable(self.upstream) else self.upstream

    async def start(self, sock: socket.socket | None = None) -> "TcpDelayProxy":
        """Listen (on ``sock`` when given: a socket already bound and listening, whose queued
        connections are then served)."""
        loop = asyncio.get_running_loop()
        if sock is not None:
            self.server = await loop.create_server(lambda: _ClientSide(self), sock=sock)
        else:
            self.server = await loop.create_server(lambda: _ClientSide(self), self.host, self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        links = list(self.connections)
        for link in links:
            link.abort()
        if links:  # until both sides of each are closed
            await asyncio.wait([asyncio.ensure_future(link.gone) for link in links], timeout=STOP_WAIT_S)
        if self.server is not None:
            await self.server.wait_closed()


class _Link:
    """One proxied connection: the client's transport, the upstream's, and the delay line between them (a
    deque of (due, chunk) drained by one timer), with flow control both ways. No task per connection:
    the proxies add ~no CPU of their own to what a gate run costs the machine."""

    def __init__(self, proxy: TcpDelayProxy, client: asyncio.Transport) -> None:
        self.proxy, self.client = proxy, client
        self.loop = asyncio.get_running_loop()
        self.server: asyncio.Transport | None = None
        self.connecting: asyncio.Task | None = None
        self.line: deque = deque()
        self.timer: asyncio.TimerHandle | None = None
        self.client_turn = False  # a client write after the server spoke starts a new round trip
        self.client_eof = self.delivered_eof = self.server_eof = False
        self.closed = False
        self.held = False  # reading from the upstream paused: the line is full or the client reads slowly
        self.client_full = False
        self.open_sides = 1  # transports not yet lost: the client's, and the upstream's once connected
        self.gone = self.loop.create_future()  # done when every side is lost

    async def connect(self) -> None:
        try:
            host, port = self.proxy.target()
            server, _ = await self.loop.create_connection(lambda: _ServerSide(self), host, port)
        except (OSError, KeyError, TypeError, ValueError) as exc:
            log.debug("latency proxy %s: upstream unreachable: %s", self.proxy.name, exc)
            if not self.closed:
                self.timer = self.loop.call_later(self.proxy.delay_s, self.reset)
            return
        self.open_sides += 1
        if self.closed:
            server.abort()
            return
        self.server = server
        self.client.resume_reading()

    # client -> server, at once
    def from_client(self, data: bytes) -> None:
        if not self.client_turn:
            self.client_turn = True
            self.proxy.round_trips += 1
        if self.server is not None and not self.server.is_closing():
            self.server.write(data)

    def client_ended(self) -> None:
        """The client's end of stream, passed on (half close)."""
        self.client_eof = True
        if self.server is not None and self.server.can_write_eof() and not self.server.is_closing():
            self.server.write_eof()
        self._close_when_done()

    # server -> client, through the delay line
    def from_server(self, item: Any) -> None:
        if self.closed:
            return
        due = self.loop.time() + self.proxy.delay_s
        self.line.append((due, item))
        if self.timer is None:
            self.timer = self.loop.call_at(due, self._deliver)
        if len(self.line) >= QUEUE_CHUNKS:
            self._hold()

    def _deliver(self) -> None:
        self.timer = None
        now = self.loop.time()
        line, client = self.line, self.client
        while line and line[0][0] <= now:
            _, item = line.popleft()
            if item is _RESET:
                self.reset()
                return
            if item is _EOF:
                self.delivered_eof = True
                if client.can_write_eof() and not client.is_closing():
                    client.write_eof()
                self._close_when_done()
                if self.closed:
                    return
                continue
            self.client_turn = False
            client.write(item)
        if line:
            self.timer = self.loop.call_at(line[0][0], self._deliver)
        if self.held and len(line) < QUEUE_CHUNKS // 2 and not self.client_full:
            self._release()

    def _hold(self) -> None:
        if not self.held and self.server is not None:
            self.held = True
            self.server.pause_reading()

    def _release(self) -> None:
        if self.held and self.server is not None:
            self.held = False
            self.server.resume_reading()

    def client_paused(self, paused: bool) -> None:
        self.client_full = paused
        if paused:
            self._hold()
        elif len(self.line) < QUEUE_CHUNKS // 2:
            self._release()

    def server_paused(self, paused: bool) -> None:
        if paused:
            self.client.pause_reading()
        else:
            self.client.resume_reading()

    # endings
    def _close_when_done(self) -> None:
        """Both directions ended: close both sides, after what is buffered has been written."""
        if self.client_eof and self.delivered_eof and not self.closed:
            self._end()
            if self.server is not None:
                self.server.close()
            self.client.close()

    def reset(self) -> None:
        """The upstream reset the connection (or could not be reached): the client sees a reset, now."""
        if not self.closed:
            self._end()
            _reset(self.client)
            if self.server is not None:
                self.server.abort()

    def abort(self) -> None:
        """Something failed (or the proxy stops): both sides dropped at once."""
        if not self.closed:
            self._end()
            self.client.abort()
            if self.server is not None:
                self.server.abort()
        if self.connecting is not None:
            self.connecting.cancel()

    def server_lost(self, exc: Exception | None) -> None:
        if exc is not None and not self.closed:
            self.from_server(_RESET)  # a reset reaches the client in order, a latency late
        self.side_lost()

    def side_lost(self) -> None:
        self.open_sides -= 1
        if self.open_sides <= 0 and not self.gone.done():
            self.gone.set_result(None)

    def _end(self) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.line.clear()
        self.proxy.connections.discard(self)


class _ClientSide(asyncio.Protocol):
    def __init__(self, proxy: TcpDelayProxy) -> None:
        self.proxy = proxy
        self.link: _Link | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        transport.pause_reading()  # until the upstream is connected
        self.link = link = _Link(self.proxy, transport)
        self.proxy.connections.add(link)
        self.proxy.opened += 1
        link.connecting = asyncio.ensure_future(link.connect())

    def data_received(self, data: bytes) -> None:
        self.link.from_client(data)

    def eof_received(self) -> bool:
        self.link.client_ended()
        return True  # half closed: the answer may still come

    def pause_writing(self) -> None:
        self.link.client_paused(True)

    def resume_writing(self) -> None:
        self.link.client_paused(False)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.link.abort()  # after a graceful close a no-op; else the client left: drop the upstream too
            self.link.side_lost()


class _ServerSide(asyncio.Protocol):
    def __init__(self, link: _Link) -> None:
        self.link = link

    def data_received(self, data: bytes) -> None:
        self.link.from_server(data)

    def eof_received(self) -> bool:
        self.link.server_eof = True
        self.link.from_server(_EOF)
        return True  # the client may still write

    def pause_writing(self) -> None:
        self.link.server_paused(True)

    def resume_writing(self) -> None:
        self.link.server_paused(False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.server_lost(exc)


class _UdpFront(asyncio.DatagramProtocol):
    def __init__(self, proxy: "UdpDelayProxy") -> None:
        self.proxy = proxy

    def datagram_received(self, data: bytes, addr) -> None:
        self.proxy._from_client(data, addr)


class _UdpBack(asyncio.DatagramProtocol):
    def __init__(self, proxy: "UdpDelayProxy", client) -> None:
        self.proxy, self.client = proxy, client

    def datagram_received(self, data: bytes, addr) -> None:
        self.proxy._to_client(data, self.client)


class UdpDelayProxy:
    """The datagram variant (DNS over UDP): each answer reaches its client ``delay_s`` after the server sent it."""

    def __init__(self, upstream: Upstream, delay_s: float, host: str = LOOPBACK, port: int = 0, name: str = "") -> None:
        self.upstream, self.delay_s, self.host, self.port, self.name = upstream, delay_s, host, port, name
        self.front: asyncio.DatagramTransport | None = None
        self.backs: dict[Any, asyncio.Future] = {}
        self.used: dict[Any, float] = {}
        self.pending: set[asyncio.Handle | asyncio.Task] = set()
        self.sweeper: asyncio.Task | None = None
        self.round_trips = 0  # datagrams from clients

    def target(self) -> tuple[str, int]:
        return self.upstream() if callable(self.upstream) else self.upstream

    async def start(self) -> "UdpDelayProxy":
        loop = asyncio.get_running_loop()
        self.front, _ = await loop.create_datagram_endpoint(lambda: _UdpFront(self), local_addr=(self.host, self.port))
        self.port = self.front.get_extra_info("sockname")[1]
        self.sweeper = asyncio.ensure_future(self._sweep())
        return self

    async def stop(self) -> None:
        if self.sweeper is not None:
            self.sweeper.cancel()
        for item in list(self.pending):
            item.cancel()
        tasks = [t for t in self.pending if isinstance(t, asyncio.Task)]
        await asyncio.gather(*tasks, *([self.sweeper] if self.sweeper else []), return_exceptions=True)
        self.pending.clear()
        for back in self.backs.values():
            if back.done() and not back.cancelled() and back.exception() is None:
                back.result()[0].close()
            else:
                back.cancel()
        self.backs.clear()
        if self.front is not None:
            self.front.close()

    def _from_client(self, data: bytes, addr) -> None:
        self.round_trips += 1
        task = asyncio.ensure_future(self._forward(data, addr))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _forward(self, data: bytes, addr) -> None:
        loop = asyncio.get_running_loop()
        if addr not in self.backs:
            self.backs[addr] = asyncio.ensure_future(loop.create_datagram_endpoint(
                lambda: _UdpBack(self, addr), remote_addr=self.target()))
        try:
            transport, _ = await asyncio.shield(self.backs[addr])
        except OSError as exc:
            self.backs.pop(addr, None)
            log.debug("latency proxy %s: upstream unreachable: %s", self.name, exc)
            return
        self.used[addr] = loop.time()
        transport.sendto(data)

    def _to_client(self, data: bytes, client) -> None:
        handles: list[asyncio.TimerHandle] = []

        def deliver() -> None:
            self.pending.discard(handles[0])
            if self.front is not None and not self.front.is_closing():
                self.front.sendto(data, client)

        handles.append(asyncio.get_running_loop().call_later(self.delay_s, deliver))
        self.pending.add(handles[0])

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(UDP_IDLE_S / 3)
            for addr, last in list(self.used.items()):
                if loop.time() - last > UDP_IDLE_S and addr in self.backs:
                    back = self.backs.pop(addr)
                    self.used.pop(addr, None)
                    if back.done() and not back.cancelled() and back.exception() is None:
                        back.result()[0].close()


# -- the sandbox's published endpoints behind proxies ------------------------------------------------
HTTP_SECTIONS = (("aws", "endpoint_url"), ("kubernetes", "url"), ("api", "url"), ("api", "https_url"),
                 ("grafana", "url"), ("grafana", "https_url"), ("status_page", "url"), ("status_page", "https_url"))
_URL = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^/\s:@]+):(?P<port>\d+)")
_RESOLVE = re.compile(r"^(?P<name>[^:\s/]+):(?P<port>\d+):(?P<address>[0-9.]+)$")
PORT_ENV = ("PGPORT", "DB_PORT")


class LatencyProxies:
    """Every endpoint the sandbox publishes, behind a delaying proxy; ``published`` rewrites what is written out.

    RDS reports each instance's endpoint behind a proxy of its own (``instance_port``): a client that
    takes the port from ``describe-db-instances`` (the plan's ``psql -h <RDS endpoint>``, a restore
    drill's connection) waits for the round trip too. Those proxies are made when RDS first reports
    the instance, from moto's request thread, without waiting for the event loop: the listening socket
    is bound there (connections queue in its backlog) and handed to the loop to serve."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.proxies: list[TcpDelayProxy | UdpDelayProxy] = []
        self.ports: dict[int, int] = {}  # direct port -> the proxy's, for the endpoints that do not move
        self.database: TcpDelayProxy | None = None
        self._database_port: Callable[[], int | None] = lambda: None
        self.instance_ports: dict[int, int] = {}  # an RDS instance's server port -> its proxy's
        self._instance_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unserved: set[socket.socket] = set()  # bound for an instance proxy, not yet served by the loop

    def instance_port(self, port: int) -> int:
        """The port RDS reports for an instance whose server listens on ``port``: its delaying proxy's
        (made on first use; thread-safe, never blocks on the event loop)."""
        with self._instance_lock:
            if port in self.instance_ports:
                return self.instance_ports[port]
            if self._loop is None or self._loop.is_closed():
                return port
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((LOOPBACK, 0))
            sock.listen(128)
            sock.setblocking(False)
            proxy = TcpDelayProxy((LOOPBACK, port), self.delay_s, LOOPBACK, sock.getsockname()[1], name=f"rds:{port}")
            self.instance_ports[port] = proxy.port
            self._unserved.add(sock)
            self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._serve_instance(proxy, sock)))
            return proxy.port

    async def _serve_instance(self, proxy: TcpDelayProxy, sock: socket.socket) -> None:
        try:
            await proxy.start(sock)
        except OSError as exc:
            log.warning("latency proxy %s: cannot serve: %s", proxy.name, exc)
            sock.close()
            return
        finally:
            self._unserved.discard(sock)
        self.proxies.append(proxy)

    async def wrap(self, ctx) -> None:
        """Start a proxy for each endpoint in ``ctx.state`` (after every component has started)."""
        from urllib.parse import urlsplit

        self._loop = asyncio.get_running_loop()
        state = ctx.state
        for section, key in HTTP_SECTIONS:
            url = (state.get(section) or {}).get(key)
            if not url:
                continue
            parts = urlsplit(url)
            if not parts.port or parts.port in self.ports:
                continue
            address = state[section].get("address") or parts.hostname or LOOPBACK
            if not re.fullmatch(r"[0-9.]+", address):
                address = LOOPBACK
            proxy = await self._add(TcpDelayProxy((address, parts.port), self.delay_s, address, name=f"{section}.{key}"))
            self.ports[parts.port] = proxy.port
        dns = state.get("dns") or {}
        if dns.get("port"):
            self.ports[int(dns["port"])] = await self._dns_pair(dns.get("host") or LOOPBACK, int(dns["port"]))
        if state.get("database"):
            def database() -> tuple[str, int]:  # looked up per connection: follows the re-published database
                db = ctx.state["database"]
                return db["host"], int(db["port"])

            self.database = await self._add(TcpDelayProxy(database, self.delay_s, state["database"].get("host") or LOOPBACK,
                                                          name="database"))
            self._database_port = lambda: int((ctx.state.get("database") or {}).get("port") or 0) or None
        state["latency"] = {"ms": round(self.delay_s * 1000, 3), "proxies": {
            p.name: {"port": p.port, "protocol": "udp" if isinstance(p, UdpDelayProxy) else "tcp"} for p in self.proxies}}
        kubeconfig = (state.get("kubernetes") or {}).get("kubeconfig")
        if kubeconfig and Path(kubeconfig).is_file():
            self.rewrite_file(Path(kubeconfig))
        rds = getattr(ctx.components.get("aws"), "rds", None)
        if rds is not None:  # describe-db-instances reports each instance behind its proxy
            rds.published_port = self.instance_port

    async def _add(self, proxy):
        await proxy.start()
        self.proxies.append(proxy)
        return proxy

    async def _dns_pair(self, host: str, port: int) -> int:
        """TCP and UDP proxies on one port, as the DNS server listens."""
        for _ in range(20):
            udp = UdpDelayProxy((host, port), self.delay_s, host, name="dns.udp")
            await udp.start()
            try:
                tcp = await TcpDelayProxy((host, port), self.delay_s, host, udp.port, name="dns.tcp").start()
            except OSError:
                await udp.stop()
                continue
            self.proxies += [udp, tcp]
            return udp.port
        raise OSError("no port free for both TCP and UDP for the DNS proxy")

    def counts(self) -> dict[str, dict[str, int]]:
        """Per proxy: connections accepted and round trips (client turns; datagrams for UDP) so far."""
        return {p.name: {"connections": getattr(p, "opened", 0), "round_trips": p.round_trips} for p in self.proxies}

    async def stop(self) -> None:
        with self._instance_lock:
            self._loop = None  # no more instance proxies
            unserved, self._unserved = set(self._unserved), set()
        for sock in unserved:
            sock.close()
        for proxy in reversed(self.proxies):
            await proxy.stop()
        self.proxies.clear()

    # -- what clients are told -----------------------------------------------------------------
    def port_map(self) -> dict[int, int]:
        ports = dict(self.ports)
        direct = self._database_port()
        if direct and self.database is not None:
            ports[direct] = self.database.port
        return ports

    def _text(self, value: str, ports: dict[int, int]) -> str:
        value = _URL.sub(lambda m: f"{m['head']}:{ports.get(int(m['port']), int(m['port']))}", value)
        match = _RESOLVE.match(value)
        if match and int(match["port"]) in ports:
            value = f"{match['name']}:{ports[int(match['port'])]}:{match['address']}"
        return value

    def _rewrite(self, value, ports: dict[int, int], key: str = ""):
        if isinstance(value, dict):
            return {k: self._rewrite(v, ports, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self._rewrite(v, ports) for v in value]
        if key == "port" and isinstance(value, int) and not isinstance(value, bool):
            return ports.get(value, value)
        if key == "port" and isinstance(value, str) and value.isdigit():
            return str(ports.get(int(value), int(value)))
        if isinstance(value, str):
            return self._text(value, ports)
        return value

    def published(self, state: dict[str, Any], env: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
        """Copies of ``state`` and ``env`` with every proxied endpoint replaced by its proxy."""
        ports = self.port_map()
        new_env = {}
        for key, value in env.items():
            if key in PORT_ENV and value.isdigit():
                new_env[key] = str(ports.get(int(value), int(value)))
            else:
                new_env[key] = self._text(value, ports)
        # the control endpoint is the harness's, not the DR estate's: it stays direct (not in ``ports``)
        return self._rewrite(state, ports), new_env

    def rewrite_file(self, path: Path) -> None:
        """Point the URLs in a client configuration file (the kubeconfig) at the proxies."""
        text = path.read_text()
        new = _URL.sub(lambda m: f"{m['head']}:{self.ports.get(int(m['port']), int(m['port']))}", text)
        if new != text:
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text(new)
            tmp.chmod(path.stat().st_mode & 0o777)
            tmp.replace(path)
