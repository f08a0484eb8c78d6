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

What moto does not implement never answers with werkzeug's 500 HTML page (``aws_errors``): an action
AWS does not know gets AWS's ``InvalidAction`` (query protocol, HTTP 400) or
``UnknownOperationException`` (JSON and REST protocols); an AWS operation the sandbox does not
implement gets HTTP 501 ``NotImplemented`` in the request's protocol, naming the operation; any other
failure inside moto is AWS's HTTP 500 ``InternalFailure`` (``InternalError`` for S3) error document.
botocore parses each into a ``ClientError`` with that code. RDS ``DescribePendingMaintenanceActions`` and
``DescribeReservedDBInstances``, which moto lacks, are served (``MISSING_OPERATIONS``): the sandbox
schedules no maintenance and buys no reservations, so they answer as such an account does (empty lists).
"""

from __future__ import annotations

import hmac
import os
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


def _regions_read_once() -> None:
    """moto asks a new boto3 session for a service's regions: EC2's for each partition when it is imported,
    and again for each account's backends. Each new session parses botocore's endpoint data and that
    service's whole model just to read its endpoint prefix (EC2's import: 0.86 s of CPU, measured). The
    answers come from botocore's installed data, the same for every session of this process that reads no
    other model folders: one session reads them, and each answer is kept."""
    import botocore.session

    session_class = botocore.session.Session
    if getattr(session_class.get_available_regions, "_read_once", False):
        return
    read = session_class.get_available_regions
    answers: dict[tuple, list[str]] = {}
    reader: list = []  # the one session that reads (made on first use)
    lock = threading.Lock()

    def get_available_regions(self, service_name, partition_name="aws", allow_non_regional=False):
        if self.get_config_variable("data_path"):  # a session reading other model folders: asked afresh
            return read(self, service_name, partition_name, allow_non_regional)
        key = (service_name, partition_name, allow_non_regional)
        with lock:
            if key not in answers:
                if not reader:
                    reader.append(botocore.session.Session())
                answers[key] = read(reader[0], service_name, partition_name, allow_non_regional)
            return list(answers[key])

    get_available_regions._read_once = True
    session_class.get_available_regions = get_available_regions


def _models_read_lighter() -> None:
    """moto reads each service's model through a new botocore loader (``moto.core.utils.create_loader``),
    which lists every service folder of botocore and moto once per model type and parses into
    ``OrderedDict``s; its loaders get the AWS clients' lighter reading (clients/aws_models.py): the same
    models, read for less CPU."""
    from moto.core import utils as moto_utils

    from ...clients.aws_models import tune_loader

    make = moto_utils.create_loader
    if getattr(make, "_lighter", False):
        return

    def create_loader():
        loader = make()
        tune_loader(loader)
        return loader

    create_loader._lighter = True
    moto_utils.create_loader = create_loader


def _request_ids_written_where_present() -> None:
    """moto writes each answer's request id into its ``<RequestId>`` element with a look-behind regular
    expression run over the whole body: ~27 ms per 1,000-version listing page, which has no such element.
    A body without ``<RequestId>`` is now returned as it is (the expression could not match it)."""
    from moto.core import responses

    BaseResponse = responses.BaseResponse  # noqa: N806 - moto's class
    enrich = BaseResponse.__dict__.get("_enrich_response")
    plain = getattr(enrich, "__func__", None)
    if plain is None or getattr(plain, "_where_present", False) or not hasattr(responses, "gen_amzn_requestid_long"):
        return

    def _enrich_response(headers, body):
        if isinstance(body, str) and "<RequestId>" not in body:
            if "status" in headers:
                headers["status"] = str(headers["status"])
            responses.gen_amzn_requestid_long(headers)  # the x-amzn-requestid header, as moto adds it
            return headers, body
        return plain(headers, body)

    _enrich_response._where_present = True
    BaseResponse._enrich_response = staticmethod(_enrich_response)


def _services_listed_once() -> None:
    """moto's dispatcher lists its package folder (a directory read and ~150 ``isdir`` calls) on every
    request to tell a service name from a host name; the installed package does not change while the
    sandbox runs: the list is read once and kept."""
    from moto import backends

    listed = backends.list_of_moto_modules
    if getattr(listed, "_once", False):
        return
    services: list[tuple[str, ...]] = []

    def list_of_moto_modules():
        if not services:
            services.append(tuple(listed()))
        return services[0]

    list_of_moto_modules._once = True
    backends.list_of_moto_modules = list_of_moto_modules


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

        _regions_read_once()  # before moto's import, which asks for EC2's regions
        _models_read_lighter()
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in sandbox.log
        # moto's EC2 backend, which RDS creates per region, would load 1,300 public AMIs (about 1 s of CPU
        # per region): nothing in the sandbox serves EC2 images (moto's own setting; set it to override)
        os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        if not self.port:
            self.port = free_port(self.host)
        serve_missing_operations()
        _request_ids_written_where_present()
        _services_listed_once()
        self._app = self._app if getattr(self, "_app", None) else _recorded(
            auth_gate(outage_gate(internal_failure(DomainDispatcherApplication(aws_errors(create_backend_app))),
                                  self.outage), self.access_keys, self.outage))
        self._server = make_server(self.host, self.port, self._app, threaded=True,
                                   request_handler=outage_handler(MotoRequestHandler, self.outage))
        # shutdown() waits for the serving loop's next poll: 0.5 s by default, every sandbox stop
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
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
        if boto3.DEFAULT_SESSION is None:  # the daemon's clients share boto3's default session: models read lighter
            from ...clients.aws_models import tune_loader

            boto3.setup_default_session()
            tune_loader(boto3.DEFAULT_SESSION._session.get_component("data_loader"))
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


# -- what moto does not implement: AWS's error documents, never an HTML page ----------------------------
_NOT_IMPLEMENTED = re.compile(r"^The (\w+) action has not been implemented$")


def _operation_names(service: str) -> dict[str, str]:
    """{python_name: OperationName} of the AWS service's API (botocore's model), or {} if unknown."""
    import botocore.session
    from botocore import xform_name

    try:
        model = botocore.session.get_session().get_service_model(service)
    except Exception:  # noqa: BLE001 - a moto service botocore names otherwise: no model, no names
        return {}
    return {xform_name(name): name for name in model.operation_names}


def _requested_operation(environ: dict, values) -> str:
    """The operation a request names itself (query ``Action``, JSON ``X-Amz-Target``), or ''."""
    action = (values.get("Action") if values is not None else None) or \
        (parse_qs(environ.get("QUERY_STRING", "")).get("Action") or [""])[0]
    return action or environ.get("HTTP_X_AMZ_TARGET", "").rsplit(".", 1)[-1]


def _routed_operation(service: str, request) -> str:
    """The AWS operation a REST request's method and path name (botocore's model), or ''."""
    try:
        from moto.core.routing import get_service_router

        return get_service_router(service).match(request)[0].name
    except Exception:  # noqa: BLE001 - no model, no route: no operation
        return ""


def _error_response(environ: dict, status: int, code: str, message: str, fault: str):
    """A Flask response carrying AWS's error document for ``code`` in the request's protocol."""
    from flask import Response

    content_type, headers, body = error_document(environ, "", code=code, message=message, fault=fault)
    return Response(body, status=status, headers=headers, content_type=content_type)


def unimplemented_answer(environ: dict, service: str, operation: str, values=None) -> tuple[int, str, str, str]:
    """(status, code, message, fault) for a request moto has no handler for, as AWS would word it:
    an operation the service's API lacks is ``InvalidAction`` (query) / ``UnknownOperationException``
    (JSON, REST) with HTTP 400; an AWS operation the sandbox does not implement is 501 ``NotImplemented``."""
    names = _operation_names(service)
    requested = _requested_operation(environ, values)
    name = requested or names.get(operation, operation)
    known = name in names.values()
    query = not environ.get("HTTP_X_AMZ_TARGET") and (
        "Action=" in environ.get("QUERY_STRING", "") or "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""))
    if not known:
        if query:
            return 400, "InvalidAction", f"The action {name} is not valid for this web service.", "Sender"
        return 400, "UnknownOperationException", f"Unknown operation {name}", "Sender"
    return 501, "NotImplemented", (f"The kosmos-dr sandbox does not implement {service} {name} "
                                   "(moto has no handler for it; see docs/sandbox-aws.md)"), "Receiver"


def aws_errors(create_app):
    """Wrap moto's per-service Flask app factory: an unimplemented operation, an unknown route or a
    failure inside moto answers with AWS's error document (``unimplemented_answer``), not an HTML page."""
    from werkzeug.exceptions import HTTPException

    def create(service):
        app = create_app(service)

        def failed(exc: Exception):
            from botocore.model import OperationNotFoundError
            from flask import request

            environ = request.environ
            if isinstance(exc, HTTPException):
                if exc.code not in (404, 405):
                    return exc
                operation = _routed_operation(service, request)
                status, code, message, fault = unimplemented_answer(environ, service, operation, request.values)
                if not operation and not _requested_operation(environ, request.values):
                    status, message = 404, f"No {service} operation at {request.method} {request.path}"
                return _error_response(environ, status, code, message, fault)
            if isinstance(exc, OperationNotFoundError):  # an action the service's API does not have
                return _error_response(environ, *unimplemented_answer(environ, service, str(exc), request.values))
            if isinstance(exc, NotImplementedError):
                match = _NOT_IMPLEMENTED.match(str(exc))
                status, code, message, fault = unimplemented_answer(
                    environ, service, match.group(1) if match else "", request.values)
                if not match and code == "NotImplemented":  # a feature of an implemented operation
                    message = f"The kosmos-dr sandbox does not implement this: {exc}"
                return _error_response(environ, status, code, message, fault)
            code = "InternalError" if service == "s3" else "InternalFailure"
            return _error_response(environ, 500, code, f"The kosmos-dr sandbox's {service} failed: "
                                   f"{type(exc).__name__}: {exc}".splitlines()[0], "Receiver")

        app.register_error_handler(Exception, failed)
        return app

    return create


