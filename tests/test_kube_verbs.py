"""The kinds and verbs operators use, against the sandbox's Kubernetes API with the real kubectl and the
official client: ``auth can-i`` (access reviews, RBAC, impersonation), ``explain`` (served OpenAPI v3
schemas), ``logs --previous/--since/-f``, defaults applied on create, protobuf creates, events that age
out, and the control plane's leader-election Leases."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from kube_helpers import api_client, cluster, eventually  # noqa: F401 - the module fixtures
from pytest_kosmos_dr.sandbox.kube import protobuf
from pytest_kosmos_dr.sandbox.kube.resources import find_type

pytestmark = pytest.mark.slow  # a cluster API server of its own, driven with kubectl and the official client

NS = "kosmos"
WAIT_S = 30  # an upper bound for a condition to come true, not a duration under test
RBAC = Path(__file__).resolve().parents[1] / "deploy" / "cronjob" / "base" / "rbac.yaml"
CRONJOB_SA = "system:serviceaccount:kosmos-dr:kosmos-dr"


def kubectl(cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return cluster.kubectl(*args, check=check, timeout=WAIT_S + 30)


def out(cluster, *args: str) -> str:
    return kubectl(cluster, *args).stdout.decode()


def http(cluster) -> httpx.Client:
    state = cluster.state
    verify = ssl.create_default_context(cafile=state["ca_file"]) if state["ca_file"] else False
    return httpx.Client(base_url=state["url"], verify=verify,
                        headers={"Authorization": f"Bearer {state['token']}"}, timeout=WAIT_S)


@pytest.fixture
def cronjob_rbac(cluster):
    """The CronJob's RBAC (deploy/cronjob/base/rbac.yaml) applied for one test, then deleted."""
    kubectl(cluster, "apply", "-f", str(RBAC))
    yield
    kubectl(cluster, "delete", "-f", str(RBAC))


# --- auth can-i -------------------------------------------------------------------------------


def test_can_i_as_the_admin(cluster):
    assert out(cluster, "auth", "can-i", "delete", "pods", "-n", NS).strip() == "yes"
    assert out(cluster, "auth", "can-i", "*", "*").strip() == "yes"


def test_can_i_as_the_cronjob_service_account(cluster, cronjob_rbac):
    def can(*args: str) -> str:
        done = kubectl(cluster, "auth", "can-i", *args, f"--as={CRONJOB_SA}", check=False)
        answer = done.stdout.decode().strip()
        assert done.returncode == (0 if answer == "yes" else 1), done
        return answer

    assert can("list", "pods", "-n", NS) == "yes"
    assert can("get", "pods", "--subresource=log", "-n", NS) == "yes"
    assert can("create", "pods", "--subresource=exec", "-n", NS) == "yes"
    assert can("delete", "pods", "-n", NS) == "no"
    assert can("get", "secrets", "-n", NS) == "no"
    assert can("list", "pods", "-n", "default") == "no"  # the Role binds in kosmos only
    assert can("list", "nodes") == "yes"  # the ClusterRole
    assert can("list", "pods.metrics.k8s.io", "-n", NS) == "yes"
    assert can("update", "leases/kosmos-dr-drills", "-n", NS) == "yes"  # resourceNames
    assert can("update", "leases/someone-elses", "-n", NS) == "no"
    assert can("create", "leases", "-n", NS) == "yes"


def test_without_bindings_a_service_account_may_do_nothing(cluster):
    done = kubectl(cluster, "auth", "can-i", "list", "pods", "-n", NS, f"--as={CRONJOB_SA}", check=False)
    assert (done.returncode, done.stdout.decode().strip()) == (1, "no")


