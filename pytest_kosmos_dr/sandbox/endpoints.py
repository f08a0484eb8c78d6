"""The plan's host names in the sandbox, and the copy-paste lines that reach them with real clients.

The plan's Recovery Validation reaches the DR region by name: ``curl https://api.kosmos.internal/health``,
``psql -h $DB_HOST -U $DB_USER -c "SELECT 1"``, ``curl https://grafana.kosmos.internal/api/health``. In the
sandbox these names resolve through its DNS server (``dig @HOST -p PORT name``), which answers from Route53
(the API's failover record follows the health state; Grafana's A record is published by the Grafana
stand-in) and, for the database, from RDS (the DR instance's endpoint name). The API and Grafana serve
HTTPS with certificates the sandbox CA signs for those names (sandbox/ca.py). The names are the same in
every layout (the zone is; see aws/route53.py).

``endpoint_lines(state)`` turns a running sandbox's ``sandbox.json`` into those commands, with only the
endpoints substituted: each name pinned to the address the sandbox's DNS answers *now* (``curl --resolve``;
``PGHOSTADDR`` for psql, libpq's equivalent) and the port its stand-in listens on (for the database: the
DR instance's port as RDS reports it, so the line reaches the DR instance before the incident too, then a
hot standby).
"""

from __future__ import annotations

import shlex
from typing import Any

from .aws import route53
from .aws.dns_server import RDS_SUFFIX

API_HOST = route53.API_NAME.rstrip(".")  # api.kosmos.internal
GRAFANA_HOST = f"grafana.{route53.ZONE}".rstrip(".")  # grafana.kosmos.internal
STATUS_PAGE_HOST = "status.kosmos.ai"  # public: not in the sandbox's zone (reach it with --resolve)
RECORD_TTL = 60
DNS_TIMEOUT_S = 1.0


def rds_endpoint_name(instance: str, region: str) -> str:
    """The DNS name RDS gives ``instance`` in ``region`` (what the plan's ``psql -h`` names)."""
    return f"{instance}.{RDS_SUFFIX}.{region}.rds.amazonaws.com"


def publish_record(ctx, name: str, address: str) -> bool:
    """UPSERT ``name`` -> A ``address`` in the sandbox's Route53 zone (through the Route53 API, so
    ``aws route53 list-resource-record-sets`` shows it). False when the sandbox has no Route53 (a
    component started on its own)."""
    aws = ctx.components.get("aws")
    client, zone = getattr(aws, "route53", None), (getattr(aws, "zone", None) or {}).get("zone_id")
    if client is None or not zone:
        return False
    client.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{
        "Action": "UPSERT", "ResourceRecordSet": {
            "Name": name.rstrip(".") + ".", "Type": "A", "TTL": RECORD_TTL, "ResourceRecords": [{"Value": address}]},
    }]})
    return True


def resolve_now(state: dict[str, Any], name: str) -> str | None:
    """The address the sandbox's DNS answers for ``name`` now (following CNAMEs), or None."""
    from .aws.dns_server import query

    dns = state.get("dns") or {}
    if not dns.get("port"):
        return None
    try:
        rcode, answers = query(dns["host"], int(dns["port"]), name, "A", timeout=DNS_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - no answer: the caller says so
        return None
    addresses = [value for _, rtype, value in answers if rtype == "A"]
    return addresses[-1] if rcode == "NOERROR" and addresses else None


def rds_port(state: dict[str, Any], instance: str, region: str) -> int | None:
    """The port RDS reports for ``instance`` in ``region`` (DescribeDBInstances), or None when it does not say."""
    aws = state.get("aws") or {}
    if not aws.get("endpoint_url"):
        return None
    try:
        import boto3
        from botocore.config import Config

        rds = boto3.client("rds", region_name=region, endpoint_url=aws["endpoint_url"],
                           aws_access_key_id=aws.get("access_key_id"),
                           aws_secret_access_key=aws.get("secret_access_key"), config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}))
        endpoint = rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0].get("Endpoint") or {}
        return int(endpoint["Port"]) if endpoint.get("Port") else None
    except Exception:  # noqa: BLE001 - RDS did not say: the caller falls back to sandbox.json
        return None


