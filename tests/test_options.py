"""Command-line options, ini twins and markers: bad input is one line and exit code 4. Runs that stop at
configuration (usage errors, --markers) run in this process; runs that reach a DR test run as children."""

import pytest

from conftest import REPO, run_suite

DRILL_AND_GATE = """
import pytest

@pytest.mark.dr_criterion("REC-DB-PITR")
def test_restore_drill():
    pass

@pytest.mark.dr_criterion("VAL-DB-CONNECT")
def test_gate_check():
    pass

@pytest.mark.dr_criterion("COM-CUSTOMER-15MIN")
def test_evidence_check():
    pass
"""


def _error_lines(result):
    return [line for line in result.stderr.lines if line.strip()]


def test_unknown_target_is_one_line_listing_the_known_targets(pytester):
    result = run_suite(pytester, "--dr-target=nope", in_process=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert _error_lines(result) == [
        "ERROR: unknown DR target 'nope' (known targets: dr-cluster, sandbox; "
        "defined in " + str(REPO / "kosmos-dr.toml") + ")"
    ]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--dr-incident-start=yesterday", "ERROR: --dr-incident-start: expected an ISO-8601 time*"),
        ("--dr-incident-start=2999-01-01T00:00:00Z", "ERROR: --dr-incident-start 2999-01-01T00:00:00Z: is in the future"),
        ("--dr-restore-time=soon", "ERROR: --dr-restore-time: expected an ISO-8601 time*"),
        ("--dr-config=/nonexistent/kosmos-dr.toml", "ERROR: /nonexistent/kosmos-dr.toml: no such config file*"),
    ],
)
def test_bad_option_values_are_usage_errors(pytester, option, message):
    result = run_suite(pytester, option, in_process=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert len(_error_lines(result)) == 1


def test_malformed_config_file_is_a_usage_error_naming_the_key(pytester):
    pytester.makefile(".toml", **{"kosmos-dr": '[targets.sandbox.objectives]\nrpo = "fifteen"\n'})
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *kosmos-dr.toml: targets.sandbox.objectives.rpo: expected a duration*"])


def test_ini_twin_selects_the_target(pytester):
    pytester.makeini("[pytest]\ndr_target = elsewhere\n")
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: unknown DR target 'elsewhere'*"])


def test_markers_are_registered(pytester):
    result = pytester.runpytest_inprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.gate:*", "@pytest.mark.drill:*", "@pytest.mark.evidence:*",
                                 "@pytest.mark.dr_criterion(*ids):*"])


def test_criterion_kind_becomes_a_marker_so_minus_m_gate_selects_gate_checks(pytester):
    pytester.makepyfile(test_mix=DRILL_AND_GATE)
    result = pytester.runpytest_subprocess("-m", "gate", "-v")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["*test_gate_check PASSED*"])


def test_drills_are_skipped_with_a_reason_naming_the_flag(pytester):
    pytester.makepyfile(test_mix=DRILL_AND_GATE)
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*drill creates resources: run with --dr-allow-restore to allow it*"])
    result = pytester.runpytest_subprocess("--dr-allow-restore")
    result.assert_outcomes(passed=3)


def test_production_target_drills_need_confirmation_too(pytester):
    """A job that lost its confirm flag stops with one line and a non-zero exit, never goes green."""
    pytester.makefile(".toml", **{"kosmos-dr": '[targets.prod]\nkind = "aws"\nproduction = true\n'})
    pytester.makepyfile(test_mix=DRILL_AND_GATE)
    result = pytester.runpytest_inprocess("--dr-target=prod", "--dr-allow-restore", "-rs", "-k", "drill")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: target 'prod' is marked production: drills need --dr-allow-restore and "
                                 "--dr-confirm-target prod; nothing was run"])
    wrong = pytester.runpytest_inprocess("--dr-target=prod", "--dr-allow-restore", "--dr-confirm-target=sandbox")
    assert wrong.ret == pytest.ExitCode.USAGE_ERROR
    wrong.stderr.fnmatch_lines(["ERROR: --dr-confirm-target sandbox: not a target of this run (prod); no drill was run"])
    result = pytester.runpytest_subprocess("--dr-target=prod", "--dr-allow-restore", "--dr-confirm-target=prod", "-k", "drill")
    result.assert_outcomes(passed=1, deselected=2)


def test_the_built_in_dr_cluster_is_production(pytester):
    """From a folder without a targets file the plan's real DR setup is still guarded."""
    pytester.makepyfile(test_mix=DRILL_AND_GATE)
    result = pytester.runpytest_inprocess("--dr-target=dr-cluster", "--dr-allow-restore", "-k", "drill")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: target 'dr-cluster' is marked production: *--dr-confirm-target dr-cluster*"])


def test_unknown_criterion_id_is_a_usage_error(pytester):
    pytester.makepyfile(test_x='import pytest\n@pytest.mark.dr_criterion("VAL-NOPE")\ndef test_x(): pass\n')
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *test_x: unknown DR criterion VAL-NOPE (see `kosmos-dr criteria`)"])


def test_criteria_ids_reach_junit_as_properties(pytester):
    pytester.makepyfile(test_mix=DRILL_AND_GATE)
    pytester.runpytest_subprocess("--junitxml=out.xml")
    xml = (pytester.path / "out.xml").read_text()
    assert '<property name="dr_criterion" value="VAL-DB-CONNECT"' in xml


def test_strict_coverage_accepts_the_shipped_suites_and_names_what_a_subset_misses(pytester):
    full = run_suite(pytester, "--dr-strict-coverage", "--collect-only", "-q")
    assert full.ret == 0, full.stderr.str()
    partial = run_suite(pytester, "test_dr_cluster.py", "--dr-strict-coverage", "--collect-only", "-q")
    assert partial.ret == pytest.ExitCode.USAGE_ERROR
    partial.stderr.fnmatch_lines(["ERROR: --dr-strict-coverage: no test for 39 criteria: OBJ-RTO, OBJ-RPO, *"])


def test_runs_from_the_checkout_leave_anyios_plugin_off_unless_asked():
    """pyproject.toml's `-p no:anyio` (nothing shipped is async); `-p anyio` on the command line wins."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}  # (the harness blocks it for children)

    def plugins(*args):
        done = subprocess.run([sys.executable, "-m", "pytest", *args, "-VV"], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=60)
        return done.stdout + done.stderr

    assert "anyio-" not in plugins()
    assert "anyio-" in plugins("-p", "anyio")
