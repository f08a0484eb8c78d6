"""The configuration repository's contracts (issue 14): the clone runs with the user's Git credentials
(credential helper, SSH agent, HOME, GIT_*/SSH_* variables), a token from ``config_repo.token_env`` reaches
git without ever being on a command line or in any output, git never prompts and never outlives its
timeout; and the DR cluster in the alternate sandbox layout serves the overlay's extra kinds in its own
namespace, where the configuration checks pass and see its faults."""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from pytest_kosmos_dr.checks import configuration
from pytest_kosmos_dr.clients import git as git_client
from pytest_kosmos_dr.errors import DRUnverifiable
from pytest_kosmos_dr.redaction import redact

TOKEN = "ghp_h3bTokenThatMustNeverBePrinted0123456789"
URL = "https://git.example.com/kosmos/kosmos-infrastructure.git"


@pytest.fixture
def fake_git(tmp_path, monkeypatch):
    """A ``git`` first on PATH that records its argv and environment, then acts: ``clone`` creates the
    folder (or fails, printing the Authorization header it was given, as GIT_CURL_VERBOSE would), ``rev-parse``
    prints a commit, ``hang`` sleeps with a child process (an ssh) under it."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.jsonl"
    bin_dir.mkdir()
    script = bin_dir / "git"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, os, subprocess, sys, time
        with open({str(log)!r}, "a") as f:
            f.write(json.dumps({{"argv": sys.argv[1:], "env": dict(os.environ)}}) + "\\n")
        args = sys.argv[1:]
        mode = os.environ.get("FAKE_GIT_MODE", "ok")
        if "rev-parse" in args:
            print("c0ffee" * 6 + "c0ff")
        elif args[:1] == ["clone"] and mode == "ok":
            os.makedirs(args[-1])
        elif args[:1] == ["clone"] and mode == "fail":
            header = next((os.environ[k.replace("KEY", "VALUE")] for k in os.environ
                           if k.startswith("GIT_CONFIG_KEY_") and os.environ[k].endswith(".extraHeader")), "")
            print("> GET /info/refs HTTP/1.1\\n> " + header + "\\nfatal: Authentication failed for " + args[-2],
                  file=sys.stderr)
            sys.exit(128)
        elif args[:1] == ["clone"] and mode == "hang":
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            open(os.environ["FAKE_GIT_CHILD"], "w").write(str(child.pid))
            time.sleep(600)
        """))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def calls() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return calls


def test_the_clone_runs_with_the_users_git_and_ssh_environment(fake_git, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "agent.sock"))
    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -i ~/.ssh/kosmos_deploy")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "credential.helper")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "cache --timeout=3600")
    monkeypatch.delenv("KOSMOS_CONFIG_TOKEN", raising=False)
    checkout = configuration.clone_production(URL, "production", tmp_path / "checkout")
    assert checkout.head == "c0ffee" * 6 + "c0ff"
    clone = fake_git()[0]
    assert clone["argv"][:2] == ["clone", "--quiet"] and clone["argv"][-2] == URL
    env = clone["env"]
    assert env["HOME"] == str(home) and env["SSH_AUTH_SOCK"] == str(tmp_path / "agent.sock")
    assert env["GIT_SSH_COMMAND"] == "ssh -i ~/.ssh/kosmos_deploy"
    assert (env["GIT_CONFIG_COUNT"], env["GIT_CONFIG_KEY_0"], env["GIT_CONFIG_VALUE_0"]) == \
        ("1", "credential.helper", "cache --timeout=3600")
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GCM_INTERACTIVE"] == "never"


def test_a_token_from_token_env_reaches_git_only_through_its_environment(fake_git, tmp_path, monkeypatch):
    monkeypatch.setenv("KOSMOS_CONFIG_TOKEN", TOKEN)
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "credential.helper")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "store")
    configuration.clone_production(URL, "production", tmp_path / "checkout", token_env="KOSMOS_CONFIG_TOKEN")
    clone = fake_git()[0]
    assert not any(TOKEN in arg for arg in clone["argv"])
    env = clone["env"]
    assert env["GIT_CONFIG_KEY_0"] == "credential.helper"  # the user's own configuration stays first
    assert (env["GIT_CONFIG_COUNT"], env["GIT_CONFIG_KEY_1"]) == ("2", "http.https://git.example.com/.extraHeader")
    basic = env["GIT_CONFIG_VALUE_1"].removeprefix("Authorization: Basic ")
    assert base64.b64decode(basic).decode() == f"x-access-token:{TOKEN}"


def test_a_failed_clone_never_shows_the_token(fake_git, tmp_path, monkeypatch):
    monkeypatch.setenv("KOSMOS_CONFIG_TOKEN", TOKEN)
    monkeypatch.setenv("FAKE_GIT_MODE", "fail")
    with pytest.raises(DRUnverifiable) as raised:
        configuration.clone_production(URL, "production", tmp_path / "checkout", token_env="KOSMOS_CONFIG_TOKEN")
    text = str(raised.value) + repr(raised.value)
    assert "Authentication failed" in text and TOKEN not in text
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert TOKEN not in redact(f"Authorization: Basic {basic} {TOKEN}") and basic not in redact(basic)


