"""Where the DR environment of a target answers, and with which credentials.

For an ``aws`` target this comes from the target's settings and the environment variables it
names; for the ``sandbox`` target from the running sandbox's ``sandbox.json``.

The DR database's host, in this order: ``database.host``; else ``$PGHOST``; else the endpoint
(address and port) RDS reports for ``database.replica_instance`` in ``aws.secondary_region`` (the
promoted DR instance), read once, when the first connection is made
(``clients.database.rds_endpoint``). RDS unreachable, no such instance or no endpoint yet: the
database checks are "could not verify" with one line. Every secret read
here is a ``Secret`` (registered for redaction, masked in every repr: ``--debug`` logs, tracebacks);
code that connects uses it as the plain string it is.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

from .redaction import Secret, SecretUrl, hide_secrets, secret
from .sandbox.state import SandboxState
from .target import Target


@dataclass(frozen=True)
class DatabaseEndpoint:
    host: str
    port: int
    dbname: str
    user: str
    password: Secret | None
    sslmode: str = "prefer"
    # host empty: the RDS instance whose endpoint answers (looked up by ``locate`` when connecting)
    rds_instance: str = ""
    rds_region: str = ""
    settings: Any = field(default=None, repr=False, compare=False)  # the target's [database] settings
    locate: Callable[[], tuple[str, int]] | None = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        """Safe to print: no password."""
        host = self.host or (f"<endpoint of RDS {self.rds_instance} in {self.rds_region}>" if self.rds_instance
                             else "<no host>")
        return f"{self.user}@{host}:{self.port}/{self.dbname}"

    def located(self) -> "DatabaseEndpoint":
        """This endpoint with its host (and port) read from RDS when it has none."""
        if self.host or self.locate is None:
            return self
        host, port = self.locate()
        return dataclasses.replace(self, host=host, port=port)


@dataclass(frozen=True)
class DREnvironment:
    target: Target
    api_url: str
    api_token: Secret | None
    grafana_url: str
    grafana_token: Secret | None
    status_page_url: str
    database: DatabaseEndpoint
    kubeconfig: str
    kube_context: str
    aws_endpoint_url: str | None
    aws_credentials: dict[str, Secret] | None  # explicit keys (sandbox); None: profile / standard chain
    config_repo_url: str = ""  # a SecretUrl: it may carry a Git token
    sandbox_state: SandboxState | None = None  # the sandbox target's state (None for any other)

    @property
    def verify_tls(self) -> bool | str:
        endpoints = self.target.endpoints
        if endpoints.ca_bundle:
            return endpoints.ca_bundle
        return endpoints.verify_tls


def _env_secret(name: str) -> Secret | None:
    return secret(os.environ.get(name) if name else None)


def resolve(target: Target, sandbox_state: SandboxState | Mapping[str, Any] | None = None) -> DREnvironment:
    """The endpoints of ``target`` (``sandbox_state`` is required for the sandbox target: its
    ``SandboxState``, or the running sandbox's raw ``state``, whose secrets are then hidden in place so
    that its own repr masks them too). A malformed state is a SandboxError."""
    if target.is_sandbox:
        if sandbox_state is None:
            raise ValueError("the sandbox target needs a running sandbox")
        if not isinstance(sandbox_state, SandboxState):
            sandbox_state = SandboxState.from_dict(hide_secrets(sandbox_state))
        return _from_sandbox(target, sandbox_state)
    db = target.database
    kube = target.kubernetes
    host = db.host or os.environ.get("PGHOST", "")
    locate = None
    if not host and db.replica_instance:
        from .clients.database import rds_endpoint

        locate = rds_endpoint(target, db.replica_instance, target.aws.secondary_region)
    return DREnvironment(
        target=target,
        api_url=target.endpoints.api.rstrip("/"),
        api_token=_env_secret(target.endpoints.api_token_env),
        grafana_url=target.endpoints.grafana.rstrip("/"),
        grafana_token=_env_secret(target.endpoints.grafana_token_env),
        status_page_url=target.endpoints.status_page.rstrip("/"),
        database=DatabaseEndpoint(
            host=host,
            port=db.port,
            dbname=db.name,
            user=db.user,
            password=_env_secret(db.password_env),
            sslmode=db.sslmode,
            rds_instance="" if host else db.replica_instance,
            rds_region="" if host else target.aws.secondary_region,
            settings=db,
            locate=locate,
        ),
        kubeconfig=str(Path(kube.kubeconfig).expanduser()) if kube.kubeconfig else os.environ.get(
            "KUBECONFIG", str(Path.home() / ".kube" / "config")
        ),
        kube_context=kube.context,
        aws_endpoint_url=target.aws.endpoint_url or None,
        aws_credentials=None,
        config_repo_url=SecretUrl(target.config_repo.url or ""),
    )


def _from_sandbox(target: Target, state: SandboxState) -> DREnvironment:
    db, kube, aws = state.database, state.kubernetes, state.aws
    credentials = None
    if aws:
        credentials = {
            "aws_access_key_id": secret(aws.access_key_id),
            "aws_secret_access_key": secret(aws.secret_access_key),
        }
    return DREnvironment(
        target=target,
        api_url=state.api.url,
        api_token=secret(state.api.token),
        grafana_url=state.grafana.url,
        grafana_token=secret(state.grafana.token),
        status_page_url=state.status_page.url if state.status_page else "",
        database=DatabaseEndpoint(
            host=db.host, port=db.port, dbname=db.dbname, user=db.user,
            password=secret(db.password), sslmode="disable", settings=target.database,
        ),
        kubeconfig=kube.kubeconfig,
        kube_context=kube.context or target.kubernetes.context,
        aws_endpoint_url=aws.endpoint_url if aws else None,
        aws_credentials=credentials,
        config_repo_url=SecretUrl(kube.config_repo or target.config_repo.url or ""),
        sandbox_state=state,
    )
