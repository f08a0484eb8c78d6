"""The DR cluster: nodes, KOSMOS pods, their metrics, and zone spread (REC-DR-*, VAL-POD-METRICS,
SCN-MULTI-AZ). Each check takes already-listed objects, so one list per kind serves them all."""

from __future__ import annotations

from collections import defaultdict

from ..results import CheckResult, Evidence
from .quantities import format_quantity, parse_quantity

ZONE_LABEL = "topology.kubernetes.io/zone"
ZONE_REDUNDANT_ANNOTATION = "kosmos.dr/zone-redundant"


def _condition(obj: dict, kind: str) -> dict | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return None


def _name(obj: dict) -> str:
    return obj["metadata"]["name"]


def nodes_ready(nodes: list[dict], context: str) -> CheckResult:
    """REC-DR-NODES: every node of the DR cluster reports Ready=True."""
    cid = "REC-DR-NODES"
    offenders = []
    for node in nodes:
        ready = _condition(node, "Ready")
        if ready is None or ready.get("status") != "True":
            state = "no Ready condition" if ready is None else (
                f"Ready={ready.get('status')} ({ready.get('reason') or 'no reason'}: {ready.get('message') or ''})".rstrip(": )") + ")"
            )
            offenders.append(f"node/{_name(node)}: {state}")
    asked = f"kubectl get nodes --context={context}"
    evidence = [Evidence("nodes", asked, "\n".join(
        f"{_name(n)}  Ready={(_condition(n, 'Ready') or {}).get('status')}  zone={n['metadata'].get('labels', {}).get(ZONE_LABEL)}"
        for n in nodes))]
    if not nodes:
        return CheckResult(cid, False, f"DR cluster (context {context}) has no nodes", measured=0, limit=">= 1 Ready",
                           evidence=evidence)
    ready_count = len(nodes) - len(offenders)
    if offenders:
        return CheckResult(cid, False, f"{len(offenders)} of {len(nodes)} nodes not Ready: " + "; ".join(offenders),
                           measured=f"{ready_count}/{len(nodes)} Ready", limit="all Ready", offenders=offenders,
                           evidence=evidence)
    return CheckResult(cid, True, f"all {len(nodes)} nodes Ready (context {context})",
                       measured=f"{ready_count}/{len(nodes)} Ready", limit="all Ready", evidence=evidence)


def pod_problems(pod: dict, max_restarts: int) -> list[str]:
    """What is wrong with one pod: phase, container readiness, waiting reasons, restarts."""
    name = f"pod/{_name(pod)}"
    status = pod.get("status") or {}
    problems = []
    phase = status.get("phase")
    if phase != "Running":
        problems.append(f"{name}: phase {phase}")
    statuses = status.get("containerStatuses") or []
    if not statuses:
        problems.append(f"{name}: no container status")
    for container in statuses:
        cname = container.get("name")
        state = container.get("state") or {}
        waiting = state.get("waiting")
        terminated = state.get("terminated")
        restarts = container.get("restartCount", 0)
        if waiting:
            problems.append(f"{name} container {cname}: waiting {waiting.get('reason', '?')}, {restarts} restarts")
        elif terminated:
            problems.append(f"{name} container {cname}: terminated {terminated.get('reason', '?')}")
        elif not container.get("ready"):
            problems.append(f"{name} container {cname}: not Ready")
        if restarts > max_restarts and not waiting:
            problems.append(f"{name} container {cname}: {restarts} restarts (limit {max_restarts})")
    return problems


