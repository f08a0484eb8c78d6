"""What the DR cluster checks before it accepts (or dry-runs) an object."""

from __future__ import annotations

import re

from .resources import ResourceType
from .status import invalid

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def _containers(spec: dict, field: str, causes: list) -> None:
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        causes.append((f"{field}.containers", "Required value"))
        return
    names = set()
    for i, container in enumerate(containers):
        name = container.get("name") if isinstance(container, dict) else None
        if not name or not _DNS_LABEL.match(str(name)):
            causes.append((f"{field}.containers[{i}].name", "Required value: a DNS-1123 label"))
        elif name in names:
            causes.append((f"{field}.containers[{i}].name", f'Duplicate value: "{name}"'))
        names.add(name)
        if isinstance(container, dict) and not container.get("image"):
            causes.append((f"{field}.containers[{i}].image", "Required value"))


def _workload(obj: dict, causes: list) -> None:
    spec = obj.get("spec") or {}
    selector = ((spec.get("selector") or {}).get("matchLabels")) or {}
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector:
        causes.append(("spec.selector", "Required value"))
    elif any(labels.get(k) != v for k, v in selector.items()):
        causes.append(("spec.template.metadata.labels", "Invalid value: `selector` does not match template `labels`"))
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or replicas < 0:
        causes.append(("spec.replicas", "Invalid value: must be greater than or equal to 0"))
    _containers(template.get("spec") or {}, "spec.template.spec", causes)


def validate(rtype: ResourceType, obj: dict, namespace: str | None) -> None:
    """Raise ``Invalid`` (422) if ``obj`` is not acceptable as a ``rtype``."""
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    causes: list[tuple[str, str]] = []
    if obj.get("kind") != rtype.kind:
        causes.append(("kind", f"Invalid value: {obj.get('kind')!r}: must be {rtype.kind}"))
    if obj.get("apiVersion") != rtype.api_version:
        causes.append(("apiVersion", f"Invalid value: {obj.get('apiVersion')!r}: must be {rtype.api_version}"))
    if not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    elif not _DNS_SUBDOMAIN.match(name) or len(name) > 253:
        causes.append(("metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters'))
    if rtype.namespaced and meta.get("namespace") not in (None, namespace):
        causes.append(("metadata.namespace", "Invalid value: does not match the namespace of the request"))
    for key, value in (meta.get("labels") or {}).items():
        if not _LABEL_NAME.match(key) or not isinstance(value, str) or not _LABEL_VALUE.match(value) or len(value) > 63:
            causes.append((f"metadata.labels", f'Invalid value: "{key}={value}"'))
    for key, value in (meta.get("annotations") or {}).items():
        if not isinstance(value, str):
            causes.append((f"metadata.annotations[{key}]", "Invalid value: must be a string"))
    if rtype.kind == "Pod":
        _containers(obj.get("spec") or {}, "spec", causes)
    elif rtype.kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        _workload(obj, causes)
    elif rtype.kind == "CronJob":
        spec = obj.get("spec") or {}
        if not spec.get("schedule"):
            causes.append(("spec.schedule", "Required value"))
        job_spec = ((spec.get("jobTemplate") or {}).get("spec") or {})
        pod_spec = ((job_spec.get("template") or {}).get("spec") or {})
        _containers(pod_spec, "spec.jobTemplate.spec.template.spec", causes)
        if pod_spec.get("restartPolicy") not in ("OnFailure", "Never"):
            causes.append(("spec.jobTemplate.spec.template.spec.restartPolicy", 'Unsupported value: must be "OnFailure" or "Never"'))
    elif rtype.kind in ("ConfigMap", "Secret"):
        for field in ("data", "stringData", "binaryData"):
            data = obj.get(field)
            if data is not None and (not isinstance(data, dict) or any(not isinstance(v, str) for v in data.values())):
                causes.append((field, "Invalid value: must map keys to strings"))
    elif rtype.kind == "Service":
        for i, port in enumerate((obj.get("spec") or {}).get("ports") or []):
            if not isinstance(port.get("port"), int):
                causes.append((f"spec.ports[{i}].port", "Required value"))
    if causes:
        raise invalid(rtype.kind, name, causes)
