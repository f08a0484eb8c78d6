"""The incident record (``--dr-evidence PATH``): what was communicated during an incident, and when.

The communication criteria (COM-*) are judged against it. The format is documented in
``docs/evidence.md``; ``load`` validates it strictly: a missing or ill-typed field is one line
naming the file and the field (``DRConfigError``). Something that *did not happen* is written as
``null`` (``"paging": null``, ``"resolution": null``), never left out, so a forgotten field is
never read as "did not happen" nor the other way round.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .errors import DRConfigError
from .timeparse import isoformat, parse_instant, utcnow

# Clocks differ: an event this far ahead of our clock is still accepted.
CLOCK_SKEW = timedelta(minutes=5)
# A record whose start differs from the run's incident start by more than this describes another incident.
SAME_INCIDENT_TOLERANCE = timedelta(minutes=15)
NO_RECORD = "not verified: no incident record (give --dr-evidence PATH)"


@dataclass(frozen=True)
class Paging:
    system: str  # e.g. "PagerDuty"
    incident_id: str  # the paging system's incident id
    at: datetime


@dataclass(frozen=True)
class Declaration:
    at: datetime
    channel: str  # e.g. "#incidents"
    paging: Paging | None  # None: nobody was paged


@dataclass(frozen=True)
class Update:
    at: datetime
    channel: str
    text: str


@dataclass(frozen=True)
class CustomerEmail:
    sent_at: datetime
    audience: str


@dataclass(frozen=True)
class ResolutionEmail:
    sent_at: datetime
    to: tuple[str, ...]  # distribution lists, e.g. ("all-hands",)


@dataclass(frozen=True)
class Resolution:
    resolved_at: datetime
    email: ResolutionEmail | None  # None: no resolution email was sent


@dataclass(frozen=True)
class Postmortem:
    published_at: datetime
    url: str


@dataclass(frozen=True)
class IncidentRecord:
    path: Path
    incident_id: str
    started_at: datetime
    declared: Declaration | None  # None: never declared
    updates: tuple[Update, ...]  # sorted by time
    customer_email: CustomerEmail | None
    resolution: Resolution | None  # None: still ongoing
    postmortem: Postmortem | None
    notes: str = ""
    sha256: str = ""  # of the file as read
    origin: str = ""  # who wrote it, e.g. "given with --dr-evidence", "written by the sandbox (self-attested)"

    @property
    def resolved(self) -> bool:
        return self.resolution is not None

    @property
    def provenance(self) -> str:
        """Where the judged evidence came from, for the scorecard and Allure."""
        origin = f" ({self.origin})" if self.origin else ""
        return f"incident record {self.path} sha256 {self.sha256 or 'unknown'}{origin}"

    def with_origin(self, origin: str) -> "IncidentRecord":
        return replace(self, origin=origin)


class InvalidRecord(DRConfigError):
    """The record is missing, unreadable or invalid: one line naming the file and the field."""

    def __init__(self, path: Path, field: str, problem: str) -> None:
        self.path, self.field, self.problem = path, field, problem
        where = f"{field}: " if field else ""
        super().__init__(f"incident record {path}: {where}{problem} (format: docs/evidence.md)")


# -- loading -------------------------------------------------------------------------------------

class _Reader:
    """Reads one JSON object field by field; every problem names the file and the dotted field."""

    def __init__(self, path: Path, now: datetime) -> None:
        self.path = path
        self.now = now

    def error(self, field: str, problem: str) -> InvalidRecord:
        return InvalidRecord(self.path, field, problem)

    def obj(self, value: Any, field: str, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, dict):
            raise self.error(field, f"expected an object, got {_kind(value)}")
        for key in keys:
            if key not in value:
                raise self.error(_join(field, key), "missing (write null if it did not happen)"
                                 if key in NULLABLE else "missing")
        unknown = sorted(set(value) - set(keys) - set(optional))
        if unknown:
            raise self.error(_join(field, unknown[0]), f"unknown field (known: {', '.join(keys + optional)})")
        return value

    def text(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(field, f"expected a non-empty string, got {_kind(value)}")
        return value.strip()

    def instant(self, value: Any, field: str, not_before: datetime | None = None) -> datetime:
        if not isinstance(value, str):
            raise self.error(field, f"expected an ISO-8601 time like 2025-12-13T10:00:00Z, got {_kind(value)}")
        try:
            at = parse_instant(value)
        except ValueError as exc:
            raise self.error(field, str(exc)) from None
        if at > self.now + CLOCK_SKEW:
            raise self.error(field, f"{value} is in the future (now {isoformat(self.now)})")
        if not_before is not None and at < not_before:
            raise self.error(field, f"{value} is before the incident start {isoformat(not_before)}")
        return at


NULLABLE = {"declared", "paging", "customer_email", "resolution", "email", "postmortem"}
TOP_LEVEL = ("incident_id", "started_at", "declared", "updates", "customer_email", "resolution", "postmortem")


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return f"{type(value).__name__} {json.dumps(value)[:40]}" if not isinstance(value, (dict, list)) else \
        type(value).__name__


MAX_RECORD_BYTES = 16 * 1024 * 1024  # a record is a few KB; a huge one is a mistake (or an attack)


def load(path: str | Path, now: datetime | None = None) -> IncidentRecord:
    """Read and validate the incident record at ``path``; raises InvalidRecord (a DRConfigError, one line)."""
    path = Path(path)
    reader = _Reader(path, now or utcnow())
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_RECORD_BYTES + 1)
        if len(data) > MAX_RECORD_BYTES:
            raise InvalidRecord(path, "", f"larger than {MAX_RECORD_BYTES // (1024 * 1024)} MiB: not an incident record")
        raw = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise InvalidRecord(path, "", "nested too deeply to be an incident record") from None
    except OSError as exc:
        raise InvalidRecord(path, "", f"cannot be read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise InvalidRecord(path, "", f"not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except UnicodeDecodeError:
        raise InvalidRecord(path, "", "not UTF-8 text") from None
    body = reader.obj(raw, "", TOP_LEVEL, optional=("version", "notes"))
    if body.get("version", 1) != 1:
        raise reader.error("version", f"unsupported version {body['version']!r} (this plugin reads version 1)")
    started = reader.instant(body["started_at"], "started_at")
    return IncidentRecord(
        path=path,
        incident_id=reader.text(body["incident_id"], "incident_id"),
        started_at=started,
        declared=_declaration(reader, body["declared"], started),
        updates=_updates(reader, body["updates"], started),
        customer_email=_customer_email(reader, body["customer_email"], started),
        resolution=_resolution(reader, body["resolution"], started),
        postmortem=_postmortem(reader, body["postmortem"], started),
        notes=reader.text(body["notes"], "notes") if body.get("notes") is not None else "",
        sha256=hashlib.sha256(data).hexdigest(),
    )


def other_incident(record: IncidentRecord, incident_start: datetime | None,
                   tolerance: timedelta = SAME_INCIDENT_TOLERANCE) -> str | None:
    """Why ``record`` is not about the incident that started at ``incident_start`` (None: it is, or
    the run knows no start of its own, so the record defines the incident)."""
    if incident_start is None:
        return None
    apart = record.started_at - incident_start
    if abs(apart) <= tolerance:
        return None
    from .checks.communication import human

    return (f"incident record {record.path} describes incident {record.incident_id} that started "
            f"{isoformat(record.started_at)}, but this run is about the incident that started "
            f"{isoformat(incident_start)} ({human(abs(apart))} apart, tolerance {human(tolerance)}): a record "
            f"of another incident proves nothing about this one")


def _declaration(reader: _Reader, value: Any, started: datetime) -> Declaration | None:
    if value is None:
        return None
    body = reader.obj(value, "declared", ("at", "channel", "paging"))
    paging = None
    if body["paging"] is not None:
        p = reader.obj(body["paging"], "declared.paging", ("system", "incident_id", "at"))
        paging = Paging(reader.text(p["system"], "declared.paging.system"),
                        reader.text(p["incident_id"], "declared.paging.incident_id"),
                        reader.instant(p["at"], "declared.paging.at", started))
    return Declaration(reader.instant(body["at"], "declared.at", started),
                       reader.text(body["channel"], "declared.channel"), paging)


def _updates(reader: _Reader, value: Any, started: datetime) -> tuple[Update, ...]:
    if not isinstance(value, list):
        raise reader.error("updates", f"expected a list (empty when no update went out), got {_kind(value)}")
    updates = []
    for number, item in enumerate(value):
        field = f"updates[{number}]"
        body = reader.obj(item, field, ("at", "channel", "text"))
        updates.append(Update(reader.instant(body["at"], f"{field}.at", started),
                              reader.text(body["channel"], f"{field}.channel"),
                              reader.text(body["text"], f"{field}.text")))
    return tuple(sorted(updates, key=lambda u: u.at))


def _customer_email(reader: _Reader, value: Any, started: datetime) -> CustomerEmail | None:
    if value is None:
        return None
    body = reader.obj(value, "customer_email", ("sent_at", "audience"))
    return CustomerEmail(reader.instant(body["sent_at"], "customer_email.sent_at", started),
                         reader.text(body["audience"], "customer_email.audience"))


def _resolution(reader: _Reader, value: Any, started: datetime) -> Resolution | None:
    if value is None:
        return None
    body = reader.obj(value, "resolution", ("resolved_at", "email"))
    resolved = reader.instant(body["resolved_at"], "resolution.resolved_at", started)
    email = None
    if body["email"] is not None:
        e = reader.obj(body["email"], "resolution.email", ("sent_at", "to"))
        to = e["to"]
        if isinstance(to, str):
            to = [to]
        if not isinstance(to, list) or not to:
            raise reader.error("resolution.email.to", f"expected a list name or a list of them, got {_kind(e['to'])}")
        email = ResolutionEmail(reader.instant(e["sent_at"], "resolution.email.sent_at", started),
                                tuple(reader.text(t, f"resolution.email.to[{i}]") for i, t in enumerate(to)))
    return Resolution(resolved, email)


def _postmortem(reader: _Reader, value: Any, started: datetime) -> Postmortem | None:
    if value is None:
        return None
    body = reader.obj(value, "postmortem", ("published_at", "url"))
    return Postmortem(reader.instant(body["published_at"], "postmortem.published_at", started),
                      reader.text(body["url"], "postmortem.url"))


# -- where the record comes from ---------------------------------------------------------------------

def published_evidence_path(sandbox_state, key: str) -> Path | None:
    """The path the sandbox (its ``SandboxState``; None or empty: no sandbox) published under
    ``evidence.<key>`` (it may not exist yet)."""
    return sandbox_state.evidence_path(key) if sandbox_state else None


def sandbox_evidence_path(sandbox_state, key: str) -> Path | None:
    """A file the sandbox published under ``evidence.<key>``, if it exists: the run's kept copy of it under
    ``reports/evidence/<run id>/`` once the run has kept one (``evidence.keep``), the cited path."""
    from .evidence import kept_copy

    path = published_evidence_path(sandbox_state, key)
    if path is None:
        return None
    kept = kept_copy(path)
    if kept != path:
        return kept
    return path if path.is_file() else None


def record_path_for(run, environment_of_sandbox=None) -> Path | None:
    """The incident record of this run: ``--dr-evidence``, else (sandbox target) the sandbox's own, kept
    in the run's evidence folder (``reports/evidence/<run id>/``: the sandbox deletes its copy when it stops).

    ``environment_of_sandbox`` is a callable returning the DR environment; it is only called for
    the sandbox target (it may start the sandbox).
    """
    if run.options.evidence_path is not None:
        return run.options.evidence_path
    if run.target.is_sandbox and environment_of_sandbox is not None:
        published = published_evidence_path(environment_of_sandbox().sandbox_state, "incident_record")
        if published is None or not published.is_file():
            return None
        from .evidence import keep

        return keep(published, run.evidence_dir)
    return None
