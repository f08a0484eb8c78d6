"""``pods/exec``: real commands, each pod confined to its own root folder, over WebSocket.

Confinement ("namespaces", used when we are root and ``unshare`` works): the command runs in
fresh mount, UTS, IPC and PID namespaces, chrooted into ``<data_dir>/pods/<ns>/<pod>/`` with the
host's ``/usr`` (and ``/bin``, ``/lib``... when they are not symlinks) bind-mounted read-only, a
private ``/proc``, a ``/dev`` holding only null/zero/random/urandom/full, and a minimal ``/etc``.
The bind mounts live only in the command's mount namespace and vanish when it ends.

This keeps commands inside the pod's files (``/var/lib/agent/state`` is the pod's, not the
host's); it is not a security boundary (the command is still root and could escape a chroot).

Fallback ("cwd", when namespaces are unavailable): the command runs on the host with its working
directory in the pod root and absolute arguments that name a pod path rewritten into the pod root.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Awaitable, Callable

from aiohttp import WSMsgType, web

EXEC_TIMEOUT_S = 300.0
PROBE_TIMEOUT_S = 10.0
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
STREAM_STDIN, STREAM_STDOUT, STREAM_STDERR, STREAM_ERROR, STREAM_RESIZE, STREAM_CLOSE = 0, 1, 2, 3, 4, 255
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_CONFINE_SCRIPT = r"""
set -e
R=$1; H=$2; WD=$3; shift 3
for d in usr bin sbin lib lib32 lib64 libx32; do
  if [ -d "/$d" ] && [ ! -L "/$d" ] && [ -d "$R/$d" ] && [ ! -L "$R/$d" ]; then
    mount --bind "/$d" "$R/$d"; mount -o remount,bind,ro "$R/$d"
  fi
done
mount -t proc proc "$R/proc"
mount -t tmpfs -o mode=755,size=64k tmpfs "$R/dev"
for n in null zero random urandom full; do : > "$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"; done
hostname "$H"
exec chroot "$R" /usr/bin/env --chdir="$WD" "$@"
"""


class PodRoots:
    """The per-pod root folders under ``<data_dir>/pods`` and how commands run inside them."""

    def __init__(self, base: Path, exec_timeout: float = EXEC_TIMEOUT_S):
        self.base = Path(base)
        self.exec_timeout = exec_timeout
        self.confinement = "cwd"
        self._unshare = shutil.which("unshare")
        self._created: list[Path] = []

    def root(self, namespace: str, pod: str) -> Path:
        return self.base / namespace / pod

    def prepare(self, namespace: str, pod: str) -> Path:
        """Create a pod root: system mount points, a minimal ``/etc``, ``/tmp``, ``/proc``, ``/dev``."""
        root = self.root(namespace, pod)
        for sub in ("etc", "proc", "dev", "root", "tmp", "var/lib/agent/state"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(root / "tmp", 0o1777)
        for name in SYSTEM_DIRS:
            host, inside = Path("/") / name, root / name
            if inside.exists() or inside.is_symlink() or not host.exists():
                continue
            if host.is_symlink():
                inside.symlink_to(os.readlink(host))
            else:
                inside.mkdir()
        etc = root / "etc"
        (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/usr/sbin/nologin\n")
        (etc / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
        (etc / "hostname").write_text(f"{pod}\n")
        (etc / "hosts").write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{pod}\n")
        if Path("/etc/ld.so.cache").exists():
            shutil.copyfile("/etc/ld.so.cache", etc / "ld.so.cache")
        if root not in self._created:
            self._created.append(root)
        return root

    def remove_all(self) -> None:
        """Remove every pod root this instance prepared."""
        for root in self._created:
            shutil.rmtree(root, ignore_errors=True)
        self._created.clear()

    def probe(self, namespace: str, pod: str) -> str:
        """Pick the confinement: ``namespaces`` if a confined ``true`` runs in this pod root."""
        if self._unshare and os.geteuid() == 0:
            try:
                done = subprocess.run(
                    self._argv(namespace, pod, ["true"], "/"), capture_output=True, timeout=PROBE_TIMEOUT_S,
                    env={"PATH": DEFAULT_PATH},
                )
                if done.returncode == 0:
                    self.confinement = "namespaces"
                    return self.confinement
            except (OSError, subprocess.SubprocessError):
                pass
        self.confinement = "cwd"
        return self.confinement

    def _argv(self, namespace: str, pod: str, command: list[str], workdir: str) -> list[str]:
        return [
            self._unshare or "unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "--kill-child",
            "--propagation", "private", "/bin/sh", "-c", _CONFINE_SCRIPT, "confine",
            str(self.root(namespace, pod)), pod, workdir or "/", *command,
        ]

    def _rewrite(self, root: Path, arg: str) -> str:
        if arg.startswith("/") and len(arg) > 1:
            top = arg.lstrip("/").split("/", 1)[0]
            if top not in SYSTEM_DIRS and (root / top).exists():
                return str(root) + arg
        return arg

    async def spawn(
        self, namespace: str, pod: str, command: list[str], env: dict[str, str], workdir: str, stdin: bool
    ) -> asyncio.subprocess.Process:
        """Start ``command`` in the pod; stdout/stderr are pipes, stdin a pipe if requested."""
        environment = {"PATH": DEFAULT_PATH, "HOSTNAME": pod, "HOME": "/root", **env}
        root = self.root(namespace, pod)
        if self.confinement == "namespaces":
            argv, cwd = self._argv(namespace, pod, command, workdir), None
        else:
            argv = [command[0], *(self._rewrite(root, a) for a in command[1:])]
            cwd = str(root / workdir.lstrip("/")) if (root / workdir.lstrip("/")).is_dir() else str(root)
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment,
            cwd=cwd,
            start_new_session=True,
        )


def kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def exit_status(code: int, command: list[str]) -> dict:
    """What travels on the error stream when the command ends."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command {command}, exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


