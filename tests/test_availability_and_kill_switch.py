"""OBJ-AVAILABILITY and SCN-SECURITY-BREACH against the sandbox: they pass when it is healthy, fail
with a message naming what is wrong under their faults, and the kill-switch drill always leaves
the switch as it found it."""

import httpx
import pytest

from conftest import SUITES, run_suite

AVAILABILITY = "test_objectives_availability.py"
BREACH = "test_security_breach.py"
DRILL_TEST = "test_kill_switch_stops_agent_work_and_releases"


@pytest.fixture
def api(sandbox):
    with httpx.Client(base_url=sandbox.state["api"]["url"], timeout=10,
                      headers={"Authorization": f"Bearer {sandbox.state['api']['token']}"}) as client:
        yield client


def assert_released_and_serving(api):
    """Checked after every inner run: the switch reads released and agent work is answered."""
    state = api.get("/v1/admin/kill-switch").json()
    assert state["engaged"] is False, state
    assert api.get("/v1/agents/zeus-orchestrator/probe").status_code == 200


# -- OBJ-AVAILABILITY -------------------------------------------------------------------------

def test_availability_passes_on_the_healthy_sandbox(sandbox, pytester):
    result = run_suite(pytester, AVAILABILITY, "-v", "-rA")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_availability_over_the_window_meets_the_objective PASSED*"])


@pytest.mark.parametrize(
    ("fault_name", "message"),
    [
        ("availability-breach",
         "*OBJ-AVAILABILITY: availability 99.559 % over 30 d (2 h 00 min declared maintenance left out) "
         "< objective 99.9 %; error budget exceeded by 147 min (190 min down, 43 min allowed)*"),
        ("maintenance-undeclared",
         "*OBJ-AVAILABILITY: availability 99.699 % over 30 d (no declared maintenance left out) "
         "< objective 99.9 %; error budget exceeded by 87 min (130 min down, 43 min allowed)*"),
    ],
)
def test_availability_fails_under_its_fault(sandbox, fault, pytester, fault_name, message):
    fault(fault_name)
    result = run_suite(pytester, AVAILABILITY, "-rf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*BROKEN*")


def test_availability_series_and_annotations_need_the_grafana_token(sandbox):
    url = sandbox.state["grafana"]["url"]
    assert httpx.get(f"{url}/api/annotations?tags=maintenance").status_code == 401
    assert httpx.get(f"{url}/api/health").status_code == 200


# -- SCN-SECURITY-BREACH ----------------------------------------------------------------------

def test_kill_switch_drill_passes_and_leaves_the_switch_released(sandbox, api, pytester):
    result = run_suite(pytester, BREACH, "--dr-allow-restore", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*{DRILL_TEST} PASSED*"])
    assert_released_and_serving(api)


def test_kill_switch_drill_is_skipped_without_allow_restore(sandbox, api, pytester):
    result = run_suite(pytester, BREACH, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*drill creates resources: run with --dr-allow-restore*"])
    assert_released_and_serving(api)


@pytest.mark.parametrize(
    ("fault_name", "message"),
    [
        ("kill-switch-ignored",
         "*SCN-SECURITY-BREACH: kill switch drill: agent work still answered with the switch engaged: probe to "
         "zeus-orchestrator answered HTTP 200 on all * tries over 10.* s (expected HTTP 423 or 503 within 10 s)*"),
        ("kill-switch-stuck",
         "*SCN-SECURITY-BREACH: kill switch drill: service did not come back within 10 s after the release: probe "
         "to zeus-orchestrator answered HTTP 503 (kill switch engaged) on all * tries (the switch reads released)*"),
    ],
)
def test_kill_switch_drill_fails_under_its_fault(sandbox, fault, api, pytester, fault_name, message):
    fault(fault_name)
    result = run_suite(pytester, BREACH, "--dr-allow-restore", "-rf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message, f"FAILED *::{DRILL_TEST}*"])
    result.stdout.no_fnmatch_line("*BROKEN*")
    assert api.get("/v1/admin/kill-switch").json()["engaged"] is False
    sandbox.revert_fault(fault_name)  # (the fixture reverts again: harmless) the stuck switch comes unstuck
    assert_released_and_serving(api)


def test_kill_switch_found_engaged_is_left_engaged_and_the_drill_not_run(sandbox, api, pytester):
    api.put("/v1/admin/kill-switch", json={"engaged": True, "reason": "security incident SEC-42"}).raise_for_status()
    try:
        result = run_suite(pytester, BREACH, "--dr-allow-restore")
        assert result.parseoutcomes() == {"broken": 1}
        result.stdout.fnmatch_lines(["BROKEN *::{} - SCN-SECURITY-BREACH: could not verify: kill switch: found engaged "
                                     "since * (reason: security incident SEC-42); drill not run*".format(DRILL_TEST)])
        state = api.get("/v1/admin/kill-switch").json()
        assert state["engaged"] is True and state["reason"] == "security incident SEC-42"
    finally:
        api.put("/v1/admin/kill-switch", json={"engaged": False, "reason": "test over"}).raise_for_status()
    assert_released_and_serving(api)


def test_switch_is_released_even_when_the_drill_is_interrupted_after_engaging(sandbox, api, pytester):
    """The suite's fixture tears down (releases) even when the test is interrupted with the switch engaged."""
    pytester.makepyfile(test_interrupted=f'''
        import importlib.util
        import pytest

        spec = importlib.util.spec_from_file_location("shipped_breach", {str(SUITES / BREACH)!r})
        shipped = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(shipped)
        kill_switch_left_as_found = shipped.kill_switch_left_as_found

        @pytest.mark.dr_criterion("SCN-SECURITY-BREACH")
        def test_engage_then_interrupted(kosmos_api, kill_switch_left_as_found):
            kosmos_api.put("/v1/admin/kill-switch", json={{"engaged": True, "reason": "drill"}}).raise_for_status()
            assert kosmos_api.get("/v1/agents/zeus-orchestrator/probe").status_code == 503
            raise KeyboardInterrupt
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--dr-allow-restore")
    result.stdout.fnmatch_lines(["*KeyboardInterrupt*"])
    assert_released_and_serving(api)


def test_validation_suite_stays_green_after_the_drill(sandbox, api, pytester):
    run_suite(pytester, BREACH, "--dr-allow-restore").assert_outcomes(passed=1)
    health = api.get("/health").json()
    assert health["kill_switch"] == "released"
    run_suite(pytester, "test_recovery_validation.py").assert_outcomes(passed=5)
