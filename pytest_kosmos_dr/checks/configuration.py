"""Configuration backups (GitOps): the production branch renders, the DR cluster runs exactly
that, it applies cleanly, and the bucket's copy is current (BAK-CONFIG-*, REC-CONFIG-APPLY)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DRUnverifiable
from ..redaction import redact
from ..results import CheckResult, Evidence, trim

GIT_TIMEOUT_S = 60
KUBECTL_TIMEOUT_S = 60
# kind -> (API path prefix, plural, namespaced)
KIND_PATHS = {
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "StatefulSet": ("/apis/apps/v1", "statefulsets", True),
    "DaemonSet": ("/apis/apps/v1", "daemonsets", True),
    "Service": ("/api/v1", "services", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Secret": ("/api/v1", "secrets", True),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "CronJob": ("/apis/batch/v1", "cronjobs", True),
    "Namespace": ("/api/v1", "namespaces", False),
}
# what ``kubectl apply`` (the plan's procedure) leaves on every object it applied
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# kinds listed for objects applied from Git that Git no longer renders (besides the rendered kinds)
APPLIED_KINDS = ("Deployment", "StatefulSet", "CronJob", "Service", "ConfigMap")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
DATA_FIELDS = ("data", "binaryData", "stringData")  # user-owned maps: the server adds no keys


@dataclass(frozen=True)
class ConfigCheckout:
    """A fresh clone of the configuration repository's production branch (or why there is none)."""

    url: str
    branch: str
    path: Path | None
    head: str | None
    error: str | None = None


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise DRUnverifiable(f"{name} command", "not found on PATH", f"install {name}")
    return found


def clone_production(url: str, branch: str, dest: Path) -> ConfigCheckout:
    """``git clone --depth 1 --branch <branch>``; a missing branch is recorded, not raised."""
    git = _tool("git")
    try:
        done = subprocess.run([git, "clone", "--quiet", "--depth", "1", "--single-branch", "--branch", branch,
                               url, str(dest)], capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
                              env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin:/usr/local/bin"})
    except subprocess.TimeoutExpired:
        raise DRUnverifiable(f"configuration repository {url}", f"git clone took over {GIT_TIMEOUT_S} s") from None
    if done.returncode != 0:
        message = redact(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "git clone failed")
        if "not found in upstream" in message or "Remote branch" in message:
            return ConfigCheckout(url, branch, None, None, error=message)
        raise DRUnverifiable(f"configuration repository {url}", message, "check the URL and Git credentials")
    head = subprocess.run([git, "-C", str(dest), "rev-parse", "HEAD"], capture_output=True, text=True,
                          timeout=GIT_TIMEOUT_S, check=True).stdout.strip()
    return ConfigCheckout(url, branch, dest, head)


class KubectlJob:
    """A kubectl command started now and read later, so independent kubectl runs overlap."""

    def __init__(self, cmd: list[str]) -> None:
        self.cmd = cmd
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._done: subprocess.CompletedProcess | None = None

    def result(self, timeout: float = KUBECTL_TIMEOUT_S) -> subprocess.CompletedProcess:
        """The finished command; raises subprocess.TimeoutExpired (after killing it) past ``timeout``."""
        if self._done is None:
            try:
                out, err = self.process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
            self._done = subprocess.CompletedProcess(self.cmd, self.process.returncode, out, err)
        return self._done

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def start_render(checkout: ConfigCheckout, overlay: str) -> KubectlJob | None:
    """Start ``kubectl kustomize <overlay>`` (None when there is nothing to render)."""
    if checkout.path is None or not (checkout.path / overlay).is_dir():
        return None
    return KubectlJob([_tool("kubectl"), "kustomize", str(checkout.path / overlay)])


def start_apply(checkout: ConfigCheckout, overlay: str, kubeconfig: str, context: str) -> KubectlJob | None:
    """Start ``kubectl apply -k <overlay> --dry-run=server`` (None when there is nothing to apply)."""
    if checkout.path is None:
        return None
    cmd = [_tool("kubectl"), "apply", "-k", str(checkout.path / overlay), "--dry-run=server", "--context", context,
           "--request-timeout=30s"]
    if kubeconfig:
        cmd += ["--kubeconfig", kubeconfig]
    return KubectlJob(cmd)


def render_overlay(checkout: ConfigCheckout, overlay: str,
                   job: KubectlJob | None = None) -> tuple[list[dict], str | None]:
    """``kubectl kustomize <overlay>``: the objects, or the error text when it does not render."""
    import yaml

    folder = checkout.path / overlay
    if not folder.is_dir():
        return [], f"{overlay} does not exist on branch {checkout.branch}"
    try:
        done = (job or start_render(checkout, overlay)).result()
    except subprocess.TimeoutExpired:
        return [], f"kubectl kustomize took over {KUBECTL_TIMEOUT_S} s"
    if done.returncode != 0:
        return [], done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "kustomize failed"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc], None


