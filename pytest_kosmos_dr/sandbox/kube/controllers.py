"""The DR cluster's controller manager, scheduler and kubelets, for the pods the controllers create.

What runs (an asyncio task of the kube component, woken by every change of the objects it watches, and
every ``RESYNC_S``):

* StatefulSet: pods ``<name>-<ordinal>`` created and deleted to match ``spec.replicas`` (``OrderedReady``: one
  at a time, waiting for the previous one to be Running and Ready; ``Parallel``: all at once); failed pods
  replaced; a ControllerRevision per pod template, ``currentRevision``/``updateRevision``; ``RollingUpdate``
  replaces pods of another revision from the highest ordinal down (respecting ``partition``); claims from
  ``volumeClaimTemplates`` reused, or created and bound (as the storage class's provisioner would); status
  derived from the pods.
* Deployment: a ReplicaSet per pod template (``pod-template-hash``), rolled with ``maxSurge``/``maxUnavailable``
  (or ``Recreate``), ``deployment.kubernetes.io/revision``, old ReplicaSets kept to ``revisionHistoryLimit``;
  status and the Available/Progressing conditions derived from the pods.
* ReplicaSet: pods created and deleted to match ``spec.replicas`` (unready and newer pods go first).
* Job: pods for ``parallelism``/``completions`` (``Indexed`` too); the sandbox runs no containers, so a Job's pod
  succeeds as soon as its kubelet starts it; ``Complete`` with ``completionTime``.
* Garbage collector: objects whose controlling owner is gone are deleted (background propagation).

The controllers only act on objects they control (``ownerReferences`` with ``controller: true``): they adopt
nothing. They create and delete pods and derive counts from the pods' own conditions, so a pod a fault made
unready, crash-looping or stale counts as such, and they never edit a pod's status. The scheduler binds a new pod
to a Ready, schedulable node that tolerates its taints and matches its ``nodeSelector`` and required node affinity,
spreading a workload's pods over zones (StatefulSet ordinals the seed placed keep their node). Each node's kubelet
(not the controller manager) starts a bound pod after ``KUBELET_START_S``: Pending, then Running and Ready.

``pause()`` is the controller manager being down (fault ``controllers-paused``): no reconciliation, statuses go
stale; ``resume()`` and the cluster converges. ``hold(kind, namespace, name)`` leaves one object alone (a fault
that models a controller stuck on it, e.g. a rolling update that never replaced a pod).
"""

from __future__ import annotations

import asyncio
import collections
import copy
import datetime as dt
import logging
import math
import secrets
import time
import uuid
from typing import TYPE_CHECKING

from . import seed as seeding
from .resources import find_type
from .status import ApiError
from .store import now_rfc3339

if TYPE_CHECKING:
    from .component import DRClusterComponent

LOG = logging.getLogger(__name__)
KUBELET_START_S = 0.5  # a bound pod's image is present: the kubelet starts it this long after binding
RESYNC_S = 30.0
BURST = 500  # at most this many pods created per workload and pass (the controllers' slow-start batches)
WATCHED = {"Pod", "StatefulSet", "Deployment", "ReplicaSet", "Job", "ControllerRevision", "CronJob", "Node"}
_SAFE = "bcdfghjklmnpqrstvwxz2456789"

POD = find_type("", "v1", "pods")
NODE = find_type("", "v1", "nodes")
EVENT = find_type("", "v1", "events")
PVC = find_type("", "v1", "persistentvolumeclaims")
PV = find_type("", "v1", "persistentvolumes")
STORAGE_CLASS = find_type("storage.k8s.io", "v1", "storageclasses")
DEPLOYMENT = find_type("apps", "v1", "deployments")
REPLICASET = find_type("apps", "v1", "replicasets")
STATEFULSET = find_type("apps", "v1", "statefulsets")
REVISION = find_type("apps", "v1", "controllerrevisions")
JOB = find_type("batch", "v1", "jobs")
CRONJOB = find_type("batch", "v1", "cronjobs")
LEASE = find_type("coordination.k8s.io", "v1", "leases")
NAMESPACE_TYPE = find_type("", "v1", "namespaces")
# leader election of kube-controller-manager and kube-scheduler (their defaults: a 15 s lease, renewed
# every 2 s); EKS runs them on control-plane hosts the cluster's node list never shows
LEADER_LEASES = ("kube-controller-manager", "kube-scheduler")
LEASE_DURATION_S = 15
LEASE_RETRY_S = 2.0
CONTROL_PLANE_HOST = "ip-10-20-0-15.ec2.internal"
# what the garbage collector checks: a kind, and the kind of its controlling owner
OWNED = ((POD, ("ReplicaSet", "StatefulSet", "Job")), (REPLICASET, ("Deployment",)),
         (REVISION, ("StatefulSet",)), (JOB, ("CronJob",)))
OWNER_TYPES = {"ReplicaSet": REPLICASET, "StatefulSet": STATEFULSET, "Job": JOB, "Deployment": DEPLOYMENT,
               "CronJob": CRONJOB}


