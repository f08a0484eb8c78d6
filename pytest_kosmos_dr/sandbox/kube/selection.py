"""Label and field selectors, as in ``?labelSelector=`` and ``?fieldSelector=``."""

from __future__ import annotations

import re
from typing import Any, Callable

Predicate = Callable[[dict], bool]


class SelectorError(ValueError):
    """A selector the server cannot parse."""


def _split_top(expr: str) -> list[str]:
    """Split on commas that are not inside ``in (...)`` parentheses."""
    parts, depth, current = [], 0, ""
    for char in expr:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


_SET_RE = re.compile(r"^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$")
_CMP_RE = re.compile(r"^([\w./-]+)\s*(==|!=|=)\s*(.*)$")
_KEY_RE = re.compile(r"^(!?)([\w./-]+)$")


def parse_label_selector(expr: str | None) -> Predicate:
    """Equality (``a=b``, ``a!=b``), set (``a in (x,y)``, ``a notin (x)``) and existence (``a``, ``!a``)."""
    if not expr:
        return lambda obj: True
    tests: list[Callable[[dict], bool]] = []
    for term in _split_top(expr):
        if m := _SET_RE.match(term):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",") if v.strip()}
            if op == "in":
                tests.append(lambda l, k=key, vs=values: k in l and l[k] in vs)
            else:
                tests.append(lambda l, k=key, vs=values: k not in l or l[k] not in vs)
        elif m := _CMP_RE.match(term):
            key, op, value = m.group(1), m.group(2), m.group(3).strip()
            if op == "!=":
                tests.append(lambda l, k=key, v=value: l.get(k) != v)
            else:
                tests.append(lambda l, k=key, v=value: l.get(k) == v)
        elif m := _KEY_RE.match(term):
            negate, key = m.group(1) == "!", m.group(2)
            tests.append(lambda l, k=key, n=negate: (k in l) != n)
        else:
            raise SelectorError(f"unable to parse requirement: {term!r}")

    def predicate(obj: dict) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(test(labels) for test in tests)

    return predicate


def field_value(obj: dict, path: str) -> str:
    """The value at a dotted field path as the API server compares it (missing = empty string)."""
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def parse_field_selector(expr: str | None) -> Predicate:
    """``field=value``, ``field==value``, ``field!=value`` on any dotted path (e.g. ``status.phase``)."""
    if not expr:
        return lambda obj: True
    tests: list[Predicate] = []
    for term in _split_top(expr):
        m = _CMP_RE.match(term)
        if not m:
            raise SelectorError(f"invalid field selector: {term!r}")
        path, op, value = m.group(1), m.group(2), m.group(3).strip()
        if op == "!=":
            tests.append(lambda o, p=path, v=value: field_value(o, p) != v)
        else:
            tests.append(lambda o, p=path, v=value: field_value(o, p) == v)
    return lambda obj: all(test(obj) for test in tests)


def selector_matches(selector: dict | None, labels: dict) -> bool:
    """Whether a ``LabelSelector`` object (``matchLabels``, ``matchExpressions``) selects ``labels``.

    An empty selector selects everything, a missing one nothing (as for PodDisruptionBudgets in policy/v1)."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), set(expr.get("values") or [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True
