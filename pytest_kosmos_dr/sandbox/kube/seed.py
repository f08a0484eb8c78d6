"""The DR cluster's content: fixture files plus what the controllers of a running cluster add.

``seed/production-rendered.yaml`` is ``kubectl kustomize overlays/production`` of the config
repository (a test proves it); the workloads are stored exactly as rendered (plus the
``last-applied-configuration`` that ``kubectl apply`` leaves), and their pods, ReplicaSet,
PersistentVolumeClaims with the PersistentVolumes their class provisioned, events and statuses are derived from them here.

Everything follows the sandbox layout (``sandbox/layout.py``): the namespace, the DR region's zones on the
nodes, and the layout's extra overlay kinds (rendered as kustomize renders them; a test proves that too).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ... import yaml_docs
from ..config_repo import EXTRAS, KUSTOMIZE_SOURCE, extra_file, extra_kinds
from ..dr_database import Scale, current_scale
from . import defaults
from .resources import ResourceType, type_of_kind

if TYPE_CHECKING:
    from ..layout import Layout

SEED_DIR = Path(__file__).with_name("seed")
RENDERED_FILE = SEED_DIR / "production-rendered.yaml"
AGENT_STATE_DIR = SEED_DIR / "agent-state"
STATE_PATH = "var/lib/agent/state"
NAMESPACE = "kosmos"  # the default layout's namespace (every function takes the layout's)
SEED_REGION = "us-west-2"  # the DR region nodes.yaml is written for (replaced by the layout's)
# kustomize's legacy output order (api/resid/gvk.go): these kinds first, in this order; other kinds by
# group_version_kind; objects of one kind keep their input order
KUSTOMIZE_FIRST = (
    "Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount", "PodSecurityPolicy",
    "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Secret", "Endpoints", "Service",
    "LimitRange", "PriorityClass", "PersistentVolume", "PersistentVolumeClaim", "Deployment", "StatefulSet",
    "CronJob", "PodDisruptionBudget",
)
KUSTOMIZE_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# where the scheduler put each workload's replicas (one zone per replica for kosmos-api)
PLACEMENT = {
    "kosmos-api": ["dr-node-a", "dr-node-b"],
    "zeus-orchestrator": ["dr-node-a"],
    "athena-analyst": ["dr-node-b"],
    "hermes-courier": ["dr-node-c"],
}
_SAFE = "bcdfghjklmnpqrstvwxz2456789"
# scale mode (``--scale large``): the KOSMOS worker fleet that brings the namespace to the scale's
# pod count. It is not part of the configuration repository (like cluster.yaml's objects), so the
# Git-managed workloads stay exactly as ``overlays/production`` renders them (BAK-CONFIG-GITOPS).
FLEET_NAME = "kosmos-workers"
FLEET_MANAGED_BY = "kosmos-dr-sandbox-scale"


@dataclass
class ClusterSeed:
    """Objects by resource type, pod logs, and the pods whose roots need state files."""

    objects: dict[ResourceType, list[dict]] = field(default_factory=dict)
    logs: dict[tuple[str, str, str], str] = field(default_factory=dict)
    agent_pods: dict[tuple[str, str], str] = field(default_factory=dict)  # (ns, pod) -> agent

    def add(self, obj: dict) -> None:
        rtype = type_of_kind(obj["apiVersion"], obj["kind"])
        if rtype is None:
            raise ValueError(f"no resource type for {obj['apiVersion']} {obj['kind']}")
        self.objects.setdefault(rtype, []).append(obj)

    def of_kind(self, kind: str) -> list[dict]:
        return [o for rtype, objs in self.objects.items() if rtype.kind == kind for o in objs]


def _safe_hash(text: str, length: int) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:length])


def _ts(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "kosmos-dr/" + "/".join(parts)))


def load_yaml(path: Path) -> list[dict]:
    return [doc for doc in yaml_docs.load_all(path.read_text()) if doc]


def _kustomize_order(obj: dict) -> tuple:
    kind = obj.get("kind", "")
    if kind in KUSTOMIZE_FIRST:
        return (0, KUSTOMIZE_FIRST.index(kind), "")
    if kind in KUSTOMIZE_LAST:
        return (2, KUSTOMIZE_LAST.index(kind), "")
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    return (1, 0, f"{group}_{version}_{kind}")


def rendered_workloads(layout: "Layout | None" = None) -> list[dict]:
    """What ``kubectl kustomize overlays/production`` renders for ``layout``'s config repository: the shipped
    rendering (default layout) in the layout's namespace, plus the layout's extra kinds from ``extras/``."""
    objects = load_yaml(RENDERED_FILE)
    if layout is None:
        return objects
    have = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for kind in extra_kinds(layout):
        for obj in load_yaml(KUSTOMIZE_SOURCE / EXTRAS / extra_file(kind)):
            if (obj["kind"], obj["metadata"]["name"]) not in have:
                objects.append(obj)
    for obj in objects:  # kustomize's namespace transformer
        obj["metadata"]["namespace"] = layout.namespace
        if obj["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            for subject in obj.get("subjects") or []:
                if subject.get("kind") == "ServiceAccount" and not subject.get("namespace"):
                    subject["namespace"] = layout.namespace
    return sorted(objects, key=_kustomize_order)


def _with_meta(obj: dict, created: dt.datetime, *, applied: bool = False) -> dict:
    obj = copy.deepcopy(obj)
    meta = obj.setdefault("metadata", {})
    meta.setdefault("uid", _uid(obj["kind"], meta.get("namespace", ""), meta["name"]))
    meta.setdefault("creationTimestamp", _ts(created))
    if "spec" in obj and obj["kind"] not in ("Namespace", "Node"):
        meta.setdefault("generation", 1)
    if applied:
        # what kubectl apply records: the manifest as JSON, with an empty annotations map
        manifest_obj = obj_without_server_fields(obj)
        manifest_obj["metadata"].setdefault("annotations", {})
        manifest = json.dumps(manifest_obj, sort_keys=True, separators=(",", ":")) + "\n"
        meta.setdefault("annotations", {})[LAST_APPLIED] = manifest
    return obj


def obj_without_server_fields(obj: dict) -> dict:
    clean = copy.deepcopy(obj)
    meta = clean.get("metadata", {})
    for key in ("uid", "creationTimestamp", "generation", "resourceVersion"):
        meta.pop(key, None)
    return clean


def container_status(container: dict, started: dt.datetime, pod: str) -> dict:
    image = container["image"]
    return {
        "name": container["name"],
        "image": image,
        "imageID": f"{image.rsplit(':', 1)[0]}@sha256:{hashlib.sha256(image.split('/')[-1].encode()).hexdigest()}",
        "containerID": "containerd://" + hashlib.sha256(f"{pod}/{container['name']}".encode()).hexdigest(),
        "ready": True,
        "started": True,
        "restartCount": 0,
        "state": {"running": {"startedAt": _ts(started)}},
        "lastState": {},
    }


def pod_spec(workload: dict, name: str, template: dict | None = None) -> dict:
    """The spec of pod ``name`` of ``workload`` (from ``template``, default the workload's): the template's spec
    with the defaults the API server adds, and a StatefulSet's hostname, subdomain and claim volumes; no node yet."""
    template = template or workload["spec"]["template"]
    spec = copy.deepcopy(template["spec"])
    defaults.pod_spec(spec)
    spec.setdefault("serviceAccountName", "default")
    spec["serviceAccount"] = spec["serviceAccountName"]
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key and t.get("effect") == "NoExecute" for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
    if workload["kind"] == "StatefulSet":
        spec["hostname"] = name
        spec["subdomain"] = workload["spec"].get("serviceName")
        spec["volumes"] = [
            {"name": t["metadata"]["name"], "persistentVolumeClaim": {"claimName": f"{t['metadata']['name']}-{name}"}}
            for t in workload["spec"].get("volumeClaimTemplates") or []
        ] + spec.get("volumes", [])
    return spec


def node_ips(node: dict) -> tuple[int, str]:
    """A node's pod network (the third octet of its podCIDR) and InternalIP."""
    return (int(node["spec"]["podCIDR"].split(".")[2]),
            next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"))


def _pod(workload: dict, name: str, node: dict, index: int, created: dt.datetime, extra_labels: dict, owner: dict) -> dict:
    template = workload["spec"]["template"]
    spec = {"nodeName": node["metadata"]["name"], **pod_spec(workload, name)}
    node_index, host_ip = node_ips(node)
    pod_ip = f"10.42.{node_index}.{20 + index + 10 * len(workload['metadata']['name']) % 200}"
    scheduled, started = created, created + dt.timedelta(seconds=9)
    conditions = [
        ("PodReadyToStartContainers", started), ("Initialized", scheduled), ("Ready", started + dt.timedelta(seconds=4)),
        ("ContainersReady", started + dt.timedelta(seconds=4)), ("PodScheduled", scheduled),
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": workload["metadata"]["namespace"],
            "uid": _uid("Pod", workload["metadata"]["namespace"], name),
            "creationTimestamp": _ts(created),
            "labels": {**copy.deepcopy(template["metadata"].get("labels", {})), **extra_labels},
            "ownerReferences": [owner],
        },
        "spec": spec,
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": _ts(when)}
                for t, when in conditions
            ],
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "startTime": _ts(scheduled),
            "qosClass": "Burstable",
            "containerStatuses": [container_status(c, started, name) for c in spec["containers"]],
        },
    }


