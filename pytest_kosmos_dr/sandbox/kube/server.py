"""The DR cluster's Kubernetes API: an aiohttp application over a :class:`ClusterStore`."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Callable

import yaml
from aiohttp import web

from ... import yaml_docs
from . import auth, metrics, openapi, podexec, protobuf, resources, tables
from .patches import PatchError, json_patch, merge_patch, strategic_merge
from .resources import ResourceType
from .selection import SelectorError, parse_field_selector, parse_label_selector, selector_matches
from .status import ApiError, failure, not_found, success
from .store import ClusterStore, now_rfc3339
from .validation import validate

VERSION_INFO = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.4", "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
    "gitTreeState": "clean", "buildDate": "2025-04-22T16:03:14Z", "goVersion": "go1.23.6", "compiler": "gc",
    "platform": "linux/amd64",
}
DEFAULT_WATCH_TIMEOUT_S = 1800
FOLLOW_MAX_S = 4 * 3600  # the kubelet's streaming connection idle timeout: a followed log never outlives it
FOLLOW_POLL_S = 0.25
OPEN_PATHS = {"/healthz", "/livez", "/readyz"}
USER = web.RequestKey("user", auth.User)  # who the request runs as (the admin, or whom it impersonates)


@dataclass
class Target:
    """What a resource URL names."""

    rtype: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


def _json(body: dict, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body).encode(), status=status, content_type="application/json")


def _conditional(request: web.Request, body: bytes, etag: str, headers: dict[str, str]) -> web.Response:
    """``body`` as Go's http.ServeContent serves it: with its ETag, and 304 to a matching If-None-Match."""
    headers = {**headers, "Etag": f'"{etag}"'}
    if f'"{etag}"' in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)


def _error(exc: ApiError) -> web.Response:
    return _json(exc.status(), exc.code)


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true")