def pods_running(pods: list[dict], namespace: str, context: str, max_restarts: int) -> CheckResult:
    """REC-DR-PODS: every pod Running, all containers Ready, restarts within the bound."""
    cid = "REC-DR-PODS"
    offenders = [problem for pod in pods for problem in pod_problems(pod, max_restarts)]
    bad_pods = {o.split(":")[0].split(" ")[0] for o in offenders}
    asked = f"kubectl get pods -n {namespace} --context={context}"
    lines = []
    for pod in pods:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        ready = sum(1 for c in statuses if c.get("ready"))
        restarts = sum(c.get("restartCount", 0) for c in statuses)
        lines.append(f"{_name(pod)}  {ready}/{len(statuses)}  {(pod.get('status') or {}).get('phase')}  restarts={restarts}")
    evidence = [Evidence("pods", asked, "\n".join(lines))]
    if not pods:
        return CheckResult(cid, False, f"namespace {namespace} has no pods", measured=0, limit=">= 1 Running",
                           evidence=evidence)
    healthy = len(pods) - len(bad_pods)
    if offenders:
        return CheckResult(cid, False, f"{len(bad_pods)} of {len(pods)} pods in {namespace} unhealthy: " + "; ".join(offenders),
                           measured=f"{healthy}/{len(pods)} healthy", limit=f"all Running+Ready, restarts <= {max_restarts}",
                           offenders=offenders, evidence=evidence)
    return CheckResult(cid, True, f"all {len(pods)} pods in {namespace} Running with every container Ready",
                       measured=f"{healthy}/{len(pods)} healthy", limit=f"all Running+Ready, restarts <= {max_restarts}",
                       evidence=evidence)


def pod_metrics_within_limits(pods: list[dict], metrics: list[dict], namespace: str, context: str) -> CheckResult:
    """VAL-POD-METRICS: metrics exist for every pod, and no container uses more than its limits."""
    cid = "VAL-POD-METRICS"
    usage = {(m["metadata"]["name"]): {c["name"]: c.get("usage", {}) for c in m.get("containers", [])} for m in metrics}
    offenders = []
    lines = []
    for pod in pods:
        name = _name(pod)
        if name not in usage:
            offenders.append(f"pod/{name}: no metrics")
            continue
        for container in (pod.get("spec") or {}).get("containers", []):
            cname = container["name"]
            used = usage[name].get(cname)
            if used is None:
                offenders.append(f"pod/{name} container {cname}: no metrics")
                continue
            limits = (container.get("resources") or {}).get("limits") or {}
            for resource in ("cpu", "memory"):
                if resource not in used:
                    offenders.append(f"pod/{name} container {cname}: no {resource} metric")
                    continue
                value = parse_quantity(used[resource])
                shown = format_quantity(resource, value)
                if resource in limits:
                    limit = parse_quantity(limits[resource])
                    lines.append(f"{name}/{cname} {resource} {shown} of {format_quantity(resource, limit)}")
                    if value >= limit:
                        offenders.append(f"pod/{name} container {cname}: {resource} {shown}, limit "
                                         f"{format_quantity(resource, limit)}")
                else:
                    lines.append(f"{name}/{cname} {resource} {shown} (no limit)")
    evidence = [Evidence("metrics", f"kubectl top pods -n {namespace} --containers --context={context}", "\n".join(lines))]
    if not pods:
        return CheckResult(cid, False, f"namespace {namespace} has no pods to measure", measured=0, limit=">= 1",
                           evidence=evidence)
    if offenders:
        return CheckResult(cid, False, f"{len(offenders)} metric problems in {namespace}: " + "; ".join(offenders),
                           measured=f"{len(offenders)} over limit or missing", limit="every container under its limits",
                           offenders=offenders, evidence=evidence)
    return CheckResult(cid, True, f"metrics for all {len(pods)} pods in {namespace}, every container under its limits",
                       measured="0 over limit", limit="every container under its limits", evidence=evidence)


def _storage_class_zone_redundant(storage_class: dict | None) -> bool:
    if not storage_class:
        return False
    annotations = storage_class["metadata"].get("annotations") or {}
    parameters = storage_class.get("parameters") or {}
    return (annotations.get(ZONE_REDUNDANT_ANNOTATION) == "true"
            or parameters.get("replication-type") == "regional-pd"
            or storage_class.get("provisioner") == "efs.csi.aws.com")


