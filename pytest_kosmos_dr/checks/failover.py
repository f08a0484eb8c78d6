"""Failover: the Route53 health checks that trigger it (REC-FAILOVER-TRIGGER), where the API's name
points (REC-DNS), and the regional-outage scenario that combines the DR cluster's health with DNS
(SCN-REGIONAL-OUTAGE).

Route53's answer is evaluated from what its API reports, the way Route53 does (PRIMARY while its
health check is healthy, a record without a check counts as healthy, else SECONDARY); what a client
actually gets is resolved separately, through a ``Resolver``: the sandbox's DNS server, or the
system resolver for a real target.

Route53's API (its control plane) is served from us-east-1, its DNS answers (the data plane) from
everywhere. When us-east-1 is lost, ``route53_look`` returns a ``ControlPlaneDown`` instead of a view:
REC-DNS (a recovery criterion) is then judged from DNS alone, against the configured secondary
endpoint name; REC-FAILOVER-TRIGGER (preparedness: the health checks' configuration is readable only
through the API) is not verifiable while that region is down.
"""

from __future__ import annotations

import concurrent.futures
import functools
import socket
from dataclasses import dataclass, field, replace
from datetime import timedelta

from ..clients.aws import call
from ..clients.kube import concurrently
from ..errors import DRUnverifiable, RegionDown
from ..results import CheckResult, Evidence
from ..target import AwsSettings
from ..timeparse import format_duration

# Route53 considers an endpoint healthy when more than 18 % of its checkers report it healthy.
HEALTHY_FRACTION = 0.18
DEFAULT_CHECKER_REGIONS = 8  # Route53's default when a check names no regions


def _norm(name: str) -> str:
    return name.lower().rstrip(".") + "."


def regional_endpoint(api_name: str, region: str, zone: str = "") -> str:
    """The API's endpoint name in ``region`` by the plan's naming, ``<api label>.<region>.<zone>``:
    ``api.kosmos.internal.`` -> ``api.us-west-2.kosmos.internal.``. ``zone`` (the hosted zone) splits
    the record's own labels from the zone's; without it, the record's first label is its own."""
    name = _norm(api_name)
    zone = _norm(zone) if zone else ""
    if zone and name.endswith("." + zone) and name != zone:
        return f"{name[:-len(zone) - 1]}.{region}.{zone}"
    label, _, rest = name.partition(".")
    return f"{label}.{region}.{rest}"


def api_endpoint(aws: AwsSettings, role: str) -> str:
    """The API's endpoint name in the ``secondary``/``primary`` region: the target's
    ``aws.<role>_api_endpoint``, else ``<api label>.<region>.<hosted zone>``."""
    return getattr(aws, f"{role}_api_endpoint") or regional_endpoint(aws.api_record, getattr(aws, f"{role}_region"),
                                                                      aws.hosted_zone)


# The target's defaults: where REC-DNS expects the API name to lead when it can only ask DNS, and how
# many regions a health check must be judged from (aws.min_checker_regions).
_AWS = AwsSettings()
DEFAULT_SECONDARY_ENDPOINT = api_endpoint(_AWS, "secondary")
DEFAULT_PRIMARY_ENDPOINT = api_endpoint(_AWS, "primary")


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
    private: bool = False
    # other hosted zones of the same name (split horizon: a private zone answers the VPCs it is
    # associated with instead of the public one); they share ``checks`` and ``statuses``
    shadows: list["Route53View"] = field(default_factory=list)

    def failover(self, role: str) -> dict | None:
        return next((r for r in self.records if r.get("Failover") == role), None)

    @property
    def label(self) -> str:
        return f"{'private' if self.private else 'public'} hosted zone {self.zone_name} ({self.zone_id})"

    @property
    def asked(self) -> str:
        return (f"aws route53 list-resource-record-sets --hosted-zone-id {self.zone_id} --query "
                f"\"ResourceRecordSets[?Name=='{self.api_name}']\"; aws route53 get-health-check "
                "--health-check-id <id>; aws route53 get-health-check-status --health-check-id <id>")


