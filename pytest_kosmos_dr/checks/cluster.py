"""The DR cluster: nodes, KOSMOS pods, their metrics, and zone spread (REC-DR-*, VAL-POD-METRICS,
SCN-MULTI-AZ). Each check takes already-listed objects, so one list per kind serves them all.

The checks read what the cluster states as facts (conditions with their heartbeat times, taints,
the instance's availability zone in ``spec.providerID``, pod ownership and revisions, bound
PersistentVolumes and their node affinity), never what an object says about itself."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict

from ..results import CheckResult, Evidence
from .quantities import format_quantity, parse_quantity

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
# node-affinity keys that pin a volume (or a pod) to availability zones
ZONE_KEYS = (ZONE_LABEL, "failure-domain.beta.kubernetes.io/zone", "topology.ebs.csi.aws.com/zone")
# The kubelet reports node status at least every 5 minutes (nodeStatusReportFrequency); a Ready
# condition whose heartbeat is older than twice that is a status nobody renews.
NODE_HEARTBEAT_MAX_AGE = dt.timedelta(minutes=10)
NODE_PROBLEM_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
# taints that node lifecycle, cloud and autoscaler controllers set on a node that cannot serve
NODE_PROBLEM_TAINT_PREFIXES = ("node.kubernetes.io/", "node.cloudprovider.kubernetes.io/")
NODE_PROBLEM_TAINTS = ("ToBeDeletedByClusterAutoscaler", "karpenter.sh/disrupted", "karpenter.sh/disruption")
# metrics-server scrapes every 15-60 s: a sample older than this describes the past
METRICS_MAX_AGE = dt.timedelta(minutes=5)
# CSI drivers whose volumes are zonal (EBS) or reachable from every zone of the region (EFS)
ZONAL_DRIVERS = ("ebs.csi.aws.com", "kubernetes.io/aws-ebs", "pd.csi.storage.gke.io", "disk.csi.azure.com")
REGIONAL_DRIVERS = ("efs.csi.aws.com",)
_AWS_PROVIDER_ID = re.compile(r"^aws:///(?P<zone>[a-z]{2}(?:-[a-z]+)+-\d+[a-z])/")


def _condition(obj: dict, kind: str) -> dict | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return None


def _name(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name") or "?"


def _labels(obj: dict) -> dict:
    return (obj.get("metadata") or {}).get("labels") or {}


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(dt.timezone.utc)
    except ValueError:
        return None


def _age(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60}m"


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.timezone.utc)


def instance_zone(node: dict) -> str | None:
    """The availability zone the node's EC2 instance runs in (``spec.providerID`` ``aws:///<az>/<id>``)."""
    match = _AWS_PROVIDER_ID.match((node.get("spec") or {}).get("providerID") or "")
    return match.group("zone") if match else None


def _node_problems(node: dict, now: dt.datetime, region: str | None) -> list[str]:
    name = f"node/{_name(node)}"
    ready = _condition(node, "Ready")
    if ready is None:
        return [f"{name}: no Ready condition"]
    if ready.get("status") != "True":
        return [f"{name}: " + (f"Ready={ready.get('status')} ({ready.get('reason') or 'no reason'}: "
                               f"{ready.get('message') or ''}").rstrip(": ") + ")"]
    problems = []
    heartbeat = _time(ready.get("lastHeartbeatTime"))
    if heartbeat is None:
        problems.append(f"{name}: Ready=True without a heartbeat time: nobody vouches for it")
    elif now - heartbeat > NODE_HEARTBEAT_MAX_AGE:
        problems.append(f"{name}: Ready=True is stale: the kubelet's last heartbeat was {_age(now - heartbeat)} ago "
                        f"(limit {_age(NODE_HEARTBEAT_MAX_AGE)})")
    for kind in NODE_PROBLEM_CONDITIONS:
        condition = _condition(node, kind)
        if condition is not None and condition.get("status") == "True":
            problems.append(f"{name}: {kind}=True ({condition.get('reason') or 'no reason'})")
    spec = node.get("spec") or {}
    if spec.get("unschedulable"):
        problems.append(f"{name}: cordoned (spec.unschedulable)")
    for taint in spec.get("taints") or []:
        key = taint.get("key") or ""
        if key.startswith(NODE_PROBLEM_TAINT_PREFIXES) or key in NODE_PROBLEM_TAINTS:
            problems.append(f"{name}: tainted {key}:{taint.get('effect')}")
    if region:
        labelled = _labels(node).get(REGION_LABEL)
        zone = instance_zone(node)
        if labelled != region:
            problems.append(f"{name}: in region {labelled or '(no region label)'}, the DR region is {region}")
        elif zone and not zone.startswith(region):
            problems.append(f"{name}: its instance runs in {zone}, outside the DR region {region}")
    return problems


