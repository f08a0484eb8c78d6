"""COM-STATUS-PAGE on plain data (a mocked Statuspage v2 summary): the page must show *this*
incident, with a status other than "none", in content produced after the incident started."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from pytest_kosmos_dr.checks import communication
from pytest_kosmos_dr.errors import DRUnverifiable
from pytest_kosmos_dr.timeparse import isoformat

START = datetime.fromisoformat("2025-12-13T10:00:00+00:00")
PAGE = {"id": "kosmos", "name": "KOSMOS", "url": "https://status.kosmos.ai"}


def at(minutes: float) -> str:
    return isoformat(START + timedelta(minutes=minutes))


def summary(indicator="major", incidents=None, updated=5, **extra) -> dict:
    incidents = [incident()] if incidents is None else incidents
    return {"page": {**PAGE, "updated_at": at(updated)}, "status": {"indicator": indicator, "description": "x"},
            "incidents": incidents, "components": [], **extra}


def incident(since=2, status="investigating", name="Regional outage") -> dict:
    return {"id": "i1", "name": name, "status": status, "impact": "major", "created_at": at(since),
            "started_at": at(since)}


def page(body: dict, headers: dict | None = None, status: int = 200) -> httpx.Client:
    def handler(request):
        return httpx.Response(status, json=body, headers=headers or {})

    return httpx.Client(transport=httpx.MockTransport(handler), base_url="https://status.example")


def judge(body, headers=None, start=START, resolved=None):
    return communication.status_page(page(body, headers), start, resolved)


def test_the_page_showing_this_incident_passes():
    result = judge(summary())
    assert result.passed, result.summary
    assert result.summary.startswith("status page shows the incident: 'Regional outage' (investigating, since "
                                     "2025-12-13T10:02:00Z)")
    assert result.provenance.startswith("status page https://status.example asked directly (GET /api/v2/summary.json)")


def test_the_summary_fetched_with_the_runs_reads_is_judged_as_it_answered():
    """The summary is fetched once, early (``status_summary``); the judgement asks nothing again."""
    def refuse(request):
        raise AssertionError(f"asked again: {request.url}")

    untouched = httpx.Client(transport=httpx.MockTransport(refuse), base_url="https://status.example")
    fetched = communication.status_summary(page(summary(indicator="none", incidents=[])))
    result = communication.status_page(untouched, START, None, answer=fetched)
    assert not result.passed and "status indicator 'none'" in result.summary
    down = communication.status_page(untouched, START, None, answer="connection refused")
    assert not down.passed and down.summary == "status page https://status.example did not answer: connection refused"


def test_an_incident_posted_a_little_before_the_given_start_still_counts():
    assert judge(summary(incidents=[incident(since=-10)])).passed


def test_all_green_fails():
    result = judge(summary(indicator="none", incidents=[]))
    assert not result.passed
    assert result.summary == ("status page does not show the incident that started 2025-12-13T10:00:00Z: no "
                              "unresolved incident since the incident start; status indicator 'none' (x)")


def test_the_incident_listed_under_all_systems_operational_fails():
    result = judge(summary(indicator="none"))
    assert not result.passed
    assert result.offenders == ["status indicator 'none' (x)"]


def test_only_an_incident_from_another_date_fails():
    result = judge(summary(indicator="minor", incidents=[incident(since=-40 * 24 * 60, name="Old latency")]))
    assert not result.passed
    assert result.offenders == ["no unresolved incident since the incident start (only 'Old latency' (investigating, "
                                "since 2025-11-03T10:00:00Z): another incident)"]


def test_a_resolved_incident_does_not_count():
    assert not judge(summary(incidents=[incident(status="resolved")])).passed


def test_a_copy_cached_before_the_incident_fails():
    made = START - timedelta(hours=1)
    headers = {"Date": "Sat, 13 Dec 2025 11:00:00 GMT", "Age": "7200",
               "Last-Modified": made.strftime("%a, %d %b %Y %H:%M:%S GMT")}
    result = judge(summary(indicator="minor", incidents=[], updated=-60), headers)
    assert not result.passed
    assert result.offenders == [
        "page.updated_at 2025-12-13T09:00:00Z, before the incident start: a copy older than the incident",
        "a cached copy (Age 2 h) generated at 2025-12-13T09:00:00Z, before the incident start: a copy older "
        "than the incident",
        "Last-Modified 2025-12-13T09:00:00Z, before the incident start: a copy older than the incident",
        "no unresolved incident since the incident start"]


def test_a_cached_copy_with_a_stale_age_alone_fails():
    """The content looks right (it lists the incident) but the cache says it was made before it."""
    result = judge(summary(), {"Date": "Sat, 13 Dec 2025 10:30:00 GMT", "Age": "3600"})
    assert not result.passed
    assert result.offenders == ["a cached copy (Age 60 min) generated at 2025-12-13T09:30:00Z, before the incident "
                                "start: a copy older than the incident"]


def test_a_fresh_cached_copy_passes():
    headers = {"Date": "Sat, 13 Dec 2025 10:30:00 GMT", "Age": "60"}
    assert judge(summary(), headers).passed


def test_outside_an_incident_the_page_must_answer_a_real_summary():
    assert judge(summary(indicator="none", incidents=[]), start=None).passed
    assert judge(summary(indicator="none", incidents=[]), resolved=START + timedelta(hours=2)).passed
    bad = judge({"status": {"indicator": "none"}}, start=None)
    assert not bad.passed
    assert bad.summary == ("status page /api/v2/summary.json: HTTP 200, not a Statuspage v2 summary (no the page "
                           "object, no the incidents list)")


def test_a_resolution_before_the_start_is_of_another_incident():
    with pytest.raises(DRUnverifiable, match="the recorded resolution 2025-11-03T12:00:00Z is before the incident"):
        judge(summary(), resolved=START - timedelta(days=40) + timedelta(hours=2))
