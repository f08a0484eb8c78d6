"""The resource types the DR cluster serves, and the discovery documents that describe them."""

from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class ResourceType:
    """One REST resource (``pods``, ``deployments``...) of one group version."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    has_status: bool = False
    verbs: tuple[str, ...] = ()  # the REST verbs served (default: all of ALL_VERBS)

    @property
    def creates_only(self) -> bool:
        """A review (access reviews, ``SelfSubjectReview``): created and answered, never stored."""
        return self.verbs == ("create",)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def collection_path(self, namespace: str | None = None) -> str:
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{prefix}/namespaces/{namespace}/{self.plural}"
        return f"{prefix}/{self.plural}"


RBAC_GROUP = "rbac.authorization.k8s.io"

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "Namespace", "namespaces", "namespace", False, ("ns",), has_status=True),
    ResourceType("", "v1", "Node", "nodes", "node", False, ("no",), has_status=True),
    ResourceType("", "v1", "Pod", "pods", "pod", True, ("po",), ("all",), has_status=True),
    ResourceType("", "v1", "Service", "services", "service", True, ("svc",), ("all",), has_status=True),
    ResourceType("", "v1", "ConfigMap", "configmaps", "configmap", True, ("cm",)),
    ResourceType("", "v1", "Secret", "secrets", "secret", True),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", True, ("sa",)),
    ResourceType("", "v1", "Event", "events", "event", True, ("ev",)),
    ResourceType(
        "", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", True,
        ("pvc",), has_status=True,
    ),
    ResourceType("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", False, ("pv",), has_status=True),
    ResourceType("apps", "v1", "Deployment", "deployments", "deployment", True, ("deploy",), ("all",), True),
    ResourceType("apps", "v1", "StatefulSet", "statefulsets", "statefulset", True, ("sts",), ("all",), True),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", "replicaset", True, ("rs",), ("all",), True),
    ResourceType("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", True),
    ResourceType("batch", "v1", "CronJob", "cronjobs", "cronjob", True, ("cj",), ("all",), True),
    ResourceType("storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", False, ("sc",)),
    ResourceType(RBAC_GROUP, "v1", "Role", "roles", "role", True),
    ResourceType(RBAC_GROUP, "v1", "RoleBinding", "rolebindings", "rolebinding", True),
    ResourceType(RBAC_GROUP, "v1", "ClusterRole", "clusterroles", "clusterrole", False),
    ResourceType(RBAC_GROUP, "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", False),
    ResourceType("batch", "v1", "Job", "jobs", "job", True, (), ("all",), True),
    ResourceType("apps", "v1", "DaemonSet", "daemonsets", "daemonset", True, ("ds",), ("all",), True),
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", "lease", True),
    ResourceType("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", True, ("ing",), (), True),
    ResourceType("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
                 "horizontalpodautoscaler", True, ("hpa",), ("all",), True),
    ResourceType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", True,
                 ("pdb",), (), True),
    ResourceType("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", "selfsubjectaccessreview", False,
                 verbs=("create",)),
    ResourceType("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", "selfsubjectrulesreview", False,
                 verbs=("create",)),
    ResourceType("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", "subjectaccessreview", False,
                 verbs=("create",)),
    ResourceType("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", "localsubjectaccessreview", True,
                 verbs=("create",)),
    ResourceType("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", "selfsubjectreview", False,
                 verbs=("create",)),
)

METRICS_GROUP = "metrics.k8s.io"
METRICS_VERSION = "v1beta1"


def find_type(group: str, version: str, plural: str) -> ResourceType | None:
    for rtype in RESOURCE_TYPES:
        if (rtype.group, rtype.version, rtype.plural) == (group, version, plural):
            return rtype
    return None


def type_of_kind(api_version: str, kind: str) -> ResourceType | None:
    for rtype in RESOURCE_TYPES:
        if rtype.api_version == api_version and rtype.kind == kind:
            return rtype
    return None


def group_versions() -> list[tuple[str, str]]:
    """(group, version) pairs of the named groups, in discovery order."""
    seen: list[tuple[str, str]] = []
    for rtype in RESOURCE_TYPES:
        if rtype.group and (rtype.group, rtype.version) not in seen:
            seen.append((rtype.group, rtype.version))
    return seen


def _resource_entries(rtype: ResourceType) -> list[dict]:
    main = {
        "name": rtype.plural,
        "singularName": rtype.singular,
        "namespaced": rtype.namespaced,
        "kind": rtype.kind,
        "verbs": list(rtype.verbs) or ALL_VERBS,
    }
    if rtype.short_names:
        main["shortNames"] = list(rtype.short_names)
    if rtype.categories:
        main["categories"] = list(rtype.categories)
    entries = [main]
    sub = {"singularName": "", "namespaced": rtype.namespaced, "kind": rtype.kind}
    if rtype.has_status:
        entries.append({**sub, "name": f"{rtype.plural}/status", "verbs": ["get", "patch", "update"]})
    if rtype.kind == "Pod":
        entries.append({**sub, "name": "pods/log", "verbs": ["get"]})
        entries.append({**sub, "name": "pods/exec", "kind": "PodExecOptions", "verbs": ["create", "get"]})
        entries.append({**sub, "name": "pods/eviction", "kind": "Eviction", "group": "policy", "version": "v1",
                        "verbs": ["create"]})
    if rtype.kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        entries.append({
            **sub, "name": f"{rtype.plural}/scale", "kind": "Scale", "group": "autoscaling",
            "version": "v1", "verbs": ["get", "patch", "update"],
        })
    return entries


def api_versions(server_address: str) -> dict:
    """``GET /api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def resource_list(group: str, version: str) -> dict | None:
    """``GET /api/v1`` or ``GET /apis/<group>/<version>``."""
    if group == METRICS_GROUP and version == METRICS_VERSION:
        resources = [
            {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
            {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]},
        ]
    else:
        resources = [
            entry
            for rtype in RESOURCE_TYPES
            if (rtype.group, rtype.version) == (group, version)
            for entry in _resource_entries(rtype)
        ]
        if not resources:
            return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _group(name: str, version: str) -> dict:
    gv = {"groupVersion": f"{name}/{version}", "version": version}
    return {"name": name, "versions": [gv], "preferredVersion": gv}


def api_group_list() -> dict:
    """``GET /apis``."""
    groups = [_group(g, v) for g, v in group_versions()]
    groups.append(_group(METRICS_GROUP, METRICS_VERSION))
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(name: str) -> dict | None:
    """``GET /apis/<group>``."""
    for g, v in [*group_versions(), (METRICS_GROUP, METRICS_VERSION)]:
        if g == name:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group(g, v)}
    return None
