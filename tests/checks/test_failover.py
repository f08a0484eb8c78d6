"""REC-FAILOVER-TRIGGER, REC-DNS and SCN-REGIONAL-OUTAGE on plain data: a healthy failover passes; each
wrong world fails with what is wrong."""

import threading
from concurrent.futures import Future
from datetime import timedelta

import pytest

from pytest_kosmos_dr.checks import failover as fo
from pytest_kosmos_dr.errors import DRUnverifiable
from pytest_kosmos_dr.results import CheckResult

API = "api.kosmos.internal."
EAST, WEST = "api.us-east-1.kosmos.internal.", "api.us-west-2.kosmos.internal."
ADDRESSES = {EAST: "127.0.0.2", WEST: "127.0.0.1"}
TRIGGER = timedelta(minutes=5)


def record(role, target, check=None, ttl=60):
    found = {"Name": API, "Type": "CNAME", "TTL": ttl, "SetIdentifier": role.lower(), "Failover": role,
             "ResourceRecords": [{"Value": target}]}
    if check:
        found["HealthCheckId"] = check
    return found


def http_check(check_id, fqdn, **extra):
    return {"Id": check_id, "HealthCheckConfig": dict({"Type": "HTTPS", "FullyQualifiedDomainName": fqdn.rstrip("."),
                                                       "RequestInterval": 30, "FailureThreshold": 3,
                                                       "Regions": ["us-east-1", "us-west-1", "eu-west-1"]}, **extra)}


def observations(ok):
    status = "Success: HTTP Status Code 200" if ok else "Failure: Connection timed out"
    return [{"Region": r, "StatusReport": {"Status": status}} for r in ("us-east-1", "us-west-1", "eu-west-1")]


def healthy_view(**changes):
    records = changes.pop("records", None) or [record("PRIMARY", EAST, "hc-east"), record("SECONDARY", WEST, "hc-west")]
    checks = changes.pop("checks", None) or {"hc-east": http_check("hc-east", EAST), "hc-west": http_check("hc-west", WEST)}
    statuses = {"hc-east": observations(False), "hc-west": observations(True)}
    return fo.Route53View("kosmos.internal.", "Z1", API, records, checks, statuses, **changes)


class Zone:
    """Resolves like the zone's answering record would."""

    describe, command = "test resolver", "dig"

    def __init__(self, view):
        self.view = view

    def resolve(self, name):
        name = fo._norm(name)
        if name == API:
            target = fo._target(fo.answering_record(self.view)[0])[0]
            return fo.Resolved([API, target], [ADDRESSES[target]])
        return fo.Resolved([name], [ADDRESSES[name]])


# -- REC-FAILOVER-TRIGGER -----------------------------------------------------------------------------
def test_trigger_passes_on_healthy_failover():
    result = fo.failover_trigger(healthy_view(), trigger=TRIGGER)
    assert result.passed, result.summary


def test_trigger_sees_a_health_check_on_another_endpoint():
    checks = {"hc-east": http_check("hc-east", WEST), "hc-west": http_check("hc-west", WEST)}
    result = fo.failover_trigger(healthy_view(checks=checks), trigger=TRIGGER)
    assert not result.passed
    assert f"on the PRIMARY record watches {WEST}, but the record points at {EAST}" in result.summary


def test_trigger_sees_a_calculated_check_that_is_always_healthy():
    checks = {"calc": {"Id": "calc", "HealthCheckConfig": {"Type": "CALCULATED", "ChildHealthChecks": ["hc-east"],
                                                           "HealthThreshold": 0}},
              "hc-east": http_check("hc-east", EAST), "hc-west": http_check("hc-west", WEST)}
    records = [record("PRIMARY", EAST, "calc"), record("SECONDARY", WEST, "hc-west")]
    result = fo.failover_trigger(healthy_view(records=records, checks=checks), trigger=TRIGGER)
    assert not result.passed and "is healthy when 0 of its 1 child checks are: always healthy" in result.summary


