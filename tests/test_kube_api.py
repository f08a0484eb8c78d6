"""The sandbox's DR Kubernetes API, exercised with the real kubectl and the official client."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s, config as k8s_config, watch as k8s_watch
from kubernetes.client.rest import ApiException

from kube_helpers import BackgroundCluster
from pytest_kosmos_dr.sandbox.kube.resources import RESOURCE_TYPES, find_type
from pytest_kosmos_dr.sandbox.kube.seed import RENDERED_FILE

pytestmark = pytest.mark.slow  # a cluster API server of its own, driven with kubectl and the official client

NS = "kosmos"
AGENTS = ("zeus-orchestrator", "athena-analyst", "hermes-courier")
MODEL = {
    "Namespace": "V1Namespace", "Node": "V1Node", "Pod": "V1Pod", "Service": "V1Service", "ConfigMap": "V1ConfigMap",
    "Secret": "V1Secret", "ServiceAccount": "V1ServiceAccount", "Event": "CoreV1Event",
    "PersistentVolumeClaim": "V1PersistentVolumeClaim", "PersistentVolume": "V1PersistentVolume", "Deployment": "V1Deployment", "StatefulSet": "V1StatefulSet",
    "ReplicaSet": "V1ReplicaSet", "CronJob": "V1CronJob", "StorageClass": "V1StorageClass",
    "Role": "V1Role", "RoleBinding": "V1RoleBinding", "ClusterRole": "V1ClusterRole",
    "ClusterRoleBinding": "V1ClusterRoleBinding", "Job": "V1Job", "DaemonSet": "V1DaemonSet", "Lease": "V1Lease",
    "Ingress": "V1Ingress", "HorizontalPodAutoscaler": "V2HorizontalPodAutoscaler",
    "PodDisruptionBudget": "V1PodDisruptionBudget", "ControllerRevision": "V1ControllerRevision",
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    state_dir, data_dir = tmp_path_factory.mktemp("state"), tmp_path_factory.mktemp("data")
    running = BackgroundCluster(state_dir, data_dir).start()
    yield running
    running.stop()
    assert not (data_dir / "pods" / NS / "zeus-orchestrator-0").exists()


@pytest.fixture(scope="module")
def api_client(cluster):
    return k8s_config.new_client_from_config(config_file=cluster.state["kubeconfig"], context="dr-cluster")


def kubectl(cluster, *args, **kwargs) -> str:
    return cluster.kubectl(*args, **kwargs).stdout.decode()


def rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.strip().splitlines()]


def rendered() -> list[dict]:
    return [doc for doc in yaml.safe_load_all(RENDERED_FILE.read_text()) if doc]


# --- component contract --------------------------------------------------------------------


def test_state_env_and_kubeconfig(cluster):
    state = cluster.state
    assert {"url", "token", "kubeconfig", "context", "namespace", "config_repo"} <= set(state)
    assert state["context"] == "dr-cluster" and state["namespace"] == NS
    assert cluster.ctx.env["KUBECONFIG"] == state["kubeconfig"]
    assert state["token"] in cluster.ctx.secrets
    mode = stat.S_IMODE(os.stat(state["kubeconfig"]).st_mode)
    assert mode == 0o600
    config = yaml.safe_load(Path(state["kubeconfig"]).read_text())
    assert [c["name"] for c in config["contexts"]] == ["dr-cluster"]
    assert config["clusters"][0]["cluster"]["server"] == state["url"]


def test_config_repo_is_a_git_repository_on_production(cluster):
    repo = cluster.state["config_repo"]
    branch = subprocess.run(["git", "-C", repo, "branch", "--show-current"], capture_output=True, text=True, timeout=10)
    assert branch.stdout.strip() == "production"
    status = subprocess.run(["git", "-C", repo, "status", "--porcelain"], capture_output=True, text=True, timeout=10)
    assert status.stdout == ""


def test_rendered_fixture_is_the_production_overlay(cluster):
    out = subprocess.run(
        ["kubectl", "kustomize", str(Path(cluster.state["config_repo"]) / "overlays" / "production")],
        capture_output=True, timeout=30, check=True,
    ).stdout
    assert [d for d in yaml.safe_load_all(out) if d] == rendered()


def test_cluster_runs_exactly_the_rendered_workloads(cluster):
    for want in rendered():
        live = json.loads(kubectl(cluster, "get", f"{want['kind']}/{want['metadata']['name']}", "-n", NS, "-o", "json"))
        assert live["metadata"]["labels"] == want["metadata"]["labels"]
        if want["kind"] == "ConfigMap":
            assert live["data"] == want["data"]
        elif want["kind"] == "Service":  # plus what the API server allocates
            extra = {k: v for k, v in live["spec"].items() if k not in want["spec"]}
            assert set(extra) <= {"clusterIP", "clusterIPs", "type", "sessionAffinity", "ipFamilies",
                                  "ipFamilyPolicy", "internalTrafficPolicy"}
            assert [{k: p[k] for k in w} for p, w in zip(live["spec"]["ports"], want["spec"]["ports"])] == want["spec"]["ports"]
        else:
            assert live["spec"] == want["spec"]


# --- kubectl ---------------------------------------------------------------------------------


def test_get_nodes_columns(cluster):
    table = rows(kubectl(cluster, "get", "nodes"))
    assert table[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert [(r[0], r[1]) for r in table[1:]] == [(f"dr-node-{x}", "Ready") for x in "abc"]
    zones = kubectl(cluster, "get", "nodes", "-L", "topology.kubernetes.io/zone", "--no-headers")
    assert all(z in zones for z in ("us-west-2a", "us-west-2b", "us-west-2c"))


def test_get_pods_ready_running(cluster):
    table = rows(kubectl(cluster, "get", "pods", "-n", NS, "-o", "wide"))
    assert table[0][:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    pods = {r[0]: r for r in table[1:]}
    assert {f"{a}-0" for a in AGENTS} <= set(pods)
    assert sum(1 for name in pods if name.startswith("kosmos-api-")) == 2
    for row in pods.values():
        assert row[1:4] == ["1/1", "Running", "0"]
    api_nodes = {r[6] for name, r in pods.items() if name.startswith("kosmos-api-")}
    assert len(api_nodes) == 2


def test_get_and_describe_agent_pod(cluster):
    assert rows(kubectl(cluster, "get", "pod", "zeus-orchestrator-0", "-n", NS))[1][:3] == ["zeus-orchestrator-0", "1/1", "Running"]
    described = " ".join(kubectl(cluster, "describe", "pod", "zeus-orchestrator-0", "-n", NS).split())
    for expected in ("Node: dr-node-a/10.0.1.10", "Status: Running", "ClaimName: state-zeus-orchestrator-0",
                     "Started container agent", "QoS Class: Burstable"):
        assert expected in described


def test_workloads_tables_and_rollout(cluster):
    deploy = rows(kubectl(cluster, "get", "deployments", "-n", NS))
    assert deploy[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"] and deploy[1][:4] == ["kosmos-api", "2/2", "2", "2"]
    sts = rows(kubectl(cluster, "get", "statefulsets", "-n", NS))
    assert sts[0] == ["NAME", "READY", "AGE"] and {r[1] for r in sts[1:]} == {"1/1"}
    assert "successfully rolled out" in kubectl(cluster, "rollout", "status", "deploy/kosmos-api", "-n", NS, "--timeout=5s")
    pvcs = kubectl(cluster, "get", "pvc", "-n", NS, "--no-headers")
    assert pvcs.count("efs-agent-state") == 3 and pvcs.count("Bound") == 3


def test_top_pods_and_nodes(cluster):
    pods = rows(kubectl(cluster, "top", "pods", "-n", NS))
    assert pods[0] == ["NAME", "CPU(cores)", "MEMORY(bytes)"] and len(pods) == 6
    for _, cpu, memory in pods[1:]:
        assert cpu.endswith("m") and int(cpu[:-1]) < 500 and memory.endswith("Mi") and int(memory[:-2]) < 512
    nodes = rows(kubectl(cluster, "top", "nodes"))
    assert nodes[0][:3] == ["NAME", "CPU(cores)", "CPU(%)"] and len(nodes) == 4


def test_exec_runs_in_the_pod_root(cluster):
    out = kubectl(cluster, "exec", "zeus-orchestrator-0", "-n", NS, "--", "sha256sum", "/var/lib/agent/state/memory.json")
    manifest = (cluster.component.pod_root("zeus-orchestrator-0") / "var/lib/agent/state/MANIFEST.sha256").read_text()
    assert out.split()[0] in manifest
    check = kubectl(cluster, "exec", "zeus-orchestrator-0", "-n", NS, "--", "sh", "-c", "cd /var/lib/agent/state && sha256sum -c MANIFEST.sha256")
    assert check.count(": OK") == 2
    failed = cluster.kubectl("exec", "zeus-orchestrator-0", "-n", NS, "--", "sh", "-c", "echo oops >&2; exit 3", check=False)
    assert failed.returncode == 3 and b"oops" in failed.stderr
    echoed = cluster.kubectl("exec", "-i", "athena-analyst-0", "-n", NS, "--", "cat", input=b"state handoff\n")
    assert echoed.stdout == b"state handoff\n"
    if cluster.state["exec_confinement"] == "namespaces":
        listing = kubectl(cluster, "exec", "zeus-orchestrator-0", "-n", NS, "--", "ls", "/")
        assert "work" not in listing.split() and "var" in listing.split()
        assert kubectl(cluster, "exec", "zeus-orchestrator-0", "-n", NS, "--", "hostname").strip() == "zeus-orchestrator-0"
        assert cluster.kubectl("exec", "zeus-orchestrator-0", "-n", NS, "--", "touch", "/usr/x", check=False).returncode != 0


def test_cp_into_agent_pod_and_back(cluster, tmp_path):
    source = tmp_path / "restore"
    (source / "nested").mkdir(parents=True)
    (source / "memory.json").write_text(json.dumps({"restored": True}))
    (source / "nested" / "blob.bin").write_bytes(os.urandom(200_000))
    kubectl(cluster, "cp", str(source), f"{NS}/zeus-orchestrator-0:/var/lib/agent/state/")
    inside = cluster.component.pod_root("zeus-orchestrator-0") / "var/lib/agent/state/restore/nested/blob.bin"
    assert inside.read_bytes() == (source / "nested" / "blob.bin").read_bytes()
    back = tmp_path / "back"
    kubectl(cluster, "cp", f"{NS}/zeus-orchestrator-0:/var/lib/agent/state/restore", str(back))
    for path in source.rglob("*"):
        if path.is_file():
            assert (back / path.relative_to(source)).read_bytes() == path.read_bytes()


def test_apply_dry_run_server_stores_nothing(cluster):
    overlay = str(Path(cluster.state["config_repo"]) / "overlays" / "production")
    before = kubectl(cluster, "get", "deploy,sts,svc,cm", "-n", NS, "-o", "jsonpath={.items[*].metadata.resourceVersion}")
    out = kubectl(cluster, "apply", "-k", overlay, "--dry-run=server")
    assert out.count("unchanged (server dry run)") == len(rendered())
    cronjob = {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "agent-state-backup", "namespace": NS},
        "spec": {"schedule": "*/15 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure",
            "containers": [{"name": "backup", "image": "registry.kosmos.internal/kosmos/backup:1.0"}]}}}}},
    }
    created = kubectl(cluster, "apply", "-f", "-", "--dry-run=server", input=json.dumps(cronjob).encode())
    assert "cronjob.batch/agent-state-backup created (server dry run)" in created
    assert "NotFound" in cluster.kubectl("get", "cronjob", "agent-state-backup", "-n", NS, check=False).stderr.decode()
    cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    bad = cluster.kubectl("apply", "-f", "-", "--dry-run=server", input=json.dumps(cronjob).encode(), check=False)
    assert bad.returncode != 0 and b"is invalid" in bad.stderr
    after = kubectl(cluster, "get", "deploy,sts,svc,cm", "-n", NS, "-o", "jsonpath={.items[*].metadata.resourceVersion}")
    assert after == before


def test_diff_detects_drift(cluster):
    overlay = str(Path(cluster.state["config_repo"]) / "overlays" / "production")
    assert cluster.kubectl("diff", "-k", overlay, check=False).returncode == 0
    kubectl(cluster, "scale", "deployment/kosmos-api", "-n", NS, "--replicas=3")
    try:
        drift = cluster.kubectl("diff", "-k", overlay, check=False)
        assert drift.returncode == 1 and b"-  replicas: 3" in drift.stdout and b"+  replicas: 2" in drift.stdout
    finally:
        kubectl(cluster, "apply", "-k", overlay)
    assert cluster.kubectl("diff", "-k", overlay, check=False).returncode == 0


def test_label_annotate_patch_wait_delete(cluster):
    kubectl(cluster, "label", "pod", "athena-analyst-0", "-n", NS, "dr.kosmos/verified=true")
    assert "athena-analyst-0" in kubectl(cluster, "get", "pods", "-n", NS, "-l", "dr.kosmos/verified=true")
    kubectl(cluster, "annotate", "pod", "athena-analyst-0", "-n", NS, "dr.kosmos/checked-by=pytest")
    kubectl(cluster, "patch", "configmap", "kosmos-config", "-n", NS, "--type=merge", "-p", '{"data":{"DRILL":"1"}}')
    assert json.loads(kubectl(cluster, "get", "cm", "kosmos-config", "-n", NS, "-o", "json"))["data"]["DRILL"] == "1"
    kubectl(cluster, "patch", "configmap", "kosmos-config", "-n", NS, "--type=json", "-p", '[{"op":"remove","path":"/data/DRILL"}]')
    assert "condition met" in kubectl(cluster, "wait", "--for=condition=Ready", "pod/zeus-orchestrator-0", "-n", NS, "--timeout=10s")
    kubectl(cluster, "create", "configmap", "drill-scratch", "-n", NS, "--from-literal=a=b")
    assert 'deleted' in kubectl(cluster, "delete", "configmap", "drill-scratch", "-n", NS)
    assert cluster.kubectl("get", "cm", "drill-scratch", "-n", NS, check=False).returncode == 1


def test_faults_node_not_ready_crashloop_and_metrics(cluster):
    comp = cluster.component
    comp.set_node_ready("dr-node-c", False)
    assert rows(kubectl(cluster, "get", "node", "dr-node-c"))[1][1] == "NotReady"
    comp.set_node_ready("dr-node-c", True)
    kubectl(cluster, "annotate", "pod", "hermes-courier-0", "-n", NS, "sandbox.kosmos.dr/metrics-memory=1800Mi")
    assert rows(kubectl(cluster, "top", "pod", "hermes-courier-0", "-n", NS))[1][2] == "1800Mi"
    kubectl(cluster, "annotate", "pod", "hermes-courier-0", "-n", NS, "sandbox.kosmos.dr/metrics-memory-")
    victim = kubectl(cluster, "get", "pods", "-n", NS, "-l", "app.kubernetes.io/name=kosmos-api", "-o", "jsonpath={.items[0].metadata.name}")
    comp.crashloop_pod(victim, restarts=4)
    row = rows(kubectl(cluster, "get", "pod", victim, "-n", NS))[1]
    assert row[1:4] == ["0/1", "CrashLoopBackOff", "4"]
    waited = cluster.kubectl("wait", "--for=condition=Ready", f"pod/{victim}", "-n", NS, "--timeout=1s", check=False)
    assert waited.returncode != 0


def test_wrong_token_is_unauthorized(cluster, tmp_path):
    config = yaml.safe_load(Path(cluster.state["kubeconfig"]).read_text())
    config["users"][0]["user"]["token"] = "not-the-token"
    bad = tmp_path / "kubeconfig"
    bad.write_text(yaml.safe_dump(config))
    denied = cluster.kubectl("get", "pods", "-n", NS, kubeconfig=str(bad), check=False)
    assert denied.returncode != 0 and b"Unauthorized" in denied.stderr


# --- official client -------------------------------------------------------------------------


def test_client_selectors(api_client):
    core = k8s.CoreV1Api(api_client)
    agents = core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/name in (zeus-orchestrator,athena-analyst)")
    assert sorted(p.metadata.name for p in agents.items) == ["athena-analyst-0", "zeus-orchestrator-0"]
    on_a = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=dr-node-a,status.phase=Running")
    assert {p.spec.node_name for p in on_a.items} == {"dr-node-a"} and len(on_a.items) == 2
    one = core.list_namespaced_pod(NS, field_selector="metadata.name=zeus-orchestrator-0")
    assert [p.metadata.name for p in one.items] == ["zeus-orchestrator-0"]
    assert core.list_namespaced_pod("default", field_selector="metadata.namespace=default").items == []
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("no-such-pod", NS)
    assert missing.value.status == 404


def test_client_watch_returns_after_timeout(api_client, cluster):
    core = k8s.CoreV1Api(api_client)
    listed = core.list_namespaced_pod(NS, label_selector="app.kubernetes.io/name=zeus-orchestrator")
    seen: list[tuple[str, str]] = []

    def patch_later():
        k8s.CoreV1Api(api_client).patch_namespaced_pod(
            "zeus-orchestrator-0", NS, {"metadata": {"labels": {"dr.kosmos/watched": "yes"}}})

    timer = threading.Timer(0.3, patch_later)
    timer.start()
    for event in k8s_watch.Watch().stream(
        core.list_namespaced_pod, NS, label_selector="app.kubernetes.io/name=zeus-orchestrator",
        resource_version=listed.metadata.resource_version, timeout_seconds=2,
    ):
        seen.append((event["type"], event["object"].metadata.name))
    timer.join()
    assert ("MODIFIED", "zeus-orchestrator-0") in seen
    initial = list(k8s_watch.Watch().stream(core.list_node, timeout_seconds=1))  # (a heartbeat may add MODIFIED)
    assert sorted(e["object"].metadata.name for e in initial if e["type"] == "ADDED") == ["dr-node-a", "dr-node-b", "dr-node-c"]


def test_client_node_status_subresource(api_client):
    core = k8s.CoreV1Api(api_client)
    node = core.read_node_status("dr-node-b")
    assert node.status.node_info.kubelet_version == "v1.32.4"
    conditions = [c.to_dict() for c in node.status.conditions]
    for cond in conditions:
        if cond["type"] == "Ready":
            cond["status"] = "False"
    body = {"status": {"conditions": [{k: v for k, v in c.items() if v is not None} for c in conditions]}}
    core.patch_node_status("dr-node-b", body)
    ready = {c.type: c.status for c in core.read_node("dr-node-b").status.conditions}["Ready"]
    assert ready == "False"
    for cond in body["status"]["conditions"]:
        if cond["type"] == "Ready":
            cond["status"] = "True"
    core.patch_node_status("dr-node-b", body)
    apps = k8s.AppsV1Api(api_client)
    assert apps.read_namespaced_stateful_set_status("zeus-orchestrator", NS).status.ready_replicas == 1


def test_every_seeded_object_deserializes(api_client, cluster):
    store = cluster.component.store
    count = 0
    for rtype in RESOURCE_TYPES:
        for obj in store.list(rtype):
            model = api_client._ApiClient__deserialize(obj, MODEL[rtype.kind])
            assert model.metadata.name == obj["metadata"]["name"]
            count += 1
    assert count > 40
    nodes = k8s.CoreV1Api(api_client).list_node()
    assert {n.metadata.labels["topology.kubernetes.io/zone"] for n in nodes.items} == {"us-west-2a", "us-west-2b", "us-west-2c"}
    assert len(k8s.AppsV1Api(api_client).list_namespaced_stateful_set(NS).items) == 3
    storage = k8s.StorageV1Api(api_client)
    assert storage.read_storage_class("gp3").provisioner == "ebs.csi.aws.com"
    assert storage.read_storage_class("efs-agent-state").provisioner == "efs.csi.aws.com"


def test_agent_state_volumes_are_bound_regional_efs_volumes(api_client, cluster):
    """Each agent's claim is bound to a PersistentVolume on the regional EFS file system, without zone affinity."""
    core = k8s.CoreV1Api(api_client)
    volumes = {v.metadata.name: v for v in core.list_persistent_volume().items}
    for agent in AGENTS:
        pvc = core.read_namespaced_persistent_volume_claim(f"state-{agent}-0", NS)
        volume = volumes[pvc.spec.volume_name]
        assert volume.spec.claim_ref.name == pvc.metadata.name and volume.status.phase == "Bound"
        assert volume.spec.csi.driver == "efs.csi.aws.com" and volume.spec.node_affinity is None
        assert volume.spec.csi.volume_handle.startswith("fs-")
    table = rows(kubectl(cluster, "get", "pv"))
    assert table[0][:3] == ["NAME", "CAPACITY", "ACCESS"] and len(table) == 4
    assert all(r[4] == "Bound" and r[5].startswith(f"{NS}/state-") and r[6] == "efs-agent-state" for r in table[1:])


def test_kubelets_renew_the_node_heartbeat(cluster):
    """Live kubelets renew their conditions' lastHeartbeatTime; a silenced one does not."""
    comp = cluster.component
    node_type = find_type("", "v1", "nodes")

    def heartbeats(name):
        return {c["lastHeartbeatTime"] for c in comp.store.get(node_type, None, name)["status"]["conditions"]}

    def age_out(obj):
        for cond in obj["status"]["conditions"]:
            cond["lastHeartbeatTime"] = "2020-01-01T00:00:00Z"

    for name in ("dr-node-a", "dr-node-b"):
        comp.store.mutate(node_type, None, name, age_out)
    comp.silent_kubelets.add("dr-node-b")
    try:
        comp.post_node_status()
        assert heartbeats("dr-node-a") != {"2020-01-01T00:00:00Z"} and heartbeats("dr-node-b") == {"2020-01-01T00:00:00Z"}
    finally:
        comp.silent_kubelets.discard("dr-node-b")
        comp.post_node_status()
    assert heartbeats("dr-node-b") != {"2020-01-01T00:00:00Z"}
