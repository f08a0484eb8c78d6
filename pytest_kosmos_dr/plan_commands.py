"""Run the plan's smoke-test commands (VAL-SMOKE, VAL-AGENT-ROUTING) in a KOSMOS checkout.

The plan says ``pytest tests/integration/smoke_tests.py`` and ``python scripts/test_agent_routing.py
--agent zeus-orchestrator``; the target says where the checkout is and how to run them
(``[targets.NAME.smoke]``). A command is split like a shell would (no shell runs it), its
placeholders filled (``{agent}``, ``{python}`` = this Python), and run in the checkout in its own
process group, bounded by ``smoke.timeout`` (the whole group is killed on timeout).

Its environment: the user's, plus the DR context (``KOSMOS_DR_*``, below), plus ``smoke.env``,
plus ``KOSMOS_API_URL`` and the API token under ``endpoints.api_token_env`` (with
``KOSMOS_API_TOKEN_ENV`` naming that variable), plus the CA bundle (``SSL_CERT_FILE``,
``REQUESTS_CA_BUNDLE``) when the target has one. A child pytest never loads this plugin:
``-p no:kosmos_dr`` is appended to ``PYTEST_ADDOPTS`` (a KOSMOS test run must not start a DR run).

DR context, for scripts that want to check more than "it answers": ``KOSMOS_DR_REGION`` (the DR
region), ``KOSMOS_DR_NAMESPACE``, ``KOSMOS_DR_AGENTS`` (comma-separated), ``KOSMOS_DR_HEALTH_PATH``,
and ``KOSMOS_DR_DATA_NOT_BEFORE`` (ISO-8601: incident start minus the RPO; only when the incident
start is known).

A pytest-like command (``pytest``, ``py.test``, ``python -m pytest``) is given
``--junitxml=<run folder file>`` unless it names one itself; the JUnit file says how many tests ran.
Output is redacted (``redaction``) before it is kept anywhere.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from .errors import DRUnverifiable
from .prefetch import environ_snapshot
from .redaction import redact, register_secret
from .timeparse import format_duration, isoformat

SANDBOX_CHECKOUT = "@sandbox"  # smoke.checkout: the KOSMOS checkout shipped with the sandbox
PLUGIN_NAME = "kosmos_dr"  # this plugin's pytest11 entry point
TAIL_LINES = 15  # output lines quoted in a failure
KILL_WAIT_S = 5.0  # after killing the process group on timeout


@dataclass(frozen=True)
class JUnitSummary:
    tests: int
    failures: int
    errors: int
    skipped: int
    failed: tuple[str, ...] = ()  # "test name: message" of each failed or erroring test

    @property
    def ran(self) -> int:
        return self.tests - self.skipped

    def describe(self) -> str:
        return (f"{self.tests} test(s): {self.ran - self.failures - self.errors} passed, {self.failures} failed, "
                f"{self.errors} error(s), {self.skipped} skipped")


@dataclass
class CommandRun:
    """One run of a plan command: what ran, where, and what came back (redacted)."""

    shown: str  # the command as configured, placeholders filled
    argv: list[str]
    cwd: Path
    exit_code: int | None  # None: killed on timeout
    output: str  # stdout and stderr interleaved, redacted
    seconds: float
    pytest_like: bool = False
    junit_path: Path | None = None
    junit: JUnitSummary | None = None
    output_path: Path | None = None
    timed_out: bool = False
    notes: list[str] = field(default_factory=list)

    def tail(self, lines: int = TAIL_LINES) -> str:
        kept = [line for line in self.output.splitlines() if line.strip()]
        return "\n".join(kept[-lines:])

    def last_line(self) -> str:
        kept = [line.strip() for line in self.output.splitlines() if line.strip()]
        return kept[-1] if kept else "(no output)"


def sandbox_checkout() -> Path:
    """The KOSMOS checkout shipped with the sandbox (its smoke tests exercise the stand-in API)."""
    return Path(__file__).resolve().parent / "sandbox" / "kosmos_checkout"


def resolve_checkout(checkout: str) -> Path:
    """The checkout folder of ``smoke.checkout`` (``@sandbox``, ``~``, relative to the working folder)."""
    if not checkout.strip():
        raise DRUnverifiable("plan smoke tests", "no KOSMOS checkout configured",
                             "set smoke.checkout of the target to a checkout of the KOSMOS repository")
    path = sandbox_checkout() if checkout.strip() == SANDBOX_CHECKOUT else Path(checkout).expanduser()
    path = path if path.is_absolute() else Path.cwd() / path
    if not path.is_dir():
        raise DRUnverifiable("plan smoke tests", f"KOSMOS checkout {path} does not exist",
                             "set smoke.checkout of the target to a checkout of the KOSMOS repository")
    return path


def split_command(command: str, *, agent: str = "", python: str | None = None) -> list[str]:
    """``command`` split like a shell would, each word's ``{agent}``/``{python}`` filled in."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise DRUnverifiable("plan smoke tests", f"cannot split {command!r}: {exc}", "fix the smoke command") from None
    if not words:
        raise DRUnverifiable("plan smoke tests", "empty command", "set smoke.smoke_command / smoke.routing_command")
    try:
        return [word.format(agent=agent, python=python or sys.executable) for word in words]
    except (KeyError, IndexError, ValueError) as exc:
        raise DRUnverifiable("plan smoke tests", f"bad placeholder in {command!r}: {exc}",
                             "use {agent} and {python} only; write a literal brace as {{ or }}") from None