def template_hash(template: dict) -> str:
    """The hash a controller names a pod template by (ReplicaSet ``pod-template-hash``, StatefulSet revision)."""
    return _safe_hash(json.dumps(template, sort_keys=True), 10)


def statefulset_revision(sts: dict) -> str:
    """The name of the ControllerRevision that holds ``sts``'s current pod template."""
    return f"{sts['metadata']['name']}-{template_hash(sts['spec']['template'])}"


def controller_revision(sts: dict, number: int, created: dt.datetime, uid: str | None = None) -> dict:
    """The ControllerRevision the StatefulSet controller keeps of ``sts``'s current template (``kubectl rollout history``)."""
    name = statefulset_revision(sts)
    template = copy.deepcopy(sts["spec"]["template"])
    return {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": name, "namespace": sts["metadata"]["namespace"],
                     "uid": uid or _uid("ControllerRevision", sts["metadata"]["namespace"], name),
                     "creationTimestamp": _ts(created),
                     "labels": {**(template.get("metadata") or {}).get("labels", {}),
                                "controller.kubernetes.io/hash": name.rsplit("-", 1)[1]},
                     "ownerReferences": [_owner(sts, "StatefulSet", "apps/v1")]},
        "data": {"spec": {"template": {"$patch": "replace", **template}}},
        "revision": number,
    }


