"""Degenerate worlds for the DR cluster checks: nothing listed, objects without status or fields, None."""

from pytest_kosmos_dr.checks import cluster

BARE_NODE = {"metadata": {"name": "dr-node-a"}}
BARE_POD = {"metadata": {"name": "zeus-orchestrator-0"}}
NO_LIMITS_POD = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "agent"}]},
                 "status": {"phase": "Running", "containerStatuses": [{"name": "agent", "ready": True}]}}
STATEFULSET = {"kind": "StatefulSet", "metadata": {"name": "zeus-orchestrator"}, "spec": {"replicas": 1}}

CASES = {
    "cluster.nodes_ready": [
        ("no nodes", lambda: cluster.nodes_ready([], "dr-cluster")),
        ("node without status", lambda: cluster.nodes_ready([BARE_NODE], "dr-cluster")),
        ("Ready=True without heartbeat", lambda: cluster.nodes_ready(
            [{"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}], "dr-cluster")),
        ("Ready=None", lambda: cluster.nodes_ready(
            [{"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": None}]}}], "dr-cluster")),
        ("node without region label", lambda: cluster.nodes_ready([BARE_NODE], "dr-cluster", region="us-west-2")),
    ],
    "cluster.pods_running": [
        ("no pods", lambda: cluster.pods_running([], "kosmos", "dr-cluster", max_restarts=3)),
        ("pod without status", lambda: cluster.pods_running([BARE_POD], "kosmos", "dr-cluster", max_restarts=3)),
        ("no workloads", lambda: cluster.pods_running([NO_LIMITS_POD], "kosmos", "dr-cluster", max_restarts=3, workloads=[])),
        ("containers ready, no pod conditions", lambda: cluster.pods_running([NO_LIMITS_POD], "kosmos", "dr-cluster", max_restarts=3)),
        ("a workload without pods", lambda: cluster.pods_running([NO_LIMITS_POD], "kosmos", "dr-cluster", max_restarts=3,
                                                                 workloads=[STATEFULSET])),
    ],
    "cluster.pod_metrics_within_limits": [
        ("no pods, no metrics", lambda: cluster.pod_metrics_within_limits([], [], "kosmos", "dr-cluster")),
        ("pod without metrics", lambda: cluster.pod_metrics_within_limits([NO_LIMITS_POD], [], "kosmos", "dr-cluster")),
        ("containers without limits, zero usage", lambda: cluster.pod_metrics_within_limits(
            [NO_LIMITS_POD], [{"metadata": {"name": "p"}, "timestamp": None,
                               "containers": [{"name": "agent", "usage": {"cpu": "0", "memory": "0"}}]}],
            "kosmos", "dr-cluster")),
        ("pod without containers, empty sample", lambda: cluster.pod_metrics_within_limits(
            [BARE_POD], [{"metadata": {"name": "zeus-orchestrator-0"}}], "kosmos", "dr-cluster")),
    ],
    "cluster.multi_az": [
        ("nothing at all", lambda: cluster.multi_az([], [], [], [], [], [], True, "kosmos-prod-replica")),
        ("nodes without zones, a bare StatefulSet", lambda: cluster.multi_az(
            [BARE_NODE], [], [STATEFULSET], [], [], [], True, "kosmos-prod-replica")),
        ("database None", lambda: cluster.multi_az([BARE_NODE], [BARE_POD], [], [], [], [], None, None)),
        ("workload with zero replicas", lambda: cluster.multi_az(
            [BARE_NODE], [], [{"kind": "Deployment", "metadata": {"name": "kosmos-api"}, "spec": {"replicas": 0}}],
            [], [], [], True, "db")),
    ],
}