def _health_checks(route53, record_checks: list[str], with_status: bool = False) -> tuple[dict[str, dict], dict]:
    """Every health check the records name, and their child checks: each level's checks read at once
    (a round trip per level, not per check); the first one that fails, in listing order, raises. With
    ``with_status``, each check's checker observations are asked in the same round trip as its config (not
    one more after it): (configs, observations by check; None where that answer is not there to use, e.g. a
    calculated check's, which Route53 refuses)."""
    fetched: dict[str, dict] = {}
    observed: dict[str, list | None] = {}
    level = list(dict.fromkeys(reversed(record_checks)))
    while level:
        reads = [functools.partial(call, f"Route53 GetHealthCheck {i}", route53.get_health_check, HealthCheckId=i)
                 for i in level]
        if with_status:
            reads += [functools.partial(_observations_if_answered, route53, i) for i in level]
        found = concurrently(reads)
        fetched.update((i, answer["HealthCheck"]) for i, answer in zip(level, found))
        observed.update(zip(level, found[len(level):]))
        level = list(dict.fromkeys(child for i in level for child in reversed(
            fetched[i]["HealthCheckConfig"].get("ChildHealthChecks") or []) if child not in fetched))
    return fetched, observed


def _observations_if_answered(route53, check_id: str) -> list | None:
    """A health check's observations asked before its type is known; None when the answer is an error (Route53
    refuses a calculated check's status; any other error is met again by asking once the check is known)."""
    try:
        return route53.get_health_check_status(HealthCheckId=check_id)["HealthCheckObservations"]
    except Exception:  # noqa: BLE001 - see above: asked again, with its error, where it matters
        return None


def route53_view(route53, zone_name: str, api_name: str, with_status: bool = True) -> Route53View:
    """One look at every hosted zone of that name: the API name's records (paginated from that name on) and
    their checks. The zone holding the failover records is the view; the others are its ``shadows``."""
    zone_name, api_name = _norm(zone_name), _norm(api_name)
    zones = call(f"Route53 ListHostedZonesByName {zone_name}", route53.list_hosted_zones_by_name,
                 DNSName=zone_name, MaxItems="100")["HostedZones"]
    zones = [z for z in zones if _norm(z["Name"]) == zone_name]
    if not zones:
        raise DRUnverifiable(f"Route53 hosted zone {zone_name}", "not found in this account",
                             "check aws.hosted_zone and the AWS profile")

    def records_of_name(zone_id):
        found = []
        for page in route53.get_paginator("list_resource_record_sets").paginate(
                HostedZoneId=zone_id, StartRecordName=api_name):
            for record in page["ResourceRecordSets"]:
                if _norm(record["Name"]) == api_name:
                    found.append(record)
                elif found:  # records come sorted by name: the API name's sets are contiguous
                    return found
        return found

    views = []
    for zone in zones:
        zone_id = zone["Id"].split("/")[-1]
        records = call(f"Route53 ListResourceRecordSets {api_name} ({zone_id})", records_of_name, zone_id)
        views.append(Route53View(zone_name, zone_id, api_name, records,
                                 private=bool((zone.get("Config") or {}).get("PrivateZone"))))
    view = next((v for v in views if v.failover("SECONDARY")), None) or next(
        (v for v in views if any(r.get("Failover") for r in v.records)), views[0])
    view.shadows = [v for v in views if v is not view]
    pending = [r["HealthCheckId"] for v in views for r in v.records if r.get("HealthCheckId")]
    fetched, early = _health_checks(route53, pending, with_status)
    while pending:  # the checks in the order they were always listed (records last to first, children after)
        check_id = pending.pop()
        if check_id in view.checks:
            continue
        check = fetched[check_id]
        view.checks[check_id] = check
        pending += check["HealthCheckConfig"].get("ChildHealthChecks") or []
    if with_status:
        observed = [i for i, c in view.checks.items() if c["HealthCheckConfig"].get("Type") != "CALCULATED"]
        # (Route53 reports no observations for calculated checks)
        again = [i for i in observed if early.get(i) is None]
        asked = concurrently([functools.partial(call, f"Route53 GetHealthCheckStatus {i}",
                                                route53.get_health_check_status, HealthCheckId=i) for i in again])
        early.update((i, status["HealthCheckObservations"]) for i, status in zip(again, asked))
        view.statuses.update((i, early[i]) for i in observed)
    for shadow in view.shadows:
        shadow.checks, shadow.statuses = view.checks, view.statuses
    return view