def _owner(obj: dict, kind: str, api_version: str) -> dict:
    return {
        "apiVersion": api_version, "kind": kind, "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"],
        "controller": True, "blockOwnerDeletion": True,
    }


def _events(pod: dict, created: dt.datetime) -> list[dict]:
    node = pod["spec"]["nodeName"]
    events = []
    container = pod["spec"]["containers"][0]
    steps = [
        ("Scheduled", "default-scheduler", "", f"Successfully assigned {pod['metadata']['namespace']}/{pod['metadata']['name']} to {node}", 0),
        ("Pulled", "kubelet", f"spec.containers{{{container['name']}}}", f'Container image "{container["image"]}" already present on machine', 3),
        ("Created", "kubelet", f"spec.containers{{{container['name']}}}", f"Created container {container['name']}", 4),
        ("Started", "kubelet", f"spec.containers{{{container['name']}}}", f"Started container {container['name']}", 9),
    ]
    for reason, component, field_path, message, offset in steps:
        when = _ts(created + dt.timedelta(seconds=offset))
        involved = {
            "kind": "Pod", "namespace": pod["metadata"]["namespace"], "name": pod["metadata"]["name"],
            "uid": pod["metadata"]["uid"], "apiVersion": "v1",
        }
        if field_path:
            involved["fieldPath"] = field_path
        name = f"{pod['metadata']['name']}.{hashlib.sha256((pod['metadata']['name'] + reason).encode()).hexdigest()[:16]}"
        events.append({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": pod["metadata"]["namespace"], "uid": _uid("Event", name),
                         "creationTimestamp": when},
            "involvedObject": involved, "reason": reason, "message": message, "type": "Normal", "count": 1,
            "firstTimestamp": when, "lastTimestamp": when,
            "source": {"component": component, **({"host": node} if component == "kubelet" else {})},
            "reportingComponent": component, "reportingInstance": node if component == "kubelet" else "",
        })
    return events


