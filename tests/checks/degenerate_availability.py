"""Degenerate inputs for OBJ-AVAILABILITY: no annotations list, no series, empty or out-of-range values."""

from datetime import datetime, timedelta, timezone

import httpx

from pytest_kosmos_dr.checks import availability
from pytest_kosmos_dr.target import Monitoring

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)


def _run(annotations, series, monitoring=None):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/annotations":
            return httpx.Response(200, json=annotations)
        return httpx.Response(200, json=series)

    client = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://grafana.test")
    return availability.availability(client, objective=99.9, window=timedelta(days=1), monitoring=monitoring, now=NOW)


def _matrix(values):
    return {"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": values}]}}


CASES = {
    "availability.availability": [
        ("annotations None", lambda: _run(None, _matrix([]))),
        ("no series", lambda: _run([], {"status": "success", "data": {"result": []}})),
        ("series without values", lambda: _run([], _matrix([]))),
        ("values None", lambda: _run([], {"status": "success", "data": {"result": [{"metric": {}, "values": None}]}})),
        ("empty answer", lambda: _run([], {})),
        ("values out of range", lambda: _run([], _matrix([[NOW.timestamp() - 300 * i, "2"] for i in range(288)]))),
        ("whole window maintenance", lambda: _run(
            [{"time": 0, "timeEnd": int(NOW.timestamp() * 1000) + 1, "created": 0, "text": "maintenance"}],
            _matrix([[NOW.timestamp() - 300 * i, "1"] for i in range(288)]))),
        ("another data source, no series", lambda: _run([], {"status": "success", "data": {"result": []}},
                                                        Monitoring(datasource="kosmos-metrics"))),
        ("empty series name, empty answer", lambda: _run([], {"status": "success", "data": None},
                                                         Monitoring(availability_series=""))),
    ],
}
