"""Dry runs never write: every mutating verb of the sandbox's Kubernetes API with ``dryRun=All``
(kubectl ``--dry-run=server`` and the official client's ``dry_run="All"``) answers as the real API
server does and stores nothing: no object changes, the resource version stays, no watch event, no
controller reaction. Requests the server does not implement answer with a Kubernetes ``Status``."""

from __future__ import annotations

import asyncio
import copy
import json
import ssl

import httpx
import pytest
from kubernetes import client as k8s, config as k8s_config
from kubernetes.client.rest import ApiException

from kube_helpers import BackgroundCluster
from pytest_kosmos_dr.sandbox.kube.resources import RESOURCE_TYPES, find_type

pytestmark = pytest.mark.slow  # a cluster API server of its own, driven with kubectl and the official client

NS = "kosmos"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = BackgroundCluster(tmp_path_factory.mktemp("state"), tmp_path_factory.mktemp("data")).start()
    comp = running.component
    # the kubelets' heartbeats are real writes: silenced here, so "nothing changed" means exactly that
    nodes = {n["metadata"]["name"] for n in comp.store.peek(find_type("", "v1", "nodes"))}
    comp.silent_kubelets.update(nodes)
    comp.controllers.renews_leases = False  # lease renewals move resourceVersion; the test asserts nothing moved
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api_client(cluster):
    return k8s_config.new_client_from_config(config_file=cluster.state["kubeconfig"], context="dr-cluster")


def everything(cluster) -> tuple[str, dict]:
    """The store's resource version and every object it holds."""
    store = cluster.component.store
    objects = {(rtype.plural, o["metadata"].get("namespace", ""), o["metadata"]["name"]): copy.deepcopy(o)
               for rtype in RESOURCE_TYPES for o in store.peek(rtype)}
    return store.resource_version, objects


@pytest.fixture
def unchanged(cluster):
    """Asserts after the test that the store, its resource version and its watch history did not move."""
    before = everything(cluster)
    history = len(cluster.component.store._history)
    yield
    async def one_pass():  # a controller reacting to a dry run would write now
        cluster.component.controllers.reconcile()
    asyncio.run_coroutine_threadsafe(one_pass(), cluster.loop).result(timeout=30)
    after = everything(cluster)
    assert after[0] == before[0], "resourceVersion moved: something was written"
    changed = [key for key in set(before[1]) | set(after[1]) if before[1].get(key) != after[1].get(key)]
    assert changed == []
    assert len(cluster.component.store._history) == history, "a watch event was emitted"


def kubectl(cluster, *args, input: bytes | None = None) -> str:
    return cluster.kubectl(*args, input=input).stdout.decode()


# --- kubectl --dry-run=server ---------------------------------------------------------------


def test_delete_pod(cluster, unchanged):
    out = kubectl(cluster, "delete", "pod", "zeus-orchestrator-0", "-n", NS, "--dry-run=server")
    assert out.strip() == 'pod "zeus-orchestrator-0" deleted (server dry run)'


def test_delete_configmap(cluster, unchanged):
    out = kubectl(cluster, "delete", "configmap", "kosmos-config", "-n", NS, "--dry-run=server")
    assert out.strip() == 'configmap "kosmos-config" deleted (server dry run)'


def test_delete_every_pod_by_selector(cluster, unchanged):
    out = kubectl(cluster, "delete", "pods", "-n", NS, "-l", "app.kubernetes.io/part-of=kosmos", "--dry-run=server")
    assert out.count("deleted (server dry run)") == 5


def test_scale(cluster, unchanged):
    out = kubectl(cluster, "scale", "statefulset/zeus-orchestrator", "-n", NS, "--replicas=3", "--dry-run=server")
    assert "scaled (server dry run)" in out


def test_patch_answers_the_patched_object(cluster, unchanged):
    out = kubectl(cluster, "patch", "configmap", "kosmos-config", "-n", NS, "--type=merge", "-p",
                  '{"data":{"KOSMOS_LOG_LEVEL":"trace"}}', "--dry-run=server", "-o", "json")
    assert json.loads(out)["data"]["KOSMOS_LOG_LEVEL"] == "trace"


