"""The two tiers of the plugin's own tests (tests/conftest.py): what the fast tier leaves out, and the guard
that keeps the unit layer free of any sandbox. Each inner run copies this folder's conftest.py and
starts no sandbox (the guard acts at collection, before any fixture). Runs that end at collection run
in this process (no interpreter start); the one about child pytests runs as a child."""

from pathlib import Path

CONFTEST = Path(__file__).with_name("conftest.py")

UNIT_TEST_ASKING_FOR_A_SANDBOX = """
def test_reads_the_sandbox(sandbox):
    pass
"""

TIERS = """
import pytest

def test_unit():
    pass

@pytest.mark.slow
def test_owns_a_sandbox():
    pass

@pytest.mark.parametrize("name", ["first", "second", "third"])
def test_fault_twin(fault, name):
    pass
"""


def _project(pytester):
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makeini("[pytest]\nmarkers =\n    slow: the slow tier\n")


def test_a_unit_layer_test_that_asks_for_a_sandbox_is_a_collection_error(pytester):
    _project(pytester)
    pytester.mkpydir("checks")
    pytester.path.joinpath("checks", "test_pure.py").write_text(UNIT_TEST_ASKING_FOR_A_SANDBOX)
    result = pytester.runpytest_inprocess("checks", "-p", "no:cacheprovider")
    assert result.ret == 4  # usage error: nothing ran, no sandbox started
    result.stderr.fnmatch_lines(["*the unit layer (tests/checks) must not start a sandbox*"
                                 "checks/test_pure.py::test_reads_the_sandbox*"])


def test_the_fast_tier_leaves_out_slow_tests_and_all_but_the_first_fault_twin_and_says_so(pytester):
    _project(pytester)
    pytester.makepyfile(test_tier_cases=TIERS)
    result = pytester.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["test_tier_cases.py::test_unit", "test_tier_cases.py::test_fault_twin[[]first[]]",
                                 "fast tier: 3 slow tests left out; `pytest tests/ --slow` runs them too",
                                 "2/5 tests collected (3 deselected)*"])
    assert "second" not in result.stdout.str() and "test_owns_a_sandbox" not in result.stdout.str()


def test_slow_or_its_environment_variable_runs_both_tiers(pytester, monkeypatch):
    _project(pytester)
    pytester.makepyfile(test_tier_cases=TIERS)
    with_option = pytester.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider", "--slow")
    with_option.stdout.fnmatch_lines(["5 tests collected*"])
    monkeypatch.setenv("KOSMOS_DR_SLOW_TESTS", "1")
    with_env = pytester.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider")
    with_env.stdout.fnmatch_lines(["5 tests collected*"])
    assert "left out" not in with_option.stdout.str() + with_env.stdout.str()
    monkeypatch.delenv("KOSMOS_DR_SLOW_TESTS")
    alone = pytester.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider", "-m", "slow")
    alone.stdout.fnmatch_lines(["3/5 tests collected (2 deselected)*"])


def test_child_pytests_skip_hypothesis_and_cache_bytecode(pytester, monkeypatch):
    import os

    assert os.environ["PYTEST_ADDOPTS"].endswith("-p no:hypothesispytest -p no:anyio")
    assert "PYTHONDONTWRITEBYTECODE" not in os.environ
    pytester.makepyfile(test_plugins="""
import sys

def test_hypothesis_not_loaded(pytestconfig):
    assert not pytestconfig.pluginmanager.has_plugin("hypothesispytest")
    assert not pytestconfig.pluginmanager.has_plugin("anyio")

def test_bytecode_is_cached():
    assert not sys.dont_write_bytecode
""")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)
