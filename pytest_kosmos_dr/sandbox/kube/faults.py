"""Named faults of the DR cluster: each one changes stored objects the way a real incident would
(kubelet gone, crash loop, a zone lost, drift, runaway usage, a denying admission policy), and
its revert puts back exactly the objects it saved."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from ..component import Fault
from .resources import find_type
from .seed import NAMESPACE

if TYPE_CHECKING:
    from .component import DRClusterComponent

CORE = ("", "v1")


class _Snapshots:
    """Objects saved before a fault changed them, restored on revert."""

    def __init__(self, component: "DRClusterComponent") -> None:
        self.component = component
        self.saved: dict[str, list[tuple]] = {}

    def change(self, fault: str, group_version: tuple[str, str], plural: str, namespace: str | None,
               name: str, change) -> None:
        rtype = find_type(*group_version, plural)
        store = self.component.store
        original = store.get(rtype, namespace, name)
        self.saved.setdefault(fault, []).append((rtype, namespace, name, original))
        store.mutate(rtype, namespace, name, change)

    def restore(self, fault: str) -> None:
        store = self.component.store
        for rtype, namespace, name, original in reversed(self.saved.pop(fault, [])):
            def put_back(obj, original=original):
                version = obj["metadata"].get("resourceVersion")
                obj.clear()
                obj.update(copy.deepcopy(original))
                obj["metadata"]["resourceVersion"] = version
            store.mutate(rtype, namespace, name, put_back)


def cluster_faults(component: "DRClusterComponent") -> list[Fault]:
    snaps = _Snapshots(component)

    applied: set[str] = set()

    def fault(name, criteria, description, apply, revert=None):
        async def do_apply():
            if name not in applied:  # applying twice must not overwrite the saved originals
                apply()
                applied.add(name)

        async def do_revert():
            if revert is not None:
                revert()
            snaps.restore(name)
            applied.discard(name)
        return Fault(name, criteria, description, do_apply, do_revert)

    def node_not_ready():
        def change(node):
            for cond in node["status"]["conditions"]:
                if cond["type"] == "Ready":
                    cond.update(status="Unknown", reason="NodeStatusUnknown",
                                message="Kubelet stopped posting node status.")
        snaps.change("node-not-ready", CORE, "nodes", None, "dr-node-b", change)

    def crashloop():
        saved = component.store.get(find_type(*CORE, "pods"), NAMESPACE, "zeus-orchestrator-0")
        snaps.saved.setdefault("pod-crashloop", []).append((find_type(*CORE, "pods"), NAMESPACE, "zeus-orchestrator-0", saved))
        component.crashloop_pod("zeus-orchestrator-0", restarts=7)

    def container_not_ready():
        def change(pod):
            for status in pod["status"]["containerStatuses"]:
                status["ready"] = False
            for cond in pod["status"]["conditions"]:
                if cond["type"] in ("Ready", "ContainersReady"):
                    cond.update(status="False", reason="ContainersNotReady")
        snaps.change("container-not-ready", CORE, "pods", NAMESPACE, "athena-analyst-0", change)

    def single_zone():
        pods = component.store.list(find_type(*CORE, "pods"), NAMESPACE)
        api_pods = [p["metadata"]["name"] for p in pods if p["metadata"]["name"].startswith("kosmos-api-")]
        for name in api_pods:
            def change(pod):
                pod["spec"]["nodeName"] = "dr-node-a"
                pod["status"]["hostIP"] = "10.20.1.10"
            snaps.change("single-zone", CORE, "pods", NAMESPACE, name, change)

    def config_drift():
        def change(config_map):
            config_map.setdefault("data", {})["KOSMOS_LOG_LEVEL"] = "debug-hotfix"
        snaps.change("config-drift", CORE, "configmaps", NAMESPACE, "kosmos-config", change)

    def metrics_over_limit():
        def change(pod):
            pod["metadata"].setdefault("annotations", {}).update({
                "sandbox.kosmos.dr/metrics-cpu": "3900m", "sandbox.kosmos.dr/metrics-memory": "7Gi"})
        snaps.change("metrics-over-limit", CORE, "pods", NAMESPACE, "zeus-orchestrator-0", change)

    def apply_denied():
        component.api.denied_kinds.add("StatefulSet")

    def allow_apply():
        component.api.denied_kinds.discard("StatefulSet")

    offline = Fault("kube-api-down", ("REC-DR-NODES", "REC-DR-PODS", "VAL-POD-METRICS", "SCN-MULTI-AZ",
                                       "BAK-CONFIG-GITOPS", "REC-CONFIG-APPLY", "SCN-REGIONAL-OUTAGE"),
                    "the DR cluster's API server stops answering (partial outage: those checks are broken)",
                    component.go_offline, component.come_back)
    return [
        offline,
        fault("node-not-ready", ("REC-DR-NODES", "SCN-REGIONAL-OUTAGE"),
              "node dr-node-b stops posting status (Ready=Unknown)", node_not_ready),
        fault("pod-crashloop", ("REC-DR-PODS", "SCN-REGIONAL-OUTAGE"),
              "zeus-orchestrator-0 is in CrashLoopBackOff with 7 restarts", crashloop),
        fault("container-not-ready", ("REC-DR-PODS", "SCN-REGIONAL-OUTAGE"),
              "athena-analyst-0 runs but its container is not Ready", container_not_ready),
        fault("single-zone", ("SCN-MULTI-AZ",), "both kosmos-api replicas run in zone us-west-2a", single_zone),
        fault("config-drift", ("BAK-CONFIG-GITOPS",),
              "ConfigMap kosmos-config edited by hand (KOSMOS_LOG_LEVEL differs from Git)", config_drift),
        fault("metrics-over-limit", ("VAL-POD-METRICS",),
              "zeus-orchestrator-0 uses 3900m CPU and 7Gi memory, over its limits", metrics_over_limit),
        fault("apply-denied", ("REC-CONFIG-APPLY",),
              "a DR cluster policy forbids getting or changing single StatefulSets (kubectl apply needs both)", apply_denied, allow_apply),
    ]
