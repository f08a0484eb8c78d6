"""The primary region's outage: everything of the layout's primary region unreachable, the way a
client sees a real one.

While it is on (``kosmos-dr sandbox up --outage primary-region`` or the fault ``primary-region-outage``):

- the AWS API of the lost region, every service: a request whose SigV4 credential scope names the
  region (``Authorization: AWS4-HMAC-SHA256 Credential=AKIA.../20250101/<region>/rds/aws4_request``,
  or ``X-Amz-Credential`` of a presigned URL) gets, by mode,
  ``503``: HTTP 503 with AWS's error document, code ``ServiceUnavailable`` (XML for query and REST-XML
  services, JSON for JSON protocols, CBOR for rpc-v2-cbor), as AWS answers when a region's endpoint
  is down; ``reset``: the connection is reset without an answer; ``timeout``: the request is held
  (up to ``hold_s``), then the connection is reset.
- global services (Route53, IAM, CloudFront) have their control plane in us-east-1, whatever region a
  client signs for: they go when us-east-1 is lost (the default layout) and keep answering when
  another region is (the alternate layout's eu-west-1). Route53's data plane (the sandbox DNS
  server) keeps answering in any case.
- the primary database (the layout's production instance): its server stays stopped (connection refused);
- the primary API endpoint (api.<primary region>.kosmos.internal -> 127.0.0.2): nothing listens there
  (connection refused); applying the outage verifies it.

The sandbox's own clients (faults, seeding) carry a per-process token header and pass.
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
import threading
import time
import uuid

from ...timeparse import isoformat, utcnow
from ..component import Fault

OUTAGE_FAULT = "primary-region-outage"
NOT_PROMOTED_FAULT = "dr-replica-not-promoted"
MODES = ("503", "reset", "timeout")
DEFAULT_MODE = "503"
DEFAULT_HOLD_S = 60.0
INTERNAL_HEADER = "X-Kosmos-Sandbox-Internal"
STANDBY_SIGNAL = "standby.signal"
# global services whose control plane lives in us-east-1: lost with it whatever region a client signs for,
# and still up when another region is lost (with a custom endpoint URL, boto3 and the aws CLI sign
# Route53 for the client's region)
GLOBAL_CONTROL_PLANE_REGION = "us-east-1"
CONTROL_PLANE_IN_US_EAST_1 = frozenset({"route53", "iam", "cloudfront", "organizations", "route53domains"})
_SCOPE = re.compile(r"Credential=[^/\s,]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
_QUERY_SCOPE = re.compile(r"(?:^|&)X-Amz-Credential=[^&/]+(?:/|%2F)\d{8}(?:/|%2F)([a-z0-9-]+)(?:/|%2F)([a-z0-9-]+)",
                          re.IGNORECASE)


class RegionOutage:
    """Which regions the sandbox's AWS endpoint treats as lost, and how a client sees it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.regions: dict[str, str] = {}  # region -> since (ISO)
        self.mode = DEFAULT_MODE
        self.hold_s = DEFAULT_HOLD_S
        self.internal_token = uuid.uuid4().hex
        self.refused = 0  # requests refused so far (for status)
        self._ended = threading.Event()

    def configure(self, mode: str | None = None, hold_s: float | None = None) -> None:
        if mode is not None:
            if mode not in MODES:
                raise ValueError(f"unknown outage mode {mode!r}; known: {', '.join(MODES)}")
            self.mode = mode
        if hold_s is not None:
            if not hold_s > 0:
                raise ValueError(f"outage hold must be > 0 s, got {hold_s}")
            self.hold_s = float(hold_s)

    def begin(self, region: str) -> None:
        with self.lock:
            self.regions.setdefault(region, isoformat(utcnow()))
            self._ended.clear()

    def end(self, region: str) -> None:
        with self.lock:
            self.regions.pop(region, None)
            if not self.regions:
                self._ended.set()  # requests being held are let go (reset) now

    def lost_region(self, authorization: str, query: str, internal: str) -> str | None:
        """The lost region this request is signed for, or None (it passes)."""
        if not self.regions or (internal and internal == self.internal_token):
            return None
        match = _SCOPE.search(authorization or "") or _QUERY_SCOPE.search(query or "")
        if not match:
            return None
        region, service = match.group(1), match.group(2)
        if service in CONTROL_PLANE_IN_US_EAST_1:  # served from us-east-1, whatever the signed region
            region = GLOBAL_CONTROL_PLANE_REGION
        return region if region in self.regions else None

    def hold(self) -> None:
        """``timeout`` mode: keep the request unanswered up to ``hold_s`` (or until the outage ends)."""
        self._ended.wait(self.hold_s)

    def describe(self) -> dict:
        with self.lock:
            return {"regions": dict(self.regions), "mode": self.mode, "hold_s": self.hold_s, "refused": self.refused}


