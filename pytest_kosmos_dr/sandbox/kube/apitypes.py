"""The Kubernetes 1.32 API types (from ``k8s-types-1.32.json.gz``, built by ``typegen.py``).

Each message: ``description``, ``fields`` (``name``, protobuf ``number``, ``type`` - a scalar or another
message's full name -, ``repeated``/``map``, ``inline``, ``omitempty``, ``description``) and ``required``.
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path

DATA = Path(__file__).with_name("k8s-types-1.32.json.gz")
META = "k8s.io.apimachinery.pkg.apis.meta.v1"
# API group -> protobuf package stem under k8s.io.api
PACKAGES = {"": "core", "apps": "apps", "batch": "batch", "rbac.authorization.k8s.io": "rbac",
            "coordination.k8s.io": "coordination", "networking.k8s.io": "networking", "autoscaling": "autoscaling",
            "policy": "policy", "storage.k8s.io": "storage", "authorization.k8s.io": "authorization",
            "authentication.k8s.io": "authentication", "meta.k8s.io": None}


@functools.lru_cache(maxsize=1)
def messages() -> dict[str, dict]:
    return json.loads(gzip.decompress(DATA.read_bytes()))["messages"]


def message_for(api_version: str, kind: str) -> str | None:
    """The full message name of ``kind`` in ``api_version`` (``apps/v1``, ``v1``...), if known."""
    group, _, version = api_version.rpartition("/")
    stem = PACKAGES.get(group, "")
    candidates = [f"k8s.io.api.{stem}.{version}.{kind}"] if stem else []
    candidates += [f"{META}.{kind}"]
    if group == "policy" and kind == "Eviction":
        candidates.append("k8s.io.api.policy.v1.Eviction")
    return next((c for c in candidates if c in messages()), None)


def group_version_of(message: str) -> tuple[str, str] | None:
    """(group, version) of a message under ``k8s.io.api`` (``k8s.io.api.apps.v1.X`` -> ``("apps", "v1")``)."""
    parts = message.split(".")
    if parts[:3] != ["k8s", "io", "api"]:
        return None
    stem, version = parts[3], parts[4]
    group = next((g for g, s in PACKAGES.items() if s == stem), None)
    return (group, version) if group is not None else None
