"""Security breach scenario: the kill switch exists, stops agent work and releases (SCN-SECURITY-BREACH).

A drill: it engages the real kill switch for a few seconds, so the plugin skips it unless the run
has --dr-allow-restore. The switch is always put back as it was found (the fixture's teardown
runs even when the test fails or is interrupted); a switch found engaged is never touched.
"""

from datetime import timedelta

import pytest

from pytest_kosmos_dr.checks import kill_switch

# How long the switch may take to stop agent work, and agent work to come back after the release.
KILL_SWITCH_WAIT = timedelta(seconds=10)


@pytest.fixture
def kill_switch_left_as_found(kosmos_api):
    """Read the switch before the drill; after it, release it if it was found released and is not now."""
    found = kill_switch.read_state(kosmos_api)
    try:
        yield found
    finally:
        kill_switch.restore(kosmos_api, found)


@pytest.mark.dr_criterion("SCN-SECURITY-BREACH")
def test_kill_switch_stops_agent_work_and_releases(kosmos_api, dr_target, kill_switch_left_as_found, dr_check):
    dr_check(kill_switch.drill(kosmos_api, dr_target.agent("zeus-orchestrator").name, KILL_SWITCH_WAIT))