def is_pytest_like(argv: list[str]) -> bool:
    """``pytest ...``, ``py.test ...``, ``python -m pytest ...`` (also behind ``uv run`` and the like)."""
    names = [os.path.basename(word) for word in argv[:4]]
    if any(name in ("pytest", "py.test", "pytest.exe") for name in names):
        return True
    return any(a == "-m" and b in ("pytest", "py.test") for a, b in zip(argv, argv[1:]))


def names_its_junit(command: str) -> bool:
    """``command`` writes a JUnit file it names itself (``--junitxml=...``): two runs at once would share it."""
    return _named_junit(split_command(command)) is not None


def _named_junit(argv: list[str]) -> str | None:
    for i, word in enumerate(argv):
        for flag in ("--junitxml", "--junit-xml"):
            if word.startswith(flag + "="):
                return word.split("=", 1)[1]
            if word == flag and i + 1 < len(argv):
                return argv[i + 1]
    return None


def read_junit(path: Path) -> JUnitSummary | None:
    """Counts and failed tests of a JUnit XML file (pytest's ``<testsuites><testsuite>`` or a bare suite)."""
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    if not suites:
        return None
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for key in counts:
            try:
                counts[key] += int(suite.get(key, "0"))
            except ValueError:
                return None
    failed = []
    for case in root.iter("testcase"):
        for kind in ("failure", "error"):
            problem = case.find(kind)
            if problem is not None:
                message = (problem.get("message") or problem.text or kind).strip().splitlines()
                failed.append(redact(f"{case.get('name', '?')}: {message[0] if message else kind}"))
    return JUnitSummary(**counts, failed=tuple(failed))


def command_environment(*, api_url: str, api_token: str | None, token_env: str, extra: tuple[tuple[str, str], ...] = (),
                        context: dict[str, str] | None = None, ca_bundle: str = "",
                        base: dict[str, str] | None = None) -> dict[str, str]:
    """The commands' environment: the user's, the DR context, ``smoke.env``, the API URL and token."""
    env = environ_snapshot() if base is None else dict(base)  # safe in a read-pool thread
    env.update(context or {})
    env.update(dict(extra))
    env["KOSMOS_API_URL"] = api_url
    env["KOSMOS_API_TOKEN_ENV"] = token_env
    if api_token:
        register_secret(api_token)
        env[token_env] = str.__str__(api_token)
    if ca_bundle:
        env["SSL_CERT_FILE"] = env["REQUESTS_CA_BUNDLE"] = ca_bundle
    blocked = f"-p no:{PLUGIN_NAME}"
    if blocked not in env.get("PYTEST_ADDOPTS", ""):
        env["PYTEST_ADDOPTS"] = (env.get("PYTEST_ADDOPTS", "") + " " + blocked).strip()
    return env


def dr_context(target, incident_start: datetime | None) -> dict[str, str]:
    """The ``KOSMOS_DR_*`` variables for ``target`` (see the module docstring)."""
    context = {
        "KOSMOS_DR_REGION": target.aws.secondary_region,
        "KOSMOS_DR_NAMESPACE": target.kubernetes.namespace,
        "KOSMOS_DR_AGENTS": ",".join(agent.name for agent in target.agents),
        "KOSMOS_DR_HEALTH_PATH": target.health.path,
    }
    if incident_start is not None:
        context["KOSMOS_DR_DATA_NOT_BEFORE"] = isoformat(incident_start - target.objectives.rpo)
    return context


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:60] or "command"


