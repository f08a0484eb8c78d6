"""The agent-state recovery drill: the newest archive (from the run's agent-state listing), extracted, copied into the
agent's pod the way ``kubectl cp`` does (exec + tar) and read back by checksum.

The live state folder is never written: the copy goes into a scratch folder of this run in the pod
(``/tmp/kosmos-dr-<run id>-<agent>/``), recorded in the run folder *before* it is made, and removed
after the comparison (by ``kosmos-dr cleanup`` when the run was killed)."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import DRUnverifiable
from ..redaction import redact
from . import changes, guard

EXEC_TIMEOUT_S = 120


def extract(archive: bytes, dest: Path) -> Path:
    """Extract a .tar.gz safely (no absolute paths, links or devices); returns the state folder.

    Raises ValueError when the archive is not a readable .tar.gz.
    """
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ValueError(f"not a readable .tar.gz ({type(exc).__name__}: {exc})") from None
    entries = [p for p in dest.iterdir()]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest


def local_checksums(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def tar_of(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return buffer.getvalue()


@dataclass
class PodFiles:
    """Files in a container, through ``kubectl exec`` (the transport ``kubectl cp`` uses)."""

    kubeconfig: str
    context: str
    namespace: str
    pod: str

    def _exec(self, command: list[str], stdin: bytes | None = None) -> bytes:
        kubectl = shutil.which("kubectl")
        if not kubectl:
            raise DRUnverifiable("kubectl command", "not found on PATH", "install kubectl")
        cmd = [kubectl, "exec", "-n", self.namespace, self.pod, "--context", self.context, "--request-timeout=60s"]
        if self.kubeconfig:
            cmd += ["--kubeconfig", self.kubeconfig]
        if stdin is not None:
            cmd.append("-i")
        cmd += ["--", *command]
        try:
            done = subprocess.run(cmd, input=stdin, capture_output=True, timeout=EXEC_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise DRUnverifiable(f"exec in {self.pod}", f"no result within {EXEC_TIMEOUT_S} s") from None
        if done.returncode != 0:
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            message = redact(lines[-1] if lines else f"exit {done.returncode}")
            raise PodCommandFailed(f"{' '.join(command[:3])} in {self.pod}: {message}")
        return done.stdout

    def snapshot(self, path: str) -> bytes:
        """``tar cf - -C path .``: the folder as it is now."""
        return self._exec(["tar", "cf", "-", "-C", path, "."])

    def put(self, path: str, tar_bytes: bytes) -> None:
        """``tar xf - -C path`` (what ``kubectl cp LOCAL POD:PATH`` runs)."""
        self._exec(["mkdir", "-p", path])
        self._exec(["tar", "xf", "-", "-C", path], stdin=tar_bytes)

    def make_folder(self, path: str) -> None:
        """``mkdir path`` (not -p: a folder already there is not ours and is refused)."""
        self._exec(["mkdir", path])

    def remove_scratch(self, path: str) -> None:
        """``rm -rf path``, only ever for a scratch folder of this tool."""
        if not is_scratch(path):
            raise ValueError(f"{path} is not a kosmos-dr scratch folder; refusing to remove it")
        self._exec(["rm", "-rf", "--", path.rstrip("/")])

    def exists(self, path: str) -> bool:
        try:
            self._exec(["test", "-d", path])
        except PodCommandFailed as exc:
            if "exit code 1" in str(exc):  # test said no; anything else (no pod, no answer) is raised
                return False
            raise
        return True

    def checksums(self, path: str) -> dict[str, str]:
        """name (relative to ``path``) -> sha256 of every file under ``path``."""
        root = path.rstrip("/")
        out = self._exec(["find", root, "-type", "f", "-exec", "sha256sum", "{}", "+"]).decode()
        sums = {}
        for line in out.splitlines():
            digest, name = line.split(maxsplit=1)
            name = name.strip()
            # the pod's own path (or, under the sandbox's unconfined exec, the same path under the pod's root)
            sums[name.split(root + "/", 1)[-1] if root + "/" in name else name] = digest
        return sums


class PodCommandFailed(Exception):
    """A command in the pod exited non-zero (the drill fails; the DR environment is wrong)."""


SCRATCH_PREFIX = "/tmp/kosmos-dr-"


def scratch_path(run_id: str, agent: str) -> str:
    """The run's scratch folder for ``agent`` in its pod (never the live state folder)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in f"{run_id}-{agent}")
    return f"{SCRATCH_PREFIX}{safe}/"


def is_scratch(path: str) -> bool:
    name = path.rstrip("/")
    return name.startswith(SCRATCH_PREFIX) and "/" not in name[len(SCRATCH_PREFIX):] and ".." not in name