def test_a_token_env_that_is_not_set_is_unverifiable(fake_git, tmp_path, monkeypatch):
    monkeypatch.delenv("KOSMOS_CONFIG_TOKEN", raising=False)
    with pytest.raises(DRUnverifiable, match=r"\$KOSMOS_CONFIG_TOKEN, which is not set"):
        configuration.clone_production(URL, "production", tmp_path / "checkout", token_env="KOSMOS_CONFIG_TOKEN")
    assert fake_git() == []


def test_a_hanging_clone_is_stopped_with_everything_it_started(fake_git, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_GIT_MODE", "hang")
    monkeypatch.setenv("FAKE_GIT_CHILD", str(tmp_path / "child.pid"))
    monkeypatch.setattr(git_client, "GIT_TIMEOUT_S", 3)
    with pytest.raises(DRUnverifiable, match="git clone took over 3 s"):
        configuration.clone_production(URL, "production", tmp_path / "checkout")
    child = int((tmp_path / "child.pid").read_text())
    for _ in range(50):  # killed with its process group; reaped by init
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        if Path(f"/proc/{child}/stat").exists() and Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
            break
        threading.Event().wait(0.1)
    else:
        pytest.fail(f"git's child {child} outlived the timeout")


# --- real git over HTTP: the token authenticates, its absence fails without a prompt ---------------------


@pytest.fixture
def private_repo(tmp_path):
    """A repository served over Git's smart HTTP protocol that answers 401 without ``x-access-token:TOKEN``."""
    source, served = tmp_path / "source", tmp_path / "www" / "kosmos-infrastructure.git"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q", "-b", "production", str(source)], check=True, timeout=30)
    (source / "README.md").write_text("KOSMOS\n")
    subprocess.run([*git, "-C", str(source), "add", "-A"], check=True, timeout=30)
    subprocess.run([*git, "-C", str(source), "commit", "-q", "-m", "c"], check=True, timeout=30)
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(served)], check=True, timeout=30)
    expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        """Git's smart HTTP protocol: ``git http-backend`` as a CGI program, behind Basic auth."""

        def _serve(self):
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path, _, query = self.path.partition("?")
            env = {"GIT_PROJECT_ROOT": str(tmp_path / "www"), "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
                   "QUERY_STRING": query, "REQUEST_METHOD": self.command, "PATH": os.environ["PATH"],
                   "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body))}
            out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=30).stdout
            head, _, payload = out.partition(b"\r\n\r\n")
            headers = [line.split(":", 1) for line in head.decode().split("\r\n") if ":" in line]
            status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
            self.send_response(status)
            for key, value in headers:
                if key.lower() != "status":
                    self.send_header(key, value.strip())
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/kosmos-infrastructure.git"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_real_git_clones_a_private_repository_with_the_token(private_repo, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no user credential helper in the way
    monkeypatch.setenv("KOSMOS_CONFIG_TOKEN", TOKEN)
    checkout = configuration.clone_production(private_repo, "production", tmp_path / "co",
                                              token_env="KOSMOS_CONFIG_TOKEN")
    assert checkout.path is not None and (checkout.path / "README.md").read_text() == "KOSMOS\n"
    assert len(checkout.head) == 40
    config = (checkout.path / ".git" / "config").read_text()
    assert TOKEN not in config and "extraHeader" not in config  # nothing of it stays in the checkout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_real_git_without_credentials_fails_unverifiable_without_prompting(private_repo, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(DRUnverifiable) as raised:
        configuration.clone_production(private_repo, "production", tmp_path / "co")
    assert "terminal prompts disabled" in str(raised.value) or "Authentication failed" in str(raised.value)


# --- the alternate layout's DR cluster (only the kube component, ctx.layout = ALTERNATE) ------------------

from kube_helpers import BackgroundCluster  # noqa: E402

from pytest_kosmos_dr.clients.kube import connect  # noqa: E402
from pytest_kosmos_dr.sandbox.layout import ALTERNATE  # noqa: E402
from pytest_kosmos_dr.target import Timeouts  # noqa: E402

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


@pytest.fixture(scope="module")
def alternate_cluster(tmp_path_factory):
    running = BackgroundCluster(tmp_path_factory.mktemp("state"), tmp_path_factory.mktemp("data"),
                                layout=ALTERNATE).start()
    yield running
    running.stop()


def _fault(cluster, name):
    fault = next(f for f in cluster.component.faults() if f.name == name)
    run = lambda step: asyncio.run_coroutine_threadsafe(step(), cluster.loop).result(timeout=30)  # noqa: E731
    return (lambda: run(fault.apply)), (lambda: run(fault.revert))


