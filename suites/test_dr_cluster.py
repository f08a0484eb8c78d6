"""The DR cluster after failover: `kubectl get nodes`, `get pods -n kosmos`, `top pods -n kosmos`,
and the zone spread that lets KOSMOS survive a data-centre failure (REC-DR-*, VAL-POD-METRICS,
SCN-MULTI-AZ). Each kind is listed once per run and evaluated locally."""

import pytest

from pytest_kosmos_dr.checks import cluster
from pytest_kosmos_dr.eventually import eventually


@pytest.mark.dr_criterion("REC-DR-NODES")
def test_every_dr_cluster_node_is_ready(dr_cluster, dr_nodes, dr_target, dr_environment, dr_check):
    def probe(attempt):  # right after a failover nodes may still be joining: re-list until the budget
        nodes = dr_nodes if attempt == 1 else dr_cluster.list("/api/v1/nodes")
        return cluster.nodes_ready(nodes, dr_environment.kube_context, region=dr_target.aws.secondary_region)

    dr_check(eventually(probe, dr_target.timeouts.converge))


@pytest.mark.dr_criterion("REC-DR-PODS")
def test_every_pod_in_kosmos_is_running_and_ready(dr_cluster, dr_nodes, kosmos_pods, kosmos_workloads, dr_target,
                                                  dr_environment, dr_check):
    namespace = dr_target.kubernetes.namespace

    def probe(attempt):
        pods, workloads, nodes = kosmos_pods, kosmos_workloads, dr_nodes
        if attempt > 1:
            pods = dr_cluster.list(f"/api/v1/namespaces/{namespace}/pods")
            workloads = cluster.workloads_of(dr_cluster.list(f"/apis/apps/v1/namespaces/{namespace}/deployments"),
                                             dr_cluster.list(f"/apis/apps/v1/namespaces/{namespace}/statefulsets"))
            nodes = dr_cluster.list("/api/v1/nodes")
        return cluster.pods_running(pods, namespace, dr_environment.kube_context, dr_target.objectives.max_restarts,
                                    workloads=workloads, nodes=nodes)

    dr_check(eventually(probe, dr_target.timeouts.converge))


@pytest.mark.dr_criterion("VAL-POD-METRICS")
def test_every_kosmos_pod_has_metrics_under_its_limits(dr_cluster, kosmos_pods, dr_target, dr_environment, dr_check):
    namespace = dr_target.kubernetes.namespace
    metrics = dr_cluster.list(f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods")
    dr_check(cluster.pod_metrics_within_limits(kosmos_pods, metrics, namespace, dr_environment.kube_context))


@pytest.mark.dr_criterion("SCN-MULTI-AZ")
def test_kosmos_survives_the_loss_of_one_zone(dr_cluster, dr_nodes, kosmos_pods, kosmos_workloads, dr_aws, dr_target,
                                              dr_check):
    from pytest_kosmos_dr.clients.aws import call

    namespace = dr_target.kubernetes.namespace
    claims = dr_cluster.list(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims")
    volumes = dr_cluster.list("/api/v1/persistentvolumes")
    classes = dr_cluster.list("/apis/storage.k8s.io/v1/storageclasses")
    instance = dr_target.database.replica_instance
    described = call(f"RDS DescribeDBInstances {instance}", dr_aws.client("rds").describe_db_instances,
                     DBInstanceIdentifier=instance)
    multi_az = bool(described["DBInstances"][0].get("MultiAZ"))
    dr_check(cluster.multi_az(dr_nodes, kosmos_pods, kosmos_workloads, claims, volumes, classes, multi_az, instance))
