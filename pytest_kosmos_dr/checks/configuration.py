"""Configuration backups (GitOps): the production branch renders, the DR cluster runs exactly
that, it applies cleanly, and the bucket's copy is current (BAK-CONFIG-*, REC-CONFIG-APPLY).

Every kind the overlay renders is compared, found through the cluster's API discovery (a kind the
cluster does not serve fails). Git and kubectl run in ``clients.git`` / ``clients.kube``: the user's
own Git credentials, never a prompt, always a timeout."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..clients.git import git_environment, run_git
from ..clients.kube import KUBECTL_TIMEOUT_S, Discovery, KubectlJob, ServedKind, concurrently, kubectl_env
from ..errors import DRUnverifiable
from ..redaction import redact
from ..results import CheckResult, Evidence, trim

# what ``kubectl apply`` (the plan's procedure) leaves on every object it applied
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Kinds listed for objects applied from Git that Git no longer renders, besides the kinds the overlay renders:
# the namespaced kinds of kubectl's default ``apply --prune`` allowlist, without those controllers create in bulk
# (Pod, ReplicaSet, Endpoints) and without Secret (the check reads no secret values it does not render).
APPLIED_KINDS = (
    ("v1", "ConfigMap"), ("v1", "Service"), ("v1", "PersistentVolumeClaim"), ("v1", "ReplicationController"),
    ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"),
    ("batch/v1", "Job"), ("batch/v1", "CronJob"), ("networking.k8s.io/v1", "Ingress"),
)
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


def clone_production(url: str, branch: str, dest: Path, token_env: str = "") -> ConfigCheckout:
    """``git clone --depth 1 --branch <branch>`` with the user's Git credentials (and the token in
    ``$token_env`` when named); a missing branch is recorded, not raised."""
    env = git_environment(str(url), token_env)
    done = run_git(["clone", "--quiet", "--depth", "1", "--single-branch", "--branch", branch, str(url), str(dest)],
                   env=env, what=f"configuration repository {redact(str(url))}")
    if done.returncode != 0:
        message = done.last_error
        if "not found in upstream" in message or "Remote branch" in message:
            return ConfigCheckout(url, branch, None, None, error=message)
        raise DRUnverifiable(f"configuration repository {redact(str(url))}", message,
                             "check the URL and Git credentials (credential helper, SSH agent, config_repo.token_env)")
    head = run_git(["-C", str(dest), "rev-parse", "HEAD"], env=env, what="git rev-parse")
    if head.returncode != 0 or not head.stdout.strip():
        raise DRUnverifiable(f"configuration repository {redact(str(url))}", f"no HEAD after the clone: {head.last_error}")
    return ConfigCheckout(url, branch, dest, head.stdout.strip())


def start_render(checkout: ConfigCheckout, overlay: str) -> KubectlJob | None:
    """Start ``kubectl kustomize <overlay>`` (None when there is nothing to render)."""
    if checkout.path is None or not (checkout.path / overlay).is_dir():
        return None
    return KubectlJob([_tool("kubectl"), "kustomize", str(checkout.path / overlay)])


def start_apply(checkout: ConfigCheckout, overlay: str, kubeconfig: str, context: str,
                render: KubectlJob | None = None) -> "DryRunJob | None":
    """Start the server-side dry run of the overlay (None when there is nothing to apply): what
    ``kubectl apply -k <overlay> --dry-run=server`` does, as its two steps: the rendering (``render``, the
    ``kubectl kustomize`` job already started; else one started here), then ``kubectl apply -f -`` of the
    rendered objects (``DryRunJob``)."""
    if checkout.path is None:
        return None
    cmd = [_tool("kubectl"), "apply", "-f", "-", "--dry-run=server", "--context", context, "--request-timeout=30s"]
    if kubeconfig:
        cmd += ["--kubeconfig", kubeconfig]
    owned = render is None
    render = render if render is not None else start_render(checkout, overlay)
    if render is None:  # no such overlay folder: kubectl says so, as the plan's command would
        return DryRunJob(None, [_tool("kubectl"), "apply", "-k", str(checkout.path / overlay), "--dry-run=server",
                                "--context", context, "--request-timeout=30s",
                                *(["--kubeconfig", kubeconfig] if kubeconfig else [])], kubeconfig, context)
    return DryRunJob(render, cmd, kubeconfig, context, owns_render=owned)


# The server-side dry run in parts (REC-CONFIG-APPLY): kubectl asks the API one object after another
# (the OpenAPI index, then per object a GET, and a PATCH or POST when it changes; the group versions'
# documents come from its HTTP cache after the first run, as a real API server marks them immutable), so
# at a real network's round trip the dry run's time grows with the objects. When the cluster API is far (a
# round trip of SPLIT_FROM_S or more, ``api_round_trip``), the rendered objects are applied by up to
# MAX_PARTS concurrent kubectls, each a run of consecutive objects of one API group version (so a first run,
# its cache empty, reads each document once per part): the sandbox's 10 objects in 3 group versions go as
# 3+2 / 2+(2+1), each kubectl ~5 round trips instead of 12 for one. Nearer, one kubectl: each more costs
# ~0.1 s of CPU, worth more than the round trips saved below ~30 ms (SPLIT_FROM_S leaves a margin for a
# busy machine). Far, the MAX_PARTS kubectls start as soon as the round trip is measured, while kustomize
# still renders: each loads its configuration and waits on stdin, asking the API nothing until fed (those
# no part needs are killed unfed); their start (~45 ms of CPU each) is then off the dry run's critical path.
SPLIT_FROM_S = 0.05
MAX_PARTS = 5
PROBE_TIMEOUT_S = 2.0
_DOCUMENT_START = re.compile(r"^---[ \t]*$", re.M)
_API_VERSION = re.compile(r"^apiVersion:[ \t]*['\"]?([^\s'\"#]+)", re.M)


def rendered_parts(text: str, parts: int) -> list[str]:
    """The rendered YAML's documents (verbatim, in order) in at most ``parts`` runs of consecutive
    documents, each run one apiVersion where the count allows (adjacent runs merged, smallest first; with
    parts to spare, the longest run halved, so no kubectl waits on many more objects than another). Then
    adjacent runs that together are no longer than the longest are merged (smallest first): each kubectl
    costs ~50 ms of CPU to start and read the API's index, and the longest part sets the dry run's time."""
    documents = [d.strip("\n") + "\n" for d in _DOCUMENT_START.split(text) if d.strip()]
    runs: list[tuple[str | None, list[str]]] = []
    for doc in documents:
        found = _API_VERSION.search(doc)
        version = found.group(1) if found else None
        if runs and runs[-1][0] == version:
            runs[-1][1].append(doc)
        else:
            runs.append((version, [doc]))
    groups = [docs for _, docs in runs]
    while len(groups) > max(1, parts):
        i = min(range(len(groups) - 1), key=lambda k: len(groups[k]) + len(groups[k + 1]))
        groups[i:i + 2] = [groups[i] + groups[i + 1]]
    while groups and len(groups) < parts:  # parts to spare: halve the longest run (its version stays its own)
        i = max(range(len(groups)), key=lambda k: len(groups[k]))
        if len(groups[i]) < 2:
            break
        half = (len(groups[i]) + 1) // 2
        groups[i:i + 1] = [groups[i][:half], groups[i][half:]]
    longest = max((len(g) for g in groups), default=0)
    while len(groups) > 1:  # fewer kubectls for the same longest part
        i = min(range(len(groups) - 1), key=lambda k: len(groups[k]) + len(groups[k + 1]))
        if len(groups[i]) + len(groups[i + 1]) > longest:
            break
        groups[i:i + 2] = [groups[i] + groups[i + 1]]
    return ["---\n".join(docs) for docs in groups]


SO_TIMESTAMPNS = 35  # Linux: the kernel stamps each received packet (struct timespec, in the ancillary data)
PROBES = 3  # round trips measured at once; the shortest counts (a busy machine only lengthens them)


def api_round_trip(kubeconfig: str, context: str) -> float | None:
    """One network round trip to the cluster API, in seconds: on ``PROBES`` connections at once, the first
    message of a TLS handshake sent and the server's answer received (nothing else is sent; the connections
    are then closed); the shortest. Timed by the kernel's receive stamp where it gives one (Linux), so a
    busy interpreter does not lengthen it. None when it could not be measured."""
    import selectors
    import socket
    import ssl
    import struct
    import sys
    import time
    from urllib.parse import urlsplit

    from ..clients.kubeconfig import api_server

    server = api_server(kubeconfig, context)
    url = urlsplit(server or "")
    if not url.hostname or url.scheme != "https":
        return None
    stamped = sys.platform.startswith("linux")
    sockets: list[socket.socket] = []
    try:
        family, kind, proto, _, address = socket.getaddrinfo(url.hostname, url.port or 443, type=socket.SOCK_STREAM)[0]
        for _ in range(PROBES):  # connected together (one round trip), not one after another
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setblocking(False)
            sock.connect_ex(address)
        with selectors.DefaultSelector() as connecting:
            for sock in sockets:
                connecting.register(sock, selectors.EVENT_WRITE)
            deadline = time.monotonic() + PROBE_TIMEOUT_S
            pending = set(sockets)
            while pending and time.monotonic() < deadline:
                for key, _ in connecting.select(deadline - time.monotonic()):
                    pending.discard(key.fileobj)
                    connecting.unregister(key.fileobj)
        sent = {}
        for sock in sockets:
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                return None
            sock.settimeout(PROBE_TIMEOUT_S)
            if stamped:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            hello = ssl.MemoryBIO()
            handshake = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).wrap_bio(ssl.MemoryBIO(), hello,
                                                                         server_hostname=url.hostname)
            try:
                handshake.do_handshake()
            except ssl.SSLWantReadError:  # the ClientHello is written: the server's answer is what we wait for
                pass
            first = hello.read()
            sent[sock] = time.time()
            sock.sendall(first)
        trips = []
        for sock in sockets:
            data, ancillary, _, _ = sock.recvmsg(1, socket.CMSG_SPACE(16))
            answered = time.time()
            for level, kind, payload in ancillary:
                if stamped and level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                    seconds, nanoseconds = struct.unpack("qq", payload[:16])
                    answered = seconds + nanoseconds / 1e9
            if data:
                trips.append(max(0.0, answered - sent[sock]))
    except (OSError, ValueError):
        return None
    finally:
        for sock in sockets:
            sock.close()
    return min(trips) if trips else None


class DryRunJob:
    """``kubectl apply -f - --dry-run=server`` of a rendering, started now and read later (the interface of
    ``KubectlJob``): once the rendering is in, its objects go to one kubectl, or to a few concurrent ones
    when the cluster API is far (``SPLIT_FROM_S``). The result joins theirs in the rendering's order: stdout,
    then stderr, the first failing exit code. ``render`` None: ``apply_cmd`` runs as it is."""

    def __init__(self, render: KubectlJob | None, apply_cmd: list[str], kubeconfig: str, context: str, *,
                 owns_render: bool = False) -> None:
        import threading

        self.render, self.apply_cmd, self.owns_render = render, apply_cmd, owns_render
        self.parts: list[str] = []
        self.round_trip: float | None = None
        self._processes: list[subprocess.Popen] = []  # one per part, in the rendering's order
        self._waiting: list[subprocess.Popen] = []  # started early, waiting for their objects on stdin
        self._talks: list[threading.Thread] = []  # each part's input written, its output read
        self._outputs: dict[int, tuple[str, str]] = {}
        self._done: subprocess.CompletedProcess | None = None
        self._failed: BaseException | None = None
        self._killed = False
        self._spawning = threading.Lock()  # the processes started, or killed: never both at once
        self._reading = threading.Lock()  # read from a prefetch thread and a test alike
        self._started = threading.Thread(target=self._start, args=(kubeconfig, context), daemon=True,
                                         name="kosmos-dr-dry-run")
        self._started.start()

    @property
    def cmd(self) -> list[str]:
        return self.apply_cmd

    def _start(self, kubeconfig: str, context: str) -> None:
        try:
            if self.render is None:
                self._run([None])
                return
            self.round_trip = api_round_trip(kubeconfig, context)  # while the rendering runs
            far = self.round_trip is not None and self.round_trip >= SPLIT_FROM_S
            if far:  # the kubectls start while the rendering finishes; until fed they only wait on stdin
                self._start_waiting(MAX_PARTS)
            rendered = self.render.result()
            if rendered.returncode != 0:  # kubectl apply -k would have stopped here, with the same words
                with self._spawning:
                    self._drop_waiting()
                self._done = rendered
                return
            parts = rendered_parts(rendered.stdout, MAX_PARTS) if far else []
            self._run(parts if len(parts) > 1 else [rendered.stdout])  # one part: the rendering as it is
        except BaseException as exc:  # noqa: BLE001 - handed to result()
            self._failed = exc

    def _popen(self, stdin) -> subprocess.Popen:
        return subprocess.Popen(self.apply_cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=kubectl_env(), start_new_session=True)

    def _start_waiting(self, count: int) -> None:
        """``count`` kubectls started now: each loads its configuration, then waits for its objects on stdin
        (it asks the API nothing before), so its start is off the dry run's critical path."""
        with self._spawning:
            if not self._killed:
                self._waiting = [self._popen(subprocess.PIPE) for _ in range(count)]

    def _run(self, parts: list[str | None]) -> None:
        """Each part to a kubectl of its own (a waiting one where there is one); ``None``: no input."""
        import threading

        with self._spawning:
            if self._killed:
                return
            self.parts = [p for p in parts if p is not None]
            for index, part in enumerate(parts):
                if part is not None and self._waiting:
                    process = self._waiting.pop(0)
                else:
                    process = self._popen(subprocess.DEVNULL if part is None else subprocess.PIPE)
                self._processes.append(process)
                talk = threading.Thread(target=self._talk, args=(index, process, part), daemon=True,
                                        name="kosmos-dr-dry-run-part")
                self._talks.append(talk)
                talk.start()
            self._drop_waiting()

    def _talk(self, index: int, process: subprocess.Popen, part: str | None) -> None:
        """Write the part, read the answer (both at once: a large part cannot deadlock on a full pipe)."""
        try:
            self._outputs[index] = process.communicate(part)
        except (OSError, ValueError) as exc:  # the process gone before it read: its exit code says the rest
            self._outputs[index] = ("", f"kubectl: {exc}\n")

    def _drop_waiting(self) -> None:
        """The waiting kubectls no part needs: killed before they were given anything (they asked nothing)."""
        waiting, self._waiting = self._waiting, []
        self._kill(waiting)
        for process in waiting:  # never read: their pipes closed here
            for pipe in (process.stdin, process.stdout, process.stderr):
                pipe.close()

    def result(self, timeout: float = KUBECTL_TIMEOUT_S) -> subprocess.CompletedProcess:
        """The finished dry run (all parts); raises subprocess.TimeoutExpired (after killing it) past ``timeout``."""
        import time

        deadline = time.monotonic() + timeout
        self._started.join(timeout)
        if self._started.is_alive():
            self.kill()
            raise subprocess.TimeoutExpired(self.apply_cmd, timeout)
        if self._failed is not None:
            raise self._failed
        with self._reading:
            if self._done is not None:
                return self._done
            if not self._processes:  # killed before the rendering was in: nothing ran
                return subprocess.CompletedProcess(self.apply_cmd, -9, "", "killed before it started")
            for talk in self._talks:
                talk.join(max(0.0, deadline - time.monotonic()))
                if talk.is_alive():
                    self._kill_processes()
                    raise subprocess.TimeoutExpired(self.apply_cmd, timeout) from None
            outputs = [self._outputs.get(index, ("", "")) for index in range(len(self._processes))]
            codes = [p.returncode for p in self._processes]
            self._done = subprocess.CompletedProcess(
                self.apply_cmd, next((c for c in codes if c != 0), 0),
                "".join(out for out, _ in outputs), "".join(err for _, err in outputs))
            return self._done

    def kill(self) -> None:
        with self._spawning:
            self._killed = True
            self._kill_processes()
            self._drop_waiting()
        if self.owns_render and self.render is not None:
            self.render.kill()

    def _kill_processes(self) -> None:
        self._kill(self._processes)

    @staticmethod
    def _kill(processes: list[subprocess.Popen]) -> None:
        import os
        import signal

        for process in processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    process.kill()
                process.wait()

    def shown(self, overlay: str, context: str) -> str:
        """The command, as run (for the evidence)."""
        if self.render is None:
            return f"kubectl apply -k {overlay} --dry-run=server --context={context}"
        line = f"kubectl kustomize {overlay} | kubectl apply -f - --dry-run=server --context={context}"
        if len(self.parts) > 1:
            sizes = ", ".join(f"{_parts_label(part)}" for part in self.parts)
            line += (f"\n(the cluster API is far: the rendered objects in {len(self.parts)} concurrent kubectl "
                     f"apply runs, in the rendering's order: {sizes})")
        return line


