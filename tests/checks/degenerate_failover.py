"""Degenerate inputs of the failover checks (REC-FAILOVER-TRIGGER, REC-DNS, SCN-REGIONAL-OUTAGE): a zone
without records, records without health checks or targets, a resolver that finds nothing, no parts."""

from datetime import timedelta

from pytest_kosmos_dr.checks import failover as fo
from pytest_kosmos_dr.results import CheckResult

TRIGGER = timedelta(minutes=5)
API = "api.kosmos.internal."


def view(records=(), checks=None):
    return fo.Route53View("kosmos.internal.", "Z1", API, list(records), dict(checks or {}))


BARE = [{"Name": API, "Type": "CNAME", "Failover": "PRIMARY"}, {"Name": API, "Type": "CNAME", "Failover": "SECONDARY"}]


class Nothing:
    describe, command = "a resolver that finds nothing", "dig"

    def resolve(self, name):
        return fo.Resolved([name], [], "NXDOMAIN")


class Empty(Nothing):
    def resolve(self, name):
        return fo.Resolved([], [])


def down():
    from pytest_kosmos_dr.errors import RegionDown

    return fo.ControlPlaneDown("kosmos.internal.", API, RegionDown("us-east-1", "Route53", "503 ServiceUnavailable"))


def passed(criterion):
    return CheckResult(True, "ok", criterion=criterion)


CASES = {
    "failover.failover_trigger": [
        ("no records", lambda: fo.failover_trigger(view(), trigger=TRIGGER)),
        ("records without health checks or targets", lambda: fo.failover_trigger(view(BARE), trigger=TRIGGER)),
        ("view None", lambda: fo.failover_trigger(None, trigger=TRIGGER)),
        ("health check not read", lambda: fo.failover_trigger(view([dict(BARE[0], HealthCheckId="hc"), BARE[1]]),
                                                             trigger=TRIGGER)),
    ],
    "failover.dns_on_secondary": [
        ("no records, no answer", lambda: fo.dns_on_secondary(view(), Nothing())),
        ("records without targets, empty answer", lambda: fo.dns_on_secondary(view(BARE), Empty())),
        ("view None", lambda: fo.dns_on_secondary(None, Nothing())),
        ("control plane down, resolver finds nothing", lambda: fo.dns_on_secondary(down(), Nothing())),
        ("control plane down, empty answer", lambda: fo.dns_on_secondary(down(), Empty())),
        ("control plane down, no secondary endpoint", lambda: fo.dns_on_secondary(down(), Empty(), secondary_endpoint="")),
        ("resolver None", lambda: fo.dns_on_secondary(view(BARE), None)),
    ],
    "failover.regional_outage": [
        ("no parts", lambda: fo.regional_outage([])),
        ("parts None", lambda: fo.regional_outage(None)),
        ("REC-DNS missing", lambda: fo.regional_outage([passed("REC-DR-NODES"), passed("REC-DR-PODS")])),
        ("a part None", lambda: fo.regional_outage([passed("REC-DR-NODES"), passed("REC-DR-PODS"), None])),
        ("unrelated parts only", lambda: fo.regional_outage([passed("VAL-API-HEALTH")] * 3)),
    ],
}
