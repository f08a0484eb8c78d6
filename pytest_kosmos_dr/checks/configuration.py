"""Configuration backups (GitOps): the production branch renders, the DR cluster runs exactly
that, it applies cleanly, and the bucket's copy is current (BAK-CONFIG-*, REC-CONFIG-APPLY)."""

from __future__ import annotations

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


def gitops_in_sync(checkout: ConfigCheckout, overlay: str, rendered: list[dict], render_error: str | None,
                   live_objects: dict[tuple[str, str, str], dict | None], context: str) -> CheckResult:
    """BAK-CONFIG-GITOPS: production branch exists, the overlay renders, the cluster runs it."""
    cid = "BAK-CONFIG-GITOPS"
    if checkout.path is None:
        return CheckResult(cid, False, f"configuration repository has no {checkout.branch!r} branch: {checkout.error}",
                           measured="no branch", limit=f"branch {checkout.branch}")
    if render_error:
        return CheckResult(cid, False, f"{overlay} on {checkout.branch} does not render: {render_error}",
                           measured="render failed", limit="renders", evidence=[
                               Evidence("kustomize", f"kubectl kustomize {overlay}", render_error)])
    offenders = []
    for obj in rendered:
        key = _key(obj)
        live = live_objects.get(key)
        label = f"{key[0]}/{key[2]}" + (f" (ns {key[1]})" if key[1] else "")
        if live is None:
            offenders.append(f"{label}: missing from the cluster")
            continue
        for difference in drift({k: v for k, v in obj.items() if k not in ("status",)}, live):
            offenders.append(f"{label}: {difference}")
    evidence = [Evidence("drift", f"kubectl diff -k {overlay} --context={context}   # from {checkout.url}@{checkout.head[:12]}",
                         trim("\n".join(offenders) or f"{len(rendered)} objects, no drift"))]
    if offenders:
        return CheckResult(cid, False, f"DR cluster drifted from {checkout.branch}@{checkout.head[:12]}: "
                           + "; ".join(offenders[:10]) + (f" (+{len(offenders) - 10} more)" if len(offenders) > 10 else ""),
                           measured=f"{len(offenders)} differences", limit="no drift", offenders=offenders,
                           evidence=evidence)
    return CheckResult(cid, True, f"{len(rendered)} objects of {overlay}@{checkout.head[:12]} match the DR cluster",
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


def apply_dry_run(checkout: ConfigCheckout, overlay: str, kubeconfig: str, context: str,
                  job: KubectlJob | None = None) -> CheckResult:
    """REC-CONFIG-APPLY: ``kubectl apply -k <overlay> --dry-run=server`` succeeds on the DR cluster."""
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
    if done.returncode != 0:
        errors = _kubectl_errors(output)
        return CheckResult(cid, False, f"{overlay} does not apply to the DR cluster: "
                           + ("; ".join(errors[:5]) or output.splitlines()[-1]),
                           measured=f"exit {done.returncode}", limit="exit 0", offenders=errors, evidence=evidence)
    count = sum(1 for line in output.splitlines() if "(server dry run)" in line)
    return CheckResult(cid, True, f"{overlay}@{checkout.head[:12]} applies as a server-side dry run ({count} objects)",
                       measured="exit 0", limit="exit 0", evidence=evidence)


def _kubectl_errors(output: str) -> list[str]:
    """The reasons in kubectl's error output (the text after ``from server for: "<file>":``)."""
    reasons = [m.group(1).strip() for m in re.finditer(r'from server for: "[^"]*": (.+)', output)]
    if reasons:
        return list(dict.fromkeys(reasons))
    return [line for line in output.splitlines() if line.lower().startswith("error") or "invalid" in line.lower()]


def mirror_matches(checkout: ConfigCheckout, bucket: str, key: str, bundle: bytes | None, workdir: Path) -> CheckResult:
    """BAK-CONFIG-MIRROR: the bucket's Git bundle has the same production head as the repository."""
    cid = "BAK-CONFIG-MIRROR"
    shown = f"aws s3 cp s3://{bucket}/{key} . && git bundle list-heads {Path(key).name}"
    if checkout.path is None:
        return CheckResult(cid, False, f"cannot compare: {checkout.error}", measured="no branch", limit="same head")
    if bundle is None:
        return CheckResult(cid, False, f"no configuration copy at s3://{bucket}/{key}", measured="missing",
                           limit=f"bundle with {checkout.branch}@{checkout.head[:12]}",
                           evidence=[Evidence("mirror", shown, "NoSuchKey")])
    path = workdir / "mirror.bundle"
    path.write_bytes(bundle)
    done = subprocess.run([_tool("git"), "bundle", "list-heads", str(path)], capture_output=True, text=True,
                          timeout=GIT_TIMEOUT_S)
    heads = {}
    for line in done.stdout.splitlines():
        if " " in line:
            sha, ref = line.split(maxsplit=1)
            heads[ref] = sha
    mirrored = heads.get(f"refs/heads/{checkout.branch}")
    evidence = [Evidence("mirror", shown, done.stdout.strip() or done.stderr.strip())]
    if done.returncode != 0 or mirrored is None:
        return CheckResult(cid, False, f"s3://{bucket}/{key} is not a Git bundle with branch {checkout.branch}",
                           measured="unreadable", limit=f"{checkout.branch}@{checkout.head[:12]}", evidence=evidence)
    if mirrored != checkout.head:
        return CheckResult(cid, False, f"backup copy s3://{bucket}/{key} holds {checkout.branch}@{mirrored[:12]}, "
                           f"repository head is {checkout.head[:12]}", measured=mirrored[:12], limit=checkout.head[:12],
                           evidence=evidence)
    return CheckResult(cid, True, f"backup copy s3://{bucket}/{key} holds {checkout.branch}@{mirrored[:12]} = repository head",
                       measured=mirrored[:12], limit=checkout.head[:12], evidence=evidence)
