"""The sandbox process: starts every component, publishes their endpoints, stops them all.

Run as ``python -m pytest_kosmos_dr.sandbox.daemon --state-dir DIR [--owner-pid PID]
[--outage primary-region [--outage-mode 503|reset|timeout] [--outage-hold S]]``. It stops
on SIGTERM/SIGINT, on ``POST /_sandbox/shutdown``, or when its owner process is gone, and always
removes the servers and data folders it created.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from ..timeparse import isoformat, utcnow
from . import AGENTS
from .component import SandboxContext
from .dr_database import SCALE_ENV, SCALES, current_scale

log = logging.getLogger("kosmos_dr.sandbox")
STATE_FILE = "sandbox.json"
ENV_FILE = "sandbox.env"
ERROR_FILE = "startup-error.txt"
OUTAGES = {"primary-region": "primary-region-outage"}  # --outage scenario -> the fault that plays it


def build_components() -> list:
    """The sandbox's parts, in start order (later parts may read earlier parts' state)."""
    from .aws.component import AwsComponent
    from .config_mirror import ConfigMirrorComponent
    from .grafana import GrafanaComponent
    from .kosmos_api import KosmosApiComponent
    from .kube.component import DRClusterComponent
    from .status_page import StatusPageComponent

    # AwsComponent creates production, plays the incident and publishes the promoted replica as
    # ctx.state["database"], which the API stand-in reads: it comes first. The config mirror
    # needs both the bucket and the config repository: it comes last.
    return [AwsComponent(), KosmosApiComponent(), GrafanaComponent(), StatusPageComponent(),
            DRClusterComponent(), ConfigMirrorComponent()]


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _env_file(env: dict[str, str]) -> str:
    import shlex

    lines = ["# kosmos-dr sandbox: `source` this file to point psql, curl, aws and kubectl at it"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    return "\n".join(lines) + "\n"


KEPT_FILES = {"sandbox.log", ".lock", ERROR_FILE}  # the log tells what happened; the lock file is shared


def _remove_created(state_dir: Path, found_at_start: set[Path]) -> None:
    """Remove what the components wrote into the state folder (kubeconfig, config repo, databases)."""
    for path in state_dir.iterdir():
        if path in found_at_start or path.name in KEPT_FILES:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


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
              outage_mode: str | None = None, outage_hold_s: float | None = None) -> int:
    state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(state_dir, 0o700)
    (state_dir / ERROR_FILE).unlink(missing_ok=True)
    found_at_start = set(state_dir.iterdir())  # what was there before us stays; what we add goes
    data_dir = Path(tempfile.mkdtemp(prefix="kosmos-dr-sandbox-"))
    ctx = SandboxContext(state_dir=state_dir, data_dir=data_dir)
    ctx.state.update(
        pid=os.getpid(), state_dir=str(state_dir), data_dir=str(data_dir), started_at=isoformat(utcnow()),
        agents=list(AGENTS), incident={"start": isoformat(utcnow())}, scale=scale,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    control = None
    code = 0
    try:
        for component in build_components():
            ctx.components[component.name] = component
            log.info("starting %s", component.name)
            await component.start(ctx)
        from .evidence_files import post_update_if_due, write_evidence

        ctx.state["evidence"] = write_evidence(state_dir, ctx.state["incident"]["start"])
        faults = {f.name: f for c in ctx.components.values() if hasattr(c, "faults") for f in c.faults()}
        from .control import ControlServer

        def persist() -> None:  # sandbox.json follows applied faults (the outage) while the sandbox runs
            if not stop.is_set() and (state_dir / STATE_FILE).exists():
                _write_private(state_dir / STATE_FILE, json.dumps(ctx.state, indent=2, default=str))

        control = ControlServer(ctx, faults, stop, on_change=persist)
        await control.start()
        if outage:
            ctx.components["aws"].moto.outage.configure(outage_mode, outage_hold_s)
            log.info("playing the %s outage (mode %s)", outage, outage_mode or "503")
            await control.apply(OUTAGES[outage])
        ctx.state["ready_at"] = isoformat(utcnow())
        _write_private(state_dir / ENV_FILE, _env_file(ctx.env))
        _write_private(state_dir / STATE_FILE, json.dumps(ctx.state, indent=2, default=str))
        log.info("sandbox ready")
        while not stop.is_set():
            post_update_if_due(ctx.state["evidence"]["incident_record"])  # the incident commander's 20-min updates
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
        for component in reversed(list(ctx.components.values())):  # a half-started one too
            try:
                await component.stop()
            except Exception as exc:  # keep stopping the others
                log.error("stopping %s failed: %s", component.name, exc)
        shutil.rmtree(data_dir, ignore_errors=True)
        from .evidence_files import remove_evidence

        remove_evidence(state_dir)
        _remove_created(state_dir, found_at_start)
        log.info("sandbox stopped")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kosmos-dr-sandbox")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--owner-pid", type=int, default=None)
    parser.add_argument("--scale", choices=sorted(SCALES), default=None,
                        help=f"size of the seeded environment (default: ${SCALE_ENV} or 'default')")
    parser.add_argument("--outage", choices=sorted(OUTAGES), default=None,
                        help="start with this region lost (primary-region: us-east-1)")
    parser.add_argument("--outage-mode", choices=("503", "reset", "timeout"), default=None,
                        help="how a client of the lost region's AWS API sees it (default 503)")
    parser.add_argument("--outage-hold", type=float, default=None,
                        help="timeout mode: seconds a request is held before the connection is reset")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    if args.scale:  # the components read it from the environment (current_scale())
        os.environ[SCALE_ENV] = args.scale
    scale = current_scale().name
    return asyncio.run(run(args.state_dir.resolve(), args.owner_pid, scale, args.outage, args.outage_mode,
                           args.outage_hold))


if __name__ == "__main__":
    sys.exit(main())
