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


@pytest.mark.dr_criterion("SCN-SECURITY-BREACH")
def test_kill_switch_stops_agent_work_and_releases(kill_switch_control, drilled_agent, dr_check):
    """Agent work of the drilled agent (the target's first: the plan's zeus-orchestrator) must stop."""
    dr_check(kill_switch.drill(kill_switch_control, drilled_agent.name))