def test_trigger_sees_a_disabled_check():
    checks = {"hc-east": http_check("hc-east", EAST, Disabled=True), "hc-west": http_check("hc-west", WEST)}
    result = fo.failover_trigger(healthy_view(checks=checks), trigger=TRIGGER)
    assert not result.passed and "is disabled" in result.summary


def test_trigger_fails_without_records():
    assert not fo.failover_trigger(fo.Route53View("kosmos.internal.", "Z1", API, []), trigger=TRIGGER).passed


# -- REC-DNS ------------------------------------------------------------------------------------------
def test_dns_passes_on_the_secondary():
    view = healthy_view()
    result = fo.dns_on_secondary(view, Zone(view), max_ttl=TRIGGER)
    assert result.passed, result.summary


def test_dns_sees_a_secondary_pointing_at_the_primary():
    view = healthy_view(records=[record("PRIMARY", EAST, "hc-east"), record("SECONDARY", EAST, "hc-west")])
    result = fo.dns_on_secondary(view, Zone(view), max_ttl=TRIGGER)
    assert result.summary == (f"the SECONDARY record points at the primary's endpoint ({EAST}, the PRIMARY's too): "
                              "failing over changes nothing")


def test_dns_sees_a_ttl_longer_than_the_failover_trigger():
    view = healthy_view(records=[record("PRIMARY", EAST, "hc-east", ttl=3600), record("SECONDARY", WEST, "hc-west")])
    result = fo.dns_on_secondary(view, Zone(view), max_ttl=TRIGGER)
    assert result.summary == (f"the PRIMARY record ({EAST}) has TTL 3600 s: resolvers keep its answer up to 60 min "
                              "after the switch, limit 5 min")


def test_dns_sees_a_private_zone_that_answers_the_primary():
    shadow = fo.Route53View("kosmos.internal.", "Z2", API, [
        {"Name": API, "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": EAST}]}], private=True)
    view = healthy_view(shadows=[shadow])
    result = fo.dns_on_secondary(view, Zone(view), max_ttl=TRIGGER)
    assert result.summary == (f"private hosted zone kosmos.internal. (Z2) answers {API} with {EAST} (a plain CNAME "
                              f"record), not the secondary endpoint {WEST}")


def test_dns_sees_a_private_zone_without_the_name():
    view = healthy_view(shadows=[fo.Route53View("kosmos.internal.", "Z2", API, [], private=True)])
    result = fo.dns_on_secondary(view, Zone(view), max_ttl=TRIGGER)
    assert not result.passed and "has no record for api.kosmos.internal.: the clients it serves get NXDOMAIN" in \
        result.summary


# -- SCN-REGIONAL-OUTAGE ------------------------------------------------------------------------------
def part(criterion, passed=True):
    return CheckResult(passed, f"{criterion} summary", criterion=criterion)


def test_regional_outage_passes_with_every_part():
    assert fo.regional_outage([part("REC-DR-NODES"), part("REC-DR-PODS"), part("REC-DNS")]).passed


def test_regional_outage_fails_on_a_missing_part():
    result = fo.regional_outage([part("REC-DR-NODES"), part("REC-DR-PODS")])
    assert result.summary == "the secondary region does not serve: REC-DNS was not judged"


def test_regional_outage_names_unnamed_parts_by_their_position():
    unnamed = [CheckResult(True, "nodes"), CheckResult(True, "pods"), CheckResult(False, "dns")]
    result = fo.regional_outage(unnamed)
    assert result.summary == "the secondary region does not serve: REC-DNS failed: dns"
    assert result.measured == {"REC-DR-NODES": "passed", "REC-DR-PODS": "passed", "REC-DNS": "failed"}
    assert [p.criterion for p in unnamed] == ["", "", ""]  # the caller's results are left as they were
    assert fo.regional_outage([CheckResult(True, "nodes"), None, CheckResult(True, "dns")]).summary == \
        "the secondary region does not serve: REC-DR-PODS was not judged"


