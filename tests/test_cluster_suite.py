"""DR cluster and configuration checks (REC-DR-NODES, REC-DR-PODS, VAL-POD-METRICS, SCN-MULTI-AZ,
BAK-CONFIG-GITOPS, BAK-CONFIG-MIRROR, REC-CONFIG-APPLY): pass on the healthy sandbox (every pod with
limits, the agents on regional volumes); each fails alone, naming the offending object, when the
cluster is broken with the real kubectl, the official client, or a named sandbox fault."""

import json
import shutil
import subprocess

import pytest

from conftest import run_suite

SUITES = ("test_dr_cluster.py", "test_configuration.py")
CHECKS = {
    "REC-DR-NODES": "test_every_dr_cluster_node_is_ready",
    "REC-DR-PODS": "test_every_pod_in_kosmos_is_running_and_ready",
    "VAL-POD-METRICS": "test_every_kosmos_pod_has_metrics_under_its_limits",
    "SCN-MULTI-AZ": "test_kosmos_survives_the_loss_of_one_zone",
    "BAK-CONFIG-GITOPS": "test_dr_cluster_runs_what_the_production_branch_renders",
    "REC-CONFIG-APPLY": "test_production_overlay_applies_as_a_server_side_dry_run",
    "BAK-CONFIG-MIRROR": "test_bucket_copy_of_the_configuration_is_the_production_head",
}

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


