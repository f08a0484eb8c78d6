"""Failover: the Route53 health checks that trigger it (REC-FAILOVER-TRIGGER), where the API's name
points (REC-DNS), and the regional-outage scenario that combines the DR cluster's health with DNS
(SCN-REGIONAL-OUTAGE).

Route53's answer is evaluated from what its API reports, the way Route53 does (PRIMARY while its
health check is healthy, a record without a check counts as healthy, else SECONDARY); what a client
actually gets is resolved separately, through a ``Resolver``: the sandbox's DNS server, or the
system resolver for a real target.
"""

from __future__ import annotations

import concurrent.futures
import socket
from dataclasses import dataclass, field
from datetime import timedelta

from ..clients.aws import call
from ..errors import DRUnverifiable
from ..results import CheckResult, Evidence
from ..timeparse import format_duration

# Route53 considers an endpoint healthy when more than 18 % of its checkers report it healthy.
HEALTHY_FRACTION = 0.18
MIN_CHECKER_REGIONS = 2
DEFAULT_CHECKER_REGIONS = 8  # Route53's default when a check names no regions


def _norm(name: str) -> str:
    return name.lower().rstrip(".") + "."


# -- Route53 data ---------------------------------------------------------------------------------------
@dataclass
class Route53View:
    """The API name's record sets and the health checks (config and status) they use."""

    zone_name: str
    zone_id: str
    api_name: str
    records: list[dict]
    checks: dict[str, dict] = field(default_factory=dict)  # id -> HealthCheck
    statuses: dict[str, list[dict]] = field(default_factory=dict)  # id -> HealthCheckObservations

    def failover(self, role: str) -> dict | None:
        return next((r for r in self.records if r.get("Failover") == role), None)

    @property
    def asked(self) -> str:
        return (f"aws route53 list-resource-record-sets --hosted-zone-id {self.zone_id} --query "
                f"\"ResourceRecordSets[?Name=='{self.api_name}']\"; aws route53 get-health-check "
                "--health-check-id <id>; aws route53 get-health-check-status --health-check-id <id>")


def route53_view(route53, zone_name: str, api_name: str, with_status: bool = True) -> Route53View:
    """One look at the hosted zone: the API name's records (paginated from that name on), their checks."""
    zone_name, api_name = _norm(zone_name), _norm(api_name)
    zones = call(f"Route53 ListHostedZonesByName {zone_name}", route53.list_hosted_zones_by_name,
                 DNSName=zone_name, MaxItems="1")["HostedZones"]
    zone = next((z for z in zones if _norm(z["Name"]) == zone_name), None)
    if zone is None:
        raise DRUnverifiable(f"Route53 hosted zone {zone_name}", "not found in this account",
                             "check aws.hosted_zone and the AWS profile")
    zone_id = zone["Id"].split("/")[-1]

    def records_of_name():
        found = []
        for page in route53.get_paginator("list_resource_record_sets").paginate(
                HostedZoneId=zone_id, StartRecordName=api_name):
            for record in page["ResourceRecordSets"]:
                if _norm(record["Name"]) == api_name:
                    found.append(record)
                elif found:  # records come sorted by name: the API name's sets are contiguous
                    return found
        return found

    records = call(f"Route53 ListResourceRecordSets {api_name}", records_of_name)
    view = Route53View(zone_name, zone_id, api_name, records)
    pending = [r["HealthCheckId"] for r in records if r.get("HealthCheckId")]
    while pending:
        check_id = pending.pop()
        if check_id in view.checks:
            continue
        check = call(f"Route53 GetHealthCheck {check_id}", route53.get_health_check, HealthCheckId=check_id)["HealthCheck"]
        view.checks[check_id] = check
        pending += check["HealthCheckConfig"].get("ChildHealthChecks") or []
    if with_status:
        for check_id, check in view.checks.items():
            if check["HealthCheckConfig"].get("Type") == "CALCULATED":
                continue  # Route53 reports no observations for calculated checks
            view.statuses[check_id] = call(f"Route53 GetHealthCheckStatus {check_id}", route53.get_health_check_status,
                                           HealthCheckId=check_id)["HealthCheckObservations"]
    return view


def _target(record: dict) -> tuple[str | None, list[str]]:
    """(name it points at, addresses it holds) of a record set."""
    if record.get("AliasTarget"):
        return _norm(record["AliasTarget"]["DNSName"]), []
    values = [r["Value"] for r in record.get("ResourceRecords") or []]
    if record.get("Type") == "CNAME" and values:
        return _norm(values[0]), []
    return None, values


def _describe_target(record: dict | None) -> str:
    if record is None:
        return "none"
    name, addresses = _target(record)
    return name or ", ".join(addresses) or "?"


