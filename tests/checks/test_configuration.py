"""Configuration checks on plain data (no cluster): GitOps drift, the dry run's output, the bucket's bundle."""

import copy
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from pytest_kosmos_dr.checks import configuration
from pytest_kosmos_dr.checks.configuration import LAST_APPLIED, ConfigCheckout
from pytest_kosmos_dr.clients.kubeconfig import api_server

HEAD = "a" * 40
CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kosmos-config", "namespace": "kosmos"},
              "data": {"KOSMOS_LOG_LEVEL": "warn"}}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "kosmos-api", "namespace": "kosmos"},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "kosmos-api"}},
                       "template": {"metadata": {"labels": {"app": "kosmos-api"}},
                                    "spec": {"containers": [{"name": "api", "image": "kosmos/api:3.8.2"}]}}}}
POD = {"metadata": {"name": "kosmos-api-x", "labels": {"app": "kosmos-api"}},
       "spec": {"containers": [{"name": "api", "image": "kosmos/api:3.8.2"}]}}


def applied(obj: dict, manifest: dict | None = None) -> dict:
    """``obj`` as the cluster holds it after ``kubectl apply`` of ``manifest`` (default: itself)."""
    live = copy.deepcopy(obj)
    text = json.dumps({**copy.deepcopy(manifest or obj)}, sort_keys=True)
    live["metadata"]["annotations"] = {LAST_APPLIED: text}
    live["metadata"]["uid"] = "u-1"
    return live


def gitops(rendered, live_list, pods=(POD,), checkout=None):
    checkout = checkout or ConfigCheckout("file:///repo", "production", Path("/tmp"), HEAD)
    live = {configuration._key(o): o for o in live_list}
    return configuration.gitops_in_sync(checkout, "overlays/production", rendered, None, live, "dr-cluster",
                                        applied=[o for o in live_list if LAST_APPLIED in o["metadata"].get("annotations", {})],
                                        pods=list(pods))


def test_gitops_passes_when_the_cluster_runs_exactly_the_rendering():
    result = gitops([CONFIG_MAP, DEPLOYMENT], [applied(CONFIG_MAP), applied(DEPLOYMENT)])
    assert result.passed, result.summary


def test_gitops_fails_on_an_overlay_that_renders_nothing():
    result = gitops([], [applied(CONFIG_MAP)])
    assert not result.passed and "renders 0 objects" in result.summary


def test_gitops_fails_on_an_object_deleted_from_git_that_still_runs():
    orphan = applied({**CONFIG_MAP, "metadata": {"name": "kosmos-flags", "namespace": "kosmos"}})
    result = gitops([CONFIG_MAP, DEPLOYMENT], [applied(CONFIG_MAP), applied(DEPLOYMENT), orphan])
    assert not result.passed
    assert "ConfigMap/kosmos-flags (ns kosmos): applied from Git once, no longer rendered" in result.summary


def test_gitops_fails_on_a_key_git_removed_but_the_cluster_still_has():
    older = {**CONFIG_MAP, "data": {**CONFIG_MAP["data"], "KOSMOS_DEBUG": "true"}}
    result = gitops([CONFIG_MAP, DEPLOYMENT], [applied(older), applied(DEPLOYMENT)])
    assert not result.passed
    assert "data.KOSMOS_DEBUG is set in the cluster, not in Git" in result.summary
    assert "last applied from another revision" in result.summary


def test_gitops_fails_when_pods_run_another_image_than_the_matching_deployment():
    old_pod = copy.deepcopy(POD)
    old_pod["spec"]["containers"][0]["image"] = "kosmos/api:3.7.4"
    result = gitops([DEPLOYMENT], [applied(DEPLOYMENT)], pods=[old_pod])
    assert not result.passed and "runs kosmos/api:3.7.4, Git renders kosmos/api:3.8.2" in result.summary


def test_gitops_still_fails_on_plain_drift():
    live = applied({**CONFIG_MAP, "data": {"KOSMOS_LOG_LEVEL": "debug-hotfix"}}, CONFIG_MAP)
    result = gitops([CONFIG_MAP], [live], pods=[])
    assert not result.passed and "data.KOSMOS_LOG_LEVEL: Git 'warn', cluster 'debug-hotfix'" in result.summary


class Done:
    def __init__(self, returncode, stdout="", stderr=""):
        self.done = subprocess.CompletedProcess(["kubectl"], returncode, stdout, stderr)

    def result(self, timeout=0):
        return self.done


