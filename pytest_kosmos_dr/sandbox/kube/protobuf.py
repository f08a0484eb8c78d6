"""Decoding the few protobuf request bodies kubectl sends.

kubectl's typed clients (``kubectl create configmap|secret|namespace``) POST objects as
``application/vnd.kubernetes.protobuf``. This decodes the ``k8s\\0`` envelope and the fields of
ConfigMap, Secret and Namespace (and the parts of ObjectMeta a client sets), and the DeleteOptions
and Eviction that ``kubectl drain`` sends, into JSON-shaped dicts; other kinds are answered with 415
so the limitation is explicit.
"""

from __future__ import annotations

import base64
from typing import Iterator

from .status import ApiError

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ApiError(400, "BadRequest", f"unsupported protobuf wire type {wire}")
        yield number, value


def _map_entry(data: bytes) -> tuple[str, bytes]:
    key, value = "", b""
    for number, raw in _fields(data):
        if number == 1:
            key = raw.decode()
        elif number == 2:
            value = raw
    return key, value


def _object_meta(data: bytes) -> dict:
    meta: dict = {}
    names = {1: "name", 2: "generateName", 3: "namespace"}
    for number, raw in _fields(data):
        if number in names:
            meta[names[number]] = raw.decode()
        elif number in (11, 12):
            key, value = _map_entry(raw)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = value.decode()
        elif number == 14:
            meta.setdefault("finalizers", []).append(raw.decode())
    return meta


def _config_map(data: bytes) -> dict:
    obj: dict = {}
    for number, raw in _fields(data):
        if number == 1:
            obj["metadata"] = _object_meta(raw)
        elif number in (2, 3):
            key, value = _map_entry(raw)
            if number == 2:
                obj.setdefault("data", {})[key] = value.decode()
            else:
                obj.setdefault("binaryData", {})[key] = base64.b64encode(value).decode()
        elif number == 4:
            obj["immutable"] = bool(raw)
    return obj


def _secret(data: bytes) -> dict:
    obj: dict = {}
    for number, raw in _fields(data):
        if number == 1:
            obj["metadata"] = _object_meta(raw)
        elif number == 2:
            key, value = _map_entry(raw)
            obj.setdefault("data", {})[key] = base64.b64encode(value).decode()
        elif number == 3:
            obj["type"] = raw.decode()
        elif number == 4:
            key, value = _map_entry(raw)
            obj.setdefault("stringData", {})[key] = value.decode()
        elif number == 5:
            obj["immutable"] = bool(raw)
    return obj


def _namespace(data: bytes) -> dict:
    obj: dict = {}
    for number, raw in _fields(data):
        if number == 1:
            obj["metadata"] = _object_meta(raw)
        elif number == 2:
            finalizers = [r.decode() for n, r in _fields(raw) if n == 1]
            obj["spec"] = {"finalizers": finalizers} if finalizers else {}
    return obj


def _delete_options(data: bytes) -> dict:
    """``DeleteOptions`` (what ``kubectl drain`` and the typed clients send with a DELETE)."""
    obj: dict = {}
    for number, raw in _fields(data):
        if number == 1:
            obj["gracePeriodSeconds"] = raw
        elif number == 2:
            pre = {"uid" if n == 1 else "resourceVersion": r.decode() for n, r in _fields(raw) if n in (1, 2)}
            obj["preconditions"] = pre
        elif number == 3:
            obj["orphanDependents"] = bool(raw)
        elif number == 4:
            obj["propagationPolicy"] = raw.decode()
        elif number == 5:
            obj.setdefault("dryRun", []).append(raw.decode())
    return obj


def _eviction(data: bytes) -> dict:
    obj: dict = {}
    for number, raw in _fields(data):
        if number == 1:
            obj["metadata"] = _object_meta(raw)
        elif number == 2:
            obj["deleteOptions"] = _delete_options(raw)
    return obj


DECODERS = {("v1", "ConfigMap"): _config_map, ("v1", "Secret"): _secret, ("v1", "Namespace"): _namespace,
            ("v1", "DeleteOptions"): _delete_options, ("meta.k8s.io/v1", "DeleteOptions"): _delete_options,
            ("policy/v1", "Eviction"): _eviction, ("policy/v1beta1", "Eviction"): _eviction}


def decode(body: bytes) -> dict:
    """A protobuf-encoded object as a JSON-shaped dict."""
    if not body.startswith(MAGIC):
        raise ApiError(400, "BadRequest", "protobuf body without the k8s envelope")
    api_version = kind = ""
    raw = b""
    for number, value in _fields(body[len(MAGIC):]):
        if number == 1:
            for n, v in _fields(value):
                if n == 1:
                    api_version = v.decode()
                elif n == 2:
                    kind = v.decode()
        elif number == 2:
            raw = value
    decoder = DECODERS.get((api_version, kind))
    if decoder is None:
        raise ApiError(
            415, "UnsupportedMediaType",
            f"the DR cluster decodes protobuf only for {sorted(k for _, k in DECODERS)}; send {kind} as JSON or YAML",
        )
    obj = decoder(raw)
    obj.setdefault("metadata", {})
    return {"apiVersion": api_version, "kind": kind, **obj}