def _pod_logs(pod: dict, created: dt.datetime) -> dict[tuple[str, str, str], str]:
    logs = {}
    for container in pod["spec"]["containers"]:
        name = pod["metadata"]["name"]
        t0 = created + dt.timedelta(seconds=10)
        lines = [
            (0, f"level=info msg=\"starting {container['name']}\" pod={name} image={container['image']}"),
            (1, "level=info msg=\"configuration loaded\" source=configmap/kosmos-config env=production"),
            (2, f"level=info msg=\"state restored\" dir=/{STATE_PATH} files=3"),
            (3, "level=info msg=\"ready\" listen=:" + str(container.get("ports", [{}])[0].get("containerPort", 8080))),
        ]
        logs[(pod["metadata"]["namespace"], name, container["name"])] = "".join(
            f"{_ts(t0 + dt.timedelta(seconds=s))} {text}\n" for s, text in lines
        )
    return logs


def _service(svc: dict, index: int) -> dict:
    spec = svc["spec"]
    if spec.get("clusterIP") != "None":
        spec["clusterIP"] = f"10.96.{40 + index}.{10 + index * 7}"
    spec["clusterIPs"] = [spec["clusterIP"]]
    spec.setdefault("type", "ClusterIP")
    spec.update({"sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                 "internalTrafficPolicy": "Cluster"})
    for port in spec.get("ports", []):
        port.setdefault("protocol", "TCP")
    svc["status"] = {"loadBalancer": {}}
    return svc


def _pvc(sts: dict, template: dict, pod_name: str, created: dt.datetime, storage_class: dict) -> dict:
    name = f"{template['metadata']['name']}-{pod_name}"
    spec = copy.deepcopy(template["spec"])
    spec.update({"volumeName": f"pvc-{_uid('PV', name)}", "volumeMode": "Filesystem"})
    return {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name, "namespace": sts["metadata"]["namespace"], "uid": _uid("PVC", name),
            "creationTimestamp": _ts(created), "labels": dict(sts["spec"]["selector"]["matchLabels"]),
            "annotations": {"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
                            "volume.beta.kubernetes.io/storage-provisioner": storage_class["provisioner"],
                            "volume.kubernetes.io/storage-provisioner": storage_class["provisioner"]},
            "finalizers": ["kubernetes.io/pvc-protection"],
        },
        "spec": spec,
        "status": {"phase": "Bound", "accessModes": spec.get("accessModes", []),
                   "capacity": {"storage": spec["resources"]["requests"]["storage"]}},
    }


def ebs_volume_source(volume_name: str, zone: str) -> dict:
    """The ``csi`` source and node affinity of an EBS volume in ``zone`` (as the EBS CSI driver provisions it)."""
    return {
        "csi": {"driver": "ebs.csi.aws.com", "fsType": "ext4",
                "volumeHandle": "vol-0" + hashlib.sha256(volume_name.encode()).hexdigest()[:16],
                "volumeAttributes": {"storage.kubernetes.io/csiProvisionerIdentity": "1718000000000-8081-ebs.csi.aws.com"}},
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]}]}]}},
    }