@dataclass
class ControlPlaneDown:
    """Route53's control plane could not be read: the region serving its API is down (``error``).
    Stands in for the view; REC-DNS is then judged from DNS alone."""

    zone_name: str
    api_name: str
    error: RegionDown

    @property
    def region_down(self) -> RegionDown:
        """A fresh copy of the error (one per test that reports it)."""
        return RegionDown(self.error.region, self.error.what, self.error.reason)


def route53_look(route53, zone_name: str, api_name: str, with_status: bool = True) -> "Route53View | ControlPlaneDown":
    """``route53_view``, or ``ControlPlaneDown`` when Route53's API answers the way a lost region does."""
    try:
        return route53_view(route53, zone_name, api_name, with_status)
    except RegionDown as exc:
        return ControlPlaneDown(_norm(zone_name), _norm(api_name), exc)


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


def _watch_problem(check: dict, record: dict) -> str | None:
    """A health check on a record must watch that record's endpoint: a check on another endpoint stays
    healthy while the record's endpoint is down (or the other way round), so failover follows the wrong thing."""
    cfg = check["HealthCheckConfig"]
    name, addresses = _target(record)
    watched_name = cfg.get("FullyQualifiedDomainName")
    watched_ip = cfg.get("IPAddress")
    role = record.get("Failover") or "the"
    if watched_ip and addresses and watched_ip not in addresses:
        return (f"{_check_label(check)} on the {role} record watches {watched_ip}, but the record answers "
                f"{', '.join(addresses)}")
    if watched_name and not watched_ip and name and _norm(watched_name) != name:
        return (f"{_check_label(check)} on the {role} record watches {_norm(watched_name)}, but the record points "
                f"at {name}")
    return None


def _check_problems(view: Route53View, check_id: str, trigger: timedelta, lines: list[str],
                    detections: list[float], record: dict | None = None,
                    min_regions: int = _AWS.min_checker_regions) -> list[str]:
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
        threshold = cfg.get("HealthThreshold")
        lines.append(f"{label}: CALCULATED from {len(children)} checks, healthy when >= {threshold}")
        if not children:
            problems.append(f"{label} is CALCULATED from no child checks")
        elif threshold is None or int(threshold) < 1:
            problems.append(f"{label} is healthy when {threshold or 0} of its {len(children)} child checks are: "
                            "always healthy, Route53 never fails over")
        elif int(threshold) > len(children):
            problems.append(f"{label} needs {threshold} healthy child checks of {len(children)}: never healthy")
        for child in children:
            problems += _check_problems(view, child, trigger, lines, detections, min_regions=min_regions)
        return problems
    if kind == "CLOUDWATCH_METRIC":
        raise DRUnverifiable(label, "its failover time is set by a CloudWatch alarm, which this check does not read",
                             "check the alarm's period x evaluation periods by hand")
    if record is not None:
        wrong = _watch_problem(check, record)
        if wrong:
            problems.append(wrong)
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
    if region_count < min_regions:
        problems.append(f"{label} checks from {region_count} region{'s' if region_count != 1 else ''} "
                        f"({', '.join(regions) or 'Route53 default'}), need {min_regions}")
    return problems