def _parts_label(part: str) -> str:
    versions = list(dict.fromkeys(m.group(1) for m in _API_VERSION.finditer(part)))
    count = len([d for d in _DOCUMENT_START.split(part) if d.strip()])
    return f"{' + '.join(versions) or '?'} ({count} object{'s' if count != 1 else ''})"


def render_overlay(checkout: ConfigCheckout, overlay: str,
                   job: KubectlJob | None = None) -> tuple[list[dict], str | None]:
    """``kubectl kustomize <overlay>``: the objects, or the error text when it does not render."""
    from .. import yaml_docs

    folder = checkout.path / overlay
    if not folder.is_dir():
        return [], f"{overlay} does not exist on branch {checkout.branch}"
    try:
        done = (job or start_render(checkout, overlay)).result()
    except subprocess.TimeoutExpired:
        return [], f"kubectl kustomize took over {KUBECTL_TIMEOUT_S} s"
    if done.returncode != 0:
        return [], done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "kustomize failed"
    return [doc for doc in yaml_docs.load_all(done.stdout) if doc], None


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
                   applied: list[dict] | None, pods: list[dict] | None,
                   unserved: tuple[tuple[str, str], ...] = ()) -> CheckResult:
    """BAK-CONFIG-GITOPS: the production branch exists, the overlay renders objects, and the DR cluster runs
    exactly them: each live object matches Git (user-owned maps key for key) and was applied from this
    rendering (its last-applied-configuration), no object applied from Git earlier is left over (``applied``:
    live objects carrying that annotation), and the workloads' ``pods`` run the images Git renders. A kind the
    overlay renders that the cluster does not serve (``unserved``: (apiVersion, kind), from API discovery)
    cannot be running: it fails."""
    if checkout.path is None:
        return CheckResult(False, f"configuration repository has no {checkout.branch!r} branch: {checkout.error}",
                           measured="no branch", limit=f"branch {checkout.branch}")
    if render_error:
        return CheckResult(False, f"{overlay} on {checkout.branch} does not render: {render_error}",
                           measured="render failed", limit="renders", evidence=[
                               Evidence("kustomize", f"kubectl kustomize {overlay}", render_error)])
    if not rendered:
        return CheckResult(False, f"{overlay}@{(checkout.head or '?')[:12]} renders 0 objects: the branch "
                           f"configures nothing the DR cluster could run", measured="0 objects",
                           limit="renders the KOSMOS objects", evidence=[
                               Evidence("kustomize", f"kubectl kustomize {overlay}", "(no objects)")])
    if applied is None or pods is None:
        raise DRUnverifiable("configuration drift", "the applied objects and pods of the namespace were not listed")
    offenders = []
    missing_kinds: dict[tuple[str, str], list[str]] = {}
    rendered_keys = set()
    for obj in rendered:
        if not isinstance(obj, dict) or not all(_gvk(obj)) or not (obj.get("metadata") or {}).get("name"):
            offenders.append(f"a rendered object without apiVersion, kind or name: {json.dumps(obj)[:80]}")
            continue
        if _gvk(obj) in unserved:
            missing_kinds.setdefault(_gvk(obj), []).append(obj["metadata"]["name"])
            continue
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
    for (api_version, kind), names in missing_kinds.items():
        offenders.insert(0, f"{overlay} renders {kind} ({api_version}) but the DR cluster does not serve it "
                            f"({', '.join(names[:5])})")
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
        return CheckResult(False, f"DR cluster drifted from {checkout.branch}@{checkout.head[:12]}: "
                           + "; ".join(offenders[:10]) + (f" (+{len(offenders) - 10} more)" if len(offenders) > 10 else ""),
                           measured=f"{len(offenders)} differences", limit="no drift", offenders=offenders,
                           evidence=evidence)
    return CheckResult(True, f"{len(rendered)} objects of {overlay}@{checkout.head[:12]} match the DR cluster "
                       f"(applied from it, nothing left over, pods run its images)",
                       measured="0 differences", limit="no drift", evidence=evidence)


