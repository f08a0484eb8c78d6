"""The sandbox process: starts every component, publishes their endpoints, stops them all.

Run as ``python -m pytest_kosmos_dr.sandbox.daemon --state-dir DIR [--owner-pid PID]
[--layout default|alternate] [--outage primary-region [--outage-mode 503|reset|timeout] [--outage-hold S]]
[--incident-after S] [--manual-failover] [--latency-ms MS]``.
The layout (sandbox/layout.py) gives every name the sandbox serves; ``sandbox.json`` records it. It stops
on SIGTERM/SIGINT, on ``POST /_sandbox/shutdown``, or when its owner process is gone, and always
removes the servers and data folders it created. A watchdog process (``--watchdog``, its own session)
outlives a SIGKILLed daemon (the out-of-memory killer) and then stops its PostgreSQL servers and
removes its data folder, socket folder and what it wrote into the state folder.
With ``--latency-ms`` every published endpoint is served through a delaying proxy (sandbox/latency.py):
``sandbox.json``, ``sandbox.env`` and the kubeconfig name the proxies; components talk to each other directly.

The state folder may be shared (``--state-dir``, ``$KOSMOS_DR_SANDBOX_DIR``): the sandbox changes the
mode of a folder only when it created it, and removes only the files it writes (``SANDBOX_FILES``)
that were not there before it started.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import fcntl
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from . import SANDBOX_LAYOUTS
from ..timeparse import isoformat, utcnow
from . import AGENTS, layout_target_name
from .component import SandboxContext
from .dr_database import SCALE_ENV, SCALES, current_scale
from .manager import ENV_FILE, ERROR_FILE, STATE_FILE  # the files the manager reads

log = logging.getLogger("kosmos_dr.sandbox")
OUTAGES = {"primary-region": "primary-region-outage"}  # --outage scenario -> the fault that plays it


def build_components(incident_after: float | None = None, manual_failover: bool = False) -> list:
    """The sandbox's parts, in start order (later parts may read earlier parts' state).

    ``incident_after`` (seconds): ready before the incident, which plays after that delay (None: during
    start); ``manual_failover``: the incident leaves the promotion and the DNS switch to the operator."""
    from .aws.component import AwsComponent
    from .component import LaterComponent

    # AwsComponent creates production, plays the incident and publishes the promoted replica as
    # ctx.state["database"], which the API stand-in reads: it comes first. The config mirror
    # needs both the bucket and the config repository: it comes last. The DR cluster reads nothing of
    # the others: it prepares while the AWS side waits for the incident (start_components). The others'
    # modules load then too (LaterComponent), not before the AWS side starts.
    return [AwsComponent(incident_after, manual_failover), LaterComponent("api", ".kosmos_api", "KosmosApiComponent"),
            LaterComponent("grafana", ".grafana", "GrafanaComponent"),
            LaterComponent("status_page", ".status_page", "StatusPageComponent"),
            LaterComponent("kubernetes", ".kube.component", "DRClusterComponent"),
            LaterComponent("config_mirror", ".config_mirror", "ConfigMirrorComponent")]


async def start_components(ctx: SandboxContext, components: list, begun: set[str]) -> None:
    """Start ``components`` in order; each one's ``prepare`` (if it has one: work that reads nothing of
    another component) runs concurrently with the earlier ones' start, once that start waits on the clock
    alone (``ctx.lull``: the production workload before the incident), or at its turn.

    ``ctx.components`` lists them all in order at once; ``begun`` gets the name of each whose prepare or
    start ran (what a stop must undo). After a failure the preparations under way are waited for (they
    are bounded), so that stopping finds nothing half-written, and those not begun are dropped."""
    for component in components:
        ctx.components[component.name] = component

    async def prepare(component) -> None:
        await ctx.lull.wait()
        begun.add(component.name)
        await component.prepare(ctx)

    preparing = {c.name: asyncio.create_task(prepare(c), name=f"prepare {c.name}")
                 for c in components if hasattr(c, "prepare")}
    try:
        for component in components:
            if component.name in preparing:
                ctx.lull.set()  # its turn: the earlier ones have started
                await preparing[component.name]
            begun.add(component.name)
            log.info("starting %s", component.name)
            await component.start(ctx)
    finally:  # after a failure: preparations not begun never begin; those begun finish
        for name, task in preparing.items():
            if name not in begun:
                task.cancel()
        await asyncio.gather(*preparing.values(), return_exceptions=True)


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


# the names the plan's commands use (``psql -h $DB_HOST -U $DB_USER``), beside libpq's own
PLAN_NAMES = {"DB_HOST": "PGHOST", "DB_PORT": "PGPORT", "DB_USER": "PGUSER", "DB_NAME": "PGDATABASE"}


def _env_file(env: dict[str, str]) -> str:
    import shlex

    env = {**{plan: env[libpq] for plan, libpq in PLAN_NAMES.items() if libpq in env}, **env}
    lines = ["# kosmos-dr sandbox: `source` this file to point psql, curl, aws and kubectl at it"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    return "\n".join(lines) + "\n"


KEPT_FILES = {"sandbox.log", ".lock", ERROR_FILE}  # the log tells what happened; the lock file is shared
# every name the sandbox and its components write into the state folder (kept files aside); nothing
# else there is ours to remove, whoever put it there and whenever
SANDBOX_FILES = (
    STATE_FILE, ENV_FILE, "kubeconfig", "kube-ca.crt", "config-repo", "config-mirror.bundle",
    "grafana.db", "prometheus.db", "incident-record.json", "previous-incident-record.json", "drill-ledger.jsonl",
    "sandbox-ca.crt", "sandbox-ca-bundle.crt",
)
_SIDE_SUFFIXES = (".tmp", "-journal", "-wal", "-shm")  # atomic writes, SQLite's side files


def _created_names(state_dir: Path) -> list[str]:
    """The sandbox's file names not present in ``state_dir`` now (before it starts): those it may remove.

    A leftover ``sandbox.json`` (its sandbox is dead: the starter checked) marks the files present as
    that sandbox's leftovers: they are ours too."""
    names = [name + suffix for name in SANDBOX_FILES for suffix in ("", *_SIDE_SUFFIXES)]
    if (state_dir / STATE_FILE).is_file():
        return names
    return [name for name in names if not os.path.lexists(state_dir / name)]


