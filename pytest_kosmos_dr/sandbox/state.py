"""The running sandbox's state (its ``sandbox.json``), typed: what the run, the CLI and the checks read.

Code outside ``sandbox/`` reads the sandbox through ``SandboxState`` (``SandboxState.of(running)``, or
``SandboxState.from_dict(raw)``), never by key. A state without a section the run needs (database, API,
Grafana), or with a malformed one, is a ``SandboxError`` with one line; sections only some sandboxes
have (AWS, DNS, a status page, an outage, an incident, published evidence files) are None or empty.
Secret fields keep whatever the raw state held (``environment`` wraps them as secrets) and stay out of
``repr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SandboxError


def _section(raw: Mapping, key: str, required: bool = False) -> Mapping | None:
    value = raw.get(key)
    if value is None or value == {}:
        if required:
            raise SandboxError(f"sandbox state: no {key!r} section")
        return None
    if not isinstance(value, Mapping):
        raise SandboxError(f"sandbox state: {key!r} is {type(value).__name__}, not a section")
    return value


def _text(section: Mapping, key: str, where: str, required: bool = True) -> str:
    value = section.get(key)
    if value is None or value == "":
        if required:
            raise SandboxError(f"sandbox state: no {where}.{key}")
        return ""
    if not isinstance(value, str):
        raise SandboxError(f"sandbox state: {where}.{key} is {value!r}, not text")
    return value


def _optional(section: Mapping, key: str) -> str | None:
    value = section.get(key)
    return None if value is None or value == "" else str(value)


def _secret(section: Mapping, key: str) -> str | None:
    """A secret as the raw state holds it (a plain string, or the secret ``environment`` wrapped it in)."""
    value = section.get(key)
    return value if isinstance(value, str) and value else None


def _port(section: Mapping, key: str, where: str) -> int:
    value = section.get(key)
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise SandboxError(f"sandbox state: {where}.{key} is {value!r}, not a port") from None
    if not 0 < port < 65536:
        raise SandboxError(f"sandbox state: {where}.{key} is {port}, not a port")
    return port


@dataclass(frozen=True)
class Service:
    """An HTTP stand-in (KOSMOS API, Grafana, status page): where it answers, and its token."""

    url: str
    token: str | None = field(default=None, repr=False)
    https_url: str = ""  # by the plan's name, with the sandbox CA

    @classmethod
    def from_dict(cls, raw: Mapping, where: str) -> "Service":
        return cls(url=_text(raw, "url", where), token=_secret(raw, "token"),
                   https_url=_text(raw, "https_url", where, required=False))


@dataclass(frozen=True)
class Database:
    host: str
    port: int
    dbname: str
    user: str
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_dict(cls, raw: Mapping) -> "Database":
        return cls(host=_text(raw, "host", "database"), port=_port(raw, "port", "database"),
                   dbname=_text(raw, "dbname", "database"), user=_text(raw, "user", "database"),
                   password=_secret(raw, "password"))

    def describe(self) -> str:
        """Safe to print: no password."""
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"


@dataclass(frozen=True)
class Kubernetes:
    kubeconfig: str = ""
    context: str = ""
    config_repo: str = ""  # the configuration repository's URL or path

    @classmethod
    def from_dict(cls, raw: Mapping) -> "Kubernetes":
        return cls(*(_text(raw, key, "kubernetes", required=False) for key in ("kubeconfig", "context", "config_repo")))


@dataclass(frozen=True)
class Aws:
    endpoint_url: str
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    primary_region: str = ""
    secondary_region: str = ""

    @classmethod
    def from_dict(cls, raw: Mapping) -> "Aws":
        return cls(endpoint_url=_text(raw, "endpoint_url", "aws"), access_key_id=_text(raw, "access_key_id", "aws"),
                   secret_access_key=_text(raw, "secret_access_key", "aws"),
                   primary_region=_text(raw, "primary_region", "aws", required=False),
                   secondary_region=_text(raw, "secondary_region", "aws", required=False))


@dataclass(frozen=True)
class Dns:
    """The sandbox's DNS server (the plan's names, UDP and TCP)."""

    host: str
    port: int

    @classmethod
    def from_dict(cls, raw: Mapping) -> "Dns":
        return cls(host=_text(raw, "host", "dns"), port=_port(raw, "port", "dns"))


@dataclass(frozen=True)
class Outage:
    """A regional outage the sandbox plays (``sandbox up --outage``): what is down and how."""

    region: str
    since: str
    mode: str
    aws_api: str
    database: str
    api_endpoint: str
    working: tuple[str, ...] = ()  # what still works

    @classmethod
    def from_dict(cls, raw: Mapping) -> "Outage":
        working = raw.get("working") or ()
        return cls(*(str(raw.get(key, "")) for key in ("region", "since", "mode", "aws_api", "database",
                                                        "api_endpoint")),
                   working=tuple(str(w) for w in working) if isinstance(working, (list, tuple)) else (str(working),))


@dataclass(frozen=True)
class Workload:
    """The live workload writing to production until the incident."""

    running: bool
    commits: Any = None
    last_commit: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Incident:
    """The incident as the sandbox plays it: ``state`` scheduled | primary failed | failed over (or an
    error), ``failover`` automatic | manual, and its instants as the sandbox wrote them (None: not yet)."""

    state: str = "failed over"
    failover: str = "automatic"
    scheduled_at: str | None = None
    start: str | None = None
    failover_at: str | None = None
    dns_switched_at: str | None = None
    last_production_write: str | None = None
    primary_region: str | None = None
    secondary_region: str | None = None
    error: str | None = None
    workload: Workload | None = None

    @classmethod
    def from_dict(cls, raw: Mapping | None) -> "Incident | None":
        """None for no incident; ``raw`` is the state's ``incident`` section or ``RunningSandbox.incident()``."""
        if not raw:
            return None
        if not isinstance(raw, Mapping):
            raise SandboxError(f"sandbox state: incident is {type(raw).__name__}, not a section")
        workload = raw.get("workload")
        return cls(state=_optional(raw, "state") or "failed over", failover=_optional(raw, "failover") or "automatic",
                   **{key: _optional(raw, key) for key in ("scheduled_at", "start", "failover_at", "dns_switched_at",
                                                           "last_production_write", "primary_region",
                                                           "secondary_region", "error")},
                   workload=Workload(bool(workload.get("running")), workload.get("commits"),
                                     _optional(workload, "last_commit"), _optional(workload, "error"))
                   if isinstance(workload, Mapping) and workload else None)


