"""The DR cluster's Kubernetes API: the official client, the target's kubeconfig and context.

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

POOL_CONNECTIONS = 20  # connections kept per endpoint: above the run's read pool (prefetch.WORKERS)
PAGE_SIZE = 500


class DRCluster:
    """A bounded, read-mostly view of one Kubernetes API."""

    def __init__(self, api_client, context: str, timeouts: Timeouts) -> None:
        self.api_client = api_client
        self.context = context
        self.request_timeout = (timeouts.connect.total_seconds(), timeouts.read.total_seconds())
        self.requests = 0  # how many API calls this view made (cost stays per page, not per object)
        self._discovery: Discovery | None = None

    def discovery(self) -> "Discovery":
        """What this cluster serves (``/api``, ``/apis``, group versions), fetched once per run."""
        if self._discovery is None:
            self._discovery = Discovery(self.get_json)
        return self._discovery

    @property
    def core(self):
        from kubernetes import client

        return client.CoreV1Api(self.api_client)

    @property
    def apps(self):
        from kubernetes import client

        return client.AppsV1Api(self.api_client)

    def get_json(self, path: str, query: list[tuple[str, Any]] | None = None, *,
                 missing_ok: bool = False) -> dict[str, Any] | None:
        """GET ``path`` and return the decoded JSON; errors become DRUnverifiable (404 gives None with
        ``missing_ok``: the server does not serve ``path``)."""
        from kubernetes.client.exceptions import ApiException

        method, url, headers, _, _ = self.api_client.param_serialize(
            "GET", path, query_params=query or [], header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        self.requests += 1
        try:
            response = self.api_client.call_api(method, url, header_params=headers,
                                                _request_timeout=self.request_timeout)
            response.read()
        except ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            raise self._unverifiable(path, exc) from None
        except Exception as exc:  # urllib3 connection, TLS and timeout errors
            raise DRUnverifiable(f"DR cluster API (context {self.context})", _short(exc),
                                 "is the cluster reachable from here?") from None
        if missing_ok and response.status == 404:
            return None
        if response.status >= 400:
            raise self._unverifiable(path, response)
        try:
            return json.loads(response.data)
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

    def _unverifiable(self, path: str, exc) -> DRUnverifiable:
        """For an ApiException or an error response (both carry ``status`` and ``reason``)."""
        if exc.status in (401, 403):
            return DRUnverifiable(f"DR cluster API (context {self.context})",
                                  f"HTTP {exc.status}: credentials rejected", "check the kubeconfig user / token")
        return DRUnverifiable(f"DR cluster API GET {path}", f"HTTP {exc.status} {exc.reason}")


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


class KubectlJob:
    """A kubectl command started now and read later, so independent kubectl runs overlap. It runs in
    its own session (no terminal to prompt on, its process group killed as a whole past the timeout)."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.cmd = cmd
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                        text=True, env=env, start_new_session=True)
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
    return f"{type(exc).__name__}: {text.splitlines()[0][:200] if text else ''}"


def connect(kubeconfig: str, context: str, timeouts: Timeouts, in_cluster: bool = False) -> DRCluster:
    """A DRCluster for ``context`` in ``kubeconfig`` (or the pod's service account)."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        if in_cluster:
            config.load_incluster_config(client_configuration=configuration)
            context = "in-cluster"
        else:
            path = Path(kubeconfig).expanduser()
            if not path.is_file():
                raise DRUnverifiable("DR cluster", f"kubeconfig {path} not found",
                                     "set kubernetes.kubeconfig in the target or $KUBECONFIG")
            contexts, _ = config.list_kube_config_contexts(config_file=str(path))
            names = [c["name"] for c in contexts]
            if context not in names:
                raise DRUnverifiable("DR cluster", f"context {context!r} is not in {path}",
                                     f"available: {', '.join(names) or 'none'}")
            config.load_kube_config(config_file=str(path), context=context,
                                    client_configuration=configuration, persist_config=False)
    except ConfigException as exc:
        raise DRUnverifiable("DR cluster", f"kubeconfig unusable: {str(exc).splitlines()[0]}") from None
    configuration.retries = 2
    configuration.connection_pool_maxsize = POOL_CONNECTIONS  # the run's reads share one client
    return DRCluster(client.ApiClient(configuration), context, timeouts)
