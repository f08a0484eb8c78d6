"""A small authoritative DNS server (UDP and TCP on one loopback port) for the zones moto's Route53 holds.

It answers A and CNAME queries from the records in moto and evaluates failover records the way
Route53 does: the PRIMARY record answers while its health check is healthy (a record without a
health check counts as healthy), else the SECONDARY. Health comes from the sandbox's health state.
It stands for the DR VPC's resolver, so a private zone wins over a public zone of the same name, and
RDS instance endpoints (``<id>.<suffix>.<region>.rds.amazonaws.com``, the plan's ``psql -h`` names)
resolve to the address RDS reports for the instance (A, TTL 5 s as RDS's), NXDOMAIN for no such
instance. Other names get REFUSED, unknown names in the zone NXDOMAIN. ``dig @127.0.0.1 -p PORT name``
(UDP) and ``dig +tcp ...`` (TCP: each message with its two-byte length, several per connection, RFC 7766), as a
real server answers both; a malformed query gets FORMERR, an opcode other than QUERY NOTIMP.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket

from .rds_backend import ACCOUNT_ID
from .route53 import HealthState, route53_backend

log = logging.getLogger("kosmos_dr.sandbox.dns")
MAX_CHASE = 8
TCP_IDLE_S = 10  # a TCP client that sends nothing for this long is disconnected (RFC 7766 suggests seconds)
PORT_TRIES = 20  # attempts to find a port free for both UDP and TCP
RDS_SUFFIX = "aaaaaaaaaa"  # the account's endpoint suffix (moto's; on AWS a per-account, per-region hash)
RDS_DOMAIN = "rds.amazonaws.com."
RDS_TTL = 5  # RDS endpoint records have a 5 s TTL (a failover or restore moves them)


def _norm(name: str) -> str:
    return name.lower().rstrip(".") + "."


def _values(record) -> list[str]:
    return [r["Value"] if isinstance(r, dict) else str(r) for r in (record.records or [])]


class ZoneResolver:
    def __init__(self, health: HealthState) -> None:
        self.health = health

    def _zone_for(self, name: str):
        """The most specific zone for ``name``; of zones with the same name, a private one wins (this server
        is the DR VPC's resolver: Route53 Resolver answers from a private zone associated with the VPC)."""
        zones = [z for z in route53_backend().zones.values() if name.endswith(_norm(z.name)) or name == _norm(z.name)]
        return max(zones, key=lambda z: (len(_norm(z.name)), bool(z.private_zone)), default=None)

    def answering(self, name: str) -> list:
        """The record sets Route53 would answer with for ``name`` (failover evaluated)."""
        name = _norm(name)
        zone = self._zone_for(name)
        if zone is None:
            return []
        sets = [r for r in zone.rrsets if _norm(r.name) == name]
        failover = [r for r in sets if r.failover]
        if not failover:
            return sets
        primary = [r for r in failover if r.failover == "PRIMARY"]
        secondary = [r for r in failover if r.failover == "SECONDARY"]
        if primary and self.health.check_healthy(primary[0].health_check_id):
            return primary[:1]
        if secondary and self.health.check_healthy(secondary[0].health_check_id):
            return secondary[:1]
        return (primary or secondary)[:1]  # all unhealthy: Route53 answers the primary

    def soa(self, name: str) -> tuple[str, int, str] | None:
        """(zone name, ttl, value) of the SOA record of the zone holding ``name`` (for negative answers)."""
        zone = self._zone_for(_norm(name))
        if zone is None:
            return None
        for record in zone.rrsets:
            if record.type == "SOA" and _values(record):
                return _norm(zone.name), int(record.ttl or 900), _values(record)[0]
        return None

    def rds_endpoint(self, name: str) -> tuple[bool, str | None]:
        """(is an RDS endpoint name, the address of the instance it names or None): the DB instance
        ``<id>.<RDS_SUFFIX>.<region>.rds.amazonaws.com.`` as RDS reports its endpoint address."""
        name = _norm(name)
        if not name.endswith("." + RDS_DOMAIN):
            return False, None
        parts = name[: -len(RDS_DOMAIN) - 1].split(".")
        if len(parts) != 3 or parts[1] != RDS_SUFFIX:
            return True, None
        identifier, _, region = parts
        from moto.rds.models import rds_backends

        try:
            instance = rds_backends[ACCOUNT_ID][region].databases.get(identifier)
        except Exception:  # noqa: BLE001 - no such region in moto: no such instance
            return True, None
        if instance is None:
            return True, None
        try:
            address = str(ipaddress.ip_address(str(instance.address)))
        except ValueError:
            return True, None  # not a real server (pure moto): nothing answers behind the name
        return True, address

    def resolve(self, name: str, qtype: str) -> tuple[str, list[tuple[str, str, int, str]]]:
        """(rcode, [(name, type, ttl, value)]) following CNAMEs inside the zones."""
        answers = []
        current = _norm(name)
        for _ in range(MAX_CHASE):
            if self._zone_for(current) is None:
                is_rds, address = self.rds_endpoint(current)
                if is_rds:
                    if address is None:
                        return ("NOERROR" if answers else "NXDOMAIN"), answers
                    if qtype in ("A", "ANY"):
                        answers.append((current, "A", RDS_TTL, address))
                    return "NOERROR", answers
                return ("NOERROR" if answers else "REFUSED"), answers
            sets = self.answering(current)
            if not sets:
                return ("NOERROR" if answers else "NXDOMAIN"), answers
            cname = [r for r in sets if r.type == "CNAME"]
            if cname and qtype != "CNAME":
                target = _norm(_values(cname[0])[0])
                answers.append((current, "CNAME", int(cname[0].ttl or 60), target))
                current = target
                continue
            for record in sets:
                if record.type == qtype:
                    answers += [(current, record.type, int(record.ttl or 60), v) for v in _values(record)]
            return "NOERROR", answers
        return "SERVFAIL", answers


def answer(resolver: ZoneResolver, data: bytes) -> bytes:
    """The reply to one DNS message (the same for UDP and TCP)."""
    from dnslib import QTYPE, RCODE, RR, DNSError, DNSRecord

    try:
        request = DNSRecord.parse(data)
    except (DNSError, ValueError, IndexError) as exc:
        if len(data) < 2:
            raise ValueError(f"not a DNS message: {exc}") from exc
        reply = DNSRecord()  # FORMERR, with the query's id
        reply.header.id = int.from_bytes(data[:2], "big")
        reply.header.qr = 1
        reply.header.rcode = RCODE.FORMERR
        return reply.pack()
    reply = request.reply()
    reply.header.aa = 1
    reply.header.ra = 0
    reply.header.ad = 0  # no DNSSEC: nothing is authenticated
    if request.header.opcode != 0 or not request.questions:
        reply.header.aa = 0
        reply.header.rcode = RCODE.NOTIMP if request.header.opcode != 0 else RCODE.FORMERR
        return reply.pack()
    qname, qtype = str(request.q.qname), QTYPE.get(request.q.qtype, str(request.q.qtype))
    rcode, answers = resolver.resolve(qname, qtype)
    reply.header.rcode = getattr(RCODE, rcode)
    if rcode == "REFUSED":
        reply.header.aa = 0
    elif resolver.rds_endpoint(qname)[0]:  # RDS's names: the VPC resolver's recursive answer, not authoritative
        reply.header.aa = 0
        reply.header.ra = 1
    for name, rtype, ttl, value in answers:
        rdata = _rdata(rtype, value)
        if rdata is not None:
            reply.add_answer(RR(name, getattr(QTYPE, rtype), rdata=rdata, ttl=ttl))
    if rcode in ("NXDOMAIN", "NOERROR") and not any(rtype == qtype for _, rtype, _, _ in answers):
        soa = resolver.soa(answers[-1][3] if answers else qname)  # negative answer: the zone's SOA (RFC 2308)
        if soa is not None and (rdata := _rdata("SOA", soa[2])) is not None:
            reply.add_auth(RR(soa[0], QTYPE.SOA, rdata=rdata, ttl=soa[1]))
    return reply.pack()


def _rdata(rtype: str, value: str):
    """dnslib's record data for a Route53 value of ``rtype`` (A, AAAA, CNAME, NS, SOA, TXT, MX), or None."""
    from dnslib import AAAA, CNAME, MX, NS, SOA, TXT, A

    try:
        if rtype == "A":
            return A(value)
        if rtype == "AAAA":
            return AAAA(value)
        if rtype in ("CNAME", "NS"):
            return (CNAME if rtype == "CNAME" else NS)(value)
        if rtype == "TXT":
            return TXT(value.strip('"'))
        if rtype == "MX":
            preference, _, host = value.partition(" ")
            return MX(host, int(preference))
        if rtype == "SOA":
            mname, rname, *times = value.split()
            return SOA(mname, rname, tuple(int(t) for t in times))
    except (ValueError, TypeError) as exc:
        log.warning("cannot serve %s record %r: %s", rtype, value, exc)
    return None


class DnsProtocol(asyncio.DatagramProtocol):
    def __init__(self, resolver: ZoneResolver) -> None:
        self.resolver = resolver
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            self.transport.sendto(self.answer(data), addr)
        except Exception as exc:  # noqa: BLE001 - a malformed packet must not stop the server
            log.warning("DNS query from %s failed: %s", addr, exc)

    def answer(self, data: bytes) -> bytes:
        return answer(self.resolver, data)


async def _serve_tcp(resolver: ZoneResolver, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One TCP connection: length-prefixed messages, answered in order, until the client closes or idles."""
    try:
        while True:
            try:
                size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_S), "big")
                data = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE_S)
            except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                return
            try:
                reply = answer(resolver, data)
            except Exception as exc:  # noqa: BLE001 - a malformed message closes only its connection
                log.warning("DNS query over TCP failed: %s", exc)
                return
            writer.write(len(reply).to_bytes(2, "big") + reply)
            await writer.drain()
    finally:
        writer.close()


class DnsServer:
    def __init__(self, health: HealthState, host: str) -> None:
        self.resolver = ZoneResolver(health)
        self.host = host
        self.port = 0
        self.transport = None
        self.tcp = None

    async def start(self) -> None:
        """Listen on one port for UDP and TCP (a free UDP port whose TCP twin is free too)."""
        loop = asyncio.get_running_loop()
        for attempt in range(PORT_TRIES):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: DnsProtocol(self.resolver), local_addr=(self.host, 0))
            port = transport.get_extra_info("sockname")[1]
            try:
                self.tcp = await asyncio.start_server(
                    lambda r, w: _serve_tcp(self.resolver, r, w), self.host, port, family=socket.AF_INET,
                    reuse_address=True)
            except OSError:
                transport.close()
                if attempt == PORT_TRIES - 1:
                    raise
                continue
            self.transport, self.port = transport, port
            return

    async def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        if self.tcp is not None:
            self.tcp.close()
            await self.tcp.wait_closed()
            self.tcp = None


def query(host: str, port: int, name: str, qtype: str = "A", timeout: float = 2.0,
          tcp: bool = False) -> tuple[str, list[tuple[str, str, str]]]:
    """Resolve through a DNS server (for checks and tests; ``tcp`` for DNS over TCP): (rcode, [(name, type, value)])."""
    from dnslib import QTYPE, RCODE, DNSRecord

    reply = DNSRecord.parse(DNSRecord.question(name, qtype).send(host, port, tcp=tcp, timeout=timeout))
    return RCODE[reply.header.rcode], [
        (str(rr.rname), QTYPE[rr.rtype], str(rr.rdata)) for rr in reply.rr
    ]