def _suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_SAFE) for _ in range(length))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _micro_now() -> str:
    """A ``MicroTime`` (what Leases carry)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def controller_of(obj: dict) -> dict | None:
    return next((r for r in (obj.get("metadata") or {}).get("ownerReferences") or [] if r.get("controller")), None)


def _condition(obj: dict, kind: str) -> dict | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)


def running_and_ready(pod: dict) -> bool:
    ready = _condition(pod, "Ready")
    return (pod.get("status") or {}).get("phase") == "Running" and ready is not None and ready.get("status") == "True"


def active(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") and \
        not pod["metadata"].get("deletionTimestamp")


def _key(obj: dict) -> tuple[str, str, str]:
    return (obj.get("kind", ""), obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


def _owner_ref(obj: dict, kind: str) -> dict:
    return {"apiVersion": OWNER_TYPES[kind].api_version, "kind": kind, "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _scaled(value, replicas: int, round_up: bool) -> int:
    """An IntOrString (``1``, ``"25%"``) against ``replicas``."""
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * replicas / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def _qos(spec: dict) -> str:
    containers = spec.get("containers") or []
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all((r.get("limits") or {}).get(k) and (r.get("requests") or r.get("limits") or {}).get(k) ==
                     r["limits"][k] for r in resources for k in ("cpu", "memory"))
    return "Guaranteed" if guaranteed else "Burstable"


def _set_condition(conditions: list[dict], kind: str, status: str, reason: str, message: str, now: str) -> list[dict]:
    """``conditions`` with ``kind`` set; timestamps move only when the condition changes (as the controllers do)."""
    result = [dict(c) for c in conditions]
    existing = next((c for c in result if c.get("type") == kind), None)
    if existing is None:
        result.append({"type": kind, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
                       "reason": reason, "message": message})
        return result
    if existing.get("status") != status:
        existing["lastTransitionTime"] = now
    if (existing.get("status"), existing.get("reason"), existing.get("message")) != (status, reason, message):
        existing["lastUpdateTime"] = now
    existing.update(status=status, reason=reason, message=message)
    return result


class ControllerManager:
    """kube-controller-manager (the controllers above), the scheduler and the kubelets' pod start-up."""

    def __init__(self, component: "DRClusterComponent"):
        self.component = component
        self.store = component.store
        self.paused = False
        self.held: set[tuple[str, str, str]] = set()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._starting: set[str] = set()  # pod uids a kubelet is about to start
        self._timers: set[asyncio.TimerHandle] = set()
        self._unscheduled = False
        self._pods: list[dict] = []
        self.passes = 0
        self._identity = f"{CONTROL_PLANE_HOST}_{uuid.uuid4()}"
        self._leader_task: asyncio.Task | None = None
        self.lease_retry_s = LEASE_RETRY_S
        # False: the leader-election Leases are left as they are (like ``silent_kubelets``, for a cluster without
        # background writes: the dry-run tests compare resource versions)
        self.renews_leases = True

    # --- running -------------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.store.listeners.append(self._on_change)
        self._task = asyncio.create_task(self._run(), name="dr-cluster-controllers")
        self.renew_leases()
        self._leader_task = asyncio.create_task(self._lead(), name="dr-cluster-leader-election")
        self.wake()

    async def stop(self) -> None:
        if self._on_change in self.store.listeners:
            self.store.listeners.remove(self._on_change)
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._leader_task is not None:
            self._leader_task.cancel()
            self._leader_task = None
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
                pass
            self._task = None

    def pause(self) -> None:
        """The controller manager is down: nothing is reconciled until ``resume()``."""
        self.paused = True

    def resume(self) -> None:
        """The controller manager is back: a new process (a new leader identity) takes the leases over."""
        if self.paused:
            self._identity = f"{CONTROL_PLANE_HOST}_{uuid.uuid4()}"
        self.paused = False
        self.renew_leases()
        self.wake()

    # --- leader election -------------------------------------------------------------------

    async def _lead(self) -> None:
        while True:
            await asyncio.sleep(self.lease_retry_s)
            if not self.paused and self.renews_leases:
                try:
                    self.renew_leases()
                except Exception:  # noqa: BLE001 - a failed renewal is retried, as leader election does
                    LOG.exception("DR cluster controllers: lease renewal failed")

    def renew_leases(self) -> None:
        """Acquire or renew the control plane's leader-election Leases in kube-system (as the holder)."""
        if self.paused or not self.store.exists(NAMESPACE_TYPE, None, "kube-system"):
            return
        now = _micro_now()
        for name in LEADER_LEASES:
            holder = f"{self._identity}" if name == "kube-controller-manager" else \
                f"{CONTROL_PLANE_HOST}_{uuid.uuid5(uuid.NAMESPACE_URL, self._identity)}"
            if not self.store.exists(LEASE, "kube-system", name):
                try:
                    self.store.create(LEASE, {
                        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                        "metadata": {"name": name, "namespace": "kube-system"},
                        "spec": {"holderIdentity": holder, "leaseDurationSeconds": LEASE_DURATION_S,
                                 "acquireTime": now, "renewTime": now, "leaseTransitions": 0}})
                except ApiError:
                    pass
                continue

            def renew(lease: dict, holder=holder) -> None:
                spec = lease.setdefault("spec", {})
                if spec.get("holderIdentity") != holder:
                    spec.update(holderIdentity=holder, acquireTime=now,
                                leaseTransitions=int(spec.get("leaseTransitions") or 0) + 1)
                spec.update(renewTime=now, leaseDurationSeconds=LEASE_DURATION_S)
            try:
                self.store.mutate(LEASE, "kube-system", name, renew)
            except ApiError:
                pass

    def hold(self, kind: str, namespace: str, name: str) -> None:
        """Leave one workload alone (no pods created or deleted, its status not updated)."""
        self.held.add((kind, namespace, name))

    def release(self, kind: str, namespace: str, name: str) -> None:
        self.held.discard((kind, namespace, name))
        self.wake()

    def wake(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    def _on_change(self, rtype, etype: str, obj: dict) -> None:
        if rtype.kind not in WATCHED or (rtype.kind == "Node" and not self._unscheduled):
            return
        self.wake()

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), RESYNC_S)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            await asyncio.sleep(0.02)  # let a burst of changes land first
            if self.paused:
                continue
            try:
                self.reconcile()
            except Exception:  # noqa: BLE001 - one bad object must not stop the controllers
                LOG.exception("DR cluster controllers: reconcile failed")
                await asyncio.sleep(1.0)

    # --- one pass ------------------------------------------------------------------------

    def reconcile(self) -> None:
        """One pass of every controller over every object (each change it makes wakes the next pass)."""
        self.passes += 1
        self._pods = self._objects(POD)
        self._collect_garbage()
        by_owner: dict[str, list[dict]] = collections.defaultdict(list)
        for pod in self._pods:
            ref = controller_of(pod)
            if ref:
                by_owner[ref.get("uid")].append(pod)
        self._kubelets()
        for deployment in self._objects(DEPLOYMENT):
            if self._held(deployment):
                continue
            self._deployment(deployment, by_owner)
        for rs in self._objects(REPLICASET):
            if not self._held(rs):
                self._replicaset(rs, by_owner.get(rs["metadata"]["uid"], []))
        for sts in self._objects(STATEFULSET):
            if not self._held(sts):
                self._statefulset(sts, by_owner.get(sts["metadata"]["uid"], []))
        for job in self._objects(JOB):
            if not self._held(job):
                self._job(job, by_owner.get(job["metadata"]["uid"], []))

    def _held(self, obj: dict) -> bool:
        kind = obj.get("kind") or ""
        return (kind, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]) in self.held

    # --- writing helpers -----------------------------------------------------------------

    def _write_status(self, rtype, obj: dict, status: dict) -> None:
        if obj.get("status") == status:
            return
        try:
            self.store.update(rtype, obj["metadata"].get("namespace"), obj["metadata"]["name"], {"status": status},
                              subresource="status", check_version=False)
        except ApiError:
            pass  # deleted meanwhile

    def _write_spec(self, rtype, obj: dict, change) -> dict | None:
        """Change a stored object as its controller does (an update: the generation moves with the spec)."""
        ns, name = obj["metadata"].get("namespace"), obj["metadata"]["name"]
        try:
            current = self.store.get(rtype, ns, name)
            if current["metadata"].get("uid") != obj["metadata"].get("uid"):
                return None
            change(current)
            updated = self.store.update(rtype, ns, name, current, check_version=False)
        except ApiError:
            return None
        updated.setdefault("kind", rtype.kind)
        updated.setdefault("apiVersion", rtype.api_version)
        return updated

    def _objects(self, rtype, namespace: str | None = None) -> list[dict]:
        items = self.store.list(rtype, namespace)
        for item in items:
            item.setdefault("kind", rtype.kind)
            item.setdefault("apiVersion", rtype.api_version)
        return items

    def _delete(self, rtype, obj: dict) -> bool:
        try:
            self.store.delete(rtype, obj["metadata"].get("namespace"), obj["metadata"]["name"])
            return True
        except ApiError:
            return False

    def event(self, obj: dict, reason: str, message: str, component: str, warning: bool = False,
              host: str | None = None, field_path: str | None = None) -> None:
        meta = obj["metadata"]
        now = now_rfc3339()
        involved = {"kind": obj.get("kind"), "namespace": meta.get("namespace"), "name": meta["name"],
                    "uid": meta.get("uid"), "apiVersion": obj.get("apiVersion"),
                    "resourceVersion": meta.get("resourceVersion")}
        if field_path:
            involved["fieldPath"] = field_path
        name = f"{meta['name']}.{time.time_ns():x}"
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": meta.get("namespace") or "default"},
            "involvedObject": involved, "reason": reason, "message": message,
            "type": "Warning" if warning else "Normal", "count": 1, "firstTimestamp": now, "lastTimestamp": now,
            "source": {"component": component, **({"host": host} if host else {})},
            "reportingComponent": component, "reportingInstance": host or "",
        }
        try:
            self.store.create(EVENT, event)
        except ApiError:
            pass

    # --- garbage collector ----------------------------------------------------------------

    def _collect_garbage(self) -> None:
        uids = {kind: {o["metadata"]["uid"] for o in self.store.peek(rtype)} for kind, rtype in OWNER_TYPES.items()}
        for rtype, owner_kinds in OWNED:
            objects = self._pods if rtype is POD else self._objects(rtype)
            for obj in objects:
                ref = controller_of(obj)
                if ref and ref.get("kind") in owner_kinds and ref.get("uid") not in uids[ref["kind"]]:
                    self._delete(rtype, obj)
        self._pods = [p for p in self._pods if self.store.exists(POD, p["metadata"]["namespace"], p["metadata"]["name"])]

    # --- scheduler -----------------------------------------------------------------------

    def _schedule(self, pod: dict, preferred: str | None = None) -> tuple[dict | None, str]:
        """The node the scheduler binds ``pod`` to, or None and why not (kube-scheduler's message)."""
        nodes = self.store.list(NODE)
        spec = pod["spec"]
        reasons: collections.Counter = collections.Counter()
        eligible = []
        for node in nodes:
            why = self._unfit(node, spec)
            if why:
                reasons[why] += 1
            else:
                eligible.append(node)
        if not eligible:
            detail = ", ".join(f"{count} {why}" for why, count in sorted(reasons.items()))
            return None, (f"0/{len(nodes)} nodes are available: {detail}. preemption: 0/{len(nodes)} nodes are "
                          f"available: {len(nodes)} Preemption is not helpful for scheduling.")
        by_name = {n["metadata"]["name"]: n for n in eligible}
        if preferred in by_name:
            return by_name[preferred], ""
        app = (pod["metadata"].get("labels") or {}).get("app.kubernetes.io/name")
        zones: collections.Counter = collections.Counter()
        on_node: collections.Counter = collections.Counter()
        zone_of = {n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get("topology.kubernetes.io/zone", "")
                   for n in nodes}
        for other in self._pods:
            if other["metadata"].get("namespace") != pod["metadata"]["namespace"] or not active(other):
                continue
            if app is not None and (other["metadata"].get("labels") or {}).get("app.kubernetes.io/name") != app:
                continue
            node_name = (other.get("spec") or {}).get("nodeName")
            if node_name:
                on_node[node_name] += 1
                zones[zone_of.get(node_name, "")] += 1
        best = min(eligible, key=lambda n: (zones[zone_of[n["metadata"]["name"]]], on_node[n["metadata"]["name"]],
                                            n["metadata"]["name"]))
        return best, ""

    @staticmethod
    def _unfit(node: dict, spec: dict) -> str:
        labels = node["metadata"].get("labels") or {}
        ready = _condition(node, "Ready")
        if ready is None or ready.get("status") != "True":
            return "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"
        if (node.get("spec") or {}).get("unschedulable"):
            return "node(s) were unschedulable"
        tolerations = spec.get("tolerations") or []
        for taint in (node.get("spec") or {}).get("taints") or []:
            if taint.get("effect") not in ("NoSchedule", "NoExecute"):
                continue
            if not any((t.get("operator") == "Exists" and not t.get("key")) or
                       (t.get("key") == taint.get("key") and t.get("effect") in (None, "", taint.get("effect")) and
                        (t.get("operator") == "Exists" or t.get("value") == taint.get("value")))
                       for t in tolerations):
                return f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"
        for key, value in (spec.get("nodeSelector") or {}).items():
            if labels.get(key) != value:
                return "node(s) didn't match Pod's node affinity/selector"
        required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                    .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
        terms = required.get("nodeSelectorTerms") or []
        if terms and not any(all(_expression(labels, e) for e in t.get("matchExpressions") or []) for t in terms):
            return "node(s) didn't match Pod's node affinity/selector"
        return ""

    def _pod_ip(self, node: dict) -> str:
        network, _ = seeding.node_ips(node)
        used = {(p.get("status") or {}).get("podIP") for p in self.store.peek(POD)}
        for last in range(20, 255):
            candidate = f"10.42.{network}.{last}"
            if candidate not in used:
                return candidate
        return f"10.42.{network}.254"

    # --- pods ----------------------------------------------------------------------------

    def _create_pod(self, owner: dict, name: str, template: dict, labels: dict, annotations: dict | None = None,
                    preferred_node: str | None = None, generate_name: str | None = None) -> dict | None:
        """Create a pod of ``owner`` (bound to a node, Pending until its kubelet starts it) and record it."""
        ns = owner["metadata"]["namespace"]
        now = now_rfc3339()
        meta = {"name": name, "namespace": ns, "uid": str(uuid.uuid4()), "creationTimestamp": now,
                "labels": labels, "ownerReferences": [_owner_ref(owner, owner["kind"])]}
        if generate_name:
            meta["generateName"] = generate_name
        if annotations:
            meta["annotations"] = annotations
        spec = seeding.pod_spec(owner, name, template)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
               "status": {"phase": "Pending", "qosClass": _qos(spec)}}
        node, why = self._schedule(pod, preferred_node)
        cond = {"type": "PodScheduled", "lastProbeTime": None, "lastTransitionTime": now}
        if node is None:
            cond.update(status="False", reason="Unschedulable", message=why)
            pod["status"]["conditions"] = [cond]
        else:
            self._bind(pod, node, now)
        try:
            created = self.store.create(POD, pod)
        except ApiError:
            return None
        self._pods.append(created)
        if node is None:
            self._unscheduled = True
            self.event(created, "FailedScheduling", why, "default-scheduler", warning=True)
        else:
            self._scheduled(created)
        return created

    def _bind(self, pod: dict, node: dict, now: str) -> None:
        _, host_ip = seeding.node_ips(node)
        names = ", ".join(c["name"] for c in pod["spec"]["containers"])
        pod["spec"]["nodeName"] = node["metadata"]["name"]
        not_ready = {"status": "False", "reason": "ContainersNotReady",
                     "message": f"containers with unready status: [{names}]"}
        pod["status"].update({
            "phase": "Pending",
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "False", "lastProbeTime": None, "lastTransitionTime": now},
                {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": now},
                {"type": "Ready", **not_ready, "lastProbeTime": None, "lastTransitionTime": now},
                {"type": "ContainersReady", **not_ready, "lastProbeTime": None, "lastTransitionTime": now},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now},
            ],
            "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "startTime": now,
            "containerStatuses": [{"name": c["name"], "image": c["image"], "imageID": "", "ready": False,
                                   "started": False, "restartCount": 0,
                                   "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}
                                  for c in pod["spec"]["containers"]],
        })

    def _scheduled(self, pod: dict) -> None:
        meta = pod["metadata"]
        self.event(pod, "Scheduled", f"Successfully assigned {meta['namespace']}/{meta['name']} to "
                                     f"{pod['spec']['nodeName']}", "default-scheduler")
        self._start_later(pod)

    def _start_later(self, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        if uid in self._starting or self._loop is None:
            return
        self._starting.add(uid)
        handle = None

        def fire() -> None:
            self._timers.discard(handle)
            self._starting.discard(uid)
            self._kubelet_start(pod["metadata"]["namespace"], pod["metadata"]["name"], uid)
        handle = self._loop.call_later(KUBELET_START_S, fire)
        self._timers.add(handle)

    def _kubelets(self) -> None:
        """Bind pods nobody could schedule yet; have kubelets start bound Pending pods of ours."""
        self._unscheduled = False
        for pod in self._pods:
            status = pod.get("status") or {}
            if status.get("phase") != "Pending" or not controller_of(pod):
                continue
            if not (pod.get("spec") or {}).get("nodeName"):
                node, _ = self._schedule(pod)
                if node is None:
                    self._unscheduled = True
                    continue
                bound = self._write_spec(POD, pod, lambda obj, node=node: self._bind(obj, node, now_rfc3339()))
                if bound is not None:
                    self._scheduled(bound)
            elif pod["metadata"]["uid"] not in self._starting:
                self._start_later(pod)

    def _kubelet_start(self, namespace: str, name: str, uid: str) -> None:
        """What the node's kubelet does with a bound pod: start it (a Job's pod runs to completion at once)."""
        try:
            pod = self.store.get(POD, namespace, name)
        except ApiError:
            return
        node_name = (pod.get("spec") or {}).get("nodeName")
        if pod["metadata"].get("uid") != uid or (pod.get("status") or {}).get("phase") != "Pending" or not node_name:
            return
        if node_name in self.component.silent_kubelets or not self.store.exists(NODE, None, node_name):
            return  # no kubelet to start it: stays Pending (a later pass retries)
        node = self.store.get(NODE, None, node_name)
        started = _now()
        stamp = started.strftime("%Y-%m-%dT%H:%M:%SZ")
        owner = controller_of(pod) or {}
        completes = owner.get("kind") == "Job"

        def start(obj: dict) -> None:
            if obj["metadata"].get("uid") != uid:
                return
            status = obj["status"]
            pod_ip = self._pod_ip(node)
            status.update(phase="Succeeded" if completes else "Running", podIP=pod_ip, podIPs=[{"ip": pod_ip}])
            statuses = []
            for container in obj["spec"]["containers"]:
                cs = seeding.container_status(container, started, name)
                if completes:
                    cs.update(ready=False, started=False, state={"terminated": {
                        "exitCode": 0, "reason": "Completed", "startedAt": stamp, "finishedAt": stamp,
                        "containerID": cs["containerID"]}})
                statuses.append(cs)
            status["containerStatuses"] = statuses
            for cond in status["conditions"]:
                if completes and cond["type"] in ("Ready", "ContainersReady", "PodReadyToStartContainers"):
                    cond.update(status="False", lastTransitionTime=stamp)
                    if cond["type"] != "PodReadyToStartContainers":
                        cond.update(reason="PodCompleted", message="")
                elif cond.get("status") != "True":
                    cond.update(status="True", lastTransitionTime=stamp)
                    cond.pop("reason", None)
                    cond.pop("message", None)

        try:
            running = self.store.mutate(POD, namespace, name, start)
        except ApiError:
            return
        container = running["spec"]["containers"][0]
        field = f"spec.containers{{{container['name']}}}"
        for reason, message in (("Pulled", f'Container image "{container["image"]}" already present on machine'),
                                ("Created", f"Created container {container['name']}"),
                                ("Started", f"Started container {container['name']}")):
            self.event(running, reason, message, "kubelet", host=node_name, field_path=field)
        api = self.component.api
        if api is not None:
            api.logs.update(seeding._pod_logs(running, started - dt.timedelta(seconds=10)))
        roots = self.component.pod_roots
        if roots is not None and not roots.root(namespace, name).is_dir():
            roots.prepare(namespace, name)

    # --- ReplicaSet ----------------------------------------------------------------------

    def _replicaset(self, rs: dict, pods: list[dict]) -> None:
        spec = rs.get("spec") or {}
        wanted = spec.get("replicas", 1)
        live = [p for p in pods if active(p)]
        name, template = rs["metadata"]["name"], spec.get("template") or {}
        if len(live) < wanted:
            for _ in range(min(wanted - len(live), BURST)):
                pod_name = f"{name}-{_suffix()}"
                labels = dict((template.get("metadata") or {}).get("labels") or {})
                created = self._create_pod(rs, pod_name, template, labels,
                                           dict((template.get("metadata") or {}).get("annotations") or {}) or None,
                                           generate_name=f"{name}-")
                if created is not None:
                    live.append(created)
                    self.event(rs, "SuccessfulCreate", f"Created pod: {pod_name}", "replicaset-controller")
        elif len(live) > wanted:
            def rank(pod: dict) -> tuple:  # who goes first: unscheduled, pending, not ready, then the newest
                return (bool(pod["spec"].get("nodeName")), pod["status"].get("phase") == "Running",
                        running_and_ready(pod), _neg_time(pod["metadata"].get("creationTimestamp")))
            for pod in sorted(live, key=rank)[:len(live) - wanted]:
                if self._delete(POD, pod):
                    live.remove(pod)
                    self.event(rs, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}", "replicaset-controller")
        ready = sum(1 for p in live if running_and_ready(p))
        labelled = sum(1 for p in live if all((p["metadata"].get("labels") or {}).get(k) == v
                                               for k, v in (template.get("metadata") or {}).get("labels", {}).items()))
        status = {"replicas": len(live), "fullyLabeledReplicas": labelled,
                  "readyReplicas": ready, "availableReplicas": ready,
                  "observedGeneration": rs["metadata"].get("generation", 1)}
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        for kept in ("conditions",):
            if kept in (rs.get("status") or {}):
                status[kept] = rs["status"][kept]
        self._write_status(REPLICASET, rs, status)

    # --- Deployment ----------------------------------------------------------------------

    def _deployment(self, deployment: dict, by_owner: dict[str, list[dict]]) -> None:
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        ns, name = meta["namespace"], meta["name"]
        replicas = spec.get("replicas", 1)
        template = spec.get("template") or {}
        pod_hash = seeding.template_hash(template)
        owned = [rs for rs in self._objects(REPLICASET, ns)
                 if (controller_of(rs) or {}).get("uid") == meta["uid"]]

        def revision(rs: dict) -> int:
            return int((rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision") or 0)

        def same_template(rs: dict) -> bool:
            theirs = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
            ((theirs.get("metadata") or {}).get("labels") or {}).pop("pod-template-hash", None)
            return (rs["metadata"].get("labels") or {}).get("pod-template-hash") == pod_hash or theirs == template

        newest = max((revision(rs) for rs in owned), default=0)
        new_rs = next((rs for rs in owned if same_template(rs)), None)
        strategy = spec.get("strategy") or {}
        rolling = (strategy.get("type") or "RollingUpdate") == "RollingUpdate"
        surge = _scaled((strategy.get("rollingUpdate") or {}).get("maxSurge", "25%"), replicas, True) if rolling else 0
        unavailable = _scaled((strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%"), replicas, False) \
            if rolling else 0
        if rolling and surge == 0 and unavailable == 0:
            unavailable = 1
        if new_rs is None and not spec.get("paused"):
            new_rs = self._new_replicaset(deployment, template, pod_hash, newest + 1)
            if new_rs is None:
                return
            owned.append(new_rs)
        elif new_rs is not None and revision(new_rs) < newest:  # a rollback: the old template is the newest revision
            bumped = str(newest + 1)
            new_rs = self._write_spec(REPLICASET, new_rs, lambda o: o["metadata"].setdefault("annotations", {})
                                      .update({"deployment.kubernetes.io/revision": bumped})) or new_rs
        if new_rs is None:
            return
        olds = [rs for rs in owned if rs["metadata"]["uid"] != new_rs["metadata"]["uid"]]

        def pods_of(rs: dict) -> list[dict]:
            return [p for p in by_owner.get(rs["metadata"]["uid"], []) if active(p)]

        def ready_of(rs: dict) -> int:
            return sum(1 for p in pods_of(rs) if running_and_ready(p))

        def size(rs: dict) -> int:
            return (rs.get("spec") or {}).get("replicas", 0)

        if not spec.get("paused"):
            if rolling:
                total = size(new_rs) + sum(size(rs) for rs in olds)
                target = size(new_rs)
                if size(new_rs) < replicas:
                    target = min(replicas, size(new_rs) + max(replicas + surge - total, 0))
                elif size(new_rs) > replicas:
                    target = replicas
                if target != size(new_rs):
                    self._scale_rs(deployment, new_rs, target, replicas, surge)
                    total += target - size(new_rs)
                    new_rs = dict(new_rs, spec=dict(new_rs["spec"], replicas=target))
                min_available = replicas - unavailable
                new_unavailable = size(new_rs) - ready_of(new_rs)
                budget = total - min_available - new_unavailable  # unhealthy old replicas first
                available = ready_of(new_rs) + sum(ready_of(rs) for rs in olds)
                for rs in sorted(olds, key=revision):
                    unhealthy = size(rs) - ready_of(rs)
                    if budget <= 0 or unhealthy <= 0 or size(rs) == 0:
                        continue
                    cut = min(budget, unhealthy)
                    self._scale_rs(deployment, rs, size(rs) - cut, replicas, surge)
                    rs["spec"]["replicas"] = size(rs) - cut
                    budget -= cut
                excess = available - min_available
                for rs in sorted(olds, key=revision):
                    if excess <= 0:
                        break
                    if size(rs) == 0:
                        continue
                    cut = min(size(rs), excess)
                    self._scale_rs(deployment, rs, size(rs) - cut, replicas, surge)
                    rs["spec"]["replicas"] = size(rs) - cut
                    excess -= cut
            else:  # Recreate: the old pods go first, then the new ones come
                for rs in olds:
                    if size(rs):
                        self._scale_rs(deployment, rs, 0, replicas, surge)
                        rs["spec"]["replicas"] = 0
                if not any(pods_of(rs) for rs in olds) and size(new_rs) != replicas:
                    self._scale_rs(deployment, new_rs, replicas, replicas, surge)
            self._prune_replicasets(deployment, olds, pods_of, revision)
        self._deployment_status(deployment, new_rs, olds, pods_of, replicas, unavailable)

    def _new_replicaset(self, deployment: dict, template: dict, pod_hash: str, number: int) -> dict | None:
        meta = deployment["metadata"]
        rs_template = copy.deepcopy(template)
        rs_template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = pod_hash
        selector = copy.deepcopy((deployment["spec"].get("selector") or {}))
        selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
        rs = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{meta['name']}-{pod_hash}", "namespace": meta["namespace"],
                         "labels": dict(rs_template["metadata"]["labels"]),
                         "annotations": {"deployment.kubernetes.io/desired-replicas": str(deployment["spec"].get("replicas", 1)),
                                         "deployment.kubernetes.io/max-replicas": str(deployment["spec"].get("replicas", 1)),
                                         "deployment.kubernetes.io/revision": str(number)},
                         "ownerReferences": [_owner_ref(deployment, "Deployment")]},
            "spec": {"replicas": 0, "selector": selector, "template": rs_template},
            "status": {"replicas": 0},
        }
        if deployment["spec"].get("minReadySeconds"):
            rs["spec"]["minReadySeconds"] = deployment["spec"]["minReadySeconds"]
        try:
            return self.store.create(REPLICASET, rs)
        except ApiError:
            return None

    def _scale_rs(self, deployment: dict, rs: dict, to: int, replicas: int, surge: int) -> None:
        was = (rs.get("spec") or {}).get("replicas", 0)

        def change(obj: dict) -> None:
            obj["spec"]["replicas"] = to
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations["deployment.kubernetes.io/desired-replicas"] = str(replicas)
            annotations["deployment.kubernetes.io/max-replicas"] = str(replicas + surge)
        if self._write_spec(REPLICASET, rs, change) is not None:
            direction = "up" if to > was else "down"
            self.event(deployment, "ScalingReplicaSet", f"Scaled {direction} replica set {rs['metadata']['name']} "
                                                        f"from {was} to {to}", "deployment-controller")

    def _prune_replicasets(self, deployment: dict, olds: list[dict], pods_of, revision) -> None:
        limit = (deployment.get("spec") or {}).get("revisionHistoryLimit", 10)
        idle = sorted((rs for rs in olds if not (rs.get("spec") or {}).get("replicas") and not pods_of(rs)), key=revision)
        for rs in idle[:max(len(idle) - limit, 0)]:
            self._delete(REPLICASET, rs)

    def _deployment_status(self, deployment: dict, new_rs: dict, olds: list[dict], pods_of, replicas: int,
                           unavailable: int) -> None:
        every = [p for rs in [new_rs, *olds] for p in pods_of(rs)]
        updated = len(pods_of(new_rs))
        ready = sum(1 for p in every if running_and_ready(p))
        old_status = deployment.get("status") or {}
        now = now_rfc3339()
        conditions = list(old_status.get("conditions") or [])
        if ready >= replicas - unavailable:
            conditions = _set_condition(conditions, "Available", "True", "MinimumReplicasAvailable",
                                        "Deployment has minimum availability.", now)
        else:
            conditions = _set_condition(conditions, "Available", "False", "MinimumReplicasUnavailable",
                                        "Deployment does not have minimum availability.", now)
        rs_name = new_rs["metadata"]["name"]
        if updated == replicas and len(every) == updated and ready >= updated:
            conditions = _set_condition(conditions, "Progressing", "True", "NewReplicaSetAvailable",
                                        f'ReplicaSet "{rs_name}" has successfully progressed.', now)
        else:
            conditions = _set_condition(conditions, "Progressing", "True", "ReplicaSetUpdated",
                                        f'ReplicaSet "{rs_name}" is progressing.', now)
        status = {"observedGeneration": deployment["metadata"].get("generation", 1), "replicas": len(every),
                  "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": ready,
                  "unavailableReplicas": max(replicas - ready, 0), "conditions": conditions}
        if "collisionCount" in old_status:
            status["collisionCount"] = old_status["collisionCount"]
        status = {k: v for k, v in status.items() if v or k in ("observedGeneration", "conditions")}
        self._write_status(DEPLOYMENT, deployment, status)

    # --- StatefulSet ---------------------------------------------------------------------

    def _revisions(self, sts: dict, pods: list[dict]) -> tuple[str, dict[str, dict]]:
        """The update revision's name and the StatefulSet's ControllerRevisions by name (creating or bumping one)."""
        meta = sts["metadata"]
        owned = {cr["metadata"]["name"]: cr for cr in self._objects(REVISION, meta["namespace"])
                 if (controller_of(cr) or {}).get("uid") == meta["uid"]}
        update = seeding.statefulset_revision(sts)
        newest = max((cr.get("revision", 0) for cr in owned.values()), default=0)
        if update not in owned:
            cr = seeding.controller_revision(sts, newest + 1, _now(), uid=str(uuid.uuid4()))
            try:
                owned[update] = self.store.create(REVISION, cr)
            except ApiError:
                return update, owned
        elif owned[update].get("revision", 0) < newest:  # back to an earlier template: it becomes the newest
            def bump(obj: dict) -> None:
                obj["revision"] = newest + 1
            owned[update] = self._write_spec(REVISION, owned[update], bump) or owned[update]
        limit = (sts.get("spec") or {}).get("revisionHistoryLimit", 10)
        live = {update, (sts.get("status") or {}).get("currentRevision")}
        live |= {(p["metadata"].get("labels") or {}).get("controller-revision-hash") for p in pods}
        history = sorted((cr for n, cr in owned.items() if n not in live), key=lambda cr: cr.get("revision", 0))
        for cr in history[:max(len(history) - limit, 0)]:
            if self._delete(REVISION, cr):
                owned.pop(cr["metadata"]["name"], None)
        return update, owned

    def _statefulset(self, sts: dict, pods: list[dict]) -> None:
        meta, spec = sts["metadata"], sts.get("spec") or {}
        name = meta["name"]
        replicas = spec.get("replicas", 1)
        update, revisions = self._revisions(sts, pods)
        current = (sts.get("status") or {}).get("currentRevision") or update
        if current not in revisions:
            current = update
        strategy = spec.get("updateStrategy") or {}
        rolling = (strategy.get("type") or "RollingUpdate") == "RollingUpdate"
        partition = ((strategy.get("rollingUpdate") or {}).get("partition") or 0) if rolling else 0
        ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        by_ordinal: dict[int, dict] = {}
        for pod in pods:
            prefix, _, ordinal = pod["metadata"]["name"].rpartition("-")
            if prefix == name and ordinal.isdigit():
                by_ordinal[int(ordinal)] = pod
        live = dict(by_ordinal)
        for ordinal, pod in sorted(by_ordinal.items()):  # failed pods are replaced
            if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded") and self._delete(POD, pod):
                self.event(sts, "SuccessfulDelete", f"delete Pod {pod['metadata']['name']} in StatefulSet {name} "
                                                    "successful", "statefulset-controller")
                del live[ordinal]
        busy = False
        for ordinal in range(replicas):
            pod = live.get(ordinal)
            if pod is None:
                revision = current if rolling and ordinal < partition else update
                created = self._create_member(sts, ordinal, revision, revisions)
                if created is not None:
                    live[ordinal] = created
                busy = True
                if ordered:
                    break
            elif ordered and not running_and_ready(pod):
                busy = True
                break
        if not busy:
            condemned = sorted((o for o in live if o >= replicas), reverse=True)
            for ordinal in condemned[:1] if ordered else condemned:
                pod = live.pop(ordinal)
                if self._delete(POD, pod):
                    self.event(sts, "SuccessfulDelete", f"delete Pod {pod['metadata']['name']} in StatefulSet {name} "
                                                        "successful", "statefulset-controller")
                busy = True
        if not busy and rolling and all(running_and_ready(p) for p in live.values()):
            for ordinal in sorted((o for o in live if partition <= o < replicas), reverse=True):
                pod = live[ordinal]
                if (pod["metadata"].get("labels") or {}).get("controller-revision-hash") != update:
                    if self._delete(POD, pod):
                        self.event(sts, "SuccessfulDelete", f"delete Pod {pod['metadata']['name']} in StatefulSet "
                                                            f"{name} successful", "statefulset-controller")
                        live.pop(ordinal)
                    break
        self._statefulset_status(sts, list(live.values()), current, update, rolling)

    def _create_member(self, sts: dict, ordinal: int, revision: str, revisions: dict[str, dict]) -> dict | None:
        name = f"{sts['metadata']['name']}-{ordinal}"
        template = sts["spec"]["template"]
        if revision in revisions and revision != seeding.statefulset_revision(sts):
            template = copy.deepcopy(revisions[revision]["data"]["spec"]["template"])
            template.pop("$patch", None)
        labels = {**((template.get("metadata") or {}).get("labels") or {}), "controller-revision-hash": revision,
                  "statefulset.kubernetes.io/pod-name": name, "apps.kubernetes.io/pod-index": str(ordinal)}
        for claim in sts["spec"].get("volumeClaimTemplates") or []:
            self._claim(sts, claim, name)
        placement = seeding.PLACEMENT.get(sts["metadata"]["name"]) or []
        preferred = placement[ordinal] if ordinal < len(placement) else None
        created = self._create_pod(sts, name, template, labels,
                                   dict((template.get("metadata") or {}).get("annotations") or {}) or None,
                                   preferred_node=preferred)
        if created is not None:
            self.event(sts, "SuccessfulCreate", f"create Pod {name} in StatefulSet {sts['metadata']['name']} successful",
                       "statefulset-controller")
        return created

    def _claim(self, sts: dict, claim: dict, pod_name: str) -> None:
        """The claim ``<template>-<pod>``: kept if it exists (the pod's data), else created and bound."""
        ns = sts["metadata"]["namespace"]
        claim_name = f"{claim['metadata']['name']}-{pod_name}"
        if self.store.exists(PVC, ns, claim_name):
            return
        classes = {c["metadata"]["name"]: c for c in self.store.list(STORAGE_CLASS)}
        wanted = (claim.get("spec") or {}).get("storageClassName") or next(
            (n for n, c in classes.items()
             if (c["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true"), None)
        storage_class = classes.get(wanted)
        now = _now()
        if storage_class is None:  # no class: the claim waits (Pending)
            pvc = seeding._pvc(sts, claim, pod_name, now, {"provisioner": ""})
            pvc["spec"].pop("volumeName", None)
            pvc["status"] = {"phase": "Pending"}
        else:
            pvc = seeding._pvc(sts, claim, pod_name, now, storage_class)
            pvc["metadata"]["uid"] = str(uuid.uuid4())
            pvc["spec"]["volumeName"] = f"pvc-{pvc['metadata']['uid']}"
        try:
            created = self.store.create(PVC, pvc)
        except ApiError:
            return
        if storage_class is not None:
            zone = sorted({(n["metadata"].get("labels") or {}).get("topology.kubernetes.io/zone", "")
                           for n in self.store.peek(NODE)} or {""})[0]
            try:
                self.store.create(PV, seeding._pv(created, storage_class, zone, now))
            except ApiError:
                pass
        self.event(sts, "SuccessfulCreate", f"create Claim {claim_name} Pod {pod_name} in StatefulSet "
                                            f"{sts['metadata']['name']} success", "statefulset-controller")

    def _statefulset_status(self, sts: dict, pods: list[dict], current: str, update: str, rolling: bool) -> None:
        old = sts.get("status") or {}
        ready = sum(1 for p in pods if running_and_ready(p))

        def at(revision: str) -> int:
            return sum(1 for p in pods if (p["metadata"].get("labels") or {}).get("controller-revision-hash") == revision)
        updated = at(update)
        status = {"observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(pods),
                  "readyReplicas": ready, "currentReplicas": at(current), "updatedReplicas": updated,
                  "availableReplicas": ready, "currentRevision": current, "updateRevision": update,
                  "collisionCount": old.get("collisionCount", 0)}
        if rolling and updated == len(pods) and ready == len(pods):  # the rolling update is complete
            status.update(currentRevision=update, currentReplicas=updated)
        status = {k: v for k, v in status.items() if v or k not in ("readyReplicas", "currentReplicas", "updatedReplicas")}
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        self._write_status(STATEFULSET, sts, status)

    # --- Job -----------------------------------------------------------------------------

    def _job(self, job: dict, pods: list[dict]) -> None:
        meta, spec = job["metadata"], job.get("spec") or {}
        old = job.get("status") or {}
        finished = any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                       for c in old.get("conditions") or [])
        parallelism = spec.get("parallelism", 1)
        completions = spec.get("completions")
        indexed = spec.get("completionMode") == "Indexed"
        succeeded = [p for p in pods if (p.get("status") or {}).get("phase") == "Succeeded"]
        failed = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
        running = [p for p in pods if active(p)]
        template = spec.get("template") or {}
        index_key = "batch.kubernetes.io/job-completion-index"
        done_indexes = sorted({int((p["metadata"].get("annotations") or {}).get(index_key, -1)) for p in succeeded} - {-1})
        now = now_rfc3339()
        status = {k: v for k, v in old.items() if k in ("startTime", "completionTime", "conditions")}
        if not finished and not spec.get("suspend"):
            status.setdefault("startTime", now)
            if failed and len(failed) > spec.get("backoffLimit", 6):
                for pod in running:
                    self._delete(POD, pod)
                running = []
                status["conditions"] = [
                    {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
                     "message": "Job has reached the specified backoff limit", "lastProbeTime": now,
                     "lastTransitionTime": now},
                    {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                     "message": "Job has reached the specified backoff limit", "lastProbeTime": now,
                     "lastTransitionTime": now}]
                self.event(job, "BackoffLimitExceeded", "Job has reached the specified backoff limit", "job-controller",
                           warning=True)
            elif (completions is not None and (len(done_indexes) if indexed else len(succeeded)) >= completions) or \
                    (completions is None and succeeded and not running):
                status["completionTime"] = now
                status["conditions"] = [
                    {"type": t, "status": "True", "reason": "CompletionsReached",
                     "message": "Reached expected number of succeeded pods", "lastProbeTime": now,
                     "lastTransitionTime": now} for t in ("SuccessCriteriaMet", "Complete")]
                self.event(job, "Completed", "Job completed", "job-controller")
            else:
                if indexed:
                    busy = {int((p["metadata"].get("annotations") or {}).get(index_key, -1)) for p in running}
                    todo = [i for i in range(completions or 0) if i not in done_indexes and i not in busy]
                    slots = todo[:max(parallelism - len(running), 0)]
                elif completions is None:
                    slots = [None] * (max(parallelism - len(running), 0) if not succeeded else 0)
                else:
                    slots = [None] * max(min(parallelism, completions - len(succeeded)) - len(running), 0)
                for index in slots[:BURST]:
                    pod_name = f"{meta['name']}-{_suffix()}" if index is None else f"{meta['name']}-{index}-{_suffix()}"
                    labels = dict((template.get("metadata") or {}).get("labels") or {})
                    annotations = dict((template.get("metadata") or {}).get("annotations") or {})
                    if index is not None:
                        labels[index_key] = str(index)
                        annotations[index_key] = str(index)
                    created = self._create_pod(job, pod_name, template, labels, annotations or None,
                                               generate_name=f"{meta['name']}-" if index is None else
                                               f"{meta['name']}-{index}-")
                    if created is not None:
                        running.append(created)
                        self.event(job, "SuccessfulCreate", f"Created pod: {pod_name}", "job-controller")
        status.update({"active": len(running), "succeeded": len(succeeded), "failed": len(failed),
                       "ready": sum(1 for p in running if running_and_ready(p)), "terminating": 0,
                       "uncountedTerminatedPods": {}})
        if indexed and done_indexes:
            status["completedIndexes"] = _ranges(done_indexes)
        status = {k: v for k, v in status.items() if v or k in ("ready", "terminating", "uncountedTerminatedPods")}
        self._write_status(JOB, job, status)


def _ranges(indexes: list[int]) -> str:
    """``[0, 1, 2, 5]`` as a Job's ``completedIndexes``: ``0-2,5``."""
    parts, start = [], None
    for i, value in enumerate(indexes):
        if start is None:
            start = value
        if i + 1 == len(indexes) or indexes[i + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}-{value}")
            start = None
    return ",".join(parts)


def _expression(labels: dict, expr: dict) -> bool:
    key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False


def _neg_time(stamp: str | None) -> float:
    if not stamp:
        return 0.0
    try:
        return -dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp()
    except ValueError:
        return 0.0
