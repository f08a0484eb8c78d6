"""OBJ-AVAILABILITY and SCN-SECURITY-BREACH against the sandbox: they pass when it is healthy, fail
with a message naming what is wrong under their faults, and the kill-switch drill always leaves
the switch as it found it."""

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from conftest import run_suite
from pytest_kosmos_dr.checks import availability

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
         "*OBJ-AVAILABILITY: availability 99.55? % over 30 d (2 h 00 min planned maintenance left out) "
         "< objective 99.9 %; error budget exceeded by 14? min (19? min down, 43 min allowed)*"),
        ("maintenance-undeclared",
         "*OBJ-AVAILABILITY: availability 99.69? % over 30 d (no planned maintenance left out) "
         "< objective 99.9 %; error budget exceeded by 8? min (13? min down, 43 min allowed)*"),
    ],
)
def test_availability_fails_under_its_fault(sandbox, fault, pytester, fault_name, message):
    fault(fault_name)
    result = run_suite(pytester, AVAILABILITY, "-rf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*BROKEN*")


# -- OBJ-AVAILABILITY on plain data: what counts as down, what is left out ---------------------

NOW = datetime(2026, 1, 10, 12, 0, 30, tzinfo=timezone.utc)
END = 1768046400.0  # NOW aligned down to 5 min
WINDOW = timedelta(days=1)
STEPS = 288


def grafana_answering(values: dict[int, float] | None = None, annotations: list | None = None) -> httpx.Client:
    """Every step's point (its end, t = start + i * 5 min) is 1 unless ``values`` says otherwise."""
    start = END - WINDOW.total_seconds()
    points = [[start + 300 * i, str((values or {}).get(i, 1.0))] for i in range(1, STEPS + 1)]

    def handler(request):
        if request.url.path == "/api/annotations":
            return httpx.Response(200, json=annotations or [])
        assert "avg_over_time" in request.url.params["query"]  # the share of probes up during each step
        return httpx.Response(200, json={"status": "success", "data": {"result": [{"metric": {}, "values": points}]}})

    return httpx.Client(transport=httpx.MockTransport(handler), base_url="http://grafana.test")


def test_availability_passes_when_every_step_is_up():
    result = availability.availability(grafana_answering(), objective=99.9, window=WINDOW, now=NOW)
    assert result.passed and result.summary.startswith("availability 100.000 % over 1 d"), result.summary


def test_a_step_where_half_the_probes_failed_counts_half_down():
    result = availability.availability(grafana_answering({i: 0.5 for i in range(1, 4)}), objective=99.9, window=WINDOW, now=NOW)
    assert not result.passed and "(8 min down, 1 min allowed)" in result.summary, result.summary


def test_outages_between_sample_points_count():
    """A 3 min outage in a step is 0.4 of it up (avg_over_time), not a sample point that happened to be up."""
    result = availability.availability(grafana_answering({i: 0.4 for i in range(1, 13)}), objective=99.9, window=WINDOW, now=NOW)
    assert not result.passed and "(36 min down" in result.summary, result.summary


def maintenance(created_offset_s: float) -> list:
    begin = (END - 6 * 3600) * 1000
    return [{"time": begin, "timeEnd": begin + 3600 * 1000, "created": begin + created_offset_s * 1000,
             "text": "PostgreSQL upgrade", "tags": ["maintenance"]}]


def test_planned_maintenance_is_left_out_and_maintenance_declared_afterwards_counts():
    down = {i: 0.0 for i in range(217, 229)}  # the hour of the window, 6 h before its end
    planned = availability.availability(grafana_answering(down, maintenance(-86400)), objective=99.9, window=WINDOW, now=NOW)
    assert planned.passed and "(60 min planned maintenance left out)" in planned.summary, planned.summary
    afterwards = availability.availability(grafana_answering(down, maintenance(2 * 3600)), objective=99.9, window=WINDOW, now=NOW)
    assert not afterwards.passed
    assert "1 maintenance window(s) declared after they began counted" in afterwards.summary
    assert "(60 min down" in afterwards.summary, afterwards.summary


def test_two_planned_windows_are_both_left_out_and_downtime_between_them_counts():
    later = [dict(a, time=a["time"] + 3 * 3600 * 1000, timeEnd=a["timeEnd"] + 3 * 3600 * 1000, text="kernel patch")
             for a in maintenance(-86400)]
    down = {i: 0.0 for i in [*range(217, 229), *range(253, 265)]}  # both planned hours, fully down
    down[240] = 0.4  # between them: 3 min down, outside any window
    result = availability.availability(grafana_answering(down, maintenance(-86400) + later), objective=99.9,
                                       window=WINDOW, now=NOW)
    assert not result.passed, result.summary
    assert "(2 h 00 min planned maintenance left out)" in result.summary and "(3 min down" in result.summary, result.summary


def test_availability_series_and_annotations_need_the_grafana_token(sandbox):
    url = sandbox.state["grafana"]["url"]
    assert httpx.get(f"{url}/api/annotations?tags=maintenance").status_code == 401
    assert httpx.get(f"{url}/api/health").status_code == 200


# -- SCN-SECURITY-BREACH ----------------------------------------------------------------------

@pytest.mark.slow  # runs the kill switch drill
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
         "to zeus-orchestrator answered HTTP 423 (kill switch engaged) on all * tries (the switch reads released)*"),
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


@pytest.mark.slow  # runs the kill switch drill
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


@pytest.mark.slow  # runs the kill switch drill
def test_switch_is_released_even_when_the_drill_is_interrupted_after_engaging(sandbox, api, pytester):
    """The drill's fixture tears down (releases) even when the test is interrupted with the switch engaged."""
    pytester.makepyfile(test_interrupted='''
        import pytest

        @pytest.mark.dr_criterion("SCN-SECURITY-BREACH")
        def test_engage_then_interrupted(kosmos_api, kill_switch_control):
            kosmos_api.put("/v1/admin/kill-switch", json={"engaged": True, "reason": "drill"}).raise_for_status()
            assert kosmos_api.get("/v1/agents/zeus-orchestrator/probe").status_code in (423, 503)
            raise KeyboardInterrupt
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--dr-allow-restore")
    result.stdout.fnmatch_lines(["*KeyboardInterrupt*"])
    assert_released_and_serving(api)


@pytest.mark.slow  # runs the kill switch drill
def test_validation_suite_stays_green_after_the_drill(sandbox, api, pytester):
    run_suite(pytester, BREACH, "--dr-allow-restore").assert_outcomes(passed=1)
    health = api.get("/health").json()
    assert health["kill_switch"] == "released"
    run_suite(pytester, "test_recovery_validation.py").assert_outcomes(passed=5)
