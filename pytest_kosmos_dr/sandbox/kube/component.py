"""``DRClusterComponent``: the sandbox's DR Kubernetes cluster (API server, pods, config repo)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from ..component import SandboxContext, free_port
from ..config_repo import create_config_repo
from . import metrics
from .controllers import ControllerManager
from .podexec import EXEC_TIMEOUT_S, PodRoots
from .resources import find_type
from .seed import NAMESPACE, build_seed, install_agent_state
from .server import DRClusterAPI
from .store import ClusterStore, now_rfc3339
from .tls import issue

CONTEXT = "dr-cluster"
# how often the sandbox's kubelets post node status (a real kubelet: every 10 s if something
# changed, at least every 5 min); conditions' lastHeartbeatTime then stays under a minute old
HEARTBEAT_INTERVAL_S = 30.0
HEARTBEAT_REFRESH_AFTER_S = 60.0
EVENT_TTL_S = 3600.0  # kube-apiserver --event-ttl (default 1 h)


class DRClusterComponent:
    """Serves the recovered KOSMOS cluster over HTTPS with bearer-token auth.

    ``ctx.state["kubernetes"]``: ``url``, ``token``, ``kubeconfig``, ``context``, ``namespace``,
    ``config_repo``, ``ca_file``, ``pods_dir``, ``exec_confinement``. Names follow ``ctx.layout``: the
    namespace, the DR region's zones, the overlay's kinds (and so the config repository it publishes).
    """

    name = "kubernetes"

    def __init__(self, *, exec_timeout: float = EXEC_TIMEOUT_S, tls: bool = True):
        self.exec_timeout = exec_timeout
        self.tls = tls
        self.store: ClusterStore | None = None
        self.api: DRClusterAPI | None = None
        self.pod_roots: PodRoots | None = None
        self._runner: web.AppRunner | None = None
        self._heartbeat: asyncio.Task | None = None
        self._event_expiry: asyncio.Task | None = None
        self.event_ttl_s = EVENT_TTL_S
        self.controllers: ControllerManager | None = None
        self.silent_kubelets: set[str] = set()  # nodes whose kubelet posts no status (faults)
        self.layout = None  # the sandbox layout it serves (set by start)
        self.namespace = NAMESPACE
        self._published: dict[str, Any] | None = None  # what start publishes, once prepared

    def _layout(self):
        from ..layout import DEFAULT

        return self.layout or DEFAULT

    @property
    def primary_region(self) -> str:
        return self._layout().primary_region

    @property
    def dr_region(self) -> str:
        return self._layout().secondary_region

    async def prepare(self, ctx: SandboxContext) -> None:
        """Serve the cluster and write its kubeconfig and config repository (reads nothing of the other
        components: the daemon runs it while they start); ``start`` publishes it."""
        self.layout = ctx.layout
        self.namespace = ctx.layout.namespace
        seed = build_seed(layout=ctx.layout)
        self.store = store = ClusterStore()
        store.loop = asyncio.get_running_loop()
        for rtype, objects in seed.objects.items():
            store.seed(rtype, objects)
        self._heartbeat = asyncio.create_task(self._post_node_status_forever())
        self._event_expiry = asyncio.create_task(self._expire_events_forever())
        self.pod_roots = PodRoots(Path(ctx.data_dir) / "pods", self.exec_timeout)
        pods = seed.of_kind("Pod")
        for pod in pods:
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            root = self.pod_roots.prepare(ns, name)
            if (ns, name) in seed.agent_pods:
                install_agent_state(root, seed.agent_pods[(ns, name)])
        first = pods[0]["metadata"]
        confinement = await asyncio.to_thread(self.pod_roots.probe, first["namespace"], first["name"])

        token = ctx.secret()
        port = free_port(ctx.host)
        self.api = DRClusterAPI(store, self.pod_roots, token, seed.logs)
        self.api.server_address = f"{ctx.host}:{port}"
        ssl_context, ca_pem = None, b""
        if self.tls:
            serving = issue(ctx.host)
            ssl_context, ca_pem = serving.server_context(), serving.ca_pem
        self._runner = web.AppRunner(self.api.app(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        self._site_args = (ctx.host, port, ssl_context)
        self._site = web.TCPSite(self._runner, ctx.host, port, ssl_context=ssl_context)
        await self._site.start()
        self.controllers = ControllerManager(self)
        self.controllers.start()
        url = f"{'https' if self.tls else 'http'}://{ctx.host}:{port}"

        state_dir = Path(ctx.state_dir)
        repo = await asyncio.to_thread(create_config_repo, state_dir / "config-repo", ctx.layout)
        ca_file = state_dir / "kube-ca.crt"
        if self.tls:
            ca_file.write_bytes(ca_pem)
        kubeconfig = state_dir / "kubeconfig"
        _write_private(kubeconfig, yaml.safe_dump(_kubeconfig(url, token, ca_pem, self.namespace), sort_keys=False))
        self._published = {
            "url": url,
            "token": token,
            "kubeconfig": str(kubeconfig),
            "context": CONTEXT,
            "namespace": self.namespace,
            "config_repo": str(repo),
            "ca_file": str(ca_file) if self.tls else None,
            "pods_dir": str(self.pod_roots.base),
            "exec_confinement": confinement,
        }

    async def start(self, ctx: SandboxContext) -> None:
        """Publish the cluster: ``ctx.state["kubernetes"]`` and ``KUBECONFIG`` (prepared first if need be)."""
        if self._published is None:
            await self.prepare(ctx)
        ctx.env["KUBECONFIG"] = self._published["kubeconfig"]
        ctx.state[self.name] = dict(self._published)

    async def stop(self) -> None:
        if self.controllers is not None:
            await self.controllers.stop()
            self.controllers = None
        for task in (self._heartbeat, self._event_expiry):
            if task is not None:
                task.cancel()
        self._heartbeat = self._event_expiry = None
        if self.api is not None:
            self.api.stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.pod_roots is not None:
            self.pod_roots.remove_all()

    async def go_offline(self) -> None:
        """Stop listening (clients get 'connection refused'), as when the control plane is lost."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def come_back(self) -> None:
        if self._site is not None:
            return
        host, port, ssl_context = self._site_args
        self._site = web.TCPSite(self._runner, host, port, ssl_context=ssl_context)
        await self._site.start()

    def faults(self) -> list:
        """Named faults for the sandbox control endpoint (see ``faults.py``)."""
        from .config_faults import config_faults
        from .faults import cluster_faults

        return cluster_faults(self) + config_faults(self)

    # --- etcd ------------------------------------------------------------------------------

    async def _expire_events_forever(self) -> None:
        """Events go when their lease (``event_ttl_s`` from their last write) runs out."""
        while True:
            await asyncio.sleep(max(min(self.event_ttl_s / 4, 30.0), 0.05))
            if self.store is not None:
                self.store.expire_events(self.event_ttl_s)

    # --- kubelets ----------------------------------------------------------------------------

    async def _post_node_status_forever(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)
            self.post_node_status()

    def post_node_status(self, min_age_s: float = HEARTBEAT_REFRESH_AFTER_S) -> None:
        """What each live kubelet does: renew its conditions' ``lastHeartbeatTime`` (when older than ``min_age_s``)."""
        assert self.store is not None
        node_type = find_type("", "v1", "nodes")
        now = dt.datetime.now(dt.timezone.utc)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")

        def renew(node: dict) -> None:
            for cond in (node.get("status") or {}).get("conditions") or []:
                cond["lastHeartbeatTime"] = stamp

        for node in self.store.list(node_type):
            name = node["metadata"]["name"]
            if name in self.silent_kubelets:
                continue
            beats = [c.get("lastHeartbeatTime") for c in (node.get("status") or {}).get("conditions") or []]
            oldest = min((dt.datetime.strptime(b, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
                          for b in beats if b), default=None)
            if oldest is None or (now - oldest).total_seconds() >= min_age_s:
                self.store.mutate(node_type, None, name, renew)

    # --- fault helpers (callable from any thread) -----------------------------------------

    def pod_root(self, pod: str, namespace: str | None = None) -> Path:
        """The folder that is ``/`` for commands exec'd in ``pod`` (of the KOSMOS namespace by default)."""
        assert self.pod_roots is not None
        return self.pod_roots.root(namespace or self.namespace, pod)

    def set_node_ready(self, node: str, ready: bool) -> dict:
        """Flip a node's ``Ready`` condition (``NotReady`` as when the kubelet stops posting)."""

        def change(obj: dict) -> None:
            for cond in obj["status"]["conditions"]:
                if cond["type"] == "Ready":
                    cond.update(
                        {"status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}
                        if ready else
                        {"status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}
                    )
                    cond["lastTransitionTime"] = now_rfc3339()

        return self._mutate("nodes", None, node, change)

    def crashloop_pod(self, pod: str, namespace: str | None = None, restarts: int = 5, container: str | None = None) -> dict:
        """Put a pod's container in ``CrashLoopBackOff`` (not ready, restarted ``restarts`` times)."""

        def change(obj: dict) -> None:
            now = now_rfc3339()
            for cs in obj["status"]["containerStatuses"]:
                if container in (None, cs["name"]):
                    cs.update({
                        "ready": False, "started": False, "restartCount": restarts,
                        "state": {"waiting": {"reason": "CrashLoopBackOff",
                                              "message": f"back-off 5m0s restarting failed container={cs['name']} pod={pod}"}},
                        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": now, "finishedAt": now,
                                                     "containerID": cs.get("containerID", "")}},
                    })
            for cond in obj["status"]["conditions"]:
                if cond["type"] in ("Ready", "ContainersReady"):
                    cond.update({"status": "False", "reason": "ContainersNotReady", "lastTransitionTime": now,
                                 "message": "containers with unready status: [agent]"})

        return self._mutate("pods", namespace or self.namespace, pod, change)

    def set_pod_metrics(self, pod: str, namespace: str | None = None, cpu: str | None = None, memory: str | None = None) -> dict:
        """Make ``kubectl top`` report this usage (per container) for ``pod``."""

        def change(obj: dict) -> None:
            annotations = obj["metadata"].setdefault("annotations", {})
            for key, value in ((metrics.CPU_ANNOTATION, cpu), (metrics.MEMORY_ANNOTATION, memory)):
                if value is None:
                    annotations.pop(key, None)
                else:
                    annotations[key] = value

        return self._mutate("pods", namespace or self.namespace, pod, change)

    def append_log(self, pod: str, line: str, namespace: str | None = None, container: str = "agent") -> None:
        assert self.api is not None
        self.api.append_log(namespace or self.namespace, pod, container, line)

    def _mutate(self, plural: str, namespace: str | None, name: str, change: Any) -> dict:
        assert self.store is not None
        return self.store.mutate(find_type("", "v1", plural), namespace, name, change)


def _kubeconfig(url: str, token: str, ca_pem: bytes, namespace: str = NAMESPACE) -> dict:
    cluster: dict[str, Any] = {"server": url}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}],
        "current-context": CONTEXT,
        "preferences": {},
    }


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
