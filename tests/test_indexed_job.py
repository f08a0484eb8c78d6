"""Many DR estates, one pod each: the Indexed Job example and the entrypoint's choice of target."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pytest_kosmos_dr.config import load_config

REPO = Path(__file__).resolve().parent.parent
INDEXED = REPO / "deploy" / "indexed-job"
ENTRYPOINT = REPO / "deploy" / "container" / "run-drills.sh"

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not on PATH")


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not on PATH")
    done = subprocess.run(["kubectl", "kustomize", str(INDEXED)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container["env"]}


def test_one_indexed_pod_per_target_of_the_shipped_targets_file(rendered, tmp_path):
    kinds = [d["kind"] for d in rendered]
    assert "CronJob" not in kinds and kinds.count("Job") == 1
    job = next(d for d in rendered if d["kind"] == "Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    targets = _env(container)["DR_TARGETS"].split(",")
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == len(targets) >= 2
    assert job["spec"]["backoffLimitPerIndex"] == 0 and job["spec"]["activeDeadlineSeconds"] <= 4 * 3600
    config_map = next(d for d in rendered if d["kind"] == "ConfigMap")
    targets_file = tmp_path / "kosmos-dr.toml"
    targets_file.write_text(config_map["data"]["kosmos-dr.toml"])
    config = load_config(tmp_path, explicit=str(targets_file))
    for name in targets:
        target = config.targets[name]
        assert target.production and target.kubernetes.kubeconfig == _env(container)["KUBECONFIG"]
        assert target.kubernetes.context == name
    regions = {config.targets[n].aws.secondary_region for n in targets}
    assert len(regions) == len(targets), "each estate recovers in its own region"


def _fake_python(folder: Path, log: Path) -> None:
    script = folder / "python"
    script.write_text(f'#!/bin/sh\necho "$@" >> {log}\ncat > /dev/null\nexit 0\n')
    script.chmod(0o755)


@pytest.mark.parametrize(("index", "target"), [("0", "dr-us-west-2"), ("1", "dr-eu-central-1")])
def test_the_entrypoint_runs_the_target_at_its_completion_index(tmp_path, index, target):
    log = tmp_path / "calls.log"
    _fake_python(tmp_path, log)
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "DR_TARGETS": "dr-us-west-2, dr-eu-central-1",
           "JOB_COMPLETION_INDEX": index, "REPORTS_DIR": str(tmp_path / "reports"), "TMPDIR": str(tmp_path)}
    done = subprocess.run(["bash", str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    first = log.read_text().splitlines()[0]
    assert f"--dr-target={target}" in first and f"--dr-confirm-target={target}" in first


@pytest.mark.parametrize("index", ["2", "", "x"])
def test_an_index_outside_the_targets_is_one_line_and_exit_4(tmp_path, index):
    env = {"PATH": os.environ["PATH"], "DR_TARGETS": "a,b", "REPORTS_DIR": str(tmp_path)}
    if index:
        env["JOB_COMPLETION_INDEX"] = index
    done = subprocess.run(["bash", str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 4 and done.stderr.count("\n") == 1 and "completions must equal" in done.stderr


@needs_kubectl
def test_the_job_applies_as_a_server_dry_run(sandbox):
    kubeconfig = sandbox.state["kubernetes"]["kubeconfig"]
    kubectl = ["kubectl", "--kubeconfig", kubeconfig, "--context", "dr-cluster"]
    run = lambda *a: subprocess.run([*kubectl, *a], capture_output=True, text=True, timeout=120)  # noqa: E731
    assert run("apply", "-f", str(REPO / "deploy" / "cronjob" / "base" / "namespace.yaml")).returncode == 0
    try:
        done = run("apply", "-k", str(INDEXED), "--dry-run=server")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "job.batch/kosmos-dr-estates created (server dry run)" in done.stdout
        assert run("get", "jobs", "-n", "kosmos-dr", "-o", "name").stdout.strip() == ""
    finally:
        run("delete", "namespace", "kosmos-dr", "--ignore-not-found")