def nodes_ready(nodes: list[dict], context: str, region: str | None = None,
                now: dt.datetime | None = None) -> CheckResult:
    """REC-DR-NODES: every node of the DR cluster is Ready, by a kubelet heartbeat that is recent,
    without pressure, cordon or out-of-service taints, and (``region`` given) in the DR region."""
    now = _now(now)
    problems = {_name(node): _node_problems(node, now, region) for node in nodes}
    offenders = [p for found in problems.values() for p in found]
    asked = f"kubectl get nodes -o yaml --context={context}"
    evidence = [Evidence("nodes", asked, "\n".join(
        f"{_name(n)}  Ready={(_condition(n, 'Ready') or {}).get('status')}  "
        f"heartbeat={(_condition(n, 'Ready') or {}).get('lastHeartbeatTime')}  "
        f"region={_labels(n).get(REGION_LABEL)}  zone={_labels(n).get(ZONE_LABEL)}  "
        f"unschedulable={bool((n.get('spec') or {}).get('unschedulable'))}"
        for n in nodes))]
    limit = "all Ready, heartbeat <= " + _age(NODE_HEARTBEAT_MAX_AGE) + (f", in {region}" if region else "")
    if not nodes:
        return CheckResult(False, f"DR cluster (context {context}) has no nodes", measured=0, limit=">= 1 Ready",
                           evidence=evidence)
    bad = sum(1 for found in problems.values() if found)
    if offenders:
        return CheckResult(False, f"{bad} of {len(nodes)} nodes not Ready: " + "; ".join(offenders),
                           measured=f"{len(nodes) - bad}/{len(nodes)} Ready", limit=limit, offenders=offenders,
                           evidence=evidence)
    return CheckResult(True, f"all {len(nodes)} nodes Ready (context {context})",
                       measured=f"{len(nodes)}/{len(nodes)} Ready", limit=limit, evidence=evidence)


def _pod_ready(pod: dict) -> bool:
    ready = _condition(pod, "Ready")
    return ready is not None and ready.get("status") == "True" and not (pod.get("metadata") or {}).get("deletionTimestamp")


def pod_problems(pod: dict, max_restarts: int) -> list[str]:
    """What is wrong with one pod: phase, container readiness, waiting reasons, restarts, the pod's
    own Ready condition (readiness gates), deletion."""
    name = f"pod/{_name(pod)}"
    status = pod.get("status") or {}
    problems = []
    phase = status.get("phase")
    if phase != "Running":
        problems.append(f"{name}: phase {phase}")
    deleting = (pod.get("metadata") or {}).get("deletionTimestamp")
    if deleting:
        problems.append(f"{name}: terminating (deletionTimestamp {deleting})")
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
    if statuses and not problems:  # every container ready: the pod itself must be Ready too
        ready = _condition(pod, "Ready")
        if ready is None:
            problems.append(f"{name}: no Ready condition")
        elif ready.get("status") != "True":
            problems.append(f"{name}: Ready={ready.get('status')} while its containers are ready "
                            f"({ready.get('reason') or 'no reason'}: {ready.get('message') or ''})".rstrip(": )") + ")")
    return problems


