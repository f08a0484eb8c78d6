"""Communication Plan (COM-*): the incident was declared, updates kept coming, customers and
all-hands were told, the post-mortem was published (from the incident record, --dr-evidence),
and the public status page shows the incident (asked directly).

Without an incident record (and, for the sandbox target, without the sandbox's own), or with the
record of another incident than the one the run is about, the evidence criteria are skipped as
"not verified: ...": never passed. Every result names where its evidence came from.
"""

import pytest

from pytest_kosmos_dr.checks import communication


def judged(dr_check, check, record, **limits):
    """Run an evidence check: "not verified" becomes a skip with that reason, anything else dr_check."""
    __tracebackhide__ = True
    try:
        result = check(record, **limits)
    except communication.NotVerified as exc:
        pytest.skip(str(exc))
    return dr_check(result)


@pytest.mark.dr_criterion("COM-INCIDENT-DECLARED")
def test_incident_was_declared_in_the_incident_channel_and_paged(incident_record, dr_check):
    judged(dr_check, communication.incident_declared, incident_record)


@pytest.mark.dr_criterion("COM-UPDATES-30MIN")
def test_updates_went_out_at_most_30_minutes_apart(incident_record, dr_objectives, dr_check):
    judged(dr_check, communication.update_cadence, incident_record, interval=dr_objectives.update_interval)


@pytest.mark.dr_criterion("COM-STATUS-PAGE")
def test_status_page_shows_the_incident_or_current_status(status_page, status_page_incident, status_page_summary,
                                                          dr_check):
    result = communication.status_page(status_page, status_page_incident.start, status_page_incident.resolved_at,
                                       answer=status_page_summary)
    result.provenance += status_page_incident.provenance  # where the incident start came from
    dr_check(result)


@pytest.mark.dr_criterion("COM-CUSTOMER-15MIN")
def test_customers_were_emailed_within_15_minutes(incident_record, dr_objectives, dr_check):
    judged(dr_check, communication.customer_notice, incident_record, within=dr_objectives.customer_notice)


@pytest.mark.dr_criterion("COM-RESOLUTION-EMAIL")
def test_resolution_email_went_to_all_hands(incident_record, dr_check):
    judged(dr_check, communication.resolution_email, incident_record)


@pytest.mark.dr_criterion("COM-POSTMORTEM-48H")
def test_postmortem_was_published_within_48_hours_of_resolution(incident_record, dr_objectives, dr_check):
    judged(dr_check, communication.postmortem_published, incident_record, within=dr_objectives.postmortem_within)
