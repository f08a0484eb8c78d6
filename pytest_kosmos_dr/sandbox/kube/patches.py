"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

The strategic merge patch knows the merge keys of the list fields the DR workloads use and
the directives kubectl sends (``$patch``, ``$setElementOrder/``, ``$retainKeys``,
``$deleteFromPrimitiveList/``). Lists it does not know are replaced, like atomic lists.
"""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    """A patch that cannot be applied."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- RFC 6902 -----------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise PatchError(f"path not found: /{'/'.join(parts)}")
    return node, parts[-1]


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent, key = _parent(doc, parts)
    try:
        return parent[int(key)] if isinstance(parent, list) else parent[key]
    except (KeyError, IndexError, ValueError) as exc:
        raise PatchError(f"path not found: /{'/'.join(parts)}") from exc


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, key = _parent(doc, parts)
    if isinstance(parent, list):
        parent.insert(len(parent) if key == "-" else int(key), value)
    elif isinstance(parent, dict):
        parent[key] = value
    else:
        raise PatchError(f"cannot add at /{'/'.join(parts)}")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    parent, key = _parent(doc, parts)
    try:
        if isinstance(parent, list):
            del parent[int(key)]
        else:
            del parent[key]
    except (KeyError, IndexError, ValueError) as exc:
        raise PatchError(f"path not found: /{'/'.join(parts)}") from exc
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: add, remove, replace, move, copy, test."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        kind, parts = op.get("op"), _pointer(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, parts)
        elif kind == "replace":
            _get(doc, parts)
            doc = _add(_remove(doc, parts) if parts else doc, parts, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = copy.deepcopy(_get(doc, source))
            if kind == "move":
                doc = _remove(doc, source)
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _get(doc, parts) != op.get("value"):
                raise PatchError(f"test failed at {op.get('path')}")
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc


# --- strategic merge patch ----------------------------------------------------------------

# list field name -> merge key; "ports" depends on where it is (container or service).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "volumes": "name",
    "imagePullSecrets": "name",
    "conditions": "type",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "ownerReferences": "uid",
    "resourceClaims": "name",
    "containerStatuses": "name",
    "initContainerStatuses": "name",
    "addresses": "type",
}
MERGED_PRIMITIVE_LISTS = {"finalizers"}


def _merge_key(field: str, path: tuple[str, ...]) -> str | None:
    if field == "ports":
        return "containerPort" if any("ontainers" in p for p in path) else "port"
    return MERGE_KEYS.get(field)


def _merge_list(current: list, patch: list, key: str | None, field: str, path: tuple[str, ...]) -> list:
    if key is None:
        if field in MERGED_PRIMITIVE_LISTS:
            return current + [v for v in patch if v not in current]
        return [_strip_directives(v) for v in patch]
    result = copy.deepcopy(current)
    for item in patch:
        if not isinstance(item, dict):
            continue
        directive = item.get("$patch")
        if directive == "replace":
            return [_strip_directives({k: v for k, v in item.items() if k != "$patch"})]
        match = next((i for i, cur in enumerate(result) if isinstance(cur, dict) and cur.get(key) == item.get(key)), None)
        if directive == "delete":
            if match is not None:
                del result[match]
            continue
        if match is None:
            result.append(_strip_directives(item))
        else:
            result[match] = strategic_merge(result[match], item, (*path, field))
    return result


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if not k.startswith("$") and v is not None
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _reorder(items: list, order: list, key: str | None) -> list:
    def ident(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item

    wanted = [ident(o) for o in order]
    ranked = sorted(
        enumerate(items),
        key=lambda pair: (wanted.index(ident(pair[1])) if ident(pair[1]) in wanted else len(wanted), pair[0]),
    )
    return [item for _, item in ranked]


def strategic_merge(current: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    """Apply a strategic merge patch to ``current``."""
    if not isinstance(patch, dict) or not isinstance(current, dict):
        return _strip_directives(copy.deepcopy(patch))
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip_directives(patch)
    if directive == "delete":
        return None
    result = copy.deepcopy(current)
    for field, value in patch.items():
        if field.startswith("$"):
            continue
        if value is None:
            result.pop(field, None)
        elif isinstance(value, list) and isinstance(result.get(field), list):
            result[field] = _merge_list(result[field], value, _merge_key(field, path), field, path)
        elif isinstance(value, dict):
            merged = strategic_merge(result.get(field) if isinstance(result.get(field), dict) else {}, value, (*path, field))
            if merged is None:
                result.pop(field, None)
            else:
                result[field] = merged
        else:
            result[field] = _strip_directives(copy.deepcopy(value))
    for field, values in patch.items():
        if field.startswith("$deleteFromPrimitiveList/"):
            name = field.split("/", 1)[1]
            result[name] = [v for v in result.get(name, []) if v not in values]
        elif field.startswith("$setElementOrder/"):
            name = field.split("/", 1)[1]
            if isinstance(result.get(name), list):
                result[name] = _reorder(result[name], values, _merge_key(name, path))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result
