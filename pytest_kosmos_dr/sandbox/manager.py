"""Start, find, stop and talk to a sandbox from the outside (CLI, plugin, tests).

A sandbox lives in a *state folder*: ``sandbox.json`` (endpoints and credentials, mode 0600; its
``layout`` names the sandbox layout served), ``sandbox.env`` (the same as shell exports) and
``sandbox.log``. The default folder is
``$KOSMOS_DR_SANDBOX_DIR``, else ``$XDG_STATE_HOME/kosmos-dr/sandbox`` (``~/.local/state/...``).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SandboxError

START_TIMEOUT_S = 90
SCALED_START_TIMEOUT_S = 1200  # seeding millions of rows takes minutes, not seconds
STOP_TIMEOUT_S = 120  # removing a drilled sandbox's data (600 MB) takes tens of seconds on a busy disk
CONTROL_TIMEOUT_S = 10
LOG_FILE = "sandbox.log"
STATE_FILE = "sandbox.json"  # what the daemon writes to its state folder once every part answers
ENV_FILE = "sandbox.env"
ERROR_FILE = "startup-error.txt"  # its one-line reason when it could not start
DAEMON_MODULE = "pytest_kosmos_dr.sandbox.daemon"


def default_state_dir() -> Path:
    explicit = os.environ.get("KOSMOS_DR_SANDBOX_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kosmos-dr" / "sandbox"


@dataclass(frozen=True)
class RunningSandbox:
    """A sandbox that answered: its folder and what ``sandbox.json`` says."""

    state_dir: Path
    state: dict[str, Any]

    @property
    def pid(self) -> int:
        return int(self.state["pid"])

    @property
    def env_file(self) -> Path:
        return self.state_dir / ENV_FILE

    @property
    def latency_ms(self) -> float:
        """The round trip added to every published endpoint (``sandbox up --latency``); 0: none."""
        return float((self.state.get("latency") or {}).get("ms") or 0)

    @property
    def layout(self) -> str:
        """The sandbox layout it serves (sandbox/layout.py); sandboxes older than layouts served the default."""
        return str(self.state.get("layout") or "default")

    def secrets(self) -> list[str]:
        """Every credential the sandbox handed out (for redaction)."""
        found = []
        for section in self.state.values():
            if isinstance(section, dict):
                found += [str(v) for k, v in section.items() if k in ("password", "token", "secret_access_key") and v]
        return found

    # -- control endpoint -------------------------------------------------------------------
    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        import httpx

        control = self.state["control"]
        try:
            response = httpx.request(
                method, control["url"] + path, timeout=CONTROL_TIMEOUT_S, json=body,
                headers={"Authorization": f"Bearer {control['token']}"},
            )
        except httpx.HTTPError as exc:
            raise SandboxError(f"sandbox control endpoint did not answer: {type(exc).__name__}") from None
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code >= 400:
            raise SandboxError(body.get("error") or f"sandbox control answered HTTP {response.status_code}")
        return body

    def apply_fault(self, name: str) -> dict[str, Any]:
        return self.control("POST", f"/_sandbox/faults/{name}")

    def revert_fault(self, name: str) -> dict[str, Any]:
        return self.control("DELETE", f"/_sandbox/faults/{name}")

    def requests(self) -> list[dict[str, Any]]:
        """What the sandbox's services received (see ``request_log``)."""
        return self.control("GET", "/_sandbox/requests")["items"]

    def clear_requests(self) -> None:
        self.control("DELETE", "/_sandbox/requests")

    def faults(self) -> list[dict[str, Any]]:
        return self.control("GET", "/_sandbox/faults")["items"]

    def latency_counts(self) -> dict[str, dict[str, int]]:
        """Per latency proxy: connections and round trips (client turns) so far; {} without added latency."""
        return (self.control("GET", "/_sandbox/status").get("latency") or {}).get("proxies") or {}

    def outage(self) -> dict[str, Any] | None:
        """The played regional outage (region, mode, how each client sees it), or None."""
        return self.control("GET", "/_sandbox/status").get("outage")

    def incident(self) -> dict[str, Any]:
        """The incident as the sandbox plays it now: ``state`` scheduled | primary failed | failed over,
        ``scheduled_at``, ``start``, ``failover`` (automatic | manual), ``failover_at``, ... and the workload."""
        answer = self.control("GET", "/_sandbox/status")
        return {**(answer.get("incident") or {}), "workload": answer.get("workload")}

    def start_incident(self) -> dict[str, Any]:
        """Play the scheduled incident now; returns the incident (unchanged once it has happened)."""
        return self.control("POST", "/_sandbox/incident")["incident"]

    def set_outage_mode(self, mode: str | None = None, hold_s: float | None = None) -> dict[str, Any]:
        """How the lost region's AWS API answers: ``503`` (default), ``reset`` or ``timeout`` (held ``hold_s``)."""
        return self.control("PUT", "/_sandbox/outage", {"mode": mode, "hold_s": hold_s})


