"""Communication Plan (COM-*): the incident was declared, updates kept coming, customers and
all-hands were told, the post-mortem was published (from the incident record, --dr-evidence),
and the public status page shows the incident (asked directly).

Without an incident record (and, for the sandbox target, without the sandbox's own), or with the
record of another incident than the one the run is about, the evidence criteria are skipped as
"not verified: ...": never passed. Every result names where its evidence came from.
"""

import pytest

from pytest_kosmos_dr import incident_record as records
from pytest_kosmos_dr.checks import communication
from pytest_kosmos_dr import DRUnverifiable
from pytest_kosmos_dr.timeparse import utcnow


def origin_of(path, dr_run, request) -> str:
    """Who wrote the record: the user (--dr-evidence) or the sandbox itself (self-attested)."""
    published = {}
    if dr_run.target.is_sandbox:
        state = request.getfixturevalue("dr_environment").sandbox_state or {}
        published = {found.resolve(): key for key in ("incident_record", "previous_incident_record")
                     if (found := records.sandbox_evidence_path(state, key)) is not None}
    written_by = published.get(path.resolve())
    if written_by == "incident_record":
        return "written by the sandbox about its own incident: self-attested by the sandbox"
    if written_by == "previous_incident_record":
        return "the sandbox's seeded record of an old drill: self-attested by the sandbox"
    return "given with --dr-evidence"


@pytest.fixture(scope="module")
def incident_record_or_none(dr_run, request):
    """The validated incident record, or None when there is none; a bad record makes the tests broken."""
    path = records.record_path_for(dr_run, lambda: request.getfixturevalue("dr_environment"))
    if path is None:
        return None
    try:
        record = records.load(path)
    except records.InvalidRecord as exc:
        raise DRUnverifiable(f"incident record {exc.path}", f"{exc.field + ': ' if exc.field else ''}{exc.problem}",
                             "fix the record; its format is in docs/evidence.md") from None
    return record.with_origin(origin_of(path, dr_run, request))


@pytest.fixture(scope="module")
def incident_record(incident_record_or_none, dr_incident_start):
    """The record, when it describes the incident this run is about (else not verified, with the reason)."""
    if incident_record_or_none is None:
        pytest.skip(records.NO_RECORD)
    try:
        return communication.about_this_incident(incident_record_or_none, dr_incident_start)
    except communication.NotVerified as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def status_page(dr_environment, dr_target):
    """httpx client for the public status page (no credentials: it is public)."""
    from pytest_kosmos_dr.clients.http import http_client

    if not dr_environment.status_page_url:
        raise DRUnverifiable("status page", "the target has no status page URL", "set endpoints.status_page")
    with http_client(dr_environment.status_page_url, dr_target.timeouts, None, dr_environment.verify_tls) as client:
        yield client


def judged(dr_check, check, *args):
    """Run an evidence check: "not verified" becomes a skip with that reason, anything else dr_check."""
    __tracebackhide__ = True
    try:
        result = check(*args)
    except communication.NotVerified as exc:
        pytest.skip(str(exc))
    return dr_check(result)


@pytest.mark.dr_criterion("COM-INCIDENT-DECLARED")
def test_incident_was_declared_in_the_incident_channel_and_paged(incident_record, dr_check):
    judged(dr_check, communication.incident_declared, incident_record)


@pytest.mark.dr_criterion("COM-UPDATES-30MIN")
def test_updates_went_out_at_most_30_minutes_apart(incident_record, dr_objectives, dr_check):
    judged(dr_check, communication.update_cadence, incident_record, dr_objectives.update_interval, utcnow())


@pytest.mark.dr_criterion("COM-STATUS-PAGE")
def test_status_page_shows_the_incident_or_current_status(status_page, dr_incident_start, incident_record_or_none,
                                                           dr_run, dr_check):
    record = incident_record_or_none
    if record is not None and records.other_incident(record, dr_incident_start):
        record = None  # the record of another incident says nothing about this one's resolution
    start = dr_incident_start or (record.started_at if record else None)
    resolved = record.resolution.resolved_at if record and record.resolution else None
    result = communication.status_page(status_page, start, resolved)
    source = ("--dr-incident-start" if dr_run.options.incident_start else "the sandbox's incident"
              if dr_incident_start else f"the record {record.path}" if record else "none known")
    result.provenance += f"; incident start from {source}"
    if dr_run.target.is_sandbox:
        result.provenance += "; the sandbox's stand-in page (self-attested by the sandbox)"
    dr_check(result)


@pytest.mark.dr_criterion("COM-CUSTOMER-15MIN")
def test_customers_were_emailed_within_15_minutes(incident_record, dr_objectives, dr_check):
    judged(dr_check, communication.customer_notice, incident_record, dr_objectives.customer_notice, utcnow())


@pytest.mark.dr_criterion("COM-RESOLUTION-EMAIL")
def test_resolution_email_went_to_all_hands(incident_record, dr_check):
    judged(dr_check, communication.resolution_email, incident_record)


@pytest.mark.dr_criterion("COM-POSTMORTEM-48H")
def test_postmortem_was_published_within_48_hours_of_resolution(incident_record, dr_objectives, dr_check):
    judged(dr_check, communication.postmortem_published, incident_record, dr_objectives.postmortem_within, utcnow())
