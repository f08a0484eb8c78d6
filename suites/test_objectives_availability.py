"""Objectives: the availability objective over the reporting window (OBJ-AVAILABILITY).

Read from the monitoring system through Grafana: the availability series of the target's
``monitoring`` settings (its Prometheus data source) and the maintenance windows declared as
annotations. See checks/availability.py.
"""

import pytest


@pytest.mark.dr_criterion("OBJ-AVAILABILITY")
def test_availability_over_the_window_meets_the_objective(availability_over_the_window, dr_check):
    dr_check(availability_over_the_window)  # availability.availability, asked through Grafana