def _pid_is_sandbox(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc: trust the pid
    return DAEMON_MODULE in cmdline


def find_running(state_dir: Path | None = None) -> RunningSandbox | None:
    """The sandbox whose folder is ``state_dir`` if its process is alive, else None."""
    state_dir = Path(state_dir or default_state_dir())
    path = state_dir / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not _pid_is_sandbox(int(state.get("pid", 0))):
        return None
    from ..redaction import hide_secrets

    hide_secrets(state)  # its secrets print masked wherever the state is shown
    return RunningSandbox(state_dir, state)


@contextmanager
def _locked(state_dir: Path):
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(state_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


OUTAGES = ("primary-region",)
MAX_LATENCY_MS = 10_000
MAX_INCIDENT_AFTER_S = 7 * 86400


def _check_incident_plan(running: RunningSandbox, incident_after: float | None, manual_failover: bool) -> None:
    """A running sandbox serves a deferred or manual incident only if it was started to play it that way."""
    incident = running.state.get("incident") or {}
    wanted = "manual" if manual_failover else "automatic"
    if incident_after is not None and incident.get("state") != "scheduled":
        raise SandboxError(f"the sandbox running in {running.state_dir} has played its incident already: "
                           "`kosmos-dr sandbox down` first")
    if incident.get("failover", "automatic") != wanted:
        raise SandboxError(f"the sandbox running in {running.state_dir} plays an {incident.get('failover', 'automatic')}"
                           f" failover, not a {wanted} one: `kosmos-dr sandbox down` first")
OUTAGE_MODES = ("503", "reset", "timeout")


class LayoutMismatch(SandboxError):
    """The running sandbox serves another layout than the one asked for."""

    def __init__(self, state_dir: Path, running: str, wanted: str) -> None:
        self.state_dir, self.running, self.wanted = state_dir, running, wanted
        super().__init__(f"the sandbox running in {state_dir} serves layout {running!r}, not {wanted!r}: stop it "
                         f"(kosmos-dr sandbox down) or use another --state-dir")


class LatencyMismatch(SandboxError):
    """The running sandbox adds another latency than the one asked for."""

    def __init__(self, state_dir: Path, running_ms: float, wanted_ms: float) -> None:
        self.state_dir, self.running_ms, self.wanted_ms = state_dir, running_ms, wanted_ms
        super().__init__(f"the sandbox running in {state_dir} adds {running_ms:g} ms latency, not {wanted_ms:g} ms: "
                         f"stop it (kosmos-dr sandbox down) or use another --state-dir")


def start(state_dir: Path | None = None, *, owner_pid: int | None = None,
          timeout: float | None = None, scale: str | None = None, outage: str | None = None,
          outage_mode: str | None = None, outage_hold_s: float | None = None,
          layout: str | None = None, incident_after: float | None = None,
          manual_failover: bool = False, latency_ms: float | None = None,
          progress=None) -> tuple[RunningSandbox, bool]:
    """Reuse the sandbox in ``state_dir`` or start one; returns (sandbox, started_by_us).

    ``layout`` (``default``, ``alternate``: sandbox/layout.py) names what a new sandbox serves; a
    running one is reused only if it serves that layout (else ``LayoutMismatch``); None takes any
    running one and starts the default.
    ``scale`` (``default``, ``large``, ``xlarge``; else ``$KOSMOS_DR_SANDBOX_SCALE``) sizes what a new
    sandbox seeds; a running one is reused whatever its scale (``state["scale"]`` says which).
    ``outage="primary-region"`` starts it with the layout's primary region lost (``outage_mode``
    503|reset|timeout, ``outage_hold_s`` for timeout); a running sandbox is reused only if it plays
    that outage too.
    ``incident_after`` (seconds) makes a new sandbox ready before its incident, which plays after that
    delay (or on ``start_incident()``); ``manual_failover`` leaves the promotion and the DNS switch to the
    operator (``scripts/failover-to-dr.sh`` of the sandbox's KOSMOS checkout). A running sandbox is reused
    for them only if it plays its incident that way and the incident is still to come.
    ``latency_ms`` delays every response of every published endpoint by that much (sandbox/latency.py;
    0: no proxies); a running sandbox is reused only if it adds the same (else ``LatencyMismatch``); None
    takes any running one and starts one without added latency.
    ``progress(step)`` (optional) is called while a new sandbox starts with the step its daemon logged last."""
    from . import SANDBOX_LAYOUTS

    if layout is not None and layout not in SANDBOX_LAYOUTS:
        raise SandboxError(f"unknown sandbox layout {layout!r}; known: {', '.join(SANDBOX_LAYOUTS)}")
    if outage is not None and outage not in OUTAGES:
        raise SandboxError(f"unknown outage {outage!r}; known: {', '.join(OUTAGES)}")
    if incident_after is not None and not (0 <= incident_after <= MAX_INCIDENT_AFTER_S):
        raise SandboxError(f"--incident-after {incident_after:g} s: expected 0 to {MAX_INCIDENT_AFTER_S // 3600} h")
    if outage_mode is not None and outage_mode not in OUTAGE_MODES:
        raise SandboxError(f"unknown outage mode {outage_mode!r}; known: {', '.join(OUTAGE_MODES)}")
    if latency_ms is not None and not (0 <= latency_ms <= MAX_LATENCY_MS):
        raise SandboxError(f"latency {latency_ms:g} ms: expected 0 to {MAX_LATENCY_MS:g} ms")
    state_dir = Path(state_dir or default_state_dir())
    if timeout is None:
        scaled = (scale or os.environ.get("KOSMOS_DR_SANDBOX_SCALE") or "default").strip().lower() != "default"
        timeout = SCALED_START_TIMEOUT_S if scaled else START_TIMEOUT_S
    with _locked(state_dir):
        running = find_running(state_dir)
        if running:
            if layout is not None and running.layout != layout:
                raise LayoutMismatch(state_dir, running.layout, layout)
            if latency_ms is not None and abs(running.latency_ms - latency_ms) > 1e-6:
                raise LatencyMismatch(state_dir, running.latency_ms, latency_ms)
            if outage and not running.state.get("outage"):
                raise SandboxError(f"a sandbox without the {outage} outage is running in {state_dir}: apply it with "
                                   f"`kosmos-dr sandbox fault {outage}-outage`, or `kosmos-dr sandbox down` first")
            if incident_after is not None or manual_failover:
                _check_incident_plan(running, incident_after, manual_failover)
            return running, False
        (state_dir / ERROR_FILE).unlink(missing_ok=True)
        cmd = [sys.executable, "-m", DAEMON_MODULE, "--state-dir", str(state_dir)]
        if owner_pid:
            cmd += ["--owner-pid", str(owner_pid)]
        if scale:
            cmd += ["--scale", scale]
        if layout:
            cmd += ["--layout", layout]
        if outage:
            cmd += ["--outage", outage]
            if outage_mode:
                cmd += ["--outage-mode", outage_mode]
            if outage_hold_s is not None:
                cmd += ["--outage-hold", str(outage_hold_s)]
        if incident_after is not None:
            cmd += ["--incident-after", f"{incident_after:g}"]
        if manual_failover:
            cmd += ["--manual-failover"]
        if latency_ms:
            cmd += ["--latency-ms", f"{latency_ms:g}"]
        with open(state_dir / LOG_FILE, "ab") as log:
            process = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True,
            )
        deadline = time.monotonic() + timeout
        log_at = (state_dir / LOG_FILE).stat().st_size
        while time.monotonic() < deadline:
            running = find_running(state_dir)
            if running:
                return running, True
            if progress is not None:
                progress(_last_step(state_dir / LOG_FILE, log_at))
            if process.poll() is not None:
                error = state_dir / ERROR_FILE
                reason = error.read_text().strip() if error.exists() else f"exited with code {process.returncode}"
                raise SandboxError(f"sandbox failed to start: {reason} (log: {state_dir / LOG_FILE})")
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        raise SandboxError(f"sandbox did not become ready within {timeout:.0f} s (log: {state_dir / LOG_FILE})")


def _last_step(log_file: Path, offset: int) -> str:
    """The message of the daemon's last log line written since ``offset`` ("starting aws", ...)."""
    try:
        with log_file.open("rb") as handle:
            handle.seek(max(offset, log_file.stat().st_size - 4096))
            lines = handle.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        _, sep, message = line.partition(" INFO ")
        if sep and message.strip():
            return message.strip()
    return ""


def stop(state_dir: Path | None = None, *, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop the sandbox in ``state_dir``; returns False when none was running."""
    state_dir = Path(state_dir or default_state_dir())
    running = find_running(state_dir)
    if running is None:
        return False
    try:
        running.control("POST", "/_sandbox/shutdown")
    except SandboxError:
        os.kill(running.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_is_sandbox(running.pid):
            return True
        time.sleep(0.05)
    os.kill(running.pid, signal.SIGKILL)
    raise SandboxError(f"sandbox (pid {running.pid}) did not stop within {timeout:.0f} s; killed it")
