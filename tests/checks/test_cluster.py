"""The DR cluster checks on plain data: a healthy cluster passes; each wrong world fails, naming the object."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from pytest_kosmos_dr.checks import cluster

NOW = dt.datetime(2025, 12, 13, 12, 0, tzinfo=dt.timezone.utc)
ZONES = {"dr-node-a": "us-west-2a", "dr-node-b": "us-west-2b", "dr-node-c": "us-west-2c"}
IMAGE = "registry.kosmos.internal/kosmos/agent-runtime:2.4.1"


def ts(ago: dt.timedelta = dt.timedelta(0)) -> str:
    return (NOW - ago).strftime("%Y-%m-%dT%H:%M:%SZ")


def node(name: str, **changes) -> dict:
    zone = ZONES[name]
    obj = {
        "metadata": {"name": name, "labels": {cluster.ZONE_LABEL: zone, cluster.REGION_LABEL: "us-west-2"}},
        "spec": {"providerID": f"aws:///{zone}/i-0{name[-1] * 8}"},
        "status": {"conditions": [
            {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "lastHeartbeatTime": ts(dt.timedelta(seconds=20))},
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": ts(dt.timedelta(seconds=20))},
        ]},
    }
    obj.update(changes)
    return obj


def pod(name: str, owner: tuple[str, str], node_name: str, revision: str = "rev-1", image: str = IMAGE,
        limits: dict | None = None) -> dict:
    return {
        "metadata": {"name": name, "labels": {"controller-revision-hash": revision},
                     "ownerReferences": [{"kind": owner[0], "name": owner[1]}]},
        "spec": {"nodeName": node_name, "containers": [{"name": "agent", "image": image, "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"} if limits is None else limits}}]},
        "status": {"phase": "Running",
                   "conditions": [{"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}],
                   "containerStatuses": [{"name": "agent", "ready": True, "restartCount": 0,
                                          "state": {"running": {"startedAt": ts(dt.timedelta(hours=2))}}}]},
    }


def statefulset(name: str, replicas: int = 1, claim_class: str = "efs") -> dict:
    return {"kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "agent", "image": IMAGE}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "state"}, "spec": {"storageClassName": claim_class}}]},
            "status": {"readyReplicas": replicas, "updateRevision": "rev-1"}}


def deployment(name: str, replicas: int = 2) -> dict:
    return {"kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "agent", "image": IMAGE}]}}},
            "status": {"readyReplicas": replicas}}


def claim(name: str, volume: str) -> dict:
    return {"metadata": {"name": name}, "spec": {"volumeName": volume}, "status": {"phase": "Bound"}}


def efs_volume(name: str, claim_name: str) -> dict:
    return {"metadata": {"name": name}, "spec": {"storageClassName": "efs", "claimRef": {"name": claim_name},
                                                 "csi": {"driver": "efs.csi.aws.com", "volumeHandle": "fs-1::fsap-1"}}}


def ebs_volume(name: str, claim_name: str, zone: str) -> dict:
    return {"metadata": {"name": name}, "spec": {
        "storageClassName": "gp3-multi-az", "claimRef": {"name": claim_name},
        "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-1"},
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": cluster.ZONE_LABEL, "operator": "In", "values": [zone]}]}]}}}}


CLASSES = [
    {"metadata": {"name": "efs"}, "provisioner": "efs.csi.aws.com"},
    {"metadata": {"name": "gp3-multi-az", "annotations": {"kosmos.dr/zone-redundant": "true"}},
     "provisioner": "ebs.csi.aws.com", "volumeBindingMode": "WaitForFirstConsumer"},
]


@pytest.fixture
def world():
    """A healthy DR cluster: 3 zones, kosmos-api in two zones, an agent on a regional (EFS) volume."""
    return {
        "nodes": [node(n) for n in ZONES],
        "pods": [pod("kosmos-api-abc-1", ("ReplicaSet", "kosmos-api-abc"), "dr-node-a"),
                 pod("kosmos-api-abc-2", ("ReplicaSet", "kosmos-api-abc"), "dr-node-b"),
                 pod("zeus-0", ("StatefulSet", "zeus"), "dr-node-c")],
        "workloads": [deployment("kosmos-api"), statefulset("zeus")],
        "claims": [claim("state-zeus-0", "pv-zeus")],
        "volumes": [efs_volume("pv-zeus", "state-zeus-0")],
    }


def metrics_for(pods: list[dict], when: str = ts(dt.timedelta(seconds=10)), memory: str = "300Mi") -> list[dict]:
    return [{"metadata": {"name": p["metadata"]["name"]}, "timestamp": when, "window": "15s",
             "containers": [{"name": "agent", "usage": {"cpu": "100m", "memory": memory}}]} for p in pods]


def multi_az(w, db=True):
    return cluster.multi_az(w["nodes"], w["pods"], w["workloads"], w["claims"], w["volumes"], CLASSES, db, "kosmos-prod-replica")


# --- REC-DR-NODES -----------------------------------------------------------------------------


def test_healthy_nodes_pass(world):
    result = cluster.nodes_ready(world["nodes"], "dr-cluster", region="us-west-2", now=NOW)
    assert result.passed, result.summary


def test_node_not_ready_fails(world):
    world["nodes"][2]["status"]["conditions"][1].update(status="False", reason="KubeletNotReady", message="PLEG is not healthy")
    result = cluster.nodes_ready(world["nodes"], "dr-cluster", now=NOW)
    assert not result.passed
    assert "1 of 3 nodes not Ready: node/dr-node-c: Ready=False (KubeletNotReady: PLEG is not healthy)" in result.summary


def test_ready_with_a_stale_heartbeat_fails(world):
    world["nodes"][2]["status"]["conditions"][1]["lastHeartbeatTime"] = ts(dt.timedelta(minutes=17))
    result = cluster.nodes_ready(world["nodes"], "dr-cluster", now=NOW)
    assert not result.passed and "node/dr-node-c: Ready=True is stale" in result.summary and "17m ago (limit 10m)" in result.summary


def test_ready_with_disk_pressure_cordon_or_taint_fails(world):
    world["nodes"][0]["status"]["conditions"][0].update(status="True", reason="KubeletHasDiskPressure")
    world["nodes"][1]["spec"]["unschedulable"] = True
    world["nodes"][2]["spec"]["taints"] = [{"key": "node.kubernetes.io/out-of-service", "effect": "NoExecute"}]
    result = cluster.nodes_ready(world["nodes"], "dr-cluster", now=NOW)
    assert not result.passed and result.summary.startswith("3 of 3 nodes not Ready")
    for expected in ("node/dr-node-a: DiskPressure=True (KubeletHasDiskPressure)", "node/dr-node-b: cordoned",
                     "node/dr-node-c: tainted node.kubernetes.io/out-of-service:NoExecute"):
        assert expected in result.summary


def test_nodes_of_the_primary_region_fail(world):
    for n in world["nodes"]:
        n["metadata"]["labels"][cluster.REGION_LABEL] = "us-east-1"
    result = cluster.nodes_ready(world["nodes"], "dr-cluster", region="us-west-2", now=NOW)
    assert not result.passed and "node/dr-node-a: in region us-east-1, the DR region is us-west-2" in result.summary


def test_no_nodes_fail():
    assert not cluster.nodes_ready([], "dr-cluster").passed


# --- REC-DR-PODS ------------------------------------------------------------------------------


def test_healthy_pods_pass(world):
    result = cluster.pods_running(world["pods"], "kosmos", "dr-cluster", max_restarts=3, workloads=world["workloads"])
    assert result.passed, result.summary


def test_containers_ready_but_pod_not_ready_fails(world):
    world["pods"][2]["status"]["conditions"][0].update(status="False", reason="ReadinessGatesNotReady")
    result = cluster.pods_running(world["pods"], "kosmos", "dr-cluster", max_restarts=3)
    assert not result.passed and "pod/zeus-0: Ready=False while its containers are ready (ReadinessGatesNotReady)" in result.summary


def test_pod_of_an_old_revision_fails(world):
    world["pods"][2] = pod("zeus-0", ("StatefulSet", "zeus"), "dr-node-c", revision="rev-0", image=IMAGE.replace("2.4.1", "2.3.9"))
    result = cluster.pods_running(world["pods"], "kosmos", "dr-cluster", max_restarts=3, workloads=world["workloads"])
    assert not result.passed
    assert "pod/zeus-0: runs revision rev-0, StatefulSet/zeus's update revision is rev-1" in result.summary
    assert "runs image registry.kosmos.internal/kosmos/agent-runtime:2.3.9" in result.summary
    assert "StatefulSet/zeus: 0 of 1 replicas Running+Ready" in result.summary


def test_missing_pod_behind_a_status_that_claims_ready_fails(world):
    del world["pods"][2]
    result = cluster.pods_running(world["pods"], "kosmos", "dr-cluster", max_restarts=3, workloads=world["workloads"])
    assert not result.passed
    assert "StatefulSet/zeus: 0 of 1 replicas Running+Ready (0 pods; its status claims readyReplicas 1)" in result.summary


def test_no_pods_or_no_workloads_fail(world):
    assert not cluster.pods_running([], "kosmos", "dr-cluster", max_restarts=3).passed
    assert not cluster.pods_running(world["pods"], "kosmos", "dr-cluster", max_restarts=3, workloads=[]).passed


# --- VAL-POD-METRICS --------------------------------------------------------------------------


def test_current_metrics_under_limits_pass(world):
    result = cluster.pod_metrics_within_limits(world["pods"], metrics_for(world["pods"]), "kosmos", "dr-cluster", now=NOW)
    assert result.passed, result.summary


def test_container_without_limits_fails_at_any_usage(world):
    world["pods"][2]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "250m"}}
    world["pods"][1]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1"}}
    result = cluster.pod_metrics_within_limits(world["pods"], metrics_for(world["pods"], memory="1Mi"), "kosmos",
                                               "dr-cluster", now=NOW)
    assert not result.passed
    for expected in ("pod/zeus-0 container agent: no cpu limit", "pod/zeus-0 container agent: no memory limit",
                     "pod/kosmos-api-abc-2 container agent: no memory limit"):
        assert expected in result.summary
    assert "kosmos-api-abc-2 container agent: no cpu limit" not in result.summary


def test_usage_over_limit_fails(world):
    result = cluster.pod_metrics_within_limits(world["pods"], metrics_for(world["pods"], memory="2Gi"), "kosmos",
                                               "dr-cluster", now=NOW)
    assert not result.passed and "pod/zeus-0 container agent: memory 2048Mi, limit 1024Mi" in result.summary


def test_stale_metrics_fail(world):
    samples = metrics_for(world["pods"])
    samples[0]["timestamp"] = ts(dt.timedelta(minutes=20))
    result = cluster.pod_metrics_within_limits(world["pods"], samples, "kosmos", "dr-cluster", now=NOW)
    assert not result.passed and "pod/kosmos-api-abc-1: metrics are stale, sampled 20m ago (limit 5m)" in result.summary


def test_metrics_of_a_previous_container_fail(world):
    world["pods"][2]["status"]["containerStatuses"][0]["state"]["running"]["startedAt"] = ts(dt.timedelta(seconds=40))
    samples = metrics_for(world["pods"], when=ts(dt.timedelta(seconds=100)))
    result = cluster.pod_metrics_within_limits(world["pods"], samples, "kosmos", "dr-cluster", now=NOW)
    assert not result.passed and "pod/zeus-0 container agent: metrics sampled at" in result.summary
    assert "they describe a previous container" in result.summary and "kosmos-api" not in result.summary


def test_missing_metrics_fail(world):
    samples = metrics_for(world["pods"])
    samples[2]["containers"] = []
    result = cluster.pod_metrics_within_limits(world["pods"], samples[1:], "kosmos", "dr-cluster", now=NOW)
    assert not result.passed and "pod/kosmos-api-abc-1: no metrics" in result.summary
    assert "pod/zeus-0 container agent: no metrics" in result.summary


# --- SCN-MULTI-AZ -----------------------------------------------------------------------------


def test_zone_redundant_cluster_passes(world):
    result = multi_az(world)
    assert result.passed, result.summary


def test_no_workloads_fail(world):
    world["workloads"], world["pods"] = [], []
    result = multi_az(world)
    assert not result.passed and "no Deployments or StatefulSets to spread" in result.summary


def test_one_replica_on_an_annotated_zonal_ebs_volume_fails(world):
    """The old sandbox: a gp3 (EBS) class annotated zone-redundant; EBS volumes live in one zone."""
    world["workloads"][1] = statefulset("zeus", claim_class="gp3-multi-az")
    world["volumes"] = [ebs_volume("pv-zeus", "state-zeus-0", "us-west-2c")]
    result = multi_az(world)
    assert not result.passed
    assert ("StatefulSet/zeus: one replica that cannot move to another zone: its volume pv-zeus (claim state-zeus-0) "
            "is zonal: ebs.csi.aws.com with node affinity to us-west-2c") in result.summary


def test_ebs_volume_without_node_affinity_is_still_zonal(world):
    del world["volumes"][0]["spec"]["csi"]
    world["volumes"][0]["spec"]["awsElasticBlockStore"] = {"volumeID": "vol-1"}
    result = multi_az(world)
    assert not result.passed and "kubernetes.io/aws-ebs volumes are zonal" in result.summary


def test_unbound_or_missing_claim_fails(world):
    world["claims"][0]["status"]["phase"] = "Pending"
    assert "volume claim state-zeus-0 is not bound" in multi_az(world).summary
    world["claims"] = []
    assert "volume claim state-zeus-0 not found" in multi_az(world).summary


def test_node_labelled_with_another_zone_than_its_instance_fails(world):
    world["nodes"][1]["spec"]["providerID"] = "aws:///us-west-2a/i-0bbbbbbbb"
    result = multi_az(world)
    assert not result.passed
    assert "node/dr-node-b: labelled zone us-west-2b, but its instance runs in us-west-2a (providerID)" in result.summary
    assert "Deployment/kosmos-api: Ready replicas in 1 zone(s) (us-west-2a), need 2" in result.summary


def test_one_replica_pinned_to_a_zone_fails(world):
    world["pods"][2]["spec"]["nodeSelector"] = {cluster.ZONE_LABEL: "us-west-2c"}
    result = multi_az(world)
    assert not result.passed and "pod/zeus-0 is pinned to zone us-west-2c" in result.summary


def test_replicas_not_ready_in_two_zones_fail(world):
    world["pods"][1]["status"]["conditions"][0]["status"] = "False"
    result = multi_az(world)
    assert not result.passed and "Deployment/kosmos-api: Ready replicas in 1 zone(s) (us-west-2a), need 2" in result.summary


def test_one_replica_deployment_fails(world):
    world["workloads"][0] = deployment("kosmos-api", replicas=1)
    assert "Deployment/kosmos-api: Ready replicas in 2 zone(s)" not in multi_az(world).summary
    world["pods"] = world["pods"][:1] + world["pods"][2:]
    assert "Deployment/kosmos-api: Ready replicas in 1 zone(s) (us-west-2a), need 2" in multi_az(world).summary


def test_database_not_multi_az_fails(world):
    result = multi_az(world, db=False)
    assert not result.passed and "DR database instance kosmos-prod-replica is not Multi-AZ" in result.summary


def test_storage_class_allowing_one_zone_makes_an_efs_volume_zonal(world):
    classes = copy.deepcopy(CLASSES)
    classes[0]["allowedTopologies"] = [{"matchLabelExpressions": [{"key": cluster.ZONE_LABEL, "values": ["us-west-2c"]}]}]
    result = cluster.multi_az(world["nodes"], world["pods"], world["workloads"], world["claims"], world["volumes"],
                              classes, True, "db")
    assert not result.passed and "class allows only us-west-2c" in result.summary


def test_pod_on_a_node_that_is_gone_fails(world):
    result = cluster.pods_running(world["pods"], "kosmos", "dr-cluster", max_restarts=3, workloads=world["workloads"],
                                  nodes=world["nodes"][:2])
    assert not result.passed
    assert result.summary.startswith("1 of 3 pods in kosmos unhealthy: pod/zeus-0: Running on node/dr-node-c, which is "
                                     "not in the cluster")