def multi_az(nodes: list[dict], pods: list[dict], workloads: list[dict], storage_classes: list[dict],
             database_multi_az: bool, database_name: str) -> CheckResult:
    """SCN-MULTI-AZ: nodes in >= 2 zones; every workload Ready in >= 2 zones (or a one-replica
    StatefulSet on a zone-redundant volume); the DR database instance Multi-AZ."""
    cid = "SCN-MULTI-AZ"
    node_zone = {_name(n): (n["metadata"].get("labels") or {}).get(ZONE_LABEL) for n in nodes}
    zones = sorted({z for z in node_zone.values() if z})
    classes = {_name(sc): sc for sc in storage_classes}
    default_class = next((sc for sc in storage_classes if (sc["metadata"].get("annotations") or {}).get(
        "storageclass.kubernetes.io/is-default-class") == "true"), None)
    ready_zones: dict[str, set] = defaultdict(set)
    for pod in pods:
        owner = _workload_of(pod)
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        if owner and statuses and all(c.get("ready") for c in statuses):
            ready_zones[owner].add(node_zone.get((pod.get("spec") or {}).get("nodeName")))
    offenders = []
    lines = [f"node zones: {', '.join(zones) or 'none'}"]
    if len(zones) < 2:
        offenders.append(f"nodes span {len(zones)} zone(s) ({', '.join(zones) or 'none'}), need 2")
    for workload in workloads:
        kind, name = workload["kind"], _name(workload)
        key = f"{kind}/{name}"
        in_zones = sorted(z for z in ready_zones.get(key, set()) if z)
        replicas = (workload.get("spec") or {}).get("replicas", 1)
        lines.append(f"{key}: replicas={replicas}, Ready in zones {', '.join(in_zones) or 'none'}")
        if len(in_zones) >= 2:
            continue
        if kind == "StatefulSet" and replicas == 1:
            templates = (workload.get("spec") or {}).get("volumeClaimTemplates") or []
            class_names = [(t.get("spec") or {}).get("storageClassName") for t in templates]
            redundant = templates and all(
                _storage_class_zone_redundant(classes.get(c) if c else default_class) for c in class_names)
            if redundant:  # its volume survives a zone loss; the pod is rescheduled elsewhere
                continue
            offenders.append(f"{key}: one replica without a zone-redundant volume")
            continue
        offenders.append(f"{key}: Ready replicas in {len(in_zones)} zone(s) ({', '.join(in_zones) or 'none'}), need 2")
    lines.append(f"database {database_name}: MultiAZ={database_multi_az}")
    if not database_multi_az:
        offenders.append(f"DR database instance {database_name} is not Multi-AZ")
    evidence = [Evidence("zone spread", "kubectl get nodes -L topology.kubernetes.io/zone; kubectl get pods -o wide -n kosmos; "
                         f"aws rds describe-db-instances --db-instance-identifier {database_name}", "\n".join(lines))]
    if offenders:
        return CheckResult(cid, False, "not zone-redundant: " + "; ".join(offenders), measured=f"{len(zones)} zones",
                           limit=">= 2 zones per workload", offenders=offenders, evidence=evidence)
    return CheckResult(cid, True, f"nodes in {len(zones)} zones, {len(workloads)} workloads zone-redundant, "
                       f"database {database_name} Multi-AZ", measured=f"{len(zones)} zones", limit=">= 2 zones",
                       evidence=evidence)


def _workload_of(pod: dict) -> str | None:
    """``Deployment/x`` or ``StatefulSet/x`` for a pod, from its owner references (ReplicaSet -> Deployment)."""
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == "StatefulSet":
            return f"StatefulSet/{ref['name']}"
        if ref.get("kind") == "ReplicaSet":
            return f"Deployment/{ref['name'].rsplit('-', 1)[0]}"
    return None


def workloads_of(deployments: list[dict], statefulsets: list[dict]) -> list[dict]:
    """Deployments and StatefulSets with their ``kind`` set (list items carry none)."""
    return [{**d, "kind": "Deployment"} for d in deployments] + [{**s, "kind": "StatefulSet"} for s in statefulsets]
