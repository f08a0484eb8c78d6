"""Objectives (OBJ-AVAILABILITY): availability over the reporting window, planned maintenance left out.

Where the numbers come from: the monitoring system's availability series, read through Grafana
(the DR region's Grafana, reached with the target's Grafana token):

* the series: Grafana's data-source proxy to Prometheus (the data source ``monitoring.datasource``),
  ``GET /api/datasources/proxy/uid/<datasource>/api/v1/query_range?query=<range_query(series, step)>&start&end&step``
  with ``avg(avg_over_time(<monitoring.availability_series>[<step>]))``: at each step, the share of
  probes that succeeded during the step before it (not one sample per step: an outage between two
  sample points is counted too);
* declared maintenance: Grafana annotations tagged ``monitoring.maintenance_tag``,
  ``GET /api/annotations?tags=<tag>&type=annotation&from=<ms>&to=<ms>`` (``time``/``timeEnd``/``created`` in ms).

How it is computed: the window ends at the last whole step before now and reaches back
``window``. The point at ``t`` stands for the step ``[t - step, t)``; its value (0..1) is the share
of that step the service was up. Only *planned* maintenance is left out (the plan: "excluding
planned maintenance"): an annotation created no later than ``PLANNED_GRACE`` after the window it
declares began; one written afterwards (an outage relabelled as maintenance) is listed and counted.
Steps in a planned window (their start in ``[time, timeEnd)``) are left out. Steps without a point
count as down: the monitoring did not see the service up. downtime = sum of (1 - value) x step;
availability = 1 - downtime / time outside maintenance; allowed downtime = (100 % - objective) x
(window - maintenance); error budget left = allowed downtime - downtime.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode
from typing import TYPE_CHECKING

from ..clients import http as http_client
from ..errors import DRUnverifiable
from ..results import CheckResult, Evidence, trim
from ..target import Monitoring
from ..timeparse import format_duration

if TYPE_CHECKING:
    import httpx

STEP = timedelta(minutes=5)  # 30 d at 5 min = 8640 points (Prometheus answers at most 11,000)
PLANNED_GRACE = timedelta(minutes=1)  # an annotation written this long after its start still counts as planned
ANNOTATION_LIMIT = 1000  # Grafana's default is 100
MAX_LISTED = 10  # down periods named in the result


def range_query(series: str, step: timedelta) -> str:
    """The share of successful probes during each step: ``avg(avg_over_time(<series>[<step>]))``."""
    return f"avg(avg_over_time({series}[{step.total_seconds():.0f}s]))"


def live_query(series: str) -> str:
    """The current share of successful probes (VAL-MONITORING): ``avg(<series>)``."""
    return f"avg({series})"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M") + "Z"


def _get_json(grafana: httpx.Client, path: str, what: str, evidence: list[Evidence], title: str, datasource: str = ""):
    """GET a JSON answer; anything but HTTP 200 with JSON means we could not read the monitoring data."""
    answer = http_client.get(grafana, path, what)
    if isinstance(answer, str):
        evidence.append(Evidence(title, http_client.as_curl(grafana, path, token_env="GRAFANA_TOKEN"), answer))
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
        if answer.status_code == 404 and datasource:
            hint = f"no Grafana data source with uid {datasource!r} (monitoring.datasource of the target)"
        raise DRUnverifiable(what, f"HTTP {answer.status_code}" + (f": {detail}" if detail else ""), hint)
    return answer, body


def _maintenance_windows(items: list, start: float, end: float
                        ) -> tuple[list[tuple[float, float, str]], list[str]]:
    """Planned maintenance, clipped to the window and merged: ([(from_s, to_s, text)], [declared afterwards])."""
    spans, afterwards = [], []
    for item in items:
        if not isinstance(item, dict):
            continue
        begin, finish = item.get("time"), item.get("timeEnd") or item.get("time")
        if not isinstance(begin, (int, float)) or not isinstance(finish, (int, float)) or finish <= begin:
            continue  # a point annotation declares no window
        text = str(item.get("text", "")).splitlines()[0] if item.get("text") else ""
        created = item.get("created")
        if not isinstance(created, (int, float)) or created / 1000 > begin / 1000 + PLANNED_GRACE.total_seconds():
            when = _iso(created / 1000) if isinstance(created, (int, float)) else "at an unknown time"
            afterwards.append(f"{_iso(begin / 1000)} - {_iso(finish / 1000)} {text!r} declared {when}, after it began")
            continue
        begin, finish = max(begin / 1000, start), min(finish / 1000, end)
        if finish > begin:
            spans.append((begin, finish, text))
    spans.sort()
    merged: list[tuple[float, float, str]] = []
    for begin, finish, text in spans:
        if merged and begin <= merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], finish), last[2] + "; " + text if text else last[2])
        else:
            merged.append((begin, finish, text))
    return merged, afterwards


def _down_periods(down: list[tuple[float, float]], step: float) -> list[tuple[float, float, float]]:
    """Consecutive steps with downtime as (from, to, seconds down); a step is (its start, seconds down)."""
    periods: list[tuple[float, float, float]] = []
    for t, lost in down:
        if periods and abs(t - periods[-1][1]) < 1e-6:
            periods[-1] = (periods[-1][0], t + step, periods[-1][2] + lost)
        else:
            periods.append((t, t + step, lost))
    return periods


def availability(grafana: httpx.Client, *, objective: float, window: timedelta, monitoring: Monitoring | None = None,
                 now: datetime | None = None, step: timedelta = STEP) -> CheckResult:
    """OBJ-AVAILABILITY: availability over ``window`` (planned maintenance left out) is at least ``objective`` %,
    read from ``monitoring.availability_series`` of data source ``monitoring.datasource``."""
    monitoring = monitoring or Monitoring()
    datasource_uid, maintenance_tag = monitoring.datasource, monitoring.maintenance_tag
    query = range_query(monitoring.availability_series, step)
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
    maintenance, afterwards = _maintenance_windows(items, start, end)
    listed = "\n".join(f"{_iso(a)} - {_iso(b)} ({format_duration(b - a)}) {text}" for a, b, text in maintenance)
    evidence.append(Evidence("maintenance annotations", http_client.as_curl(grafana, path, token_env="GRAFANA_TOKEN"),
                             f"HTTP {answer.status_code}: {len(items)} annotation(s) tagged {maintenance_tag!r}; "
                             f"planned maintenance in the reporting window:\n{listed or '(none)'}"
                             + ("\nnot planned (declared after it began), counted:\n" + "\n".join(afterwards)
                                if afterwards else "")))

    # 2. the availability series: point at t = share of probes up during [t - step, t)
    params = urlencode({"query": query, "start": f"{start + step_s:.0f}", "end": f"{end:.0f}", "step": f"{step_s:.0f}"})
    path = f"/api/datasources/proxy/uid/{datasource_uid}/api/v1/query_range?{params}"
    answer, body = _get_json(grafana, path, f"Prometheus query_range via Grafana ({datasource_uid})", evidence,
                             "availability series", datasource_uid)
    data = body.get("data") if isinstance(body, dict) else None
    result = data.get("result") if isinstance(data, dict) else None
    if not isinstance(body, dict) or body.get("status") != "success" or not isinstance(result, list):
        raise DRUnverifiable("Prometheus query_range", f"unexpected answer: {trim(answer.text, 200)}")
    if not result:
        raise DRUnverifiable("Prometheus query_range", f"{query} matched no series",
                             "check monitoring.availability_series and monitoring.datasource of the target")
    if len(result) > 1:
        raise DRUnverifiable("Prometheus query_range", f"{query} answered {len(result)} series, expected one",
                             "aggregate the query, e.g. avg(...)")
    points: dict[float, float] = {}
    values = result[0].get("values") if isinstance(result[0], dict) else None
    for pair in values if isinstance(values, list) else []:
        try:
            ts, value = pair
            points[round(float(ts), 3)] = float(value)
        except (TypeError, ValueError):
            continue
    outside = sorted(v for v in points.values() if not (0.0 <= v <= 1.0))
    if outside:
        raise DRUnverifiable("availability series", f"{len(outside)} value(s) outside 0..1 (e.g. {outside[0]:g}): "
                             f"not a share of successful probes",
                             "monitoring.availability_series must be 1 while a probe succeeds, 0 while it fails")
    first = min(points) - step_s if points else None

    # 3. count: each step (its start s) outside planned maintenance loses (1 - value) x step
    steps = int(round((end - start) / step_s))
    excluded = missing = partial = 0
    lost_s = 0.0
    down: list[tuple[float, float]] = []
    value_at, spans, span = points.get, len(maintenance), 0  # maintenance: sorted, merged; steps ascend
    for i in range(steps):
        s = round(start + i * step_s, 3)
        while span < spans and maintenance[span][1] <= s:
            span += 1
        if span < spans and maintenance[span][0] <= s:
            excluded += 1
            continue
        value = value_at(round(s + step_s, 3))
        if value == 1.0:  # up the whole step
            continue
        if value is None or value != value:  # no point, or NaN
            missing += 1
            value = 0.0
        if value < 1.0:
            partial += 1
            lost_s += (1.0 - value) * step_s
            down.append((s, (1.0 - value) * step_s))
    counted = steps - excluded
    if counted <= 0:
        raise DRUnverifiable("availability", "the whole reporting window is declared maintenance")
    if first is None or missing > counted / 10:
        raise DRUnverifiable("availability series", f"{missing} of {counted} steps have no data "
                             f"(first point {_iso(first) if first else 'none'})",
                             "does the series reach back the whole window (Prometheus retention)?")
    counted_s = counted * step_s
    measured = 100.0 * (1.0 - lost_s / counted_s)
    downtime_min = lost_s / 60
    allowed_min = counted_s / 60 * (100.0 - objective) / 100.0
    left_min = allowed_min - downtime_min
    periods = _down_periods(down, step_s)
    offenders = [f"{_iso(a)} - {_iso(b)}: {format_duration(lost)} down" for a, b, lost in periods]
    evidence.append(Evidence("availability series", http_client.as_curl(grafana, path, token_env="GRAFANA_TOKEN"),
                             f"HTTP {answer.status_code}: {len(points)} points, first step from {_iso(first)}, step "
                             f"{format_duration(step_s)}\nsteps: {steps}, in planned maintenance: {excluded}, counted: "
                             f"{counted}, with downtime: {partial} (no data: {missing}), downtime "
                             f"{format_duration(lost_s)}\nperiods with downtime (outside planned maintenance):\n"
                             + ("\n".join(offenders) or "(none)")))
    offenders = [f"maintenance {a} (counted)" for a in afterwards] + offenders
    if len(offenders) > MAX_LISTED:
        offenders = offenders[:MAX_LISTED] + [f"... {len(offenders) - MAX_LISTED} more"]
    left_out = "no planned maintenance"
    if excluded:
        left_out = f"{format_duration(excluded * step_s)} planned maintenance"
    notes = [f"{left_out} left out"]
    if afterwards:
        notes.append(f"{len(afterwards)} maintenance window(s) declared after they began counted")
    if missing:
        notes.append(f"{missing} step(s) without data counted as down")
    scope = f"over {window_text} ({', '.join(notes)})"
    budget = f"{downtime_min:.0f} min down, {allowed_min:.0f} min allowed"
    if measured >= objective:
        return CheckResult(True, f"availability {measured:.3f} % {scope}, objective {objective:g} %; "
                           f"error budget left {left_min:.0f} min ({budget})",
                           measured=f"{measured:.3f} %", limit=f">= {objective:g} %", offenders=offenders,
                           evidence=evidence)
    return CheckResult(False, f"availability {measured:.3f} % {scope} < objective {objective:g} %; "
                       f"error budget exceeded by {-left_min:.0f} min ({budget})",
                       measured=f"{measured:.3f} %", limit=f">= {objective:g} %", offenders=offenders,
                       evidence=evidence)
