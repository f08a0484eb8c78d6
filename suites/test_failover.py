"""Failover: Route53's health checks trigger it within the failover trigger (5 minutes) from at
least ``aws.min_checker_regions`` regions (REC-FAILOVER-TRIGGER), the API's name answers and resolves
to the secondary region (REC-DNS), and the secondary region serves after a regional outage
(SCN-REGIONAL-OUTAGE).

The API name's answer must reach clients within the failover trigger too: a failover record's TTL
longer than it keeps resolvers on the primary's answer after the switch.

Resolution goes through the sandbox's DNS server for the sandbox, else through the system
resolver (what this machine's clients get); the evidence says which.

During a regional outage of us-east-1 (an AWS fact: Route53's API is served from there) it is unreachable: REC-DNS and
SCN-REGIONAL-OUTAGE (recovery) are then judged from DNS alone, against the target's regional endpoint
names (``aws.secondary_api_endpoint`` / ``aws.primary_api_endpoint``, by default
``<api label>.<region>.<hosted zone>``); REC-FAILOVER-TRIGGER (preparedness) is not verifiable while us-east-1
is down."""

import pytest

from pytest_kosmos_dr.checks import cluster, failover


@pytest.mark.dr_criterion("REC-FAILOVER-TRIGGER")
def test_health_checks_fail_over_within_five_minutes_from_several_regions(api_route53, dr_objectives, dr_target,
                                                                           dr_check):
    dr_check(failover.failover_trigger(api_route53, trigger=dr_objectives.failover_trigger,
                                       min_regions=dr_target.aws.min_checker_regions))


@pytest.mark.dr_criterion("REC-DNS")
def test_api_name_answers_and_resolves_to_the_secondary_region(api_dns, dr_check):
    dr_check(api_dns)  # failover.dns_on_secondary, resolved after Route53's look


@pytest.mark.dr_criterion("SCN-REGIONAL-OUTAGE")
def test_secondary_region_serves_after_a_regional_outage(dr_nodes, kosmos_pods, kosmos_workloads, api_dns_in_outage,
                                                         dr_objectives, dr_target, dr_environment, dr_check):
    context, namespace = dr_environment.kube_context, dr_target.kubernetes.namespace
    dr_check(failover.regional_outage([
        cluster.nodes_ready(dr_nodes, context, region=dr_target.aws.secondary_region),
        cluster.pods_running(kosmos_pods, namespace, context, max_restarts=dr_objectives.max_restarts,
                             workloads=kosmos_workloads, nodes=dr_nodes),
        api_dns_in_outage,
    ]))
