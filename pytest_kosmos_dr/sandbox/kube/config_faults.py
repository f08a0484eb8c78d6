"""Named faults of the cluster objects the configuration repository renders (BAK-CONFIG-GITOPS, REC-CONFIG-APPLY).

Each one leaves the objects the drift check used to compare looking right: an object deleted
from Git that still runs, a ConfigMap applied from an older revision (a key Git removed is still
set), pods still running the previous image under a Deployment that matches Git, an object
recreated by hand (no ``last-applied-configuration``, so ``kubectl apply`` warns), an Ingress (a kind
beyond the workloads) repointed by hand, a DR cluster that does not serve a kind the overlay renders.
Reverting puts back exactly the objects saved (or deletes the one created). Faults work in the
component's namespace (the sandbox layout's).
"""

from __future__ import annotations

import copy
import json

from ..component import Fault
from .resources import find_type
from .seed import LAST_APPLIED

CORE = ("", "v1")
ORPHAN = "kosmos-conversation-reindex"  # a CronJob Git deleted in the 3.x configuration
OLD_API_IMAGE = "registry.kosmos.internal/kosmos/api:3.7.4"
REMOVED_KEY = ("KOSMOS_DEBUG_ENDPOINTS", "true")  # a key Git removed; the cluster was applied before that
INGRESS = "kosmos-api"  # the overlay's Ingress (extras/ingress.yaml)
MAINTENANCE_SERVICE = "kosmos-maintenance-page"  # where the Ingress was pointed by hand during the incident
INGRESS_API = ("networking.k8s.io", "v1")