def _pv(pvc: dict, storage_class: dict, zone: str, created: dt.datetime) -> dict:
    """The PersistentVolume the class's provisioner created and bound to ``pvc``."""
    name, provisioner = pvc["spec"]["volumeName"], storage_class["provisioner"]
    parameters = storage_class.get("parameters") or {}
    spec = {
        "capacity": {"storage": pvc["spec"]["resources"]["requests"]["storage"]},
        "accessModes": list(pvc["spec"].get("accessModes", [])),
        "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy", "Delete"),
        "storageClassName": storage_class["metadata"]["name"],
        "volumeMode": "Filesystem",
        "claimRef": {"kind": "PersistentVolumeClaim", "namespace": pvc["metadata"]["namespace"],
                     "name": pvc["metadata"]["name"], "uid": pvc["metadata"]["uid"], "apiVersion": "v1"},
    }
    if provisioner == "efs.csi.aws.com":  # an access point on the regional file system: no zone affinity
        access_point = "fsap-0" + hashlib.sha256(name.encode()).hexdigest()[:16]
        spec["csi"] = {"driver": provisioner, "volumeHandle": f"{parameters['fileSystemId']}::{access_point}",
                       "volumeAttributes": {"storage.kubernetes.io/csiProvisionerIdentity": "1718000000000-8081-efs.csi.aws.com"}}
    else:
        spec.update(ebs_volume_source(name, zone))
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name, "uid": _uid("PV", name), "creationTimestamp": _ts(created),
                     "annotations": {"pv.kubernetes.io/provisioned-by": provisioner,
                                     "volume.kubernetes.io/provisioner-deletion-secret-name": "",
                                     "volume.kubernetes.io/provisioner-deletion-secret-namespace": ""},
                     "finalizers": ["kubernetes.io/pv-protection"]},
        "spec": spec,
        "status": {"phase": "Bound", "lastPhaseTransitionTime": _ts(created)},
    }


def _scaled_nodes(base: list[dict], count: int) -> list[dict]:
    """The three zone nodes plus copies (round-robin over their zones) up to ``count`` nodes."""
    nodes = list(base)
    for i in range(len(base), count):
        template = base[i % len(base)]
        zone = template["metadata"]["labels"]["topology.kubernetes.io/zone"]
        name = f"dr-node-{zone[-1]}{i:03d}"
        node = copy.deepcopy(template)
        meta = node["metadata"]
        meta["name"] = name
        meta["uid"] = _uid("Node", name)
        meta["labels"]["kubernetes.io/hostname"] = name
        node["spec"]["podCIDR"] = f"10.42.{i}.0/24"
        node["spec"]["podCIDRs"] = [node["spec"]["podCIDR"]]
        node["spec"]["providerID"] = f"aws:///{zone}/i-0dr{hashlib.sha256(name.encode()).hexdigest()[:14]}"
        node["status"]["addresses"] = [
            {"type": "InternalIP", "address": f"10.0.{1 + i % len(base)}.{10 + i // len(base)}"},
            {"type": "Hostname", "address": name},
        ]
        info = node["status"]["nodeInfo"]
        info["bootID"], info["systemUUID"] = _uid("boot", name), _uid("system", name)
        info["machineID"] = hashlib.md5(name.encode()).hexdigest()  # noqa: S324 - an identifier, not security
        nodes.append(node)
    return nodes