def _remove_created(state_dir: Path, created: list[str]) -> None:
    """Remove what the sandbox wrote into the state folder (kubeconfig, config repo, databases), only that."""
    for name in created:
        path = state_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                path.unlink()
            except (FileNotFoundError, IsADirectoryError, PermissionError):
                pass


# -- the watchdog: what a SIGKILLed daemon cannot remove itself ----------------------------------------
CLEAN_EXIT = b"x"  # written to the watchdog's pipe by a daemon that removed everything itself


def _start_watchdog(state_dir: Path, data_dir: Path, socket_root: Path, created: list[str]) -> int:
    """Start the watchdog; returns the write end of its pipe (the daemon's end: EOF means it is gone)."""
    read_fd, write_fd = os.pipe()  # both non-inheritable: pg_ctl and other children never hold the write end
    cmd = [sys.executable, "-m", "pytest_kosmos_dr.sandbox.daemon", "--watchdog",
           "--pipe-fd", str(read_fd), "--daemon-pid", str(os.getpid()), "--state-dir", str(state_dir),
           "--data-dir", str(data_dir), "--socket-root", str(socket_root)]
    cmd += [arg for name in created for arg in ("--created", name)]
    try:
        subprocess.Popen(cmd, pass_fds=(read_fd,), stdin=subprocess.DEVNULL, start_new_session=True, cwd="/")
    finally:
        os.close(read_fd)
    return write_fd


def watchdog(pipe_fd: int, daemon_pid: int, state_dir: Path, data_dir: Path, socket_root: Path,
             created: list[str]) -> int:
    """Wait until the daemon's end of the pipe closes; unless it stopped cleanly, remove what it left."""
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)  # only the daemon's end decides
    received = b""
    while chunk := os.read(pipe_fd, 16):
        received += chunk
    if CLEAN_EXIT in received:
        return 0
    from .postgres import stop_servers_under

    log.warning("sandbox daemon %s is gone without stopping: stopping its PostgreSQL servers", daemon_pid)
    for folder in stop_servers_under(data_dir):
        log.warning("stopped the PostgreSQL server of %s", folder)
    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.rmtree(socket_root, ignore_errors=True)
    try:  # a sandbox starting in the same folder holds the lock; once it is ready the folder is its
        handle = open(state_dir / ".lock", "a")
    except OSError:
        return 0
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            owner = json.loads((state_dir / STATE_FILE).read_text()).get("pid")
        except (OSError, ValueError, AttributeError):
            owner = daemon_pid
        if owner == daemon_pid:
            _remove_created(state_dir, created)
        log.warning("removed what sandbox daemon %s left", daemon_pid)
    return 0