def _orphan_cronjob(namespace: str) -> dict:
    obj = {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": ORPHAN, "namespace": namespace,
                     "labels": {"app.kubernetes.io/name": ORPHAN, "app.kubernetes.io/part-of": "kosmos"}},
        "spec": {"schedule": "17 * * * *", "concurrencyPolicy": "Forbid",
                 "jobTemplate": {"spec": {"template": {"spec": {
                     "restartPolicy": "OnFailure",
                     "containers": [{"name": "reindex", "image": "registry.kosmos.internal/kosmos/api:3.6.0",
                                     "args": ["reindex", "--all-conversations"]}]}}}}},
    }
    manifest = dict(copy.deepcopy(obj), metadata=dict(copy.deepcopy(obj["metadata"]), annotations={}))
    obj["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(manifest, sort_keys=True, separators=(",", ":")) + "\n"}
    return obj


def config_faults(component) -> list[Fault]:
    """Faults of the cluster objects the configuration repository renders (BAK-CONFIG-GITOPS, REC-CONFIG-APPLY); registered by the component's ``faults()``."""
    saved: dict[str, list[tuple]] = {}
    NAMESPACE = component.namespace  # noqa: N806 - the layout's KOSMOS namespace

    def change(fault: str, group_version: tuple[str, str], plural: str, name: str, edit) -> None:
        rtype = find_type(*group_version, plural)
        saved.setdefault(fault, []).append((rtype, name, copy.deepcopy(component.store.get(rtype, NAMESPACE, name))))
        component.store.mutate(rtype, NAMESPACE, name, edit)

    def restore(fault: str) -> None:
        for rtype, name, original in reversed(saved.pop(fault, [])):
            def put_back(obj, original=original):
                version = obj["metadata"].get("resourceVersion")
                obj.clear()
                obj.update(copy.deepcopy(original))
                obj["metadata"]["resourceVersion"] = version
            component.store.mutate(rtype, NAMESPACE, name, put_back)

    def fault(name, criteria, description, apply, revert=None):
        async def do_apply():
            if name not in saved:  # applying twice must not overwrite the saved originals
                saved[name] = []
                apply()

        async def do_revert():
            if revert is not None and name in saved:
                revert()
            restore(name)
        return Fault(name, criteria, description, do_apply, do_revert)

    cronjobs = find_type("batch", "v1", "cronjobs")

    def add_orphan():
        component.store.create(cronjobs, _orphan_cronjob(NAMESPACE))

    def remove_orphan():
        if component.store.exists(cronjobs, NAMESPACE, ORPHAN):
            component.store.delete(cronjobs, NAMESPACE, ORPHAN)

    def older_revision():
        def edit(config_map):
            config_map.setdefault("data", {})[REMOVED_KEY[0]] = REMOVED_KEY[1]
            annotations = config_map["metadata"].setdefault("annotations", {})
            applied = json.loads(annotations[LAST_APPLIED])
            applied.setdefault("data", {})[REMOVED_KEY[0]] = REMOVED_KEY[1]
            annotations[LAST_APPLIED] = json.dumps(applied, sort_keys=True, separators=(",", ":")) + "\n"
        change("config-applied-from-older-revision", CORE, "configmaps", "kosmos-config", edit)

    def old_image():
        pods = component.store.list(find_type(*CORE, "pods"), NAMESPACE)
        for pod in pods:
            if (pod["metadata"].get("labels") or {}).get("app.kubernetes.io/name") != "kosmos-api":
                continue

            def edit(obj):
                for container in obj["spec"]["containers"]:
                    container["image"] = OLD_API_IMAGE
                for status in obj.get("status", {}).get("containerStatuses", []):
                    status["image"] = OLD_API_IMAGE
            change("config-pods-run-old-image", CORE, "pods", pod["metadata"]["name"], edit)

    def by_hand():
        def edit(service):
            annotations = service["metadata"].get("annotations") or {}
            annotations.pop(LAST_APPLIED, None)
            service["metadata"]["annotations"] = annotations
        change("config-object-created-by-hand", CORE, "services", "zeus-orchestrator", edit)

    def ingress_repointed():
        def edit(ingress):  # kubectl edit: the live object changes, its last-applied-configuration does not
            for rule in ingress["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    path["backend"]["service"]["name"] = MAINTENANCE_SERVICE
        change("ingress-drifted", ("networking.k8s.io", "v1"), "ingresses", INGRESS, edit)

    def stop_serving_ingress_api():
        component.api.unserved.add(INGRESS_API)

    def serve_ingress_api():
        component.api.unserved.discard(INGRESS_API)

    return [
        fault("ingress-drifted", ("BAK-CONFIG-GITOPS",),
              f"Ingress {INGRESS} was pointed at Service {MAINTENANCE_SERVICE} by hand during the incident and never "
              "pointed back: the workloads, Services and ConfigMaps all match Git", ingress_repointed),
        fault("ingress-api-not-served", ("BAK-CONFIG-GITOPS", "REC-CONFIG-APPLY"),
              f"the DR cluster runs a Kubernetes that does not serve {'/'.join(INGRESS_API)} (the overlay's Ingress): "
              "every other object is in place", stop_serving_ingress_api, serve_ingress_api),
        fault("config-deleted-object-still-applied", ("BAK-CONFIG-GITOPS",),
              f"CronJob {ORPHAN}, deleted from Git, still runs in the DR cluster (kubectl apply does not prune)",
              add_orphan, remove_orphan),
        fault("config-applied-from-older-revision", ("BAK-CONFIG-GITOPS",),
              f"ConfigMap kosmos-config was last applied from an older revision: {REMOVED_KEY[0]}, removed from Git, "
              f"is still set (every key Git has matches)", older_revision),
        fault("config-pods-run-old-image", ("BAK-CONFIG-GITOPS", "REC-DR-PODS"),
              f"Deployment kosmos-api matches Git, but its pods still run {OLD_API_IMAGE} (the rollout never happened)",
              old_image),
        fault("config-object-created-by-hand", ("REC-CONFIG-APPLY",),
              "Service zeus-orchestrator was recreated by hand during the incident: it matches Git but has no "
              "last-applied-configuration, so kubectl apply warns", by_hand),
    ]