def failover_trigger(view: Route53View, *, trigger: timedelta,
                     min_regions: int = _AWS.min_checker_regions) -> CheckResult:
    """REC-FAILOVER-TRIGGER: the failover records' health checks watch the records' own endpoints, fail over
    within the trigger time (request interval x failure threshold) and watch from at least ``min_regions``
    regions (aws.min_checker_regions); the PRIMARY has one."""
    if min_regions is None or min_regions < 1:
        raise DRUnverifiable("REC-FAILOVER-TRIGGER", f"aws.min_checker_regions is {min_regions!r}: no number of "
                             "checker regions to require", "set aws.min_checker_regions to 1 or more")
    if view is None:
        raise DRUnverifiable("Route53 failover records", "no look at the hosted zone was made")
    if isinstance(view, ControlPlaneDown):  # health checks are configured and read only through the API
        raise view.region_down
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
            if record["HealthCheckId"] not in view.checks:
                raise DRUnverifiable(f"Route53 health check {record['HealthCheckId']}", "not read with the records")
            offenders += _check_problems(view, record["HealthCheckId"], trigger, lines, detections, record,
                                         min_regions)
    evidence = [Evidence("failover records and health checks", view.asked, "\n".join(lines))]
    slowest = max(detections, default=None)
    measured = None if slowest is None else timedelta(seconds=slowest)
    if not offenders and not detections:
        offenders.append(f"no endpoint health check on the failover records of {view.api_name}: nothing measures "
                         "the primary")
    if offenders:
        return CheckResult(False, "; ".join(offenders) + f" (limit: fail over within {format_duration(trigger)}, "
                           f"checked from >= {min_regions} regions)", measured=measured, limit=trigger,
                           offenders=offenders, evidence=evidence)
    return CheckResult(True, f"{len(detections)} health checks on {view.api_name} watch their records' endpoints "
                       f"and fail over within {format_duration(slowest)} (interval x threshold), limit "
                       f"{format_duration(trigger)}; each checked from >= {min_regions} regions",
                       measured=measured, limit=trigger, evidence=evidence)


# -- resolving a name -----------------------------------------------------------------------------------
@dataclass
class Resolved:
    names: list[str]  # the name and the CNAME chain it followed
    addresses: list[str]
    error: str | None = None  # the resolver answered, negatively (NXDOMAIN, SERVFAIL ...)
    ttls: list[int] = field(default_factory=list)  # TTLs of the answer's records, where the resolver reports them


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
        ttls = [int(rr.ttl) for rr in reply.rr if QTYPE[rr.rtype] in ("CNAME", "A")]
        return Resolved(names, addresses, None if rcode == "NOERROR" and addresses else
                        f"{rcode}{'' if addresses else ', no address'}", ttls)


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


class EarlyAnswers:
    """A resolver whose answers for some names were asked for before they were needed (``early``: name ->
    started read, e.g. the API name while Route53 is still being looked at): ``resolve`` hands each such
    answer out once (its error raised then, where asking now would have raised it); other names are asked now."""

    def __init__(self, resolver, early: dict) -> None:
        self._resolver = resolver
        self._early = {_norm(name): read for name, read in early.items() if read is not None}
        self.describe, self.command = resolver.describe, resolver.command

    def resolve(self, name: str) -> Resolved:
        read = self._early.pop(_norm(name), None)
        return read.result() if read is not None else self._resolver.resolve(name)


def resolver_for(sandbox_state, timeout: timedelta):
    """The sandbox's DNS server when there is one (``sandbox_state``: the environment's ``SandboxState``,
    None for an estate), else the system resolver."""
    dns = getattr(sandbox_state, "dns", None)
    if dns is not None:
        return ServerResolver(dns.host, dns.port, timeout)
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