async def run_over_websocket(
    request: web.Request,
    spawn: Callable[[], Awaitable[asyncio.subprocess.Process]],
    command: list[str],
    *,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    timeout: float,
) -> web.WebSocketResponse:
    """Run a command for a ``v4``/``v5.channel.k8s.io`` client: stream bytes, then the exit status."""
    ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0, autoping=True)
    await ws.prepare(request)
    try:
        proc = await spawn()
    except OSError as exc:
        await ws.send_bytes(bytes([STREAM_ERROR]) + json.dumps({
            "metadata": {}, "status": "Failure", "message": f"failed to start {command}: {exc}",
            "reason": "InternalError",
        }).encode())
        await ws.close()
        return ws
    if stdout:
        await ws.send_bytes(bytes([STREAM_STDOUT]))

    async def pump(stream: asyncio.StreamReader, channel: int, forward: bool) -> None:
        while chunk := await stream.read(32768):
            if forward and not ws.closed:
                await ws.send_bytes(bytes([channel]) + chunk)

    async def feed() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, data = msg.data[0], msg.data[1:]
            if channel == STREAM_STDIN and proc.stdin is not None and not proc.stdin.is_closing():
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    proc.stdin.write(data)
                    await proc.stdin.drain()
            elif channel == STREAM_CLOSE and data[:1] == bytes([STREAM_STDIN]) and proc.stdin is not None:
                proc.stdin.close()
        # the client went away: nobody will read the output any more
        if proc.returncode is None:
            kill(proc)

    feeder = asyncio.create_task(feed())
    pumps = asyncio.gather(pump(proc.stdout, STREAM_STDOUT, stdout), pump(proc.stderr, STREAM_STDERR, stderr))
    try:
        await asyncio.wait_for(asyncio.shield(pumps), timeout)
        code = await asyncio.wait_for(proc.wait(), 10)
    except asyncio.TimeoutError:
        kill(proc)
        with contextlib.suppress(Exception):
            await ws.send_bytes(bytes([STREAM_STDERR]) + f"sandbox: command timed out after {timeout:g}s\n".encode())
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pumps, 5)
        code = await proc.wait()
        code = code if code > 0 else 137
    if proc.stdin is not None and not proc.stdin.is_closing():
        proc.stdin.close()
    if not ws.closed:
        await ws.send_bytes(bytes([STREAM_ERROR]) + json.dumps(exit_status(code, command)).encode())
        await ws.close()
    feeder.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await feeder
    return ws
