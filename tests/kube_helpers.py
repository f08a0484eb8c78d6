"""Run the DR cluster component on a background asyncio loop (in any sandbox layout), and call kubectl against it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from pytest_kosmos_dr.sandbox.component import SandboxContext
from pytest_kosmos_dr.sandbox.kube import DRClusterComponent


class BackgroundCluster:
    """A started :class:`DRClusterComponent` whose loop runs in a daemon thread."""

    def __init__(self, state_dir: Path, data_dir: Path, layout=None, **kwargs):
        self.ctx = SandboxContext(state_dir=Path(state_dir), data_dir=Path(data_dir), layout=layout)
        self.component = DRClusterComponent(**kwargs)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="dr-cluster", daemon=True)

    def start(self) -> "BackgroundCluster":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.component.start(self.ctx), self.loop).result(timeout=30)
        return self

    def stop(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.component.stop(), self.loop).result(timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)

    @property
    def state(self) -> dict:
        return self.ctx.state["kubernetes"]

    def kubectl(self, *args: str, input: bytes | None = None, timeout: float = 30, check: bool = True,
                kubeconfig: str | None = None) -> subprocess.CompletedProcess:
        argv = ["kubectl", "--kubeconfig", kubeconfig or self.state["kubeconfig"], "--context", "dr-cluster", *args]
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        done = subprocess.run(argv, input=input, capture_output=True, timeout=timeout, env=env)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} -> {done.returncode}\n{done.stdout.decode()}\n{done.stderr.decode()}")
        return done


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A DR cluster API server of its own for one test module (import this fixture into the module)."""
    running = BackgroundCluster(tmp_path_factory.mktemp("state"), tmp_path_factory.mktemp("data")).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api_client(cluster):
    """The official Kubernetes client, configured from the cluster's kubeconfig."""
    from kubernetes import config as k8s_config

    return k8s_config.new_client_from_config(config_file=cluster.state["kubeconfig"], context="dr-cluster")


def eventually(probe, what: str, wait_s: float = 30, every_s: float = 0.1):
    """``probe()``'s first truthy answer, polling (the controllers act asynchronously); fails after ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(every_s)
