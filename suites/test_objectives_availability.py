"""Objectives: the availability objective over the reporting window (OBJ-AVAILABILITY).

Read from the monitoring system through Grafana: the availability series of the target's
``monitoring`` settings (its Prometheus data source) and the maintenance windows declared as
annotations. See checks/availability.py.
"""

import pytest

from pytest_kosmos_dr.checks import availability


@pytest.mark.dr_criterion("OBJ-AVAILABILITY")
def test_availability_over_the_window_meets_the_objective(grafana, dr_target, dr_objectives, dr_check):
    dr_check(availability.availability(grafana, objective=dr_objectives.availability,
                                       window=dr_objectives.availability_window, monitoring=dr_target.monitoring))
