"""Configuration backups (GitOps): what Git's production branch renders is what the DR cluster
runs, it applies cleanly, and the bucket holds a current, restorable copy (BAK-CONFIG-*, REC-CONFIG-APPLY)."""

import pytest

from pytest_kosmos_dr.checks import configuration


def _render(config_checkout, config_kubectl_jobs, overlay):
    if config_checkout.path is None:
        return [], None
    return configuration.render_overlay(config_checkout, overlay, config_kubectl_jobs["render"])


@pytest.mark.dr_criterion("BAK-CONFIG-GITOPS")
def test_dr_cluster_runs_what_the_production_branch_renders(config_checkout, config_kubectl_jobs, gitops_reads,
                                                            kosmos_pods, dr_target, dr_environment, dr_check):
    # the overlay rendered, then the live and applied objects of every kind it renders (suites/conftest.py)
    rendered, error, live, applied, unserved = gitops_reads.result()
    dr_check(configuration.gitops_in_sync(config_checkout, dr_target.config_repo.overlay, rendered, error, live,
                                          dr_environment.kube_context, applied=applied, pods=kosmos_pods,
                                          unserved=unserved))


@pytest.mark.dr_criterion("REC-CONFIG-APPLY")
def test_production_overlay_applies_as_a_server_side_dry_run(config_checkout, config_kubectl_jobs, dr_target,
                                                            dr_environment, dr_check):
    overlay = dr_target.config_repo.overlay
    rendered, _ = _render(config_checkout, config_kubectl_jobs, overlay)
    dr_check(configuration.apply_dry_run(config_checkout, overlay, dr_environment.kubeconfig,
                                         dr_environment.kube_context, config_kubectl_jobs["apply"], rendered=rendered))


@pytest.mark.dr_criterion("BAK-CONFIG-MIRROR")
def test_bucket_copy_of_the_configuration_is_the_production_head(config_checkout, config_bundle_read, dr_target,
                                                                 dr_check, tmp_path):
    bucket, key = dr_target.backups.bucket, dr_target.backups.config_bundle
    bundle = config_bundle_read.result()  # fetch_object(s3, bucket, key), started with the run's reads
    dr_check(configuration.mirror_matches(config_checkout, bucket, key, bundle, tmp_path))
