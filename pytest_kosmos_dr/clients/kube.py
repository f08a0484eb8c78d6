"""The DR cluster's Kubernetes API: the target's kubeconfig and context, over HTTPS (kubeconfig.py).

Never the ambient current context: the context always comes from the target (or in-cluster
config when the target says so). Lists are fetched as raw JSON pages (``limit``/``continue``)
and evaluated locally, so thousands of pods cost a few requests and no model deserialization.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DRUnverifiable
from ..target import Timeouts

POOL_CONNECTIONS = 40  # connections kept per endpoint: above the run's read pool (prefetch.WORKERS)
PAGE_SIZE = 500


class ClusterUnreachable(Exception):
    """No HTTP answer from the cluster's API (connection, TLS, timeout): the transport's error, as text."""


class DRCluster:
    """A bounded, read-mostly view of one Kubernetes API."""

    def __init__(self, transport, context: str, timeouts: Timeouts) -> None:
        self.transport = transport
        self.context = context
        self.request_timeout = (timeouts.connect.total_seconds(), timeouts.read.total_seconds())
        self.requests = 0  # how many API calls this view made (cost stays per page, not per object)
        self._discovery: Discovery | None = None

    def discovery(self) -> "Discovery":
        """What this cluster serves (``/api``, ``/apis``, group versions), fetched once per run."""
        if self._discovery is None:
            self._discovery = Discovery(self.get_json)
        return self._discovery

    def request(self, method: str, path: str, query: list[tuple[str, Any]] | None = None,
                body: dict | None = None) -> tuple[int, str, bytes]:
        """One API call: (HTTP status, reason, body), whatever the status; ``ClusterUnreachable`` when no
        HTTP answer came, ``DRUnverifiable`` when the kubeconfig's credential plugin fails."""
        self.requests += 1
        return self.transport.request(method, path, query or [], body, self.request_timeout)

    def close(self) -> None:
        self.transport.close()

    def get_json(self, path: str, query: list[tuple[str, Any]] | None = None, *,
                 missing_ok: bool = False) -> dict[str, Any] | None:
        """GET ``path`` and return the decoded JSON; errors become DRUnverifiable (404 gives None with
        ``missing_ok``: the server does not serve ``path``)."""
        try:
            status, reason, data = self.request("GET", path, query)
        except ClusterUnreachable as exc:
            raise DRUnverifiable(f"DR cluster API (context {self.context})", _short(exc),
                                 "is the cluster reachable from here?") from None
        if missing_ok and status == 404:
            return None
        if status >= 400:
            raise self._unverifiable(path, status, reason)
        try:
            return json.loads(data)
        except ValueError:
            raise DRUnverifiable(f"DR cluster API GET {path}", "the answer is not JSON") from None

    def list(self, path: str, label_selector: str | None = None,
             field_selector: str | None = None) -> list[dict[str, Any]]:
        """Every item of a list endpoint, page by page."""
        return list(self.iter_list(path, label_selector, field_selector))

    def list_many(self, paths: list[str]) -> list[list[dict[str, Any]]]:
        """``[self.list(p) for p in paths]``, the lists made concurrently (a few at a time); the first
        path in order that fails raises its error, as one after another would."""
        return concurrently([lambda path=path: self.list(path) for path in paths])

    def iter_list(self, path: str, label_selector: str | None = None,
                  field_selector: str | None = None) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            query: list[tuple[str, Any]] = [("limit", PAGE_SIZE)]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if field_selector:
                query.append(("fieldSelector", field_selector))
            if token:
                query.append(("continue", token))
            page = self.get_json(path, query)
            yield from page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    def _unverifiable(self, path: str, status: int, reason: str) -> DRUnverifiable:
        if status in (401, 403):
            return DRUnverifiable(f"DR cluster API (context {self.context})",
                                  f"HTTP {status}: credentials rejected", "check the kubeconfig user / token")
        return DRUnverifiable(f"DR cluster API GET {path}", f"HTTP {status} {reason}")


