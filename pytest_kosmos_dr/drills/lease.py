"""The per-target drill lease: a Kubernetes Lease (coordination.k8s.io/v1) in the target's namespace.

Two drill runs against one target must not interleave. Before the first drill changes anything the
run takes the Lease ``kosmos-dr-drills`` (holderIdentity = the run id, leaseDurationSeconds bounded),
a heartbeat thread renews it while the drills run, and it is deleted at the end (also on failure
and Ctrl-C; after SIGKILL, ``kosmos-dr cleanup`` deletes it, or it expires). A run that finds the
Lease held and renewed by another run refuses its drills with one line; an expired Lease is taken
over (resourceVersion-checked, so two runs cannot both take it). Workers of one run (xdist) share it.

``kosmos-dr cleanup`` decides whether a tagged drill instance's run still lives from this Lease:
holder = its run id and renewTime fresh.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..errors import DRUnverifiable
from . import changes, guard
from .resources import process_alive

LEASE_NAME = "kosmos-dr-drills"
DURATION_S = 60  # leaseDurationSeconds: how long a run that stopped renewing still holds it
RENEW_S = 15  # heartbeat: renewTime is rewritten this often
MANAGED_BY = "pytest-kosmos-dr"
USERS = "lease-users"  # run folder: one file per process of the run that uses the lease

_LOST: dict[str, str] = {}  # run id -> why this process lost the run's lease (mutations then refused)


def lost_reason(run_id: str | None) -> str | None:
    """Why ``run_id``'s drills may no longer change anything (its lease was lost), or None."""
    return _LOST.get(run_id) if run_id else None


class LeaseHeld(guard.DrillRefused):
    """Another run holds the target's drill lease."""


@dataclass(frozen=True)
class LeaseState:
    holder: str
    renewed: datetime | None
    duration_s: int
    resource_version: str
    transitions: int
    host: str
    pid: int = 0  # the holding run's process on ``host``

    def fresh(self, now: datetime | None = None) -> bool:
        """Held: renewed less than leaseDurationSeconds ago."""
        if not self.holder or self.renewed is None or self.duration_s <= 0:
            return False
        return (now or _now()) < self.renewed + timedelta(seconds=self.duration_s)

    def holder_gone_here(self) -> bool:
        """The holding run ran on this host and its process is gone (killed): no need to wait for expiry."""
        return self.host == socket.gethostname() and self.pid > 0 and not process_alive(self.pid)

    def held(self) -> bool:
        """Held by a live run: fresh, and not known dead on this host."""
        return self.fresh() and not self.holder_gone_here()

    def age_s(self, now: datetime | None = None) -> float | None:
        return None if self.renewed is None else ((now or _now()) - self.renewed).total_seconds()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def micro_time(at: datetime) -> str:
    """A Kubernetes MicroTime: RFC 3339 with microseconds, UTC."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed


def state_of(obj: dict) -> LeaseState:
    spec = obj.get("spec") or {}
    meta = obj.get("metadata") or {}
    try:
        duration = int(spec.get("leaseDurationSeconds") or 0)
    except (TypeError, ValueError):
        duration = 0
    annotations = meta.get("annotations") or {}
    try:
        pid = int(annotations.get("kosmos-dr/pid") or 0)
    except (TypeError, ValueError):
        pid = 0
    try:
        transitions = int(spec.get("leaseTransitions") or 0)
    except (TypeError, ValueError):
        transitions = 0
    return LeaseState(str(spec.get("holderIdentity") or ""), _parse_time(spec.get("renewTime")), duration,
                      str(meta.get("resourceVersion") or ""), transitions,
                      str(annotations.get("kosmos-dr/host") or "?"), pid)


def describe(state: LeaseState) -> str:
    age = state.age_s()
    renewed = "never renewed" if age is None else f"renewed {age:.0f} s ago"
    return f"run {state.holder} on {state.host} ({renewed}, lease {state.duration_s} s)"


# -- the Kubernetes API, raw JSON with the cluster's timeouts ----------------------------------------
def _path(namespace: str, name: str | None = None) -> str:
    base = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    return f"{base}/{name}" if name else base


def call(cluster, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None]:
    """One request to the cluster's API: (HTTP status, decoded JSON body). No answer: DRUnverifiable."""
    from ..clients.kube import ClusterUnreachable, _short

    try:
        status, _, data = cluster.request(method, path, body=body)
    except ClusterUnreachable as exc:
        raise DRUnverifiable(f"drill lease: {method} {path}", _short(exc), "is the DR cluster reachable?") from None
    try:
        decoded = json.loads(data) if data else None
    except (TypeError, ValueError):
        decoded = None
    return status, decoded if isinstance(decoded, dict) else None


