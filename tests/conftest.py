"""Shared fixtures for the plugin's own tests: one real sandbox for the whole test session, and two tiers.

Inner pytest runs (pytester) find the sandbox through KOSMOS_DR_SANDBOX_DIR, the same way a user's
`kosmos-dr sandbox up` is reused, so each inner run costs a second, not a sandbox start.

Tiers. `pytest tests/` runs the fast tier; `pytest tests/ --slow` (or KOSMOS_DR_SLOW_TESTS=1) runs
both, `pytest tests/ -m slow` the slow tier alone. A test is in the slow tier (``@pytest.mark.slow``)
when it

- owns a sandbox or a part of one: starts and stops its own, or its inner run does (layouts,
  outages, the incident, the latency knob, several targets, the AWS side, the fidelity list, a killed
  sandbox daemon, a cluster API server of its own);
- restores a database: runs a drill (restores, agent-state copy, kill switch) or kills a drill run;
- is a long run: the whole gate, the full run, the HTML report, an inner run on xdist;
- or is a further twin of a fault matrix. Of the tests that apply a sandbox fault (``fault``) the
  fast tier keeps the first of each module in file order; the rest are marked slow here. Twins that
  break the world another way (kubectl, a wrong credential) are marked by hand. Likewise, of a
  parametrized test that runs inner pytests or uses the sandbox, the fast tier keeps the first case.

So the fast tier is the pure unit layer, the plugin's inner runs without a sandbox, the
healthy-sandbox passes and one fault twin per module, all on the one shared sandbox. The unit layer
(tests/checks) never starts a sandbox: a test there that asks for ``sandbox`` or ``fault`` is a
collection error.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import httpcore  # noqa: F401 - see below
import httpx  # noqa: F401 - see below
import pytest

from pytest_kosmos_dr.sandbox import manager

# httpx and httpcore (which httpx imports only when its first client is made) are imported here, before
# any in-process inner run: pytester restores sys.modules after such a run, so a module first imported
# inside one is imported afresh later, and a client made from the old httpcore raises exceptions the new
# httpx neither maps nor catches (seen: TLS failures surfacing as a raw httpcore.ConnectError).

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
SUITES = REPO / "suites"
UNIT_LAYER = Path(__file__).resolve().parent / "checks"
SANDBOX_FIXTURES = ("sandbox", "fault")
INNER_RUN_FIXTURES = ("pytester", "sandbox", "fault")
SLOW_ENV = "KOSMOS_DR_SLOW_TESTS"
# Child pytests (inner runs, the smoke tests they start) need not load Hypothesis's plugin (~1.5 s of CPU each,
# a test-extra only) nor anyio's (~0.1 s each; no inner run has an async test; runs from the checkout leave it
# off through pyproject.toml, but inner runs in their own folders do not read that file).
CHILD_PYTEST_ADDOPTS = "-p no:hypothesispytest -p no:anyio"
_LEFT_OUT = pytest.StashKey[int]()
# The harness caches bytecode and pytest's rewritten test modules even where PYTHONDONTWRITEBYTECODE is set
# (as in many containers): hundreds of child pytests would otherwise recompile the plugin every time.
sys.dont_write_bytecode = False


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False,
                     help=f"also run the slow tier (tests that own a sandbox, drills, the full fault matrix); "
                          f"also {SLOW_ENV}=1")


def _slow_included(config) -> bool:
    """--slow, KOSMOS_DR_SLOW_TESTS=1, or a -m expression that names the tier (`-m slow`: the slow tier alone)."""
    return (config.getoption("--slow") or os.environ.get(SLOW_ENV, "") not in ("", "0")
            or "slow" in (config.getoption("markexpr", "") or ""))


def unit_layer_violations(items) -> list[str]:
    """Node ids of unit-layer tests (under tests/checks) that ask for a sandbox."""
    return [item.nodeid for item in items
            if UNIT_LAYER in Path(item.path).parents and set(SANDBOX_FIXTURES) & set(getattr(item, "fixturenames", ()))]


def _keep_first_fast(items, group, applies) -> None:
    """Of the items ``applies`` to, the first of each ``group(item)`` stays fast; the rest go to the slow tier."""
    seen = set()
    for item in items:
        if not applies(item):
            continue
        key = group(item)
        if key in seen:
            item.add_marker(pytest.mark.slow)
        seen.add(key)


def _mark_fault_matrix(items) -> None:
    """Every fault twin but the first of its module goes to the slow tier."""
    _keep_first_fast(items, lambda item: item.path, lambda item: "fault" in getattr(item, "fixturenames", ()))


def _mark_case_matrices(items) -> None:
    """Of a parametrized test that runs inner pytests or uses the sandbox, every case but the first goes to
    the slow tier (the broken-record, layout and bad-option matrices: one case proves the path)."""
    _keep_first_fast(items, lambda item: (item.path, item.originalname),
                     lambda item: getattr(item, "callspec", None) is not None
                     and bool(set(INNER_RUN_FIXTURES) & set(item.fixturenames)))


def pytest_collection_modifyitems(config, items):
    violations = unit_layer_violations(items)
    if violations:
        raise pytest.UsageError("the unit layer (tests/checks) must not start a sandbox; these ask for one: "
                                + ", ".join(violations))
    _mark_fault_matrix(items)
    _mark_case_matrices(items)
    if _slow_included(config):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
    config.stash[_LEFT_OUT] = len(slow)


def pytest_terminal_summary(terminalreporter, config):
    left_out = config.stash.get(_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(f"fast tier: {left_out} slow tests left out; `pytest tests/ --slow` runs them too")


@pytest.fixture(autouse=True)
def _child_pytests_without_hypothesis(monkeypatch):
    """Child pytests this test starts itself skip Hypothesis's plugin (appended to the user's PYTEST_ADDOPTS)."""
    monkeypatch.setenv("PYTEST_ADDOPTS", f"{os.environ.get('PYTEST_ADDOPTS', '')} {CHILD_PYTEST_ADDOPTS}".strip())
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)  # see sys.dont_write_bytecode above


@pytest.fixture
def pytester(pytester, monkeypatch):
    """pytester, whose inner runs also skip Hypothesis's plugin (pytester itself clears PYTEST_ADDOPTS)."""
    monkeypatch.setenv("PYTEST_ADDOPTS", CHILD_PYTEST_ADDOPTS)
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    return pytester