def _dry_run(request: web.Request, options: dict | None = None) -> bool:
    """``dryRun=All`` in the query (POST, PUT, PATCH) or in the ``DeleteOptions`` body (DELETE, eviction)."""
    values = list(request.query.getall("dryRun", [])) + list((options or {}).get("dryRun") or [])
    for value in values:
        if value != "All":
            raise ApiError(400, "BadRequest", f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return bool(values)


NOT_FOUND = "the server could not find the requested resource"
# kinds whose DELETE answers with the object (the API server's ReturnDeletedObject); others answer a Status
RETURNS_DELETED_OBJECT = {"Pod", "Service", "Namespace", "PersistentVolume", "PersistentVolumeClaim"}


class DRClusterAPI:
    """Routes Kubernetes REST calls for the DR cluster to its store, pod roots and logs."""

    def __init__(self, store: ClusterStore, pod_roots: podexec.PodRoots, token: str, logs: dict | None = None):
        self.store = store
        self.pod_roots = pod_roots
        self.token = token
        self.logs: dict[tuple[str, str, str], str] = logs or {}
        self.previous_logs: dict[tuple[str, str, str], str] = {}  # the last terminated instance's log
        self.server_address = "127.0.0.1:443"
        self.stopping = asyncio.Event()
        # A fault: a policy that forbids reading single objects of, and writing (dry runs included), these kinds.
        self.denied_kinds: set[str] = set()
        # A fault: group versions this cluster does not serve (an older or differently configured Kubernetes):
        # absent from discovery and OpenAPI, and their paths answer 404.
        self.unserved: set[tuple[str, str]] = set()
        self.authorizer = auth.Authorizer(store)

    # --- application ------------------------------------------------------------------

    def app(self) -> web.Application:
        from ..request_log import middleware

        app = web.Application(middlewares=[middleware("kubernetes"), self._auth], client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        if request.path not in OPEN_PATHS:
            header = request.headers.get("Authorization", "")
            given = header[7:] if header.startswith("Bearer ") else ""
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                return _json(failure(401, "Unauthorized", "Unauthorized"), 401)
        try:
            # the token is the cluster admin's, who may impersonate anyone
            request[USER] = auth.impersonated(request.headers) or auth.ADMIN
            return await handler(request)
        except ApiError as exc:
            return _error(exc)
        except (PatchError, SelectorError) as exc:
            return _json(failure(400, "BadRequest", str(exc)), 400)
        except web.HTTPException as exc:  # aiohttp's own (body too large...): a Status, never an HTML page
            if exc.status < 400:
                raise
            return _json(failure(exc.status, exc.reason.replace(" ", ""), exc.text or exc.reason), exc.status)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - the API server answers InternalError as a Status
            return _json(failure(500, "InternalError", f"Internal error occurred: {type(exc).__name__}: {exc}"), 500)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if request.path in OPEN_PATHS:
            return web.Response(text="ok")
        if parts == ["version"]:
            return _json(VERSION_INFO)
        if parts[:1] == ["openapi"]:
            return self._openapi(request, parts[1:])
        if parts == ["api"]:
            return _json(resources.api_versions(self.server_address))
        if parts == ["apis"]:
            listing = resources.api_group_list()
            listing["groups"] = [g for g in listing["groups"]
                                 if (g["name"], g["preferredVersion"]["version"]) not in self.unserved]
            return _json(listing)
        if parts[:1] == ["apis"] and len(parts) == 2:
            group = resources.api_group(parts[1])
            if group is None or (group["name"], group["preferredVersion"]["version"]) in self.unserved:
                raise ApiError(404, "NotFound", NOT_FOUND)
            return _json(group)
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", NOT_FOUND)
        if (group, version) in self.unserved:
            raise ApiError(404, "NotFound", NOT_FOUND)
        if not rest:
            listing = resources.resource_list(group, version)
            if listing is None:
                raise ApiError(404, "NotFound", NOT_FOUND)
            return _json(listing)
        if group == resources.METRICS_GROUP:
            return self._metrics(request, rest)
        return await self._resource(request, self._target(group, version, rest))

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        rtype = resources.find_type(group, version, rest[0])
        if rtype is None or len(rest) > 3 or (namespace is not None and not rtype.namespaced):
            raise ApiError(404, "NotFound", NOT_FOUND)
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if rtype.namespaced and name is not None and namespace is None:
            raise ApiError(404, "NotFound", NOT_FOUND)
        return Target(rtype, namespace, name, sub)

    def _openapi(self, request: web.Request, rest: list[str]) -> web.Response:
        """kube-openapi's handler3: the index and each group version's document, with its ETag (a
        conditional GET gets 304); a document asked for by its current ``hash`` is immutable (cached by
        kubectl's HTTP cache for a year: no request next time), by a stale one redirected (301)."""
        if rest == ["v3"]:
            index = openapi.index()
            hidden = {f"apis/{g}/{v}" for g, v in self.unserved}
            index["paths"] = {k: v for k, v in index["paths"].items() if k not in hidden}
            body = json.dumps(index).encode()
            return _conditional(request, body, openapi.etag(body), {})
        if rest[:1] == ["v3"] and len(rest) >= 3 and not (len(rest) >= 4 and (rest[2], rest[3]) in self.unserved):
            if rest[1] == "api":
                group, version = "", rest[2]
            else:
                group, version = (rest[2], rest[3]) if len(rest) >= 4 else ("", "")
            doc = openapi.document_bytes(group, version) if version else None
            if doc is not None:
                etag, headers = openapi.document_etag(group, version), {"Vary": "Accept"}
                asked = request.query.get("hash", "")
                if asked and asked != etag:
                    raise web.HTTPMovedPermanently(f"/openapi/v3/{'/'.join(rest[1:])}?hash={etag}")
                if asked:
                    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365)
                    headers.update({"Cache-Control": "public, immutable",
                                    "Expires": expires.strftime("%a, %d %b %Y %H:%M:%S GMT")})
                return _conditional(request, doc, etag, headers)
        raise ApiError(404, "NotFound", NOT_FOUND)

    # --- resources --------------------------------------------------------------------

    def _authorize(self, request: web.Request, attrs: auth.Attributes) -> None:
        user = request.get(USER) or auth.ADMIN
        if user.privileged:
            return
        allowed, reason = self.authorizer.authorize(user, attrs)
        if not allowed:
            raise auth.forbidden(user, attrs, reason)

    @staticmethod
    def _verb(request: web.Request, target: Target) -> str:
        method = request.method
        if target.subresource == "exec":
            return "create"
        if method == "GET":
            if target.name is None:
                return "watch" if _flag(request, "watch") else "list"
            return "get"
        if target.name is None and method == "DELETE":
            return "deletecollection"
        return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())

    async def _review(self, request: web.Request, target: Target) -> web.Response:
        if request.method != "POST" or target.name is not None:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        body = await self._body(request)
        return _json(auth.review(self.authorizer, request.get(USER) or auth.ADMIN, target.rtype.kind, body,
                                 target.namespace), 201)

    async def _resource(self, request: web.Request, target: Target) -> web.StreamResponse:
        method, rtype = request.method, target.rtype
        self._authorize(request, auth.Attributes(self._verb(request, target), rtype.group, rtype.plural,
                                                 target.subresource or "", target.namespace or "", target.name or ""))
        if rtype.creates_only:
            return await self._review(request, target)
        if rtype.kind in self.denied_kinds and target.subresource is None and (
                method in ("POST", "PUT", "PATCH") or (method == "GET" and target.name and not _flag(request, "watch"))):
            raise ApiError(403, "Forbidden", f'{rtype.plural} "{target.name or ""}" is forbidden: the DR policy '
                                             f"freezes {rtype.kind} objects in namespace {target.namespace} "
                                             "(listing stays allowed)")
        if target.name is None:
            if method == "GET":
                if _flag(request, "watch"):
                    return await self._watch(request, target)
                return self._list(request, target)
            if method == "POST":
                return await self._create(request, target)
            if method == "DELETE":
                return await self._delete_collection(request, target)
        elif not self._serves_subresource(rtype, target.subresource):
            raise ApiError(404, "NotFound", NOT_FOUND)
        elif target.subresource is None or target.subresource == "status":
            if method == "GET":
                return self._render(request, rtype, [self.store.get(rtype, target.namespace, target.name)], single=True)
            if method == "PUT":
                return await self._replace(request, target)
            if method == "PATCH":
                return await self._patch(request, target)
            if method == "DELETE" and target.subresource is None:
                return await self._delete(request, target)
        elif target.subresource == "scale":
            if method in ("GET", "PUT", "PATCH"):
                return await self._scale(request, target)
        elif target.subresource == "eviction" and method == "POST":
            return await self._evict(request, target)
        elif target.subresource == "log" and rtype.kind == "Pod" and method == "GET":
            return await self._log(request, target)
        elif target.subresource == "exec" and rtype.kind == "Pod" and method in ("GET", "POST"):
            return await self._exec(request, target)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _predicate(self, request: web.Request) -> Callable[[dict], bool]:
        labels = parse_label_selector(request.query.get("labelSelector"))
        fields = parse_field_selector(request.query.get("fieldSelector"))
        return lambda obj: labels(obj) and fields(obj)

    def _render(self, request: web.Request, rtype: ResourceType, items: list[dict], single: bool = False) -> web.Response:
        if tables.wants_table(request.headers.get("Accept", "")):
            return _json(tables.table(rtype.kind, items, self.store.resource_version,
                                      request.query.get("includeObject", "Metadata")))
        if single:
            return _json(items[0])
        return _json({
            "kind": rtype.list_kind,
            "apiVersion": rtype.api_version,
            "metadata": {"resourceVersion": self.store.resource_version},
            "items": items,
        })

    def _list(self, request: web.Request, target: Target) -> web.Response:
        items = self.store.listed(target.rtype, target.namespace, self._predicate(request))
        for item in items:  # one-level copies: setting these two keys leaves the stored objects alone
            item.setdefault("apiVersion", target.rtype.api_version)
            item.setdefault("kind", target.rtype.kind)
        return self._render(request, target.rtype, items)

    async def _watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        timeout = min(int(request.query.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT_S), DEFAULT_WATCH_TIMEOUT_S)
        try:
            watch = self.store.open_watch(
                target.rtype, target.namespace, self._predicate(request), request.query.get("resourceVersion")
            )
        except ApiError as exc:
            if exc.code != 410:
                raise
            # as the API server: the watch opens, and its one event is the ERROR (the client lists again)
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            await response.write(json.dumps({"type": "ERROR", "object": exc.status()}).encode() + b"\n")
            await response.write_eof()
            return response
        as_table = tables.wants_table(request.headers.get("Accept", ""))
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        stopping = asyncio.ensure_future(self.stopping.wait())
        try:
            while (remaining := deadline - loop.time()) > 0:
                getter = asyncio.ensure_future(watch.queue.get())
                done, _ = await asyncio.wait({getter, stopping}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                etype, obj = getter.result()
                if as_table:
                    obj = tables.table(target.rtype.kind, [obj], obj["metadata"]["resourceVersion"],
                                       request.query.get("includeObject", "Metadata"))
                await response.write(json.dumps({"type": etype, "object": obj}).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            stopping.cancel()
            self.store.close_watch(watch)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response

    async def _body(self, request: web.Request) -> dict:
        raw = await request.read()
        if request.content_type == protobuf.MEDIA_TYPE:
            return protobuf.decode(raw)
        try:
            body = yaml_docs.load(raw) if "yaml" in (request.content_type or "") else json.loads(raw or b"null")
        except (ValueError, yaml.YAMLError) as exc:
            raise ApiError(400, "BadRequest", f"invalid request body: {exc}") from exc
        return body

    def _check_namespace(self, target: Target) -> None:
        if target.rtype.namespaced:
            ns_type = resources.find_type("", "v1", "namespaces")
            if not self.store.exists(ns_type, None, target.namespace):
                raise not_found("namespaces", target.namespace or "")

    @staticmethod
    def _typed(obj: dict, rtype: ResourceType) -> None:
        """What the API server's decoder does with a body's ``apiVersion``/``kind``: missing ones default to the
        endpoint's; another group version is a 400."""
        if obj.get("apiVersion") and obj["apiVersion"] != rtype.api_version:
            raise ApiError(400, "BadRequest", f"the API version in the data ({obj['apiVersion']}) does not match the "
                                              f"expected API version ({rtype.api_version})")
        obj.setdefault("apiVersion", rtype.api_version)
        if not obj.get("kind"):
            obj["kind"] = rtype.kind

    async def _create(self, request: web.Request, target: Target) -> web.Response:
        obj = await self._body(request)
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the request body must be an object")
        self._typed(obj, target.rtype)
        meta = obj.setdefault("metadata", {})
        if target.rtype.namespaced:
            meta.setdefault("namespace", target.namespace)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        if target.rtype.kind == "Namespace":
            obj.setdefault("status", {"phase": "Active"})
        validate(target.rtype, obj, target.namespace)
        self._check_namespace(target)
        dry_run = _dry_run(request)
        created = self.store.create(target.rtype, obj, dry_run=dry_run)
        return _json(created, 201)

    async def _replace(self, request: web.Request, target: Target) -> web.Response:
        obj = await self._body(request)
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the request body must be an object")
        if target.subresource is None:
            self._typed(obj, target.rtype)
        meta = obj.setdefault("metadata", {})
        if meta.get("name") not in (None, target.name):
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        meta["name"] = target.name
        if target.rtype.namespaced:
            meta.setdefault("namespace", target.namespace)
        validate(target.rtype, obj, target.namespace)
        return _json(self.store.update(
            target.rtype, target.namespace, target.name, obj,
            subresource=target.subresource, dry_run=_dry_run(request),
        ))

    async def _patch(self, request: web.Request, target: Target) -> web.Response:
        ctype = request.content_type or ""
        body = await self._body(request)
        dry_run = _dry_run(request)
        rtype = target.rtype
        if ctype == "application/apply-patch+yaml":
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "an apply patch must be an object")
            if not self.store.exists(rtype, target.namespace, target.name):
                body.setdefault("metadata", {}).setdefault("name", target.name)
                if rtype.namespaced:
                    body["metadata"].setdefault("namespace", target.namespace)
                validate(rtype, body, target.namespace)
                self._check_namespace(target)
                return _json(self.store.create(rtype, body, dry_run=dry_run), 201)
        current = self.store.get(rtype, target.namespace, target.name)
        if ctype == "application/json-patch+json":
            patched = json_patch(current, body)
        elif ctype == "application/merge-patch+json":
            patched = merge_patch(current, body)
        elif ctype in ("application/strategic-merge-patch+json", "application/apply-patch+yaml"):
            patched = strategic_merge(current, body)
        else:
            raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {ctype}")
        if not isinstance(patched, dict):
            raise ApiError(422, "Invalid", "the patch did not produce an object")
        patched.setdefault("metadata", {})
        if patched["metadata"].get("resourceVersion") == current["metadata"]["resourceVersion"]:
            patched["metadata"].pop("resourceVersion")
        patched["metadata"]["name"] = target.name
        validate(rtype, patched, target.namespace)
        return _json(self.store.update(
            rtype, target.namespace, target.name, patched, subresource=target.subresource, dry_run=dry_run,
        ))

    async def _delete_options(self, request: web.Request) -> dict:
        """The ``DeleteOptions`` of a DELETE: a JSON or protobuf body, plus the same fields as query parameters."""
        options: dict = {}
        if (await request.read()).strip():
            body = await self._body(request)
            if body is not None and not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "the request body must be a DeleteOptions object")
            options = dict(body or {})
        if "gracePeriodSeconds" in request.query:
            options["gracePeriodSeconds"] = int(request.query["gracePeriodSeconds"])
        if "propagationPolicy" in request.query:
            options["propagationPolicy"] = request.query["propagationPolicy"]
        return options

    @staticmethod
    def _check_preconditions(rtype: ResourceType, obj: dict, options: dict) -> None:
        wanted = options.get("preconditions") or {}
        meta = obj["metadata"]
        for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            if wanted.get(field) and wanted[field] != meta.get(field):
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rtype.plural} "{meta["name"]}": '
                                                f"Precondition failed: {label} in precondition: {wanted[field]}, "
                                                f"{label} in object meta: {meta.get(field)}",
                               {"name": meta["name"], "group": rtype.group, "kind": rtype.plural})

    @staticmethod
    def _deleted(rtype: ResourceType, obj: dict, options: dict) -> dict:
        """What a DELETE answers: the object (pods: with their deletion timestamp and grace period) or a Status."""
        if rtype.kind not in RETURNS_DELETED_OBJECT:
            return success({"name": obj["metadata"]["name"], "group": rtype.group, "kind": rtype.plural,
                            "uid": obj["metadata"].get("uid")})
        obj.setdefault("apiVersion", rtype.api_version)
        obj.setdefault("kind", rtype.kind)
        grace = options.get("gracePeriodSeconds")
        if rtype.kind == "Pod":
            grace = (obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30) if grace is None else int(grace)
        if rtype.kind == "Namespace" or grace:
            obj["metadata"]["deletionTimestamp"] = now_rfc3339()
            if grace:
                obj["metadata"]["deletionGracePeriodSeconds"] = grace
            if rtype.kind == "Namespace":
                obj.setdefault("status", {})["phase"] = "Terminating"
        return obj

    async def _delete(self, request: web.Request, target: Target) -> web.Response:
        options = await self._delete_options(request)
        dry_run = _dry_run(request, options)
        current = self.store.get(target.rtype, target.namespace, target.name)
        self._check_preconditions(target.rtype, current, options)
        deleted = self.store.delete(target.rtype, target.namespace, target.name, dry_run=dry_run)
        return _json(self._deleted(target.rtype, deleted, options))

    async def _delete_collection(self, request: web.Request, target: Target) -> web.Response:
        options = await self._delete_options(request)
        dry_run = _dry_run(request, options)
        deleted = []
        for obj in self.store.list(target.rtype, target.namespace, self._predicate(request)):
            meta = obj["metadata"]
            gone = self.store.delete(target.rtype, meta.get("namespace"), meta["name"], dry_run=dry_run)
            gone.setdefault("apiVersion", target.rtype.api_version)
            gone.setdefault("kind", target.rtype.kind)
            deleted.append(gone)
        return _json({"kind": target.rtype.list_kind, "apiVersion": target.rtype.api_version,
                      "metadata": {"resourceVersion": self.store.resource_version}, "items": deleted})

    def _serves_subresource(self, rtype: ResourceType, sub: str | None) -> bool:
        if sub is None:
            return True
        if sub == "status":
            return rtype.has_status
        if sub == "scale":
            return rtype.kind in ("Deployment", "StatefulSet", "ReplicaSet")
        return rtype.kind == "Pod" and sub in ("log", "exec", "eviction")

    async def _evict(self, request: web.Request, target: Target) -> web.Response:
        """``pods/eviction`` (``kubectl drain``): a delete that respects PodDisruptionBudgets."""
        body = await self._body(request)
        if not isinstance(body, dict) or body.get("kind") not in (None, "Eviction"):
            raise ApiError(400, "BadRequest", "the request body must be a policy/v1 Eviction")
        options = body.get("deleteOptions") or {}
        dry_run = _dry_run(request, options)
        pod = self.store.get(target.rtype, target.namespace, target.name)
        self._check_preconditions(target.rtype, pod, options)
        pdb_type = resources.find_type("policy", "v1", "poddisruptionbudgets")
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (pod.get("status") or {}).get("conditions") or [])
        budgets = [b for b in self.store.list(pdb_type, target.namespace) if _selects(b, pod)]
        if len(budgets) > 1:
            raise ApiError(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the eviction "
                                                 "subresource does not support.")
        for budget in budgets:
            status = budget.get("status") or {}
            if ready and status.get("disruptionsAllowed", 0) < 1:
                raise ApiError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                               {"causes": [{"reason": "DisruptionBudget",
                                            "message": f"The disruption budget {budget['metadata']['name']} needs "
                                                       f"{status.get('desiredHealthy', 0)} healthy pods and has "
                                                       f"{status.get('currentHealthy', 0)} currently"}]})
        self.store.delete(target.rtype, target.namespace, target.name, dry_run=dry_run)
        return _json({**success(), "code": 201}, 201)

    async def _scale(self, request: web.Request, target: Target) -> web.Response:
        obj = self.store.get(target.rtype, target.namespace, target.name)

        def scale_of(o: dict) -> dict:
            selector = (o.get("spec") or {}).get("selector", {}).get("matchLabels") or {}
            return {
                "kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: o["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in o["metadata"]},
                "spec": {"replicas": o["spec"].get("replicas", 1)},
                "status": {"replicas": (o.get("status") or {}).get("replicas", 0),
                           "selector": ",".join(f"{k}={v}" for k, v in selector.items())},
            }

        if request.method == "GET":
            return _json(scale_of(obj))
        body = await self._body(request)
        if request.method == "PUT":
            wanted = body
        elif request.method == "PATCH":
            ctype = request.content_type
            wanted = json_patch(scale_of(obj), body) if ctype == "application/json-patch+json" else merge_patch(scale_of(obj), body)
        else:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        replicas = (wanted.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(422, "Invalid", "spec.replicas: Invalid value: must be greater than or equal to 0")
        obj["spec"]["replicas"] = replicas
        updated = self.store.update(target.rtype, target.namespace, target.name, obj,
                                    dry_run=_dry_run(request), check_version=False)
        return _json(scale_of(updated))

    # --- pods ----------------------------------------------------------------------------

    def _container(self, pod: dict, wanted: str | None) -> dict:
        containers = (pod.get("spec") or {}).get("containers") or []
        default = ((pod["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container"))
        name = wanted or default or (containers[0]["name"] if containers else "")
        for container in containers:
            if container.get("name") == name:
                return container
        raise ApiError(400, "BadRequest", f"container {name} is not valid for pod {pod['metadata']['name']}")

    async def _log(self, request: web.Request, target: Target) -> web.StreamResponse:
        """``pods/log`` as the kubelet serves it: ``previous``, ``sinceSeconds``/``sinceTime``, ``tailLines``,
        ``limitBytes``, ``timestamps`` and ``follow`` (streams new lines until the container stops running, the
        pod goes, the client disconnects or the server stops)."""
        pod = self.store.get(target.rtype, target.namespace, target.name)
        container = self._container(pod, request.query.get("container"))
        cname = container["name"]
        key = (target.namespace, target.name, cname)
        previous = _flag(request, "previous")
        state = self._container_state(pod, cname)
        if previous:
            if key not in self.previous_logs:
                raise ApiError(400, "BadRequest",
                               f'previous terminated container "{cname}" in pod "{target.name}" not found')
            text = self.previous_logs[key]
        else:
            waiting = state.get("waiting") or {}
            if waiting and key not in self.logs:
                raise ApiError(400, "BadRequest", f'container "{cname}" in pod "{target.name}" is waiting to start: '
                                                  f'{waiting.get("reason") or "ContainerCreating"}')
            text = self.logs.get(key, "")
        since = _log_since(request)
        lines = [line for line in text.splitlines(keepends=True) if since is None or _line_time(line) >= since]
        if request.query.get("tailLines"):
            tail = int(request.query["tailLines"])
            lines = lines[-tail:] if tail > 0 else []
        timestamps = _flag(request, "timestamps")
        limit = int(request.query["limitBytes"]) if request.query.get("limitBytes") else None
        body = "".join(_log_line(line, timestamps) for line in lines)
        if limit is not None:
            body = body.encode()[:limit].decode(errors="ignore")
        if not _flag(request, "follow") or previous:
            return web.Response(text=body, content_type="text/plain")
        return await self._follow_log(request, target, key, len(text), body.encode(), timestamps, limit)

    @staticmethod
    def _container_state(pod: dict, name: str) -> dict:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        return next((s.get("state") or {} for s in statuses if s.get("name") == name), {})

    async def _follow_log(self, request: web.Request, target: Target, key: tuple[str, str, str], offset: int,
                          first: bytes, timestamps: bool, limit: int | None) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        sent = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FOLLOW_MAX_S
        try:
            chunk = first
            while True:
                if chunk:
                    if limit is not None:
                        chunk = chunk[:max(limit - sent, 0)]
                    await response.write(chunk)
                    sent += len(chunk)
                if limit is not None and sent >= limit:
                    break
                if self.stopping.is_set() or loop.time() > deadline or \
                        request.transport is None or request.transport.is_closing():
                    break
                try:
                    pod = self.store.get(target.rtype, target.namespace, target.name)
                except ApiError:
                    pod = None
                text = self.logs.get(key, "")
                if len(text) < offset:
                    offset = 0  # a new container instance: its log starts over
                fresh, offset = text[offset:], len(text)
                chunk = "".join(_log_line(line, timestamps) for line in fresh.splitlines(keepends=True)).encode()
                running = pod is not None and "running" in self._container_state(pod, key[2])
                if not running and not chunk:
                    break  # the container stopped (or the pod is gone): the kubelet ends the stream
                if not chunk:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self.stopping.wait(), FOLLOW_POLL_S)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response

    def append_log(self, namespace: str, pod: str, container: str, line: str) -> None:
        """Add a line to a container's log (what ``kubectl logs`` shows)."""
        key = (namespace, pod, container)
        self.logs[key] = self.logs.get(key, "") + f"{now_rfc3339_nano()} {line.rstrip()}\n"

    def restart_container(self, namespace: str, pod: str, container: str, last_words: str | None = None) -> None:
        """A container instance ended and a new one started: its log becomes the previous instance's
        (``kubectl logs --previous``), with ``last_words`` as its final line; the new log starts empty."""
        key = (namespace, pod, container)
        old = self.logs.pop(key, "")
        if last_words:
            old += f"{now_rfc3339_nano()} {last_words.rstrip()}\n"
        self.previous_logs[key] = old
        self.logs[key] = ""

    def _container_env(self, namespace: str, container: dict) -> dict[str, str]:
        env: dict[str, str] = {}
        cm_type = resources.find_type("", "v1", "configmaps")
        for source in container.get("envFrom") or []:
            ref = (source.get("configMapRef") or {}).get("name")
            if ref and self.store.exists(cm_type, namespace, ref):
                env.update({k: v for k, v in (self.store.get(cm_type, namespace, ref).get("data") or {}).items()})
        for var in container.get("env") or []:
            if "value" in var:
                env[var["name"]] = str(var["value"])
        return env

    async def _exec(self, request: web.Request, target: Target) -> web.StreamResponse:
        pod = self.store.get(target.rtype, target.namespace, target.name)
        container = self._container(pod, request.query.get("container"))
        command = request.query.getall("command", [])
        if not command:
            raise ApiError(400, "BadRequest", "you must specify at least 1 command")
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        state = next((s.get("state") or {} for s in statuses if s.get("name") == container["name"]), {})
        if "running" not in state:
            raise ApiError(400, "BadRequest", f'unable to upgrade connection: container not found ("{container["name"]}")')
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise ApiError(400, "BadRequest", "pods/exec is served over WebSocket (v4/v5.channel.k8s.io) only")
        root = self.pod_roots.root(target.namespace, target.name)
        if not root.is_dir():
            self.pod_roots.prepare(target.namespace, target.name)
        env = self._container_env(target.namespace, container)
        workdir = container.get("workingDir") or "/"
        tty = _flag(request, "tty")
        if tty:
            env.setdefault("TERM", "xterm")
        return await podexec.run_over_websocket(
            request,
            lambda: self.pod_roots.spawn(target.namespace, target.name, command, env, workdir, _flag(request, "stdin")),
            command,
            stdin=_flag(request, "stdin"),
            stdout=_flag(request, "stdout") or tty,
            stderr=_flag(request, "stderr") and not tty,
            timeout=self.pod_roots.exec_timeout,
        )

    # --- metrics.k8s.io ------------------------------------------------------------------

    def _metrics(self, request: web.Request, rest: list[str]) -> web.Response:
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        self._authorize(request, auth.Attributes("get" if len(rest) == 2 else "list", resources.METRICS_GROUP,
                                                 rest[0], "", namespace or "", rest[1] if len(rest) == 2 else ""))
        predicate = self._predicate(request)
        pod_type = resources.find_type("", "v1", "pods")
        node_type = resources.find_type("", "v1", "nodes")
        if rest[0] == "pods":
            pods = [p for p in self.store.listed(pod_type, namespace, predicate) if metrics.has_metrics(p)]
            if len(rest) == 2:
                found = [p for p in pods if p["metadata"]["name"] == rest[1]]
                if not found:
                    raise not_found("pods", rest[1], resources.METRICS_GROUP)
                return _json(metrics.pod_metrics(found[0]))
            return _json(metrics.metrics_list("PodMetrics", [metrics.pod_metrics(p) for p in pods]))
        if rest[0] == "nodes" and namespace is None:
            all_pods = self.store.listed(pod_type)
            nodes = self.store.listed(node_type, None, predicate)
            if len(rest) == 2:
                found = [n for n in nodes if n["metadata"]["name"] == rest[1]]
                if not found:
                    raise not_found("nodes", rest[1], resources.METRICS_GROUP)
                return _json(metrics.node_metrics(found[0], all_pods))
            return _json(metrics.metrics_list("NodeMetrics", [metrics.node_metrics(n, all_pods) for n in nodes]))
        raise ApiError(404, "NotFound", NOT_FOUND)


def now_rfc3339_nano() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def _parse_time(text: str) -> dt.datetime | None:
    text = text.strip()
    if not text.endswith("Z"):
        return None
    main, _, frac = text[:-1].partition(".")
    try:
        stamp = dt.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None
    return stamp + dt.timedelta(microseconds=int((frac + "000000")[:6])) if frac else stamp


def _line_time(line: str) -> dt.datetime:
    return _parse_time(line.split(" ", 1)[0]) or dt.datetime.min.replace(tzinfo=dt.timezone.utc)


def _log_line(line: str, timestamps: bool) -> str:
    """A stored log line (``<RFC 3339 time> <text>``) as the kubelet sends it."""
    if timestamps or " " not in line:
        return line
    return line.split(" ", 1)[1]


def _log_since(request: web.Request) -> dt.datetime | None:
    """``sinceSeconds`` or ``sinceTime`` (not both, as the API server validates)."""
    seconds, since_time = request.query.get("sinceSeconds"), request.query.get("sinceTime")
    if seconds and since_time:
        raise ApiError(422, "Invalid", "PodLogOptions \"\" is invalid: sinceSeconds: Forbidden: at most one of "
                                       "`sinceTime` or `sinceSeconds` may be specified")
    if seconds:
        try:
            value = int(seconds)
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"sinceSeconds: invalid value {seconds!r}") from exc
        if value < 1:
            raise ApiError(422, "Invalid", "PodLogOptions \"\" is invalid: sinceSeconds: Invalid value: "
                                           f"{value}: must be greater than 0")
        return dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=value)
    if since_time:
        parsed = _parse_time(since_time)
        if parsed is None:
            raise ApiError(400, "BadRequest", f"sinceTime: invalid RFC 3339 time {since_time!r}")
        return parsed
    return None


def _selects(budget: dict, pod: dict) -> bool:
    """Whether a PodDisruptionBudget's selector (matchLabels, matchExpressions) selects ``pod``."""
    return selector_matches((budget.get("spec") or {}).get("selector"), (pod.get("metadata") or {}).get("labels") or {})