CHECKOUT = ConfigCheckout("file:///repo", "production", Path("/tmp"), HEAD)
APPLIED_BOTH = ("configmap/kosmos-config unchanged (server dry run)\n"
                "deployment.apps/kosmos-api unchanged (server dry run)\n")


def dry_run(job, rendered=(CONFIG_MAP, DEPLOYMENT)):
    return configuration.apply_dry_run(CHECKOUT, "overlays/production", "", "dr-cluster", job, rendered=list(rendered))


def test_apply_passes_when_every_rendered_object_applies_without_warnings():
    result = dry_run(Done(0, APPLIED_BOTH))
    assert result.passed and "(2 objects, no warnings)" in result.summary


@pytest.mark.parametrize(("job", "rendered", "reason"), [
    (Done(0, APPLIED_BOTH, "Warning: resource services/zeus is missing the kubectl.kubernetes.io/last-applied-"
                           "configuration annotation"), (CONFIG_MAP, DEPLOYMENT), "the apply warns: resource services/zeus"),
    (Done(0, "configmap/kosmos-config unchanged (server dry run)\n"), (CONFIG_MAP, DEPLOYMENT),
     "1 rendered object(s) not applied: Deployment/kosmos-api"),
    (Done(0, ""), (), "the dry run applied 0 objects"),
    (Done(1, "", 'Error from server (Forbidden): error when applying patch: from server for: "x": statefulsets "z" is '
                 'forbidden: frozen'), (CONFIG_MAP,), 'statefulsets "z" is forbidden: frozen'),
])
def test_apply_fails_and_says_why(job, rendered, reason):
    result = dry_run(job, rendered)
    assert not result.passed
    assert reason in result.summary, result.summary


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    path.mkdir()
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "production"], check=True)
    for n in range(2):
        (path / "f.txt").write_text(f"{n}\n" * 2000)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", f"c{n}"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    return path, ConfigCheckout(str(path), "production", path, head)


def bundle(path, tmp_path, *revisions):
    out = tmp_path / "b.bundle"
    subprocess.run(["git", "-C", str(path), "bundle", "create", "-q", str(out), *revisions], check=True)
    return out.read_bytes()


def mirror(checkout, data, tmp_path):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return configuration.mirror_matches(checkout, "kosmos-backups", "config/k.bundle", data, work)


def test_mirror_passes_for_a_full_bundle_of_the_head(repo, tmp_path):
    path, checkout = repo
    result = mirror(checkout, bundle(path, tmp_path, "--all"), tmp_path)
    assert result.passed and "a clone from it restores that commit" in result.summary


