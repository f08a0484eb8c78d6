"""moto's server, in the sandbox daemon's process, on a free loopback port.

In-process matters: the sandbox reaches moto's backend objects directly to pair RDS with real
PostgreSQL, backdate history (snapshot times, S3 LastModified) and serve DNS from Route53's records.
Every client (boto3 in other processes, the ``aws`` CLI) talks to the same server over HTTP.
``outage`` plays a lost region for those clients (see outage.py); the sandbox's own clients pass.
"""

from __future__ import annotations

from ..component import LOOPBACK, free_port
from .outage import RegionOutage, mark_internal, outage_gate, outage_handler

PRIMARY_REGION = "us-east-1"
SECONDARY_REGION = "us-west-2"


class MotoServer:
    def __init__(self, host: str = LOOPBACK) -> None:
        self.host = host
        self.port = 0
        self._server = None
        self.outage = RegionOutage()

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
            outage_gate(DomainDispatcherApplication(create_backend_app), self.outage))
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
        through a played outage, as AWS's own machinery does."""
        import boto3
        from botocore.config import Config

        return mark_internal(boto3.client(
            service, region_name=region, endpoint_url=self.url,
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2}),
        ), self.outage)


READ_ACTION_PREFIXES = ("Describe", "List", "Get", "Head")


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
