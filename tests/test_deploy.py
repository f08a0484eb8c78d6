"""Deployment material: the CI gate examples, the container entrypoint and the in-cluster CronJob.

The workflows are checked statically (YAML and the keys that make them a gate); the kustomize
overlay is rendered by kubectl and applied as a server-side dry run to the sandbox's Kubernetes API.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pytest_kosmos_dr.config import load_config

REPO = Path(__file__).resolve().parent.parent
GITHUB_GATE = REPO / "examples" / "ci" / "github-dr-gate.yml"
GITLAB_GATE = REPO / "examples" / "ci" / "gitlab-dr-gate.yml"
SANDBOX_GATE = REPO / ".github" / "workflows" / "dr-gate-sandbox.yml"
CONTAINER = REPO / "deploy" / "container"
BASE = REPO / "deploy" / "cronjob" / "base"
OVERLAY = REPO / "deploy" / "cronjob" / "overlays" / "production"

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not on PATH")


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def _triggers(workflow: dict) -> dict:
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean True
    return workflow.get("on", workflow.get(True))


def _steps(workflow: dict) -> list[dict]:
    (job,) = workflow["jobs"].values()
    return job["steps"]


def _pytest_step(steps: list[dict]) -> dict:
    found = [s for s in steps if "pytest suites/" in (s.get("run") or "")]
    assert len(found) == 1, "exactly one step runs the suites"
    return found[0]


def _uploads(steps: list[dict]) -> list[dict]:
    return [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]


# --- CI gate examples ----------------------------------------------------------------------------


def test_github_gate_triggers_on_dispatch_and_failover_event():
    workflow = _load(GITHUB_GATE)
    on = _triggers(workflow)
    inputs = on["workflow_dispatch"]["inputs"]
    assert {"target", "incident_start"} <= set(inputs)
    assert inputs["target"]["default"] == "dr-cluster"
    assert on["repository_dispatch"]["types"] == ["failover-completed"]


def test_github_gate_runs_the_gate_against_dr_cluster_and_fails_on_its_exit_code():
    workflow = _load(GITHUB_GATE)
    (job,) = workflow["jobs"].values()
    assert "'dr-cluster'" in job["env"]["DR_TARGET"]  # the default when neither input nor payload names one
    assert "client_payload.incident_start" in job["env"]["DR_INCIDENT_START"]
    step = _pytest_step(job["steps"])
    run = step["run"]
    assert "-m gate" in run and '--dr-target="$DR_TARGET"' in run
    assert "--dr-incident-start" in run
    assert "--junitxml reports/junit.xml" in run and "--alluredir reports/allure-results" in run
    assert 'exit "$code"' in run  # pytest's exit code is the job's verdict
    assert not step.get("continue-on-error")


def test_github_gate_credentials_come_from_oidc_and_a_kubeconfig_secret():
    workflow = _load(GITHUB_GATE)
    assert workflow["permissions"]["id-token"] == "write"
    steps = _steps(workflow)
    aws = [s for s in steps if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")]
    assert aws and "role-to-assume" in aws[0]["with"]
    assert "aws-access-key-id" not in aws[0]["with"]
    assert any("secrets.KOSMOS_DR_KUBECONFIG" in str(s.get("env", {})) for s in steps)


def test_github_gate_publishes_results_always():
    steps = _steps(_load(GITHUB_GATE))
    uploads = _uploads(steps)
    assert uploads and all(s.get("if") == "always()" for s in uploads)
    paths = uploads[0]["with"]["path"]
    assert "reports/junit.xml" in paths and "reports/allure-results/" in paths
    summary = [s for s in steps if "GITHUB_STEP_SUMMARY" in (s.get("run") or "")]
    assert summary and summary[0]["if"] == "always()" and "dr-scorecard.json" in summary[0]["run"]
    reporter = [s for s in steps if str(s.get("uses", "")).startswith("dorny/test-reporter@")]
    assert reporter and reporter[0]["if"] == "always()"


def test_github_gate_summary_script_reads_a_real_scorecard(tmp_path):
    """The job-summary snippet runs on a scorecard as the plugin writes it."""
    steps = _steps(_load(GITHUB_GATE))
    run = next(s for s in steps if "GITHUB_STEP_SUMMARY" in (s.get("run") or ""))["run"]
    script = run.split("<<'PY'", 1)[1].split("\n", 1)[1].split("\nPY", 1)[0]
    (tmp_path / "reports").mkdir()
    card = {"verdict": "failed", "verdict_text": "1 criterion failed",
            "objectives": {"rto": {"measured": {"seconds": 3600, "text": "1h"}, "limit": {"seconds": 14400, "text": "4h"},
                                   "within": True}, "rpo": None},
            "problems": [{"criterion": "DR-NODES-READY", "status": "failed", "reason": "dr-node-b NotReady | x"}]}
    (tmp_path / "reports" / "dr-scorecard.json").write_text(json.dumps(card))
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "DR_TARGET": "dr-cluster", "GATE_EXIT": "1"})
    assert done.returncode == 0, done.stderr
    assert "**Verdict: failed**" in done.stdout and "RTO: 1h (limit 4h" in done.stdout
    assert "| DR-NODES-READY | failed | dr-node-b NotReady \\| x |" in done.stdout


def test_gitlab_gate_job():
    job = _load(GITLAB_GATE)["dr-gate"]
    script = "\n".join(job["script"])
    assert "pytest suites/ -m gate" in script and '--dr-target="$DR_TARGET"' in script
    assert _load(GITLAB_GATE)["variables"]["DR_TARGET"] == "dr-cluster"
    assert "--junitxml reports/junit.xml" in script and "--alluredir reports/allure-results" in script
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    assert artifacts["reports"]["junit"] == "reports/junit.xml"
    assert "reports/allure-results/" in artifacts["paths"]
    assert "aud" in job["id_tokens"]["AWS_ID_TOKEN"]  # OIDC, no static AWS keys
    assert "allow_failure" not in job


def test_sandbox_gate_workflow_runs_against_the_sandbox():
    workflow = _load(SANDBOX_GATE)
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    steps = job["steps"]
    runs = "\n".join(s.get("run") or "" for s in steps)
    assert "apt-get install" in runs and "postgresql" in runs
    assert "pip install -e '.[sandbox]'" in runs
    run = _pytest_step(steps)["run"]
    assert "-m gate" in run and "--dr-target=sandbox" in run and "dr-cluster" not in run
    uploads = _uploads(steps)
    assert uploads and all(s.get("if") == "always()" for s in uploads)
    assert "reports/junit.xml" in uploads[0]["with"]["path"]
    assert "${{ secrets." not in SANDBOX_GATE.read_text()  # the sandbox needs none


# --- the container -------------------------------------------------------------------------------


def test_entrypoint_script_is_valid_bash():
    done = subprocess.run(["bash", "-n", str(CONTAINER / "run-drills.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert os.access(CONTAINER / "run-drills.sh", os.X_OK)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_entrypoint_script_passes_shellcheck():
    done = subprocess.run(["shellcheck", str(CONTAINER / "run-drills.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def _fake_python(bin_dir: Path, pytest_exit: int, log: Path) -> None:
    """A `python` that records its arguments; `-m pytest` exits with ``pytest_exit``."""
    script = bin_dir / "python"
    script.write_text(f"""#!/usr/bin/env bash
