"""The sandbox's S3 ListObjectVersions answer, written at one page's cost.

moto builds each page's answer with its generic, model-driven serializer: per listed version it walks
the botocore shape member by member and parses the version's ``LastModified`` string back into a
datetime with dateutil before formatting it again. At scale (20,001 archives, 21 pages) that was about
0.5 ms of the sandbox's CPU per version, 11-12 s per listing. Here the same result moto's handler builds
(its query parsing, backend call, markers and fields, unchanged) is written straight into the same XML,
byte for byte (``tests/test_sandbox_version_listing.py`` compares the two). Anything the writer does not
know (another field, ``encoding-type``, pretty printing) goes through moto's serializer as before.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
# ListVersionsResult's members in the order of S3's model (botocore's shape), as moto writes them
_HEAD = ("IsTruncated", "KeyMarker", "VersionIdMarker", "NextKeyMarker", "NextVersionIdMarker")
_TAIL = ("Name", "Prefix", "Delimiter", "MaxKeys")
_VERSION = ("ETag", "Size", "StorageClass", "Key", "VersionId", "IsLatest", "LastModified", "Owner")
_MARKER = ("Owner", "Key", "VersionId", "IsLatest", "LastModified")
_KNOWN = frozenset(_HEAD + _TAIL + ("Versions", "DeleteMarkers", "CommonPrefixes"))
_BOOLEAN = frozenset(("IsTruncated", "IsLatest"))
_INTEGER = frozenset(("MaxKeys", "Size"))
# moto's S3 times (``iso_8601_datetime_without_milliseconds_s3``), which its serializer writes unchanged
_S3_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z")


class _Unknown(Exception):
    """A field or value the writer does not know: moto's serializer writes the answer."""


def _text(name: str, value) -> str:
    if name in _BOOLEAN:
        value = "true" if value is True or str(value).lower() == "true" else "false"
    elif name in _INTEGER:
        value = int(value)
    elif name == "LastModified":
        if not isinstance(value, str) or not _S3_TIME.fullmatch(value):
            raise _Unknown(name)
    elif not isinstance(value, str):
        raise _Unknown(name)
    text = escape(str(value))
    return f"<{name}>{text}</{name}>" if text else f"<{name}/>"


def _owner(owner) -> str:
    if not isinstance(owner, dict) or set(owner) != {"DisplayName", "ID"} or None in owner.values():
        raise _Unknown("Owner")
    return "<Owner>" + "".join(_text(k, owner[k]) for k in ("DisplayName", "ID") if owner.get(k) is not None) \
        + "</Owner>"


def _entry(tag: str, fields: tuple[str, ...], entry) -> str:
    if not isinstance(entry, dict) or set(entry) - set(fields):
        raise _Unknown(tag)
    parts = [_owner(entry[name]) if name == "Owner" else _text(name, entry[name])
             for name in fields if entry.get(name) is not None]
    if not parts:
        raise _Unknown(tag)  # moto leaves an entry without fields out
    return f"<{tag}>{''.join(parts)}</{tag}>"


def list_versions_xml(result: dict) -> str:
    """The ListVersionsResult document moto's serializer writes for ``result`` (the dict moto's
    handler builds); ``_Unknown`` for anything beyond the fields it writes."""
    if not isinstance(result, dict) or set(result) - _KNOWN:
        raise _Unknown("result")
    parts = [_text(name, result[name]) for name in _HEAD if result.get(name) is not None]
    parts += [_entry("Version", _VERSION, v) for v in result.get("Versions") or ()]
    parts += [_entry("DeleteMarker", _MARKER, m) for m in result.get("DeleteMarkers") or ()]
    parts += [_text(name, result[name]) for name in _TAIL if result.get(name) is not None]
    for common in result.get("CommonPrefixes") or ():
        if not isinstance(common, dict) or set(common) != {"Prefix"} or common["Prefix"] is None:
            raise _Unknown("CommonPrefixes")
        parts.append("<CommonPrefixes>" + _text("Prefix", common["Prefix"]) + "</CommonPrefixes>")
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<ListVersionsResult xmlns="{NAMESPACE}">'
            + "".join(parts) + "</ListVersionsResult>")


def serve_version_listing() -> None:
    """Give moto's S3 handler the writer above for ListObjectVersions (once per process; the sandbox
    runs moto in its own process). Status, headers and body stay what moto's serializer returns."""
    from moto import settings
    from moto.s3.responses import S3Response

    if getattr(S3Response.list_object_versions, "_kosmos_direct_xml", False):
        return
    handler = S3Response.list_object_versions

    def list_object_versions(self):
        serialized = self.serialized

        def written(action_result):
            if settings.PRETTIFY_RESPONSES:
                return serialized(action_result)
            try:
                body = list_versions_xml(action_result.result)
            except _Unknown:
                return serialized(action_result)
            return 200, {"Content-Type": "application/xml", **self.response_headers}, body

        self.serialized = written  # this request's handler only
        try:
            return handler(self)
        finally:
            del self.serialized

    list_object_versions._kosmos_direct_xml = True
    list_object_versions.moto_handler = handler
    list_object_versions.__doc__ = handler.__doc__
    S3Response.list_object_versions = list_object_versions
