"""Testing Schedule (SCH-*): the drill ledger shows every exercise passed within its window
(restore monthly, agent-state drill weekly, failover quarterly, full DR annually, tabletop twice a
year: the target's ``schedule`` windows, the plan's by default), for this target, in an intact
hash chain, checked against the head kept outside the file (--dr-ledger-head) and, with
KOSMOS_DR_LEDGER_KEY set, every entry's HMAC.

Drills count only as entries recorded by the run that performed them; the tabletop only as a
manual entry with who ran it and a reference. Without a ledger, or when the only entries are the
sandbox's seeded stand-ins, the criteria are skipped as "not verified: ...": never passed.
"""

import pytest

from pytest_kosmos_dr.checks import schedule
from pytest_kosmos_dr.checks.communication import NotVerified


def judged(dr_check, criterion, drill_ledger, target):
    """Judge one schedule against the target's window: "not verified" (only seeded stand-ins) becomes a
    skip with that reason."""
    __tracebackhide__ = True
    try:
        result = schedule.drill_recency(criterion, drill_ledger, target.name, windows=target.schedule)
    except NotVerified as exc:
        pytest.skip(str(exc))
    return dr_check(result)


@pytest.mark.dr_criterion("SCH-RESTORE-MONTHLY")
def test_a_restore_drill_passed_within_31_days(drill_ledger, dr_target, dr_check):
    judged(dr_check, "SCH-RESTORE-MONTHLY", drill_ledger, dr_target)


@pytest.mark.dr_criterion("SCH-AGENT-DRILL-WEEKLY")
def test_an_agent_state_drill_passed_within_7_days(drill_ledger, dr_target, dr_check):
    judged(dr_check, "SCH-AGENT-DRILL-WEEKLY", drill_ledger, dr_target)


@pytest.mark.dr_criterion("SCH-FAILOVER-QUARTERLY")
def test_a_failover_drill_passed_within_92_days(drill_ledger, dr_target, dr_check):
    judged(dr_check, "SCH-FAILOVER-QUARTERLY", drill_ledger, dr_target)


@pytest.mark.dr_criterion("SCH-FULL-DR-ANNUAL")
def test_a_full_dr_simulation_passed_within_366_days(drill_ledger, dr_target, dr_check):
    judged(dr_check, "SCH-FULL-DR-ANNUAL", drill_ledger, dr_target)


@pytest.mark.dr_criterion("SCH-TABLETOP-BIANNUAL")
def test_a_tabletop_exercise_was_held_within_183_days(drill_ledger, dr_target, dr_check):
    judged(dr_check, "SCH-TABLETOP-BIANNUAL", drill_ledger, dr_target)