def _https_parts(section: dict[str, Any] | None) -> tuple[str, int, str] | None:
    """(host name, port, listening address) of a stand-in's HTTPS listener, from its state section."""
    if not section or not section.get("https_url"):
        return None
    from urllib.parse import urlsplit

    url = urlsplit(section["https_url"])
    return url.hostname or "", int(url.port or 443), section.get("address") or "127.0.0.1"


def _pinned(state: dict[str, Any], host: str, listening: str, lines: list[str]) -> str:
    """The address to pin ``host`` to: the DNS answer; a comment when it is not where the stand-in listens."""
    answered = resolve_now(state, host)
    if answered is None:
        lines.append(f"# {host} does not resolve through the sandbox's DNS now; pinned to where it listens")
        return listening
    if answered != listening:
        lines.append(f"# {host} resolves to {answered} now (DNS has not failed over to the DR region, whose "
                     f"endpoint listens at {listening}): this curl reaches what DNS answers")
    return answered


def endpoint_lines(state: dict[str, Any]) -> list[str]:
    """Copy-paste lines (shell commands, ``#`` comments) reaching the running sandbox by the plan's names.

    ``state`` is the sandbox's ``sandbox.json``. The lines carry no secret: the psql line needs
    ``PGPASSWORD`` from ``sandbox.env``. Names are pinned to what the sandbox's DNS answers when called.
    """
    from .layout import layout_named

    try:
        health_path = layout_named(str(state.get("layout") or "default")).health_path
    except ValueError:
        health_path = "/health"
    ca = (state.get("ca") or {}).get("ca_bundle")
    cacert = f" --cacert {shlex.quote(ca)}" if ca else ""
    lines: list[str] = []
    if state.get("state_dir"):
        env_file = shlex.quote(f"{state['state_dir'].rstrip('/')}/sandbox.env")
        lines.append(f"# first: source {env_file}   (PGPASSWORD, tokens, CURL_CA_BUNDLE)")
    dns = state.get("dns") or {}
    db = state.get("database") or {}
    dr = ((state.get("aws") or {}).get("rds") or {}).get("dr") or {}
    db_name = rds_endpoint_name(dr["id"], dr["region"]) if dr.get("id") and dr.get("region") else None
    if dns.get("port"):
        lines.append("# the plan's names, through the sandbox's DNS (add +tcp for DNS over TCP)")
        for name in (API_HOST, GRAFANA_HOST, db_name):
            if name:
                lines.append(f"dig @{dns['host']} -p {dns['port']} {name}")
    api = _https_parts(state.get("api"))
    if api:
        host, port, listening = api
        lines.append(f"# API health (the plan's: curl https://{API_HOST}{health_path})")
        address = _pinned(state, host, listening, lines)
        lines.append(f"curl --resolve {host}:{port}:{address}{cacert} https://{host}:{port}{health_path}")
    if db.get("port"):
        lines.append('# database connectivity (the plan\'s: psql -h $DB_HOST -U $DB_USER -c "SELECT 1"), '
                     'the DR instance by its RDS endpoint')
        port = rds_port(state, dr["id"], dr["region"]) if db_name else None
        if db_name and port:
            address = _pinned(state, db_name, str(db.get("host") or "127.0.0.1"), lines)
            lines.append(f"PGHOSTADDR={address} psql -h {db_name} -p {port} -U {db.get('user', 'admin')} "
                         f"-d {db.get('dbname', 'kosmos')} -c \"SELECT 1\"")
        else:
            lines.append(f"psql -h {db.get('host', '127.0.0.1')} -p {db['port']} -U {db.get('user', 'admin')} "
                         f"-d {db.get('dbname', 'kosmos')} -c \"SELECT 1\"")
    grafana = _https_parts(state.get("grafana"))
    if grafana:
        host, port, listening = grafana
        lines.append(f"# monitoring (the plan's: curl https://{GRAFANA_HOST}/api/health); "
                     f"Grafana: https://{host}:{port} (API token: $GRAFANA_TOKEN)")
        address = _pinned(state, host, listening, lines)
        lines.append(f"curl --resolve {host}:{port}:{address}{cacert} https://{host}:{port}/api/health")
    status = _https_parts(state.get("status_page"))
    if status:
        host, port, listening = status
        lines.append("# status page (public name, not in the sandbox's zone: pinned to where it listens)")
        lines.append(f"curl --resolve {host}:{port}:{listening}{cacert} https://{host}:{port}/api/v2/status.json")
    return lines