class Scratch:
    """A scratch folder of this run in an agent's pod: made, filled, compared, removed."""

    def __init__(self, files: PodFiles, run, agent: str, live_path: str) -> None:
        self.files = files
        self.run = run
        self.agent = agent
        self.live_path = live_path
        self.path = scratch_path(run.run_id, agent)
        self._record: dict | None = None

    def create(self) -> "Scratch":
        """Guard, record (before the folder exists), then ``mkdir`` in the pod."""
        guard.check(self.run, f"make a scratch folder {self.path} in {self.files.pod}")
        self._record = changes.record(
            self.run.run_dir, changes.SCRATCH, target=self.run.target.name, run_id=self.run.run_id,
            namespace=self.files.namespace, pod=self.files.pod, context=self.files.context, path=self.path,
            note=f"scratch folder {self.path} in {self.files.pod} made by run {self.run.run_id} "
                 f"(the live {self.live_path} is not written)")
        self.files.make_folder(self.path.rstrip("/"))
        return self

    def put(self, tar_bytes: bytes) -> None:
        """The plan's ``kubectl cp`` into the scratch folder."""
        guard.check(self.run, f"copy agent state into {self.files.pod}:{self.path}")
        self.files.put(self.path, tar_bytes)
        guard.pause_point("agent-state-copy")

    def checksums(self) -> dict[str, str]:
        return self.files.checksums(self.path)

    def discard(self) -> None:
        """Remove the scratch folder (this run's, by its recorded name) and close the record."""
        if self._record is None:
            return
        self.files.remove_scratch(self.path)
        changes.mark_undone(self.run.run_dir, self._record)
        self._record = None


def remove_recorded(files: PodFiles, entry: dict, dry_run: bool = False) -> tuple[bool, str]:
    """``kosmos-dr cleanup``: remove the scratch folder a killed run recorded. (done, one line)."""
    path = str(entry.get("path") or "")
    where = f"{files.pod}:{path}"
    if not is_scratch(path):
        return False, f"scratch folder {where!r} of run {entry.get('run_id')}: not a kosmos-dr scratch path, left alone"
    try:
        if not files.exists(path):
            return True, f"scratch folder {where} of run {entry.get('run_id')}: already gone"
        if dry_run:
            return False, f"would remove scratch folder {where} of run {entry.get('run_id')}"
        files.remove_scratch(path)
    except PodCommandFailed as exc:
        return False, f"scratch folder {where} of run {entry.get('run_id')}: NOT removed: {exc}"
    return True, f"scratch folder {where} of run {entry.get('run_id')}: removed (the live state was never written)"


def restore_newest_archive(scratch: Scratch, agent, versions, s3, backups, namespace: str, agents: list[str],
                           workdir: Path):
    """REC-AGENT-STATE's drill: the agent's newest archive (from the run's listing ``versions``),
    validated, extracted, copied into ``scratch`` in its pod and read back by checksum. A missing or
    unusable archive, or a copy that fails, is a failed criterion (DRCheckFailed)."""
    from ..checks import agent_backups
    from ..checks.agent_state import state_restored
    from ..errors import DRCheckFailed

    name, bucket, prefix = agent.name, backups.bucket, backups.agent_state_prefix
    newest = agent_backups.newest_archive(versions, name)
    if newest is None:
        raise DRCheckFailed(f"REC-AGENT-STATE: no state archive for {name} under s3://{bucket}/{prefix} "
                            f"(key pattern {backups.agent_state_key})")
    key = newest["Key"]
    body = agent_backups.download(s3, bucket, newest)
    problems, _ = agent_backups.archive_problems(body, agent=name, agents=agents)
    if problems:  # another agent's state, empty state, a bad manifest: restoring it is no recovery
        raise DRCheckFailed(f"REC-AGENT-STATE: s3://{bucket}/{key}: " + "; ".join(problems))
    try:
        folder = extract(body, workdir / "extracted")
    except ValueError as exc:
        raise DRCheckFailed(f"REC-AGENT-STATE: s3://{bucket}/{key} is {exc}") from None
    expected = local_checksums(folder)
    try:
        scratch.put(tar_of(folder))
    except PodCommandFailed as exc:
        raise DRCheckFailed(f"REC-AGENT-STATE: copy into {agent.pod_name}:{scratch.path} failed: {exc}") from None
    copy = (f"aws s3 cp s3://{bucket}/{key} . && tar -xzf {key.rsplit('/', 1)[-1]} && "
            f"kubectl cp {folder.name}/ {namespace}/{agent.pod_name}:{scratch.path}\n"
            f"(into a scratch folder of this run; the live {agent.state_path} is not written)")
    return state_restored(name, agent.pod_name, scratch.path, key, expected, scratch.checksums(), copy)
