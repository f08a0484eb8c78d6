"""``metrics.k8s.io/v1beta1``: what ``kubectl top`` reads.

Usage is derived from container requests (below limits) unless a fault sets it with the pod
or node annotations ``sandbox.kosmos.dr/metrics-cpu`` and ``sandbox.kosmos.dr/metrics-memory``
(for pods: the usage of each container). ``sandbox.kosmos.dr/metrics-timestamp`` on a pod sets when
its sample was taken (a metrics pipeline that serves an old sample); otherwise it is now.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import Decimal

CPU_ANNOTATION = "sandbox.kosmos.dr/metrics-cpu"
MEMORY_ANNOTATION = "sandbox.kosmos.dr/metrics-memory"
TIMESTAMP_ANNOTATION = "sandbox.kosmos.dr/metrics-timestamp"
API_VERSION = "metrics.k8s.io/v1beta1"
NODE_BASELINE_CPU_NANO = 180_000_000
NODE_BASELINE_MEMORY = 1_200 * 1024 * 1024

_SUFFIXES = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
}
_QUANTITY = re.compile(r"^([0-9.]+)(n|u|m|k|M|G|T|Ki|Mi|Gi|Ti|)$")


def parse_quantity(value: str | int | float | None) -> Decimal:
    """A Kubernetes quantity (``250m``, ``1Gi``, ``2``) as a number of base units."""
    if value in (None, ""):
        return Decimal(0)
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(f"invalid quantity {value!r}")
    return Decimal(match.group(1)) * _SUFFIXES[match.group(2)]


def cpu_quantity(cores: Decimal) -> str:
    return f"{int(cores * 10**9)}n"


def memory_quantity(nbytes: Decimal) -> str:
    return f"{int(nbytes) // 1024}Ki"


def _jitter(name: str) -> Decimal:
    """A stable factor in [0.85, 1.15) so pods do not all report the same usage."""
    return Decimal(85 + hashlib.sha256(name.encode()).digest()[0] % 30) / 100


def container_usage(pod: dict, container: dict) -> tuple[Decimal, Decimal]:
    """(cpu cores, memory bytes) used by one container of ``pod``."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    requests = (container.get("resources") or {}).get("requests") or {}
    factor = _jitter(f"{pod['metadata'].get('name')}/{container.get('name')}")
    cpu = annotations.get(CPU_ANNOTATION)
    memory = annotations.get(MEMORY_ANNOTATION)
    cpu_cores = parse_quantity(cpu) if cpu else parse_quantity(requests.get("cpu") or "50m") * Decimal("0.4") * factor
    mem_bytes = parse_quantity(memory) if memory else parse_quantity(requests.get("memory") or "64Mi") * Decimal("0.6") * factor
    return cpu_cores, mem_bytes


def _timestamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def has_metrics(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running"


def pod_metrics(pod: dict) -> dict:
    meta = pod.get("metadata") or {}
    sampled = (meta.get("annotations") or {}).get(TIMESTAMP_ANNOTATION) or _timestamp()
    return {
        "kind": "PodMetrics",
        "apiVersion": API_VERSION,
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "creationTimestamp": _timestamp(),
            "labels": meta.get("labels") or {},
        },
        "timestamp": sampled,
        "window": "15s",
        "containers": [
            {"name": c.get("name"), "usage": {"cpu": cpu_quantity(cpu), "memory": memory_quantity(mem)}}
            for c in (pod.get("spec") or {}).get("containers") or []
            for cpu, mem in [container_usage(pod, c)]
        ],
    }


def node_metrics(node: dict, pods: list[dict]) -> dict:
    meta = node.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    cpu = Decimal(NODE_BASELINE_CPU_NANO) / 10**9
    memory = Decimal(NODE_BASELINE_MEMORY)
    for pod in pods:
        if (pod.get("spec") or {}).get("nodeName") == meta.get("name") and has_metrics(pod):
            for container in (pod.get("spec") or {}).get("containers") or []:
                c, m = container_usage(pod, container)
                cpu, memory = cpu + c, memory + m
    if annotations.get(CPU_ANNOTATION):
        cpu = parse_quantity(annotations[CPU_ANNOTATION])
    if annotations.get(MEMORY_ANNOTATION):
        memory = parse_quantity(annotations[MEMORY_ANNOTATION])
    return {
        "kind": "NodeMetrics",
        "apiVersion": API_VERSION,
        "metadata": {"name": meta.get("name"), "creationTimestamp": _timestamp(), "labels": meta.get("labels") or {}},
        "timestamp": _timestamp(),
        "window": "20s",
        "usage": {"cpu": cpu_quantity(cpu), "memory": memory_quantity(memory)},
    }


def metrics_list(kind: str, items: list[dict]) -> dict:
    return {"kind": f"{kind}List", "apiVersion": API_VERSION, "metadata": {}, "items": items}