def test_apply_and_create(cluster, unchanged):
    deployment = json.loads(kubectl(cluster, "get", "deployment", "kosmos-api", "-n", NS, "-o", "json"))
    deployment["spec"]["replicas"] = 4
    out = kubectl(cluster, "apply", "-f", "-", "--dry-run=server", input=json.dumps(deployment).encode())
    assert "configured (server dry run)" in out
    created = kubectl(cluster, "create", "configmap", "drill-scratch", "-n", NS, "--from-literal=a=b",
                      "--dry-run=server", "-o", "json")
    assert json.loads(created)["data"] == {"a": "b"}


def test_label_annotate_and_cordon(cluster, unchanged):
    assert "(server dry run)" in kubectl(cluster, "label", "pod", "athena-analyst-0", "-n", NS, "drill=yes",
                                         "--dry-run=server")
    assert "(server dry run)" in kubectl(cluster, "annotate", "statefulset", "zeus-orchestrator", "-n", NS,
                                         "drill=yes", "--dry-run=server")
    assert "cordoned (server dry run)" in kubectl(cluster, "cordon", "dr-node-b", "--dry-run=server")


def test_drain_node_evicts_nothing(cluster, unchanged):
    out = kubectl(cluster, "drain", "dr-node-a", "--dry-run=server", "--ignore-daemonsets", "--timeout=20s")
    assert "node/dr-node-a cordoned (server dry run)" in out and "node/dr-node-a drained (server dry run)" in out
    assert "evicting pod kosmos/zeus-orchestrator-0 (server dry run)" in out


# --- the official client, dry_run="All" -------------------------------------------------------


def test_client_create_replace_patch(api_client, unchanged):
    core = k8s.CoreV1Api(api_client)
    made = core.create_namespaced_config_map(NS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "drill"},
                                                  "data": {"a": "1"}}, dry_run="All")
    assert made.metadata.name == "drill" and made.metadata.uid and not made.metadata.resource_version
    current = core.read_namespaced_config_map("kosmos-config", NS)
    current.data["KOSMOS_LOG_LEVEL"] = "trace"
    # bodies as plain dicts: pytester's in-process runs elsewhere in the session restore sys.modules,
    # after which the client's validators may resolve model classes other than the ones imported here
    replaced = core.replace_namespaced_config_map("kosmos-config", NS, api_client.sanitize_for_serialization(current),
                                                  dry_run="All")
    assert replaced.data["KOSMOS_LOG_LEVEL"] == "trace"
    patched = core.patch_namespaced_pod("zeus-orchestrator-0", NS, {"metadata": {"labels": {"drill": "1"}}},
                                        dry_run="All")
    assert patched.metadata.labels["drill"] == "1"
    apps = k8s.AppsV1Api(api_client)
    scaled = apps.patch_namespaced_stateful_set_scale("zeus-orchestrator", NS, {"spec": {"replicas": 2}}, dry_run="All")
    assert scaled.spec.replicas == 2
    status = apps.patch_namespaced_stateful_set_status("zeus-orchestrator", NS, {"status": {"readyReplicas": 0}},
                                                       dry_run="All")
    assert not status.status.ready_replicas


def test_client_deletes(api_client, unchanged):
    core = k8s.CoreV1Api(api_client)
    pod = core.delete_namespaced_pod("zeus-orchestrator-0", NS, dry_run="All")
    assert pod.metadata.name == "zeus-orchestrator-0" and pod.metadata.deletion_timestamp is not None
    status = core.delete_namespaced_config_map("kosmos-config", NS, body={"dryRun": ["All"]})
    status = status if isinstance(status, dict) else status.to_dict()
    assert (status["kind"], status["status"], status["details"]["name"]) == ("Status", "Success", "kosmos-config")
    listed = core.delete_collection_namespaced_pod(NS, label_selector="app.kubernetes.io/name=kosmos-api",
                                                   dry_run="All", _preload_content=False)
    assert len(json.loads(listed.data)["items"]) == 2  # the pods that would go
    apps = k8s.AppsV1Api(api_client)
    apps.delete_namespaced_stateful_set("zeus-orchestrator", NS, dry_run="All")
    apps.delete_collection_namespaced_deployment(NS, dry_run="All")
    core.delete_namespace(NS, dry_run="All")