@dataclass(frozen=True)
class ServedKind:
    """One kind a group version of the cluster serves (an ``APIResourceList`` entry)."""

    api_version: str  # "v1", "networking.k8s.io/v1"
    kind: str
    plural: str
    namespaced: bool
    verbs: tuple[str, ...] = ()

    def collection_path(self, namespace: str | None = None) -> str:
        prefix = f"/apis/{self.api_version}" if "/" in self.api_version else f"/api/{self.api_version}"
        if self.namespaced and namespace:
            return f"{prefix}/namespaces/{namespace}/{self.plural}"
        return f"{prefix}/{self.plural}"

    @property
    def listable(self) -> bool:
        return "list" in self.verbs

    def __str__(self) -> str:
        return f"{self.kind} ({self.api_version})"


CONCURRENT_READS = 6  # lists of one check made at once (well under the client's connection pool)


def concurrently(reads: list) -> list:
    """Run independent zero-argument reads at once (bounded); their values in order. The first read in
    order that failed raises its error (what running them one after another would have raised first)."""
    if len(reads) <= 1:
        return [read() for read in reads]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(CONCURRENT_READS, len(reads)),
                            thread_name_prefix="kosmos-dr-list") as pool:
        futures = [pool.submit(read) for read in reads]
    return [future.result() for future in futures]


class Discovery:
    """The cluster's API discovery, as ``kubectl api-resources`` reads it: ``/api`` and ``/apis`` say which
    group versions are served, each group version's document which kinds. Read lazily, each document once;
    only the group versions asked about are fetched (an unhealthy aggregated API elsewhere does not matter).

    ``get_json(path, missing_ok=True)`` fetches a document (None: not served); its errors propagate
    (DRUnverifiable: we could not look)."""

    def __init__(self, get_json) -> None:
        self._get = get_json
        self._served: set[str] | None = None
        self._kinds: dict[str, dict[str, ServedKind] | None] = {}

    def group_versions(self) -> set[str]:
        """Every group version the cluster serves ("v1", "apps/v1", ...)."""
        if self._served is None:
            core, groups = (found or {} for found in concurrently([lambda: self._get("/api", missing_ok=True),
                                                                     lambda: self._get("/apis", missing_ok=True)]))
            served = {v for v in core.get("versions") or [] if isinstance(v, str)}
            for group in groups.get("groups") or []:
                for version in (group or {}).get("versions") or []:
                    if isinstance(version, dict) and isinstance(version.get("groupVersion"), str):
                        served.add(version["groupVersion"])
            if not served:
                raise DRUnverifiable("DR cluster API discovery", "/api and /apis list no group versions")
            self._served = served
        return self._served

    def load(self, api_versions) -> None:
        """Fetch the documents of these group versions at once (each once; the served ones only)."""
        served = self.group_versions()
        wanted = [v for v in dict.fromkeys(api_versions) if v not in self._kinds and v in served]
        paths = [f"/apis/{v}" if "/" in v else f"/api/{v}" for v in wanted]
        documents = concurrently([lambda path=path: self._get(path, missing_ok=True) for path in paths])
        for api_version, document in zip(wanted, documents):
            self._kinds[api_version] = self._kinds_of(api_version, document)

    def kinds(self, api_version: str) -> dict[str, ServedKind] | None:
        """The kinds ``api_version`` serves by name (None: the cluster does not serve that group version)."""
        if api_version not in self._kinds:
            document = None
            if api_version in self.group_versions():
                path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
                document = self._get(path, missing_ok=True)
            self._kinds[api_version] = self._kinds_of(api_version, document)
        return self._kinds[api_version]

    @staticmethod
    def _kinds_of(api_version: str, document: dict | None) -> dict[str, ServedKind] | None:
        if document is None:
            return None
        found: dict[str, ServedKind] = {}
        for entry in document.get("resources") or []:
            name = (entry or {}).get("name")
            if not isinstance(name, str) or "/" in name or not entry.get("kind"):
                continue  # subresources (pods/log, deployments/scale)
            found.setdefault(entry["kind"], ServedKind(
                api_version, entry["kind"], name, bool(entry.get("namespaced")),
                tuple(v for v in entry.get("verbs") or [] if isinstance(v, str))))
        return found

    def kind(self, api_version: str, kind: str) -> ServedKind | None:
        """``kind`` of ``api_version`` as the cluster serves it; None when it does not."""
        return (self.kinds(api_version) or {}).get(kind)