def _key(obj: dict) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return obj.get("kind", "?"), meta.get("namespace", ""), meta.get("name", "?")


@dataclass(frozen=True)
class RenderedKinds:
    """The rendered objects' kinds as the DR cluster serves them (API discovery), and those it does not."""

    served: dict[tuple[str, str], ServedKind] = field(default_factory=dict)  # (apiVersion, kind) -> served kind
    unserved: tuple[tuple[str, str], ...] = ()  # (apiVersion, kind) the overlay renders, the cluster does not serve


def _gvk(obj: dict) -> tuple[str, str]:
    return str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")


def rendered_kinds(discovery: Discovery, rendered: list[dict]) -> RenderedKinds:
    """Resolve every (apiVersion, kind) the overlay renders through ``discovery`` (as ``kubectl apply`` maps
    them). Discovery that cannot be read raises DRUnverifiable."""
    served, unserved = {}, []
    gvks = list(dict.fromkeys(_gvk(o) for o in rendered if isinstance(o, dict)))
    if hasattr(discovery, "load"):  # every group version's document at once
        discovery.load(gvk[0] for gvk in gvks if all(gvk))
    for gvk in gvks:
        if not all(gvk):
            continue  # an object without apiVersion or kind: gitops_in_sync names it
        kind = discovery.kind(*gvk)
        if kind is None:
            unserved.append(gvk)
        else:
            served[gvk] = kind
    return RenderedKinds(served, tuple(unserved))


