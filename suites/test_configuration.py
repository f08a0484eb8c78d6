"""Configuration backups (GitOps): what Git's production branch renders is what the DR cluster
runs, it applies cleanly, and the bucket holds a current, restorable copy (BAK-CONFIG-*, REC-CONFIG-APPLY)."""

import pytest

from pytest_kosmos_dr.checks import configuration


@pytest.mark.dr_criterion("BAK-CONFIG-GITOPS")
def test_dr_cluster_runs_what_the_production_branch_renders(config_checkout, gitops_objects, kosmos_pods, dr_target,
                                                            dr_environment, dr_check):
    found = gitops_objects  # the overlay rendered, then the live and applied objects of every kind it renders
    dr_check(configuration.gitops_in_sync(config_checkout, dr_target.config_repo.overlay, found.rendered,
                                          found.render_error, found.live, dr_environment.kube_context,
                                          applied=found.applied, pods=kosmos_pods, unserved=found.unserved))


@pytest.mark.dr_criterion("REC-CONFIG-APPLY")
def test_production_overlay_applies_as_a_server_side_dry_run(config_checkout, config_kubectl_jobs, rendered_overlay,
                                                            dr_target, dr_environment, dr_check):
    dr_check(configuration.apply_dry_run(config_checkout, dr_target.config_repo.overlay, dr_environment.kubeconfig,
                                         dr_environment.kube_context, config_kubectl_jobs["apply"],
                                         rendered=rendered_overlay))


@pytest.mark.dr_criterion("BAK-CONFIG-MIRROR")
def test_bucket_copy_of_the_configuration_is_the_production_head(config_mirror, dr_check):
    dr_check(config_mirror)  # the bundle fetched, listed and cloned from in the read pool (gate_reads)