def test_impersonated_requests_are_authorized(cluster, cronjob_rbac):
    listed = out(cluster, "get", "pods", "-n", NS, f"--as={CRONJOB_SA}")
    assert "zeus-orchestrator-0" in listed
    denied = kubectl(cluster, "delete", "pod", "zeus-orchestrator-0", "-n", NS, f"--as={CRONJOB_SA}", check=False)
    assert denied.returncode == 1
    assert ('pods "zeus-orchestrator-0" is forbidden: User "system:serviceaccount:kosmos-dr:kosmos-dr" cannot '
            'delete resource "pods" in API group "" in the namespace "kosmos"') in denied.stderr.decode()
    assert "zeus-orchestrator-0" in out(cluster, "get", "pods", "-n", NS)  # nothing was deleted
    secrets = kubectl(cluster, "get", "secrets", "-n", NS, f"--as={CRONJOB_SA}", check=False)
    assert 'cannot list resource "secrets" in API group "" in the namespace "kosmos"' in secrets.stderr.decode()
    nodes = kubectl(cluster, "get", "storageclasses", f"--as={CRONJOB_SA}")
    assert nodes.returncode == 0


def test_access_reviews_with_the_official_client(cluster, api_client, cronjob_rbac):
    api = k8s.AuthorizationV1Api(api_client)
    review = api.create_self_subject_access_review(k8s.V1SelfSubjectAccessReview(spec=k8s.V1SelfSubjectAccessReviewSpec(
        resource_attributes=k8s.V1ResourceAttributes(namespace=NS, verb="get", resource="pods"))))
    assert review.status.allowed is True
    subject = api.create_subject_access_review(k8s.V1SubjectAccessReview(spec=k8s.V1SubjectAccessReviewSpec(
        user=CRONJOB_SA, resource_attributes=k8s.V1ResourceAttributes(namespace=NS, verb="get", resource="pods"))))
    assert subject.status.allowed is True
    assert subject.status.reason == ('RBAC: allowed by RoleBinding "kosmos-dr-checks/kosmos" of Role '
                                     '"kosmos-dr-checks" to ServiceAccount "kosmos-dr/kosmos-dr"')
    denied = api.create_subject_access_review(k8s.V1SubjectAccessReview(spec=k8s.V1SubjectAccessReviewSpec(
        user=CRONJOB_SA, resource_attributes=k8s.V1ResourceAttributes(namespace=NS, verb="delete", resource="pods"))))
    assert denied.status.allowed is False


def test_rules_review_lists_the_service_accounts_rules(cluster, cronjob_rbac):
    listed = out(cluster, "auth", "can-i", "--list", "-n", NS, f"--as={CRONJOB_SA}")
    assert "pods/exec" in listed and "leases.coordination.k8s.io" in listed and "[kosmos-dr-drills]" in listed
    assert "selfsubjectaccessreviews.authorization.k8s.io" in listed


def test_whoami(cluster):
    assert "system:masters" in out(cluster, "auth", "whoami")
    impersonated = out(cluster, "auth", "whoami", f"--as={CRONJOB_SA}")
    assert CRONJOB_SA in impersonated and "system:serviceaccounts:kosmos-dr" in impersonated


