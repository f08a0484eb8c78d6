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


_SUBJECT_KINDS = ("ServiceAccount", "User", "Group")
_RBAC_GROUP = "rbac.authorization.k8s.io"


def _str_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _rules(obj: dict, causes: list) -> None:
    """Role / ClusterRole: ``rules`` is a list of rules, each with verbs and what they apply to."""
    rules = obj.get("rules")
    if rules is None:
        return  # allowed (an empty role; a ClusterRole may aggregate instead)
    if not isinstance(rules, list):
        causes.append(("rules", "Invalid value: must be a list of PolicyRules"))
        return
    for i, rule in enumerate(rules):
        field = f"rules[{i}]"
        if not isinstance(rule, dict):
            causes.append((field, "Invalid value: must be an object"))
            continue
        for key in ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"):
            if key in rule and rule[key] is not None and not _str_list(rule[key]):
                causes.append((f"{field}.{key}", "Invalid value: must be a list of strings"))
        if not rule.get("verbs"):
            causes.append((f"{field}.verbs", "Required value: verbs must contain at least one value"))
        if rule.get("nonResourceURLs"):
            if obj.get("kind") == "Role":
                causes.append((f"{field}.nonResourceURLs", "Invalid value: namespaced rules cannot apply to non-resource URLs"))
            if rule.get("resources") or rule.get("apiGroups"):
                causes.append((f"{field}.nonResourceURLs", "Invalid value: rules cannot apply to both regular resources and non-resource URLs"))
        elif not rule.get("resources"):
            causes.append((f"{field}.resources", "Required value: resource rules must supply at least one resource"))
        elif "apiGroups" not in rule or rule.get("apiGroups") is None:
            causes.append((f"{field}.apiGroups", "Required value: resource rules must supply at least one api group"))


def _binding(obj: dict, causes: list) -> None:
    """RoleBinding / ClusterRoleBinding: ``roleRef`` names a role; subjects are well formed."""
    ref = obj.get("roleRef")
    allowed = ("Role", "ClusterRole") if obj.get("kind") == "RoleBinding" else ("ClusterRole",)
    if not isinstance(ref, dict) or not ref:
        causes.append(("roleRef", "Required value"))
    else:
        if ref.get("apiGroup") != _RBAC_GROUP:
            causes.append(("roleRef.apiGroup", f'Unsupported value: {ref.get("apiGroup")!r}: supported values: "{_RBAC_GROUP}"'))
        if ref.get("kind") not in allowed:
            causes.append(("roleRef.kind", f"Unsupported value: {ref.get('kind')!r}: supported values: "
                           + ", ".join(f'"{k}"' for k in allowed)))
        if not ref.get("name"):
            causes.append(("roleRef.name", "Required value"))
    subjects = obj.get("subjects")
    if subjects is None:
        return
    if not isinstance(subjects, list):
        causes.append(("subjects", "Invalid value: must be a list of Subjects"))
        return
    for i, subject in enumerate(subjects):
        field = f"subjects[{i}]"
        if not isinstance(subject, dict):
            causes.append((field, "Invalid value: must be an object"))
            continue
        if subject.get("kind") not in _SUBJECT_KINDS:
            causes.append((f"{field}.kind", f"Unsupported value: {subject.get('kind')!r}: supported values: "
                           + ", ".join(f'"{k}"' for k in _SUBJECT_KINDS)))
        if not subject.get("name"):
            causes.append((f"{field}.name", "Required value"))
        if subject.get("kind") == "ServiceAccount":
            if subject.get("apiGroup"):
                causes.append((f"{field}.apiGroup", 'Unsupported value: supported values: ""'))
            if obj.get("kind") == "ClusterRoleBinding" and not subject.get("namespace"):
                causes.append((f"{field}.namespace", "Required value"))
        elif subject.get("kind") in ("User", "Group") and subject.get("apiGroup") not in (None, _RBAC_GROUP):
            causes.append((f"{field}.apiGroup", f'Unsupported value: supported values: "{_RBAC_GROUP}"'))


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
            causes.append(("metadata.labels", f'Invalid value: "{key}={value}"'))
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
    elif rtype.kind in ("Role", "ClusterRole"):
        _rules(obj, causes)
    elif rtype.kind in ("RoleBinding", "ClusterRoleBinding"):
        _binding(obj, causes)
    elif rtype.kind == "Service":
        for i, port in enumerate((obj.get("spec") or {}).get("ports") or []):
            if not isinstance(port.get("port"), int):
                causes.append((f"spec.ports[{i}].port", "Required value"))
    if causes:
        raise invalid(rtype.kind, name, causes)