def _listable(kind: ServedKind) -> ServedKind:
    if not kind.listable:
        raise DRUnverifiable("configuration drift", f"the DR cluster serves {kind} but does not let it be listed")
    return kind


def _lists(cluster, paths: list[str]) -> list[list[dict]]:
    """Each path listed; at once when the cluster view can (``list_many``), else one after another."""
    if hasattr(cluster, "list_many"):
        return cluster.list_many(paths)
    return [cluster.list(path) for path in paths]


def live_objects_for(cluster, rendered: list[dict], default_namespace: str,
                     kinds: RenderedKinds | None = None) -> dict[tuple[str, str, str], dict | None]:
    """One list per (kind, namespace) of the rendered objects: the live counterparts by key. Kinds come from
    the cluster's API discovery (``kinds``, default: ``rendered_kinds(cluster.discovery(), rendered)``);
    objects of kinds it does not serve are left out (``gitops_in_sync`` fails them)."""
    kinds = kinds if kinds is not None else rendered_kinds(cluster.discovery(), rendered)
    wanted: dict[tuple[ServedKind, str], list[dict]] = {}
    for obj in rendered:
        served = kinds.served.get(_gvk(obj)) if isinstance(obj, dict) else None
        if served is None or not (obj.get("metadata") or {}).get("name"):
            continue
        namespace = obj["metadata"].get("namespace") or (default_namespace if served.namespaced else "")
        if namespace and served.namespaced:
            obj["metadata"]["namespace"] = namespace
        wanted.setdefault((served, namespace if served.namespaced else ""), []).append(obj)
    found: dict[tuple[str, str, str], dict | None] = {}
    paths = [_listable(served).collection_path(namespace or None) for served, namespace in wanted]
    for ((served, namespace), objects), items in zip(wanted.items(), _lists(cluster, paths)):
        by_name = {}
        for item in items:
            item.setdefault("apiVersion", served.api_version)  # list items carry no kind (kubectl adds it back)
            item.setdefault("kind", served.kind)
            by_name[(item.get("metadata") or {}).get("name")] = item
        for obj in objects:
            found[_key(obj)] = by_name.get(obj["metadata"]["name"])
    return found


