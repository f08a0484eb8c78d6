"""The DR cluster's kubeconfig, read without the Kubernetes client: every way a kubeconfig may authenticate.

Unit tests on written kubeconfigs, and the sandbox's API reached through each form (token, token file,
an exec credential plugin as EKS uses, client certificate refused by a token-only API)."""

from __future__ import annotations

import base64
import json
import stat
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from pytest_kosmos_dr.clients import kubeconfig
from pytest_kosmos_dr.clients.kube import OfficialClientTransport, connect
from pytest_kosmos_dr.errors import DRUnverifiable
from pytest_kosmos_dr.target import Timeouts


def _write(tmp_path: Path, user: dict, cluster: dict | None = None, name: str = "config") -> Path:
    document = {
        "apiVersion": "v1", "kind": "Config", "current-context": "other",
        "clusters": [{"name": "dr", "cluster": cluster or {"server": "https://dr.example:6443"}}],
        "users": [{"name": "dr-user", "user": user}],
        "contexts": [{"name": "dr-cluster", "context": {"cluster": "dr", "user": "dr-user"}},
                     {"name": "other", "context": {"cluster": "dr", "user": "dr-user"}}],
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document))
    return path


def _plugin(tmp_path: Path, token: str, expires: str | None = None, version: str = "client.authentication.k8s.io/v1beta1",
            exit_code: int = 0) -> Path:
    """An exec credential plugin that counts its runs and prints ``token``."""
    status = {"token": token, **({"expirationTimestamp": expires} if expires else {})}
    script = tmp_path / "bin" / "get-token"
    script.parent.mkdir(exist_ok=True)
    script.write_text(f"""#!{sys.executable}
import json, os, pathlib, sys
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
runs = pathlib.Path({str(tmp_path / 'runs')!r})
runs.write_text(str(int(runs.read_text() if runs.exists() else 0) + 1))
pathlib.Path({str(tmp_path / 'exec-info.json')!r}).write_text(json.dumps(info))
if {exit_code}:
    print("token service unavailable", file=sys.stderr); sys.exit({exit_code})
print(json.dumps({{"apiVersion": {version!r}, "kind": "ExecCredential", "status": {status!r}}}))
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_token_ca_data_and_the_named_context_not_the_current_one(tmp_path):
    ca = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    path = _write(tmp_path, {"token": "s3cr3t-token"},
                  {"server": "https://dr.example:6443/", "certificate-authority-data": base64.b64encode(ca).decode(),
                   "tls-server-name": "api.dr.internal"})
    found = kubeconfig.access(path, "dr-cluster")
    assert (found.server, found.ca_data, found.tls_server_name) == ("https://dr.example:6443", ca, "api.dr.internal")
    assert found.authorization() == "Bearer s3cr3t-token"
    assert "s3cr3t-token" not in repr(found), "the token must not print with the access"


def test_token_file_and_ca_file_are_relative_to_the_kubeconfig(tmp_path):
    (tmp_path / "sa").mkdir()
    (tmp_path / "sa" / "token").write_text("from-file\n")
    path = _write(tmp_path, {"tokenFile": "sa/token"}, {"server": "https://dr.example", "certificate-authority": "ca.crt"})
    found = kubeconfig.access(path, "dr-cluster")
    assert found.ca_file == str(tmp_path / "ca.crt")
    assert found.authorization() == "Bearer from-file"


def test_an_exec_plugin_is_run_once_and_again_when_its_token_expired(tmp_path):
    plugin = _plugin(tmp_path, "eks-token-1", expires="2999-01-01T00:00:00Z")
    path = _write(tmp_path, {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "bin/get-token",
                                      "args": ["--cluster", "dr"], "env": [{"name": "AWS_PROFILE", "value": "dr"}]}})
    found = kubeconfig.access(path, "dr-cluster")
    assert found.exec_plugin.command == [str(plugin), "--cluster", "dr"]  # relative to the kubeconfig's folder
    assert found.authorization() == found.authorization() == "Bearer eks-token-1"
    assert (tmp_path / "runs").read_text() == "1", "a valid token is reused"
    info = json.loads((tmp_path / "exec-info.json").read_text())
    assert info == {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                    "spec": {"interactive": False}}

    _plugin(tmp_path, "eks-token-2", expires="2000-01-01T00:00:00Z")
    found = kubeconfig.access(path, "dr-cluster")
    found.authorization()
    found.authorization()
    assert (tmp_path / "runs").read_text() == "3", "an expired token is fetched again before the next request"


@pytest.mark.parametrize("broken, message", [
    ({"exit_code": 3}, "exited with 3: token service unavailable"),
    ({"version": "client.authentication.k8s.io/v1"}, "answered 'client.authentication.k8s.io/v1'"),
])
def test_a_failing_exec_plugin_is_one_line_not_a_traceback(tmp_path, broken, message):
    _plugin(tmp_path, "t", **broken)
    path = _write(tmp_path, {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                      "command": str(tmp_path / "bin" / "get-token")}})
    with pytest.raises(kubeconfig.KubeconfigError, match=message):
        kubeconfig.access(path, "dr-cluster").authorization()


def test_a_missing_exec_plugin_is_named(tmp_path):
    path = _write(tmp_path, {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                      "command": "kosmos-no-such-plugin"}})
    with pytest.raises(kubeconfig.KubeconfigError, match="'kosmos-no-such-plugin' not found"):
        kubeconfig.access(path, "dr-cluster").authorization()


def test_unknown_context_and_malformed_kubeconfig_are_one_line_unverifiable(tmp_path):
    path = _write(tmp_path, {"token": "t"})
    with pytest.raises(DRUnverifiable, match="context 'dr-east' is not in .*available: dr-cluster, other"):
        connect(str(path), "dr-east", Timeouts())
    path.write_text("clusters: [unclosed")
    with pytest.raises(DRUnverifiable, match="kubeconfig unusable: .* is not a readable kubeconfig"):
        connect(str(path), "dr-cluster", Timeouts())
    path = _write(tmp_path, {"token": "t"}, {"server": ""})
    with pytest.raises(DRUnverifiable, match="kubeconfig unusable: cluster 'dr' has no server URL"):
        connect(str(path), "dr-cluster", Timeouts())


def test_an_auth_provider_user_is_left_to_the_official_client(tmp_path):
    path = _write(tmp_path, {"auth-provider": {"name": "oidc", "config": {"id-token": "x.y.z", "client-id": "kosmos",
                                                                          "idp-issuer-url": "https://idp.example"}}})
    with pytest.raises(kubeconfig.Unsupported):
        kubeconfig.access(path, "dr-cluster")
    cluster = connect(str(path), "dr-cluster", Timeouts())
    try:
        assert isinstance(cluster.transport, OfficialClientTransport)
    finally:
        cluster.close()


def _sandbox_kubeconfig(sandbox) -> tuple[dict, dict, str]:
    document = yaml.safe_load(Path(sandbox.state["kubernetes"]["kubeconfig"]).read_text())
    cluster, user = document["clusters"][0]["cluster"], document["users"][0]["user"]
    return cluster, user, str(user["token"])


@pytest.mark.parametrize("form", ["token", "tokenFile", "exec"])
def test_each_form_reaches_the_sandbox_api(sandbox, tmp_path, form):
    cluster, _, token = _sandbox_kubeconfig(sandbox)
    if form == "token":
        user = {"token": token}
    elif form == "tokenFile":
        (tmp_path / "token").write_text(token)
        user = {"tokenFile": "token"}
    else:
        _plugin(tmp_path, token)
        user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "bin/get-token"}}
    dr = connect(str(_write(tmp_path, user, cluster)), "dr-cluster", Timeouts())
    try:
        pods = dr.list("/api/v1/namespaces/kosmos/pods")
    finally:
        dr.close()
    assert any(p["metadata"]["name"].startswith("zeus-orchestrator-") for p in pods)


def test_a_wrong_token_or_an_untrusted_server_is_unverifiable_with_the_reason(sandbox, tmp_path):
    cluster, _, _ = _sandbox_kubeconfig(sandbox)
    patient = Timeouts(connect=timedelta(seconds=60), read=timedelta(seconds=60))  # a loaded machine: no timeout first
    dr = connect(str(_write(tmp_path, {"token": "not-the-token"}, cluster)), "dr-cluster", patient)
    with pytest.raises(DRUnverifiable, match="HTTP 401: credentials rejected"):
        dr.list("/api/v1/namespaces/kosmos/pods")
    dr.close()
    untrusted = {"server": cluster["server"]}  # the system's CAs do not know the sandbox's
    dr = connect(str(_write(tmp_path, {"token": "t"}, untrusted, name="untrusted")), "dr-cluster", patient)
    with pytest.raises(DRUnverifiable, match="TLS certificate not trusted"):
        dr.list("/api/v1/namespaces/kosmos/pods")
    dr.close()