def test_reviews_are_create_only(cluster):
    with http(cluster) as client:
        answer = client.get("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    assert answer.status_code == 405 and answer.json()["kind"] == "Status"


# --- explain / OpenAPI v3 ---------------------------------------------------------------------


def test_explain_pod_containers(cluster):
    text = out(cluster, "explain", "pods.spec.containers")
    assert "FIELD: containers <[]Container>" in text
    assert "List of containers belonging to the pod." in text
    assert "name\t<string> -required-" in text
    probe = out(cluster, "explain", "pod.spec.containers.livenessProbe.periodSeconds")
    assert "Default to 10 seconds" in probe


def test_explain_statefulset(cluster):
    text = out(cluster, "explain", "statefulset")
    assert "KIND:       StatefulSet" in text and "GROUP:      apps" in text
    assert "StatefulSet represents a set of pods with consistent identities." in text
    assert "spec\t<StatefulSetSpec> -required-" in text and "apiVersion\t<string>" in text
    assert "volumeClaimTemplates\t<[]PersistentVolumeClaim>" in out(cluster, "explain", "sts.spec")


def test_explain_unknown_field(cluster):
    done = kubectl(cluster, "explain", "pods.spec.nosuchfield", check=False)
    assert done.returncode == 1 and 'field "nosuchfield" does not exist' in done.stderr.decode()


def test_openapi_v3_documents(cluster):
    with http(cluster) as client:
        index = client.get("/openapi/v3").json()["paths"]
        url = index["apis/apps/v1"]["serverRelativeURL"]
        doc = client.get(url).json()
    sts = doc["components"]["schemas"]["io.k8s.api.apps.v1.StatefulSet"]
    assert sts["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "StatefulSet", "version": "v1"}]
    # every reference resolves inside the document
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"].rsplit("/", 1)[-1])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(doc["components"])
    assert refs and refs <= set(doc["components"]["schemas"])



def test_openapi_v3_documents_let_kubectl_patch_as_against_a_real_api_server(cluster, tmp_path):
    """A built-in kind's PATCH takes strategic merge patches and its list fields carry their merge keys (as
    the real generator writes them from the types' markers), so kubectl builds its patch from the v3
    document: keyed by name, and without asking for ``/openapi/v2`` (which a real cluster is never asked)."""
    from pytest_kosmos_dr.sandbox.request_log import RECORDER

    with http(cluster) as client:
        url = client.get("/openapi/v3").json()["paths"]["apis/apps/v1"]["serverRelativeURL"]
        doc = client.get(url).json()
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    containers = doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert (containers["x-kubernetes-patch-merge-key"], containers["x-kubernetes-patch-strategy"]) == ("name", "merge")
    assert (containers["x-kubernetes-list-type"], containers["x-kubernetes-list-map-keys"]) == ("map", ["name"])
    volumes = doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["volumes"]
    assert volumes["x-kubernetes-patch-strategy"] == "merge,retainKeys"

    sts = json.loads(out(cluster, "get", "statefulset", "zeus-orchestrator", "-n", NS, "-o", "json"))
    container = sts["spec"]["template"]["spec"]["containers"][0]
    manifest = {"apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "zeus-orchestrator", "namespace": NS},
                "spec": {**{k: sts["spec"][k] for k in ("selector", "serviceName", "template")},
                         "template": {"metadata": sts["spec"]["template"]["metadata"],
                                      "spec": {"containers": [{"name": container["name"],
                                                               "image": container["image"] + "-next"}]}}}}
    before = len(RECORDER.entries())
    done = cluster.kubectl("apply", "-f", "-", "--dry-run=server", "--cache-dir", str(tmp_path / "cache"), "-v=9",
                           input=json.dumps(manifest).encode(), timeout=WAIT_S + 30)
    asked = [e["path"] for e in RECORDER.entries()[before:] if e["component"] == "kubernetes"]
    assert "/openapi/v2" not in asked, asked
    log = done.stderr.decode()
    assert "does not support strategic merge patch" not in log and "error calculating patch" not in log
    assert "$setElementOrder/containers" in log  # the containers merged by name, not the list replaced


def test_openapi_v3_documents_cache_as_kube_openapi_serves_them(cluster, tmp_path):
    """A document asked for by its current hash is immutable (Expires a year on: kubectl's HTTP cache then
    serves it without a request, as against a real API server); its ETag answers a conditional GET with 304;
    a stale hash is redirected to the current one; asked without a hash it is not cacheable."""
    from email.utils import parsedate_to_datetime

    with http(cluster) as client:
        url = client.get("/openapi/v3").json()["paths"]["apis/apps/v1"]["serverRelativeURL"]
        current = url.split("hash=", 1)[1]
        hashed = client.get(url)
        assert hashed.status_code == 200 and hashed.headers["Etag"] == f'"{current}"'
        assert hashed.headers["Cache-Control"] == "public, immutable" and hashed.headers["Vary"] == "Accept"
        expires = parsedate_to_datetime(hashed.headers["Expires"])
        assert expires - parsedate_to_datetime(hashed.headers["Date"]) > dt.timedelta(days=364)
        again = client.get(url, headers={"If-None-Match": f'"{current}"'})
        assert again.status_code == 304 and not again.content
        stale = client.get("/openapi/v3/apis/apps/v1?hash=0123ABCD")
        assert stale.status_code == 301 and stale.headers["Location"] == url
        plain = client.get("/openapi/v3/apis/apps/v1")
        assert plain.status_code == 200 and "Cache-Control" not in plain.headers and plain.content == hashed.content
        index = client.get("/openapi/v3")
        assert client.get("/openapi/v3", headers={"If-None-Match": index.headers["Etag"]}).status_code == 304

    cache = tmp_path / "kube-cache"
    manifest = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "openapi-cache-probe", "namespace": NS}, "data": {"a": "b"}})

    def dry_run_document_fetches() -> list[str]:
        """The group-version documents the API server was asked for during one ``kubectl apply --dry-run``."""
        from pytest_kosmos_dr.sandbox.request_log import RECORDER

        before = len(RECORDER.entries())
        cluster.kubectl("apply", "-f", "-", "--dry-run=server", "--cache-dir", str(cache),
                        input=manifest.encode(), timeout=WAIT_S + 30)
        return [e["path"] for e in RECORDER.entries()[before:]
                if e["component"] == "kubernetes" and e["path"].startswith("/openapi/v3/")]

    assert dry_run_document_fetches(), "the first dry run fetched no OpenAPI document (nothing to cache)"
    assert dry_run_document_fetches() == [], "kubectl asked the API server again for an immutable document"