def test_client_eviction(api_client, unchanged):
    core = k8s.CoreV1Api(api_client)
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": "hermes-courier-0", "namespace": NS}, "deleteOptions": {"dryRun": ["All"]}}
    core.create_namespaced_pod_eviction("hermes-courier-0", NS, eviction)


def test_a_dry_run_value_other_than_all_is_refused(api_client, unchanged):
    core = k8s.CoreV1Api(api_client)
    with pytest.raises(ApiException) as refused:
        core.delete_namespaced_pod("zeus-orchestrator-0", NS, body={"dryRun": ["Some"]})
    assert refused.value.status == 400 and "dryRun" in json.loads(refused.value.body)["message"]


def test_preconditions_that_do_not_hold_refuse_the_delete(api_client, unchanged):
    core = k8s.CoreV1Api(api_client)
    options = {"preconditions": {"uid": "not-the-uid"}}
    with pytest.raises(ApiException) as refused:
        core.delete_namespaced_pod("zeus-orchestrator-0", NS, body=options)
    assert refused.value.status == 409 and json.loads(refused.value.body)["reason"] == "Conflict"


# --- what the server does not implement: a Status, never a 500 page ------------------------------


@pytest.mark.parametrize(("method", "path", "code", "reason"), [
    ("GET", "/apis/example.com/v1/widgets", 404, "NotFound"),
    ("GET", "/api/v1/namespaces/kosmos/widgets", 404, "NotFound"),
    ("GET", "/no/such/path", 404, "NotFound"),
    ("GET", "/", 404, "NotFound"),
    ("POST", "/api/v1/namespaces/kosmos/pods/zeus-orchestrator-0/attach", 404, "NotFound"),
    ("GET", "/api/v1/namespaces/kosmos/configmaps/kosmos-config/status", 404, "NotFound"),
    ("PUT", "/api/v1/namespaces/kosmos/pods/zeus-orchestrator-0/log", 405, "MethodNotAllowed"),
    ("POST", "/api/v1/nodes/dr-node-a", 405, "MethodNotAllowed"),
    ("DELETE", "/apis/apps/v1/namespaces/kosmos/statefulsets/zeus-orchestrator/scale", 405, "MethodNotAllowed"),
    ("GET", "/api/v1/namespaces/kosmos/pods/zeus-orchestrator-0/eviction", 405, "MethodNotAllowed"),
])
def test_unimplemented_requests_answer_a_status(cluster, unchanged, method, path, code, reason):
    state = cluster.state
    with httpx.Client(base_url=state["url"], verify=ssl.create_default_context(cafile=state["ca_file"]),
                      headers={"Authorization": f"Bearer {state['token']}"}) as http:
        answer = http.request(method, path)
    assert answer.status_code == code
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert (body["kind"], body["status"], body["code"], body["reason"]) == ("Status", "Failure", code, reason)


def test_a_body_the_server_cannot_use_answers_a_status(cluster, unchanged):
    state = cluster.state
    with httpx.Client(base_url=state["url"], verify=ssl.create_default_context(cafile=state["ca_file"]),
                      headers={"Authorization": f"Bearer {state['token']}"}) as http:
        answer = http.patch("/api/v1/namespaces/kosmos/configmaps/kosmos-config",
                            content=b'{"data": [1, 2]', headers={"Content-Type": "application/merge-patch+json"})
    assert answer.status_code == 400 and answer.json()["kind"] == "Status"