def applied_objects(cluster, rendered: list[dict], namespace: str, kinds: RenderedKinds | None = None) -> list[dict]:
    """Objects in ``namespace`` that ``kubectl apply`` left its annotation on (what was applied from the
    configuration repository at some point), of every namespaced kind the overlay renders and of
    ``APPLIED_KINDS`` that the cluster serves (API discovery)."""
    discovery = cluster.discovery()
    kinds = kinds if kinds is not None else rendered_kinds(discovery, rendered)
    if hasattr(discovery, "load"):  # the documents of APPLIED_KINDS' group versions at once
        discovery.load(gvk[0] for gvk in APPLIED_KINDS)
    listed = dict.fromkeys([*kinds.served.values(),
                            *(k for k in (discovery.kind(*gvk) for gvk in APPLIED_KINDS) if k is not None)])
    found, seen, kinds_listed = [], set(), []
    for served in listed:
        if not served.namespaced or (served.kind, served.plural) in seen:
            continue
        seen.add((served.kind, served.plural))
        kinds_listed.append(_listable(served))
    lists = _lists(cluster, [served.collection_path(namespace) for served in kinds_listed])
    for served, items in zip(kinds_listed, lists):
        for item in items:
            if ((item.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED):
                item.setdefault("apiVersion", served.api_version)
                item.setdefault("kind", served.kind)
                item["metadata"].setdefault("namespace", namespace)
                found.append(item)
    return found


class _ListedOnce:
    """A view of the cluster whose collections are listed once, also when two reads ask at the same time."""

    def __init__(self, cluster) -> None:
        import threading

        self._cluster, self._lists, self._lock = cluster, {}, threading.Lock()

    def discovery(self):
        return self._cluster.discovery()

    def list_many(self, paths: list[str]) -> list[list[dict]]:
        from concurrent.futures import Future

        mine = []
        with self._lock:
            for path in dict.fromkeys(paths):
                if path not in self._lists:
                    self._lists[path] = Future()
                    mine.append(path)
        if mine:
            try:
                for path, items in zip(mine, _lists(self._cluster, mine)):
                    self._lists[path].set_result(items)
            except BaseException as exc:
                for path in mine:
                    if not self._lists[path].done():
                        self._lists[path].set_exception(exc)
                raise
        return [self._lists[path].result() for path in paths]


def gitops_reads(cluster, rendered: list[dict], namespace: str) -> tuple[RenderedKinds, dict, list[dict]]:
    """BAK-CONFIG-GITOPS's reads of the DR cluster: the rendered kinds (API discovery), their live objects
    (``live_objects_for``) and the applied ones (``applied_objects``). The discovery documents of the rendered
    group versions and of ``APPLIED_KINDS``' are fetched at once, then both sets of lists at once, each
    collection once; the first error in that order raises, as reading one after another."""
    discovery = cluster.discovery()
    if hasattr(discovery, "load"):
        discovery.group_versions()
        versions = [_gvk(o)[0] for o in rendered if isinstance(o, dict) and all(_gvk(o))]

        def applied_documents() -> None:  # its own errors come later, from applied_objects (when it asks again)
            try:
                discovery.load(gvk[0] for gvk in APPLIED_KINDS if gvk[0] not in versions)
            except DRUnverifiable:
                pass

        concurrently([lambda: discovery.load(versions), applied_documents])
    kinds = rendered_kinds(discovery, rendered)
    once = _ListedOnce(cluster)
    live, applied = concurrently([lambda: live_objects_for(once, rendered, namespace, kinds),
                                  lambda: applied_objects(once, rendered, namespace, kinds)])
    return kinds, live, applied


def apply_dry_run(checkout: ConfigCheckout, overlay: str, kubeconfig: str, context: str,
                  job: KubectlJob | None = None, *, rendered: list[dict] | None = None) -> CheckResult:
    """REC-CONFIG-APPLY: ``kubectl apply -k <overlay> --dry-run=server`` succeeds on the DR cluster, without
    warnings, for every object the overlay renders (``rendered``; a dry run of nothing proves nothing)."""
    if checkout.path is None:
        return CheckResult(False, f"nothing to apply: {checkout.error}", measured="no branch", limit="applies")
    job = job or start_apply(checkout, overlay, kubeconfig, context)
    try:
        done = job.result()
    except subprocess.TimeoutExpired:
        raise DRUnverifiable("kubectl apply --dry-run=server", f"no result within {KUBECTL_TIMEOUT_S} s") from None
    shown = (job.shown(overlay, context) if hasattr(job, "shown")
             else f"kubectl apply -k {overlay} --dry-run=server --context={context}")
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
        return CheckResult(False, f"{overlay} does not apply to the DR cluster: "
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
        return CheckResult(False, f"{overlay}@{(checkout.head or '?')[:12]} server-side dry run exit 0, but "
                           + "; ".join(problems), measured=f"exit 0, {len(applied)} objects, {len(warnings)} warnings",
                           limit=limit, offenders=warnings + problems, evidence=evidence)
    return CheckResult(True, f"{overlay}@{checkout.head[:12]} applies as a server-side dry run ({len(applied)} "
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
    shown = f"aws s3 cp s3://{bucket}/{key} . && git bundle list-heads {Path(key).name}"
    if checkout.path is None or not checkout.head:
        return CheckResult(False, f"cannot compare: {checkout.error or 'no production head'}", measured="no branch",
                           limit="same head")
    if not bundle:
        return CheckResult(False, f"no configuration copy at s3://{bucket}/{key}"
                           + (" (an empty object)" if bundle is not None else ""), measured="missing",
                           limit=f"bundle with {checkout.branch}@{checkout.head[:12]}",
                           evidence=[Evidence("mirror", shown, "NoSuchKey" if bundle is None else "0 bytes")])
    path = workdir / "mirror.bundle"
    path.write_bytes(bundle)
    env = git_environment()  # a local file: no credentials involved, but never a prompt and always a timeout
    done = run_git(["bundle", "list-heads", str(path)], env=env, what="git bundle list-heads")
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
        return CheckResult(False, f"s3://{bucket}/{key} is not a Git bundle with branch {checkout.branch} "
                           f"(heads: {other})", measured="unreadable", limit=limit, evidence=evidence)
    if mirrored != checkout.head:
        return CheckResult(False, f"backup copy s3://{bucket}/{key} holds {checkout.branch}@{mirrored[:12]}, "
                           f"repository head is {checkout.head[:12]}", measured=mirrored[:12], limit=checkout.head[:12],
                           evidence=evidence)
    restored = workdir / "mirror-restore"
    shutil.rmtree(restored, ignore_errors=True)
    clone = run_git(["clone", "--quiet", "--branch", checkout.branch, str(path), str(restored)], env=env,
                    what="git clone from the bundle")
    head = None
    if clone.returncode == 0:
        head = run_git(["-C", str(restored), "rev-parse", "HEAD"], env=env, what="git rev-parse").stdout.strip()
    lines = [line.strip() for line in clone.stderr.splitlines() if line.strip()]
    reason = redact("; ".join(lines[:2]) if lines else f"the clone checks out {head or 'nothing'}")
    evidence.append(Evidence("restore from the bundle", f"git clone --branch {checkout.branch} {Path(key).name} restored",
                             f"exit {clone.returncode}: {clone.stderr.strip() or 'cloned'}; HEAD {head or '-'}"))
    shutil.rmtree(restored, ignore_errors=True)
    if clone.returncode != 0 or head != checkout.head:
        return CheckResult(False, f"backup copy s3://{bucket}/{key} names {checkout.branch}@{mirrored[:12]} but "
                           f"does not restore: {reason}", measured="not restorable", limit=limit, evidence=evidence)
    return CheckResult(True, f"backup copy s3://{bucket}/{key} holds {checkout.branch}@{mirrored[:12]} = repository "
                       f"head, and a clone from it restores that commit", measured=mirrored[:12],
                       limit=checkout.head[:12], evidence=evidence)
