"""OBJ-AVAILABILITY on plain data: the data source, series and maintenance tag come from the target's
``monitoring`` settings (more on what counts as down: tests/test_availability_and_kill_switch.py)."""

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from pytest_kosmos_dr.checks import availability
from pytest_kosmos_dr.errors import DRUnverifiable
from pytest_kosmos_dr.target import Monitoring

NOW = datetime(2026, 1, 10, 12, 0, 30, tzinfo=timezone.utc)
END = 1768046400.0  # NOW aligned down to 5 min
WINDOW = timedelta(days=1)
OTHER = Monitoring(datasource="kosmos-metrics", availability_series='probe_success{job="blackbox-kosmos-api"}',
                   maintenance_tag="planned-work")


def grafana(datasource: str, values=None, asked=None) -> httpx.Client:
    start = END - WINDOW.total_seconds()
    points = [[start + 300 * i, str((values or {}).get(i, 1.0))] for i in range(1, 289)]

    def handler(request):
        if asked is not None:
            asked.append((request.url.path, dict(request.url.params)))
        if request.url.path == "/api/annotations":
            return httpx.Response(200, json=[])
        if request.url.path != f"/api/datasources/proxy/uid/{datasource}/api/v1/query_range":
            return httpx.Response(404, json={"message": "Data source not found"})
        return httpx.Response(200, json={"status": "success", "data": {"result": [{"metric": {}, "values": points}]}})

    return httpx.Client(transport=httpx.MockTransport(handler), base_url="http://grafana.test")


def test_the_targets_data_source_series_and_tag_are_asked_for():
    asked = []
    result = availability.availability(grafana("kosmos-metrics", asked=asked), objective=99.9, window=WINDOW, monitoring=OTHER, now=NOW)
    assert result.passed, result.summary
    (_, annotations), (_, series) = asked
    assert annotations["tags"] == "planned-work"
    assert series["query"] == 'avg(avg_over_time(probe_success{job="blackbox-kosmos-api"}[300s]))'


def test_the_default_is_the_plans_prometheus_series():
    asked = []
    assert availability.availability(grafana("prometheus", asked=asked), objective=99.9, window=WINDOW, now=NOW).passed
    assert asked[1][1]["query"] == 'avg(avg_over_time(probe_success{job="kosmos-api"}[300s]))'


def test_downtime_in_the_targets_series_fails():
    result = availability.availability(grafana("kosmos-metrics", {i: 0.0 for i in range(1, 13)}), objective=99.9, window=WINDOW, monitoring=OTHER,
                                       now=NOW)
    assert not result.passed and "(60 min down, 1 min allowed)" in result.summary, result.summary


def test_a_data_source_grafana_does_not_have_cannot_be_verified_and_is_named():
    with pytest.raises(DRUnverifiable, match="HTTP 404.*no Grafana data source with uid 'kosmos-metrics' "
                                             r"\(monitoring.datasource of the target\)"):
        availability.availability(grafana("prometheus"), objective=99.9, window=WINDOW, monitoring=OTHER, now=NOW)


def test_queries_are_built_from_the_series():
    assert availability.live_query("up{job='x'}") == "avg(up{job='x'})"
    assert availability.range_query("up", timedelta(minutes=5)) == "avg(avg_over_time(up[300s]))"