def aws_api_view(mode: str, hold_s: float, region: str) -> str:
    """How a client of the lost region's AWS API sees the outage (for status and sandbox.json)."""
    seen = {"503": "HTTP 503 ServiceUnavailable (AWS error document)", "reset": "connection reset, no answer",
            "timeout": f"no answer for up to {hold_s:g} s, then connection reset"}[mode]
    if region == GLOBAL_CONTROL_PLANE_REGION:
        return f"{seen} for every request signed for {region} (Route53's API included)"
    return f"{seen} for every request signed for {region} (Route53's API, in {GLOBAL_CONTROL_PLANE_REGION}, still answers)"


def reset_connection(sock) -> None:
    """Close with SO_LINGER 0: the client gets a TCP RST, no answer."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


# -- the answer AWS gives when a region's endpoint is down ------------------------------------------
MESSAGE = "Service unavailable: the {region} endpoint is not answering (sandbox primary-region outage)"


def _cbor_text(value: str) -> bytes:
    data = value.encode()
    n = len(data)
    head = bytes([0x60 + n]) if n < 24 else bytes([0x78, n]) if n < 256 else bytes([0x79]) + n.to_bytes(2, "big")
    return head + data


def _cbor_map(values: dict[str, str]) -> bytes:
    out = bytes([0xA0 + len(values)])
    for key, value in values.items():
        out += _cbor_text(key) + _cbor_text(value)
    return out


def error_document(environ: dict, region: str, code: str = "ServiceUnavailable", message: str | None = None,
                   fault: str = "Receiver") -> tuple[str, list[tuple[str, str]], bytes]:
    """(content type, extra headers, body) of an AWS error (default ServiceUnavailable) in the request's protocol."""
    import json
    from xml.sax.saxutils import escape

    request_id = str(uuid.uuid4())
    message = MESSAGE.format(region=region) if message is None else message
    content_type = environ.get("CONTENT_TYPE", "")
    headers = [("x-amzn-RequestId", request_id), ("x-amz-request-id", request_id), ("x-amzn-ErrorType", code)]
    if environ.get("HTTP_SMITHY_PROTOCOL", "") == "rpc-v2-cbor" or "cbor" in content_type:
        headers.append(("smithy-protocol", "rpc-v2-cbor"))
        return "application/cbor", headers, _cbor_map({"__type": code, "message": message})
    if environ.get("HTTP_X_AMZ_TARGET") or "json" in content_type:
        body = json.dumps({"__type": code, "message": message}).encode()
        return "application/x-amz-json-1.1", headers, body
    path = environ.get("PATH_INFO", "")
    text = escape(message)
    if path.startswith("/2013-04-01/"):  # Route53 (REST-XML)
        body = ('<?xml version="1.0"?>\n<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
                f"<Error><Type>{fault}</Type><Code>{code}</Code><Message>{text}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>")
    elif "Action=" in environ.get("QUERY_STRING", "") or "x-www-form-urlencoded" in content_type:  # query protocol
        body = (f"<ErrorResponse><Error><Type>{fault}</Type><Code>{code}</Code>"
                f"<Message>{text}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    else:  # S3 and other REST-XML services
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{text}</Message><RequestId>{request_id}</RequestId></Error>")
    return "text/xml", headers, body.encode()


def outage_gate(app, outage: RegionOutage):
    """WSGI middleware: requests signed for a lost region get HTTP 503 ServiceUnavailable."""

    def gate(environ, start_response):
        region = outage.lost_region(environ.get("HTTP_AUTHORIZATION", ""), environ.get("QUERY_STRING", ""),
                                    environ.get("HTTP_" + INTERNAL_HEADER.upper().replace("-", "_"), ""))
        if region is None:
            return app(environ, start_response)
        with outage.lock:
            outage.refused += 1
        content_type, headers, body = error_document(environ, region)
        start_response("503 Service Unavailable",
                       [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers])
        return [body]

    return gate


def outage_handler(base, outage: RegionOutage):
    """The HTTP request handler: in ``reset``/``timeout`` mode, a request signed for a lost region gets
    no answer at all (held first in ``timeout`` mode), before any WSGI app sees it."""

    class OutageRequestHandler(base):
        def run_wsgi(self) -> None:
            if outage.mode in ("reset", "timeout"):
                region = outage.lost_region(self.headers.get("Authorization", ""), self.path.partition("?")[2],
                                            self.headers.get(INTERNAL_HEADER, ""))
                if region is not None:
                    with outage.lock:
                        outage.refused += 1
                    if outage.mode == "timeout":
                        outage.hold()
                    reset_connection(self.connection)
                    self.close_connection = True
                    return
            super().run_wsgi()

    return OutageRequestHandler


def mark_internal(client, outage: RegionOutage):
    """The sandbox's own boto3 client: its requests pass the outage (it works from inside AWS)."""

    def add_header(request, **_):
        request.headers[INTERNAL_HEADER] = outage.internal_token

    client.meta.events.register("before-send", add_header)
    return client


# -- the faults --------------------------------------------------------------------------------------
def _refuses(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return True  # unreachable / timed out: nothing answers either


def outage_faults(aws) -> list[Fault]:
    """``aws`` is the running AwsComponent."""
    from .rds_backend import ACCOUNT_ID
    from .route53 import regional_name

    ctx = aws.ctx
    region = aws.primary
    stash: dict[str, object] = {}

    def prod_server():
        real = aws.rds.instance(region, aws.prod_id)
        return real.server if real is not None else None

    def primary_endpoint() -> tuple[str, int]:
        return aws.region_addresses[region], int(ctx.state.get("api", {}).get("url", "http://x:443").rsplit(":", 1)[1])

    def go_down():
        aws.moto.outage.begin(region)
        server = prod_server()
        stash["prod_was_running"] = bool(server is not None and server.is_running())
        if stash["prod_was_running"]:
            server.stop("fast")
        host, port = primary_endpoint()
        if not _refuses(host, port):
            aws.moto.outage.end(region)
            if stash.pop("prod_was_running", False):
                server.start()
            raise RuntimeError(f"something answers at the primary API endpoint {host}:{port}; "
                               "the outage cannot make it refuse")
        described = aws.moto.outage.describe()
        working = [f"AWS API of {aws.secondary}", "sandbox DNS (Route53 answers)", "DR cluster",
                   "DR database", "KOSMOS API / Grafana / status page stand-ins"]
        if region != GLOBAL_CONTROL_PLANE_REGION:
            working.insert(1, f"Route53's API (its control plane is in {GLOBAL_CONTROL_PLANE_REGION})")
        ctx.state["outage"] = {
            "scenario": "primary-region", "region": region, "since": described["regions"][region],
            "mode": described["mode"], "hold_s": described["hold_s"],
            "aws_api": aws_api_view(described["mode"], described["hold_s"], region),
            "database": f"{aws.prod_id} stopped: connection refused"
                        + (f" at {server.host}:{server.port}" if server is not None else ""),
            "api_endpoint": f"{regional_name(region).rstrip('.')} -> {host}: connection refused on port {port}",
            "working": working,
        }

    def come_back():
        aws.moto.outage.end(region)
        if stash.pop("prod_was_running", False):
            prod_server().start()
        ctx.state.pop("outage", None)

    async def outage_apply():
        await asyncio.to_thread(go_down)

    async def outage_revert():
        await asyncio.to_thread(come_back)

    # -- the DR instance was never promoted: still a replica of the lost primary ---------------------
    def dr_server():
        return aws.rds.instance(aws.secondary, aws.dr_id).server

    def west_dr():
        from moto.rds.models import rds_backends

        return rds_backends[ACCOUNT_ID][aws.secondary].databases[aws.dr_id]

    def east_prod():
        from moto.rds.models import rds_backends

        return rds_backends[ACCOUNT_ID][region].databases.get(aws.prod_id)

    def not_promoted():
        dr, prod = west_dr(), east_prod()
        kept = {"source_db_instance_identifier": dr.source_db_instance_identifier,
                "status_infos": getattr(dr, "status_infos", None)}
        stash["not-promoted"] = (kept, list(prod.replicas) if prod is not None else None)
        dr.source_db_instance_identifier = f"arn:aws:rds:{region}:{ACCOUNT_ID}:db:{aws.prod_id}"
        dr.status_infos = [{"StatusType": "read replication", "Normal": True, "Status": "replicating"}]
        if prod is not None and dr.db_instance_arn not in prod.replicas:
            prod.replicas.append(dr.db_instance_arn)
        server = dr_server()  # its configuration still streams from production (now down): it stays in recovery
        server.stop("fast")
        server._signal(STANDBY_SIGNAL)
        server.start()

    def promoted_again():
        kept, replicas = stash.pop("not-promoted", ({}, None))
        dr, prod = west_dr(), east_prod()
        for key, value in kept.items():
            setattr(dr, key, value)
        if prod is not None and replicas is not None:
            prod.replicas[:] = replicas
        server = dr_server()
        if (server.data_dir / STANDBY_SIGNAL).exists() or not server.is_running():
            server.stop("fast")
            (server.data_dir / STANDBY_SIGNAL).unlink(missing_ok=True)
            server.start()  # shut down in recovery, no signal file: it starts as the primary it was
            server.wait_until_primary()

    async def not_promoted_apply():
        await asyncio.to_thread(not_promoted)

    async def not_promoted_revert():
        await asyncio.to_thread(promoted_again)

    return [
        Fault(OUTAGE_FAULT, (),
              f"{region} is lost: its AWS API (every service"
              + (", Route53's control plane too" if region == GLOBAL_CONTROL_PLANE_REGION else "")
              + ") answers 503 ServiceUnavailable (or resets/times out, see outage mode), the primary database "
              f"and the primary API endpoint refuse connections; {aws.secondary}, DNS answers"
              + ("" if region == GLOBAL_CONTROL_PLANE_REGION else f", Route53's API ({GLOBAL_CONTROL_PLANE_REGION})")
              + " and the DR side keep working",
              outage_apply, outage_revert),
        Fault(NOT_PROMOTED_FAULT, ("VAL-DB-CONNECT",),
              f"{aws.dr_id} was never promoted: it still names {aws.prod_id} as its replication source and its "
              "server is a standby in recovery, streaming from the lost primary",
              not_promoted_apply, not_promoted_revert),
    ]
