"""A kubeconfig context read the way kubectl reads it, for a plain HTTPS client (no Kubernetes client import).

``access(path, context)`` gives the API server's address, how to trust it and how to authenticate:
bearer token (``token``, ``tokenFile``), client certificate (``client-certificate(-data)``,
``client-key(-data)``), basic auth, or an ``exec`` credential plugin (``aws eks get-token``, ...: run
with ``KUBERNETES_EXEC_INFO``, bounded by a timeout, its token refreshed when it expires). ``in_cluster()``
reads the pod's service account. A user entry this module does not speak (``auth-provider``: the
legacy gcp/azure/oidc plugins) raises ``Unsupported``: the caller then uses the official client.
Relative file paths are relative to the kubeconfig's folder, as kubectl resolves them.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..redaction import Secret

EXEC_TIMEOUT_S = 60  # a credential plugin that hangs must not hang the run
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeconfigError(Exception):
    """The kubeconfig cannot be used as it is (one line: what is wrong)."""


class Unsupported(Exception):
    """The context's user authenticates in a way only the official client implements."""


@dataclass
class ClusterAccess:
    """Where the API server is, how to trust it and how to present ourselves to it."""

    server: str
    context: str
    ca_file: str | None = None
    ca_data: bytes | None = None
    insecure: bool = False
    tls_server_name: str | None = None
    proxy: str | None = None
    cert: tuple[bytes, bytes] | None = None  # (certificate PEM, key PEM)
    token: str | None = None
    token_file: str | None = None
    basic: tuple[str, str] | None = None
    exec_plugin: "ExecPlugin | None" = None

    def ssl_context(self) -> ssl.SSLContext:
        """A TLS context trusting the cluster's CA (or the system's), presenting the client certificate."""
        context = ssl.create_default_context(cafile=self.ca_file,
                                             cadata=self.ca_data.decode() if self.ca_data else None)
        if self.insecure:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        cert = self.cert or (self.exec_plugin.cert() if self.exec_plugin else None)
        if cert:
            _load_cert_chain(context, *cert)
        return context

    def authorization(self) -> str | None:
        """The ``Authorization`` header for the next request (an exec plugin's token is refreshed when due)."""
        if self.token:
            return f"Bearer {self.token}"
        if self.token_file:
            try:
                return f"Bearer {Secret(Path(self.token_file).read_text().strip())}"
            except OSError as exc:
                raise KubeconfigError(f"tokenFile {self.token_file}: {exc.strerror}") from None
        if self.exec_plugin is not None:
            token = self.exec_plugin.token()
            return f"Bearer {token}" if token else None
        if self.basic:
            raw = base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            return f"Basic {Secret(raw)}"
        return None


