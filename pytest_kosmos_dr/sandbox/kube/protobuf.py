"""Decoding the protobuf request bodies kubectl sends.

kubectl's typed clients (``kubectl create configmap|secret|namespace|job|deployment|cronjob|service...``,
``kubectl drain``'s DeleteOptions and Eviction) POST objects as ``application/vnd.kubernetes.protobuf``.
This decodes the ``k8s\\0`` envelope (``runtime.Unknown``) and the object by the Kubernetes 1.32 field
numbers of ``apitypes`` into the JSON object the API server would hold: inline fields flattened, times as
RFC 3339, int-or-strings and quantities as their JSON values, scalars Go omits when zero left out. A kind
the cluster does not know is answered 415 (kubectl does not retry as JSON).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import struct
from typing import Iterator

from . import apitypes
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


SCALARS = {"string", "int32", "int64", "bool", "bytes", "double", "float"}


def _signed(value: int, bits: int) -> int:
    """A varint as a signed ``bits``-wide integer (negative numbers travel as 64-bit two's complement)."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def _scalar(type_: str, wire: int, raw: int | bytes):
    if type_ == "string":
        return raw.decode()
    if type_ == "bytes":
        return base64.b64encode(raw).decode()
    if type_ == "bool":
        return bool(raw)
    if type_ in ("int32", "int64"):
        return _signed(raw, 32 if type_ == "int32" else 64)
    if type_ == "double":
        return struct.unpack("<d", raw)[0]
    if type_ == "float":
        return struct.unpack("<f", raw)[0]
    raise ApiError(400, "BadRequest", f"unsupported protobuf type {type_}")


def _time(data: bytes, micro: bool) -> str | None:
    seconds = nanos = 0
    for number, raw in _fields(data):
        if number == 1:
            seconds = _signed(raw, 64)
        elif number == 2:
            nanos = _signed(raw, 32)
    if not seconds and not nanos:
        return None  # Go's zero time: JSON null, left out here
    stamp = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    if micro:
        return stamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _special(type_: str, data: bytes):
    """Messages whose JSON form is not an object (times, quantities, int-or-strings, raw JSON)."""
    short = type_.rsplit(".", 1)[-1]
    if type_.startswith(apitypes.META) and short in ("Time", "MicroTime"):
        return True, _time(data, short == "MicroTime")
    if short == "Quantity" and ".resource." in type_:
        return True, next((raw.decode() for n, raw in _fields(data) if n == 1), "")
    if short == "IntOrString":
        kind, int_val, str_val = 0, 0, ""
        for number, raw in _fields(data):
            if number == 1:
                kind = raw
            elif number == 2:
                int_val = _signed(raw, 32)
            elif number == 3:
                str_val = raw.decode()
        return True, (str_val if kind == 1 else int_val)
    if short in ("RawExtension", "FieldsV1"):
        raw = next((r for n, r in _fields(data) if n == 1), b"")
        try:
            return True, json.loads(raw) if raw else None
        except ValueError:
            return True, None
    if type_ == f"{apitypes.META}.Duration":
        nanos = next((_signed(r, 64) for n, r in _fields(data) if n == 1), 0)
        return True, f"{nanos / 1e9:g}s"
    return False, None


def _value(type_: str, wire: int, raw: int | bytes):
    if type_ in SCALARS:
        return _scalar(type_, wire, raw)
    special, value = _special(type_, raw)
    return value if special else _message(type_, raw)


def _packed(type_: str, raw: bytes) -> list:
    values, pos = [], 0
    while pos < len(raw):
        if type_ in ("double",):
            values.append(struct.unpack("<d", raw[pos:pos + 8])[0])
            pos += 8
        elif type_ == "float":
            values.append(struct.unpack("<f", raw[pos:pos + 4])[0])
            pos += 4
        else:
            value, pos = _varint(raw, pos)
            values.append(_scalar(type_, 0, value))
    return values


def _message(name: str, data: bytes) -> dict:
    """A protobuf message as the JSON object the API server would hold (zero scalars Go omits left out)."""
    spec = apitypes.messages()[name]
    by_number = {f["number"]: f for f in spec["fields"]}
    obj: dict = {}
    for number, raw in _fields(data):
        field = by_number.get(number)
        if field is None:
            continue  # a field newer than 1.32: ignored, as an older server would
        type_ = field["type"]
        if field.get("map"):
            key, value = "", None
            for n, r in _fields(raw):
                if n == 1:
                    key = r.decode()
                elif n == 2:
                    value = _value(type_, 2, r)
            if value is None and type_ == "string":
                value = ""
            obj.setdefault(field["name"], {})[key] = value
        elif field.get("repeated"):
            items = obj.setdefault(field["name"], [])
            if isinstance(raw, bytes) and type_ in SCALARS - {"string", "bytes"}:
                items.extend(_packed(type_, raw))
            else:
                items.append(_value(type_, 2, raw))
        else:
            value = _value(type_, 2, raw)
            if field.get("inline") and isinstance(value, dict):
                obj.update(value)
            elif value is not None:
                obj[field["name"]] = value
    for field in spec["fields"]:
        if field.get("omitempty") and field["type"] in SCALARS and obj.get(field["name"], 1) in ("", 0, False):
            obj.pop(field["name"], None)
    return obj


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
    message = apitypes.message_for(api_version, kind) if kind else None
    if message is None:
        raise ApiError(415, "UnsupportedMediaType",
                       f"the body of the request was in an unknown format: {MEDIA_TYPE} ({api_version} {kind} "
                       "is not a kind the DR cluster serves)")
    obj = _message(message, raw)
    if message.startswith("k8s.io.api.") or kind == "Status":
        obj.setdefault("metadata", {})
    return {"apiVersion": api_version, "kind": kind, **obj}