# --- logs ---------------------------------------------------------------------------------------


def test_logs_since(cluster):
    day = out(cluster, "logs", "zeus-orchestrator-0", "-n", NS, "--since=24h")
    assert 'msg="ready"' in day
    assert out(cluster, "logs", "zeus-orchestrator-0", "-n", NS, "--since=5m") == ""
    cluster.component.append_log("zeus-orchestrator-0", 'level=info msg="checkpoint written"')
    recent = out(cluster, "logs", "zeus-orchestrator-0", "-n", NS, "--since=5m")
    assert recent == 'level=info msg="checkpoint written"\n'
    stamped = out(cluster, "logs", "zeus-orchestrator-0", "-n", NS, "--since=5m", "--timestamps")
    assert stamped.endswith(' level=info msg="checkpoint written"\n') and stamped[:4].isdigit()


def test_logs_previous(cluster):
    done = kubectl(cluster, "logs", "zeus-orchestrator-0", "-n", NS, "--previous", check=False)
    assert done.returncode == 1
    assert 'previous terminated container "agent" in pod "zeus-orchestrator-0" not found' in done.stderr.decode()
    fault = {f.name: f for f in cluster.component.faults()}["pod-crashloop"]
    before = out(cluster, "logs", "zeus-orchestrator-0", "-n", NS)
    asyncio.run_coroutine_threadsafe(fault.apply(), cluster.loop).result(timeout=WAIT_S)
    try:
        previous = out(cluster, "logs", "zeus-orchestrator-0", "-n", NS, "--previous")
        assert previous.startswith(before) and "level=fatal" in previous
        assert out(cluster, "logs", "zeus-orchestrator-0", "-n", NS) == ""
    finally:
        asyncio.run_coroutine_threadsafe(fault.revert(), cluster.loop).result(timeout=WAIT_S)
    assert out(cluster, "logs", "zeus-orchestrator-0", "-n", NS) == before
    assert kubectl(cluster, "logs", "zeus-orchestrator-0", "-n", NS, "--previous", check=False).returncode == 1


def test_logs_follow_streams_new_lines_until_the_client_goes(cluster):
    argv = ["kubectl", "--kubeconfig", cluster.state["kubeconfig"], "--context", "dr-cluster", "logs", "-f",
            "athena-analyst-0", "-n", NS, "--tail=1"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, b"")), daemon=True)
    reader.start()
    try:
        eventually(lambda: any(b'msg="ready"' in line for line in lines), "the last line arrives")
        cluster.component.append_log("athena-analyst-0", 'level=info msg="followed line"')
        eventually(lambda: any(b"followed line" in line for line in lines), "a new line is streamed")
        assert proc.poll() is None  # still following
    finally:
        proc.terminate()
        proc.wait(timeout=WAIT_S)
    # the server is not held up by the stream that went away
    assert "athena-analyst-0" in out(cluster, "get", "pods", "-n", NS)


