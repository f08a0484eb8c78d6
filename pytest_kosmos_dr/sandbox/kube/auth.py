"""Who is calling, and what RBAC lets them do: impersonation, access reviews and ``kubectl auth``.

The sandbox has one credential, the kubeconfig's bearer token: user ``kubernetes-admin`` in
``system:masters`` (allowed everything, as the API server's privileged-group authorizer does). With
``kubectl --as=... [--as-group=...]`` (``Impersonate-User``/``Impersonate-Group`` headers) a request runs as
that user, and the cluster's RBAC objects (ClusterRoles, Roles and their bindings in the store) decide
what it may do, as the RBAC authorizer would: every resource request and ``pods/log``, ``pods/exec``,
``pods/eviction``, ``scale`` and metrics requests answer 403 with the API server's message when no rule
allows them. A service account user (``system:serviceaccount:NS:NAME``) gets the groups
``system:serviceaccounts``, ``system:serviceaccounts:NS`` and ``system:authenticated``.

The bootstrap ClusterRoles every cluster binds to ``system:authenticated`` (``system:discovery``,
``system:basic-user``, ``system:public-info-viewer``) are built in here rather than stored, so discovery and
the self reviews work for every identity; ``kubectl get clusterroles`` does not list them.

Served: ``SelfSubjectAccessReview`` (``kubectl auth can-i``), ``SelfSubjectRulesReview`` (``can-i --list``),
``SubjectAccessReview``/``LocalSubjectAccessReview`` and ``SelfSubjectReview`` (``kubectl auth whoami``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from .resources import RBAC_GROUP, find_type
from .status import ApiError

ADMIN_USER = "kubernetes-admin"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
SA_PREFIX = "system:serviceaccount:"

# bootstrap policy bound to system:authenticated (plugin/pkg/auth/authorizer/rbac/bootstrappolicy)
BOOTSTRAP_RULES = [
    ("system:discovery", {"verbs": ["get"], "nonResourceURLs": [
        "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version",
        "/version/"]}),
    ("system:basic-user", {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
                           "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]}),
    ("system:basic-user", {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"],
                           "resources": ["selfsubjectreviews"]}),
    ("system:public-info-viewer", {"verbs": ["get"], "nonResourceURLs": [
        "/healthz", "/livez", "/readyz", "/version", "/version/"]}),
]
CLUSTER_ADMIN_RULES = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                       {"verbs": ["*"], "nonResourceURLs": ["*"]}]


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def privileged(self) -> bool:
        return MASTERS in self.groups

    def info(self) -> dict:
        body: dict = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            body["uid"] = self.uid
        if self.extra:
            body["extra"] = self.extra
        return body


ADMIN = User(ADMIN_USER, (MASTERS, AUTHENTICATED))


def impersonated(headers) -> User | None:
    """The user of ``Impersonate-*`` headers (None without them)."""
    name = headers.get("Impersonate-User")
    groups = [g for key, g in headers.items() if key.lower() == "impersonate-group"]
    extra: dict = {}
    for key, value in headers.items():
        if key.lower().startswith("impersonate-extra-"):
            extra.setdefault(key[len("impersonate-extra-"):].lower(), []).append(value)
    if not name:
        if groups or extra:
            raise ApiError(500, "InternalError", "Internal error occurred: requested [Impersonate-Group] without "
                                                 "impersonating a user")
        return None
    if name.startswith(SA_PREFIX) and not groups:
        namespace = name[len(SA_PREFIX):].split(":", 1)[0]
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    if name != "system:anonymous" and AUTHENTICATED not in groups:
        groups.append(AUTHENTICATED)
    return User(name, tuple(groups), headers.get("Impersonate-Uid", ""), extra)


@dataclass
class Attributes:
    """What a request asks to do (the authorizer's attributes)."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)

    @classmethod
    def from_review(cls, spec: dict) -> "Attributes":
        res = spec.get("resourceAttributes")
        if res:
            return cls(res.get("verb", ""), res.get("group", ""), res.get("resource", ""), res.get("subresource", ""),
                       res.get("namespace", ""), res.get("name", ""))
        non = spec.get("nonResourceAttributes") or {}
        return cls(non.get("verb", ""), path=non.get("path", ""))


def _matches(values: list, wanted: str) -> bool:
    return "*" in values or wanted in values


def _resource_matches(resources: list, resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for value in resources:
        if value in ("*", combined) or (subresource and value == f"*/{subresource}"):
            return True
    return False


def _path_matches(urls: list, path: str) -> bool:
    for url in urls:
        if url == "*" or url == path or (url.endswith("*") and path.startswith(url[:-1])):
            return True
    return False


def rule_allows(rule: dict, attrs: Attributes) -> bool:
    if not _matches(rule.get("verbs") or [], attrs.verb):
        return False
    if not attrs.is_resource:
        return _path_matches(rule.get("nonResourceURLs") or [], attrs.path)
    if not _matches(rule.get("apiGroups") or [], attrs.group):
        return False
    if not _resource_matches(rule.get("resources") or [], attrs.resource, attrs.subresource):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def _subject_matches(subject: dict, user: User, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user.name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user.name == f"{SA_PREFIX}{namespace}:{name}"
    return False


def _describe_subject(subject: dict, binding_namespace: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        return f'ServiceAccount "{subject.get("name")}/{subject.get("namespace") or binding_namespace}"'
    return f'{subject.get("kind")} "{subject.get("name")}"'


class Authorizer:
    """RBAC over the store's roles and bindings (plus the built-in bootstrap policy)."""

    def __init__(self, store):
        self.store = store
        self.types = {kind: find_type(RBAC_GROUP, "v1", plural) for kind, plural in (
            ("Role", "roles"), ("ClusterRole", "clusterroles"), ("RoleBinding", "rolebindings"),
            ("ClusterRoleBinding", "clusterrolebindings"))}

    def _role_rules(self, kind: str, name: str, namespace: str) -> list[dict]:
        rtype = self.types.get(kind)
        if rtype is None or not self.store.exists(rtype, namespace if kind == "Role" else None, name):
            return []
        return self.store.get(rtype, namespace if kind == "Role" else None, name).get("rules") or []

    def sources(self, user: User, namespace: str):
        """Every (description, rule) that applies to ``user`` in ``namespace`` (cluster-wide ones first)."""
        if user.privileged:
            for rule in CLUSTER_ADMIN_RULES:
                yield f'ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" to Group "{MASTERS}"', rule
        if AUTHENTICATED in user.groups:
            for role, rule in BOOTSTRAP_RULES:
                yield f'ClusterRoleBinding "{role}" of ClusterRole "{role}" to Group "{AUTHENTICATED}"', rule
        for binding in self.store.list(self.types["ClusterRoleBinding"]):
            ref = binding.get("roleRef") or {}
            for subject in binding.get("subjects") or []:
                if _subject_matches(subject, user, ""):
                    source = (f'ClusterRoleBinding "{binding["metadata"]["name"]}" of {ref.get("kind")} '
                              f'"{ref.get("name")}" to {_describe_subject(subject, "")}')
                    for rule in self._role_rules(ref.get("kind", ""), ref.get("name", ""), ""):
                        yield source, rule
                    break
        if namespace:
            for binding in self.store.list(self.types["RoleBinding"], namespace):
                ref = binding.get("roleRef") or {}
                for subject in binding.get("subjects") or []:
                    if _subject_matches(subject, user, namespace):
                        source = (f'RoleBinding "{binding["metadata"]["name"]}/{namespace}" of {ref.get("kind")} '
                                  f'"{ref.get("name")}" to {_describe_subject(subject, namespace)}')
                        for rule in self._role_rules(ref.get("kind", ""), ref.get("name", ""), namespace):
                            yield source, rule
                        break

    def authorize(self, user: User, attrs: Attributes) -> tuple[bool, str]:
        """(allowed, reason) as the API server's authorizer chain answers."""
        if user.privileged:
            return True, ""
        for source, rule in self.sources(user, attrs.namespace if attrs.is_resource else ""):
            if rule_allows(rule, attrs):
                return True, f"RBAC: allowed by {source}"
        return False, ""

    def rules(self, user: User, namespace: str) -> dict:
        """A ``SelfSubjectRulesReview`` status: the rules that apply in ``namespace``."""
        resource_rules, non_resource_rules = [], []
        for _, rule in self.sources(user, namespace):
            if rule.get("nonResourceURLs"):
                non_resource_rules.append({"verbs": list(rule["verbs"]), "nonResourceURLs": list(rule["nonResourceURLs"])})
            else:
                entry = {"verbs": list(rule.get("verbs") or []), "apiGroups": list(rule.get("apiGroups") or []),
                         "resources": list(rule.get("resources") or [])}
                if rule.get("resourceNames"):
                    entry["resourceNames"] = list(rule["resourceNames"])
                resource_rules.append(entry)
        return {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": False}


def forbidden(user: User, attrs: Attributes, reason: str = "") -> ApiError:
    """The API server's 403 for a request the authorizer did not allow."""
    if not attrs.is_resource:
        return ApiError(403, "Forbidden", f'forbidden: User "{user.name}" cannot {attrs.verb} path "{attrs.path}"'
                        + (f": {reason}" if reason else ""))
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    scope = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    what = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    subject = f'{what} "{attrs.name}"' if attrs.name else what
    message = (f'{subject} is forbidden: User "{user.name}" cannot {attrs.verb} resource "{resource}" in API group '
               f'"{attrs.group}" {scope}' + (f": {reason}" if reason else ""))
    return ApiError(403, "Forbidden", message, {"name": attrs.name, "group": attrs.group, "kind": attrs.resource}
                    if attrs.name else {"group": attrs.group, "kind": attrs.resource})


REVIEW_KINDS = {"SelfSubjectAccessReview", "SelfSubjectRulesReview", "SubjectAccessReview",
                "LocalSubjectAccessReview", "SelfSubjectReview"}


def review(authorizer: Authorizer, user: User, kind: str, body: dict, namespace: str | None) -> dict:
    """Answer a review object (what ``POST .../<kind>s`` returns, 201)."""
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the request body must be an object")
    group = "authentication.k8s.io" if kind == "SelfSubjectReview" else "authorization.k8s.io"
    if body.get("kind") not in (None, kind):
        raise ApiError(400, "BadRequest", f"the body of the request is a {body.get('kind')}, not a {kind}")
    answer = {"kind": kind, "apiVersion": f"{group}/v1",
              "metadata": {**copy.deepcopy(body.get("metadata") or {}), "creationTimestamp": None}}
    if kind == "SelfSubjectReview":
        answer["status"] = {"userInfo": user.info()}
        return answer
    spec = copy.deepcopy(body.get("spec") or {})
    answer["spec"] = spec
    if kind == "SelfSubjectRulesReview":
        answer["status"] = authorizer.rules(user, spec.get("namespace", ""))
        return answer
    has_resource, has_non = bool(spec.get("resourceAttributes")), bool(spec.get("nonResourceAttributes"))
    if has_resource == has_non:
        raise ApiError(422, "Invalid", f'{kind}.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid '
                                       "value: \"null\": exactly one of nonResourceAttributes or resourceAttributes "
                                       "must be specified")
    subject = user
    if kind in ("SubjectAccessReview", "LocalSubjectAccessReview"):
        if not (spec.get("user") or spec.get("groups")):
            raise ApiError(422, "Invalid", f'{kind}.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": '
                                           "at least one of user or group must be specified")
        subject = User(spec.get("user", ""), tuple(spec.get("groups") or ()), spec.get("uid", ""))
        if kind == "LocalSubjectAccessReview":
            resource = spec.get("resourceAttributes") or {}
            if resource.get("namespace", namespace) != namespace:
                raise ApiError(422, "Invalid", f'{kind}.authorization.k8s.io "" is invalid: spec.resourceAttributes.'
                                               f'namespace: Invalid value: "{resource.get("namespace")}": must match '
                                               f"metadata.namespace")
            resource["namespace"] = namespace
            answer["metadata"]["namespace"] = namespace
    allowed, reason = authorizer.authorize(subject, Attributes.from_review(spec))
    answer["status"] = {"allowed": allowed, **({"reason": reason} if reason else {})}
    return answer
