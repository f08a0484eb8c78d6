"""Build ``k8s-types-1.32.json.gz``: the Kubernetes 1.32 API types the DR cluster serves (development tool).

The sandbox's protobuf decoding (``protobuf.py``) and its OpenAPI v3 schemas (``openapi.py``, what
``kubectl explain`` reads) come from one description of the API types: the ``generated.proto`` files of
``k8s.io/api`` and ``k8s.io/apimachinery`` at v0.32.4 (Kubernetes 1.32.4), whose comments are the Go doc
comments the real OpenAPI descriptions are generated from, plus which fields the official Python client
marks required. Not used at run time; rerun it to move to another Kubernetes version::

    python -m pytest_kosmos_dr.sandbox.kube.typegen /path/to/kubernetes/api /path/to/kubernetes/apimachinery

(two git checkouts; the tag ``v0.32.4`` is read from each).
"""

from __future__ import annotations

import gzip
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

TAG = "v0.32.4"
OUTPUT = Path(__file__).with_name("k8s-types-1.32.json.gz")
API_FILES = ["core/v1", "apps/v1", "batch/v1", "rbac/v1", "coordination/v1", "networking/v1", "autoscaling/v1",
             "autoscaling/v2", "policy/v1", "storage/v1", "authorization/v1", "authentication/v1"]
MACHINERY_FILES = ["pkg/apis/meta/v1", "pkg/runtime", "pkg/runtime/schema", "pkg/util/intstr", "pkg/api/resource"]
# fields that Go embeds with `json:",inline"`: their properties belong to the enclosing object
INLINE = {("volumeSource", "VolumeSource"), ("persistentVolumeSource", "PersistentVolumeSource"),
          ("localObjectReference", "LocalObjectReference"), ("handler", "ProbeHandler"),
          ("ephemeralContainerCommon", "EphemeralContainerCommon"), ("ingressRuleValue", "IngressRuleValue")}
FIELD = re.compile(r"^\s*(optional|repeated|required)?\s*(map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)")


def _description(lines: list[str]) -> str:
    """A Go doc comment as OpenAPI text: ``+markers`` and ``---`` tails dropped, paragraphs joined."""
    kept: list[str] = []
    for line in lines:
        if line.startswith("---"):
            break
        if line.startswith("+"):
            continue
        kept.append(line)
    paragraphs, current = [], []
    for line in kept:
        if not line.strip():
            if current:
                paragraphs.append(" ".join(current))
                current = []
        else:
            current.append(line.strip())
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)


# a field's markers that the API server's OpenAPI generator turns into extensions (what kubectl reads to build a
# strategic merge patch, and how list fields merge): marker -> the field's key in the data
MARKERS = {"patchMergeKey": "patch_merge_key", "patchStrategy": "patch_strategy", "listType": "list_type",
           "listMapKey": "list_map_keys"}
MARKER = re.compile(r"^\+(" + "|".join(MARKERS) + r")=(\S+)")


def _markers(lines: list[str]) -> dict:
    """The ``MARKERS`` in a field's doc comment (``+listMapKey`` may repeat: a list, in order)."""
    found: dict = {}
    for line in lines:
        match = MARKER.match(line.strip())
        if match:
            key = MARKERS[match.group(1)]
            if key == "list_map_keys":
                found.setdefault(key, []).append(match.group(2))
            else:
                found[key] = match.group(2)
    return found


def parse(text: str, messages: dict) -> None:
    package = re.search(r"^package ([\w.]+);", text, re.M).group(1)
    comment: list[str] = []
    current: dict | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("//"):
            comment.append(line[2:][1:] if line[2:3] == " " else line[2:])
            continue
        match = re.match(r"^message (\w+) \{", line)
        if match:
            current = {"description": _description(comment), "fields": []}
            messages[f"{package}.{match.group(1)}"] = current
            current["package"] = package
            comment = []
            continue
        match = FIELD.match(raw)
        if match and current is not None:
            label, type_, key, value, name, number = match.groups()
            field = {"name": name, "number": int(number), "description": _description(comment), **_markers(comment)}
            if key:
                field.update(map=True, key=key, type=value)
            else:
                field.update(type=type_, repeated=label == "repeated")
            current["fields"].append(field)
        comment = []


def resolve(messages: dict) -> None:
    scalars = {"string", "int32", "int64", "bool", "bytes", "double", "float"}
    for full, message in messages.items():
        package = message.pop("package")
        for field in message["fields"]:
            type_ = field["type"].lstrip(".")
            if type_ not in scalars:
                type_ = type_ if type_ in messages else f"{package}.{type_}"
                if type_ not in messages:
                    raise SystemExit(f"{full}.{field['name']}: unknown type {field['type']}")
            field["type"] = type_
            if (field["name"], type_.rsplit(".", 1)[-1]) in INLINE:
                field["inline"] = True


def required_fields(messages: dict) -> None:
    """What the official Python client refuses as None (the OpenAPI ``required`` list)."""
    models = importlib.import_module("kubernetes.client.models")
    for full, message in messages.items():
        parts = full.split(".")
        version, name = parts[-2], parts[-1]
        cls = getattr(models, f"{version.capitalize()}{name}", None)
        if cls is None:
            continue
        required = []
        for field in message["fields"]:
            attr = next((a for a, j in getattr(cls, "attribute_map", {}).items() if j == field["name"]), None)
            info = (getattr(cls, "model_fields", {}) or {}).get(attr) if attr else None
            if info is not None and info.is_required():
                required.append(field["name"])
        if required:
            message["required"] = required


GO_FIELD = re.compile(r'^\s*\w*\s+(\*?)(\[\]|map\[)?[\w.*\[\]]*\s+`json:"([^"]*)".*protobuf:"[^"]*name=(\w+)')


def go_fields(text: str, package: str, found: dict) -> None:
    """From types.go: which fields Go omits when zero (``omitempty`` on a non-pointer scalar)."""
    struct = None
    for line in text.splitlines():
        match = re.match(r"^type (\w+) struct", line)
        if match:
            struct = match.group(1)
            continue
        match = GO_FIELD.match(line)
        if match and struct:
            pointer, container, json_tag, name = match.groups()
            found[(f"{package}.{struct}", name)] = "omitempty" in json_tag.split(",")[1:] and not pointer and not container


def _git_show(repo: str, path: str) -> str:
    done = subprocess.run(["git", "-C", repo, "show", f"{TAG}:{path}"], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else ""


def main(api_repo: str, machinery_repo: str) -> None:
    messages: dict = {}
    omit: dict = {}
    for repo, dirs in ((api_repo, API_FILES), (machinery_repo, MACHINERY_FILES)):
        for folder in dirs:
            text = _git_show(repo, f"{folder}/generated.proto")
            parse(text, messages)
            package = re.search(r"^package ([\w.]+);", text, re.M).group(1)
            for go_file in ("types.go", "types_swagger_doc_generated.go", "meta.go", "group_version.go"):
                go_fields(_git_show(repo, f"{folder}/{go_file}"), package, omit)
    resolve(messages)
    for full, message in messages.items():
        for field in message["fields"]:
            if omit.get((full, field["name"])):
                field["omitempty"] = True
    required_fields(messages)
    data = json.dumps({"source": f"k8s.io/api and k8s.io/apimachinery {TAG} generated.proto",
                       "messages": messages}, sort_keys=True, separators=(",", ":")).encode()
    OUTPUT.write_bytes(gzip.compress(data, 9, mtime=0))
    print(f"{OUTPUT}: {len(messages)} messages, {len(data)} bytes")


if __name__ == "__main__":
    main(*sys.argv[1:3])