def internal_failure(app):
    """WSGI middleware: a failure before any service handles the request (dispatch) is AWS's HTTP 500
    ``InternalFailure`` document, not werkzeug's HTML page."""

    def guarded(environ, start_response):
        try:
            return app(environ, start_response)
        except Exception as exc:  # noqa: BLE001 - the client gets AWS's answer; the log the details
            import logging

            logging.getLogger("kosmos_dr.sandbox.aws").exception("AWS request failed before a service took it")
            content_type, headers, body = error_document(
                environ, "", code="InternalFailure", fault="Receiver",
                message=f"The kosmos-dr sandbox's AWS endpoint failed: {type(exc).__name__}")
            start_response("500 Internal Server Error", [("Content-Type", content_type),
                                                         ("Content-Length", str(len(body))), *headers])
            return [body]

    return guarded


# -- operations moto lacks that the sandbox serves -----------------------------------------------------
def describe_pending_maintenance_actions(self):
    """RDS DescribePendingMaintenanceActions: the sandbox schedules no maintenance, so every instance and
    cluster has none pending (an account with nothing pending answers an empty list); a
    ``ResourceIdentifier`` that is no instance or cluster ARN of the region is ResourceNotFoundFault."""
    from moto.core.responses import ActionResult
    from moto.rds.exceptions import RDSClientError

    resource = self.params.get("ResourceIdentifier")
    if resource:
        arns = {db.arn for db in self.backend.databases.values()} | {c.arn for c in self.backend.clusters.values()}
        if resource not in arns:
            raise RDSClientError("ResourceNotFoundFault", f"The specified resource ID {resource} was not found.")
    return ActionResult({"PendingMaintenanceActions": []})


def describe_reserved_db_instances(self):
    """RDS DescribeReservedDBInstances: the sandbox's account bought no reserved instances (an empty list)."""
    from moto.core.responses import ActionResult

    return ActionResult({"ReservedDBInstances": []})


MISSING_OPERATIONS = {"moto.rds.responses.RDSResponse": (describe_pending_maintenance_actions,
                                                         describe_reserved_db_instances)}


def serve_missing_operations() -> None:
    """Give moto's response classes the operations above (the sandbox runs moto in its own process)."""
    import importlib

    for dotted, functions in MISSING_OPERATIONS.items():
        module, _, name = dotted.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        for function in functions:
            if function.__name__ not in vars(cls):
                setattr(cls, function.__name__, function)
