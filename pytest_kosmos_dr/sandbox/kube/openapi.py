"""A minimal ``/openapi/v3``: enough for kubectl to see that PATCH supports ``fieldValidation``.

kubectl (``apply``, ``diff``, ``create``) checks the OpenAPI v3 document of an object's group
version for a PATCH operation with a ``fieldValidation`` parameter; with it, kubectl leaves
validation to the server instead of downloading schemas. The documents carry no schemas
(``components``), so kubectl computes strategic merge patches from its built-in types and
``kubectl explain`` does not work.
"""

from __future__ import annotations

import hashlib
import json

from .resources import RESOURCE_TYPES, ResourceType


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _item_path(rtype: ResourceType) -> str:
    prefix = "/" + _gv_path(rtype.group, rtype.version)
    if rtype.namespaced:
        return f"{prefix}/namespaces/{{namespace}}/{rtype.plural}/{{name}}"
    return f"{prefix}/{rtype.plural}/{{name}}"


def group_version_document(group: str, version: str) -> dict | None:
    """The OpenAPI v3 document of one group version (paths only)."""
    paths = {}
    for rtype in RESOURCE_TYPES:
        if (rtype.group, rtype.version) != (group, version):
            continue
        gvk = {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
        parameters = [
            {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
        ]
        operation = {
            "x-kubernetes-group-version-kind": gvk,
            "parameters": parameters,
            "responses": {"200": {"description": "OK"}},
        }
        paths[_item_path(rtype)] = {
            "get": {**operation, "x-kubernetes-action": "get", "operationId": f"read{rtype.kind}"},
            "put": {**operation, "x-kubernetes-action": "put", "operationId": f"replace{rtype.kind}"},
            "patch": {**operation, "x-kubernetes-action": "patch", "operationId": f"patch{rtype.kind}"},
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
        }
    if not paths:
        return None
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.4"}, "paths": paths}


def index() -> dict:
    """``GET /openapi/v3``: where each group version's document is."""
    entries = {}
    for group, version in dict.fromkeys((r.group, r.version) for r in RESOURCE_TYPES):
        doc = json.dumps(group_version_document(group, version), sort_keys=True).encode()
        digest = hashlib.sha256(doc).hexdigest()[:32].upper()
        entries[_gv_path(group, version)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(group, version)}?hash={digest}"}
    return {"paths": entries}