# -- REC-FAILOVER-TRIGGER -------------------------------------------------------------------------------
def _check_label(check: dict) -> str:
    cfg = check["HealthCheckConfig"]
    target = cfg.get("FullyQualifiedDomainName") or cfg.get("IPAddress") or cfg.get("Type")
    return f"health check {check['Id'][:8]} ({target})"


def _check_problems(view: Route53View, check_id: str, trigger: timedelta, lines: list[str],
                    detections: list[float]) -> list[str]:
    check = view.checks[check_id]
    cfg = check["HealthCheckConfig"]
    label = _check_label(check)
    kind = cfg.get("Type")
    problems = []
    if cfg.get("Disabled"):
        problems.append(f"{label} is disabled: Route53 treats the endpoint as healthy and never fails over")
    if cfg.get("Inverted"):
        problems.append(f"{label} is inverted: it reports the endpoint healthy when it is down")
    if kind == "CALCULATED":
        children = cfg.get("ChildHealthChecks") or []
        lines.append(f"{label}: CALCULATED from {len(children)} checks, healthy when >= {cfg.get('HealthThreshold')}")
        if not children:
            problems.append(f"{label} is CALCULATED from no child checks")
        for child in children:
            problems += _check_problems(view, child, trigger, lines, detections)
        return problems
    if kind == "CLOUDWATCH_METRIC":
        raise DRUnverifiable(label, "its failover time is set by a CloudWatch alarm, which this check does not read",
                             "check the alarm's period x evaluation periods by hand")
    interval = int(cfg.get("RequestInterval") or 30)
    threshold = int(cfg.get("FailureThreshold") or 3)
    detection = interval * threshold
    detections.append(detection)
    regions = cfg.get("Regions") or []
    region_count = len(regions) or DEFAULT_CHECKER_REGIONS
    lines.append(f"{label}: {interval} s x {threshold} = {detection} s; checker regions "
                 f"{', '.join(regions) or 'Route53 default (all)'}")
    if detection > trigger.total_seconds():
        problems.append(f"{label}: {interval} s x {threshold} = {format_duration(detection)}")
    if region_count < MIN_CHECKER_REGIONS:
        problems.append(f"{label} checks from {region_count} region ({', '.join(regions)}), need {MIN_CHECKER_REGIONS}")
    return problems


def failover_trigger(view: Route53View, trigger: timedelta) -> CheckResult:
    """REC-FAILOVER-TRIGGER: the failover records' health checks fail over within the trigger time
    (request interval x failure threshold) and watch from several regions; the PRIMARY has one."""
    cid = "REC-FAILOVER-TRIGGER"
    offenders: list[str] = []
    lines: list[str] = []
    detections: list[float] = []
    failover = [r for r in view.records if r.get("Failover")]
    for record in failover:
        check_id = record.get("HealthCheckId")
        lines.append(f"{record['Failover']} record {record.get('SetIdentifier')} -> {_describe_target(record)}: "
                     f"health check {check_id or 'none'}")
    if view.failover("PRIMARY") is None:
        offenders.append(f"{view.api_name} has no PRIMARY failover record ({len(view.records)} record sets)")
    elif not view.failover("PRIMARY").get("HealthCheckId"):
        offenders.append(f"the PRIMARY record ({_describe_target(view.failover('PRIMARY'))}) has no health check: "
                         "nothing watches the primary, Route53 never fails over")
    if view.failover("SECONDARY") is None:
        offenders.append(f"{view.api_name} has no SECONDARY failover record")
    for record in failover:
        if record.get("HealthCheckId"):
            offenders += _check_problems(view, record["HealthCheckId"], trigger, lines, detections)
    evidence = [Evidence("failover records and health checks", view.asked, "\n".join(lines))]
    slowest = max(detections, default=None)
    measured = None if slowest is None else timedelta(seconds=slowest)
    if offenders:
        return CheckResult(cid, False, "; ".join(offenders) + f" (limit: fail over within {format_duration(trigger)}, "
                           f"checked from >= {MIN_CHECKER_REGIONS} regions)", measured=measured, limit=trigger,
                           offenders=offenders, evidence=evidence)
    return CheckResult(cid, True, f"{len(detections)} health checks on {view.api_name} fail over within "
                       f"{format_duration(slowest)} (interval x threshold), limit {format_duration(trigger)}; each "
                       f"checked from >= {MIN_CHECKER_REGIONS} regions", measured=measured, limit=trigger,
                       evidence=evidence)


# -- resolving a name -----------------------------------------------------------------------------------
@dataclass
class Resolved:
    names: list[str]  # the name and the CNAME chain it followed
    addresses: list[str]
    error: str | None = None  # the resolver answered, negatively (NXDOMAIN, SERVFAIL ...)


