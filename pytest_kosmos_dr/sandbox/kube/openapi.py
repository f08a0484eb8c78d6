"""``/openapi/v3``: per group version, the paths (with PATCH's ``fieldValidation``) and the schemas.

kubectl (``apply``, ``diff``, ``create``) checks the OpenAPI v3 document of an object's group
version for a PATCH operation with a ``fieldValidation`` parameter; with it, kubectl leaves
validation to the server. ``kubectl explain`` reads ``components.schemas``: the schema whose
``x-kubernetes-group-version-kind`` names the kind, and the schemas it references.

The schemas are built from the Kubernetes 1.32 type descriptions in ``apitypes`` (the ``generated.proto``
files whose comments are the Go doc comments the real documents come from) as the API server's
OpenAPI generator lays them out: ``io.k8s.api.<group>.<version>.<Type>`` names, references as
``allOf: [{$ref}]``, inline Go fields flattened, times as ``date-time`` strings, quantities and
int-or-strings as their ``oneOf``. Descriptions are the doc comments; their list and patch markers become
the ``x-kubernetes-list-*`` and ``x-kubernetes-patch-*`` extensions, and each PATCH operation names the patch
types it takes, so kubectl builds strategic merge patches from these documents as from a real API server's
(and asks for no ``/openapi/v2``). The real documents' defaults are left out.
"""

from __future__ import annotations

import functools
import hashlib
import json

from . import apitypes
from .resources import RESOURCE_TYPES, ResourceType

REF = "#/components/schemas/"
SCALAR_SCHEMAS = {"string": {"type": "string"}, "int32": {"type": "integer", "format": "int32"},
                  "int64": {"type": "integer", "format": "int64"}, "bool": {"type": "boolean"},
                  "bytes": {"type": "string", "format": "byte"}, "double": {"type": "number", "format": "double"},
                  "float": {"type": "number", "format": "float"}}
SPECIAL_SCHEMAS = {
    f"{apitypes.META}.Time": {"type": "string", "format": "date-time"},
    f"{apitypes.META}.MicroTime": {"type": "string", "format": "date-time"},
    f"{apitypes.META}.Duration": {"type": "string"},
    f"{apitypes.META}.FieldsV1": {"type": "object"},
    "k8s.io.apimachinery.pkg.runtime.RawExtension": {"type": "object"},
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": {"format": "int-or-string",
                                                        "oneOf": [{"type": "integer"}, {"type": "string"}]},
    "k8s.io.apimachinery.pkg.api.resource.Quantity": {"oneOf": [{"type": "string"}, {"type": "number"}]},
}


# a field's markers (typegen.MARKERS) as the OpenAPI generator writes them: how its list merges, what a strategic
# merge patch keys it by (kubectl builds its patches from these when the PATCH operation takes that patch type)
FIELD_EXTENSIONS = (("list_map_keys", "x-kubernetes-list-map-keys"), ("list_type", "x-kubernetes-list-type"),
                    ("patch_merge_key", "x-kubernetes-patch-merge-key"), ("patch_strategy", "x-kubernetes-patch-strategy"))
PATCH_SCHEMA = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
PATCH_TYPES = ("application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json")  # what a built-in kind's PATCH takes


def schema_name(message: str) -> str:
    """``k8s.io.api.core.v1.Pod`` -> ``io.k8s.api.core.v1.Pod`` (the real documents' component names)."""
    return "io.k8s." + message[len("k8s.io."):]


def _field_schema(field: dict) -> dict:
    type_ = field["type"]
    if type_ in SCALAR_SCHEMAS:
        single = dict(SCALAR_SCHEMAS[type_])
    elif field.get("map") or field.get("repeated"):
        single = {"allOf": [{"$ref": REF + schema_name(type_)}], "default": {}}
    else:
        single = {"allOf": [{"$ref": REF + schema_name(type_)}]}
    if field.get("map"):
        schema = {"type": "object", "additionalProperties": single}
    elif field.get("repeated"):
        schema = {"type": "array", "items": single}
    else:
        schema = single
    if field.get("description"):
        schema["description"] = field["description"]
    for key, extension in FIELD_EXTENSIONS:
        if field.get(key):
            schema[extension] = field[key]
    return schema


TYPE_META = {
    "apiVersion": {"type": "string", "description": (
        "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
        "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
        "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources")},
    "kind": {"type": "string", "description": (
        "Kind is a string value representing the REST resource this object represents. Servers may infer this "
        "from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
        "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds")},
}


