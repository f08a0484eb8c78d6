"""A small authoritative DNS server (UDP, loopback) for the zones moto's Route53 holds.

It answers A and CNAME queries from the records in moto and evaluates failover records the way
Route53 does: the PRIMARY record answers while its health check is healthy (a record without a
health check counts as healthy), else the SECONDARY. Health comes from the sandbox's health state.
It stands for the DR VPC's resolver, so a private zone wins over a public zone of the same name.
Other names get REFUSED, unknown names in the zone NXDOMAIN. ``dig @127.0.0.1 -p PORT name``.
"""

from __future__ import annotations

import asyncio
import logging

from .route53 import HealthState, route53_backend

log = logging.getLogger("kosmos_dr.sandbox.dns")
MAX_CHASE = 8


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

    def resolve(self, name: str, qtype: str) -> tuple[str, list[tuple[str, str, int, str]]]:
        """(rcode, [(name, type, ttl, value)]) following CNAMEs inside the zones."""
        answers = []
        current = _norm(name)
        for _ in range(MAX_CHASE):
            if self._zone_for(current) is None:
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
        from dnslib import CNAME, QTYPE, RCODE, RR, A, DNSRecord

        request = DNSRecord.parse(data)
        reply = request.reply()
        reply.header.aa = 1
        reply.header.ra = 0
        qname, qtype = str(request.q.qname), QTYPE[request.q.qtype]
        rcode, answers = self.resolver.resolve(qname, qtype)
        reply.header.rcode = getattr(RCODE, rcode)
        for name, rtype, ttl, value in answers:
            rdata = CNAME(value) if rtype == "CNAME" else A(value) if rtype == "A" else None
            if rdata is not None:
                reply.add_answer(RR(name, getattr(QTYPE, rtype), rdata=rdata, ttl=ttl))
        return reply.pack()


class DnsServer:
    def __init__(self, health: HealthState, host: str) -> None:
        self.resolver = ZoneResolver(health)
        self.host = host
        self.port = 0
        self.transport = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: DnsProtocol(self.resolver), local_addr=(self.host, 0))
        self.port = self.transport.get_extra_info("sockname")[1]

    async def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


def query(host: str, port: int, name: str, qtype: str = "A", timeout: float = 2.0) -> tuple[str, list[tuple[str, str, str]]]:
    """Resolve through a DNS server (for checks and tests): (rcode, [(name, type, value)])."""
    from dnslib import QTYPE, RCODE, DNSRecord

    reply = DNSRecord.parse(DNSRecord.question(name, qtype).send(host, port, timeout=timeout))
    return RCODE[reply.header.rcode], [
        (str(rr.rname), QTYPE[rr.rtype], str(rr.rdata)) for rr in reply.rr
    ]
