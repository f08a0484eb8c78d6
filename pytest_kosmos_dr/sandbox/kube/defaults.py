"""Defaults the API server applies on create, for the kinds the sandbox's controllers need them on.

Only Jobs: the API server gives each Job its own selector (``batch.kubernetes.io/controller-uid``) and
labels its pod template with it, and defaults parallelism, completions, backoff limit and completion mode.
Other kinds are stored as sent (the rendered workloads stay byte-for-byte what Git renders).
"""

from __future__ import annotations

import uuid

from .resources import ResourceType

JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def on_create(rtype: ResourceType, obj: dict) -> None:
    """Apply create-time defaults to ``obj`` in place."""
    if rtype.kind == "Job" and isinstance(obj.get("spec"), dict):
        _job(obj)


def _job(job: dict) -> None:
    meta, spec = job.setdefault("metadata", {}), job["spec"]
    uid = meta.setdefault("uid", str(uuid.uuid4()))
    if not spec.get("manualSelector"):
        template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
        labels = template_meta.setdefault("labels", {})
        labels.update({JOB_UID_LABEL: uid, JOB_NAME_LABEL: meta.get("name", ""),
                       "controller-uid": uid, "job-name": meta.get("name", "")})
        spec["selector"] = {"matchLabels": {JOB_UID_LABEL: uid}}
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
