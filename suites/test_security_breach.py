"""Security breach scenario: the kill switch exists, stops agent work and releases (SCN-SECURITY-BREACH).

A drill: it engages the real kill switch for a few seconds. The switch's contract (method, path,
probe path, refusal codes, wait) is the target's ``kill_switch`` table. The run needs
--dr-allow-restore (and --dr-confirm-target on production) and the target's drill lease; every
change checks that permission in the code that sends it, not only in a marker. The engagement is
recorded in the run folder before it is made (``kosmos-dr cleanup`` releases what a killed run left
engaged). The switch is put back as it was found; a switch found engaged is never touched.
"""

import pytest

from pytest_kosmos_dr.checks import kill_switch
from pytest_kosmos_dr.drills.kill_switch import KillSwitchControl


@pytest.fixture
def kill_switch_left_as_found(kosmos_api, dr_run, drill_lease):
    """The switch as found before the drill; after it, released again if it was found released."""
    control = KillSwitchControl.of(kosmos_api, dr_run)
    found = control.read()
    try:
        yield found
    finally:
        control.put_back(found)


@pytest.mark.dr_criterion("SCN-SECURITY-BREACH")
def test_kill_switch_stops_agent_work_and_releases(kosmos_api, dr_run, dr_target, kill_switch_left_as_found,
                                                   dr_check):
    control = KillSwitchControl.of(kosmos_api, dr_run)
    # agent work of the target's first agent (the plan's zeus-orchestrator) is what the switch must stop
    dr_check(kill_switch.drill(control, dr_target.agents[0].name))