def _load_cert_chain(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """``load_cert_chain`` reads files only: a private temporary folder, removed right after."""
    with tempfile.TemporaryDirectory(prefix="kosmos-dr-kube-") as folder:
        cert, key = Path(folder, "client.crt"), Path(folder, "client.key")
        for path, data in ((cert, cert_pem), (key, key_pem)):
            path.touch(mode=0o600)
            path.write_bytes(data)
        try:
            context.load_cert_chain(str(cert), str(key))
        except ssl.SSLError as exc:
            raise KubeconfigError(f"client certificate or key unusable: {exc.reason or exc}") from None


@dataclass
class ExecPlugin:
    """An ``exec`` credential plugin: run when a credential is needed and again when it has expired."""

    command: list[str]
    api_version: str
    env: dict[str, str]
    cwd: str | None
    cluster: dict | None = None
    _status: dict | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _credential(self) -> dict:
        with self._lock:
            if self._status is None or _expired(self._status.get("expirationTimestamp")):
                self._status = self._run()
            return self._status

    def token(self) -> str | None:
        token = self._credential().get("token")
        return Secret(token) if token else None

    def cert(self) -> tuple[bytes, bytes] | None:
        status = self._credential()
        if status.get("clientCertificateData") and status.get("clientKeyData"):
            Secret(status["clientKeyData"])
            return status["clientCertificateData"].encode(), status["clientKeyData"].encode()
        return None

    def _run(self) -> dict:
        spec: dict = {"interactive": False}
        if self.cluster is not None:
            spec["cluster"] = self.cluster
        from ..prefetch import environ_snapshot  # run in a read-pool thread: os.environ may change meanwhile

        env = {**environ_snapshot(), **self.env,
               "KUBERNETES_EXEC_INFO": json.dumps({"apiVersion": self.api_version, "kind": "ExecCredential",
                                                   "spec": spec})}
        name = self.command[0]
        try:
            done = subprocess.run(self.command, capture_output=True, text=True, env=env, cwd=self.cwd,
                                  stdin=subprocess.DEVNULL, timeout=EXEC_TIMEOUT_S)
        except FileNotFoundError:
            raise KubeconfigError(f"exec plugin {name!r} not found on PATH") from None
        except subprocess.TimeoutExpired:
            raise KubeconfigError(f"exec plugin {name!r} gave no credential within {EXEC_TIMEOUT_S} s") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [""])[-1][:200]
            raise KubeconfigError(f"exec plugin {name!r} exited with {done.returncode}" + (f": {last}" if last else ""))
        try:
            answer = json.loads(done.stdout)
            status = answer["status"]
        except (ValueError, KeyError, TypeError):
            raise KubeconfigError(f"exec plugin {name!r} did not print an ExecCredential") from None
        if answer.get("apiVersion") != self.api_version or not isinstance(status, dict):
            raise KubeconfigError(f"exec plugin {name!r} answered {answer.get('apiVersion')!r}, "
                                  f"not {self.api_version!r}")
        return status


def _expired(stamp: str | None) -> bool:
    if not stamp:
        return False
    try:
        at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return True
    return at.astimezone(timezone.utc) <= datetime.now(timezone.utc)


def _named(entries, name: str, what: str, path: Path) -> dict:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry.get(what) or {}
    raise KubeconfigError(f"{what} {name!r} of the context is not in {path}")


def _file(base: Path, value) -> str:
    return str(Path(value) if Path(value).is_absolute() else base / value)


def _data(entry: dict, key: str, base: Path) -> bytes | None:
    """``<key>-data`` (base64) or ``<key>`` (a file), as bytes."""
    if entry.get(f"{key}-data"):
        try:
            return base64.b64decode(entry[f"{key}-data"])
        except ValueError:
            raise KubeconfigError(f"{key}-data is not base64") from None
    if entry.get(key):
        try:
            return Path(_file(base, entry[key])).read_bytes()
        except OSError as exc:
            raise KubeconfigError(f"{key} {entry[key]}: {exc.strerror}") from None
    return None


def contexts(path: Path) -> tuple[dict, list[str]]:
    """The parsed kubeconfig and its context names."""
    import yaml

    from .. import yaml_docs

    try:
        document = yaml_docs.load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise KubeconfigError(f"{path} is not a readable kubeconfig: {str(exc).splitlines()[0]}") from None
    if not isinstance(document, dict):
        raise KubeconfigError(f"{path} is not a kubeconfig (no mapping at its top)")
    names = [c.get("name") for c in document.get("contexts") or [] if isinstance(c, dict) and c.get("name")]
    return document, names


