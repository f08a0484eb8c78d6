"""The DR cluster reacts as a cluster does: the sandbox's StatefulSet, Deployment/ReplicaSet and Job
controllers (and scheduler, kubelets, garbage collector), driven with the real kubectl and the official
client; and the ``controllers-paused`` fault, a controller manager that is down."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from kubernetes import client as k8s

from kube_helpers import api_client, cluster, eventually  # noqa: F401 - the module fixtures

pytestmark = pytest.mark.slow  # a cluster API server of its own, driven with kubectl and the official client

NS = "kosmos"
WAIT_S = 30  # an upper bound for a condition to come true, not a duration under test


def kubectl(cluster, *args, input: bytes | None = None) -> str:
    return cluster.kubectl(*args, input=input, timeout=WAIT_S + 30).stdout.decode()


def get(cluster, what: str) -> dict:
    return json.loads(kubectl(cluster, "get", what, "-n", NS, "-o", "json"))


def pods(cluster, selector: str) -> list[dict]:
    return json.loads(kubectl(cluster, "get", "pods", "-n", NS, "-l", selector, "-o", "json"))["items"]


def ready(pod: dict) -> bool:
    return pod["status"].get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def apply_fault(cluster, name: str, revert: bool = False) -> None:
    from pytest_kosmos_dr.sandbox.kube.faults import cluster_faults

    fault = next(f for f in cluster_faults(cluster.component) if f.name == name)
    asyncio.run_coroutine_threadsafe((fault.revert if revert else fault.apply)(), cluster.loop).result(timeout=10)


# --- StatefulSet --------------------------------------------------------------------------------


def test_a_deleted_statefulset_pod_comes_back_on_its_claim(cluster):
    old = get(cluster, "pod/zeus-orchestrator-0")
    kubectl(cluster, "delete", "pod", "zeus-orchestrator-0", "-n", NS)
    new = eventually(lambda: [p for p in pods(cluster, "app.kubernetes.io/name=zeus-orchestrator")
                              if p["metadata"]["uid"] != old["metadata"]["uid"] and ready(p)], "zeus-orchestrator-0 back")[0]
    assert new["metadata"]["name"] == "zeus-orchestrator-0"
    assert new["metadata"]["ownerReferences"] == old["metadata"]["ownerReferences"]
    assert new["metadata"]["labels"] == old["metadata"]["labels"]  # revision, pod name, pod index
    assert new["spec"]["nodeName"] == old["spec"]["nodeName"]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in new["spec"]["volumes"] if "persistentVolumeClaim" in v]
    assert claims == ["state-zeus-orchestrator-0"]
    assert {c["type"] for c in new["status"]["conditions"]} == {c["type"] for c in old["status"]["conditions"]}
    assert new["status"]["containerStatuses"][0]["state"].keys() == {"running"}
    # the agent's state survived: it is on the claim, not in the pod
    out = kubectl(cluster, "exec", "zeus-orchestrator-0", "-n", NS, "--", "ls", "/var/lib/agent/state")
    assert "memory.json" in out.split()
    events = kubectl(cluster, "get", "events", "-n", NS, "--field-selector", "involvedObject.kind=StatefulSet")
    assert "create Pod zeus-orchestrator-0 in StatefulSet zeus-orchestrator successful" in events
    assert "Started container agent" in kubectl(cluster, "describe", "pod", "zeus-orchestrator-0", "-n", NS)


def test_scale_statefulset_up_and_back(cluster):
    kubectl(cluster, "scale", "sts", "zeus-orchestrator", "-n", NS, "--replicas=2")
    out = kubectl(cluster, "rollout", "status", "statefulset/zeus-orchestrator", "-n", NS, f"--timeout={WAIT_S}s")
    assert "rolling update complete 2 pods" in out
    sts = get(cluster, "statefulset/zeus-orchestrator")
    status = sts["status"]
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"], status["updatedReplicas"],
            status["currentReplicas"]) == (2, 2, 2, 2, 2)
    assert status["observedGeneration"] == sts["metadata"]["generation"]
    second = get(cluster, "pod/zeus-orchestrator-1")
    assert second["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1" and ready(second)
    claim = get(cluster, "pvc/state-zeus-orchestrator-1")
    assert claim["status"]["phase"] == "Bound" and claim["spec"]["storageClassName"] == "efs-agent-state"
    assert get(cluster, f"pv/{claim['spec']['volumeName']}")["spec"]["claimRef"]["name"] == "state-zeus-orchestrator-1"

    kubectl(cluster, "scale", "sts", "zeus-orchestrator", "-n", NS, "--replicas=1")
    eventually(lambda: [p["metadata"]["name"] for p in pods(cluster, "app.kubernetes.io/name=zeus-orchestrator")]
               == ["zeus-orchestrator-0"], "zeus-orchestrator-1 removed")
    eventually(lambda: get(cluster, "statefulset/zeus-orchestrator")["status"]["readyReplicas"] == 1, "readyReplicas 1")
    assert get(cluster, "pvc/state-zeus-orchestrator-1")["status"]["phase"] == "Bound"  # claims are retained


def test_rollout_restart_statefulset_and_history(cluster):
    before = get(cluster, "pod/zeus-orchestrator-0")
    kubectl(cluster, "rollout", "restart", "statefulset/zeus-orchestrator", "-n", NS)
    out = kubectl(cluster, "rollout", "status", "statefulset/zeus-orchestrator", "-n", NS, f"--timeout={WAIT_S}s")
    assert "statefulset rolling update complete 1 pods at revision zeus-orchestrator-" in out
    after = get(cluster, "pod/zeus-orchestrator-0")
    sts = get(cluster, "statefulset/zeus-orchestrator")
    assert after["metadata"]["uid"] != before["metadata"]["uid"]
    assert after["metadata"]["labels"]["controller-revision-hash"] == sts["status"]["updateRevision"] \
        == sts["status"]["currentRevision"] != before["metadata"]["labels"]["controller-revision-hash"]
    history = kubectl(cluster, "rollout", "history", "statefulset", "zeus-orchestrator", "-n", NS)
    assert [line.split()[0] for line in history.strip().splitlines()[2:]] == ["1", "2"]
    assert "kubectl.kubernetes.io/restartedAt" in kubectl(cluster, "rollout", "history", "statefulset",
                                                           "zeus-orchestrator", "-n", NS, "--revision=2")
    kubectl(cluster, "rollout", "undo", "statefulset/zeus-orchestrator", "-n", NS)
    kubectl(cluster, "rollout", "status", "statefulset/zeus-orchestrator", "-n", NS, f"--timeout={WAIT_S}s")
    assert get(cluster, "pod/zeus-orchestrator-0")["metadata"]["labels"]["controller-revision-hash"] == \
        before["metadata"]["labels"]["controller-revision-hash"]


# --- Deployment / ReplicaSet ----------------------------------------------------------------------


def test_rollout_restart_deployment_replaces_the_pods_with_a_new_replicaset(cluster):
    old_pods = {p["metadata"]["name"] for p in pods(cluster, "app.kubernetes.io/name=kosmos-api")}
    kubectl(cluster, "rollout", "restart", "deployment/kosmos-api", "-n", NS)
    out = kubectl(cluster, "rollout", "status", "deployment/kosmos-api", "-n", NS, f"--timeout={WAIT_S}s")
    assert 'deployment "kosmos-api" successfully rolled out' in out
    deployment = get(cluster, "deployment/kosmos-api")
    status = deployment["status"]
    assert status["observedGeneration"] == deployment["metadata"]["generation"]
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"], status["availableReplicas"]) == (2,) * 4
    sets = {rs["metadata"]["name"]: rs for rs in get(cluster, "replicasets")["items"]}
    new = [rs for rs in sets.values() if rs["spec"]["replicas"] == 2]
    assert len(sets) == 2 and len(new) == 1
    assert new[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    now = eventually(lambda: (lambda ps: ps if len(ps) == 2 and all(map(ready, ps)) else None)(
        pods(cluster, "app.kubernetes.io/name=kosmos-api")), "two new kosmos-api pods")
    assert not {p["metadata"]["name"] for p in now} & old_pods
    assert all(p["metadata"]["name"].startswith(new[0]["metadata"]["name"] + "-") for p in now)
    assert all(p["metadata"]["ownerReferences"][0]["name"] == new[0]["metadata"]["name"] for p in now)
    zones = {get(cluster, f"node/{p['spec']['nodeName']}")["metadata"]["labels"]["topology.kubernetes.io/zone"]
             for p in now}
    assert len(zones) == 2  # spread over zones, as the template's topologySpreadConstraints ask
    history = kubectl(cluster, "rollout", "history", "deployment/kosmos-api", "-n", NS)
    assert [line.split()[0] for line in history.strip().splitlines()[2:]] == ["1", "2"]


def test_a_deployment_of_our_own_is_scheduled_scaled_and_collected(cluster):
    manifest = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "drill-probe", "namespace": NS},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app.kubernetes.io/name": "drill-probe"}},
                 "template": {"metadata": {"labels": {"app.kubernetes.io/name": "drill-probe"}},
                              "spec": {"containers": [{"name": "probe", "image": "registry.kosmos.internal/probe:1"}]}}},
    }
    kubectl(cluster, "apply", "-f", "-", input=json.dumps(manifest).encode())
    kubectl(cluster, "rollout", "status", "deployment/drill-probe", "-n", NS, f"--timeout={WAIT_S}s")
    placed = {p["spec"]["nodeName"] for p in pods(cluster, "app.kubernetes.io/name=drill-probe")}
    assert placed == {"dr-node-a", "dr-node-b", "dr-node-c"}
    manifest["spec"]["template"]["spec"]["nodeSelector"] = {"topology.kubernetes.io/zone": "us-west-2z"}
    kubectl(cluster, "apply", "-f", "-", input=json.dumps(manifest).encode())
    pending = eventually(lambda: [p for p in pods(cluster, "app.kubernetes.io/name=drill-probe")
                                  if p["status"]["phase"] == "Pending"], "a pod nobody can schedule")
    scheduled = next(c for c in pending[0]["status"]["conditions"] if c["type"] == "PodScheduled")
    assert scheduled["status"] == "False" and "didn't match Pod's node affinity/selector" in scheduled["message"]
    assert len([p for p in pods(cluster, "app.kubernetes.io/name=drill-probe") if ready(p)]) == 3  # maxUnavailable
    kubectl(cluster, "delete", "deployment", "drill-probe", "-n", NS)
    eventually(lambda: not pods(cluster, "app.kubernetes.io/name=drill-probe") and not [
        rs for rs in get(cluster, "replicasets")["items"] if rs["metadata"]["name"].startswith("drill-probe-")],
        "its ReplicaSets and pods collected")


# --- Job ------------------------------------------------------------------------------------------


def test_jobs_run_their_pods_to_completion(api_client, cluster):
    batch = k8s.BatchV1Api(api_client)
    template = {"spec": {"restartPolicy": "Never",
                         "containers": [{"name": "reindex", "image": "registry.kosmos.internal/kosmos/api:3.8.2"}]}}
    for name, extra in (("drill-reindex", {"completions": 3, "parallelism": 2}),
                        ("drill-indexed", {"completions": 3, "parallelism": 3, "completionMode": "Indexed"})):
        batch.create_namespaced_job(NS, {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
                                         "spec": {"template": template, **extra}})
        def complete(name=name):
            job = batch.read_namespaced_job(name, NS)
            return job if any(c.type == "Complete" for c in (job.status and job.status.conditions) or []) else None
        job = eventually(complete, f"job {name} complete")
        assert job.status.succeeded == 3 and not job.status.active and job.status.completion_time is not None
        assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": job.metadata.uid}
        done = pods(cluster, f"batch.kubernetes.io/job-name={name}")
        assert len(done) == 3 and {p["status"]["phase"] for p in done} == {"Succeeded"}
        assert all(p["metadata"]["ownerReferences"][0]["uid"] == job.metadata.uid for p in done)
    assert batch.read_namespaced_job("drill-indexed", NS).status.completed_indexes == "0-2"
    table = kubectl(cluster, "get", "jobs", "-n", NS)
    assert table.split("\n")[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert "Complete   3/3" in table


# --- the controller manager down --------------------------------------------------------------------


def test_with_controllers_paused_nothing_reconciles_until_revert(cluster):
    apply_fault(cluster, "controllers-paused")
    try:
        kubectl(cluster, "delete", "pod", "athena-analyst-0", "-n", NS)
        kubectl(cluster, "scale", "sts", "hermes-courier", "-n", NS, "--replicas=2")
        time.sleep(2)  # what a working controller manager would have needed many times over
        assert pods(cluster, "app.kubernetes.io/name=athena-analyst") == []
        assert pods(cluster, "app.kubernetes.io/name=hermes-courier")[0]["metadata"]["name"] == "hermes-courier-0"
        sts = get(cluster, "statefulset/hermes-courier")
        assert sts["metadata"]["generation"] > sts["status"]["observedGeneration"]  # stale status
        assert get(cluster, "statefulset/athena-analyst")["status"]["readyReplicas"] == 1  # stale: no pod at all
    finally:
        apply_fault(cluster, "controllers-paused", revert=True)
    kubectl(cluster, "rollout", "status", "statefulset/athena-analyst", "-n", NS, f"--timeout={WAIT_S}s")
    kubectl(cluster, "rollout", "status", "statefulset/hermes-courier", "-n", NS, f"--timeout={WAIT_S}s")
    sts = get(cluster, "statefulset/hermes-courier")
    assert sts["status"]["observedGeneration"] == sts["metadata"]["generation"] and sts["status"]["readyReplicas"] == 2
    kubectl(cluster, "scale", "sts", "hermes-courier", "-n", NS, "--replicas=1")
    eventually(lambda: len(pods(cluster, "app.kubernetes.io/name=hermes-courier")) == 1, "hermes-courier back to 1")


def test_controllers_leave_fault_state_alone(cluster):
    """A crash-looping pod stays (counted unready), a NotReady node keeps its pods; both show in the status."""
    comp = cluster.component
    comp.crashloop_pod("hermes-courier-0", restarts=3)
    comp.set_node_ready("dr-node-c", False)
    try:
        eventually(lambda: not get(cluster, "statefulset/hermes-courier")["status"].get("readyReplicas"),
                   "hermes-courier counted unready")
        time.sleep(1)
        pod = get(cluster, "pod/hermes-courier-0")
        assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    finally:
        comp.set_node_ready("dr-node-c", True)


def test_drain_moves_a_statefulset_pod_to_another_node(cluster):
    before = get(cluster, "pod/hermes-courier-0")
    node = before["spec"]["nodeName"]
    out = kubectl(cluster, "drain", node, "--ignore-daemonsets", f"--timeout={WAIT_S}s")
    try:
        assert "evicting pod kosmos/hermes-courier-0" in out and f"node/{node} drained" in out
        moved = eventually(lambda: (lambda p: p if ready(p) and p["metadata"]["uid"] != before["metadata"]["uid"]
                                    else None)(get(cluster, "pod/hermes-courier-0")), "hermes-courier-0 rescheduled")
        assert moved["spec"]["nodeName"] != node
        assert not [p for p in get(cluster, "pods")["items"] if p["spec"].get("nodeName") == node]
    finally:
        kubectl(cluster, "uncordon", node)