def test_mirror_fails_for_a_truncated_bundle_that_still_names_the_head(repo, tmp_path):
    path, checkout = repo
    data = bundle(path, tmp_path, "--all")
    cut = data.index(b"\n\n") + 2
    result = mirror(checkout, data[:cut + (len(data) - cut) // 2], tmp_path)
    assert not result.passed and "does not restore" in result.summary, result.summary


def test_mirror_fails_for_an_incremental_bundle(repo, tmp_path):
    path, checkout = repo
    result = mirror(checkout, bundle(path, tmp_path, "production", "^production~1"), tmp_path)
    assert not result.passed and "lacks these prerequisite commits" in result.summary, result.summary


def test_mirror_fails_for_an_older_commit_or_another_branch(repo, tmp_path):
    path, checkout = repo
    older = ConfigCheckout(checkout.url, checkout.branch, checkout.path, "b" * 40)
    assert "repository head is bbbbbbbbbbbb" in mirror(older, bundle(path, tmp_path, "--all"), tmp_path).summary
    other = ConfigCheckout(checkout.url, "release", checkout.path, checkout.head)
    assert "is not a Git bundle with branch release" in mirror(other, bundle(path, tmp_path, "--all"), tmp_path).summary


# --- every rendered kind, through the cluster's API discovery ---------------------------------------------

from pytest_kosmos_dr.clients.kube import Discovery  # noqa: E402
from pytest_kosmos_dr.errors import DRUnverifiable  # noqa: E402

INGRESS = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": "kosmos-api", "namespace": "kosmos"},
           "spec": {"ingressClassName": "alb", "rules": [{"host": "api.kosmos.internal", "http": {"paths": [
               {"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "kosmos-api", "port": {"name": "http"}}}}]}}]}}
PDB = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "kosmos-api", "namespace": "kosmos"},
       "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "kosmos-api"}}}}


def _resources(*entries):
    return {"kind": "APIResourceList", "resources": [
        {"name": plural, "kind": kind, "namespaced": namespaced, "verbs": ["get", "list", "patch"]}
        for plural, kind, namespaced in entries] + [{"name": "ingresses/status", "kind": "Ingress", "namespaced": True}]}


# what GET /api, /apis and each group version answer (a cluster serving neither policy/v1 nor autoscaling)
DOCUMENTS = {
    "/api": {"kind": "APIVersions", "versions": ["v1"]},
    "/apis": {"kind": "APIGroupList", "groups": [
        {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}]},
        {"name": "batch", "versions": [{"groupVersion": "batch/v1", "version": "v1"}]},
        {"name": "networking.k8s.io", "versions": [{"groupVersion": "networking.k8s.io/v1", "version": "v1"}]}]},
    "/api/v1": _resources(("configmaps", "ConfigMap", True), ("services", "Service", True),
                          ("namespaces", "Namespace", False)),
    "/apis/apps/v1": _resources(("deployments", "Deployment", True), ("statefulsets", "StatefulSet", True)),
    "/apis/batch/v1": _resources(("cronjobs", "CronJob", True)),
    "/apis/networking.k8s.io/v1": _resources(("ingresses", "Ingress", True)),
}


class FakeCluster:
    """A DR cluster's discovery documents and lists, as plain data (``get_json`` as DRCluster's)."""

    def __init__(self, lists, documents=DOCUMENTS, down=False):
        self.lists, self.documents, self.down, self.requests = lists, documents, down, []

    def get_json(self, path, query=None, *, missing_ok=False):
        self.requests.append(path)
        if self.down:
            raise DRUnverifiable("DR cluster API (context dr-cluster)", "connection refused")
        if path not in self.documents:
            if missing_ok:
                return None
            raise DRUnverifiable(f"DR cluster API GET {path}", "HTTP 404 Not Found")
        return copy.deepcopy(self.documents[path])

    def discovery(self):
        if not hasattr(self, "_discovery"):
            self._discovery = Discovery(self.get_json)
        return self._discovery

    def list(self, path):
        self.requests.append(path)
        return copy.deepcopy(self.lists.get(path, []))


def _listed(obj):
    """``obj`` as a list item: the API server leaves out apiVersion and kind."""
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}


def gitops_through_discovery(cluster, rendered, pods=(POD,)):
    rendered = copy.deepcopy(rendered)
    kinds, live, applied_objs = configuration.gitops_reads(cluster, rendered, "kosmos")
    checkout = ConfigCheckout("file:///repo", "production", Path("/tmp"), HEAD)
    return configuration.gitops_in_sync(checkout, "overlays/production", rendered, None, live, "dr-cluster",
                                        applied=applied_objs, pods=list(pods), unserved=kinds.unserved)


LIVE = {
    "/api/v1/namespaces/kosmos/configmaps": [_listed(applied(CONFIG_MAP))],
    "/apis/apps/v1/namespaces/kosmos/deployments": [_listed(applied(DEPLOYMENT))],
    "/apis/networking.k8s.io/v1/namespaces/kosmos/ingresses": [_listed(applied(INGRESS))],
}


def test_discovery_maps_a_rendered_ingress_to_its_collection_and_it_is_compared():
    cluster = FakeCluster(LIVE)
    result = gitops_through_discovery(cluster, [CONFIG_MAP, DEPLOYMENT, INGRESS])
    assert result.passed, result.summary
    assert "3 objects" in result.summary
    assert "/apis/networking.k8s.io/v1/namespaces/kosmos/ingresses" in cluster.requests
    assert cluster.requests.count("/apis") == 1  # discovery is read once per run, not per kind


def test_an_ingress_changed_in_the_cluster_fails_naming_it():
    drifted = copy.deepcopy(INGRESS)
    drifted["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "kosmos-maintenance-page"
    live = {**LIVE, "/apis/networking.k8s.io/v1/namespaces/kosmos/ingresses": [_listed(applied(drifted, INGRESS))]}
    result = gitops_through_discovery(FakeCluster(live), [CONFIG_MAP, DEPLOYMENT, INGRESS])
    assert not result.passed
    assert ("Ingress/kosmos-api (ns kosmos): spec.rules[0].http.paths[0].backend.service.name: Git 'kosmos-api', "
            "cluster 'kosmos-maintenance-page'") in result.summary


def test_a_rendered_kind_the_cluster_does_not_serve_fails():
    result = gitops_through_discovery(FakeCluster(LIVE), [CONFIG_MAP, DEPLOYMENT, INGRESS, PDB])
    assert not result.passed
    assert ("overlays/production renders PodDisruptionBudget (policy/v1) but the DR cluster does not serve it "
            "(kosmos-api)") in result.summary


def test_a_group_version_listed_but_without_the_kind_is_not_served():
    documents = {**DOCUMENTS, "/apis": {"groups": [*DOCUMENTS["/apis"]["groups"],
                                                   {"name": "policy", "versions": [{"groupVersion": "policy/v1"}]}]},
                 "/apis/policy/v1": _resources(("evictions", "Eviction", True))}
    kinds = configuration.rendered_kinds(FakeCluster({}, documents).discovery(), [PDB, INGRESS])
    assert kinds.unserved == (("policy/v1", "PodDisruptionBudget"),)
    assert kinds.served[("networking.k8s.io/v1", "Ingress")].collection_path("kosmos") == \
        "/apis/networking.k8s.io/v1/namespaces/kosmos/ingresses"


def test_discovery_that_cannot_be_read_is_unverifiable_not_failed():
    with pytest.raises(DRUnverifiable, match="connection refused"):
        configuration.rendered_kinds(FakeCluster({}, down=True).discovery(), [CONFIG_MAP, INGRESS])
    with pytest.raises(DRUnverifiable, match="no group versions"):
        configuration.rendered_kinds(FakeCluster({}, documents={}).discovery(), [CONFIG_MAP])


def test_objects_applied_from_git_are_looked_for_in_kinds_the_overlay_no_longer_renders():
    orphan = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "kosmos-reindex", "namespace": "kosmos"},
              "spec": {"schedule": "17 * * * *"}}
    live = {**LIVE, "/apis/batch/v1/namespaces/kosmos/cronjobs": [_listed(applied(orphan))]}
    result = gitops_through_discovery(FakeCluster(live), [CONFIG_MAP, DEPLOYMENT, INGRESS])
    assert not result.passed
    assert "CronJob/kosmos-reindex (ns kosmos): applied from Git once, no longer rendered" in result.summary


def test_a_rendered_object_without_a_kind_fails():
    result = gitops_through_discovery(FakeCluster(LIVE), [CONFIG_MAP, {"metadata": {"name": "x"}}])
    assert not result.passed and "without apiVersion, kind or name" in result.summary


def test_the_gitops_reads_list_each_collection_once_and_find_what_reading_one_after_another_finds():
    orphan = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "kosmos-reindex", "namespace": "kosmos"},
              "spec": {"schedule": "17 * * * *"}}
    live = {**LIVE, "/apis/batch/v1/namespaces/kosmos/cronjobs": [_listed(applied(orphan))]}
    rendered = [CONFIG_MAP, DEPLOYMENT, INGRESS, PDB]
    together = FakeCluster(live)
    kinds, found, applied_objs = configuration.gitops_reads(together, copy.deepcopy(rendered), "kosmos")
    one_by_one = FakeCluster(live)
    alone = copy.deepcopy(rendered)
    expected = configuration.rendered_kinds(one_by_one.discovery(), alone)
    assert kinds == expected
    assert found == configuration.live_objects_for(one_by_one, alone, "kosmos", expected)
    assert applied_objs == configuration.applied_objects(one_by_one, alone, "kosmos", expected)
    assert sorted(together.requests) == sorted(set(together.requests))  # every document and collection once
    assert set(together.requests) == set(one_by_one.requests)


def test_the_gitops_reads_of_a_cluster_that_cannot_be_read_are_unverifiable():
    with pytest.raises(DRUnverifiable, match="connection refused"):
        configuration.gitops_reads(FakeCluster({}, down=True), [CONFIG_MAP, INGRESS], "kosmos")


# -- the server-side dry run, as kubectl apply -k runs it: the rendering, then kubectl apply -f - ----------
RENDERED_YAML = """apiVersion: v1
kind: ConfigMap
metadata:
  name: kosmos-config
data:
  note: |
    ---
    not a document start (indented)
---
apiVersion: v1
kind: Service
metadata:
  name: kosmos-api
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kosmos-api
---
apiVersion: "networking.k8s.io/v1"
kind: Ingress
metadata:
  name: kosmos-api
"""


def test_the_rendering_is_split_into_runs_of_one_api_version_in_its_order():
    parts = configuration.rendered_parts(RENDERED_YAML, 3)  # the last two together are no longer than v1's run
    assert [configuration._parts_label(p) for p in parts] == [
        "v1 (2 objects)", "apps/v1 + networking.k8s.io/v1 (2 objects)"]
    assert "    ---\n    not a document start" in parts[0]
    joined = "---\n".join(parts)
    assert [line for line in joined.splitlines() if line.strip()] == \
        [line for line in RENDERED_YAML.splitlines() if line.strip()]  # every document, verbatim, in order
    merged = configuration.rendered_parts(RENDERED_YAML, 2)
    assert [configuration._parts_label(p) for p in merged] == ["v1 (2 objects)",
                                                                "apps/v1 + networking.k8s.io/v1 (2 objects)"]
    assert configuration.rendered_parts("", 4) == []
    halved = configuration.rendered_parts(RENDERED_YAML, 5)  # parts to spare: the longest run is halved
    assert [configuration._parts_label(p) for p in halved] == [
        "v1 (1 object)", "v1 (1 object)", "apps/v1 (1 object)", "networking.k8s.io/v1 (1 object)"]
    assert [line for line in "---\n".join(halved).splitlines() if line.strip()] == \
        [line for line in RENDERED_YAML.splitlines() if line.strip()]


def test_parts_no_longer_than_the_longest_share_a_kubectl():
    """The sandbox's shape: 5 v1, 4 apps/v1, 1 networking.k8s.io/v1 objects in at most 5 parts: halved to
    3+2 / 2+2 / 1, then the lone Ingress joins the last Deployments' part (3 objects, as long as the longest)."""
    def doc(version, kind, name):
        return f"apiVersion: {version}\nkind: {kind}\nmetadata:\n  name: {name}\n"

    rendering = "---\n".join([doc("v1", "ConfigMap", "c"), *(doc("v1", "Service", f"s{i}") for i in range(4)),
                              *(doc("apps/v1", "StatefulSet", f"a{i}") for i in range(4)),
                              doc("networking.k8s.io/v1", "Ingress", "i")])
    parts = configuration.rendered_parts(rendering, 5)
    assert [configuration._parts_label(p) for p in parts] == [
        "v1 (3 objects)", "v1 (2 objects)", "apps/v1 (2 objects)", "apps/v1 + networking.k8s.io/v1 (3 objects)"]
    assert "---\n".join(parts) == rendering  # every document, in order
    assert [configuration._parts_label(p) for p in configuration.rendered_parts(rendering, 3)] == [
        "v1 (5 objects)", "apps/v1 + networking.k8s.io/v1 (5 objects)"]  # 4 + 1 objects: no longer than v1's 5


FAKE_KUBECTL = """import sys
text = sys.stdin.read()
names = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("  name:")]
kinds = [line.split(":", 1)[1].strip().lower() for line in text.splitlines() if line.startswith("kind:")]
for kind, name in zip(kinds, names):
    if name == "broken":
        print(f'Error from server (Invalid): error when applying patch to {kind}/{name}: invalid', file=sys.stderr)
        sys.exit(1)
    print(f"{kind}/{name} unchanged (server dry run)")
print("Warning: part of " + str(len(names)), file=sys.stderr)
"""


class Rendered:
    """A finished ``kubectl kustomize`` (what ``KubectlJob.result`` gives)."""

    def __init__(self, stdout, returncode=0, stderr=""):
        self.done = subprocess.CompletedProcess(["kubectl", "kustomize"], returncode, stdout, stderr)
        self.killed = False

    def result(self, timeout=0):
        return self.done

    def kill(self):
        self.killed = True


def dry_run_job(monkeypatch, rendered, round_trip):
    import sys

    monkeypatch.setattr(configuration, "api_round_trip", lambda kubeconfig, context: round_trip)
    return configuration.DryRunJob(rendered, [sys.executable, "-c", FAKE_KUBECTL], "", "dr-cluster")


SHOW_GO_RUNTIME = "import os, sys; sys.stdin.read(); print(os.environ.get('GOGC'), os.environ.get('GOMEMLIMIT'))"


@pytest.mark.parametrize("users", [{}, {"GOGC": "100"}])
def test_kubectl_runs_with_a_laxer_go_collector_unless_the_user_sets_one(monkeypatch, users):
    """kustomize's and the dry run's kubectl get GOGC/GOMEMLIMIT (less CPU in Go's collector); a user's own win."""
    import sys

    from pytest_kosmos_dr.clients.kube import GO_RUNTIME, KubectlJob

    monkeypatch.setattr(configuration, "api_round_trip", lambda kubeconfig, context: None)
    for name in GO_RUNTIME:
        monkeypatch.delenv(name, raising=False)
    for name, value in users.items():
        monkeypatch.setenv(name, value)
    expected = "100 None" if users else f"{GO_RUNTIME['GOGC']} {GO_RUNTIME['GOMEMLIMIT']}"
    assert KubectlJob([sys.executable, "-c", SHOW_GO_RUNTIME]).result().stdout.strip() == expected
    job = configuration.DryRunJob(Rendered(RENDERED_YAML), [sys.executable, "-c", SHOW_GO_RUNTIME], "", "dr-cluster")
    assert job.result().stdout.strip() == expected


@pytest.mark.parametrize("round_trip", [None, 0.001, 0.1])
def test_the_dry_run_gives_one_answer_in_the_renderings_order_however_it_is_split(monkeypatch, round_trip):
    job = dry_run_job(monkeypatch, Rendered(RENDERED_YAML), round_trip)
    done = job.result()
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["configmap/kosmos-config unchanged (server dry run)",
                                        "service/kosmos-api unchanged (server dry run)",
                                        "deployment/kosmos-api unchanged (server dry run)",
                                        "ingress/kosmos-api unchanged (server dry run)"]
    far = round_trip is not None and round_trip >= configuration.SPLIT_FROM_S
    assert len(job.parts) == (4 if far else 1)  # (MAX_PARTS is 5: the v1 run halved)
    assert done.stderr.count("Warning: part of") == len(job.parts)
    shown = job.shown("overlays/production", "dr-cluster")
    assert shown.startswith("kubectl kustomize overlays/production | kubectl apply -f - --dry-run=server "
                            "--context=dr-cluster")
    assert ("4 concurrent kubectl apply runs" in shown) is far


class SlowRendering(Rendered):
    """A rendering that is in only when ``ready`` is set."""

    def __init__(self, stdout):
        super().__init__(stdout)
        self.ready = threading.Event()

    def result(self, timeout=0):
        assert self.ready.wait(10), "the test never let the rendering finish"
        return self.done


def _wait_for(condition, what):
    for _ in range(500):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def test_far_the_kubectls_start_before_the_rendering_is_in_and_the_unneeded_are_killed(monkeypatch):
    rendering = SlowRendering(RENDERED_YAML)
    job = dry_run_job(monkeypatch, rendering, 0.1)
    _wait_for(lambda: len(job._waiting) == configuration.MAX_PARTS, "the kubectls started while rendering")
    waiting = list(job._waiting)
    assert all(p.poll() is None for p in waiting)  # each waits for its objects
    rendering.ready.set()
    done = job.result()
    assert done.returncode == 0 and done.stderr.count("Warning: part of") == len(job.parts) == 4
    assert job._processes == waiting[:4]  # the parts went to the kubectls already started
    assert waiting[4].returncode == -9 and not job._waiting  # the fifth had nothing to do: killed unfed
    assert all(p.poll() is not None for p in waiting)


def test_a_dry_run_killed_while_its_kubectls_wait_leaves_none_running(monkeypatch):
    rendering = SlowRendering(RENDERED_YAML)
    job = dry_run_job(monkeypatch, rendering, 0.1)
    _wait_for(lambda: len(job._waiting) == configuration.MAX_PARTS, "the kubectls started while rendering")
    waiting = list(job._waiting)
    job.kill()
    rendering.ready.set()
    done = job.result()
    assert done.returncode == -9 and "killed before it started" in done.stderr
    assert all(p.returncode == -9 for p in waiting) and not job._processes


def test_a_large_part_is_fed_while_its_answer_is_read(monkeypatch):
    """A part larger than a pipe holds, whose kubectl answers as it reads, does not deadlock."""
    import sys

    echo = "import sys\nfor line in sys.stdin: sys.stdout.write(line); sys.stderr.write(line)\n"
    monkeypatch.setattr(configuration, "api_round_trip", lambda kubeconfig, context: None)
    big = RENDERED_YAML * 2000  # ~1 MB in, the same out on both pipes
    job = configuration.DryRunJob(Rendered(big), [sys.executable, "-c", echo], "", "dr-cluster")
    done = job.result(timeout=60)
    assert done.returncode == 0 and done.stdout == big and done.stderr == big


def test_a_part_that_fails_fails_the_dry_run_with_its_own_words(monkeypatch):
    broken = RENDERED_YAML.replace("name: kosmos-api\n---\napiVersion: apps/v1",
                                   "name: broken\n---\napiVersion: apps/v1")  # the Service
    done = dry_run_job(monkeypatch, Rendered(broken), 0.1).result()
    assert done.returncode == 1
    assert "service/broken: invalid" in done.stderr
    assert "deployment/kosmos-api unchanged (server dry run)" in done.stdout  # the other parts still answered


def test_a_rendering_that_fails_is_the_dry_runs_answer(monkeypatch):
    done = dry_run_job(monkeypatch, Rendered("", 1, "error: accumulating resources: missing.yaml"), 0.1).result()
    assert done.returncode == 1 and "accumulating resources" in done.stderr


def test_the_dry_run_check_shows_what_was_run(monkeypatch):
    job = dry_run_job(monkeypatch, Rendered(RENDERED_YAML), 0.1)
    checkout = ConfigCheckout("file:///repo", "production", Path("/tmp"), HEAD)
    result = configuration.apply_dry_run(checkout, "overlays/production", "", "dr-cluster", job)
    assert not result.passed and "the apply warns" in result.summary  # (the fake kubectl warns per part)
    assert result.evidence[0].asked.startswith("kubectl kustomize overlays/production | kubectl apply -f - ")
    assert "v1 (1 object), v1 (1 object), apps/v1 (1 object), networking.k8s.io/v1 (1 object)" in result.evidence[0].asked


def test_the_api_server_is_found_in_the_kubeconfig_as_kubectl_merges_it(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_text("contexts: [{name: dr-cluster, context: {cluster: dr}}]\n"
                     "clusters: [{name: dr, cluster: {server: 'https://dr.example:6443'}}]\n")
    second.write_text("clusters: [{name: dr, cluster: {server: 'https://other.example'}},"
                      " {name: px, cluster: {server: 'https://px.example', proxy-url: 'http://proxy:3128'}}]\n"
                      "contexts: [{name: behind-proxy, context: {cluster: px}}]\n")
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    assert api_server("", "dr-cluster") == "https://dr.example:6443"
    assert api_server(str(second), "dr-cluster") is None  # no such context there
    assert api_server("", "behind-proxy") is None  # not measured: kubectl goes through a proxy
    (tmp_path / "list").write_text("- not a kubeconfig\n")
    (tmp_path / "odd").write_text("contexts: [just-a-name, {name: dr-cluster, context: null}]\nclusters: 3\n")
    assert api_server(str(tmp_path / "list"), "dr-cluster") is None
    assert api_server(str(tmp_path / "odd"), "dr-cluster") is None
    assert configuration.api_round_trip(str(tmp_path / "missing"), "dr-cluster") is None


def test_a_round_trip_to_the_api_is_measured_and_an_api_that_does_not_answer_is_none(tmp_path, monkeypatch):
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer():  # each connection: whatever arrives is answered once (the server's first handshake message)
        for _ in range(configuration.PROBES):
            conn, _ = listener.accept()
            with conn:
                if conn.recv(1024):
                    conn.sendall(b"\x16\x03\x03")

    server = threading.Thread(target=answer, daemon=True)
    server.start()
    config = tmp_path / "kubeconfig"
    config.write_text(f"contexts: [{{name: dr-cluster, context: {{cluster: dr}}}}]\n"
                      f"clusters: [{{name: dr, cluster: {{server: 'https://127.0.0.1:{port}'}}}}]\n")
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    measured = configuration.api_round_trip(str(config), "dr-cluster")
    server.join(timeout=configuration.PROBE_TIMEOUT_S)
    listener.close()
    assert measured is not None and measured >= 0
    assert configuration.api_round_trip(str(config), "dr-cluster") is None  # nobody listens there any more
