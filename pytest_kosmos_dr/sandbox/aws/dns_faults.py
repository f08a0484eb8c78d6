"""Named faults of Route53 and the sandbox DNS (REC-DNS, REC-FAILOVER-TRIGGER): wrong worlds in which the
failover records and health checks exist and look configured. Each revert puts back the records and checks
that were there."""

from __future__ import annotations

import asyncio
import uuid

from ..component import Fault
from . import route53

DAY_S = 86400


def dns_faults(component) -> list[Fault]:
    """Faults of Route53 and the sandbox DNS (REC-DNS, REC-FAILOVER-TRIGGER); registered by the component's ``faults()``."""
    aws = component
    stash: dict[str, object] = {}

    def zone_id() -> str:
        return aws.zone["zone_id"]

    def checks() -> dict[str, str]:
        return aws.zone["health_checks"]

    def change(*changes: dict, zone: str | None = None) -> None:
        aws.route53.change_resource_record_sets(HostedZoneId=zone or zone_id(), ChangeBatch={"Changes": list(changes)})

    def healthy_records(ttl: int = route53.TTL) -> list[dict]:
        return [route53.failover_change("UPSERT", "PRIMARY", aws.primary, checks()[aws.primary], ttl),
                route53.failover_change("UPSERT", "SECONDARY", aws.secondary, checks()[aws.secondary], ttl)]

    def restore_records(ttl: int = route53.TTL) -> None:
        change(*healthy_records(ttl))

    # -- REC-FAILOVER-TRIGGER ----------------------------------------------------------------------
    def watch(region: str) -> None:
        aws.route53.update_health_check(HealthCheckId=checks()[aws.primary],
                                        FullyQualifiedDomainName=route53.regional_name(region).rstrip("."))

    def calculated_apply():
        calculated = aws.route53.create_health_check(CallerReference=str(uuid.uuid4()), HealthCheckConfig={
            "Type": "CALCULATED", "ChildHealthChecks": [checks()[aws.primary]], "HealthThreshold": 0,
        })["HealthCheck"]["Id"]
        stash["calculated"] = calculated
        change(route53.failover_change("UPSERT", "PRIMARY", aws.primary, calculated))

    def calculated_revert():
        change(healthy_records()[0])
        calculated = stash.pop("calculated", None)
        if calculated:
            aws.route53.delete_health_check(HealthCheckId=calculated)

    # -- REC-DNS -----------------------------------------------------------------------------------
    def secondary_at_primary():
        change(route53.failover_change("UPSERT", "SECONDARY", aws.secondary, checks()[aws.secondary],
                                       points_at=aws.primary))

    def private_zone_apply():
        zone = aws.route53.create_hosted_zone(
            Name=route53.ZONE, CallerReference=str(uuid.uuid4()),
            VPC={"VPCRegion": aws.secondary, "VPCId": "vpc-0d1a2b3c4d5e6f708"},
            HostedZoneConfig={"PrivateZone": True, "Comment": "internal copy, set up by hand"})["HostedZone"]["Id"]
        stash["private-zone"] = zone
        records = [{"Name": route53.regional_name(region), "Type": "A", "TTL": route53.TTL,
                    "ResourceRecords": [{"Value": address}]} for region, address in aws_addresses().items()]
        records.append({"Name": route53.API_NAME, "Type": "CNAME", "TTL": route53.TTL,
                        "ResourceRecords": [{"Value": route53.regional_name(aws.primary)}]})
        change(*({"Action": "CREATE", "ResourceRecordSet": r} for r in records), zone=zone)
        stash["private-records"] = records

    def private_zone_revert():
        zone, records = stash.pop("private-zone", None), stash.pop("private-records", [])
        if zone:
            if records:
                change(*({"Action": "DELETE", "ResourceRecordSet": r} for r in records), zone=zone)
            aws.route53.delete_hosted_zone(Id=zone)

    def aws_addresses() -> dict[str, str]:
        return aws.region_addresses

    def run(func, *args):
        async def runner():
            await asyncio.to_thread(func, *args)
        return runner

    return [
        Fault("healthcheck-watches-secondary", ("REC-FAILOVER-TRIGGER", "REC-DNS", "SCN-REGIONAL-OUTAGE"),
              "the PRIMARY record's health check watches the secondary's endpoint: it stays healthy when the primary "
              "is down, so Route53 keeps answering the primary", run(watch, aws.secondary), run(watch, aws.primary)),
        Fault("healthcheck-calculated-always-healthy", ("REC-FAILOVER-TRIGGER", "REC-DNS", "SCN-REGIONAL-OUTAGE"),
              "the PRIMARY record's health check is a CALCULATED check over the primary's check with HealthThreshold "
              "0: always healthy, Route53 never fails over", run(calculated_apply), run(calculated_revert)),
        Fault("dns-secondary-points-at-primary", ("REC-DNS", "REC-FAILOVER-TRIGGER", "SCN-REGIONAL-OUTAGE", "OBJ-RTO"),
              "the SECONDARY failover record points at the primary's endpoint (its health check still watches the "
              "secondary): Route53 answers the SECONDARY, clients reach the primary", run(secondary_at_primary),
              run(restore_records)),
        Fault("dns-ttl-1d", ("REC-DNS", "SCN-REGIONAL-OUTAGE"),
              f"the failover records have TTL {DAY_S} s: resolvers keep the primary's answer for a day after the switch",
              run(restore_records, DAY_S), run(restore_records)),
        Fault("dns-private-zone-on-primary", ("REC-DNS", "SCN-REGIONAL-OUTAGE"),
              f"a private hosted zone {route53.ZONE} (split horizon, associated with the DR VPC) answers the API name "
              "with a plain CNAME to the primary: it never took part in the failover",
              run(private_zone_apply), run(private_zone_revert)),
    ]
