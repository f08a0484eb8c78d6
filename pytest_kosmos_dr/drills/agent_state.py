"""The agent-state recovery drill: the newest archive (from the run's agent-state listing), extracted, copied into the agent's
pod the way ``kubectl cp`` does (exec + tar), read back by checksum, and the pod put back as found."""

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

    def shell_command(self, command: str) -> str:
        return f"kubectl exec -n {self.namespace} {self.pod} --context={self.context} -- {command}"

    def snapshot(self, path: str) -> bytes:
        """``tar cf - -C path .``: the folder as it is now."""
        return self._exec(["tar", "cf", "-", "-C", path, "."])

    def put(self, path: str, tar_bytes: bytes) -> None:
        """``tar xf - -C path`` (what ``kubectl cp LOCAL POD:PATH`` runs)."""
        self._exec(["mkdir", "-p", path])
        self._exec(["tar", "xf", "-", "-C", path], stdin=tar_bytes)

    def clear(self, path: str) -> None:
        self._exec(["find", path, "-mindepth", "1", "-delete"])

    def checksums(self, path: str) -> dict[str, str]:
        out = self._exec(["sh", "-c", f"cd {path} && find . -type f -exec sha256sum {{}} +"]).decode()
        sums = {}
        for line in out.splitlines():
            digest, name = line.split(maxsplit=1)
            sums[name.strip().removeprefix("./")] = digest
        return sums


class PodCommandFailed(Exception):
    """A command in the pod exited non-zero (the drill fails; the DR environment is wrong)."""