def _config_checks(cluster, tmp_path):
    """BAK-CONFIG-GITOPS and REC-CONFIG-APPLY against ``cluster``, as suites/test_configuration.py runs them."""
    overlay, namespace = "overlays/production", ALTERNATE.namespace
    checkout = configuration.clone_production(cluster.state["config_repo"], "production", tmp_path / "checkout")
    rendered, error = configuration.render_overlay(checkout, overlay)
    dr = connect(cluster.state["kubeconfig"], "dr-cluster", Timeouts())
    try:
        kinds = configuration.rendered_kinds(dr.discovery(), rendered)
        live = configuration.live_objects_for(dr, rendered, namespace, kinds)
        applied = configuration.applied_objects(dr, rendered, namespace, kinds)
        pods = dr.list(f"/api/v1/namespaces/{namespace}/pods")
        gitops = configuration.gitops_in_sync(checkout, overlay, rendered, error, live, "dr-cluster", applied=applied,
                                              pods=pods, unserved=kinds.unserved)
    finally:
        dr.close()
    apply = configuration.apply_dry_run(checkout, overlay, cluster.state["kubeconfig"], "dr-cluster", rendered=rendered)
    return rendered, gitops, apply


@needs_kubectl
@pytest.mark.slow  # a cluster API server of its own in the alternate layout
def test_the_alternate_layouts_cluster_runs_kosmos_in_its_own_namespace_and_region(alternate_cluster):
    pods = alternate_cluster.kubectl("get", "pods", "-n", "kosmos-dr", "--no-headers").stdout.decode()
    assert {"zeus-orchestrator-0", "athena-analyst-0", "hermes-courier-0"} <= {line.split()[0] for line in pods.splitlines()}
    assert "No resources found" in alternate_cluster.kubectl("get", "pods", "-n", "kosmos").stderr.decode()
    zones = alternate_cluster.kubectl("get", "nodes", "-L", "topology.kubernetes.io/zone", "--no-headers").stdout.decode()
    assert all(f"eu-central-1{z}" in zones for z in "abc") and "us-west-2" not in zones
    assert alternate_cluster.state["namespace"] == "kosmos-dr"


@needs_kubectl
@pytest.mark.slow  # a cluster API server of its own in the alternate layout
def test_the_alternate_overlay_renders_its_extra_kinds_and_the_configuration_checks_pass(alternate_cluster, tmp_path):
    rendered, gitops, apply = _config_checks(alternate_cluster, tmp_path)
    kinds = {o["kind"] for o in rendered}
    assert set(ALTERNATE.extra_overlay_kinds) <= kinds
    assert {o["metadata"]["namespace"] for o in rendered} == {"kosmos-dr"}
    assert gitops.passed, gitops.summary
    assert f"{len(rendered)} objects" in gitops.summary
    assert apply.passed, apply.summary


@needs_kubectl
@pytest.mark.slow  # a cluster API server of its own in the alternate layout
def test_an_ingress_drifted_in_the_alternate_layout_fails_gitops_naming_it(alternate_cluster, tmp_path):
    apply_fault, revert = _fault(alternate_cluster, "ingress-drifted")
    apply_fault()
    try:
        _, gitops, apply = _config_checks(alternate_cluster, tmp_path)
    finally:
        revert()
    assert not gitops.passed
    assert ("Ingress/kosmos-api (ns kosmos-dr): spec.rules[0].http.paths[0].backend.service.name: Git 'kosmos-api', "
            "cluster 'kosmos-maintenance-page'") in gitops.summary
    assert apply.passed, apply.summary  # the overlay still applies: only the running state is wrong
    assert _config_checks(alternate_cluster, tmp_path / "again")[1].passed


@needs_kubectl
@pytest.mark.slow  # a cluster API server of its own in the alternate layout
def test_a_cluster_that_does_not_serve_the_ingress_api_fails_both_checks(alternate_cluster, tmp_path):
    apply_fault, revert = _fault(alternate_cluster, "ingress-api-not-served")
    apply_fault()
    try:
        _, gitops, apply = _config_checks(alternate_cluster, tmp_path)
    finally:
        revert()
    assert not gitops.passed and not apply.passed
    assert ("overlays/production renders Ingress (networking.k8s.io/v1) but the DR cluster does not serve it "
            "(kosmos-api)") in gitops.summary
    # kubectl refuses before the server judges anything (its validation finds no networking.k8s.io/v1 schema, or
    # no mapping for the kind): failed, not unverifiable - the cluster answered, and cannot take the overlay
    assert "does not apply to the DR cluster" in apply.summary, apply.summary


def test_the_alternate_config_repository_renders_the_layouts_namespace(tmp_path):
    from pytest_kosmos_dr.sandbox.config_repo import create_config_repo

    repo = create_config_repo(tmp_path / "repo", ALTERNATE)
    overlay = (repo / "overlays/production/kustomization.yaml").read_text()
    assert "namespace: kosmos-dr\n" in overlay
    extras = (repo / "extras/kustomization.yaml").read_text()
    assert all(f"{kind.lower()}.yaml" in extras for kind in ALTERNATE.extra_overlay_kinds)