def _same_endpoint(a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return False
    (name_a, addresses_a), (name_b, addresses_b) = _target(a), _target(b)
    return (name_a is not None and name_a == name_b) or bool(set(addresses_a) & set(addresses_b))


def _zone_answer(view: Route53View) -> dict | None:
    """The record set a zone answers the API name with: failover evaluated, else its one record."""
    if any(r.get("Failover") for r in view.records):
        return answering_record(view)[0]
    return next((r for r in view.records if r.get("Type") in ("CNAME", "A", "AAAA")), None)


def _ttl_problems(view: Route53View, max_ttl: timedelta) -> list[str]:
    """Resolvers keep an answer for its TTL: the primary's answer, cached before the switch, outlives the
    switch by up to the PRIMARY record's TTL (and the secondary's, on failing back)."""
    problems = []
    for record in view.records:
        ttl = record.get("TTL")
        if record.get("Failover") and ttl is not None and int(ttl) > max_ttl.total_seconds():
            problems.append(f"the {record['Failover']} record ({_describe_target(record)}) has TTL {int(ttl)} s: "
                            f"resolvers keep its answer up to {format_duration(timedelta(seconds=int(ttl)))} after "
                            f"the switch, limit {format_duration(max_ttl)}")
    return problems


def _dns_from_data_plane(down: ControlPlaneDown, resolver, max_ttl: timedelta, secondary_endpoint: str,
                         primary_endpoint: str | None) -> CheckResult:
    """REC-DNS with Route53's API lost: what a client resolves for the API name must lead to the configured
    secondary endpoint (by its name in the CNAME chain, or by its addresses) and to none of the primary
    endpoint's addresses; the two endpoints must not share an address; the answer's TTL (where the resolver
    reports it) lets clients follow within ``max_ttl``."""
    api = down.api_name
    secondary = _norm(secondary_endpoint)
    primary = _norm(primary_endpoint) if primary_endpoint else None
    if secondary == primary:
        raise DRUnverifiable("REC-DNS from DNS alone", f"the secondary endpoint {secondary} is the primary's too",
                             "configure the DR region's API endpoint name")
    how = (f"Route53's control plane was unreachable ({down.error.region} is down: {down.error.reason}), judged "
           "from DNS alone")
    resolved, at_secondary_side, at_primary_side = concurrently([  # independent lookups: one round trip
        functools.partial(resolver.resolve, api), functools.partial(resolver.resolve, secondary),
        functools.partial(resolver.resolve, primary) if primary else lambda: Resolved([], [])])
    got, secondary_addresses = set(resolved.addresses), set(at_secondary_side.addresses)
    primary_addresses = set(at_primary_side.addresses)
    chain = " -> ".join(resolved.names[1:] + [", ".join(resolved.addresses) or "-"])
    where = f"{chain} through {resolver.describe}"
    offenders = []
    if resolved.error:
        offenders.append(f"{api} {resolved.error} through {resolver.describe}")
    elif (primary and primary in resolved.names) or got & primary_addresses:
        offenders.append(f"{api} resolves to {where}: the primary endpoint {primary} "
                         f"({', '.join(sorted(primary_addresses)) or '-'}), in the lost region; expected the "
                         f"secondary endpoint {secondary}")
    elif not (secondary in resolved.names or (got and got <= secondary_addresses)):
        offenders.append(f"{api} resolves to {where}, not the secondary endpoint {secondary} "
                         f"({', '.join(sorted(secondary_addresses)) or at_secondary_side.error or '-'})")
    shared = secondary_addresses & primary_addresses
    if shared:
        offenders.append(f"the secondary endpoint {secondary} resolves to the primary's address "
                         f"{', '.join(sorted(shared))} ({primary}): the DR name leads to the lost region")
    ttl = max(resolved.ttls, default=None)
    if ttl is not None and ttl > max_ttl.total_seconds():
        offenders.append(f"the answer for {api} has TTL {ttl} s: resolvers keep it up to "
                         f"{format_duration(timedelta(seconds=ttl))} after a switch, limit {format_duration(max_ttl)}")
    ttl_note = (f"TTL {ttl} s, within {format_duration(max_ttl)}" if ttl is not None
                else f"TTL not reported by {resolver.describe}, not judged")
    lines = [f"{api} -> {chain}" + (f" ({resolved.error})" if resolved.error else "")
             + (f" TTL {', '.join(map(str, resolved.ttls))}" if resolved.ttls else ""),
             f"secondary endpoint {secondary} -> {', '.join(sorted(secondary_addresses)) or at_secondary_side.error or '-'}",
             f"primary endpoint {primary or '(not configured)'} -> "
             f"{', '.join(sorted(primary_addresses)) or at_primary_side.error or '-'}"]
    evidence = [Evidence("Route53 control plane", f"aws route53 list-hosted-zones-by-name --dns-name {down.zone_name}",
                         f"{down.error}\nfailover records, health checks and other hosted zones not read"),
                Evidence(f"resolution through {resolver.describe} (DNS alone)",
                         f"{resolver.command} {api}; {resolver.command} {secondary}; {resolver.command} {primary or ''}",
                         "\n".join(lines))]
    measured = {"answering": None, "resolved": resolved.names[1:] + resolved.addresses, "judged from": "DNS alone"}
    if offenders:
        return CheckResult(False, "; ".join(offenders) + f" ({how})", measured=measured,
                           limit=f"the secondary endpoint {secondary}", offenders=offenders, evidence=evidence)
    return CheckResult(True, f"{how}: {api} resolves to {where}, the secondary endpoint {secondary}, none of the "
                       f"primary's addresses; {ttl_note}", measured=measured, limit=f"the secondary endpoint {secondary}",
                       evidence=evidence)


def dns_on_secondary(view: "Route53View | ControlPlaneDown", resolver, *, max_ttl: timedelta = timedelta(minutes=5),
                     secondary_endpoint: str = DEFAULT_SECONDARY_ENDPOINT,
                     primary_endpoint: str | None = DEFAULT_PRIMARY_ENDPOINT) -> CheckResult:
    """REC-DNS: the failover record answering for the API name is the SECONDARY, pointing at another endpoint
    than the PRIMARY; every other hosted zone of that name (a private zone of a split horizon) answers the
    same; the failover records' TTL lets clients follow within ``max_ttl``; and what a client resolves for the
    name is the secondary's endpoint (not the primary's).

    With Route53's control plane down (``ControlPlaneDown``) it is judged from DNS alone: the name must resolve
    to ``secondary_endpoint`` and not to ``primary_endpoint`` (the target's regional endpoint names)."""
    if view is None or resolver is None:
        raise DRUnverifiable("REC-DNS", "no look at the hosted zone or no resolver")
    if isinstance(view, ControlPlaneDown):
        if not secondary_endpoint:
            raise DRUnverifiable("REC-DNS from DNS alone", "no secondary endpoint name to expect",
                                 "configure the DR region's API endpoint name")
        return _dns_from_data_plane(view, resolver, max_ttl, secondary_endpoint, primary_endpoint)
    api = view.api_name
    secondary_record, primary_record = view.failover("SECONDARY"), view.failover("PRIMARY")
    answering, notes = answering_record(view)
    resolved, (secondary_name, secondary_addresses), (primary_name, primary_addresses) = concurrently([
        functools.partial(resolver.resolve, api),  # independent lookups: one round trip, not three
        functools.partial(_endpoint, resolver, secondary_record), functools.partial(_endpoint, resolver, primary_record)])
    got = set(resolved.addresses)
    chain = " -> ".join(resolved.names[1:] + [", ".join(resolved.addresses) or "-"])
    resolution_lines = [f"{api} -> {chain}" + (f" ({resolved.error})" if resolved.error else ""),
                        f"secondary endpoint {secondary_name or '-'} -> {', '.join(sorted(secondary_addresses)) or '-'}",
                        f"primary endpoint {primary_name or '-'} -> {', '.join(sorted(primary_addresses)) or '-'}"]
    zone_lines = [f"{view.label}: {len(view.records)} record sets, TTL "
                  f"{', '.join(str(r.get('TTL', 'alias')) for r in view.records) or '-'}"]
    offenders = []
    if secondary_record is None:
        offenders.append(f"{api} has no SECONDARY failover record")
    elif answering is not secondary_record:
        why = next((n.split(": ", 1)[1] for n in notes if answering and n.startswith(answering.get("Failover", "?"))), "")
        offenders.append(f"Route53 answers the {answering.get('Failover') if answering else 'no'} record "
                         f"({_describe_target(answering)}{': ' + why if why else ''}), not the SECONDARY "
                         f"({_describe_target(secondary_record)})")
    secondary_is_primary = _same_endpoint(secondary_record, primary_record)
    if secondary_is_primary:
        offenders.append(f"the SECONDARY record points at the primary's endpoint ({_describe_target(secondary_record)}, "
                         f"the PRIMARY's too): failing over changes nothing")
    for shadow in view.shadows:
        answer = _zone_answer(shadow)
        zone_lines.append(f"{shadow.label}: {len(shadow.records)} record sets, answers {_describe_target(answer)}")
        if answer is None:
            offenders.append(f"{shadow.label} has no record for {api}: the clients it serves get NXDOMAIN")
        elif secondary_record is not None and not _same_endpoint(answer, secondary_record):
            offenders.append(f"{shadow.label} answers {api} with {_describe_target(answer)} "
                             f"({answer.get('Failover') or 'a plain ' + str(answer.get('Type'))} record), not the "
                             f"secondary endpoint {_describe_target(secondary_record)}")
    offenders += _ttl_problems(view, max_ttl)
    at_secondary = (secondary_name in resolved.names) or bool(got & secondary_addresses and not got & primary_addresses)
    at_primary = (primary_name is not None and primary_name in resolved.names) or bool(got & primary_addresses)
    where = f"{chain} through {resolver.describe}"
    if resolved.error:
        offenders.append(f"{api} {resolved.error} through {resolver.describe}")
    elif (at_primary or not at_secondary) and not secondary_is_primary:
        expected = secondary_name or ", ".join(sorted(secondary_addresses)) or "?"
        offenders.append(f"{api} resolves to {where}, expected the secondary endpoint {expected} "
                         f"({', '.join(sorted(secondary_addresses)) or '-'})")
    evidence = [Evidence("Route53 failover evaluation", view.asked, "\n".join(notes) or "no failover records"),
                Evidence("hosted zones of the name", f"aws route53 list-hosted-zones-by-name --dns-name {view.zone_name}",
                         "\n".join(zone_lines)),
                Evidence(f"resolution through {resolver.describe}",
                         f"{resolver.command} {api}; {resolver.command} {secondary_name or ''}; "
                         f"{resolver.command} {primary_name or ''}", "\n".join(resolution_lines))]
    measured = {"answering": (answering or {}).get("Failover"), "resolved": resolved.names[1:] + resolved.addresses}
    if offenders:
        return CheckResult(False, "; ".join(offenders), measured=measured, limit="SECONDARY",
                           offenders=offenders, evidence=evidence)
    return CheckResult(True, f"Route53 answers the SECONDARY record for {api} in {1 + len(view.shadows)} hosted "
                       f"zone(s), TTL within {format_duration(max_ttl)}; the name resolves to {where}, the secondary "
                       "endpoint", measured=measured, limit="SECONDARY", evidence=evidence)


# -- SCN-REGIONAL-OUTAGE ------------------------------------------------------------------------------
# The parts' own criteria, in the order they are given: inside SCN-REGIONAL-OUTAGE's verdict each part speaks
# for its own criterion, not the test's marker, so these IDs are written here.
REGIONAL_OUTAGE_PARTS = ("REC-DR-NODES", "REC-DR-PODS", "REC-DNS")


def regional_outage(parts: list[CheckResult | None]) -> CheckResult:
    """SCN-REGIONAL-OUTAGE: every part (DR nodes, DR pods, DNS on the secondary, in that order) was judged
    and passed; the summary names the parts that did not, or are missing (None). A part naming no
    criterion is the one of its position in ``REGIONAL_OUTAGE_PARTS``."""
    parts = [p if p.criterion or i >= len(REGIONAL_OUTAGE_PARTS) else replace(p, criterion=REGIONAL_OUTAGE_PARTS[i])
             for i, p in enumerate(parts or []) if p is not None]
    given = {p.criterion for p in parts}
    missing = [c for c in REGIONAL_OUTAGE_PARTS if c not in given]
    failed = [p for p in parts if not p.passed]
    evidence = [Evidence(f"{p.criterion}: {'passed' if p.passed else 'FAILED'} - {e.title}", e.asked, e.answer)
                for p in parts for e in p.evidence]
    measured = {p.criterion: "passed" if p.passed else "failed" for p in parts}
    measured.update({c: "not judged" for c in missing})
    if failed or missing:
        reasons = [f"{p.criterion} failed: {p.summary}" for p in failed]
        reasons += [f"{c} was not judged" for c in missing]
        return CheckResult(False, "the secondary region does not serve: " + "; ".join(reasons), measured=measured,
                           limit="all parts pass", offenders=[p.criterion for p in failed] + missing, evidence=evidence)
    return CheckResult(True, "the secondary region serves: " + "; ".join(f"{p.criterion}: {p.summary}" for p in parts),
                       measured=measured, limit="all parts pass", evidence=evidence)