def access(path: Path, context: str, document: dict | None = None) -> ClusterAccess:
    """How to reach ``context`` of the kubeconfig at ``path`` (``Unsupported``: leave it to the official client)."""
    if document is None:
        document, _ = contexts(path)
    base = path.parent
    ctx = _named(document.get("contexts"), context, "context", path)
    cluster = _named(document.get("clusters"), ctx.get("cluster"), "cluster", path)
    user = _named(document.get("users"), ctx.get("user"), "user", path) if ctx.get("user") else {}
    if user.get("auth-provider"):
        raise Unsupported("auth-provider")
    server = str(cluster.get("server") or "").rstrip("/")
    if not server.startswith(("https://", "http://")):
        raise KubeconfigError(f"cluster {ctx.get('cluster')!r} has no server URL")
    found = ClusterAccess(server, context, insecure=bool(cluster.get("insecure-skip-tls-verify")),
                          tls_server_name=cluster.get("tls-server-name"), proxy=cluster.get("proxy-url"))
    if cluster.get("certificate-authority-data"):
        found.ca_data = _data(cluster, "certificate-authority", base)
    elif cluster.get("certificate-authority"):
        found.ca_file = _file(base, cluster["certificate-authority"])
    cert, key = _data(user, "client-certificate", base), _data(user, "client-key", base)
    if cert and key:
        Secret(key.decode(errors="replace"))
        found.cert = (cert, key)
    if user.get("token"):
        found.token = Secret(str(user["token"]))
    elif user.get("tokenFile"):
        found.token_file = _file(base, user["tokenFile"])
    elif user.get("exec"):
        found.exec_plugin = _exec_plugin(user["exec"], base, cluster)
    elif user.get("username") and user.get("password"):
        found.basic = (str(user["username"]), Secret(str(user["password"])))
    return found


def _exec_plugin(spec: dict, base: Path, cluster: dict) -> ExecPlugin:
    if not isinstance(spec, dict) or not spec.get("command") or not spec.get("apiVersion"):
        raise KubeconfigError("exec: the plugin needs a command and an apiVersion")
    command = str(spec["command"])
    if os.sep in command and not os.path.isabs(command):
        command = str(base / command)  # kubectl: a relative path with a slash is relative to the kubeconfig
    env = {str(e.get("name")): str(e.get("value", "")) for e in spec.get("env") or [] if isinstance(e, dict)}
    shown = None
    if spec.get("provideClusterInfo"):
        shown = {k: v for k, v in cluster.items() if k in ("server", "certificate-authority-data",
                                                           "insecure-skip-tls-verify", "tls-server-name",
                                                           "proxy-url")}
        for extension in cluster.get("extensions") or []:
            if isinstance(extension, dict) and extension.get("name") == "client.authentication.k8s.io/exec":
                shown["config"] = extension.get("extension")
    return ExecPlugin([command, *[str(a) for a in spec.get("args") or []]], str(spec["apiVersion"]), env,
                      str(base), shown)


def api_server(kubeconfig: str, context: str) -> str | None:
    """The API server URL of ``context`` in ``kubeconfig``, or with none given in ``$KUBECONFIG``'s files as
    kubectl merges them (the first to name a context or cluster wins), else ``~/.kube/config``; None when
    not found, or reached through a proxy (for the round-trip probe, which must not bypass it)."""
    import yaml

    from .. import yaml_docs

    paths = [kubeconfig] if kubeconfig else [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    configs = []
    for path in paths or [str(Path.home() / ".kube" / "config")]:
        try:
            loaded = yaml_docs.load(Path(path).expanduser().read_text())
        except (OSError, ValueError, yaml.YAMLError):
            continue
        if isinstance(loaded, dict):
            configs.append(loaded)

    def entries(what: str):
        return [e for config in configs if isinstance(config.get(what), list) for e in config[what]
                if isinstance(e, dict)]

    cluster_name = next(((c.get("context") or {}).get("cluster") for c in entries("contexts")
                         if c.get("name") == context), None)
    cluster = next((c.get("cluster") or {} for c in entries("clusters") if c.get("name") == cluster_name), None)
    if not cluster or cluster.get("proxy-url") or any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy")):
        return None
    return cluster.get("server")


def in_cluster() -> ClusterAccess:
    """The pod's service account (``KUBERNETES_SERVICE_HOST``/``_PORT``, its token and CA)."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise KubeconfigError("not in a pod: KUBERNETES_SERVICE_HOST/PORT are not set")
    if not (SERVICE_ACCOUNT / "token").is_file():
        raise KubeconfigError(f"no service account token at {SERVICE_ACCOUNT / 'token'}")
    host = f"[{host}]" if ":" in host else host
    return ClusterAccess(f"https://{host}:{port}", "in-cluster", ca_file=str(SERVICE_ACCOUNT / "ca.crt"),
                         token_file=str(SERVICE_ACCOUNT / "token"))
