"""Long steps show one progress line on a terminal and nothing in CI logs or pipes."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from pytest_kosmos_dr.progress import ProgressLine, wanted
from pytest_kosmos_dr.sandbox.manager import _last_step


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        raise OSError("no real terminal")


def test_a_terminal_sees_one_line_rewritten_and_cleared(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("KOSMOS_DR_NO_PROGRESS", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    terminal = FakeTerminal()
    with ProgressLine("starting the sandbox", terminal) as line:
        line.update("starting aws")
        line.update("seeding production")
    text = terminal.getvalue()
    assert "\n" not in text and text.count("\r") >= 4
    assert "starting the sandbox: seeding production (0 s)" in text
    assert text.endswith("\r") and text.rstrip("\r").endswith(" " * len("starting the sandbox: seeding production (0 s)"))


@pytest.mark.parametrize("env", [{"CI": "true"}, {"KOSMOS_DR_NO_PROGRESS": "1"}, {"TERM": "dumb"}])
def test_ci_logs_and_dumb_terminals_stay_quiet(monkeypatch, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    terminal = FakeTerminal()
    with ProgressLine("restoring", terminal) as line:
        line.update("step")
    assert terminal.getvalue() == ""


def test_a_pipe_stays_quiet(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert not wanted(io.StringIO())


def test_the_step_is_the_daemons_last_log_line(tmp_path):
    log = tmp_path / "sandbox.log"
    log.write_text("old run\n2026-11-30 10:00:00,000 INFO starting kube\n")
    offset = log.stat().st_size
    assert _last_step(log, offset) == ""  # nothing this run logged yet
    with log.open("a") as handle:
        handle.write("2026-11-30 10:00:01,000 INFO starting aws\n2026-11-30 10:00:02,000 WARNING slow disk\n")
    assert _last_step(log, offset) == "starting aws"


def _on_a_terminal(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal as stdin, stdout and stderr; (exit code, what it showed)."""
    main, child = pty.openpty()

    def controlling_terminal():  # as a login shell has it: /dev/tty is this pty
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(argv, stdin=child, stdout=child, stderr=child, env=env, cwd=cwd, close_fds=True,
                               preexec_fn=controlling_terminal)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=300)
    os.close(main)
    return process.returncode, b"".join(chunks).decode(errors="replace")


@pytest.mark.skipif(sys.platform != "linux", reason="pty")
@pytest.mark.slow  # its run starts a sandbox of its own
def test_a_run_that_starts_its_sandbox_shows_progress_on_a_terminal(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "KOSMOS_DR_SANDBOX_DIR": str(tmp_path / "none-running"), "TERM": "xterm"}
    env.pop("CI", None)
    code, shown = _on_a_terminal([sys.executable, "-m", "pytest", str(repo / "suites" / "test_dr_cluster.py"), "-q",
                                  "-p", "no:cacheprovider", "-k", "node_is_ready", "--rootdir", str(repo),
                                  "--dr-scorecard", str(tmp_path / "card.json")], env, cwd=tmp_path)
    assert "\rstarting the sandbox for sandbox: starting " in shown, shown
    assert " passed" in shown, shown


@pytest.mark.skipif(sys.platform != "linux", reason="pty")
@pytest.mark.slow  # starts a sandbox of its own
def test_sandbox_up_on_a_terminal_shows_progress_and_in_a_pipe_does_not(tmp_path):
    """`kosmos-dr sandbox up` under a pseudo-terminal prints progress lines; piped (CI) output has none."""
    state = tmp_path / "sbx"
    env = {**os.environ, "KOSMOS_DR_SANDBOX_DIR": str(state), "TERM": "xterm"}
    env.pop("CI", None)
    cli = [sys.executable, "-m", "pytest_kosmos_dr.cli", "sandbox"]
    try:
        code, shown = _on_a_terminal([*cli, "up"], env)
        assert code == 0, shown
        assert "\rstarting the sandbox: starting " in shown and "sandbox started" in shown
        piped = subprocess.run([*cli, "status"], env={**env, "CI": "true"}, capture_output=True, text=True, timeout=60)
        assert "\r" not in piped.stdout + piped.stderr
    finally:
        subprocess.run([*cli, "down"], env=env, capture_output=True, timeout=120)


def test_a_restore_shows_the_instance_status_while_it_waits(monkeypatch):
    import contextlib

    from pytest_kosmos_dr.drills import database_restore

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("KOSMOS_DR_NO_PROGRESS", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    screen = FakeTerminal()
    monkeypatch.setattr(database_restore, "terminal", lambda: contextlib.nullcontext(screen))
    monkeypatch.setattr(database_restore, "POLL_S", 0)
    statuses = iter(["creating", "backing-up", "available"])

    class Rds:
        def describe_db_instances(self, DBInstanceIdentifier):
            status = next(statuses)
            return {"DBInstances": [{"DBInstanceStatus": status, "Endpoint": {"Address": "h"} if status == "available"
                                     else None}]}

    from datetime import timedelta

    database_restore.wait_available(Rds(), "kosmos-dr-restore-1", timedelta(minutes=1))
    assert "restoring kosmos-dr-restore-1: status creating" in screen.getvalue()
    assert "restoring kosmos-dr-restore-1: status backing-up" in screen.getvalue()
