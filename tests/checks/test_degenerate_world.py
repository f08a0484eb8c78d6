"""The degenerate world: no check may pass on empty or missing input.

Every public function of ``pytest_kosmos_dr.checks`` that returns a ``CheckResult`` is a check.
Each one must have degenerate cases in a ``tests/checks/degenerate_<module>.py`` table (``CASES``:
``"module.function" -> [(label, call), ...]``): empty lists, zero objects, missing fields, ``None``.
Every case must come out *failed* (a CheckResult that did not pass) or *could not verify*
(``DRUnverifiable``), never passed and never a crash. A new check without cases fails here, so no
check can skip the test.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
from pathlib import Path

import pytest

import pytest_kosmos_dr.checks as checks_package
from pytest_kosmos_dr.errors import DRUnverifiable
from pytest_kosmos_dr.results import CheckResult

HERE = Path(__file__).resolve().parent


def check_functions() -> list[str]:
    """``module.function`` of every public check (return annotation CheckResult)."""
    found = []
    for info in pkgutil.iter_modules(checks_package.__path__):
        module = importlib.import_module(f"{checks_package.__name__}.{info.name}")
        for name, func in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or func.__module__ != module.__name__:
                continue
            if inspect.signature(func).return_annotation in ("CheckResult", CheckResult):
                found.append(f"{info.name}.{name}")
    return sorted(found)


def degenerate_cases() -> dict[str, list]:
    cases: dict[str, list] = {}
    for path in sorted(HERE.glob("degenerate_*.py")):
        spec = importlib.util.spec_from_file_location(f"kosmos_dr_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for key, items in module.CASES.items():
            cases.setdefault(key, []).extend(items)
    return cases


CHECKS = check_functions()
CASES = degenerate_cases()


def test_the_catalog_of_checks_is_found():
    assert len(CHECKS) >= 30, CHECKS


def test_every_case_names_an_existing_check():
    assert sorted(set(CASES) - set(CHECKS)) == []


@pytest.mark.parametrize("check", CHECKS)
def test_no_check_passes_on_degenerate_input(check):
    cases = CASES.get(check)
    assert cases, f"{check} has no degenerate cases: add them to tests/checks/degenerate_{check.split('.')[0]}.py"
    passed = []
    for label, call in cases:
        try:
            result = call()
        except DRUnverifiable:
            continue  # "could not verify": acceptable, never a pass
        except Exception as exc:  # a crash is neither a verdict nor a clear "could not verify"
            pytest.fail(f"{check} [{label}]: crashed with {type(exc).__name__}: {exc}")
        assert isinstance(result, CheckResult), f"{check} [{label}]: returned {type(result).__name__}"
        if result.passed:
            passed.append(f"[{label}] {result.summary}")
        else:
            assert result.summary.strip(), f"{check} [{label}]: failed without saying why"
    assert not passed, f"{check} passed on degenerate input: " + "; ".join(passed)