class ServerResolver:
    """Asks one DNS server directly (the sandbox's, or a target's resolver) over UDP."""

    def __init__(self, host: str, port: int, timeout: timedelta) -> None:
        self.host, self.port, self.timeout = host, int(port), timeout.total_seconds()
        self.describe = f"DNS server {self.host}:{self.port}"
        self.command = f"dig @{self.host} -p {self.port} +short"

    def resolve(self, name: str) -> Resolved:
        from dnslib import QTYPE, RCODE, DNSRecord

        try:
            packet = DNSRecord.question(_norm(name), "A").send(self.host, self.port, timeout=self.timeout)
            reply = DNSRecord.parse(packet)
        except (OSError, socket.timeout) as exc:
            raise DRUnverifiable(f"resolving {name} through {self.describe}", str(exc) or type(exc).__name__) from None
        except Exception as exc:  # noqa: BLE001 - a malformed answer
            raise DRUnverifiable(f"resolving {name} through {self.describe}", f"unreadable answer: {exc}") from None
        rcode = RCODE[reply.header.rcode]
        names = [_norm(name)] + [_norm(str(rr.rdata)) for rr in reply.rr if QTYPE[rr.rtype] == "CNAME"]
        addresses = [str(rr.rdata) for rr in reply.rr if QTYPE[rr.rtype] == "A"]
        return Resolved(names, addresses, None if rcode == "NOERROR" and addresses else
                        f"{rcode}{'' if addresses else ', no address'}")


class SystemResolver:
    """What this machine's clients get: ``getaddrinfo`` (resolv.conf / nsswitch), bounded by a timeout."""

    describe = "the system resolver (getaddrinfo)"
    command = "getent ahostsv4"

    def __init__(self, timeout: timedelta) -> None:
        self.timeout = timeout.total_seconds()

    def resolve(self, name: str) -> Resolved:
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        future = pool.submit(socket.getaddrinfo, name.rstrip("."), None, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
                             socket.AI_CANONNAME)
        try:
            infos = future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            raise DRUnverifiable(f"resolving {name}", f"no answer from the system resolver within {self.timeout:g} s") from None
        except socket.gaierror as exc:
            if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
                return Resolved([_norm(name)], [], f"does not resolve ({exc.strerror})")
            raise DRUnverifiable(f"resolving {name}", f"system resolver: {exc.strerror}") from None
        finally:
            pool.shutdown(wait=False)
        canonical = next((info[3] for info in infos if info[3]), "")
        names = [_norm(name)] + ([_norm(canonical)] if canonical and _norm(canonical) != _norm(name) else [])
        addresses = sorted({info[4][0] for info in infos})
        return Resolved(names, addresses)


def resolver_for(sandbox_state: dict | None, timeout: timedelta):
    """The sandbox's DNS server when there is one, else the system resolver."""
    dns = (sandbox_state or {}).get("dns")
    if dns:
        return ServerResolver(dns["host"], dns["port"], timeout)
    return SystemResolver(timeout)


# -- REC-DNS ------------------------------------------------------------------------------------------
def _healthy(view: Route53View, check_id: str | None) -> tuple[bool, str]:
    """Route53's view of one record's health, from the health check's config and checker observations."""
    if not check_id:
        return True, "no health check, counts as healthy"
    cfg = view.checks[check_id]["HealthCheckConfig"]
    if cfg.get("Disabled"):
        return True, "health check disabled, counts as healthy"
    if cfg.get("Type") == "CALCULATED":
        children = [_healthy(view, c)[0] for c in cfg.get("ChildHealthChecks") or []]
        ok = sum(children) >= int(cfg.get("HealthThreshold") or 0)
        detail = f"calculated: {sum(children)}/{len(children)} children healthy"
    else:
        observations = view.statuses.get(check_id) or []
        good = sum(1 for o in observations if o["StatusReport"]["Status"].startswith("Success"))
        ok = not observations or good / len(observations) > HEALTHY_FRACTION
        detail = f"{good}/{len(observations)} checkers report healthy" if observations else "no observations yet"
    if cfg.get("Inverted"):
        return not ok, detail + ", inverted"
    return ok, detail


def answering_record(view: Route53View) -> tuple[dict | None, list[str]]:
    """The failover record Route53 answers with, and why."""
    primary, secondary = view.failover("PRIMARY"), view.failover("SECONDARY")
    notes = []
    if primary is not None:
        ok, why = _healthy(view, primary.get("HealthCheckId"))
        notes.append(f"PRIMARY -> {_describe_target(primary)}: {'healthy' if ok else 'unhealthy'} ({why})")
        if ok:
            return primary, notes
    if secondary is not None:
        ok, why = _healthy(view, secondary.get("HealthCheckId"))
        notes.append(f"SECONDARY -> {_describe_target(secondary)}: {'healthy' if ok else 'unhealthy'} ({why})")
        if ok:
            return secondary, notes
    chosen = primary or secondary
    if chosen is not None:
        notes.append("all unhealthy: Route53 answers the PRIMARY")
    return chosen, notes


