"""The DR cluster's object store: objects by resource type, resource versions and watch streams."""

from __future__ import annotations

import asyncio
import collections
import copy
import datetime as dt
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import defaults
from .resources import ResourceType
from .status import ApiError, already_exists, not_found

Predicate = Callable[[dict], bool]
HISTORY_LIMIT = 5000


def now_rfc3339() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(eq=False)
class Watch:
    """One open watch: events of one resource type (and namespace) that match its predicate."""

    rtype: ResourceType
    namespace: str | None
    predicate: Predicate
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)

    def wants(self, rtype: ResourceType, obj: dict) -> bool:
        if rtype is not self.rtype:
            return False
        return self.namespace is None or obj["metadata"].get("namespace") == self.namespace


class ClusterStore:
    """Every object of the DR cluster, keyed by (type, namespace, name).

    Mutations may come from the server's event loop or (fault helpers) from another thread;
    a lock guards the maps and watch events are handed to the loop thread-safely.
    """

    def __init__(self) -> None:
        self._objects: dict[ResourceType, dict[tuple[str, str], dict]] = collections.defaultdict(dict)
        self._rv = 1000
        self._history: collections.deque = collections.deque(maxlen=HISTORY_LIMIT)
        self._watches: set[Watch] = set()
        self._lock = threading.RLock()
        self.loop: asyncio.AbstractEventLoop | None = None
        # called (under the lock, from any thread) with (rtype, event type, object) after every change:
        # how the sandbox's controllers notice what happened
        self.listeners: list[Callable[[ResourceType, str, dict], None]] = []
        # when each Event was last written: the API server stores events with an etcd lease of --event-ttl
        # (default 1 h) from their last write, after which etcd deletes them
        self._event_written: dict[tuple[str, str], float] = {}

    # --- reading ----------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def list(
        self, rtype: ResourceType, namespace: str | None = None, predicate: Predicate | None = None
    ) -> list[dict]:
        with self._lock:
            items = [
                copy.deepcopy(obj)
                for (ns, _), obj in sorted(self._objects[rtype].items())
                if (namespace is None or ns == namespace) and (predicate is None or predicate(obj))
            ]
        return items

    def listed(
        self, rtype: ResourceType, namespace: str | None = None, predicate: Predicate | None = None
    ) -> list[dict]:
        """``list`` for answers rendered straight to JSON: each object copied one level deep only (a deep
        copy of 2,000 pods cost ~1.5 s of the daemon per list at scale). Safe because the store never
        changes a stored object in place: every write stores a new one (``update``, ``_replace_whole``)."""
        with self._lock:
            return [dict(obj) for (ns, _), obj in sorted(self._objects[rtype].items())
                    if (namespace is None or ns == namespace) and (predicate is None or predicate(obj))]

    def peek(self, rtype: ResourceType, namespace: str | None = None) -> list[dict]:
        """The stored objects themselves (no copies, for readers that do not change them: the controllers)."""
        with self._lock:
            return [obj for (ns, _), obj in sorted(self._objects[rtype].items()) if namespace is None or ns == namespace]

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> dict:
        with self._lock:
            obj = self._objects[rtype].get((namespace or "", name))
            if obj is None:
                raise not_found(rtype.plural, name, rtype.group)
            return copy.deepcopy(obj)

    def exists(self, rtype: ResourceType, namespace: str | None, name: str) -> bool:
        with self._lock:
            return (namespace or "", name) in self._objects[rtype]

    # --- writing ----------------------------------------------------------------------

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def create(self, rtype: ResourceType, obj: dict, *, dry_run: bool = False) -> dict:
        """Store a new object, filling server-set metadata."""
        obj = copy.deepcopy(obj)
        defaults.on_create(rtype, obj, self._cluster_ips)
        meta = obj.setdefault("metadata", {})
        namespace = meta.get("namespace", "") if rtype.namespaced else ""
        if not rtype.namespaced:
            meta.pop("namespace", None)
        with self._lock:
            key = (namespace, meta["name"])
            if key in self._objects[rtype]:
                raise already_exists(rtype.plural, meta["name"], rtype.group)
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now_rfc3339())
            if "spec" in obj:
                meta.setdefault("generation", 1)
            if dry_run:
                return obj
            meta["resourceVersion"] = self._next_rv()
            self._objects[rtype][key] = obj
            self._emit(rtype, "ADDED", obj)
            return copy.deepcopy(obj)

    def _cluster_ips(self) -> set[str]:
        with self._lock:
            return {ip for rtype, objects in self._objects.items() if rtype.kind == "Service"
                    for obj in objects.values() for ip in (obj.get("spec") or {}).get("clusterIPs") or []}

    def update(
        self, rtype: ResourceType, namespace: str | None, name: str, new: dict,
        *, subresource: str | None = None, dry_run: bool = False, check_version: bool = True,
    ) -> dict:
        """Replace an object (or only its status with ``subresource="status"``)."""
        with self._lock:
            key = (namespace or "", name)
            old = self._objects[rtype].get(key)
            if old is None:
                raise not_found(rtype.plural, name, rtype.group)
            wanted_rv = (new.get("metadata") or {}).get("resourceVersion")
            if check_version and wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
                raise ApiError(
                    409, "Conflict",
                    f'Operation cannot be fulfilled on {rtype.plural} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                    {"name": name, "group": rtype.group, "kind": rtype.plural},
                )
            if subresource == "status":
                merged = copy.deepcopy(old)
                if "status" in new:
                    merged["status"] = copy.deepcopy(new["status"])
                else:
                    merged.pop("status", None)
            else:
                merged = copy.deepcopy(new)
                if rtype.has_status and rtype.kind not in ("Pod", "Node", "Namespace"):
                    # status of workloads belongs to their controllers (here: the sandbox)
                    if "status" in old:
                        merged["status"] = copy.deepcopy(old["status"])
                    else:
                        merged.pop("status", None)
            meta = merged.setdefault("metadata", {})
            for fixed in ("uid", "creationTimestamp", "namespace", "name"):
                if fixed in old["metadata"]:
                    meta[fixed] = old["metadata"][fixed]
            if "generation" in old["metadata"]:
                meta["generation"] = old["metadata"]["generation"]
                if merged.get("spec") != old.get("spec"):
                    meta["generation"] += 1
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            if merged == old or dry_run:
                return copy.deepcopy(merged)
            meta["resourceVersion"] = self._next_rv()
            self._objects[rtype][key] = merged
            self._emit(rtype, "MODIFIED", merged, previous=old)
            return copy.deepcopy(merged)

    def mutate(self, rtype: ResourceType, namespace: str | None, name: str, change: Callable[[dict], None]) -> dict:
        """Change a stored object, status included, with ``change(obj)`` (for fault helpers)."""
        with self._lock:
            obj = self.get(rtype, namespace, name)
            change(obj)
            return self._replace_whole(rtype, obj)

    def _replace_whole(self, rtype: ResourceType, obj: dict) -> dict:
        key = (obj["metadata"].get("namespace", "") if rtype.namespaced else "", obj["metadata"]["name"])
        old = self._objects[rtype][key]
        if obj == old:
            return copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self._objects[rtype][key] = copy.deepcopy(obj)
        self._emit(rtype, "MODIFIED", obj, previous=old)
        return copy.deepcopy(obj)

    def delete(self, rtype: ResourceType, namespace: str | None, name: str, *, dry_run: bool = False) -> dict:
        with self._lock:
            key = (namespace or "", name)
            obj = self._objects[rtype].get(key)
            if obj is None:
                raise not_found(rtype.plural, name, rtype.group)
            if dry_run:
                return copy.deepcopy(obj)
            del self._objects[rtype][key]
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self._emit(rtype, "DELETED", obj)
            if rtype.kind == "Namespace":
                for other, objects in self._objects.items():
                    for okey in [k for k in objects if other.namespaced and k[0] == name]:
                        self.delete(other, okey[0], okey[1])
            return obj

    def seed(self, rtype: ResourceType, objects: Iterable[dict]) -> None:
        """Load objects as they are (metadata already complete except the resource version)."""
        with self._lock:
            for obj in objects:
                obj = copy.deepcopy(obj)
                obj["metadata"]["resourceVersion"] = self._next_rv()
                key = (obj["metadata"].get("namespace", "") if rtype.namespaced else "", obj["metadata"]["name"])
                self._objects[rtype][key] = obj
                if rtype.kind == "Event":
                    self._event_written[key] = time.time()

    # --- watching ---------------------------------------------------------------------

    def open_watch(self, rtype: ResourceType, namespace: str | None, predicate: Predicate, since: str | None) -> Watch:
        """Register a watch; replay what happened after ``since`` (or everything as ADDED)."""
        watch = Watch(rtype, namespace, predicate)
        with self._lock:
            if since in (None, "", "0"):
                for obj in self.list(rtype, namespace, predicate):
                    watch.queue.put_nowait(("ADDED", obj))
            else:
                try:
                    since_rv = int(since)
                except ValueError as exc:
                    raise ApiError(400, "BadRequest", f"invalid resource version {since!r}") from exc
                if len(self._history) == self._history.maxlen and since_rv < self._history[0][0] - 1:
                    # what the watch cache no longer holds cannot be replayed: the client must list again
                    raise ApiError(410, "Expired", f"too old resource version: {since_rv} ({self._history[0][0] - 1})")
                for rv, etype, ertype, obj, previous in self._history:
                    if rv > since_rv and watch.wants(ertype, obj):
                        event = self._filtered(watch, etype, obj, previous)
                        if event:
                            watch.queue.put_nowait(event)
            self._watches.add(watch)
        return watch

    def close_watch(self, watch: Watch) -> None:
        with self._lock:
            self._watches.discard(watch)

    @staticmethod
    def _filtered(watch: Watch, etype: str, obj: dict, previous: dict | None) -> tuple[str, dict] | None:
        matches = watch.predicate(obj)
        if etype == "MODIFIED" and previous is not None:
            was = watch.predicate(previous)
            if was and not matches:
                return ("DELETED", copy.deepcopy(obj))
            if matches and not was:
                return ("ADDED", copy.deepcopy(obj))
        return (etype, copy.deepcopy(obj)) if matches else None

    def expire_events(self, ttl_s: float, now: float | None = None) -> int:
        """Delete the events last written more than ``ttl_s`` ago (their lease ran out); how many went."""
        now = time.time() if now is None else now
        with self._lock:
            expired = [key for key, written in self._event_written.items() if now - written >= ttl_s]
            event_type = next((t for t in self._objects if t.kind == "Event"), None)
            gone = 0
            for namespace, name in expired:
                self._event_written.pop((namespace, name), None)
                if event_type is not None and (namespace, name) in self._objects[event_type]:
                    self.delete(event_type, namespace, name)
                    gone += 1
            return gone

    def _emit(self, rtype: ResourceType, etype: str, obj: dict, previous: dict | None = None) -> None:
        if rtype.kind == "Event":
            key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            if etype == "DELETED":
                self._event_written.pop(key, None)
            else:
                self._event_written[key] = time.time()
        snapshot = copy.deepcopy(obj)
        self._history.append((int(snapshot["metadata"]["resourceVersion"]), etype, rtype, snapshot, previous))
        for listener in list(self.listeners):
            listener(rtype, etype, snapshot)
        for watch in list(self._watches):
            if watch.wants(rtype, snapshot):
                event = self._filtered(watch, etype, snapshot, previous)
                if event:
                    self._deliver(watch, event)

    def _deliver(self, watch: Watch, event: tuple[str, dict]) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self.loop is not None and running is not self.loop:
            self.loop.call_soon_threadsafe(watch.queue.put_nowait, event)
        else:
            watch.queue.put_nowait(event)
