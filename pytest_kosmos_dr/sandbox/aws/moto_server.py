"""moto's server, in the sandbox daemon's process, on a free loopback port.

In-process matters: the sandbox reaches moto's backend objects directly to pair RDS with real
PostgreSQL, backdate history (snapshot times, S3 LastModified) and serve DNS from Route53's records.
Every client (boto3 in other processes, the ``aws`` CLI) talks to the same server over HTTP.
"""

from __future__ import annotations

from ..component import LOOPBACK, free_port

PRIMARY_REGION = "us-east-1"
SECONDARY_REGION = "us-west-2"


class MotoServer:
    def __init__(self, host: str = LOOPBACK) -> None:
        self.host = host
        self.port = 0
        self._server = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in sandbox.log
        self.port = free_port(self.host)
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self, service: str, region: str, access_key: str, secret_key: str):
        """A boto3 client for this server, with short timeouts and no retries storm."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            service, region_name=region, endpoint_url=self.url,
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2}),
        )