echo "$*" >> {log}
if [ "$1" = "-m" ] && [ "$2" = "pytest" ]; then exit {pytest_exit}; fi
cat > /dev/null
exit 7
""")
    script.chmod(0o755)


@pytest.mark.parametrize("pytest_exit", [0, 1, 4])
def test_entrypoint_keeps_pytest_exit_code_even_when_the_upload_fails(tmp_path, pytest_exit):
    log = tmp_path / "calls.log"
    _fake_python(tmp_path, pytest_exit, log)
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "DR_TARGET": "dr-cluster",
           "REPORTS_DIR": str(tmp_path / "reports"), "RESULTS_BUCKET": "results-bucket", "TMPDIR": str(tmp_path)}
    done = subprocess.run(["bash", str(CONTAINER / "run-drills.sh")], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == pytest_exit, done.stderr
    first, second = log.read_text().splitlines()
    for expected in ("-m pytest suites/", "--dr-target=dr-cluster", "--dr-allow-restore",
                     "--dr-confirm-target=dr-cluster", "-p no:cacheprovider", f"--junitxml={tmp_path}/reports/junit.xml",
                     f"--alluredir={tmp_path}/reports/allure-results"):
        assert expected in first
    assert second.startswith("- ") and "results-bucket" in second  # the boto3 upload snippet ran
    assert "upload to s3://results-bucket/" in done.stderr and "failed" in done.stderr


def test_entrypoint_requires_a_target(tmp_path):
    done = subprocess.run(["bash", str(CONTAINER / "run-drills.sh")], capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], "REPORTS_DIR": str(tmp_path)})
    assert done.returncode != 0 and "DR_TARGET" in done.stderr


def test_dockerfile_is_the_documented_image():
    text = (CONTAINER / "Dockerfile").read_text()
    assert "FROM ${PYTHON_IMAGE}" in text and "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert "postgresql-client" in text and " git " in text
    assert "ARG KUBECTL_VERSION=v1." in text and "https://dl.k8s.io/release/" in text
    assert "sha256sum --check" in text
    assert "[sandbox]" not in text
    assert "USER 10001" in text
    assert 'ENTRYPOINT ["/usr/local/bin/run-drills.sh"]' in text
    for copied in ("pyproject.toml", "README.md", "pytest_kosmos_dr", "suites", "deploy/container/run-drills.sh"):
        assert copied in text
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "suites" not in ignored and "pytest_kosmos_dr" not in ignored and "README.md" not in ignored


# --- the CronJob (kustomize) ---------------------------------------------------------------------


def _kubectl(*args: str, kubeconfig: str | None = None, check: bool = False) -> subprocess.CompletedProcess:
    argv = ["kubectl", *args]
    if kubeconfig:
        argv += ["--kubeconfig", kubeconfig, "--context", "dr-cluster"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not on PATH")
    done = _kubectl("kustomize", str(OVERLAY), check=True)
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _one(objects: list[dict], kind: str, name: str = "kosmos-dr-checks") -> dict:
    found = [o for o in objects if o["kind"] == kind and (kind not in RBAC_KINDS or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


@needs_kubectl
def test_overlay_renders_the_expected_objects(rendered):
    kinds = sorted(o["kind"] for o in rendered)
    assert kinds == sorted(["Namespace", "ServiceAccount", "ConfigMap", "CronJob", "Role", "RoleBinding",
                            "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"])  # + the drill lease's Role
    assert _one(rendered, "Namespace")["metadata"]["name"] == "kosmos-dr"
    sa = _one(rendered, "ServiceAccount")
    assert (sa["metadata"]["name"], sa["metadata"]["namespace"]) == ("kosmos-dr", "kosmos-dr")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")


@needs_kubectl
def test_overlay_cronjob(rendered):
    cron = _one(rendered, "CronJob")
    spec = cron["spec"]
    assert cron["metadata"] == {**cron["metadata"], "name": "kosmos-dr-monthly-restore", "namespace": "kosmos-dr"}
    assert spec["schedule"] == "0 3 1 * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0
    assert 0 < job["activeDeadlineSeconds"] <= 4 * 3600
    pod = job["template"]["spec"]
    assert pod["serviceAccountName"] == "kosmos-dr" and pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert ":" in container["image"] and not container["image"].startswith("kosmos-dr:")  # the overlay's image
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DR_TARGET"] == "dr-cluster" and env["RESULTS_BUCKET"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts[env["REPORTS_DIR"]]]
    assert "emptyDir" in volumes[mounts["/tmp"]]
    config_map = _one(rendered, "ConfigMap")
    assert volumes[mounts["/etc/kosmos-dr"]]["configMap"]["name"] == config_map["metadata"]["name"]
    assert env["DR_CONFIG"] == "/etc/kosmos-dr/kosmos-dr.toml"


@needs_kubectl
def test_overlay_configmap_holds_an_in_cluster_target(rendered, tmp_path):
    config_map = _one(rendered, "ConfigMap")
    path = tmp_path / "kosmos-dr.toml"
    path.write_text(config_map["data"]["kosmos-dr.toml"])
    config = load_config(tmp_path, explicit=str(path))
    target = config.targets["dr-cluster"]
    assert config.default_target == "dr-cluster"
    assert target.kubernetes.in_cluster is True
    assert target.kubernetes.namespace == "kosmos" and target.production is True


RBAC_KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")


@needs_kubectl
def test_the_drill_lease_role_writes_only_its_lease(rendered):
    role = _one(rendered, "Role", "kosmos-dr-drill-lease")
    assert role["metadata"]["namespace"] == "kosmos"
    for rule in role["rules"]:
        assert rule["apiGroups"] == ["coordination.k8s.io"] and rule["resources"] == ["leases"]
        if set(rule["verbs"]) - {"create"}:
            assert rule.get("resourceNames") == ["kosmos-dr-drills"], rule
    binding = _one(rendered, "RoleBinding", "kosmos-dr-drill-lease")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kosmos-dr", "namespace": "kosmos-dr"}]


@needs_kubectl
def test_overlay_rbac_is_read_mostly_and_scoped(rendered):
    role = _one(rendered, "Role")
    assert role["metadata"]["namespace"] == "kosmos"
    granted = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
               for v in rule["verbs"]}
    for resource in ("pods", "configmaps", "services"):
        assert {("", resource, "get"), ("", resource, "list"), ("", resource, "watch")} <= granted
    for resource in ("deployments", "statefulsets"):
        assert ("apps", resource, "list") in granted
    assert ("metrics.k8s.io", "pods", "list") in granted
    assert ("", "pods/exec", "create") in granted
    assert not any(v in ("delete", "deletecollection", "update", "*") for _, _, v in granted)
    assert not any(r in ("secrets", "*") for _, r, _ in granted)
    cluster_role = _one(rendered, "ClusterRole")
    cluster_granted = {(g, r, v) for rule in cluster_role["rules"] for g in rule["apiGroups"]
                       for r in rule["resources"] for v in rule["verbs"]}
    assert {("", "nodes", "list"), ("storage.k8s.io", "storageclasses", "list"),
            ("metrics.k8s.io", "nodes", "list")} <= cluster_granted
    assert {v for _, _, v in cluster_granted} <= {"get", "list", "watch"}
    for binding in (_one(rendered, "RoleBinding"), _one(rendered, "ClusterRoleBinding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kosmos-dr", "namespace": "kosmos-dr"}]
    assert _one(rendered, "RoleBinding")["metadata"]["namespace"] == "kosmos"


@needs_kubectl
def test_overlay_applies_as_server_dry_run_and_stores_nothing(sandbox):
    kubeconfig = sandbox.state["kubernetes"]["kubeconfig"]
    # Like kube-apiserver, the sandbox refuses objects in a namespace that does not exist, and a
    # dry run creates none: on a fresh cluster, the namespace must exist before the dry run.
    fresh = _kubectl("apply", "-k", str(OVERLAY), "--dry-run=server", kubeconfig=kubeconfig)
    assert fresh.returncode != 0 and 'namespaces "kosmos-dr" not found' in fresh.stderr
    _kubectl("apply", "-f", str(BASE / "namespace.yaml"), kubeconfig=kubeconfig, check=True)
    try:
        done = _kubectl("apply", "-k", str(OVERLAY), "--dry-run=server", kubeconfig=kubeconfig)
        assert done.returncode == 0, done.stdout + done.stderr
        for line in ("cronjob.batch/kosmos-dr-monthly-restore created (server dry run)",
                     "serviceaccount/kosmos-dr created (server dry run)",
                     "role.rbac.authorization.k8s.io/kosmos-dr-checks created (server dry run)",
                     "clusterrolebinding.rbac.authorization.k8s.io/kosmos-dr-checks created (server dry run)"):
            assert line in done.stdout
        for args in (("get", "cronjob", "-n", "kosmos-dr"), ("get", "serviceaccount,configmap", "-n", "kosmos-dr"),
                     ("get", "role,rolebinding", "-n", "kosmos"), ("get", "clusterrole,clusterrolebinding")):
            listed = _kubectl(*args, "-o", "name", kubeconfig=kubeconfig, check=True)
            assert "kosmos-dr" not in listed.stdout, f"dry run stored {listed.stdout}"
    finally:
        _kubectl("delete", "namespace", "kosmos-dr", "--ignore-not-found", kubeconfig=kubeconfig)
    assert _kubectl("get", "cronjob", "-n", "kosmos-dr", "-o", "name", kubeconfig=kubeconfig).stdout.strip() == ""


@needs_kubectl
def test_rbac_kinds_are_served_with_validation(sandbox):
    kubeconfig = sandbox.state["kubernetes"]["kubeconfig"]
    resources = _kubectl("api-resources", "--api-group=rbac.authorization.k8s.io", "-o", "name",
                         kubeconfig=kubeconfig, check=True).stdout.split()
    assert sorted(resources) == sorted(["roles.rbac.authorization.k8s.io", "rolebindings.rbac.authorization.k8s.io",
                                        "clusterroles.rbac.authorization.k8s.io",
                                        "clusterrolebindings.rbac.authorization.k8s.io"])
    bad_rules = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: t, namespace: kosmos}\nrules: {}\n"
    no_ref = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: t, namespace: kosmos}\n"
    for manifest, reason in ((bad_rules, "rules: Invalid value"), (no_ref, "roleRef: Required value")):
        done = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "--context", "dr-cluster", "apply",
                               "--dry-run=server", "-f", "-"], input=manifest, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode != 0 and reason in done.stderr
