"""The DR cluster's Kubernetes API: the official client, the target's kubeconfig and context.

Never the ambient current context: the context always comes from the target (or in-cluster
config when the target says so). Lists are fetched as raw JSON pages (``limit``/``continue``)
and evaluated locally, so thousands of pods cost a few requests and no model deserialization.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DRUnverifiable
from ..target import Timeouts

PAGE_SIZE = 500


class DRCluster:
    """A bounded, read-mostly view of one Kubernetes API."""

    def __init__(self, api_client, context: str, timeouts: Timeouts) -> None:
        self.api_client = api_client
        self.context = context
        self.request_timeout = (timeouts.connect.total_seconds(), timeouts.read.total_seconds())
        self.requests = 0  # how many API calls this view made (cost stays per page, not per object)

    @property
    def core(self):
        from kubernetes import client

        return client.CoreV1Api(self.api_client)

    @property
    def apps(self):
        from kubernetes import client

        return client.AppsV1Api(self.api_client)

    def get_json(self, path: str, query: list[tuple[str, Any]] | None = None) -> dict[str, Any]:
        """GET ``path`` and return the decoded JSON; errors become DRUnverifiable."""
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
            raise self._unverifiable(path, exc) from None
        except Exception as exc:  # urllib3 connection, TLS and timeout errors
            raise DRUnverifiable(f"DR cluster API (context {self.context})", _short(exc),
                                 "is the cluster reachable from here?") from None
        if response.status >= 400:
            raise self._unverifiable(path, response)
        return json.loads(response.data)

    def list(self, path: str, label_selector: str | None = None,
             field_selector: str | None = None) -> list[dict[str, Any]]:
        """Every item of a list endpoint, page by page."""
        return list(self.iter_list(path, label_selector, field_selector))

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
    return DRCluster(client.ApiClient(configuration), context, timeouts)
