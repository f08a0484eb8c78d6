"""moto's server, in the sandbox daemon's process, on a free loopback port.

In-process matters: the sandbox reaches moto's backend objects directly to pair RDS with real
PostgreSQL, backdate history (snapshot times, S3 LastModified) and serve DNS from Route53's records.
Every client (boto3 in other processes, the ``aws`` CLI) talks to the same server over HTTP.
``outage`` plays a lost region for those clients (see outage.py); the sandbox's own clients pass.

Only the sandbox's credentials get in: a request must carry the access key the env file hands out
(SigV4 ``Authorization`` header or presigned ``X-Amz-Credential``; SigV2 ``AWS key:sig`` or
``AWSAccessKeyId``), or the sandbox's own in-process token. Any other request (unsigned, another key)
gets HTTP 403 with AWS's error document, as AWS answers: ``AccessDenied``/``InvalidAccessKeyId`` (S3),
``MissingAuthenticationToken``/``InvalidClientTokenId`` (query, Route53),
``MissingAuthenticationTokenException``/``UnrecognizedClientException`` (JSON protocols). moto's own
``/moto-api`` (reset, dashboard) is behind the same gate. The access key is compared, not the signature.
"""

from __future__ import annotations

import hmac
import re
import threading
from urllib.parse import parse_qs

from ..component import LOOPBACK, free_port
from .outage import INTERNAL_HEADER, RegionOutage, error_document, mark_internal, outage_gate, outage_handler


class AccessKeys:
    """The access keys the sandbox's AWS endpoint accepts (the env file's; none until one is allowed)."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def allow(self, access_key: str) -> None:
        if access_key:
            with self._lock:
                self._keys.add(access_key)

    def accepts(self, access_key: str) -> bool:
        with self._lock:
            keys = list(self._keys)
        return any(hmac.compare_digest(access_key.encode(), key.encode()) for key in keys)


class MotoServer:
    def __init__(self, host: str = LOOPBACK, access_key: str | None = None) -> None:
        self.host = host
        self.port = 0
        self._server = None
        self.outage = RegionOutage()
        self.access_keys = AccessKeys()
        if access_key:
            self.access_keys.allow(access_key)

    def allow_access_key(self, access_key: str) -> None:
        """Accept requests signed with ``access_key`` (the credentials the sandbox hands out)."""
        self.access_keys.allow(access_key)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Serve moto's app (requests recorded in the sandbox's request log) on a free port."""
        import logging
        import threading

        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in sandbox.log
        if not self.port:
            self.port = free_port(self.host)
        self._app = self._app if getattr(self, "_app", None) else _recorded(
            auth_gate(outage_gate(DomainDispatcherApplication(create_backend_app), self.outage),
                      self.access_keys, self.outage))
        self._server = make_server(self.host, self.port, self._app, threaded=True,
                                   request_handler=outage_handler(MotoRequestHandler, self.outage))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (the backends keep their state: ``start`` again serves the same data)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None

    def client(self, service: str, region: str, access_key: str, secret_key: str):
        """The sandbox's own boto3 client for this server (short timeouts, no retries storm); it works
        through a played outage, as AWS's own machinery does. Its access key is the one the endpoint accepts."""
        import boto3
        from botocore.config import Config

        self.allow_access_key(access_key)
        return mark_internal(boto3.client(
            service, region_name=region, endpoint_url=self.url,
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2}),
        ), self.outage)


READ_ACTION_PREFIXES = ("Describe", "List", "Get", "Head")
_HEADER_V4 = re.compile(r"Credential=([^/\s,]+)/")
_HEADER_V2 = re.compile(r"^AWS ([^:\s]+):")


def request_access_key(environ: dict) -> str | None:
    """The access key a request is signed with (header or presigned URL), or None (unsigned)."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    match = _HEADER_V4.search(authorization) or _HEADER_V2.search(authorization)
    if match:
        return match.group(1)
    query = parse_qs(environ.get("QUERY_STRING", ""))
    credential = (query.get("X-Amz-Credential") or query.get("x-amz-credential") or [""])[0]
    if credential:
        return credential.split("/", 1)[0]
    return (query.get("AWSAccessKeyId") or [None])[0]


def _denial(environ: dict, access_key: str | None) -> tuple[str, str]:
    """(code, message) AWS answers for an unsigned request or an unknown access key, by protocol."""
    json_protocol = bool(environ.get("HTTP_X_AMZ_TARGET")) or "json" in environ.get("CONTENT_TYPE", "") \
        or "cbor" in environ.get("CONTENT_TYPE", "")
    query_protocol = "Action=" in environ.get("QUERY_STRING", "") \
        or "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "")
    rest_s3 = not json_protocol and not query_protocol and not environ.get("PATH_INFO", "").startswith("/2013-04-01/")
    if access_key is None:
        if rest_s3:
            return "AccessDenied", "Access Denied"
        if json_protocol:
            return "MissingAuthenticationTokenException", "Missing Authentication Token"
        return "MissingAuthenticationToken", "Request is missing Authentication Token"
    if rest_s3:
        return "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
    if json_protocol:
        return "UnrecognizedClientException", "The security token included in the request is invalid."
    return "InvalidClientTokenId", "The security token included in the request is invalid."


def _as_protocol(environ: dict) -> dict:
    """The request as its protocol is told: a form-encoded body without ``Action=`` is not the query
    protocol (an S3 upload by a client that labels it so), so it gets S3's error document."""
    if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "") and "Action=" not in environ.get("QUERY_STRING", ""):
        try:
            length = min(int(environ.get("CONTENT_LENGTH") or 0), 1 << 20)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        if b"Action=" not in body:
            return {**environ, "CONTENT_TYPE": ""}
    return environ


def auth_gate(app, access_keys: AccessKeys, outage: RegionOutage):
    """WSGI middleware: only requests with the sandbox's access key (or its own token) reach moto."""
    internal_key = "HTTP_" + INTERNAL_HEADER.upper().replace("-", "_")

    def gate(environ, start_response):
        internal = environ.get(internal_key, "")
        if internal and hmac.compare_digest(internal.encode(), outage.internal_token.encode()):
            return app(environ, start_response)
        access_key = request_access_key(environ)
        if access_key is not None and access_keys.accepts(access_key):
            return app(environ, start_response)
        environ = _as_protocol(environ)  # refused: its body is read only to tell the protocol
        code, message = _denial(environ, access_key)
        content_type, headers, body = error_document(environ, "", code=code, message=message, fault="Sender")
        start_response("403 Forbidden", [("Content-Type", content_type), ("Content-Length", str(len(body))),
                                         *headers])
        return [body]

    return gate


def _recorded(app):
    """WSGI middleware: record service, method, path and (Query API) action of every request."""
    import io
    from urllib.parse import parse_qs

    from ..request_log import RECORDER

    def recording_app(environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        action = parse_qs(query).get("Action", [""])[0]
        if not action and "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            action = parse_qs(body.decode(errors="replace")).get("Action", [""])[0]
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not action and target:
            action = target.rsplit(".", 1)[-1]
        if action:
            mutating = not action.startswith(READ_ACTION_PREFIXES)
        else:  # REST services (S3, Route53): reads are GET/HEAD
            mutating = method not in ("GET", "HEAD")
        RECORDER.add("aws", method, path, query, mutating=mutating, action=action)
        return app(environ, start_response)

    return recording_app