def _properties(message: str) -> tuple[dict, list[str]]:
    spec = apitypes.messages()[message]
    properties: dict = {}
    first = spec["fields"][0] if spec["fields"] else {}
    if first.get("name") == "metadata" and first.get("type") in (f"{apitypes.META}.ObjectMeta",
                                                                 f"{apitypes.META}.ListMeta"):
        properties.update(json.loads(json.dumps(TYPE_META)))  # Go's inline TypeMeta (not in the protobuf)
    required = list(spec.get("required") or [])
    for field in spec["fields"]:
        if field.get("inline") and field["type"] not in SCALAR_SCHEMAS:
            inner, inner_required = _properties(field["type"])
            properties.update(inner)
            required += inner_required
        else:
            properties[field["name"]] = _field_schema(field)
    return properties, required


@functools.lru_cache(maxsize=None)
def component(message: str) -> dict:
    """The OpenAPI v3 schema of one message."""
    spec = apitypes.messages()[message]
    if message in SPECIAL_SCHEMAS:
        schema = dict(SPECIAL_SCHEMAS[message])
    else:
        properties, required = _properties(message)
        schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = sorted(set(required), key=required.index)
    if spec.get("description"):
        schema["description"] = spec["description"]
    kinds = [{"group": r.group, "kind": r.kind, "version": r.version} for r in RESOURCE_TYPES
             if apitypes.message_for(r.api_version, r.kind) == message]
    if kinds:
        schema["x-kubernetes-group-version-kind"] = kinds
    return schema


def _references(message: str, seen: set[str]) -> None:
    if message in seen or message not in apitypes.messages():
        return
    seen.add(message)
    for field in apitypes.messages()[message]["fields"]:
        if field["type"] not in SCALAR_SCHEMAS:
            _references(field["type"], seen)


def schemas(group: str, version: str) -> dict:
    """``components.schemas`` of one group version: its kinds and every schema they reference."""
    seen: set[str] = set()
    for rtype in RESOURCE_TYPES:
        if (rtype.group, rtype.version) == (group, version):
            message = apitypes.message_for(rtype.api_version, rtype.kind)
            if message:
                _references(message, seen)
    found = {schema_name(m): component(m) for m in sorted(seen)}
    if found:
        found[PATCH_SCHEMA] = {"description": "Patch is provided to give a concrete name and type to the Kubernetes "
                                              "PATCH request body.", "type": "object"}
    return dict(sorted(found.items()))


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _item_path(rtype: ResourceType) -> str:
    prefix = "/" + _gv_path(rtype.group, rtype.version)
    if rtype.namespaced:
        return f"{prefix}/namespaces/{{namespace}}/{rtype.plural}/{{name}}"
    return f"{prefix}/{rtype.plural}/{{name}}"


@functools.lru_cache(maxsize=None)
def _document_json(group: str, version: str) -> bytes | None:
    doc = group_version_document(group, version)
    return None if doc is None else json.dumps(doc).encode()


def document_bytes(group: str, version: str) -> bytes | None:
    """The serialized document (built once per process)."""
    return _document_json(group, version)


def group_version_document(group: str, version: str) -> dict | None:
    """The OpenAPI v3 document of one group version: paths and schemas."""
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
        if rtype.creates_only:
            paths["/" + _gv_path(rtype.group, rtype.version) + f"/{rtype.plural}"] = {
                "post": {**operation, "x-kubernetes-action": "post", "operationId": f"create{rtype.kind}"}}
            continue
        paths[_item_path(rtype)] = {
            "get": {**operation, "x-kubernetes-action": "get", "operationId": f"read{rtype.kind}"},
            "put": {**operation, "x-kubernetes-action": "put", "operationId": f"replace{rtype.kind}"},
            "patch": {**operation, "x-kubernetes-action": "patch", "operationId": f"patch{rtype.kind}",
                      "requestBody": {"content": {t: {"schema": {"$ref": REF + PATCH_SCHEMA}} for t in PATCH_TYPES},
                                      "required": True}},
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
        }
    if not paths:
        return None
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.4"}, "paths": paths,
            "components": {"schemas": schemas(group, version)}}


def index() -> dict:
    """``GET /openapi/v3``: where each group version's document is."""
    entries = {}
    for group, version in dict.fromkeys((r.group, r.version) for r in RESOURCE_TYPES):
        digest = document_etag(group, version)
        entries[_gv_path(group, version)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(group, version)}?hash={digest}"}
    return {"paths": entries}


def etag(body: bytes) -> str:
    """kube-openapi's ETag of a served document (and the ``hash`` its URL carries): SHA-512, upper-case hex."""
    return hashlib.sha512(body).hexdigest().upper()


@functools.lru_cache(maxsize=None)
def document_etag(group: str, version: str) -> str:
    """The ETag of a group version's document (built once per process, so hashed once: every kubectl run asks
    for the index, which names every document's hash)."""
    return etag(document_bytes(group, version) or b"")