def _endpoint(resolver, record: dict | None) -> tuple[str | None, set[str]]:
    if record is None:
        return None, set()
    name, addresses = _target(record)
    if name:
        return name, set(resolver.resolve(name).addresses)
    return None, set(addresses)


def dns_on_secondary(view: Route53View, resolver) -> CheckResult:
    """REC-DNS: the failover record answering for the API name is the SECONDARY, and what a client
    resolves for the name is the secondary's endpoint (not the primary's)."""
    cid = "REC-DNS"
    api = view.api_name
    secondary_record, primary_record = view.failover("SECONDARY"), view.failover("PRIMARY")
    answering, notes = answering_record(view)
    resolved = resolver.resolve(api)
    secondary_name, secondary_addresses = _endpoint(resolver, secondary_record)
    primary_name, primary_addresses = _endpoint(resolver, primary_record)
    got = set(resolved.addresses)
    chain = " -> ".join(resolved.names[1:] + [", ".join(resolved.addresses) or "-"])
    resolution_lines = [f"{api} -> {chain}" + (f" ({resolved.error})" if resolved.error else ""),
                        f"secondary endpoint {secondary_name or '-'} -> {', '.join(sorted(secondary_addresses)) or '-'}",
                        f"primary endpoint {primary_name or '-'} -> {', '.join(sorted(primary_addresses)) or '-'}"]
    evidence = [Evidence("Route53 failover evaluation", view.asked, "\n".join(notes) or "no failover records"),
                Evidence(f"resolution through {resolver.describe}",
                         f"{resolver.command} {api}; {resolver.command} {secondary_name or ''}; "
                         f"{resolver.command} {primary_name or ''}", "\n".join(resolution_lines))]
    offenders = []
    if secondary_record is None:
        offenders.append(f"{api} has no SECONDARY failover record")
    elif answering is not secondary_record:
        why = next((n.split(": ", 1)[1] for n in notes if answering and n.startswith(answering.get("Failover", "?"))), "")
        offenders.append(f"Route53 answers the {answering.get('Failover') if answering else 'no'} record "
                         f"({_describe_target(answering)}{': ' + why if why else ''}), not the SECONDARY "
                         f"({_describe_target(secondary_record)})")
    at_secondary = (secondary_name in resolved.names) or bool(got & secondary_addresses and not got & primary_addresses)
    at_primary = (primary_name is not None and primary_name in resolved.names) or bool(got & primary_addresses)
    where = f"{chain} through {resolver.describe}"
    if resolved.error:
        offenders.append(f"{api} {resolved.error} through {resolver.describe}")
    elif at_primary or not at_secondary:
        expected = secondary_name or ", ".join(sorted(secondary_addresses)) or "?"
        offenders.append(f"{api} resolves to {where}, expected the secondary endpoint {expected} "
                         f"({', '.join(sorted(secondary_addresses)) or '-'})")
    measured = {"answering": (answering or {}).get("Failover"), "resolved": resolved.names[1:] + resolved.addresses}
    if offenders:
        return CheckResult(cid, False, "; ".join(offenders), measured=measured, limit="SECONDARY",
                           offenders=offenders, evidence=evidence)
    return CheckResult(cid, True, f"Route53 answers the SECONDARY record for {api}; the name resolves to {where}, the "
                       "secondary endpoint", measured=measured, limit="SECONDARY", evidence=evidence)


# -- SCN-REGIONAL-OUTAGE ------------------------------------------------------------------------------
def regional_outage(parts: list[CheckResult]) -> CheckResult:
    """SCN-REGIONAL-OUTAGE: every part (DR nodes, DR pods, DNS on the secondary) passed; the summary
    names the parts that did not."""
    cid = "SCN-REGIONAL-OUTAGE"
    failed = [p for p in parts if not p.passed]
    evidence = [Evidence(f"{p.criterion}: {'passed' if p.passed else 'FAILED'} - {e.title}", e.asked, e.answer)
                for p in parts for e in p.evidence]
    measured = {p.criterion: "passed" if p.passed else "failed" for p in parts}
    if failed:
        return CheckResult(cid, False, "the secondary region does not serve: " + "; ".join(
            f"{p.criterion} failed: {p.summary}" for p in failed), measured=measured, limit="all parts pass",
            offenders=[p.criterion for p in failed], evidence=evidence)
    return CheckResult(cid, True, "the secondary region serves: " + "; ".join(f"{p.criterion}: {p.summary}" for p in parts),
                       measured=measured, limit="all parts pass", evidence=evidence)