def _revision_problems(pod: dict, workload: dict) -> list[str]:
    """A pod that is not what its workload runs now: another revision, another image."""
    name, key = f"pod/{_name(pod)}", f"{workload['kind']}/{_name(workload)}"
    problems = []
    if workload["kind"] == "StatefulSet":
        wanted = (workload.get("status") or {}).get("updateRevision")
        running = _labels(pod).get("controller-revision-hash")
        if wanted and running != wanted:
            problems.append(f"{name}: runs revision {running}, {key}'s update revision is {wanted}")
    template = (((workload.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    images = {c.get("name"): c.get("image") for c in template}
    for container in (pod.get("spec") or {}).get("containers") or []:
        want = images.get(container.get("name"))
        if want and container.get("image") != want:
            problems.append(f"{name} container {container.get('name')}: runs image {container.get('image')}, "
                            f"{key} runs {want}")
    return problems


def pods_running(pods: list[dict], namespace: str, context: str, *, max_restarts: int,
                 workloads: list[dict] | None = None, nodes: list[dict] | None = None) -> CheckResult:
    """REC-DR-PODS: every pod Running and Ready (containers and the pod), restarts within the bound;
    with ``workloads``: each Deployment/StatefulSet has its replicas Running+Ready, on its current
    revision and images (from the pods themselves, not the workload's status); with ``nodes``: every
    pod is on a node that exists (a pod whose node is gone has a status nobody renews)."""
    per_pod = {_name(pod): pod_problems(pod, max_restarts) for pod in pods}
    if nodes is not None:
        existing = {_name(n) for n in nodes}
        for pod in pods:
            node_name = (pod.get("spec") or {}).get("nodeName")
            if node_name not in existing:
                per_pod[_name(pod)].append(f"pod/{_name(pod)}: Running on node/{node_name}, which is not in the cluster: "
                                           "its status is stale")
    workload_problems = []
    lines = []
    for workload in workloads or []:
        key = f"{workload['kind']}/{_name(workload)}"
        owned = [p for p in pods if _workload_of(p) == key]
        for pod in owned:
            per_pod[_name(pod)] += _revision_problems(pod, workload)
        replicas = (workload.get("spec") or {}).get("replicas", 1)
        serving = sum(1 for p in owned if not per_pod[_name(p)])
        claimed = (workload.get("status") or {}).get("readyReplicas", 0)
        lines.append(f"{key}: replicas={replicas}, Running+Ready pods={serving}, status.readyReplicas={claimed}")
        if replicas == 0:
            workload_problems.append(f"{key}: scaled to 0 replicas")
        elif serving < replicas:
            workload_problems.append(f"{key}: {serving} of {replicas} replicas Running+Ready "
                                     f"({len(owned)} pods; its status claims readyReplicas {claimed})")
    offenders = [p for found in per_pod.values() for p in found] + workload_problems
    bad_pods = sum(1 for found in per_pod.values() if found)
    asked = f"kubectl get pods -n {namespace} --context={context}"
    for pod in pods:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        ready = sum(1 for c in statuses if c.get("ready"))
        restarts = sum(c.get("restartCount", 0) for c in statuses)
        lines.append(f"{_name(pod)}  {ready}/{len(statuses)}  {(pod.get('status') or {}).get('phase')}  "
                     f"Ready={(_condition(pod, 'Ready') or {}).get('status')}  restarts={restarts}")
    evidence = [Evidence("pods", asked + "; kubectl get deploy,sts", "\n".join(lines))]
    limit = f"all Running+Ready, restarts <= {max_restarts}" + (", every replica present" if workloads is not None else "")
    if not pods:
        return CheckResult(False, f"namespace {namespace} has no pods", measured=0, limit=">= 1 Running",
                           evidence=evidence)
    if workloads is not None and not workloads:
        return CheckResult(False, f"namespace {namespace} has no Deployments or StatefulSets", measured=0,
                           limit=">= 1 workload", evidence=evidence)
    healthy = len(pods) - bad_pods
    if offenders:
        what = f"{bad_pods} of {len(pods)} pods in {namespace} unhealthy" if bad_pods else \
            f"workloads in {namespace} short of replicas"
        return CheckResult(False, f"{what}: " + "; ".join(offenders),
                           measured=f"{healthy}/{len(pods)} healthy", limit=limit, offenders=offenders,
                           evidence=evidence)
    return CheckResult(True, f"all {len(pods)} pods in {namespace} Running with every container Ready"
                       + (f", {len(workloads)} workloads at full strength" if workloads else ""),
                       measured=f"{healthy}/{len(pods)} healthy", limit=limit, evidence=evidence)


def _container_start(pod: dict, container: str) -> dt.datetime | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            return _time(((status.get("state") or {}).get("running") or {}).get("startedAt"))
    return None


def pod_metrics_within_limits(pods: list[dict], metrics: list[dict], namespace: str, context: str,
                              now: dt.datetime | None = None) -> CheckResult:
    """VAL-POD-METRICS: a current sample (not older than METRICS_MAX_AGE, not from before the
    container started) for every container, every container has cpu and memory limits, and its
    usage stays under them."""
    now = _now(now)
    samples = {_name(m): m for m in metrics}
    offenders = []
    lines = []
    for pod in pods:
        name = _name(pod)
        sample = samples.get(name)
        if sample is None:
            offenders.append(f"pod/{name}: no metrics")
            continue
        usage = {c.get("name"): c.get("usage") or {} for c in sample.get("containers") or []}
        taken = _time(sample.get("timestamp"))
        if taken is None:
            offenders.append(f"pod/{name}: metrics carry no timestamp")
        elif now - taken > METRICS_MAX_AGE:
            offenders.append(f"pod/{name}: metrics are stale, sampled {_age(now - taken)} ago "
                             f"(limit {_age(METRICS_MAX_AGE)})")
            taken = None
        containers = (pod.get("spec") or {}).get("containers") or []
        if not containers:
            offenders.append(f"pod/{name}: no containers in its spec")
        for container in containers:
            cname = container.get("name")
            limits = (container.get("resources") or {}).get("limits") or {}
            for resource in ("cpu", "memory"):
                if resource not in limits:
                    offenders.append(f"pod/{name} container {cname}: no {resource} limit")
            used = usage.get(cname)
            if used is None:
                offenders.append(f"pod/{name} container {cname}: no metrics")
                continue
            started = _container_start(pod, cname)
            if taken is not None and started is not None and taken < started:
                offenders.append(f"pod/{name} container {cname}: metrics sampled at {sample.get('timestamp')}, "
                                 f"before the container started at {started:%Y-%m-%dT%H:%M:%SZ}: "
                                 "they describe a previous container")
            for resource in ("cpu", "memory"):
                if resource not in used:
                    offenders.append(f"pod/{name} container {cname}: no {resource} metric")
                    continue
                value = parse_quantity(used[resource])
                shown = format_quantity(resource, value)
                if resource not in limits:
                    lines.append(f"{name}/{cname} {resource} {shown} (no limit)")
                    continue
                limit = parse_quantity(limits[resource])
                lines.append(f"{name}/{cname} {resource} {shown} of {format_quantity(resource, limit)}")
                if value >= limit:
                    offenders.append(f"pod/{name} container {cname}: {resource} {shown}, limit "
                                     f"{format_quantity(resource, limit)}")
    evidence = [Evidence("metrics", f"kubectl top pods -n {namespace} --containers --context={context}", "\n".join(lines))]
    limit = f"every container limited, under its limits, sampled within {_age(METRICS_MAX_AGE)}"
    if not pods:
        return CheckResult(False, f"namespace {namespace} has no pods to measure", measured=0, limit=">= 1",
                           evidence=evidence)
    if offenders:
        return CheckResult(False, f"{len(offenders)} metric problems in {namespace}: " + "; ".join(offenders),
                           measured=f"{len(offenders)} over limit, unlimited, stale or missing", limit=limit,
                           offenders=offenders, evidence=evidence)
    return CheckResult(True, f"current metrics for all {len(pods)} pods in {namespace}, every container under "
                       "its limits", measured="0 over limit", limit=limit, evidence=evidence)


def _node_zones(nodes: list[dict]) -> tuple[dict[str, str | None], list[str]]:
    """Node -> the zone it really is in (the instance's zone wins over a label), and mislabelled nodes."""
    zones, wrong = {}, []
    for node in nodes:
        labels = _labels(node)
        labelled = labels.get(ZONE_LABEL) or labels.get("failure-domain.beta.kubernetes.io/zone")
        actual = instance_zone(node)
        if actual and labelled and actual != labelled:
            wrong.append(f"node/{_name(node)}: labelled zone {labelled}, but its instance runs in {actual} (providerID)")
        zones[_name(node)] = actual or labelled
    return zones, wrong


def _affinity_zones(affinity: dict | None) -> set[str] | None:
    """Zones allowed by a required node affinity (None: not restricted by zone)."""
    terms = ((((affinity or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
              or {}).get("nodeSelectorTerms")) or []
    allowed: set[str] | None = None
    for term in terms:
        term_zones = None
        for expression in term.get("matchExpressions") or []:
            if expression.get("key") in ZONE_KEYS and expression.get("operator") == "In":
                term_zones = set(expression.get("values") or [])
        if term_zones is None:
            return None  # one term without a zone restriction allows every zone
        allowed = (allowed or set()) | term_zones
    return allowed


def _pod_pinned_zones(spec: dict) -> set[str] | None:
    selector = spec.get("nodeSelector") or {}
    for key in ZONE_KEYS:
        if key in selector:
            return {selector[key]}
    return _affinity_zones(spec.get("affinity"))


def _volume_zones(volume: dict, storage_class: dict | None) -> tuple[set[str] | None, str]:
    """(zones the volume is reachable from, None for every zone; why) from the PV's node affinity and driver."""
    spec = volume.get("spec") or {}
    driver = (spec.get("csi") or {}).get("driver") or ("kubernetes.io/aws-ebs" if spec.get("awsElasticBlockStore") else
                                                       "nfs" if spec.get("nfs") else None)
    pinned = _affinity_zones({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                                               (spec.get("nodeAffinity") or {}).get("required")}})
    if pinned is not None:
        return pinned, f"{driver or 'volume'} with node affinity to {', '.join(sorted(pinned)) or 'no zone'}"
    if driver in ZONAL_DRIVERS:
        return set(), f"{driver} volumes are zonal"
    if driver in REGIONAL_DRIVERS or driver == "nfs":
        allowed = _class_zones(storage_class)
        return allowed, f"{driver}" + (f", class allows only {', '.join(sorted(allowed))}" if allowed is not None else "")
    return set(), f"driver {driver or 'unknown'} is not known to survive a zone loss"


def _class_zones(storage_class: dict | None) -> set[str] | None:
    zones: set[str] | None = None
    for term in (storage_class or {}).get("allowedTopologies") or []:
        for expression in term.get("matchLabelExpressions") or []:
            if expression.get("key") in ZONE_KEYS:
                zones = (zones or set()) | set(expression.get("values") or [])
    return zones


def _claims_of(workload: dict) -> list[str]:
    spec = workload.get("spec") or {}
    names = [f"{(t.get('metadata') or {}).get('name')}-{_name(workload)}-{i}"
             for t in spec.get("volumeClaimTemplates") or [] for i in range(spec.get("replicas", 1))]
    template = ((spec.get("template") or {}).get("spec") or {})
    return names + [v["persistentVolumeClaim"].get("claimName") for v in template.get("volumes") or []
                    if v.get("persistentVolumeClaim")]


def _why_one_replica_is_stuck(workload: dict, pods: list[dict], claims: dict, volumes: dict, classes: dict,
                              zones: list[str]) -> list[str]:
    """Why the single replica of ``workload`` could not be rescheduled into another zone ([] if it can)."""
    reasons = []
    template = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    for where, spec in [("its pod template", template)] + [(f"pod/{_name(p)}", p.get("spec") or {}) for p in pods]:
        pinned = _pod_pinned_zones(spec)
        if pinned is not None and len(pinned) < 2:
            reasons.append(f"{where} is pinned to zone {', '.join(sorted(pinned)) or 'none'}")
    for claim_name in _claims_of(workload):
        claim = claims.get(claim_name)
        if claim is None:
            reasons.append(f"volume claim {claim_name} not found")
            continue
        volume_name = (claim.get("spec") or {}).get("volumeName")
        if (claim.get("status") or {}).get("phase") != "Bound" or not volume_name:
            reasons.append(f"volume claim {claim_name} is not bound")
            continue
        volume = volumes.get(volume_name)
        if volume is None:
            reasons.append(f"volume {volume_name} of claim {claim_name} not found")
            continue
        class_name = (volume.get("spec") or {}).get("storageClassName")
        allowed, why = _volume_zones(volume, classes.get(class_name))
        if allowed is not None and len(allowed) < 2:
            reasons.append(f"its volume {volume_name} (claim {claim_name}) is zonal: {why}")
    if len(zones) < 2:
        reasons.append("there is no second zone")
    return reasons


def multi_az(nodes: list[dict], pods: list[dict], workloads: list[dict], claims: list[dict], volumes: list[dict],
             storage_classes: list[dict], database_multi_az: bool, database_name: str) -> CheckResult:
    """SCN-MULTI-AZ: nodes in >= 2 zones (the instances' zones); every workload has Ready replicas
    in >= 2 zones, or is a one-replica StatefulSet free to move to another zone (not pinned to a zone,
    every volume reachable from every zone per its bound PersistentVolume; whether that replica is Ready
    now is REC-DR-PODS's question); the DR database instance Multi-AZ."""
    node_zone, offenders = _node_zones(nodes)
    zones = sorted({z for z in node_zone.values() if z})
    claims_by_name = {_name(c): c for c in claims}
    volumes_by_name = {_name(v): v for v in volumes}
    classes = {_name(sc): sc for sc in storage_classes}
    ready_zones: dict[str, set] = defaultdict(set)
    pods_of: dict[str, list] = defaultdict(list)
    for pod in pods:
        owner = _workload_of(pod)
        if owner:
            pods_of[owner].append(pod)
            if _pod_ready(pod):
                ready_zones[owner].add(node_zone.get((pod.get("spec") or {}).get("nodeName")))
    lines = [f"node zones (instance zones): {', '.join(f'{n}={z}' for n, z in node_zone.items()) or 'none'}"]
    if len(zones) < 2:
        offenders.append(f"nodes span {len(zones)} zone(s) ({', '.join(zones) or 'none'}), need 2")
    if not workloads:
        offenders.append("no Deployments or StatefulSets to spread")
    for workload in workloads:
        kind, name = workload.get("kind"), _name(workload)
        key = f"{kind}/{name}"
        in_zones = sorted(z for z in ready_zones.get(key, set()) if z)
        replicas = (workload.get("spec") or {}).get("replicas", 1)
        lines.append(f"{key}: replicas={replicas}, Ready in zones {', '.join(in_zones) or 'none'}")
        if replicas == 0:
            offenders.append(f"{key}: scaled to 0 replicas")
        elif replicas == 1 and kind == "StatefulSet":
            stuck = _why_one_replica_is_stuck(workload, pods_of.get(key, []), claims_by_name, volumes_by_name,
                                              classes, zones)
            if stuck:
                offenders.append(f"{key}: one replica that cannot move to another zone: " + "; ".join(stuck))
        elif len(in_zones) < 2:
            offenders.append(f"{key}: Ready replicas in {len(in_zones)} zone(s) ({', '.join(in_zones) or 'none'}), need 2")
    for volume in volumes:
        class_name = (volume.get("spec") or {}).get("storageClassName")
        claim = ((volume.get("spec") or {}).get("claimRef") or {}).get("name")
        allowed, why = _volume_zones(volume, classes.get(class_name))
        lines.append(f"volume {_name(volume)} (claim {claim}, class {class_name}): "
                     f"{'every zone' if allowed is None else ', '.join(sorted(allowed)) or 'one zone'} ({why})")
    lines.append(f"database {database_name}: MultiAZ={database_multi_az}")
    if not database_multi_az:
        offenders.append(f"DR database instance {database_name} is not Multi-AZ")
    evidence = [Evidence("zone spread", "kubectl get nodes -o yaml; kubectl get pods -o wide -n kosmos; "
                         "kubectl get pvc -n kosmos; kubectl get pv -o yaml; "
                         f"aws rds describe-db-instances --db-instance-identifier {database_name}", "\n".join(lines))]
    if offenders:
        return CheckResult(False, "not zone-redundant: " + "; ".join(offenders), measured=f"{len(zones)} zones",
                           limit=">= 2 zones per workload", offenders=offenders, evidence=evidence)
    return CheckResult(True, f"nodes in {len(zones)} zones, {len(workloads)} workloads survive the loss of a "
                       f"zone, database {database_name} Multi-AZ", measured=f"{len(zones)} zones", limit=">= 2 zones",
                       evidence=evidence)


def _workload_of(pod: dict) -> str | None:
    """``Deployment/x`` or ``StatefulSet/x`` for a pod, from its owner references (ReplicaSet -> Deployment)."""
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == "StatefulSet":
            return f"StatefulSet/{ref.get('name')}"
        if ref.get("kind") == "ReplicaSet":
            return f"Deployment/{str(ref.get('name')).rsplit('-', 1)[0]}"
    return None


def workloads_of(deployments: list[dict], statefulsets: list[dict]) -> list[dict]:
    """Deployments and StatefulSets with their ``kind`` set (list items carry none)."""
    return [{**d, "kind": "Deployment"} for d in deployments] + [{**s, "kind": "StatefulSet"} for s in statefulsets]