def run_command(command: str, *, checkout: Path, env: dict[str, str], timeout: timedelta, run_folder: Path,
                name: str, agent: str = "", python: str | None = None) -> CommandRun:
    """Run one plan command in ``checkout``; output and JUnit file go to ``run_folder``.

    Raises DRUnverifiable when the command cannot be started or does not finish within ``timeout``.
    """
    argv = split_command(command, agent=agent, python=python)
    shown = " ".join(shlex.quote(word) for word in argv)
    run_folder.mkdir(parents=True, exist_ok=True)
    stem = _slug(name + (f"-{agent}" if agent else ""))
    output_path = run_folder / f"{stem}.out"
    pytest_like = is_pytest_like(argv)
    junit_path = None
    if pytest_like:
        named = _named_junit(argv)
        if named:
            junit_path = Path(named) if Path(named).is_absolute() else checkout / named
        else:
            junit_path = run_folder / f"{stem}-junit.xml"
            argv = [*argv, f"--junitxml={junit_path}"]
        junit_path.unlink(missing_ok=True)
    if checkout == sandbox_checkout():  # shipped package data: leave no bytecode behind
        env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    timed_out = False
    with output_path.open("wb") as sink:
        try:
            process = subprocess.Popen(argv, cwd=checkout, env=env, stdin=subprocess.DEVNULL, stdout=sink,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            raise DRUnverifiable("plan smoke tests", f"cannot run {redact(shown)!r} in {checkout}: "
                                 f"{exc.strerror or exc}", "check the command of smoke.smoke_command / "
                                 "smoke.routing_command (is the program on PATH?)") from None
        try:
            exit_code: int | None = process.wait(timeout=timeout.total_seconds())
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=KILL_WAIT_S)
            except subprocess.TimeoutExpired:
                pass
            exit_code = None
    seconds = time.monotonic() - started
    output = redact(output_path.read_bytes().decode("utf-8", errors="replace"))
    output_path.write_text(output)  # the run folder keeps only the redacted copy
    run = CommandRun(shown=redact(shown), argv=argv, cwd=checkout, exit_code=exit_code, output=output,
                     seconds=seconds, pytest_like=pytest_like, junit_path=junit_path, output_path=output_path,
                     timed_out=timed_out)
    if junit_path is not None and junit_path.is_file():
        run.junit = read_junit(junit_path)
    if timed_out:
        raise DRUnverifiable("plan smoke tests", f"{run.shown!r} did not finish within {format_duration(timeout)} "
                             f"(killed; last output: {run.last_line()[:200]})",
                             "raise smoke.timeout, or check why the command hangs")
    return run


PYTEST_COULD_NOT_RUN = (2, 3, 4)  # pytest's interrupted, internal error, usage error: no test verdict


def verdict(run: CommandRun, cannot_verify: tuple[int, ...] = (77,)) -> tuple[bool, str]:
    """(passed, one-line reason, without the command) for a finished run; raises DRUnverifiable when it
    cannot be judged.

    Exit 0 passes only with tests that ran (for a pytest-like command: its JUnit file lists at least
    one test that was not skipped); an exit in ``cannot_verify`` (and pytest's own 2-4) means the
    command could not look; any other exit fails with what the output says."""
    could_not_run = set(cannot_verify) | (set(PYTEST_COULD_NOT_RUN) if run.pytest_like else set())
    if run.exit_code in could_not_run:
        raise DRUnverifiable("plan smoke tests", f"{run.shown!r} exited {run.exit_code}, which says it could not "
                             f"look: {run.last_line()[:300]}",
                             "check the credentials and endpoint the command was given (smoke.env, the API token)")
    if run.exit_code != 0:
        how = (f"killed by signal {-run.exit_code}" if run.exit_code is not None and run.exit_code < 0
               else f"exit {run.exit_code}")
        if run.pytest_like and run.exit_code == 5:
            how += " (no tests collected)"
        detail = ""
        if run.junit is not None and run.junit.failed:
            detail = f"; {run.junit.describe()}: " + "; ".join(run.junit.failed[:5])
        return False, f"{how}{detail}; output ends: {run.last_line()[:300]}"
    if not run.pytest_like:
        return True, f"exit 0 in {format_duration(run.seconds)} ({run.last_line()[:200]})"
    if run.junit is None:
        raise DRUnverifiable("plan smoke tests", f"{run.shown!r} in {run.cwd} exited 0 but wrote no readable JUnit "
                             f"file ({run.junit_path}): cannot tell which tests ran",
                             "let the command accept --junitxml, or name the file with --junitxml in the command")
    if run.junit.ran <= 0:
        return False, (f"exit 0 but {run.junit.describe()}: no smoke test ran (an empty or all-skipped suite "
                       f"verifies nothing)")
    if run.junit.failures or run.junit.errors:
        return False, f"exit 0 but {run.junit.describe()}: " + "; ".join(run.junit.failed[:5])
    return True, f"exit 0, {run.junit.describe()} in {format_duration(run.seconds)}"