def test_regional_outage_fails_on_no_parts_and_names_failed_ones():
    assert not fo.regional_outage([]).passed
    result = fo.regional_outage([part("REC-DR-NODES"), part("REC-DR-PODS"), part("REC-DNS", False)])
    assert result.summary == "the secondary region does not serve: REC-DNS failed: REC-DNS summary"


# -- the target's numbers and names (aws.min_checker_regions, regions, hosted zone) -------------------------
def test_min_checker_regions_is_the_targets():
    two = {"hc-east": http_check("hc-east", EAST, Regions=["us-east-1", "us-west-1"]),
           "hc-west": http_check("hc-west", WEST, Regions=["us-east-1", "us-west-1"])}
    assert fo.failover_trigger(healthy_view(checks=two), trigger=TRIGGER).passed  # the default: 2
    result = fo.failover_trigger(healthy_view(checks=two), trigger=TRIGGER, min_regions=3)
    assert not result.passed
    assert "checks from 2 regions (us-east-1, us-west-1), need 3" in result.summary
    assert "checked from >= 3 regions" in result.summary


def test_a_min_checker_regions_below_one_cannot_be_judged():
    import pytest

    with pytest.raises(fo.DRUnverifiable, match="min_checker_regions"):
        fo.failover_trigger(healthy_view(), trigger=TRIGGER, min_regions=0)


def test_regional_endpoints_follow_the_targets_regions_and_zone():
    from pytest_kosmos_dr.target import AwsSettings

    aws = AwsSettings(primary_region="eu-west-1", secondary_region="eu-central-1", hosted_zone="acme.example.",
                      api_record="kosmos-api.prod.acme.example.")
    assert fo.api_endpoint(aws, "secondary") == "kosmos-api.prod.eu-central-1.acme.example."
    assert fo.api_endpoint(aws, "primary") == "kosmos-api.prod.eu-west-1.acme.example."
    assert fo.api_endpoint(AwsSettings(secondary_api_endpoint="dr.acme.example."), "secondary") == "dr.acme.example."
    default = AwsSettings()
    assert fo.DEFAULT_SECONDARY_ENDPOINT == fo.api_endpoint(default, "secondary")
    assert fo.DEFAULT_PRIMARY_ENDPOINT == fo.api_endpoint(default, "primary")


# -- round trips: what does not depend on an answer is asked with it (barriers, not clocks) ------------------
TOGETHER_S = 10  # a deadlock guard: these calls must be in flight at once, or the barrier breaks


class Route53:
    """A Route53 client whose first ``together`` health-check calls wait at a barrier until all are in flight."""

    def __init__(self, checks, statuses, together, refused=()):
        self.checks, self.statuses, self.refused = checks, statuses, set(refused)
        self.barrier = threading.Barrier(together, timeout=TOGETHER_S)
        self.asked, self.lock = [], threading.Lock()

    def _arrive(self, what):
        with self.lock:
            self.asked.append(what)
            first_round = len(self.asked) <= self.barrier.parties
        if first_round:
            self.barrier.wait()

    def list_hosted_zones_by_name(self, **_):
        return {"HostedZones": [{"Id": "/hostedzone/Z1", "Name": "kosmos.internal.", "Config": {}}]}

    def get_paginator(self, _):
        records = [record("PRIMARY", EAST, "hc-east"), record("SECONDARY", WEST, "hc-west")]
        return type("Pages", (), {"paginate": lambda self, **_: [{"ResourceRecordSets": records}]})()

    def get_health_check(self, HealthCheckId):
        self._arrive(("config", HealthCheckId))
        return {"HealthCheck": self.checks[HealthCheckId]}

    def get_health_check_status(self, HealthCheckId):
        self._arrive(("status", HealthCheckId))
        if HealthCheckId in self.refused:
            raise RuntimeError("InvalidInput")
        return {"HealthCheckObservations": self.statuses[HealthCheckId]}