def drift(rendered: Any, live: Any, path: str = "") -> list[str]:
    """Where ``live`` differs from what Git renders (fields the server adds are not drift)."""
    if isinstance(rendered, dict):
        if not isinstance(live, dict):
            return [f"{path or '.'}: expected an object"]
        found = []
        for key, value in rendered.items():
            found += drift(value, live.get(key), f"{path}.{key}" if path else key)
        return found
    if isinstance(rendered, list):
        if not isinstance(live, list) or len(live) != len(rendered):
            return [f"{path}: Git has {len(rendered)} entries, cluster {len(live) if isinstance(live, list) else 'none'}"]
        found = []
        for index, (want, have) in enumerate(zip(rendered, live)):
            found += drift(want, have, f"{path}[{index}]")
        return found
    if rendered != live and str(rendered) != str(live):
        return [f"{path}: Git {rendered!r}, cluster {live!r}"]
    return []


def _label(key: tuple[str, str, str]) -> str:
    return f"{key[0]}/{key[2]}" + (f" (ns {key[1]})" if key[1] else "")


def _manifest(obj: dict) -> dict:
    """An applied manifest without what ``kubectl apply`` adds (its own annotation, an empty annotation map)."""
    clean = json.loads(json.dumps(obj))
    meta = clean.setdefault("metadata", {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    clean.pop("status", None)
    return clean


def _both_ways(git: Any, other: Any, path: str = "") -> list[str]:
    """Every path where ``other`` differs from ``git``, keys only one side has included."""
    if isinstance(git, dict) and isinstance(other, dict):
        found = []
        for key in sorted(set(git) | set(other), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in other:
                found.append(f"{where}: in Git, not applied")
            elif key not in git:
                found.append(f"{where}: applied ({other[key]!r:.60}), not in Git")
            else:
                found += _both_ways(git[key], other[key], where)
        return found
    if isinstance(git, list) and isinstance(other, list) and len(git) == len(other):
        found = []
        for index, (a, b) in enumerate(zip(git, other)):
            found += _both_ways(a, b, f"{path}[{index}]")
        return found
    if git != other and str(git) != str(other):
        return [f"{path or '.'}: Git {git!r:.60}, applied {other!r:.60}"]
    return []


def _pod_images(workload: dict, pods: list[dict]) -> tuple[int, list[str]]:
    """How many pods the workload's selector matches, and where their images differ from the template's."""
    selector = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    template = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    wanted = {c.get("name"): c.get("image") for c in template.get("containers") or [] if isinstance(c, dict)}
    matched, wrong = 0, []
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            continue
        matched += 1
        for container in (pod.get("spec") or {}).get("containers") or []:
            want = wanted.get(container.get("name"))
            if want is not None and container.get("image") != want:
                wrong.append(f"pod {pod['metadata'].get('name')} runs {container.get('image')}, Git renders {want}")
    return matched, wrong


def gitops_in_sync(checkout: ConfigCheckout, overlay: str, rendered: list[dict], render_error: str | None,
                   live_objects: dict[tuple[str, str, str], dict | None], context: str, *,
                   applied: list[dict] | None, pods: list[dict] | None) -> CheckResult:
    """BAK-CONFIG-GITOPS: the production branch exists, the overlay renders objects, and the DR cluster runs
    exactly them: each live object matches Git (user-owned maps key for key) and was applied from this
    rendering (its last-applied-configuration), no object applied from Git earlier is left over (``applied``:
    live objects carrying that annotation), and the workloads' ``pods`` run the images Git renders."""
    cid = "BAK-CONFIG-GITOPS"
    if checkout.path is None:
        return CheckResult(cid, False, f"configuration repository has no {checkout.branch!r} branch: {checkout.error}",
                           measured="no branch", limit=f"branch {checkout.branch}")
    if render_error:
        return CheckResult(cid, False, f"{overlay} on {checkout.branch} does not render: {render_error}",
                           measured="render failed", limit="renders", evidence=[
                               Evidence("kustomize", f"kubectl kustomize {overlay}", render_error)])
    if not rendered:
        return CheckResult(cid, False, f"{overlay}@{(checkout.head or '?')[:12]} renders 0 objects: the branch "
                           f"configures nothing the DR cluster could run", measured="0 objects",
                           limit="renders the KOSMOS objects", evidence=[
                               Evidence("kustomize", f"kubectl kustomize {overlay}", "(no objects)")])
    if applied is None or pods is None:
        raise DRUnverifiable("configuration drift", "the applied objects and pods of the namespace were not listed")
    offenders = []
    rendered_keys = set()
    for obj in rendered:
        key = _key(obj)
        rendered_keys.add(key)
        live = live_objects.get(key)
        label = _label(key)
        if live is None:
            offenders.append(f"{label}: missing from the cluster")
            continue
        for difference in drift({k: v for k, v in obj.items() if k not in ("status",)}, live):
            offenders.append(f"{label}: {difference}")
        for field in DATA_FIELDS:
            if isinstance(live.get(field), dict):
                extra = sorted(set(live[field]) - set(obj.get(field) or {}))
                offenders += [f"{label}: {field}.{k} is set in the cluster, not in Git" for k in extra]
        last = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
        if last:
            try:
                was = json.loads(last)
            except ValueError:
                offenders.append(f"{label}: its {LAST_APPLIED} is not JSON")
            else:
                changes = _both_ways(_manifest(obj), _manifest(was))
                if changes:
                    offenders.append(f"{label}: last applied from another revision than {checkout.branch}@"
                                     f"{checkout.head[:12]} ({'; '.join(changes[:3])})")
        if obj.get("kind") in WORKLOAD_KINDS:  # (missing or unready pods are REC-DR-PODS' to judge)
            offenders += [f"{label}: {w}" for w in _pod_images(obj, pods)[1]]
    for live in applied:
        key = _key(live)
        if key not in rendered_keys and ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED):
            offenders.append(f"{_label(key)}: applied from Git once, no longer rendered by {overlay}, still in the "
                             f"cluster")
    evidence = [Evidence("drift", f"kubectl diff -k {overlay} --context={context}   # from {checkout.url}@{checkout.head[:12]}"
                         f"\n(and kubectl get pods, and objects carrying {LAST_APPLIED})",
                         trim("\n".join(offenders) or f"{len(rendered)} objects, no drift; {len(applied)} applied "
                              f"objects, none left over; pods run the rendered images"))]
    if offenders:
        return CheckResult(cid, False, f"DR cluster drifted from {checkout.branch}@{checkout.head[:12]}: "
                           + "; ".join(offenders[:10]) + (f" (+{len(offenders) - 10} more)" if len(offenders) > 10 else ""),
                           measured=f"{len(offenders)} differences", limit="no drift", offenders=offenders,
                           evidence=evidence)
    return CheckResult(cid, True, f"{len(rendered)} objects of {overlay}@{checkout.head[:12]} match the DR cluster "
                       f"(applied from it, nothing left over, pods run its images)",
                       measured="0 differences", limit="no drift", evidence=evidence)


def _key(obj: dict) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return obj.get("kind", "?"), meta.get("namespace", ""), meta.get("name", "?")


def live_objects_for(cluster, rendered: list[dict], default_namespace: str) -> dict[tuple[str, str, str], dict | None]:
    """One list per (kind, namespace) of the rendered objects: the live counterparts by key."""
    wanted: dict[tuple[str, str], list[dict]] = {}
    for obj in rendered:
        kind = obj.get("kind")
        if kind not in KIND_PATHS:
            raise DRUnverifiable("configuration drift", f"kind {kind} is not supported by the drift check")
        namespace = (obj.get("metadata") or {}).get("namespace") or (default_namespace if KIND_PATHS[kind][2] else "")
        if namespace:
            obj.setdefault("metadata", {})["namespace"] = namespace
        wanted.setdefault((kind, namespace), []).append(obj)
    found: dict[tuple[str, str, str], dict | None] = {}
    for (kind, namespace), objects in wanted.items():
        prefix, plural, namespaced = KIND_PATHS[kind]
        path = f"{prefix}/namespaces/{namespace}/{plural}" if namespaced else f"{prefix}/{plural}"
        by_name = {item["metadata"]["name"]: item for item in cluster.list(path)}
        for obj in objects:
            found[_key(obj)] = by_name.get(obj["metadata"]["name"])
    return found


def applied_objects(cluster, rendered: list[dict], namespace: str) -> list[dict]:
    """Objects in ``namespace`` (of the rendered kinds and ``APPLIED_KINDS``) that ``kubectl apply`` left its
    annotation on: what was applied from the configuration repository at some point."""
    kinds = dict.fromkeys([*APPLIED_KINDS, *(o.get("kind") for o in rendered)])
    found = []
    for kind in kinds:
        if kind not in KIND_PATHS or not KIND_PATHS[kind][2]:
            continue
        prefix, plural, _ = KIND_PATHS[kind]
        for item in cluster.list(f"{prefix}/namespaces/{namespace}/{plural}"):
            if ((item.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED):
                item.setdefault("kind", kind)
                item["metadata"].setdefault("namespace", namespace)
                found.append(item)
    return found


def apply_dry_run(checkout: ConfigCheckout, overlay: str, kubeconfig: str, context: str,
                  job: KubectlJob | None = None, *, rendered: list[dict] | None = None) -> CheckResult:
    """REC-CONFIG-APPLY: ``kubectl apply -k <overlay> --dry-run=server`` succeeds on the DR cluster, without
    warnings, for every object the overlay renders (``rendered``; a dry run of nothing proves nothing)."""
    cid = "REC-CONFIG-APPLY"
    if checkout.path is None:
        return CheckResult(cid, False, f"nothing to apply: {checkout.error}", measured="no branch", limit="applies")
    shown = f"kubectl apply -k {overlay} --dry-run=server --context={context}"
    try:
        done = (job or start_apply(checkout, overlay, kubeconfig, context)).result()
    except subprocess.TimeoutExpired:
        raise DRUnverifiable("kubectl apply --dry-run=server", f"no result within {KUBECTL_TIMEOUT_S} s") from None
    output = redact((done.stdout + done.stderr).strip())
    evidence = [Evidence("server-side dry run", shown, trim(output))]
    if "Unauthorized" in output or "You must be logged in" in output:
        raise DRUnverifiable("kubectl apply --dry-run=server", "credentials rejected", "check the kubeconfig user")
    limit = "exit 0, no warnings, every rendered object applied"
    if done.returncode != 0:
        refused = _api_could_not_answer(output)
        if refused:  # the API did not judge the manifests: nothing is known about them
            raise DRUnverifiable(f"kubectl apply --dry-run=server on {context}", refused[0], refused[1])
        errors = _kubectl_errors(output)
        return CheckResult(cid, False, f"{overlay} does not apply to the DR cluster: "
                           + ("; ".join(errors[:5]) or (output.splitlines() or ["no output"])[-1]),
                           measured=f"exit {done.returncode}", limit=limit, offenders=errors, evidence=evidence)
    applied = set()
    for line in output.splitlines():
        if "(server dry run)" in line and "/" in line.split(" ", 1)[0]:
            resource, name = line.split(" ", 1)[0].split("/", 1)
            applied.add((resource.split(".", 1)[0].lower(), name))
    problems = []
    warnings = [line.strip() for line in output.splitlines() if line.strip().lower().startswith("warning:")]
    if warnings:
        problems.append("the apply warns: " + "; ".join(w[len("warning:"):].strip()[:200] for w in warnings[:3]))
    if not applied:
        problems.append("the dry run applied 0 objects")
    if rendered is not None:
        if not rendered:
            problems.append(f"{overlay} renders 0 objects: there is nothing to restore the DR cluster from")
        missed = [f"{o.get('kind')}/{(o.get('metadata') or {}).get('name')}" for o in rendered
                  if (str(o.get("kind", "")).lower(), (o.get("metadata") or {}).get("name")) not in applied]
        if missed:
            problems.append(f"{len(missed)} rendered object(s) not applied: {', '.join(missed[:5])}")
    if problems:
        return CheckResult(cid, False, f"{overlay}@{(checkout.head or '?')[:12]} server-side dry run exit 0, but "
                           + "; ".join(problems), measured=f"exit 0, {len(applied)} objects, {len(warnings)} warnings",
                           limit=limit, offenders=warnings + problems, evidence=evidence)
    return CheckResult(cid, True, f"{overlay}@{checkout.head[:12]} applies as a server-side dry run ({len(applied)} "
                       f"objects, no warnings)", measured=f"exit 0, {len(applied)} objects", limit=limit,
                       evidence=evidence)


# kubectl output when the DR cluster's API server refused the connection, hung or was unavailable
# (the server-side dry run never ran) -> (reason, hint). A manifest the API rejects (Invalid,
# BadRequest, NotFound, a policy's Forbidden, unknown kind) is not in here: that stays *failed*.
_API_DID_NOT_ANSWER = (
    (re.compile(r"connection to the server \S+ was refused|connect: connection refused", re.I),
     "the cluster API refused the connection", "check the API server address in the kubeconfig"),
    (re.compile(r"i/o timeout|context deadline exceeded|Client\.Timeout exceeded|TLS handshake timeout|"
                r"\(Timeout\)|unable to return a response in the time allotted|request timed out|"
                r"timeout awaiting response headers", re.I),
     "the cluster API did not answer in time", "check the API server and the network path to it"),
    (re.compile(r"Unable to connect to the server|no such host|connection reset by peer|"
                r"network is unreachable|no route to host|EOF$", re.I | re.M),
     "the cluster API could not be reached", "check the API server address and the network path to it"),
    (re.compile(r"\((ServiceUnavailable|TooManyRequests|InternalError)\)", re.I),
     "the cluster API is unavailable (it answered with a server error)", "retry when the API server is healthy"),
    (re.compile(r"cannot (get|list|patch|create|update|watch) resource", re.I),
     "the kubeconfig user may not run the dry run (RBAC)", "grant it get/patch/create in the namespace"),
)


def _api_could_not_answer(output: str) -> tuple[str, str] | None:
    """(reason, hint) when kubectl failed because the cluster API refused or hung, not because of the
    manifests; None when the API judged them (one rejected manifest is enough to fail)."""
    judged = [m for m in re.finditer(r"Error from server \((Invalid|BadRequest|NotFound|Conflict|AlreadyExists|"
                                     r"Forbidden|UnprocessableEntity)\)[^\n]*", output)
              if not re.search(r"cannot \w+ resource", m.group(0))]
    if judged or re.search(r"no matches for kind|unknown field|admission webhook .* denied", output, re.I):
        return None
    for pattern, reason, hint in _API_DID_NOT_ANSWER:
        if pattern.search(output):
            return reason, hint
    return None


def _kubectl_errors(output: str) -> list[str]:
    """The reasons in kubectl's error output (the text after ``from server for: "<file>":``)."""
    reasons = [m.group(1).strip() for m in re.finditer(r'from server for: "[^"]*": (.+)', output)]
    if reasons:
        return list(dict.fromkeys(reasons))
    return [line for line in output.splitlines() if line.lower().startswith("error") or "invalid" in line.lower()]


def mirror_matches(checkout: ConfigCheckout, bucket: str, key: str, bundle: bytes | None, workdir: Path) -> CheckResult:
    """BAK-CONFIG-MIRROR: the bucket's Git bundle has the repository's production head, and it restores:
    a clone from the bundle alone checks out that head (a truncated or incremental bundle cannot)."""
    cid = "BAK-CONFIG-MIRROR"
    shown = f"aws s3 cp s3://{bucket}/{key} . && git bundle list-heads {Path(key).name}"
    if checkout.path is None or not checkout.head:
        return CheckResult(cid, False, f"cannot compare: {checkout.error or 'no production head'}", measured="no branch",
                           limit="same head")
    if not bundle:
        return CheckResult(cid, False, f"no configuration copy at s3://{bucket}/{key}"
                           + (" (an empty object)" if bundle is not None else ""), measured="missing",
                           limit=f"bundle with {checkout.branch}@{checkout.head[:12]}",
                           evidence=[Evidence("mirror", shown, "NoSuchKey" if bundle is None else "0 bytes")])
    path = workdir / "mirror.bundle"
    path.write_bytes(bundle)
    git = _tool("git")
    done = subprocess.run([git, "bundle", "list-heads", str(path)], capture_output=True, text=True,
                          timeout=GIT_TIMEOUT_S)
    heads = {}
    for line in done.stdout.splitlines():
        if " " in line:
            sha, ref = line.split(maxsplit=1)
            heads[ref] = sha
    mirrored = heads.get(f"refs/heads/{checkout.branch}")
    evidence = [Evidence("mirror", shown, done.stdout.strip() or done.stderr.strip())]
    limit = f"a restorable bundle with {checkout.branch}@{checkout.head[:12]}"
    if done.returncode != 0 or mirrored is None:
        other = ", ".join(sorted(heads)) or "none"
        return CheckResult(cid, False, f"s3://{bucket}/{key} is not a Git bundle with branch {checkout.branch} "
                           f"(heads: {other})", measured="unreadable", limit=limit, evidence=evidence)
    if mirrored != checkout.head:
        return CheckResult(cid, False, f"backup copy s3://{bucket}/{key} holds {checkout.branch}@{mirrored[:12]}, "
                           f"repository head is {checkout.head[:12]}", measured=mirrored[:12], limit=checkout.head[:12],
                           evidence=evidence)
    restored = workdir / "mirror-restore"
    shutil.rmtree(restored, ignore_errors=True)
    clone = subprocess.run([git, "clone", "--quiet", "--branch", checkout.branch, str(path), str(restored)],
                           capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
                           env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin:/usr/local/bin"})
    head = None
    if clone.returncode == 0:
        head = subprocess.run([git, "-C", str(restored), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S).stdout.strip()
    lines = [line.strip() for line in clone.stderr.splitlines() if line.strip()]
    reason = redact("; ".join(lines[:2]) if lines else f"the clone checks out {head or 'nothing'}")
    evidence.append(Evidence("restore from the bundle", f"git clone --branch {checkout.branch} {Path(key).name} restored",
                             f"exit {clone.returncode}: {clone.stderr.strip() or 'cloned'}; HEAD {head or '-'}"))
    shutil.rmtree(restored, ignore_errors=True)
    if clone.returncode != 0 or head != checkout.head:
        return CheckResult(cid, False, f"backup copy s3://{bucket}/{key} names {checkout.branch}@{mirrored[:12]} but "
                           f"does not restore: {reason}", measured="not restorable", limit=limit, evidence=evidence)
    return CheckResult(cid, True, f"backup copy s3://{bucket}/{key} holds {checkout.branch}@{mirrored[:12]} = repository "
                       f"head, and a clone from it restores that commit", measured=mirrored[:12],
                       limit=checkout.head[:12], evidence=evidence)