def _failed(what: str, status: int, body: dict | None) -> DRUnverifiable:
    message = (body or {}).get("message") or ""
    hint = ("the drills need get, create, update and delete on leases (coordination.k8s.io) in the namespace"
            if status in (401, 403) else "")
    return DRUnverifiable(f"drill lease: {what}", f"HTTP {status}{': ' + message if message else ''}", hint)


def read(cluster, namespace: str, name: str = LEASE_NAME) -> tuple[LeaseState, dict] | None:
    """The lease as it is now, or None when there is none."""
    status, body = call(cluster, "GET", _path(namespace, name))
    if status == 404:
        return None
    if status != 200 or body is None:
        raise _failed(f"read {namespace}/{name}", status, body)
    return state_of(body), body


def _body(namespace: str, name: str, holder: str, target: str, transitions: int, acquired: datetime,
          owner_pid: int, resource_version: str | None = None) -> dict:
    meta = {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": MANAGED_BY},
            "annotations": {"kosmos-dr/host": socket.gethostname(), "kosmos-dr/pid": str(owner_pid),
                            "kosmos-dr/target": target}}
    if resource_version:
        meta["resourceVersion"] = resource_version
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": DURATION_S,
                     "acquireTime": micro_time(acquired), "renewTime": micro_time(_now()),
                     "leaseTransitions": transitions}}


def delete_if_held_by(cluster, namespace: str, holder: str, name: str = LEASE_NAME) -> str:
    """Delete the lease only while ``holder`` holds it (resourceVersion precondition). One word back:
    deleted, absent, not-ours (held by another run now)."""
    found = read(cluster, namespace, name)
    if found is None:
        return "absent"
    state, _ = found
    if state.holder != holder:
        return "not-ours"
    options = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": state.resource_version}}
    status, body = call(cluster, "DELETE", _path(namespace, name), options)
    if status in (200, 202, 404):
        return "deleted" if status != 404 else "absent"
    if status == 409:
        return "not-ours"
    raise _failed(f"delete {namespace}/{name}", status, body)


