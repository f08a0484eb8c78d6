"""Objectives (OBJ-AVAILABILITY): availability over the reporting window, declared maintenance left out.

Where the numbers come from: the monitoring system's availability series, read through Grafana
(the DR region's Grafana, reached with the target's Grafana token):

* the series: Grafana's data-source proxy to Prometheus,
  ``GET /api/datasources/proxy/uid/<DATASOURCE_UID>/api/v1/query_range?query=<QUERY>&start&end&step``
  (Prometheus HTTP API answer, one series);
* declared maintenance: Grafana annotations tagged ``maintenance``,
  ``GET /api/annotations?tags=maintenance&type=annotation&from=<ms>&to=<ms>`` (``time``/``timeEnd`` in ms).

How it is computed: the window ends at the last whole step before now and reaches back
``window``. Each point of the series stands for the step that starts at its timestamp (Prometheus
answers, at each step, the latest probe result at or before it); it is *up* when its value is at
least ``UP_THRESHOLD`` (0.5: with ``avg(probe_success)`` over several probes, more than half of
them succeeded). Points inside a declared maintenance window (``time <= t < timeEnd``) are left
out. Steps without a point (no data) count as down: the monitoring did not see the service up.
availability = up steps / steps outside maintenance; allowed downtime = (100 % - objective) x
(window - maintenance); error budget left = allowed downtime - downtime. An outage shorter than
one step can fall between two points: the measurement is exact to one step per outage.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import httpx

from ..clients import http as http_client
from ..errors import DRUnverifiable
from ..results import CheckResult, Evidence, trim
from ..timeparse import format_duration

# Which series and which annotations. Module constants until the target grows settings for them.
DATASOURCE_UID = "prometheus"
QUERY = 'avg(probe_success{job="kosmos-api"})'
MAINTENANCE_TAG = "maintenance"
STEP = timedelta(minutes=5)  # 30 d at 5 min = 8640 points (Prometheus answers at most 11,000)
UP_THRESHOLD = 0.5
ANNOTATION_LIMIT = 1000  # Grafana's default is 100
MAX_LISTED = 10  # down periods named in the result


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M") + "Z"


def _curl(grafana: httpx.Client, path: str) -> str:
    return (f"GET {grafana.base_url}{path}\n(shell: curl -sS -H \"Authorization: Bearer $GRAFANA_TOKEN\" "
            f"'{grafana.base_url}{path}')")


def _get_json(grafana: httpx.Client, path: str, what: str, evidence: list[Evidence], title: str):
    """GET a JSON answer; anything but HTTP 200 with JSON means we could not read the monitoring data."""
    answer = http_client.get(grafana, path, what)
    if isinstance(answer, str):
        evidence.append(Evidence(title, _curl(grafana, path), answer))
        raise DRUnverifiable(what, f"did not answer: {answer}", "the availability series is read through Grafana")
    try:
        body = answer.json()
    except (ValueError, json.JSONDecodeError):
        body = None
    if answer.status_code != 200 or body is None:
        detail = ""
        if isinstance(body, dict):
            detail = body.get("error") or body.get("message") or ""
        hint = ""
        if answer.status_code == 404 and "datasources" in path:
            hint = f"no Grafana data source with uid {DATASOURCE_UID!r} (availability.DATASOURCE_UID)"
        raise DRUnverifiable(what, f"HTTP {answer.status_code}" + (f": {detail}" if detail else ""), hint)
    return answer, body


def _maintenance_windows(items: list, start: float, end: float) -> list[tuple[float, float, str]]:
    """Declared maintenance, clipped to the window and merged: [(from_s, to_s, text)]."""
    spans = []
    for item in items:
        if not isinstance(item, dict):
            continue
        begin, finish = item.get("time"), item.get("timeEnd") or item.get("time")
        if not isinstance(begin, (int, float)) or not isinstance(finish, (int, float)) or finish <= begin:
            continue  # a point annotation declares no window
        begin, finish = max(begin / 1000, start), min(finish / 1000, end)
        if finish > begin:
            spans.append((begin, finish, str(item.get("text", "")).splitlines()[0] if item.get("text") else ""))
    spans.sort()
    merged: list[tuple[float, float, str]] = []
    for begin, finish, text in spans:
        if merged and begin <= merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], finish), last[2] + "; " + text if text else last[2])
        else:
            merged.append((begin, finish, text))
    return merged


def _down_periods(down: list[float], step: float) -> list[tuple[float, float]]:
    """Consecutive down steps as (from, to); a point at t stands for [t, t + step)."""
    periods: list[tuple[float, float]] = []
    for t in down:
        if periods and abs(t - periods[-1][1]) < 1e-6:
            periods[-1] = (periods[-1][0], t + step)
        else:
            periods.append((t, t + step))
    return periods


def availability(grafana: httpx.Client, objective: float, window: timedelta, *, now: datetime | None = None,
                 datasource_uid: str = DATASOURCE_UID, query: str = QUERY, step: timedelta = STEP,
                 maintenance_tag: str = MAINTENANCE_TAG) -> CheckResult:
    """OBJ-AVAILABILITY: availability over ``window`` (maintenance left out) is at least ``objective`` %."""
    cid = "OBJ-AVAILABILITY"
    step_s = step.total_seconds()
    now_s = (now or datetime.now(timezone.utc)).timestamp()
    end = (now_s // step_s) * step_s
    start = end - window.total_seconds()
    evidence: list[Evidence] = []
    days, rest = divmod(window.total_seconds(), 86400)
    window_text = f"{days:.0f} d" if not rest else format_duration(window)

    # 1. declared maintenance
    params = urlencode({"tags": maintenance_tag, "type": "annotation", "from": int(start * 1000),
                        "to": int(end * 1000), "limit": ANNOTATION_LIMIT})
    path = f"/api/annotations?{params}"
    answer, items = _get_json(grafana, path, "Grafana annotations", evidence, "maintenance annotations")
    if not isinstance(items, list):
        raise DRUnverifiable("Grafana annotations", "the answer is not a JSON list")
    if len(items) >= ANNOTATION_LIMIT:
        raise DRUnverifiable("Grafana annotations", f"{len(items)} annotations: the list may be cut at the limit")
    maintenance = _maintenance_windows(items, start, end)
    listed = "\n".join(f"{_iso(a)} - {_iso(b)} ({format_duration(b - a)}) {text}" for a, b, text in maintenance)
    evidence.append(Evidence("maintenance annotations", _curl(grafana, path),
                             f"HTTP {answer.status_code}: {len(items)} annotation(s) tagged {maintenance_tag!r}; "
                             f"maintenance windows in the reporting window:\n{listed or '(none)'}"))

    # 2. the availability series
    params = urlencode({"query": query, "start": f"{start:.0f}", "end": f"{end:.0f}", "step": f"{step_s:.0f}"})
    path = f"/api/datasources/proxy/uid/{datasource_uid}/api/v1/query_range?{params}"
    answer, body = _get_json(grafana, path, f"Prometheus query_range via Grafana ({datasource_uid})", evidence,
                             "availability series")
    data = body.get("data") if isinstance(body, dict) else None
    result = data.get("result") if isinstance(data, dict) else None
    if not isinstance(body, dict) or body.get("status") != "success" or not isinstance(result, list):
        raise DRUnverifiable("Prometheus query_range", f"unexpected answer: {trim(answer.text, 200)}")
    if not result:
        raise DRUnverifiable("Prometheus query_range", f"{query} matched no series",
                             "check availability.QUERY and the data source")
    if len(result) > 1:
        raise DRUnverifiable("Prometheus query_range", f"{query} answered {len(result)} series, expected one",
                             "aggregate the query, e.g. avg(...)")
    points: dict[float, float] = {}
    for ts, value in result[0].get("values", []):
        try:
            points[round(float(ts), 3)] = float(value)
        except (TypeError, ValueError):
            continue
    first = min(points) if points else None

    # 3. count
    steps = int(round((end - start) / step_s))
    up = down_count = excluded = missing = 0
    down_times: list[float] = []
    for i in range(steps):
        t = round(start + i * step_s, 3)
        if any(a <= t < b for a, b, _ in maintenance):
            excluded += 1
            continue
        value = points.get(t)
        if value is None or value != value:  # no point, or NaN
            missing += 1
            down_times.append(t)
        elif value >= UP_THRESHOLD:
            up += 1
        else:
            down_count += 1
            down_times.append(t)
    counted = steps - excluded
    if counted <= 0:
        raise DRUnverifiable("availability", "the whole reporting window is declared maintenance")
    if first is None or missing > counted / 10:
        raise DRUnverifiable("availability series", f"{missing} of {counted} steps have no data "
                             f"(first point {_iso(first) if first else 'none'})",
                             "does the series reach back the whole window (Prometheus retention)?")
    measured = 100.0 * up / counted
    downtime_min = (counted - up) * step_s / 60
    allowed_min = counted * step_s / 60 * (100.0 - objective) / 100.0
    left_min = allowed_min - downtime_min
    maintenance_min = excluded * step_s / 60
    periods = _down_periods(down_times, step_s)
    offenders = [f"{_iso(a)} - {_iso(b)} down ({format_duration(b - a)})" for a, b in periods]
    evidence.append(Evidence("availability series", _curl(grafana, path),
                             f"HTTP {answer.status_code}: {len(points)} points, first {_iso(first)}, step "
                             f"{format_duration(step_s)}\nsteps: {steps}, in maintenance: {excluded}, counted: "
                             f"{counted}, up (>= {UP_THRESHOLD:g}): {up}, down: {down_count}, no data: {missing}\n"
                             f"down periods (outside maintenance):\n" + ("\n".join(offenders) or "(none)")))
    if len(offenders) > MAX_LISTED:
        offenders = offenders[:MAX_LISTED] + [f"... {len(offenders) - MAX_LISTED} more"]
    left_out = "no declared maintenance"
    if excluded:
        left_out = f"{format_duration(maintenance_min * 60)} declared maintenance"
    scope = (f"over {window_text} ({left_out} left out"
             + (f", {missing} step(s) without data counted as down" if missing else "") + ")")
    budget = f"{downtime_min:.0f} min down, {allowed_min:.0f} min allowed"
    if measured >= objective:
        return CheckResult(cid, True, f"availability {measured:.3f} % {scope}, objective {objective:g} %; "
                           f"error budget left {left_min:.0f} min ({budget})",
                           measured=f"{measured:.3f} %", limit=f">= {objective:g} %", offenders=offenders,
                           evidence=evidence)
    return CheckResult(cid, False, f"availability {measured:.3f} % {scope} < objective {objective:g} %; "
                       f"error budget exceeded by {-left_min:.0f} min ({budget})",
                       measured=f"{measured:.3f} %", limit=f">= {objective:g} %", offenders=offenders,
                       evidence=evidence)
