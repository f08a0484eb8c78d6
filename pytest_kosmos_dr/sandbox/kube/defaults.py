"""Defaults the API server applies when an object is created (Kubernetes 1.32's ``SetDefaults_*`` functions).

Applied by :meth:`ClusterStore.create` to every object created through the API or by the sandbox's
controllers (dry runs included), so ``kubectl describe`` and ``-o yaml`` read as on a real cluster:

* Pod specs (pods and every pod template): ``dnsPolicy`` ClusterFirst, ``restartPolicy`` Always,
  ``securityContext`` {}, ``terminationGracePeriodSeconds`` 30, ``schedulerName`` default-scheduler; containers
  (init containers too): ``imagePullPolicy`` Always for ``:latest`` or an untagged image, else IfNotPresent,
  ``terminationMessagePath``/``Policy``, port ``protocol`` TCP, probes' ``timeoutSeconds`` 1, ``periodSeconds``
  10, ``successThreshold`` 1, ``failureThreshold`` 3, HTTP probes' ``path`` / and ``scheme`` HTTP, ``fieldRef``
  ``apiVersion`` v1; volumes without a source become ``emptyDir``, config map/secret/projected/downward API
  volumes get ``defaultMode`` 420. Pods: ``enableServiceLinks`` true, requests defaulted from limits.
* Deployment, StatefulSet, ReplicaSet, DaemonSet, Job, CronJob, Service, PersistentVolumeClaim, Secret and
  RBAC subjects: the workload controllers' and registries' defaults (replicas, strategies, history limits,
  ``sessionAffinity``, a cluster IP from the service range, ``volumeMode``...).

Only on create: objects the sandbox seeded are stored as the recovery left them, and an update stores what
it is sent (a real server defaults updates too, but on seeded objects that would change pod templates and
start rollouts no real cluster would).
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Callable

from .resources import ResourceType

JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
VOLUME_SOURCES_WITH_MODE = ("configMap", "secret", "projected", "downwardAPI")
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/16")


def on_create(rtype: ResourceType, obj: dict, cluster_ips: Callable[[], set[str]] | None = None) -> None:
    """Apply create-time defaults to ``obj`` in place (``cluster_ips``: the service IPs already taken)."""
    spec = obj.get("spec")
    kind = rtype.kind
    if kind == "Pod" and isinstance(spec, dict):
        pod_spec(spec)
        spec.setdefault("enableServiceLinks", True)
        for container in spec.get("containers") or []:
            resources = container.get("resources")
            if isinstance(resources, dict) and resources.get("limits"):
                requests = resources.setdefault("requests", {})
                for name, value in resources["limits"].items():
                    requests.setdefault(name, value)
    elif kind in ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "Job") and isinstance(spec, dict):
        _template(spec)
        {"Deployment": _deployment, "StatefulSet": _statefulset, "ReplicaSet": _replicaset,
         "DaemonSet": _daemonset, "Job": _job}[kind](obj)
    elif kind == "CronJob" and isinstance(spec, dict):
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        job_spec = (spec.get("jobTemplate") or {}).get("spec")
        if isinstance(job_spec, dict):
            _template(job_spec)
    elif kind == "Service" and isinstance(spec, dict):
        _service(spec, cluster_ips)
        obj.setdefault("status", {"loadBalancer": {}})
    elif kind == "PersistentVolumeClaim" and isinstance(spec, dict):
        spec.setdefault("volumeMode", "Filesystem")
    elif kind == "Secret":
        obj.setdefault("type", "Opaque")
    elif kind in ("RoleBinding", "ClusterRoleBinding"):
        for subject in obj.get("subjects") or []:
            if isinstance(subject, dict) and "apiGroup" not in subject:
                subject["apiGroup"] = "" if subject.get("kind") == "ServiceAccount" else "rbac.authorization.k8s.io"


def image_pull_policy(image: str) -> str:
    """``Always`` for ``:latest`` or an image without tag or digest, else ``IfNotPresent``."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def container(c: dict) -> None:
    if not isinstance(c, dict):
        return
    if c.get("image"):
        c.setdefault("imagePullPolicy", image_pull_policy(c["image"]))
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for name in PROBES:
        probe = c.get(name)
        if isinstance(probe, dict):
            probe.setdefault("timeoutSeconds", 1)
            probe.setdefault("periodSeconds", 10)
            probe.setdefault("successThreshold", 1)
            probe.setdefault("failureThreshold", 3)
            if isinstance(probe.get("httpGet"), dict):
                probe["httpGet"].setdefault("path", "/")
                probe["httpGet"].setdefault("scheme", "HTTP")
    for var in c.get("env") or []:
        field_ref = ((var or {}).get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")


def pod_spec(spec: dict) -> None:
    """``SetDefaults_PodSpec`` with the container, probe, port and volume defaults under it."""
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        container(c)
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict):
            continue
        if set(volume) <= {"name"}:
            volume["emptyDir"] = {}
        for source in VOLUME_SOURCES_WITH_MODE:
            if isinstance(volume.get(source), dict):
                volume[source].setdefault("defaultMode", 420)


def _template(spec: dict) -> None:
    template_spec = (spec.get("template") or {}).get("spec")
    if isinstance(template_spec, dict):
        pod_spec(template_spec)


def _deployment(obj: dict) -> None:
    spec = obj["spec"]
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def _statefulset(obj: dict) -> None:
    spec = obj["spec"]
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    for claim in spec.get("volumeClaimTemplates") or []:
        if isinstance(claim, dict):
            claim.setdefault("apiVersion", "v1")
            claim.setdefault("kind", "PersistentVolumeClaim")
            if isinstance(claim.get("spec"), dict):
                claim["spec"].setdefault("volumeMode", "Filesystem")
            claim.setdefault("status", {"phase": "Pending"})


def _replicaset(obj: dict) -> None:
    obj["spec"].setdefault("replicas", 1)


def _daemonset(obj: dict) -> None:
    spec = obj["spec"]
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)


def _job(job: dict) -> None:
    meta, spec = job.setdefault("metadata", {}), job["spec"]
    uid = meta.setdefault("uid", str(uuid.uuid4()))
    if not spec.get("manualSelector"):
        template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
        labels = template_meta.setdefault("labels", {})
        labels.update({JOB_UID_LABEL: uid, JOB_NAME_LABEL: meta.get("name", ""),
                       "controller-uid": uid, "job-name": meta.get("name", "")})
        spec["selector"] = {"matchLabels": {JOB_UID_LABEL: uid}}
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")


def _service(spec: dict, cluster_ips: Callable[[], set[str]] | None) -> None:
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    if spec["type"] in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec.setdefault("internalTrafficPolicy", "Cluster")
        if spec["type"] != "ClusterIP":
            spec.setdefault("externalTrafficPolicy", "Cluster")
        if not spec.get("clusterIP"):
            taken = cluster_ips() if cluster_ips else set()
            spec["clusterIP"] = next(str(ip) for ip in SERVICE_CIDR.hosts()
                                     if ip.packed[2] >= 100 and str(ip) not in taken)
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        if spec["clusterIP"] != "None" or spec.get("selector"):
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
