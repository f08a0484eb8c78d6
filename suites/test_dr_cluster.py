"""The DR cluster after failover: `kubectl get nodes`, `get pods -n kosmos`, `top pods -n kosmos`,
and the zone spread that lets KOSMOS survive a data-centre failure (REC-DR-*, VAL-POD-METRICS,
SCN-MULTI-AZ). Each kind is listed once per run and evaluated locally."""

import pytest

from pytest_kosmos_dr.checks import cluster
from pytest_kosmos_dr import eventually


@pytest.mark.dr_criterion("REC-DR-NODES")
def test_every_dr_cluster_node_is_ready(dr_kosmos, dr_nodes, dr_target, dr_environment, dr_check):
    def probe(attempt):  # right after a failover nodes may still be joining: re-list until the budget
        nodes = dr_nodes if attempt == 1 else dr_kosmos.nodes()
        return cluster.nodes_ready(nodes, dr_environment.kube_context, region=dr_target.aws.secondary_region)

    dr_check(eventually(probe, dr_target.timeouts.converge))


@pytest.mark.dr_criterion("REC-DR-PODS")
def test_every_pod_in_kosmos_is_running_and_ready(dr_kosmos, dr_nodes, kosmos_pods, kosmos_workloads, dr_objectives,
                                                  dr_target, dr_environment, dr_check):
    def probe(attempt):  # the first attempt judges the run's listings; later ones list afresh
        pods, workloads, nodes = ((kosmos_pods, kosmos_workloads, dr_nodes) if attempt == 1 else
                                  (dr_kosmos.pods(), dr_kosmos.workloads(), dr_kosmos.nodes()))
        return cluster.pods_running(pods, dr_kosmos.namespace, dr_environment.kube_context,
                                    max_restarts=dr_objectives.max_restarts, workloads=workloads, nodes=nodes)

    dr_check(eventually(probe, dr_target.timeouts.converge))


@pytest.mark.dr_criterion("VAL-POD-METRICS")
def test_every_kosmos_pod_has_metrics_under_its_limits(dr_kosmos, kosmos_pods, dr_environment, dr_check):
    dr_check(cluster.pod_metrics_within_limits(kosmos_pods, dr_kosmos.pod_metrics(), dr_kosmos.namespace,
                                               dr_environment.kube_context))


@pytest.mark.dr_criterion("SCN-MULTI-AZ")
def test_kosmos_survives_the_loss_of_one_zone(dr_kosmos, dr_nodes, kosmos_pods, kosmos_workloads, dr_rds, dr_check):
    dr_check(cluster.multi_az(dr_nodes, kosmos_pods, kosmos_workloads, dr_kosmos.volume_claims(), dr_kosmos.volumes(),
                              dr_kosmos.storage_classes(), dr_rds.replica_multi_az, dr_rds.replica_id))