def test_logs_follow_ends_when_the_container_stops(cluster, api_client):
    fault = {f.name: f for f in cluster.component.faults()}["pod-crashloop"]
    stream = k8s.CoreV1Api(api_client).read_namespaced_pod_log(
        "zeus-orchestrator-0", NS, follow=True, _preload_content=False, _request_timeout=WAIT_S)
    try:
        asyncio.run_coroutine_threadsafe(fault.apply(), cluster.loop).result(timeout=WAIT_S)
        body = stream.read()  # returns once the server ends the stream
        assert b'msg="ready"' in body
    finally:
        stream.release_conn()
        asyncio.run_coroutine_threadsafe(fault.revert(), cluster.loop).result(timeout=WAIT_S)


# --- defaults on create, protobuf creates ------------------------------------------------------------


def test_kubectl_create_job_is_decoded_and_defaulted(cluster):
    created = json.loads(out(cluster, "create", "job", "verbs-job", "--image=busybox:1.36", "-n", NS,
                             "--dry-run=server", "-o", "json", "--", "sh", "-c", "echo hi"))
    spec = created["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["command"] == ["sh", "-c", "echo hi"]
    assert (container["imagePullPolicy"], container["terminationMessagePath"], container["terminationMessagePolicy"]) \
        == ("IfNotPresent", "/dev/termination-log", "File")
    assert (spec["restartPolicy"], spec["dnsPolicy"], spec["schedulerName"], spec["terminationGracePeriodSeconds"]) \
        == ("Never", "ClusterFirst", "default-scheduler", 30)
    assert created["spec"]["backoffLimit"] == 6
    assert not cluster.component.store.exists(find_type("batch", "v1", "jobs"), NS, "verbs-job")


def test_kubectl_create_deployment_cronjob_service(cluster):
    deployment = json.loads(out(cluster, "create", "deployment", "verbs-web", "--image=nginx", "--port=8080",
                                "--replicas=0", "-n", NS, "--dry-run=server", "-o", "json"))
    assert deployment["spec"]["replicas"] == 0  # a pointer set to 0 stays 0
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert container["imagePullPolicy"] == "Always"  # untagged: latest
    cronjob = json.loads(out(cluster, "create", "cronjob", "verbs-cron", "--image=busybox:1.36",
                             "--schedule=*/5 * * * *", "-n", NS, "--dry-run=server", "-o", "json"))
    assert (cronjob["spec"]["concurrencyPolicy"], cronjob["spec"]["successfulJobsHistoryLimit"],
            cronjob["spec"]["failedJobsHistoryLimit"], cronjob["spec"]["suspend"]) == ("Allow", 3, 1, False)
    service = json.loads(out(cluster, "create", "service", "clusterip", "verbs-svc", "--tcp=80:8080", "-n", NS,
                             "--dry-run=server", "-o", "json"))
    assert service["spec"]["ports"][0] == {"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}
    assert service["spec"]["clusterIP"] and service["spec"]["sessionAffinity"] == "None"


def test_defaults_through_the_official_client(cluster, api_client):
    pod = k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="verbs-pod"), spec=k8s.V1PodSpec(containers=[k8s.V1Container(
        name="c", image="busybox:latest", ports=[k8s.V1ContainerPort(container_port=80)],
        resources=k8s.V1ResourceRequirements(limits={"cpu": "1"}),
        readiness_probe=k8s.V1Probe(http_get=k8s.V1HTTPGetAction(port=80)))]))
    # a plain body: in a full session pytester re-imports the client's model classes, and the API's
    # validation then refuses an instance of the other V1Pod
    body = api_client.sanitize_for_serialization(pod)
    created = k8s.CoreV1Api(api_client).create_namespaced_pod(NS, body, dry_run="All")
    container = created.spec.containers[0]
    assert container.image_pull_policy == "Always"
    assert container.ports[0].protocol == "TCP"
    assert container.resources.requests == {"cpu": "1"}
    probe = container.readiness_probe
    assert (probe.timeout_seconds, probe.period_seconds, probe.success_threshold, probe.failure_threshold) == (1, 10, 1, 3)
    assert (probe.http_get.path, probe.http_get.scheme) == ("/", "HTTP")
    assert created.spec.enable_service_links is True and created.spec.restart_policy == "Always"
    sts = k8s.AppsV1Api(api_client).create_namespaced_stateful_set(NS, k8s.V1StatefulSet(
        metadata=k8s.V1ObjectMeta(name="verbs-sts"), spec=k8s.V1StatefulSetSpec(
            service_name="verbs-sts", selector=k8s.V1LabelSelector(match_labels={"app": "verbs-sts"}),
            template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels={"app": "verbs-sts"}),
                                           spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c", image="x:1")])))),
        dry_run="All")
    assert (sts.spec.pod_management_policy, sts.spec.update_strategy.type, sts.spec.revision_history_limit) == \
        ("OrderedReady", "RollingUpdate", 10)
    assert sts.spec.template.spec.containers[0].termination_message_path == "/dev/termination-log"


def test_seeded_pods_read_right_in_describe(cluster):
    text = out(cluster, "describe", "pods", "-n", NS, "-l", "app.kubernetes.io/name=kosmos-api")
    assert "Readiness:  http-get http://:http/healthz delay=0s timeout=1s period=10s #success=1 #failure=3" in text
    assert "Port:           8080/TCP" in text


def test_a_body_without_kind_takes_the_endpoints(cluster):
    with http(cluster) as client:
        answer = client.post(f"/api/v1/namespaces/{NS}/configmaps?dryRun=All",
                             json={"metadata": {"name": "verbs-no-kind"}, "data": {"a": "b"}})
        assert answer.status_code == 201
        assert (answer.json()["kind"], answer.json()["apiVersion"]) == ("ConfigMap", "v1")
        wrong = client.post(f"/api/v1/namespaces/{NS}/configmaps?dryRun=All",
                            json={"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    assert wrong.status_code == 400 and wrong.json()["reason"] == "BadRequest"
    assert "does not match the expected API version (v1)" in wrong.json()["message"]


def test_protobuf_of_an_unknown_kind_is_415():
    body = protobuf.MAGIC + _field(1, _field(1, b"example.com/v1") + _field(2, b"Widget")) + _field(2, b"")
    with pytest.raises(Exception) as caught:
        protobuf.decode(body)
    assert caught.value.code == 415


def test_protobuf_decodes_ints_times_and_int_or_strings():
    meta = _field(1, b"probe") + _field(8, _varint_field(1, 1700000000))  # name, creationTimestamp
    port = _field(1, b"http") + _varint_field(3, 8080)  # name, containerPort
    int_or_string = _varint_field(1, 0) + _varint_field(2, 9000)
    probe = _field(1, _field(2, _field(2, int_or_string)))  # handler.httpGet.port = 9000
    container = _field(1, b"c") + _field(2, b"img") + _field(6, port) + _field(11, probe)  # readinessProbe
    pod_spec = _field(2, container)
    pod = _field(1, meta) + _field(2, pod_spec)
    body = protobuf.MAGIC + _field(1, _field(1, b"v1") + _field(2, b"Pod")) + _field(2, pod)
    decoded = protobuf.decode(body)
    assert decoded["metadata"] == {"name": "probe", "creationTimestamp": "2023-11-14T22:13:20Z"}
    container = decoded["spec"]["containers"][0]
    assert container["ports"] == [{"name": "http", "containerPort": 8080}]
    assert container["readinessProbe"] == {"httpGet": {"port": 9000}}  # ProbeHandler is inline


def _varint(value: int) -> bytes:
    out = b""
    while True:
        byte, value = value & 0x7F, value >> 7
        if value:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


# --- events age out, leases -----------------------------------------------------------------------


def test_events_age_out(cluster, api_client):
    core = k8s.CoreV1Api(api_client)
    event = core.create_namespaced_event(NS, {  # a plain body, as above
        "metadata": {"name": "verbs-event"}, "involvedObject": {"kind": "Pod", "name": "x"},
        "reason": "Test", "message": "ages out"})
    assert event.metadata.name == "verbs-event"
    store = cluster.component.store
    assert store.expire_events(3600) == 0  # nothing is an hour old
    gone = store.expire_events(3600, now=time.time() + 3601)  # an hour later: every event's lease has run out
    assert gone >= 1
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_event("verbs-event", NS)
    assert caught.value.status == 404


def test_control_plane_leases(cluster):
    table = out(cluster, "get", "leases", "-n", "kube-system")
    assert table.splitlines()[0].split() == ["NAME", "HOLDER", "AGE"]
    assert "kube-controller-manager" in table and "kube-scheduler" in table

    def renew_time() -> str:
        return json.loads(out(cluster, "get", "lease", "kube-controller-manager", "-n", "kube-system", "-o",
                              "json"))["spec"]["renewTime"]

    first = renew_time()
    eventually(lambda: renew_time() != first, "the controller manager renews its lease")


def test_paused_controller_manager_stops_renewing(cluster):
    fault = {f.name: f for f in cluster.component.faults()}["controllers-paused"]

    def lease() -> dict:
        return json.loads(out(cluster, "get", "lease", "kube-controller-manager", "-n", "kube-system",
                              "-o", "json"))["spec"]

    asyncio.run_coroutine_threadsafe(fault.apply(), cluster.loop).result(timeout=WAIT_S)
    try:
        held = lease()
        time.sleep(cluster.component.controllers.lease_retry_s * 2)  # two renewal periods, not a measured duration
        assert lease()["renewTime"] == held["renewTime"]
    finally:
        asyncio.run_coroutine_threadsafe(fault.revert(), cluster.loop).result(timeout=WAIT_S)
    back = eventually(lambda: (lambda s: s if s["holderIdentity"] != held["holderIdentity"] else None)(lease()),
                      "a new controller manager takes the lease")
    assert back["leaseTransitions"] == held["leaseTransitions"] + 1


def test_a_watch_older_than_the_history_is_expired():
    from pytest_kosmos_dr.sandbox.kube.status import ApiError
    from pytest_kosmos_dr.sandbox.kube.store import HISTORY_LIMIT, ClusterStore

    store = ClusterStore()
    config_maps = find_type("", "v1", "configmaps")
    start = int(store.resource_version)
    for i in range(HISTORY_LIMIT + 1):
        store.create(config_maps, {"metadata": {"name": f"cm-{i}", "namespace": NS}})
    with pytest.raises(ApiError) as caught:
        store.open_watch(config_maps, NS, lambda obj: True, str(start))
    assert (caught.value.code, caught.value.reason) == (410, "Expired")
    recent = store.open_watch(config_maps, NS, lambda obj: True, str(int(store.resource_version) - 1))
    assert recent.queue.qsize() == 1


def test_a_rendered_list_never_shares_what_a_later_write_changes():
    """``listed`` copies one level only: the store's writes must replace objects, never change them in place."""
    from pytest_kosmos_dr.sandbox.kube.store import ClusterStore

    store = ClusterStore()
    config_maps = find_type("", "v1", "configmaps")
    store.create(config_maps, {"metadata": {"name": "kosmos-config", "namespace": NS}, "data": {"mode": "dr"}})
    before = store.listed(config_maps, NS)[0]
    before["kind"] = "ConfigMap"  # what the server adds to each listed item
    changed = store.get(config_maps, NS, "kosmos-config")
    changed["data"]["mode"] = "production"
    store.update(config_maps, NS, "kosmos-config", changed)
    assert before["data"] == {"mode": "dr"} and "kind" not in store.peek(config_maps, NS)[0]
    assert store.listed(config_maps, NS)[0]["data"] == {"mode": "production"}