@pytest.fixture(scope="session")
def sandbox():
    """A running sandbox shared by the tests; stopped (and verified gone) at the end."""
    state_dir = Path(tempfile.mkdtemp(prefix="kosmos-dr-tests-"))
    previous = os.environ.get("KOSMOS_DR_SANDBOX_DIR")
    os.environ["KOSMOS_DR_SANDBOX_DIR"] = str(state_dir)
    running, _ = manager.start(state_dir, owner_pid=os.getpid())
    try:
        yield running
    finally:
        manager.stop(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)
        if previous is None:
            os.environ.pop("KOSMOS_DR_SANDBOX_DIR", None)
        else:
            os.environ["KOSMOS_DR_SANDBOX_DIR"] = previous


@pytest.fixture
def fault(sandbox):
    """Apply a named sandbox fault for one test; always reverted."""
    applied = []

    def apply(name: str):
        sandbox.apply_fault(name)
        applied.append(name)

    yield apply
    for name in reversed(applied):
        sandbox.revert_fault(name)


def run_suite(pytester: pytest.Pytester, *args: str, in_process: bool = False) -> pytest.RunResult:
    """Run (part of) the shipped DR suites in a subprocess, as a user would, with the repository's config.

    (In-process runs are not used for runs that reach the suites' tests: pytester restores sys.modules
    after each run, and the re-imported psycopg/httpcore exception classes then no longer match their
    C parts.) ``in_process=True`` only for a run that stops at configuration, a usage error: no DR test,
    client or read starts there, and it saves a child's start (~1 s of CPU)."""
    paths = [a for a in args if a.endswith(".py") or "::" in a]
    rest = [a for a in args if a not in paths]
    targets = [str(SUITES / p) for p in paths] or [str(SUITES)]
    run = pytester.runpytest_inprocess if in_process else pytester.runpytest_subprocess
    return run(*targets, "-p", "no:cacheprovider", "--rootdir", str(REPO), *rest)


def fresh_python(code: str) -> list[str]:
    """Run ``code`` in a new interpreter (its own ``sys.modules``: what an import loads shows there); its
    output lines. A failure (non-zero exit) fails the calling test with the child's stderr."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()
