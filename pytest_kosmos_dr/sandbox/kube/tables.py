"""Server-side printing: ``meta.k8s.io/v1`` ``Table`` responses with kubectl's columns."""

from __future__ import annotations

import datetime as dt
from typing import Callable

Column = tuple[str, str, int]  # name, type, priority (1 = only with -o wide)


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """``k8s.io/apimachinery/pkg/util/duration.HumanDuration``."""
    if seconds < -1:
        return "<invalid>"
    s = max(int(seconds), 0)
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years = hours // (24 * 365)
    return f"{years}y{(hours // 24) % 365}d" if years < 8 else f"{years}y"


def age(timestamp: str | None) -> str:
    when = parse_time(timestamp)
    if when is None:
        return "<unknown>"
    return human_duration((dt.datetime.now(dt.timezone.utc) - when).total_seconds())


def _meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def _age(obj: dict) -> str:
    return age(_meta(obj).get("creationTimestamp"))


def _or_none(value) -> str:
    return str(value) if value not in (None, "", []) else "<none>"


# --- per kind ---------------------------------------------------------------------------------


def _pod_status(pod: dict) -> str:
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    running = False
    for cs in reversed(status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            term = state["terminated"] or {}
            reason = term.get("reason") or (
                f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode', 0)}"
            )
        elif "running" in state and cs.get("ready"):
            running = True
    if reason == "Completed" and running:
        reason = "Running"
    if _meta(pod).get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _pod_restarts(pod: dict) -> str:
    restarts, last = 0, None
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        restarts += int(cs.get("restartCount") or 0)
        finished = parse_time(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
        if finished and (last is None or finished > last):
            last = finished
    if restarts and last:
        return f"{restarts} ({human_duration((dt.datetime.now(dt.timezone.utc) - last).total_seconds())} ago)"
    return str(restarts)


def _pod_row(pod: dict) -> list:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    total = len(spec.get("containers") or [])
    ready = sum(1 for cs in status.get("containerStatuses") or [] if cs.get("ready"))
    return [
        _meta(pod).get("name"), f"{ready}/{total}", _pod_status(pod), _pod_restarts(pod), _age(pod),
        _or_none(status.get("podIP")), _or_none(spec.get("nodeName")), _or_none(status.get("nominatedNodeName")),
        "<none>",
    ]


def _node_row(node: dict) -> list:
    status = node.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = "Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")
    if (node.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    roles = sorted(
        key.split("/", 1)[1] for key in (_meta(node).get("labels") or {}) if key.startswith("node-role.kubernetes.io/")
    )
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [
        _meta(node).get("name"), state, ",".join(roles) or "<none>", _age(node), info.get("kubeletVersion", ""),
        _or_none(addresses.get("InternalIP")), _or_none(addresses.get("ExternalIP")), info.get("osImage", ""),
        info.get("kernelVersion", ""), info.get("containerRuntimeVersion", ""),
    ]


def _template_containers(obj: dict) -> tuple[str, str]:
    containers = ((((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")) or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def _selector(obj: dict) -> str:
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in labels.items()) or "<none>"


def _deployment_row(obj: dict) -> list:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _template_containers(obj)
    return [
        _meta(obj).get("name"), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0), status.get("availableReplicas", 0), _age(obj), names, images, _selector(obj),
    ]


def _statefulset_row(obj: dict) -> list:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _template_containers(obj)
    return [_meta(obj).get("name"), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", _age(obj), names, images]


def _replicaset_row(obj: dict) -> list:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _template_containers(obj)
    return [
        _meta(obj).get("name"), spec.get("replicas", 1), status.get("replicas", 0), status.get("readyReplicas", 0),
        _age(obj), names, images, _selector(obj),
    ]


def _service_row(obj: dict) -> list:
    spec = obj.get("spec") or {}
    ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or []) or "<none>"
    selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items()) or "<none>"
    return [
        _meta(obj).get("name"), spec.get("type", "ClusterIP"), spec.get("clusterIP", "<none>"),
        ",".join(spec.get("externalIPs") or []) or "<none>", ports, _age(obj), selector,
    ]


def _event_row(obj: dict) -> list:
    involved = obj.get("involvedObject") or {}
    last = obj.get("lastTimestamp") or obj.get("eventTime") or _meta(obj).get("creationTimestamp")
    return [
        age(last), obj.get("type", ""), obj.get("reason", ""),
        f"{(involved.get('kind') or '').lower()}/{involved.get('name', '')}", obj.get("message", ""),
    ]


def _pvc_row(obj: dict) -> list:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        _meta(obj).get("name"), status.get("phase", "Pending"), spec.get("volumeName", ""),
        (status.get("capacity") or {}).get("storage", ""), ",".join(
            {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX"}.get(m, m)
            for m in status.get("accessModes") or []
        ), _or_none(spec.get("storageClassName")), _age(obj),
    ]


def _pv_row(obj: dict) -> list:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    claim = spec.get("claimRef") or {}
    return [
        _meta(obj).get("name"), (spec.get("capacity") or {}).get("storage", ""), ",".join(
            {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX"}.get(m, m)
            for m in spec.get("accessModes") or []
        ), spec.get("persistentVolumeReclaimPolicy", "Retain"), status.get("phase", "Available"),
        f"{claim.get('namespace')}/{claim.get('name')}" if claim else "", _or_none(spec.get("storageClassName")),
        spec.get("volumeAttributesClassName") or "<unset>", status.get("reason", ""), _age(obj),
        spec.get("volumeMode", "Filesystem"),
    ]


def _cronjob_row(obj: dict) -> list:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    last = status.get("lastScheduleTime")
    return [
        _meta(obj).get("name"), spec.get("schedule", ""), _or_none(spec.get("timeZone")),
        str(spec.get("suspend", False)), len(status.get("active") or []), age(last) if last else "<none>", _age(obj),
    ]


def _storageclass_row(obj: dict) -> list:
    name = _meta(obj).get("name")
    if (_meta(obj).get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true":
        name = f"{name} (default)"
    return [
        name, obj.get("provisioner", ""), obj.get("reclaimPolicy", "Delete"),
        obj.get("volumeBindingMode", "Immediate"), str(obj.get("allowVolumeExpansion", False)).lower(), _age(obj),
    ]


def _created_at(obj: dict) -> str:
    return _meta(obj).get("creationTimestamp") or "<unknown>"


def _binding_row(obj: dict) -> list:
    ref = obj.get("roleRef") or {}
    subjects = [s for s in obj.get("subjects") or [] if isinstance(s, dict)]

    def names(kind: str, with_namespace: bool = False) -> str:
        found = [f"{s.get('namespace', '')}/{s.get('name', '')}" if with_namespace else s.get("name", "")
                 for s in subjects if s.get("kind") == kind]
        return ", ".join(found)

    return [
        _meta(obj).get("name"), f"{ref.get('kind', '')}/{ref.get('name', '')}", _age(obj),
        names("User"), names("Group"), names("ServiceAccount", with_namespace=True),
    ]


def _revision_row(obj: dict) -> list:
    owner = next((r for r in _meta(obj).get("ownerReferences") or [] if r.get("controller")), None)
    controller = f"{owner['kind'].lower()}.{owner['apiVersion'].split('/')[0]}/{owner['name']}" if owner else "<none>"
    return [_meta(obj).get("name"), controller, obj.get("revision", 0), _age(obj)]


def _job_row(obj: dict) -> list:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    if conditions.get("Complete") == "True":
        state = "Complete"
    elif conditions.get("Failed") == "True":
        state = "Failed"
    elif spec.get("suspend"):
        state = "Suspended"
    else:
        state = "Running"
    completions = spec.get("completions")
    done = f"{status.get('succeeded', 0)}/{completions}" if completions is not None else \
        f"{status.get('succeeded', 0)}/1 of {spec.get('parallelism', 1)}"
    duration = ""
    start = parse_time(status.get("startTime"))
    if start is not None:
        end = parse_time(status.get("completionTime")) or dt.datetime.now(dt.timezone.utc)
        duration = human_duration((end - start).total_seconds())
    containers = (((spec.get("template") or {}).get("spec") or {}).get("containers")) or []
    selector = ",".join(f"{k}={v}" for k, v in ((spec.get("selector") or {}).get("matchLabels") or {}).items())
    return [_meta(obj).get("name"), state, done, duration, _age(obj), ",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers), selector]


S, I = "string", "integer"
PRINTERS: dict[str, tuple[list[Column], Callable[[dict], list]]] = {
    "Pod": ([("Name", S, 0), ("Ready", S, 0), ("Status", S, 0), ("Restarts", S, 0), ("Age", S, 0), ("IP", S, 1),
             ("Node", S, 1), ("Nominated Node", S, 1), ("Readiness Gates", S, 1)], _pod_row),
    "Node": ([("Name", S, 0), ("Status", S, 0), ("Roles", S, 0), ("Age", S, 0), ("Version", S, 0),
              ("Internal-IP", S, 1), ("External-IP", S, 1), ("OS-Image", S, 1), ("Kernel-Version", S, 1),
              ("Container-Runtime", S, 1)], _node_row),
    "Deployment": ([("Name", S, 0), ("Ready", S, 0), ("Up-to-date", I, 0), ("Available", I, 0), ("Age", S, 0),
                    ("Containers", S, 1), ("Images", S, 1), ("Selector", S, 1)], _deployment_row),
    "StatefulSet": ([("Name", S, 0), ("Ready", S, 0), ("Age", S, 0), ("Containers", S, 1), ("Images", S, 1)],
                    _statefulset_row),
    "ReplicaSet": ([("Name", S, 0), ("Desired", I, 0), ("Current", I, 0), ("Ready", I, 0), ("Age", S, 0),
                    ("Containers", S, 1), ("Images", S, 1), ("Selector", S, 1)], _replicaset_row),
    "Service": ([("Name", S, 0), ("Type", S, 0), ("Cluster-IP", S, 0), ("External-IP", S, 0), ("Port(s)", S, 0),
                 ("Age", S, 0), ("Selector", S, 1)], _service_row),
    "Namespace": ([("Name", S, 0), ("Status", S, 0), ("Age", S, 0)],
                  lambda o: [_meta(o).get("name"), (o.get("status") or {}).get("phase", "Active"), _age(o)]),
    "ConfigMap": ([("Name", S, 0), ("Data", I, 0), ("Age", S, 0)],
                  lambda o: [_meta(o).get("name"), len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age(o)]),
    "Secret": ([("Name", S, 0), ("Type", S, 0), ("Data", I, 0), ("Age", S, 0)],
               lambda o: [_meta(o).get("name"), o.get("type", "Opaque"), len(o.get("data") or {}), _age(o)]),
    "ServiceAccount": ([("Name", S, 0), ("Secrets", I, 0), ("Age", S, 0)],
                       lambda o: [_meta(o).get("name"), len(o.get("secrets") or []), _age(o)]),
    "Event": ([("Last Seen", S, 0), ("Type", S, 0), ("Reason", S, 0), ("Object", S, 0), ("Message", S, 0)], _event_row),
    "PersistentVolumeClaim": ([("Name", S, 0), ("Status", S, 0), ("Volume", S, 0), ("Capacity", S, 0),
                               ("Access Modes", S, 0), ("StorageClass", S, 0), ("Age", S, 0)], _pvc_row),
    "PersistentVolume": ([("Name", S, 0), ("Capacity", S, 0), ("Access Modes", S, 0), ("Reclaim Policy", S, 0),
                          ("Status", S, 0), ("Claim", S, 0), ("StorageClass", S, 0), ("VolumeAttributesClass", S, 0),
                          ("Reason", S, 0), ("Age", S, 0), ("VolumeMode", S, 1)], _pv_row),
    "CronJob": ([("Name", S, 0), ("Schedule", S, 0), ("Timezone", S, 0), ("Suspend", S, 0), ("Active", I, 0),
                 ("Last Schedule", S, 0), ("Age", S, 0)], _cronjob_row),
    "StorageClass": ([("Name", S, 0), ("Provisioner", S, 0), ("ReclaimPolicy", S, 0), ("VolumeBindingMode", S, 0),
                      ("AllowVolumeExpansion", S, 0), ("Age", S, 0)], _storageclass_row),
    "ControllerRevision": ([("Name", S, 0), ("Controller", S, 0), ("Revision", I, 0), ("Age", S, 0)], _revision_row),
    "Job": ([("Name", S, 0), ("Status", S, 0), ("Completions", S, 0), ("Duration", S, 0), ("Age", S, 0),
             ("Containers", S, 1), ("Images", S, 1), ("Selector", S, 1)], _job_row),
    # RBAC: kubectl's columns (roles show when they were created, bindings the role they grant)
    "Role": ([("Name", S, 0), ("Created At", "date", 0)], lambda o: [_meta(o).get("name"), _created_at(o)]),
    "ClusterRole": ([("Name", S, 0), ("Created At", "date", 0)], lambda o: [_meta(o).get("name"), _created_at(o)]),
    "RoleBinding": ([("Name", S, 0), ("Role", S, 0), ("Age", S, 0), ("Users", S, 1), ("Groups", S, 1),
                     ("ServiceAccounts", S, 1)], _binding_row),
    "ClusterRoleBinding": ([("Name", S, 0), ("Role", S, 0), ("Age", S, 0), ("Users", S, 1), ("Groups", S, 1),
                            ("ServiceAccounts", S, 1)], _binding_row),
    "Lease": ([("Name", S, 0), ("Holder", S, 0), ("Age", S, 0)],
              lambda o: [_meta(o).get("name"), (o.get("spec") or {}).get("holderIdentity") or "", _age(o)]),
}
DEFAULT_PRINTER: tuple[list[Column], Callable[[dict], list]] = (
    [("Name", S, 0), ("Age", S, 0)], lambda o: [_meta(o).get("name"), _age(o)]
)


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def _row_object(obj: dict, include: str) -> dict | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": _meta(obj)}


def table(kind: str, objects: list[dict], resource_version: str, include_object: str = "Metadata") -> dict:
    """A ``Table`` of ``objects`` (all of ``kind``)."""
    columns, row = PRINTERS.get(kind, DEFAULT_PRINTER)
    rows = []
    for obj in objects:
        entry = {"cells": row(obj)}
        embedded = _row_object(obj, include_object)
        if embedded is not None:
            entry["object"] = embedded
        rows.append(entry)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {"name": name, "type": ctype, "format": "name" if name == "Name" else "", "description": name, "priority": prio}
            for name, ctype, prio in columns
        ],
        "rows": rows,
    }
