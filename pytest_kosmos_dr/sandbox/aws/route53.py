"""The hosted zone ``kosmos.internal.``: failover records for the API name, with health checks,
and the sandbox's health state that decides them.

moto stores zones, records and health checks but never evaluates health or failover. The
sandbox keeps the health truth here (which targets are down since when), reports it through
``GetHealthCheckStatus`` (moto's answer is patched to report it) and the DNS server answers
from it (see dns_server.py).

The zone and the API name are the same in every layout; the regional endpoints are
``api.<region>.<zone>`` for the layout's two regions. Route53's API (its control plane) is served
from us-east-1 whatever the layout's regions: losing another primary region leaves it answering.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime

from .rds_backend import ACCOUNT_ID, now_utc

CONTROL_PLANE_REGION = "us-east-1"  # where Route53's API lives (its DNS answers are global)
ZONE = "kosmos.internal."
API_NAME = f"api.{ZONE}"
TTL = 60
CHECKER_REGIONS = ["us-east-1", "us-west-1", "eu-west-1"]  # Route53 health checkers (AWS's regions, any layout)
INTERVAL_S = 30
THRESHOLD = 3


def regional_name(region: str) -> str:
    return f"api.{region}.{ZONE}"


class HealthState:
    """Which health-check targets are failing (the sandbox's ground truth)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down: dict[str, datetime] = {}  # fqdn (no trailing dot) -> since

    def set_down(self, fqdn: str) -> None:
        with self.lock:
            self.down.setdefault(fqdn.rstrip("."), now_utc())

    def set_up(self, fqdn: str) -> None:
        """The target answers its health check again (the DR API serves once its database is promoted)."""
        with self.lock:
            self.down.pop(fqdn.rstrip("."), None)

    def target_ok(self, fqdn: str | None) -> bool:
        return (fqdn or "").rstrip(".") not in self.down

    def check_healthy(self, health_check_id: str | None, depth: int = 0) -> bool:
        """Route53's view of a record's health: no check means healthy; disabled means healthy; a
        CALCULATED check is healthy when at least HealthThreshold of its children are."""
        if not health_check_id:
            return True
        check = route53_backend().health_checks.get(health_check_id)
        if check is None or check.disabled:
            return True
        if check.type_ == "CALCULATED":
            children = (check.children or []) if depth < 4 else []
            ok = sum(self.check_healthy(child, depth + 1) for child in children) >= int(check.health_threshold or 0)
        else:
            ok = self.target_ok(check.fqdn or check.ip_address)
        return (not ok) if check.inverted else ok


def route53_backend():
    from moto.route53.models import route53_backends

    return route53_backends[ACCOUNT_ID]["aws"]


def create_zone(route53, endpoints: dict[str, str], primary: str, secondary: str,
                health_path: str = "/health") -> dict:
    """Zone, regional A records, health checks (of ``health_path``), failover CNAMEs. Returns ids for
    state and faults."""
    zone_id = route53.create_hosted_zone(Name=ZONE, CallerReference=str(uuid.uuid4()))["HostedZone"]["Id"]
    checks = {}
    for region in (primary, secondary):
        checks[region] = route53.create_health_check(CallerReference=str(uuid.uuid4()), HealthCheckConfig={
            "Type": "HTTPS", "FullyQualifiedDomainName": regional_name(region).rstrip("."), "Port": 443,
            "ResourcePath": health_path, "RequestInterval": INTERVAL_S, "FailureThreshold": THRESHOLD,
            "Regions": CHECKER_REGIONS,
        })["HealthCheck"]["Id"]
    changes = [
        {"Action": "CREATE", "ResourceRecordSet": {
            "Name": regional_name(region), "Type": "A", "TTL": TTL, "ResourceRecords": [{"Value": address}]}}
        for region, address in endpoints.items()
    ]
    changes += [failover_change("CREATE", "PRIMARY", primary, checks[primary]),
                failover_change("CREATE", "SECONDARY", secondary, checks[secondary])]
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return {"zone_id": zone_id.split("/")[-1], "health_checks": checks}


def failover_change(action: str, role: str, region: str, health_check_id: str | None, ttl: int = TTL,
                    points_at: str | None = None) -> dict:
    """The failover record of ``role`` for ``region`` (pointing at ``points_at``'s endpoint when given)."""
    record = {
        "Name": API_NAME, "Type": "CNAME", "TTL": ttl, "SetIdentifier": f"{role.lower()}-{region}",
        "Failover": role, "ResourceRecords": [{"Value": regional_name(points_at or region)}],
    }
    if health_check_id:
        record["HealthCheckId"] = health_check_id
    return {"Action": action, "ResourceRecordSet": record}


_ORIGINAL_STATUS = None


def report_health_through_moto(health: HealthState) -> None:
    """Make ``GetHealthCheckStatus`` answer from the sandbox's health state (moto always says Success)."""
    global _ORIGINAL_STATUS
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.route53.responses import Route53

    if _ORIGINAL_STATUS is None:
        _ORIGINAL_STATUS = Route53.get_health_check_status

    def get_health_check_status(self):
        check = self.backend.get_health_check(self._get_param("HealthCheckId"))
        target = check.fqdn or check.ip_address
        ok = health.target_ok(target)
        status = ("Success: HTTP Status Code 200, OK" if ok
                  else "Failure: Connection timed out. The endpoint or the internet connection is down")
        return ActionResult({"HealthCheckObservations": [
            {"Region": region, "IPAddress": "127.0.0.1",
             "StatusReport": {"Status": status, "CheckedTime": utcnow()}}
            for region in (check.regions or CHECKER_REGIONS)
        ]})

    Route53.get_health_check_status = get_health_check_status


def restore_moto_health_status() -> None:
    if _ORIGINAL_STATUS is not None:
        from moto.route53.responses import Route53

        Route53.get_health_check_status = _ORIGINAL_STATUS