@dataclass(frozen=True)
class SandboxState:
    """What a running sandbox published about itself."""

    database: Database
    api: Service
    grafana: Service
    status_page: Service | None = None
    kubernetes: Kubernetes = Kubernetes()
    aws: Aws | None = None
    dns: Dns | None = None
    incident: Incident | None = None
    outage: Outage | None = None
    evidence: Mapping[str, Path] = field(default_factory=dict)  # published evidence files by key (may not exist)
    layout: str = "default"
    started_at: str | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "SandboxState":
        """The typed state of ``raw`` (``sandbox.json``); SandboxError with one line when it is malformed."""
        if not isinstance(raw, Mapping):
            raise SandboxError(f"sandbox state is {type(raw).__name__}, not the object sandbox.json holds")

        def optional(key: str, build):
            section = _section(raw, key)
            return build(section) if section is not None else None

        evidence = _section(raw, "evidence") or {}
        return cls(
            database=Database.from_dict(_section(raw, "database", required=True)),
            api=Service.from_dict(_section(raw, "api", required=True), "api"),
            grafana=Service.from_dict(_section(raw, "grafana", required=True), "grafana"),
            status_page=optional("status_page", lambda s: Service.from_dict(s, "status_page")),
            kubernetes=optional("kubernetes", Kubernetes.from_dict) or Kubernetes(),
            aws=optional("aws", Aws.from_dict),
            dns=optional("dns", Dns.from_dict),
            incident=Incident.from_dict(_section(raw, "incident")),
            outage=optional("outage", Outage.from_dict),
            evidence={key: Path(value) for key, value in evidence.items() if isinstance(value, str) and value},
            layout=_text(raw, "layout", "state", required=False) or "default",
            started_at=_optional(raw, "started_at"),
        )

    @classmethod
    def of(cls, running) -> "SandboxState":
        """The state of a ``manager.RunningSandbox``."""
        return cls.from_dict(running.state)

    def evidence_path(self, key: str) -> Path | None:
        """The file the sandbox published under ``evidence.<key>`` (it may not exist yet)."""
        return self.evidence.get(key)