# -- kubectl, as the plan's procedure runs it -------------------------------------------------------

KUBECTL_TIMEOUT_S = 60


# kubectl is a Go program, and on a run's short invocations much of its CPU is Go's garbage collector
# (kustomize parses its built-in schemas, apply the cluster's OpenAPI documents). A laxer collector
# (GOGC=400) took `kubectl kustomize` 0.25 -> 0.14 s of CPU and a dry run of the sandbox's rendering
# 0.32 -> 0.24 s, for 12-20 MB more, measured; GOMEMLIMIT tightens it again should a large rendering
# near that much memory. The user's own GOGC / GOMEMLIMIT win.
GO_RUNTIME = {"GOGC": "400", "GOMEMLIMIT": "512MiB"}


def kubectl_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: a copy of this process's environment) with ``GO_RUNTIME`` where it sets neither."""
    from ..prefetch import environ_snapshot  # a copy safe in a read-pool thread

    if env is None:
        env = environ_snapshot()
    return dict(env) if GO_RUNTIME.keys() & env.keys() else {**GO_RUNTIME, **env}


class KubectlJob:
    """A kubectl command started now and read later, so independent kubectl runs overlap. It runs in
    its own session (no terminal to prompt on, its process group killed as a whole past the timeout)."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.cmd = cmd
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                        text=True, env=kubectl_env(env), start_new_session=True)
        self._done: subprocess.CompletedProcess | None = None
        self._reading = threading.Lock()  # read from a prefetch thread and a test alike

    def result(self, timeout: float = KUBECTL_TIMEOUT_S) -> subprocess.CompletedProcess:
        """The finished command; raises subprocess.TimeoutExpired (after killing it) past ``timeout``."""
        with self._reading:
            return self._result(timeout)

    def _result(self, timeout: float) -> subprocess.CompletedProcess:
        if self._done is None:
            try:
                out, err = self.process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
            self._done = subprocess.CompletedProcess(self.cmd, self.process.returncode, out, err)
        return self._done

    def kill(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.process.kill()
            self.process.communicate()


def _short(exc: Exception) -> str:
    text = str(exc)
    for needle, reason in (("Connection refused", "connection refused"),
                           ("Name or service not known", "API server host name does not resolve"),
                           ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted"),
                           ("timed out", "no answer within the timeout")):
        if needle in text:
            return reason
    first = text.splitlines()[0][:200] if text else ""
    return first if isinstance(exc, ClusterUnreachable) else f"{type(exc).__name__}: {first}"


class HttpsTransport:
    """The API over httpx, as the kubeconfig says (kubeconfig.ClusterAccess): no Kubernetes client import
    (~0.65 s of CPU per run, measured), the same timeouts, two retries of a failed connection."""

    def __init__(self, access, timeouts: Timeouts) -> None:
        import httpx

        self.access = access
        tls = access.ssl_context() if access.server.startswith("https://") else True
        self.client = httpx.Client(
            base_url=access.server, timeout=httpx.Timeout(timeouts.read.total_seconds(),
                                                          connect=timeouts.connect.total_seconds()),
            transport=httpx.HTTPTransport(verify=tls, retries=2, proxy=access.proxy, limits=httpx.Limits(
                max_connections=POOL_CONNECTIONS, max_keepalive_connections=POOL_CONNECTIONS)))
        self._extensions = {"sni_hostname": access.tls_server_name} if access.tls_server_name else {}

    def request(self, method, path, query, body, timeout) -> tuple[int, str, bytes]:
        import httpx

        from .kubeconfig import KubeconfigError

        headers = {"Accept": "application/json"}
        try:
            authorization = self.access.authorization()
        except KubeconfigError as exc:
            raise DRUnverifiable(f"DR cluster credentials (context {self.access.context})", str(exc),
                                 "check the kubeconfig user's credential plugin") from None
        if authorization:
            headers["Authorization"] = authorization
        try:
            response = self.client.request(method, path, params=query, json=body, headers=headers,
                                           timeout=httpx.Timeout(timeout[1], connect=timeout[0]),
                                           extensions=self._extensions)
        except httpx.HTTPError as exc:
            raise ClusterUnreachable(f"{type(exc).__name__}: {exc}") from None
        return response.status_code, response.reason_phrase, response.content

    def close(self) -> None:
        self.client.close()


class OfficialClientTransport:
    """The official Kubernetes client, for the users it alone can authenticate (``auth-provider``)."""

    def __init__(self, api_client) -> None:
        self.api_client = api_client

    def request(self, method, path, query, body, timeout) -> tuple[int, str, bytes]:
        from kubernetes.client.exceptions import ApiException

        api = self.api_client
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        verb, url, headers, sent, _ = api.param_serialize(method, path, query_params=query, header_params=headers,
                                                          body=body, auth_settings=["BearerToken"])
        try:
            response = api.call_api(verb, url, header_params=headers, body=sent, _request_timeout=timeout)
            response.read()
        except ApiException as exc:
            return exc.status, str(exc.reason or ""), exc.body or b""
        except Exception as exc:  # urllib3 connection, TLS and timeout errors
            raise ClusterUnreachable(f"{type(exc).__name__}: {exc}") from None
        return response.status, str(response.reason or ""), response.data or b""

    def close(self) -> None:
        self.api_client.close()


def connect(kubeconfig: str, context: str, timeouts: Timeouts, in_cluster: bool = False) -> DRCluster:
    """A DRCluster for ``context`` in ``kubeconfig`` (or the pod's service account)."""
    from . import kubeconfig as config

    try:
        if in_cluster:
            access = config.in_cluster()
        else:
            path = Path(kubeconfig).expanduser()
            if not path.is_file():
                raise DRUnverifiable("DR cluster", f"kubeconfig {path} not found",
                                     "set kubernetes.kubeconfig in the target or $KUBECONFIG")
            document, names = config.contexts(path)
            if context not in names:
                raise DRUnverifiable("DR cluster", f"context {context!r} is not in {path}",
                                     f"available: {', '.join(names) or 'none'}")
            access = config.access(path, context, document)
        return DRCluster(HttpsTransport(access, timeouts), access.context, timeouts)
    except config.Unsupported:
        return _connect_with_official_client(kubeconfig, context, timeouts, in_cluster)
    except config.KubeconfigError as exc:
        raise DRUnverifiable("DR cluster", f"kubeconfig unusable: {exc}") from None


def _connect_with_official_client(kubeconfig: str, context: str, timeouts: Timeouts, in_cluster: bool) -> DRCluster:
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        if in_cluster:
            config.load_incluster_config(client_configuration=configuration)
            context = "in-cluster"
        else:
            config.load_kube_config(config_file=str(Path(kubeconfig).expanduser()), context=context,
                                    client_configuration=configuration, persist_config=False)
    except ConfigException as exc:
        raise DRUnverifiable("DR cluster", f"kubeconfig unusable: {str(exc).splitlines()[0]}") from None
    configuration.retries = 2
    configuration.connection_pool_maxsize = POOL_CONNECTIONS  # the run's reads share one client
    return DRCluster(OfficialClientTransport(client.ApiClient(configuration)), context, timeouts)