def _owner_alive(pid: int | None) -> bool:
    if not pid:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def run(state_dir: Path, owner_pid: int | None, scale: str = "default", outage: str | None = None,
              outage_mode: str | None = None, outage_hold_s: float | None = None, layout: str = "default",
              incident_after: float | None = None, manual_failover: bool = False, latency_ms: float = 0) -> int:
    from .layout import layout_named

    served = layout_named(layout)
    if not state_dir.exists():
        state_dir.mkdir(parents=True, mode=0o700)  # ours: private; an existing folder keeps its mode
    (state_dir / ERROR_FILE).unlink(missing_ok=True)
    created = _created_names(state_dir)  # what was there before us stays; what we write goes
    from .postgres import remove_socket_root, socket_root

    try:
        sockets = socket_root()  # short socket paths, checked before anything starts
    except Exception as exc:  # noqa: BLE001 - one line for the starter
        (state_dir / ERROR_FILE).write_text(f"{exc}".splitlines()[0] + "\n")
        log.error("sandbox failed to start: %s", exc)
        return 1
    from .postgres import new_data_folder

    data_dir = new_data_folder(scale)
    watchdog_fd = _start_watchdog(state_dir, data_dir, sockets, created)
    ctx = SandboxContext(state_dir=state_dir, data_dir=data_dir, layout=served)
    ctx.state.update(
        pid=os.getpid(), state_dir=str(state_dir), data_dir=str(data_dir), socket_dir=str(sockets),
        started_at=isoformat(utcnow()), agents=list(AGENTS), incident={"start": isoformat(utcnow())}, scale=scale,
        layout=served.name,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    control = None
    proxies = None  # the latency proxies (None: no added latency, nothing in between)
    code = 0

    def write_files() -> None:
        """sandbox.env and sandbox.json as clients see the sandbox (behind the latency proxies, if any)."""
        state, env = proxies.published(ctx.state, ctx.env) if proxies is not None else (ctx.state, ctx.env)
        _write_private(state_dir / ENV_FILE, _env_file(env))
        _write_private(state_dir / STATE_FILE, json.dumps(state, indent=2, default=str))

    begun: set[str] = set()  # components whose prepare or start ran: those to stop
    try:
        await start_components(ctx, build_components(incident_after, manual_failover), begun)
        if latency_ms > 0:
            from .latency import LatencyProxies

            proxies = LatencyProxies(latency_ms / 1000)
            await proxies.wrap(ctx)
            log.info("every published endpoint answers %g ms late (%d proxies)", latency_ms, len(proxies.proxies))
        else:
            ctx.state["latency"] = {"ms": 0}
        from .evidence_files import post_update_if_due, write_evidence

        def record_incident() -> None:  # the incident's evidence exists once the incident has begun
            start = (ctx.state.get("incident") or {}).get("start")
            if start and "evidence" not in ctx.state:
                ctx.state["evidence"] = write_evidence(state_dir, start, target=layout_target_name(served.name),
                                                       layout=served)

        faults = {f.name: f for c in ctx.components.values() if hasattr(c, "faults") for f in c.faults()}
        from .control import ControlServer

        def persist() -> None:  # sandbox.json and .env follow faults and the incident while the sandbox runs
            if not stop.is_set() and (state_dir / STATE_FILE).exists():
                record_incident()
                write_files()

        control = ControlServer(ctx, faults, stop, on_change=persist, latency=proxies)
        await control.start()
        ctx.components["aws"].on_change = persist
        if outage:
            ctx.components["aws"].moto.outage.configure(outage_mode, outage_hold_s)
            log.info("playing the %s outage (mode %s)", outage, outage_mode or "503")
            await control.apply(OUTAGES[outage])
        ctx.components["aws"].arm_incident()  # a deferred incident's delay runs from here: ready first
        record_incident()
        ctx.state["ready_at"] = isoformat(utcnow())
        write_files()
        log.info("sandbox ready")
        # What the start built (moto's models and seeded state, the cluster's objects) lives as long as the
        # sandbox: left out of cycle collections, which otherwise walk all of it while serving a listing
        # (reference counting still frees it).
        gc.freeze()
        while not stop.is_set():
            # the incident commander's 20-min updates
            if "evidence" in ctx.state:
                post_update_if_due(ctx.state["evidence"]["incident_record"], layout=served)
            if not _owner_alive(owner_pid):
                log.info("owner process %s is gone; stopping", owner_pid)
                break
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                pass
    except Exception as exc:  # reported to the starter through ERROR_FILE, one line
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        (state_dir / ERROR_FILE).write_text(message + "\n")
        log.error("sandbox failed to start: %s", message)
        code = 1
    finally:
        (state_dir / STATE_FILE).unlink(missing_ok=True)
        (state_dir / ENV_FILE).unlink(missing_ok=True)
        if control is not None:
            await control.stop()
        if proxies is not None:
            await proxies.stop()
        for component in reversed([c for c in ctx.components.values() if c.name in begun]):  # a half-started one too
            began = loop.time()
            try:
                await component.stop()
            except Exception as exc:  # keep stopping the others
                log.error("stopping %s failed: %s", component.name, exc)
            log.info("stopped %s in %.1f s", component.name, loop.time() - began)
        shutil.rmtree(data_dir, ignore_errors=True)
        remove_socket_root()
        _remove_created(state_dir, created)
        os.write(watchdog_fd, CLEAN_EXIT)
        os.close(watchdog_fd)
        log.info("sandbox stopped")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kosmos-dr-sandbox")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--watchdog", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pipe-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--daemon-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--socket-root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--created", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--owner-pid", type=int, default=None)
    parser.add_argument("--scale", choices=sorted(SCALES), default=None,
                        help=f"size of the seeded environment (default: ${SCALE_ENV} or 'default')")
    parser.add_argument("--layout", choices=list(SANDBOX_LAYOUTS), default="default",
                        help="the names and contracts the sandbox serves (sandbox/layout.py)")
    parser.add_argument("--outage", choices=sorted(OUTAGES), default=None,
                        help="start with this region lost (primary-region: the layout's primary region)")
    parser.add_argument("--outage-mode", choices=("503", "reset", "timeout"), default=None,
                        help="how a client of the lost region's AWS API sees it (default 503)")
    parser.add_argument("--outage-hold", type=float, default=None,
                        help="timeout mode: seconds a request is held before the connection is reset")
    parser.add_argument("--incident-after", type=float, default=None, metavar="SECONDS",
                        help="ready before the incident (production live, the workload writing); the incident "
                             "plays after this delay (default: during start)")
    parser.add_argument("--manual-failover", action="store_true",
                        help="the incident fails the primary region; promoting the replica and the DNS switch "
                             "are the operator's (scripts/failover-to-dr.sh)")
    parser.add_argument("--latency-ms", type=float, default=0, metavar="MS",
                        help="added round trip on every published endpoint (sandbox/latency.py; 0: none)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    if args.watchdog:
        return watchdog(args.pipe_fd, args.daemon_pid, args.state_dir, args.data_dir, args.socket_root,
                        args.created)
    if args.scale:  # the components read it from the environment (current_scale())
        os.environ[SCALE_ENV] = args.scale
    scale = current_scale().name
    # The start allocates moto's models and the seeded state, nearly all of it kept: the cycle collector
    # runs less often while it grows (its full walks of that heap cost the start's CPU), and what the
    # start built is frozen once the sandbox is ready (``run``).
    gc.set_threshold(50_000, 10, 10)  # heap.RUN_THRESHOLDS' numbers: the sandbox does not import the core
    return asyncio.run(run(args.state_dir.resolve(), args.owner_pid, scale, args.outage, args.outage_mode,
                           args.outage_hold, args.layout, args.incident_after, args.manual_failover,
                           args.latency_ms))


if __name__ == "__main__":
    exit_code = main()
    # everything is stopped and removed (run's finally): the process leaves without the interpreter's
    # teardown of moto's and the servers' heap, which took ~1.2 s after "sandbox stopped" (measured) while
    # `sandbox down`, a run or a test waited for the process to end
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
