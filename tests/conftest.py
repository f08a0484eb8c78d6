"""Shared fixtures for the plugin's own tests: one real sandbox for the whole test session.

Inner pytest runs (pytester) find it through KOSMOS_DR_SANDBOX_DIR, the same way a user's
`kosmos-dr sandbox up` is reused, so each inner run costs a second, not a sandbox start.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from pytest_kosmos_dr.sandbox import manager

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
SUITES = REPO / "suites"


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


def run_suite(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run (part of) the shipped DR suites in a subprocess, as a user would, with the repository's config.

    (In-process runs are not used: pytester restores sys.modules after each run, and the
    re-imported psycopg/httpcore exception classes then no longer match their C parts.)"""
    paths = [a for a in args if a.endswith(".py") or "::" in a]
    rest = [a for a in args if a not in paths]
    targets = [str(SUITES / p) for p in paths] or [str(SUITES)]
    return pytester.runpytest_subprocess(*targets, "-p", "no:cacheprovider", "--rootdir", str(REPO), *rest)