def kubectl(sandbox, *args: str) -> str:
    kube = sandbox.state["kubernetes"]
    done = subprocess.run(["kubectl", "--kubeconfig", kube["kubeconfig"], "--context", kube["context"], *args],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def assert_only_failing(result, criterion: str, message: str) -> None:
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1 and "broken" not in outcomes, result.stdout.str()
    result.stdout.fnmatch_lines([f"DR check failed: {criterion}: {message}", f"FAILED *::{CHECKS[criterion]}*"])


def test_cluster_and_configuration_checks_pass_on_the_healthy_sandbox(sandbox, pytester):
    result = run_suite(pytester, *SUITES, "-v")
    assert result.parseoutcomes() == {"passed": len(CHECKS)}


@pytest.mark.slow  # the fault matrix: a fault twin made with a real client
def test_node_not_ready_set_with_the_official_client_fails_the_node_check(sandbox, pytester):
    from kubernetes import client, config

    kube = sandbox.state["kubernetes"]
    api = client.CoreV1Api(config.new_client_from_config(kube["kubeconfig"], context=kube["context"]))
    original = api.read_node_status("dr-node-c").status.conditions
    changed = [{"type": c.type, "status": ("False" if c.type == "Ready" else c.status), "reason": c.reason,
                "message": ("PLEG is not healthy" if c.type == "Ready" else c.message)} for c in original]
    api.patch_node_status("dr-node-c", {"status": {"conditions": changed}})
    try:
        result = run_suite(pytester, *SUITES, "-rf")
    finally:
        api.patch_node_status("dr-node-c", {"status": {"conditions": [
            {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message} for c in original]}})
    assert_only_failing(result, "REC-DR-NODES", "*1 of 3 nodes not Ready: node/dr-node-c: Ready=False*PLEG is not healthy*")


@pytest.mark.slow  # the fault matrix: a fault twin made with a real client
def test_metrics_over_limits_annotated_with_kubectl_fail_the_metrics_check(sandbox, pytester):
    kubectl(sandbox, "annotate", "pod", "zeus-orchestrator-0", "-n", "kosmos",
            "sandbox.kosmos.dr/metrics-memory=9Gi", "--overwrite")
    top = kubectl(sandbox, "top", "pods", "-n", "kosmos")
    assert "zeus-orchestrator-0" in top
    try:
        result = run_suite(pytester, *SUITES, "-rf")
    finally:
        kubectl(sandbox, "annotate", "pod", "zeus-orchestrator-0", "-n", "kosmos", "sandbox.kosmos.dr/metrics-memory-")
    assert_only_failing(result, "VAL-POD-METRICS",
                        "*pod/zeus-orchestrator-0 container agent: memory 9216Mi, limit *Mi*")


@pytest.mark.slow  # the fault matrix: a fault twin made with a real client
def test_configmap_drift_made_with_kubectl_fails_the_gitops_check(sandbox, pytester):
    original = json.loads(kubectl(sandbox, "get", "configmap", "kosmos-config", "-n", "kosmos", "-o", "json"))["data"]
    kubectl(sandbox, "patch", "configmap", "kosmos-config", "-n", "kosmos", "--type=merge",
            "-p", json.dumps({"data": {"KOSMOS_ENV": "us-east-1"}}))
    try:
        result = run_suite(pytester, *SUITES, "-rf")
    finally:
        kubectl(sandbox, "patch", "configmap", "kosmos-config", "-n", "kosmos", "--type=merge",
                "-p", json.dumps({"data": {"KOSMOS_ENV": original.get("KOSMOS_ENV")}}))
    assert_only_failing(result, "BAK-CONFIG-GITOPS",
                        "*ConfigMap/kosmos-config (ns kosmos): data.KOSMOS_ENV: Git *, cluster 'us-east-1'*")


@pytest.mark.parametrize(
    ("fault_name", "criterion", "message"),
    [
        ("node-not-ready", "REC-DR-NODES", "*node/dr-node-b: Ready=Unknown (NodeStatusUnknown*"),
        ("pod-crashloop", "REC-DR-PODS",
         "*pod/zeus-orchestrator-0 container agent: waiting CrashLoopBackOff, 7 restarts*"),
        ("container-not-ready", "REC-DR-PODS", "*pod/athena-analyst-0 container agent: not Ready*"),
        ("single-zone", "SCN-MULTI-AZ",
         "*Deployment/kosmos-api: Ready replicas in 1 zone(s) (us-west-2a), need 2*"),
        ("config-drift", "BAK-CONFIG-GITOPS", "*data.KOSMOS_LOG_LEVEL: Git *, cluster 'debug-hotfix'*"),
        # wrong worlds (docs/wrong-worlds/cluster.md): what a naive check reads still looks healthy
        ("node-heartbeat-stale", "REC-DR-NODES",
         "*1 of 3 nodes not Ready: node/dr-node-c: Ready=True is stale: the kubelet's last heartbeat was 17m ago (limit 10m)*"),
        ("node-disk-pressure", "REC-DR-NODES",
         "*node/dr-node-b: DiskPressure=True (KubeletHasDiskPressure); "
         "node/dr-node-b: tainted node.kubernetes.io/disk-pressure:NoSchedule*"),
        ("dr-context-reaches-primary", "REC-DR-NODES",
         "*3 of 3 nodes not Ready: node/dr-node-a: in region us-east-1, the DR region is us-west-2*"),
        ("pod-readiness-gate-unmet", "REC-DR-PODS",
         "*pod/athena-analyst-0: Ready=False while its containers are ready (ReadinessGatesNotReady: "
         "the status of pod readiness gate \"kosmos.dr/state-restored\" is not \"True\", but False)*"),
        ("pod-old-revision", "REC-DR-PODS",
         "*pod/zeus-orchestrator-0: runs revision zeus-orchestrator-5d8b7c9f4x, StatefulSet/zeus-orchestrator's update "
         "revision is zeus-orchestrator-*; StatefulSet/zeus-orchestrator: 0 of 1 replicas Running+Ready (1 pods;*"),
        ("pod-on-deleted-node", "REC-DR-PODS",
         "*1 of 5 pods in kosmos unhealthy: pod/hermes-courier-0: Running on node/dr-node-c, which is not in the "
         "cluster: its status is stale*"),
        ("pod-without-limits", "VAL-POD-METRICS",
         "*pod/hermes-courier-0 container agent: no cpu limit; pod/hermes-courier-0 container agent: no memory limit*"),
        ("metrics-stale", "VAL-POD-METRICS", "*pod/athena-analyst-0: metrics are stale, sampled 20m ago (limit 5m)*"),
        ("metrics-from-previous-container", "VAL-POD-METRICS",
         "*pod/zeus-orchestrator-0 container agent: metrics sampled at *, before the container started at *: "
         "they describe a previous container*"),
        ("agent-state-volume-zonal", "SCN-MULTI-AZ",
         "*StatefulSet/zeus-orchestrator: one replica that cannot move to another zone: its volume pvc-* "
         "(claim state-zeus-orchestrator-0) is zonal: ebs.csi.aws.com with node affinity to us-west-2a*"),
        ("node-zone-mislabelled", "SCN-MULTI-AZ",
         "*node/dr-node-b: labelled zone us-west-2b, but its instance runs in us-west-2a (providerID); "
         "Deployment/kosmos-api: Ready replicas in 1 zone(s) (us-west-2a), need 2*"),
        ("agent-pinned-to-one-zone", "SCN-MULTI-AZ",
         "*StatefulSet/hermes-courier: one replica that cannot move to another zone: "
         "pod/hermes-courier-0 is pinned to zone us-west-2c*"),
        ("metrics-over-limit", "VAL-POD-METRICS", "*pod/zeus-orchestrator-0 container agent: cpu 3900m, limit*"),
        ("config-mirror-stale", "BAK-CONFIG-MIRROR",
         "*backup copy s3://kosmos-backups/config/kosmos-infrastructure.bundle holds production@*, repository head is *"),
        ("apply-denied", "REC-CONFIG-APPLY", "*statefulsets*is forbidden: the DR policy freezes StatefulSet objects*"),
    ],
)
def test_named_cluster_fault_fails_exactly_its_check(sandbox, fault, pytester, fault_name, criterion, message):
    fault(fault_name)
    result = run_suite(pytester, *SUITES, "-rf")
    assert_only_failing(result, criterion, message)


@pytest.mark.parametrize("layout_name", ["default", "alternate"])
def test_every_cluster_criterion_has_three_fault_twins(layout_name):
    from types import SimpleNamespace

    from pytest_kosmos_dr.sandbox.kube.config_faults import config_faults
    from pytest_kosmos_dr.sandbox.kube.faults import cluster_faults
    from pytest_kosmos_dr.sandbox.layout import layout_named

    layout = layout_named(layout_name)
    component = SimpleNamespace(go_offline=None, come_back=None, namespace=layout.namespace,
                                primary_region=layout.primary_region, dr_region=layout.secondary_region)
    faults = cluster_faults(component) + config_faults(component)
    assert len({f.name for f in faults}) == len(faults)
    for criterion in ("REC-DR-NODES", "REC-DR-PODS", "VAL-POD-METRICS", "SCN-MULTI-AZ", "BAK-CONFIG-GITOPS"):
        twins = [f.name for f in faults if criterion in f.criteria and f.name != "kube-api-down"]
        assert len(twins) >= 3, (criterion, twins)
    described = " ".join(f.description for f in faults)  # zones and regions are the layout's
    assert f"{layout.secondary_region}a" in described and layout.primary_region in described
    other = layout_named("alternate" if layout_name == "default" else "default")
    assert other.secondary_region not in described
