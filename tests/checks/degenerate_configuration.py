"""Degenerate inputs for the configuration checks: no branch, nothing rendered, no objects, empty bundles."""

import subprocess
import tempfile
from pathlib import Path

from pytest_kosmos_dr.checks import configuration
from pytest_kosmos_dr.checks.configuration import ConfigCheckout

HEAD = "0" * 40
NO_BRANCH = ConfigCheckout("file:///repo", "production", None, None, error="Remote branch production not found")
CHECKED_OUT = ConfigCheckout("file:///repo", "production", Path(tempfile.gettempdir()), HEAD)


class _Done:
    """A finished kubectl run (what ``KubectlJob.result`` gives)."""

    def __init__(self, returncode: int, stdout: str = "", stderr: str = "") -> None:
        self.done = subprocess.CompletedProcess(["kubectl"], returncode, stdout, stderr)

    def result(self, timeout: float = 0):
        return self.done


def _gitops(checkout=CHECKED_OUT, rendered=(), live=None, applied=(), pods=(), unserved=()):
    return configuration.gitops_in_sync(checkout, "overlays/production", list(rendered), None, live or {}, "dr-cluster",
                                        applied=list(applied), pods=list(pods), unserved=tuple(unserved))


def _apply(job, rendered=None, checkout=CHECKED_OUT):
    return configuration.apply_dry_run(checkout, "overlays/production", "", "dr-cluster", job, rendered=rendered)


def _mirror(bundle, checkout=CHECKED_OUT):
    return configuration.mirror_matches(checkout, "kosmos-backups", "config/x.bundle", bundle, Path(tempfile.mkdtemp()))


DEPLOYMENT = {"kind": "Deployment", "metadata": {"name": "kosmos-api", "namespace": "kosmos"},
              "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "kosmos-api"}},
                       "template": {"spec": {"containers": [{"name": "api", "image": "kosmos/api:3"}]}}}}

CASES = {
    "configuration.gitops_in_sync": [
        ("no production branch", lambda: _gitops(NO_BRANCH)),
        ("renders 0 objects", lambda: _gitops()),
        ("rendered object missing from the cluster", lambda: _gitops(rendered=[DEPLOYMENT], live={})),
        ("a workload whose pods run no image", lambda: _gitops(
            rendered=[DEPLOYMENT], live={("Deployment", "kosmos", "kosmos-api"): DEPLOYMENT},
            pods=[{"metadata": {"name": "p", "labels": {"app": "kosmos-api"}}, "spec": {"containers": [{"name": "api"}]}}])),
        ("object without metadata", lambda: _gitops(rendered=[{"kind": "ConfigMap"}], live={})),
        ("only kinds the cluster does not serve", lambda: _gitops(
            rendered=[{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"}}],
            unserved=[("policy/v1", "PodDisruptionBudget")])),
        ("a rendered None and a rendered list", lambda: _gitops(rendered=[None, []])),
    ],
    "configuration.apply_dry_run": [
        ("no production branch", lambda: _apply(_Done(0), checkout=NO_BRANCH)),
        ("exit 0, no output", lambda: _apply(_Done(0))),
        ("exit 0, nothing rendered", lambda: _apply(_Done(0, "configmap/x unchanged (server dry run)\n"), rendered=[])),
        ("exit 1, no output", lambda: _apply(_Done(1))),
        ("rendered object not applied", lambda: _apply(_Done(0, "configmap/x unchanged (server dry run)\n"),
                                                        rendered=[DEPLOYMENT])),
    ],
    "configuration.mirror_matches": [
        ("no production branch", lambda: _mirror(b"bundle", checkout=NO_BRANCH)),
        ("no object", lambda: _mirror(None)),
        ("empty object", lambda: _mirror(b"")),
        ("not a bundle", lambda: _mirror(b"this is not a git bundle")),
        ("a bundle header without a pack", lambda: _mirror(f"# v2 git bundle\n{HEAD} refs/heads/production\n\n".encode())),
    ],
}