def _fleet(rendered: list[dict], replicas: int) -> dict:
    """A Deployment of agent-runtime workers (not in Git), from the rendered kosmos-api's shape."""
    api = next(o for o in rendered if o["kind"] == "Deployment")
    labels = {"app.kubernetes.io/name": FLEET_NAME, "app.kubernetes.io/part-of": "kosmos",
              "app.kubernetes.io/managed-by": FLEET_MANAGED_BY}
    fleet = copy.deepcopy(api)
    fleet["metadata"] = {"name": FLEET_NAME, "namespace": api["metadata"]["namespace"], "labels": dict(labels)}
    fleet["spec"]["replicas"] = replicas
    fleet["spec"]["selector"] = {"matchLabels": {"app.kubernetes.io/name": FLEET_NAME}}
    template = fleet["spec"]["template"]
    template["metadata"]["labels"] = {k: v for k, v in labels.items() if k != "app.kubernetes.io/managed-by"}
    for constraint in template["spec"].get("topologySpreadConstraints") or []:
        constraint["labelSelector"] = {"matchLabels": {"app.kubernetes.io/name": FLEET_NAME}}
    container = template["spec"]["containers"][0]
    container.update(name="worker", image=container["image"].replace("/api:", "/agent-runtime:").replace(":3.8.2", ":2.4.1"))
    container["resources"] = {"limits": {"cpu": "250m", "memory": "256Mi"}, "requests": {"cpu": "50m", "memory": "64Mi"}}
    return fleet


def _placement(name: str, replicas: int, node_names: list[str]) -> list[str]:
    """Which node each replica runs on: the fixed placement, or round-robin over every node (fleet)."""
    if name in PLACEMENT:
        return PLACEMENT[name][:replicas]
    return [node_names[i % len(node_names)] for i in range(replicas)]


def seed_nodes(layout: "Layout | None" = None) -> list[dict]:
    """The DR cluster's three zone nodes, in the layout's DR region (labels, zones, provider IDs)."""
    text = (SEED_DIR / "nodes.yaml").read_text()
    if layout is not None:
        text = text.replace(SEED_REGION, layout.secondary_region)
    return [doc for doc in yaml_docs.load_all(text) if doc]


def cluster_objects(layout: "Layout | None" = None) -> list[dict]:
    """``cluster.yaml``'s objects (namespaces, service accounts, secrets, storage classes), the KOSMOS
    namespace and what lives in it renamed to the layout's namespace."""
    objects = load_yaml(SEED_DIR / "cluster.yaml")
    namespace = layout.namespace if layout is not None else NAMESPACE
    for obj in objects:
        meta = obj["metadata"]
        if obj["kind"] == "Namespace" and meta["name"] == NAMESPACE:
            meta["name"] = namespace
            meta["labels"]["kubernetes.io/metadata.name"] = namespace
        elif meta.get("namespace") == NAMESPACE:
            meta["namespace"] = namespace
    return objects


def _controller_status(obj: dict, replicas: int, restored: dt.datetime, region: str) -> dict | None:
    """What the Ingress, HorizontalPodAutoscaler and PodDisruptionBudget controllers report."""
    kind, name, namespace = obj["kind"], obj["metadata"]["name"], obj["metadata"]["namespace"]
    ts = _ts(restored + dt.timedelta(seconds=40))
    if kind == "Ingress":
        host = f"k8s-{namespace[:8]}-{name[:8]}-{_safe_hash(namespace + name, 10)}-1802466021.{region}.elb.amazonaws.com"
        return {"loadBalancer": {"ingress": [{"hostname": host}]}}
    if kind == "HorizontalPodAutoscaler":
        return {"currentReplicas": replicas, "desiredReplicas": replicas, "lastScaleTime": ts,
                "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {
                    "averageUtilization": 12, "averageValue": "24m"}}}],
                "conditions": [
                    {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale", "lastTransitionTime": ts,
                     "message": "recommended size matches current size"},
                    {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound", "lastTransitionTime": ts,
                     "message": "the HPA was able to successfully calculate a replica count from cpu resource "
                                "utilization (percentage of request)"},
                    {"type": "ScalingLimited", "status": "True", "reason": "TooFewReplicas", "lastTransitionTime": ts,
                     "message": "the desired replica count is less than the minimum replica count"}]}
    if kind == "PodDisruptionBudget":
        minimum = (obj.get("spec") or {}).get("minAvailable", 0)
        return {"observedGeneration": 1, "currentHealthy": replicas, "desiredHealthy": minimum,
                "expectedPods": replicas, "disruptionsAllowed": max(replicas - minimum, 0),
                "conditions": [{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods",
                                "message": "", "observedGeneration": 1, "lastTransitionTime": ts}]}
    return None


