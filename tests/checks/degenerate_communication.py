"""Degenerate inputs for the COM-* checks: null declarations, no updates, missing emails, and a
status page that answers nothing useful. None may pass."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import httpx

from pytest_kosmos_dr.checks import communication
from pytest_kosmos_dr.incident_record import (
    CustomerEmail, Declaration, IncidentRecord, Resolution, ResolutionEmail,
)

START = datetime.fromisoformat("2025-12-13T10:00:00+00:00")
LATER = START + timedelta(days=5)
EIGHT_HOURS = timedelta(hours=8)


def record(**fields) -> IncidentRecord:
    """An empty record: nothing declared, no update, no email, ongoing."""
    base = dict(path=Path("incident.json"), incident_id="", started_at=START, declared=None, updates=(),
                customer_email=None, resolution=None, postmortem=None)
    return IncidentRecord(**{**base, **fields})


def page(body=None, status: int = 200, content: bytes | None = None) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if content is not None:
            return httpx.Response(status, content=content)
        return httpx.Response(status, json=body)

    return httpx.Client(transport=httpx.MockTransport(handler), base_url="https://status.example")


UPDATE, NOTICE, POSTMORTEM = timedelta(minutes=30), timedelta(minutes=15), timedelta(hours=48)
RESOLVED_NO_EMAIL = Resolution(START + timedelta(hours=2), None)

CASES = {
    "communication.incident_declared": [
        ("never declared", lambda: communication.incident_declared(record())),
        ("declared, no paging, empty channel", lambda: communication.incident_declared(
            record(declared=Declaration(START, "", None)))),
        ("declared, channel None", lambda: communication.incident_declared(
            record(declared=Declaration(START, None, None)))),
    ],
    "communication.update_cadence": [
        ("nothing at all, 8 h ongoing", lambda: communication.update_cadence(
            record(), interval=UPDATE, now=START + EIGHT_HOURS)),
        ("declared, no update, resolved after 3 h", lambda: communication.update_cadence(
            record(declared=Declaration(START, "#incidents", None),
                   resolution=Resolution(START + timedelta(hours=3), None)), interval=UPDATE, now=LATER)),
        ("zero interval", lambda: communication.update_cadence(
            record(), interval=timedelta(0), now=START + EIGHT_HOURS)),
    ],
    "communication.customer_notice": [
        ("no email, days later", lambda: communication.customer_notice(record(), within=NOTICE, now=LATER)),
        ("email with empty audience sent a day late", lambda: communication.customer_notice(
            record(customer_email=CustomerEmail(START + timedelta(days=1), "")), within=NOTICE, now=LATER)),
        ("zero allowance", lambda: communication.customer_notice(
            record(customer_email=CustomerEmail(START + timedelta(minutes=1), "all")), within=timedelta(0), now=LATER)),
    ],
    "communication.resolution_email": [
        ("resolved, no email", lambda: communication.resolution_email(record(resolution=RESOLVED_NO_EMAIL))),
        ("email to nobody", lambda: communication.resolution_email(record(
            resolution=Resolution(START + timedelta(hours=2), ResolutionEmail(START + timedelta(hours=2), ()))))),
        ("email to an empty list name", lambda: communication.resolution_email(record(
            resolution=Resolution(START + timedelta(hours=2), ResolutionEmail(START + timedelta(hours=2), ("",)))))),
    ],
    "communication.postmortem_published": [
        ("resolved, no post-mortem, days later", lambda: communication.postmortem_published(
            record(resolution=RESOLVED_NO_EMAIL), within=POSTMORTEM, now=LATER)),
        ("zero allowance, none published", lambda: communication.postmortem_published(
            record(resolution=RESOLVED_NO_EMAIL), within=timedelta(0), now=LATER)),
        ("no post-mortem a year later", lambda: communication.postmortem_published(
            record(resolution=RESOLVED_NO_EMAIL), within=POSTMORTEM, now=START + timedelta(days=365))),
    ],
    "communication.status_page": [
        ("empty object", lambda: communication.status_page(page({}), None, None)),
        ("null body", lambda: communication.status_page(page(None), START, None)),
        ("not JSON", lambda: communication.status_page(page(content=b"<html>ok</html>"), None, None)),
        ("status without indicator", lambda: communication.status_page(page({"status": {}, "page": {},
                                                                             "incidents": []}), None, None)),
        ("null indicator", lambda: communication.status_page(page({"status": {"indicator": None}, "page": {},
                                                                   "incidents": []}), None, None)),
        ("indicator only, no page or incidents", lambda: communication.status_page(
            page({"status": {"indicator": "none"}}), None, None)),
        ("during the incident: no incidents listed", lambda: communication.status_page(
            page({"status": {"indicator": "major"}, "page": {}, "incidents": []}), START, None)),
        ("during the incident: incidents null", lambda: communication.status_page(
            page({"status": {"indicator": "major"}, "page": {}, "incidents": None}), START, None)),
        ("during the incident: an incident without times", lambda: communication.status_page(
            page({"status": {"indicator": "major"}, "page": {}, "incidents": [{"status": "investigating"}]}),
            START, None)),
        ("HTTP 404", lambda: communication.status_page(page({}, status=404), None, None)),
    ],
}
