"""Named faults of the DR cluster: each one changes stored objects the way a real incident would
(kubelet gone, crash loop, a zone lost, drift, runaway usage, a denying admission policy), and
its revert puts back exactly the objects it saved.

Several are "wrong worlds" (docs/wrong-worlds/cluster.md): the objects a naive check reads still
look healthy (Ready=True, Running, metrics present, replicas in two zones) while the facts behind
them say otherwise (a stale heartbeat, an old revision, a stale sample, a zonal volume)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import TYPE_CHECKING

from ..component import Fault
from . import metrics
from .resources import find_type
from .seed import ebs_volume_source

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
    """The cluster's faults, in the component's layout (its namespace, its primary and DR regions)."""
    snaps = _Snapshots(component)
    NAMESPACE = component.namespace  # noqa: N806 - the layout's KOSMOS namespace
    primary, dr = component.primary_region, component.dr_region

    applied: set[str] = set()
    logs_saved: dict[str, tuple] = {}

    def fault(name, criteria, description, apply, revert=None):
        async def do_apply():
            if name not in applied:  # applying twice must not overwrite the saved originals
                apply()
                applied.add(name)

        async def do_revert():
            snaps.restore(name)
            if revert is not None:
                revert()
            applied.discard(name)
        return Fault(name, criteria, description, do_apply, do_revert)

    def stamp(ago: dt.timedelta = dt.timedelta(0)) -> str:
        return (dt.datetime.now(dt.timezone.utc) - ago).strftime("%Y-%m-%dT%H:%M:%SZ")

    def node_not_ready():
        component.silent_kubelets.add("dr-node-b")

        def change(node):
            for cond in node["status"]["conditions"]:
                if cond["type"] == "Ready":
                    cond.update(status="Unknown", reason="NodeStatusUnknown",
                                message="Kubelet stopped posting node status.")
        snaps.change("node-not-ready", CORE, "nodes", None, "dr-node-b", change)

    def crashloop():
        saved = component.store.get(find_type(*CORE, "pods"), NAMESPACE, "zeus-orchestrator-0")
        snaps.saved.setdefault("pod-crashloop", []).append((find_type(*CORE, "pods"), NAMESPACE, "zeus-orchestrator-0", saved))
        api = component.api
        key = (NAMESPACE, "zeus-orchestrator-0", "agent")
        logs_before = (api.logs.get(key), api.previous_logs.get(key))
        component.crashloop_pod("zeus-orchestrator-0", restarts=7)
        # the crashed instance's log is what `kubectl logs --previous` shows
        api.restart_container(*key, 'level=fatal msg="state directory unreadable" dir=/var/lib/agent/state '
                                    'error="input/output error"')
        logs_saved["pod-crashloop"] = (key, logs_before)

    def crashloop_done():
        key, (current, previous) = logs_saved.pop("pod-crashloop")
        for store, value in ((component.api.logs, current), (component.api.previous_logs, previous)):
            if value is None:
                store.pop(key, None)
            else:
                store[key] = value

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

    def kubelet_back(node):
        def back():
            component.silent_kubelets.discard(node)
            component.post_node_status(min_age_s=0)
        return back

    # --- wrong worlds: REC-DR-NODES ------------------------------------------------------

    def heartbeat_stale():
        component.silent_kubelets.add("dr-node-c")

        def change(node):  # the kubelet stopped; no node controller turned Ready to Unknown
            for cond in node["status"]["conditions"]:
                cond["lastHeartbeatTime"] = stamp(dt.timedelta(minutes=17))
        snaps.change("node-heartbeat-stale", CORE, "nodes", None, "dr-node-c", change)

    def disk_pressure():
        def change(node):
            for cond in node["status"]["conditions"]:
                if cond["type"] == "DiskPressure":
                    cond.update(status="True", reason="KubeletHasDiskPressure", message="kubelet has disk pressure",
                                lastTransitionTime=stamp())
            node["spec"].setdefault("taints", []).append(
                {"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule", "timeAdded": stamp()})
        snaps.change("node-disk-pressure", CORE, "nodes", None, "dr-node-b", change)

    def context_reaches_primary():
        for node in component.store.list(find_type(*CORE, "nodes")):
            def change(obj):
                labels = obj["metadata"]["labels"]
                zone = primary + labels["topology.kubernetes.io/zone"][-1]
                labels.update({"topology.kubernetes.io/region": primary, "topology.kubernetes.io/zone": zone})
                instance = obj["spec"]["providerID"].rsplit("/", 1)[-1]
                obj["spec"]["providerID"] = f"aws:///{zone}/{instance}"
            snaps.change("dr-context-reaches-primary", CORE, "nodes", None, node["metadata"]["name"], change)

    # --- wrong worlds: REC-DR-PODS -------------------------------------------------------

    def readiness_gate_unmet():
        gate = "kosmos.dr/state-restored"

        def change(obj):
            obj["spec"]["readinessGates"] = [{"conditionType": gate}]
            for cond in obj["status"]["conditions"]:
                if cond["type"] == "Ready":
                    cond.update(status="False", reason="ReadinessGatesNotReady", lastTransitionTime=stamp(),
                                message=f'the status of pod readiness gate "{gate}" is not "True", but False')
            obj["status"]["conditions"].append({"type": gate, "status": "False", "reason": "StateNotRestored",
                                                "lastProbeTime": None, "lastTransitionTime": stamp()})
        snaps.change("pod-readiness-gate-unmet", CORE, "pods", NAMESPACE, "athena-analyst-0", change)

    def old_revision():
        # the StatefulSet controller is stuck on zeus-orchestrator (it neither replaces the pod nor refreshes
        # the status): held, or the sandbox's controller would roll the pod and tell the truth
        component.controllers.hold("StatefulSet", NAMESPACE, "zeus-orchestrator")

        def change(obj):  # the previous template differed in a pod annotation (a rolled config checksum)
            obj["metadata"]["labels"]["controller-revision-hash"] = "zeus-orchestrator-5d8b7c9f4x"
        snaps.change("pod-old-revision", CORE, "pods", NAMESPACE, "zeus-orchestrator-0", change)

    def old_revision_done():
        component.controllers.release("StatefulSet", NAMESPACE, "zeus-orchestrator")

    def controllers_down():
        component.controllers.pause()

    def controllers_up():
        component.controllers.resume()

    gone: dict[str, dict] = {}

    def node_deleted():  # the instance was terminated; the node object removed; its pods not collected
        node_type = find_type(*CORE, "nodes")
        gone["dr-node-c"] = component.store.get(node_type, None, "dr-node-c")
        component.store.delete(node_type, None, "dr-node-c")

    def node_back():
        original = gone.pop("dr-node-c", None)
        if original is not None:
            component.store.create(find_type(*CORE, "nodes"), original)
            component.post_node_status(min_age_s=0)

    # --- wrong worlds: VAL-POD-METRICS ---------------------------------------------------

    def without_limits():
        def change(obj):
            for container in obj["spec"]["containers"]:
                container.get("resources", {}).pop("limits", None)
        snaps.change("pod-without-limits", CORE, "pods", NAMESPACE, "hermes-courier-0", change)

    def metrics_stale():
        def change(obj):
            obj["metadata"].setdefault("annotations", {})[metrics.TIMESTAMP_ANNOTATION] = stamp(dt.timedelta(minutes=20))
        snaps.change("metrics-stale", CORE, "pods", NAMESPACE, "athena-analyst-0", change)

    def metrics_of_previous_container():
        def change(obj):
            obj["metadata"].setdefault("annotations", {})[metrics.TIMESTAMP_ANNOTATION] = stamp(dt.timedelta(seconds=100))
            for status in obj["status"]["containerStatuses"]:
                previous = status["state"]["running"]["startedAt"]
                status.update(restartCount=1, state={"running": {"startedAt": stamp(dt.timedelta(seconds=40))}},
                              lastState={"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": previous,
                                                        "finishedAt": stamp(dt.timedelta(seconds=41)),
                                                        "containerID": status.get("containerID", "")}})
        snaps.change("metrics-from-previous-container", CORE, "pods", NAMESPACE, "zeus-orchestrator-0", change)

    # --- wrong worlds: SCN-MULTI-AZ ------------------------------------------------------

    def volume_zonal():
        claim = component.store.get(find_type(*CORE, "persistentvolumeclaims"), NAMESPACE, "state-zeus-orchestrator-0")
        volume = claim["spec"]["volumeName"]
        ebs = "ebs.csi.aws.com"

        def rebind(obj):  # the claim recreated for a volume restored from an EBS snapshot
            obj["spec"]["storageClassName"] = "gp3"
            obj["metadata"]["annotations"].update({"volume.kubernetes.io/storage-provisioner": ebs,
                                                   "volume.beta.kubernetes.io/storage-provisioner": ebs})

        def restored_in_zone(obj):
            obj["spec"].pop("csi", None)
            obj["spec"].update(ebs_volume_source(volume, f"{dr}a"), storageClassName="gp3")
            obj["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] = ebs
        snaps.change("agent-state-volume-zonal", CORE, "persistentvolumeclaims", NAMESPACE,
                     "state-zeus-orchestrator-0", rebind)
        snaps.change("agent-state-volume-zonal", CORE, "persistentvolumes", None, volume, restored_in_zone)

    def zone_mislabelled():
        def change(node):  # the instance runs in zone a; its zone label says zone b
            node["spec"]["providerID"] = f"aws:///{dr}a/" + node["spec"]["providerID"].rsplit("/", 1)[-1]
        snaps.change("node-zone-mislabelled", CORE, "nodes", None, "dr-node-b", change)

    def pinned_to_zone():
        def change(obj):  # injected at admission by a zone-pinning policy
            obj["spec"]["nodeSelector"] = {"topology.kubernetes.io/zone": f"{dr}c"}
        snaps.change("agent-pinned-to-one-zone", CORE, "pods", NAMESPACE, "hermes-courier-0", change)

    offline = Fault("kube-api-down", ("REC-DR-NODES", "REC-DR-PODS", "VAL-POD-METRICS", "SCN-MULTI-AZ",
                                       "BAK-CONFIG-GITOPS", "REC-CONFIG-APPLY", "SCN-REGIONAL-OUTAGE"),
                    "the DR cluster's API server stops answering (partial outage: those checks are broken)",
                    component.go_offline, component.come_back)
    return [
        offline,
        fault("controllers-paused", (),
              "the DR cluster's controller manager is down: nothing reconciles (a deleted pod stays gone, a scale "
              "creates no pod, workload statuses go stale: observedGeneration falls behind, and its leader-election "
              "Lease in kube-system is no longer renewed); reverting restarts it (a new Lease holder) and the "
              "cluster converges", controllers_down, controllers_up),
        fault("node-not-ready", ("REC-DR-NODES", "SCN-REGIONAL-OUTAGE"),
              "node dr-node-b stops posting status (Ready=Unknown)", node_not_ready, kubelet_back("dr-node-b")),
        fault("node-heartbeat-stale", ("REC-DR-NODES", "SCN-REGIONAL-OUTAGE"),
              "dr-node-c's kubelet stopped 17 minutes ago, but no node controller marked it: Ready=True with a stale "
              "heartbeat", heartbeat_stale, kubelet_back("dr-node-c")),
        fault("node-disk-pressure", ("REC-DR-NODES", "SCN-REGIONAL-OUTAGE"),
              "dr-node-b stays Ready=True but has DiskPressure and the node.kubernetes.io/disk-pressure taint",
              disk_pressure),
        fault("dr-context-reaches-primary", ("REC-DR-NODES",),
              f"every node the dr-cluster context reaches is Ready, but in the primary region {primary}", context_reaches_primary),
        fault("pod-readiness-gate-unmet", ("REC-DR-PODS", "SCN-REGIONAL-OUTAGE"),
              "athena-analyst-0's container is ready, but the pod is not: its readiness gate kosmos.dr/state-restored is False",
              readiness_gate_unmet),
        fault("pod-old-revision", ("REC-DR-PODS",),
              "zeus-orchestrator-0 is Running+Ready, but from the StatefulSet's previous revision: the rolling update "
              "never replaced it, and the StatefulSet's status still says all replicas are updated",
              old_revision, old_revision_done),
        fault("pod-on-deleted-node", ("REC-DR-PODS",),
              "node dr-node-c is deleted (its instance terminated), but hermes-courier-0 still shows Running+Ready on it",
              node_deleted, node_back),
        fault("pod-without-limits", ("VAL-POD-METRICS",),
              "an admission webhook stripped resources.limits from hermes-courier-0 (Git still sets them)", without_limits),
        fault("metrics-stale", ("VAL-POD-METRICS",),
              "the metrics pipeline serves athena-analyst-0's 20-minute-old sample", metrics_stale),
        fault("metrics-from-previous-container", ("VAL-POD-METRICS",),
              "zeus-orchestrator-0 restarted (OOMKilled) 40 s ago; its metrics are the previous container's last sample",
              metrics_of_previous_container),
        fault("pod-crashloop", ("REC-DR-PODS", "SCN-REGIONAL-OUTAGE"),
              "zeus-orchestrator-0 is in CrashLoopBackOff with 7 restarts", crashloop, crashloop_done),
        fault("container-not-ready", ("REC-DR-PODS", "SCN-REGIONAL-OUTAGE"),
              "athena-analyst-0 runs but its container is not Ready", container_not_ready),
        fault("single-zone", ("SCN-MULTI-AZ",), f"both kosmos-api replicas run in zone {dr}a", single_zone),
        fault("agent-state-volume-zonal", ("SCN-MULTI-AZ",),
              f"zeus-orchestrator's state volume is restored from an EBS snapshot in {dr}a (zonal) in place of EFS",
              volume_zonal),
        fault("node-zone-mislabelled", ("SCN-MULTI-AZ",),
              f"dr-node-b is labelled {dr}b, but its instance runs in {dr}a: both kosmos-api replicas share a zone",
              zone_mislabelled),
        fault("agent-pinned-to-one-zone", ("SCN-MULTI-AZ",),
              f"an admission policy pinned hermes-courier-0 to zone {dr}c (nodeSelector)", pinned_to_zone),
        fault("config-drift", ("BAK-CONFIG-GITOPS",),
              "ConfigMap kosmos-config edited by hand (KOSMOS_LOG_LEVEL differs from Git)", config_drift),
        fault("metrics-over-limit", ("VAL-POD-METRICS",),
              "zeus-orchestrator-0 uses 3900m CPU and 7Gi memory, over its limits", metrics_over_limit),
        fault("apply-denied", ("REC-CONFIG-APPLY",),
              "a DR cluster policy forbids getting or changing single StatefulSets (kubectl apply needs both)", apply_denied, allow_apply),
    ]