def build_seed(now: dt.datetime | None = None, scale: Scale | None = None,
               layout: "Layout | None" = None) -> ClusterSeed:
    """Everything the DR cluster holds right after the recovery, timed relative to ``now``, under ``layout``'s
    names (default: the default layout)."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    scale = scale or current_scale()
    region = layout.secondary_region if layout is not None else SEED_REGION
    cluster_created, restored = now - dt.timedelta(days=21), now - dt.timedelta(hours=2, minutes=14)
    seed = ClusterSeed()
    nodes = {n["metadata"]["name"]: _with_meta(n, cluster_created)
             for n in _scaled_nodes(seed_nodes(layout), scale.nodes)}
    for node in nodes.values():
        for cond in node["status"]["conditions"]:
            cond["lastHeartbeatTime"] = _ts(now - dt.timedelta(seconds=25))
            cond["lastTransitionTime"] = _ts(cluster_created + dt.timedelta(minutes=1))
        seed.add(node)
    for obj in cluster_objects(layout):
        seed.add(_with_meta(obj, cluster_created if obj["kind"] != "Secret" else restored))
    classes = {sc["metadata"]["name"]: sc for sc in seed.of_kind("StorageClass")}
    default_class = next(name for name, sc in classes.items()
                         if sc["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true")
    service_index = 0
    workloads = [(obj, True) for obj in rendered_workloads(layout)]
    base_pods = sum(o["spec"].get("replicas", 1) for o, _ in workloads if o["kind"] in ("Deployment", "StatefulSet"))
    if scale.pods > base_pods:
        workloads.append((_fleet([o for o, _ in workloads], scale.pods - base_pods), False))
    used_names: set[str] = set()
    per_node: dict[str, int] = {}
    for rendered, from_git in workloads:
        obj = _with_meta(rendered, restored, applied=from_git)
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind == "Service":
            obj = _service(obj, service_index)
            service_index += 1
        elif kind == "Deployment":
            revision = template_hash(obj["spec"]["template"])
            obj["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "1"
            replicas = obj["spec"].get("replicas", 1)
            rs = {
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"{name}-{revision}", "namespace": obj["metadata"]["namespace"],
                             "uid": _uid("ReplicaSet", name, revision), "creationTimestamp": _ts(restored),
                             "generation": 1, "labels": {**obj["spec"]["template"]["metadata"]["labels"], "pod-template-hash": revision},
                             "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas),
                                             "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                                             "deployment.kubernetes.io/revision": "1"},
                             "ownerReferences": [_owner(obj, "Deployment", "apps/v1")]},
                "spec": {"replicas": replicas,
                         "selector": {"matchLabels": {**obj["spec"]["selector"]["matchLabels"], "pod-template-hash": revision}},
                         "template": copy.deepcopy(obj["spec"]["template"])},
                "status": {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas,
                           "availableReplicas": replicas, "observedGeneration": 1},
            }
            rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = revision
            seed.add(rs)
            for i, node_name in enumerate(_placement(name, replicas, list(nodes))):
                suffix, salt = _safe_hash(f'{name}/{i}', 5), 0
                while f"{name}-{revision}-{suffix}" in used_names:  # thousands of replicas: no clashes
                    salt += 1
                    suffix = _safe_hash(f'{name}/{i}/{salt}', 5)
                pod_name = f"{name}-{revision}-{suffix}"
                used_names.add(pod_name)
                slot = i if name in PLACEMENT else per_node.get(node_name, 0)
                per_node[node_name] = per_node.get(node_name, 0) + 1
                pod = _pod(rs, pod_name, nodes[node_name], slot, restored + dt.timedelta(seconds=5),
                           {"pod-template-hash": revision}, _owner(rs, "ReplicaSet", "apps/v1"))
                seed.add(pod)
            ts = _ts(restored + dt.timedelta(seconds=20))
            obj["status"] = {
                "observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas,
                "availableReplicas": replicas,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                     "message": "Deployment has minimum availability.", "lastUpdateTime": ts, "lastTransitionTime": ts},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                     "message": f'ReplicaSet "{rs["metadata"]["name"]}" has successfully progressed.',
                     "lastUpdateTime": ts, "lastTransitionTime": ts},
                ],
            }
        elif kind == "StatefulSet":
            revision = statefulset_revision(obj)
            seed.add(controller_revision(obj, 1, restored))
            replicas = obj["spec"].get("replicas", 1)
            for i in range(replicas):
                pod_name = f"{name}-{i}"
                pod = _pod(obj, pod_name, nodes[PLACEMENT[name][i % len(PLACEMENT[name])]], i,
                           restored + dt.timedelta(seconds=5 + i),
                           {"controller-revision-hash": revision, "statefulset.kubernetes.io/pod-name": pod_name,
                            "apps.kubernetes.io/pod-index": str(i)},
                           _owner(obj, "StatefulSet", "apps/v1"))
                seed.add(pod)
                seed.agent_pods[(obj["metadata"]["namespace"], pod_name)] = name
                for template in obj["spec"].get("volumeClaimTemplates") or []:
                    storage_class = classes[template["spec"].get("storageClassName") or default_class]
                    pvc = _pvc(obj, template, pod_name, restored, storage_class)
                    node = nodes[pod["spec"]["nodeName"]]
                    if storage_class.get("volumeBindingMode") == "WaitForFirstConsumer":
                        pvc["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] = node["metadata"]["name"]
                    seed.add(pvc)
                    seed.add(_pv(pvc, storage_class, node["metadata"]["labels"]["topology.kubernetes.io/zone"], restored))
            obj["status"] = {
                "observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas, "currentReplicas": replicas,
                "updatedReplicas": replicas, "availableReplicas": replicas, "currentRevision": revision,
                "updateRevision": revision, "collisionCount": 0,
            }
        elif kind in ("Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
            target = {o["metadata"]["name"]: o for o, _ in workloads if o["kind"] == "Deployment"}.get(name)
            status = _controller_status(obj, (target or {}).get("spec", {}).get("replicas", 1), restored, region)
            if status is not None:
                obj["status"] = status
        seed.add(obj)
    for pod in seed.of_kind("Pod"):
        created = dt.datetime.strptime(pod["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
        for event in _events(pod, created):
            seed.add(event)
        seed.logs.update(_pod_logs(pod, created))
    return seed


def install_agent_state(root: Path, agent: str) -> None:
    """Copy an agent's shipped state files into ``<pod root>/var/lib/agent/state``."""
    target = root / STATE_PATH
    target.mkdir(parents=True, exist_ok=True)
    source = AGENT_STATE_DIR / agent
    if source.is_dir():
        for path in sorted(source.iterdir()):
            (target / path.name).write_bytes(path.read_bytes())


__all__ = ["ClusterSeed", "build_seed", "cluster_objects", "controller_revision", "ebs_volume_source",
           "install_agent_state", "rendered_workloads", "seed_nodes", "statefulset_revision", "template_hash"]