# -- the lease a run holds -----------------------------------------------------------------------
class DrillLease:
    """The run's hold on the target's drills: ``acquire()`` (or refuse), heartbeat, ``release()``."""

    def __init__(self, cluster, namespace: str, run, name: str = LEASE_NAME, wait: timedelta = timedelta(0)):
        self.cluster = cluster
        self.namespace = namespace
        self.run = run
        self.run_id = run.run_id
        self.run_dir = Path(run.run_dir)
        self.target = run.target.name
        self.owner_pid = int(getattr(run, "owner_pid", 0) or os.getpid())
        self.name = name
        self.wait = wait
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._record: dict | None = None
        self.renewals = 0

    @property
    def where(self) -> str:
        return f"Lease {self.namespace}/{self.name}"

    def acquire(self) -> "DrillLease":
        """Take the lease (or join it when this run already holds it). Held live by another run: LeaseHeld."""
        guard.check(self.run, f"take the drill {self.where}")
        deadline = _now() + self.wait
        with self._users_lock():
            while True:
                outcome = self._try_take()
                if outcome is None:
                    break
                if _now() >= deadline:
                    raise LeaseHeld(f"drills against target {self.target!r}",
                                    f"{self.where} is held by {outcome}; not run, so the two runs cannot interleave")
                self._stop.wait(min(RENEW_S, max(0.5, (deadline - _now()).total_seconds())))
            users = self.run_dir / USERS
            users.mkdir(parents=True, exist_ok=True)
            (users / str(os.getpid())).write_text(self.run_id)
        _LOST.pop(self.run_id, None)
        self._thread = threading.Thread(target=self._heartbeat, name="kosmos-dr-lease", daemon=True)
        self._thread.start()
        return self

    def _try_take(self) -> str | None:
        """None when this run holds the lease now; else who holds it (described)."""
        for _ in range(5):  # lost races (AlreadyExists, Conflict) are re-read, never overwritten
            found = read(self.cluster, self.namespace, self.name)
            if found is None:
                self._note_taken()
                status, body = call(self.cluster, "POST", _path(self.namespace),
                                    _body(self.namespace, self.name, self.run_id, self.target, 0, _now(),
                                          self.owner_pid))
                if status == 201 or status == 200:
                    return None
                if status == 409:
                    continue
                raise _failed(f"create {self.namespace}/{self.name}", status, body)
            state, obj = found
            if state.holder == self.run_id:
                self._note_taken()
                if self._renew(state, obj):
                    return None
                continue
            if state.held():
                return describe(state)
            self._note_taken()  # expired, or its run killed on this host: take it over
            acquired = _now()
            status, body = call(self.cluster, "PUT", _path(self.namespace, self.name),
                                _body(self.namespace, self.name, self.run_id, self.target, state.transitions + 1,
                                      acquired, self.owner_pid, state.resource_version))
            if status == 200:
                return None
            if status not in (409, 404):
                raise _failed(f"take over {self.namespace}/{self.name}", status, body)
        raise DRUnverifiable(f"drill {self.where}", "kept changing under us (5 conflicting writes in a row)")

    def _note_taken(self) -> None:
        if self._record is None:
            self._record = changes.record(self.run_dir, changes.LEASE, target=self.target, run_id=self.run_id,
                                          namespace=self.namespace, name=self.name, holder=self.run_id,
                                          note=f"drill lease {self.namespace}/{self.name} taken by run {self.run_id}")

    def _renew(self, state: LeaseState, obj: dict) -> bool:
        spec = dict(obj.get("spec") or {})
        spec.update(renewTime=micro_time(_now()), leaseDurationSeconds=DURATION_S)
        body = {**obj, "spec": spec}
        body["metadata"] = {**(obj.get("metadata") or {}), "resourceVersion": state.resource_version}
        status, answer = call(self.cluster, "PUT", _path(self.namespace, self.name), body)
        if status == 200:
            self.renewals += 1
            return True
        if status in (409, 404):
            return False
        raise _failed(f"renew {self.namespace}/{self.name}", status, answer)

    def _heartbeat(self) -> None:
        failures_since = None
        while not self._stop.wait(RENEW_S):
            try:
                found = read(self.cluster, self.namespace, self.name)
                if found is None or found[0].holder != self.run_id:
                    holder = describe(found[0]) if found else "nobody (deleted)"
                    _LOST[self.run_id] = f"the drill {self.where} was lost: it is now held by {holder}"
                    return
                if self._renew(*found):
                    failures_since = None
            except Exception:  # noqa: BLE001 - an unanswered renewal is retried; the lease says how long we have
                failures_since = failures_since or _now()
                if (_now() - failures_since).total_seconds() >= DURATION_S:
                    _LOST[self.run_id] = f"the drill {self.where} could not be renewed for {DURATION_S} s"
                    return

    def release(self) -> str:
        """Stop renewing; delete the lease when no other process of this run still uses it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._users_lock():
            users = self.run_dir / USERS
            (users / str(os.getpid())).unlink(missing_ok=True)
            others = [p for p in users.glob("*") if process_alive(p.name)] if users.is_dir() else []
            if others:
                return f"kept for {len(others)} other process(es) of run {self.run_id}"
            outcome = delete_if_held_by(self.cluster, self.namespace, self.run_id, self.name)
        if self._record is not None:
            changes.mark_undone(self.run_dir, self._record)
        return outcome

    def _users_lock(self):
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return _Flock(self.run_dir / "lease.lock")


class _Flock:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self):
        self.handle = open(self.path, "w")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def run_is_alive(cluster, namespace: str, run_id: str, name: str = LEASE_NAME) -> tuple[bool, str]:
    """(alive, why) for ``kosmos-dr cleanup``: a run lives while it holds the target's drill lease and
    renews it (holder = run id, renewTime fresh)."""
    found = read(cluster, namespace, name)
    if found is None:
        return False, f"no drill lease in {namespace}"
    state, _ = found
    if state.holder != run_id:
        return False, f"the drill lease is held by {describe(state)}, not run {run_id}"
    if not state.fresh():
        return False, f"its drill lease expired ({describe(state)})"
    if state.holder_gone_here():
        return False, f"its process (pid {state.pid}) on this host is gone ({describe(state)})"
    return True, f"it holds the drill lease ({describe(state)})"