def test_route53_asks_each_checks_status_with_its_config_in_one_round_trip():
    checks = {"hc-east": http_check("hc-east", EAST), "hc-west": http_check("hc-west", WEST)}
    route53 = Route53(checks, {"hc-east": observations(False), "hc-west": observations(True)}, together=4)
    view = fo.route53_view(route53, "kosmos.internal", API)
    assert sorted(route53.asked) == [("config", "hc-east"), ("config", "hc-west"),
                                     ("status", "hc-east"), ("status", "hc-west")]  # no second round
    assert list(view.statuses) == ["hc-west", "hc-east"] and view.statuses["hc-west"] == observations(True)


def test_route53_asks_a_status_again_when_the_early_answer_was_an_error():
    checks = {"hc-east": http_check("hc-east", EAST), "hc-west": http_check("hc-west", WEST)}
    route53 = Route53(checks, {"hc-east": observations(False), "hc-west": observations(True)}, together=4,
                      refused={"hc-west"})
    with pytest.raises(DRUnverifiable, match="Route53 GetHealthCheckStatus hc-west"):
        fo.route53_view(route53, "kosmos.internal", API)
    assert route53.asked.count(("status", "hc-west")) == 2 and route53.asked.count(("status", "hc-east")) == 1


def test_route53_drops_the_status_it_refuses_for_a_calculated_check():
    checks = {"hc-east": {"Id": "hc-east", "HealthCheckConfig": {"Type": "CALCULATED", "HealthThreshold": 1,
                                                                 "ChildHealthChecks": ["hc-child"]}},
              "hc-west": http_check("hc-west", WEST), "hc-child": http_check("hc-child", EAST)}
    statuses = {"hc-west": observations(True), "hc-child": observations(False)}
    route53 = Route53(checks, statuses, together=4, refused={"hc-east"})
    view = fo.route53_view(route53, "kosmos.internal", API)
    assert set(view.statuses) == {"hc-west", "hc-child"} and view.statuses["hc-child"] == observations(False)
    assert route53.asked.count(("status", "hc-east")) == 1  # refused once, never asked again


def test_dns_resolves_the_name_and_both_endpoints_at_once():
    view = healthy_view()
    zone = Zone(view)
    barrier = threading.Barrier(3, timeout=TOGETHER_S)

    class Together:
        describe, command = zone.describe, zone.command

        def resolve(self, name):
            barrier.wait()
            return zone.resolve(name)

    result = fo.dns_on_secondary(view, Together(), max_ttl=TRIGGER)
    assert result.passed, result.summary


def test_an_early_answer_is_handed_out_once_and_its_error_raised_where_asked():
    def answered(outcome):
        read = Future()
        if isinstance(outcome, Exception):
            read.set_exception(outcome)
        else:
            read.set_result(outcome)
        return read

    view = healthy_view()
    on_primary = fo.Resolved([API, EAST], [ADDRESSES[EAST]])  # asked early: still on the primary
    resolver = fo.EarlyAnswers(Zone(view), {API.rstrip("."): answered(on_primary)})
    assert resolver.resolve(API).names == [API, EAST]
    assert resolver.resolve(API).names == [API, WEST]  # asked again: now
    failed = fo.EarlyAnswers(Zone(view), {API: answered(DRUnverifiable("resolving api", "timed out"))})
    with pytest.raises(DRUnverifiable, match="timed out"):
        fo.dns_on_secondary(view, failed, max_ttl=TRIGGER)
    stale = fo.EarlyAnswers(Zone(view), {API: answered(on_primary)})
    result = fo.dns_on_secondary(view, stale, max_ttl=TRIGGER)
    assert not result.passed and f"resolves to {EAST}" in result.summary
