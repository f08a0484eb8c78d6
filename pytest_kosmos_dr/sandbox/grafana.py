"""Stand-in for the DR region's Grafana: health, annotations, data sources and the Prometheus proxy.

Served over HTTP on loopback (``state["grafana"]["url"]``, what targets and checks use) and over HTTPS
(``https_url``: ``https://grafana.kosmos.internal:PORT``, signed by the sandbox CA, sandbox/ca.py); the
name is an A record in the sandbox's Route53 zone, so it resolves through the sandbox's DNS.

* ``GET /api/health`` (open): Grafana reports ``"database": "ok"`` only when its own database
  answers; so does this stand-in, which queries its ``grafana.db`` (SQLite).
* ``GET /api/annotations?tags=maintenance&from=<ms>&to=<ms>`` (bearer token): annotations from the
  ``annotation`` table of ``grafana.db``, filtered like Grafana does (``time <= to`` and
  ``timeEnd >= from``, every given tag must match, ``limit`` default 100).
* ``GET /api/datasources/uid/<uid>/health`` (bearer token), ``<uid>`` the layout's
  ``grafana_datasource`` (``prometheus``; ``kosmos-metrics`` in the alternate layout):
  ``{"status": "OK", "message"}``, or HTTP 400 ``{"status": "ERROR"}`` when Prometheus cannot be
  reached, 404 when there is no such data source - like Grafana.
* ``GET /api/datasources`` and ``GET /api/datasources/uid/<uid>`` (bearer token): the provisioned
  Prometheus data source in Grafana's shape (``id``, ``uid``, ``name``, ``type``, ``url``, ``access``,
  ``isDefault``, ``jsonData``, ...); its ``url`` is the DR region's Prometheus (the primary region's
  under the ``grafana-datasource-primary-region`` fault); ``[]`` / 404 on a fresh install.
* ``GET /api/datasources/proxy/uid/<uid>/api/v1/query_range`` and ``.../api/v1/query`` (GET or a
  form POST; bearer token): Prometheus's HTTP API over the stored series, the layout's
  ``availability_series`` (``S``, e.g. ``probe_success{job="kosmos-api"}``, labels ``job`` and
  ``instance``) and the exporter's ``up`` (1 while it is scraped). Instant queries evaluate a PromQL
  subset (``_parse_promql``): number literals, ``vector(n)``, ``time()``, selectors with ``=``, ``!=``,
  ``=~``, ``!~`` matchers (latest sample at or before ``t``, 5 min lookback), range selectors
  ``S[<d>]`` (a matrix), ``<avg|min|max|sum|count>_over_time(S[<d>])``, ``rate``/``increase``/``delta``
  (Prometheus's extrapolation) and ``irate`` of ``S[<d>]``, and ``sum``/``avg``/``min``/
  ``max``/``count`` over them; a selector naming no stored series is an empty vector, a malformed query
  ``bad_data`` (400), a well-formed query outside the subset ``bad_data`` naming what is supported.
  Range queries know ``avg(avg_over_time(S[<d>]))`` (mean of the samples in ``(t - d, t]``) and ``avg(S)``,
  at most 11,000 points. The samples live in ``prometheus.db`` (SQLite; Prometheus's own store, so breaking
  Grafana's database does not touch it). A stored value is the average over the probers (0, 1, or in
  between when some of them failed).

The stored series: one blackbox probe of the KOSMOS API every 60 s for the 31 days before the
sandbox started, extended with "up" samples whenever it is queried. Up all the time except:
the sandbox's incident (the probe at ``incident.start`` failed; the next one, after failover,
succeeded), a 2 h maintenance window ten days ago (down, annotated ``maintenance`` two days before
it began: planned) and a real 10 min blip three days ago. Faults: see ``faults()``.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import re
import shutil
import sqlite3
import time
from datetime import datetime

from aiohttp import web

from . import ca
from .component import Fault, SandboxContext, bearer_auth, serve_app
from .endpoints import GRAFANA_HOST, publish_record
from .layout import DEFAULT

GRAFANA_VERSION = "11.3.0"
PLANNED_AHEAD_S = 2 * 86400  # the maintenance annotation was written two days before the window
FLAP_HOURS = 72  # availability-flapping: a 3 min outage every hour for the last 3 days
HALF_AGO_S = 6 * 86400
HALF_S = 4 * 3600
BLIND_S = 15 * 60  # monitoring-blind: no probe samples for the last 15 min
SCRAPE_S = 60  # the blackbox exporter probes the API once a minute
HISTORY_S = 31 * 86400
LOOKBACK_S = 300  # Prometheus's default lookback delta
MAX_POINTS = 11_000  # Prometheus refuses query_range answers longer than this
MAINTENANCE_AGO_S = 10 * 86400
MAINTENANCE_S = 2 * 3600
BLIP_AGO_S = 3 * 86400 + 7 * 3600
BLIP_S = 10 * 60
BREACH_AGO_S = 5 * 86400
BREACH_S = 3 * 3600


def _store(path, **kwargs) -> sqlite3.Connection:
    """A connection to one of the stand-in's SQLite files (a throwaway sandbox's: commits skip the fsync,
    which costs seconds on a busy disk)."""
    db = sqlite3.connect(path, **kwargs)
    db.execute("PRAGMA synchronous = OFF")
    return db


def _aligned(ts: float, to: int = 300) -> int:
    return int(ts // to) * to


def _parse_time(text: str) -> float:
    """Prometheus accepts unix seconds (float) or RFC 3339."""
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _parse_step(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        match = re.fullmatch(r"(\d+)(ms|s|m|h|d)", text)
        if not match:
            raise ValueError(f'cannot parse "{text}" to a valid duration') from None
        return int(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def _bad_data(message: str) -> web.Response:
    return web.json_response({"status": "error", "errorType": "bad_data", "error": message}, status=400)


# -- the PromQL subset the sandbox's Prometheus evaluates (instant queries) --------------------------------
class PromQLError(ValueError):
    """A query Prometheus answers with ``bad_data`` (malformed, or outside the subset the sandbox evaluates)."""


_DURATION = r"\d+(?:ms|s|m|h|d|w|y)"
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_AGGREGATIONS = ("sum", "avg", "min", "max", "count")
_OVER_TIME = {"avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time"}
_RATES = {"rate", "increase", "delta", "irate"}  # counters' and gauges' change over a range (Prometheus's)


def _extrapolated_change(points: list, start: float, end: float, function: str) -> float | None:
    """rate/increase/delta as Prometheus computes them (promql/functions.go extrapolatedRate): the change
    over the samples in ``(start, end]`` (counter resets added back for rate/increase), extrapolated to the
    range's edges by at most half an average sample interval, and not below zero for a counter."""
    if len(points) < 2:
        return None
    counter = function != "delta"
    change = points[-1][1] - points[0][1]
    if counter:
        change += sum(prev for (_, prev), (_, cur) in zip(points, points[1:]) if cur < prev)
    sampled = points[-1][0] - points[0][0]
    if sampled <= 0:
        return None
    average = sampled / (len(points) - 1)
    to_start, to_end = points[0][0] - start, end - points[-1][0]
    to_start = average / 2 if to_start >= average * 1.1 else to_start
    to_end = average / 2 if to_end >= average * 1.1 else to_end
    if counter and change > 0 and points[0][1] >= 0:
        to_start = min(to_start, sampled * (points[0][1] / change))
    change *= (sampled + to_start + to_end) / sampled
    return change / (end - start) if function == "rate" else change


def _instant_rate(points: list) -> float | None:
    """irate: the per-second change between the last two samples (a reset counts from zero)."""
    if len(points) < 2:
        return None
    (t0, v0), (t1, v1) = points[-2], points[-1]
    if t1 <= t0:
        return None
    return (v1 if v1 < v0 else v1 - v0) / (t1 - t0)


def _duration_s(text: str) -> float:
    unit = re.fullmatch(r"(\d+)(ms|s|m|h|d|w|y)", text)
    if unit is None:
        raise PromQLError(f'bad duration "{text}"')
    return int(unit.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800,
                                 "y": 31536000}[unit.group(2)]


def _parse_selector(text: str) -> dict:
    """``name{label="v", ...}`` -> {"name", "matchers": [(label, op, value)]}; PromQLError when malformed."""
    match = re.fullmatch(rf"\s*({_NAME})?\s*(?:\{{(.*)\}})?\s*", text, re.S)
    if match is None or not (match.group(1) or match.group(2) is not None):
        raise PromQLError(f'1:1: parse error: unexpected "{text.strip()[:20]}"')
    matchers, body = [], (match.group(2) or "").strip()
    while body:
        item = _MATCHER.match(body)
        if item is None:
            raise PromQLError(f'parse error: unexpected character inside braces: "{body[:20]}"')
        label, op, value = item.groups()
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise PromQLError(f"parse error: invalid regular expression {value!r}: {exc}") from None
        matchers.append((label, op, value.replace('\\"', '"')))
        body = body[item.end():].strip()
    if match.group(1):
        matchers.append(("__name__", "=", match.group(1)))
    if not any(op in ("=", "=~") and not (op == "=~" and re.fullmatch(v, "")) and v for _, op, v in matchers):
        raise PromQLError("parse error: vector selector must contain at least one non-empty matcher")
    return {"matchers": matchers}


def _selector_labels(text: str) -> dict[str, str]:
    """The labels a plain selector names (``probe_success{job="kosmos-api"}`` -> __name__ and job)."""
    return {label: value for label, op, value in _parse_selector(text)["matchers"] if op == "="}


def _parse_promql(text: str) -> tuple:
    """A query of the subset as a small tree: ("number", v) | ("time",) | ("vector", v) |
    ("select", sel) | ("range", sel, seconds) | ("over_time", fn, sel, seconds) | ("aggregate", op, tree)."""
    text = " ".join(text.split())
    if not text:
        raise PromQLError("invalid parameter \"query\": 1:1: parse error: no expression found in input")
    if text.count("(") != text.count(")") or text.count("{") != text.count("}") or text.count("[") != text.count("]"):
        raise PromQLError(f"1:{len(text)}: parse error: unclosed bracket in {text!r}")
    try:
        return ("number", float(text))
    except ValueError:
        pass
    if text == "time()":
        return ("time",)
    call = re.fullmatch(rf"({_NAME})\s*\((.*)\)", text)
    if call:
        function, inner = call.groups()
        if function in _AGGREGATIONS:
            return ("aggregate", function, _parse_promql(inner))
        if function == "vector":
            number = _parse_promql(inner)
            if number[0] != "number":
                raise PromQLError("expected type scalar in call to function \"vector\"")
            return ("vector", number[1])
        if function in _OVER_TIME or function in _RATES:
            ranged = _parse_promql(inner)
            if ranged[0] != "range":
                raise PromQLError(f'expected type range vector in call to function "{function}"')
            return ("over_time", function, ranged[1], ranged[2])
        raise PromQLError(f"the sandbox's Prometheus does not evaluate {function}(); it evaluates numbers, "
                          "vector(), time(), selectors, S[<d>], *_over_time(S[<d>]), rate/irate/increase/delta(S[<d>]) and "
                          "sum/avg/min/max/count")
    if re.search(r"[}\]\w]\s+(?:offset|@)\s|\s@\s*\d", text):
        raise PromQLError(f"the sandbox's Prometheus does not evaluate offset or @ modifiers ({text!r})")
    ranged = re.fullmatch(rf"(.*)\[({_DURATION})\]", text)
    if ranged:
        return ("range", _parse_selector(ranged.group(1)), _duration_s(ranged.group(2)))
    if re.search(r"[-+*/%^<>()]|\b(?:by|without|and|or|unless|offset)\b", text.split("{")[0] if "{" in text else text):
        raise PromQLError(f"the sandbox's Prometheus does not evaluate operators or modifiers ({text!r}); it "
                          "evaluates numbers, vector(), time(), selectors, S[<d>], *_over_time(S[<d>]) and "
                          "sum/avg/min/max/count")
    return ("select", _parse_selector(text))


def _matches(labels: dict, matchers: list) -> bool:
    for label, op, value in matchers:
        have = labels.get(label, "")
        if op == "=" and have != value or op == "!=" and have == value:
            return False
        if op == "=~" and not re.fullmatch(value, have) or op == "!~" and re.fullmatch(value, have):
            return False
    return True


def _number(value: float) -> str:
    return "NaN" if math.isnan(value) else ("+Inf" if value == math.inf else "-Inf" if value == -math.inf
                                              else f"{value:.15g}")


def _evaluate_promql(tree: tuple, at: float, series: list, samples, lookback: float) -> tuple[str, list]:
    """(resultType, result) of ``tree`` at ``at`` in Prometheus's JSON shape; ``series`` is
    [(labels, column)], ``samples(column, start, end)`` the stored [(ts, value)]."""
    stamp = round(at, 3)
    kind = tree[0]
    if kind == "number":
        return "scalar", [stamp, _number(tree[1])]
    if kind == "time":
        return "scalar", [stamp, _number(at)]
    if kind == "vector":
        return "vector", [{"metric": {}, "value": [stamp, _number(tree[1])]}]
    if kind in ("select", "range", "over_time"):
        selector = tree[1] if kind != "over_time" else tree[2]
        reach = lookback if kind == "select" else (tree[2] if kind == "range" else tree[3])
        result = []
        for labels, column in series:
            if not _matches(labels, selector["matchers"]):
                continue
            points = [p for p in samples(column, at - reach, at) if p[0] > at - reach or kind == "select"]
            if not points:
                continue
            if kind == "select":
                result.append({"metric": labels, "value": [stamp, _number(points[-1][1])]})
            elif kind == "range":
                result.append({"metric": labels, "values": [[round(t, 3), _number(v)] for t, v in points]})
            elif tree[1] in _RATES:
                value = (_instant_rate(points) if tree[1] == "irate"
                         else _extrapolated_change(points, at - reach, at, tree[1]))
                if value is not None:
                    plain = {k: v for k, v in labels.items() if k != "__name__"}
                    result.append({"metric": plain, "value": [stamp, _number(value)]})
            else:
                values = [v for _, v in points]
                reduce = {"avg_over_time": lambda x: sum(x) / len(x), "min_over_time": min, "max_over_time": max,
                          "sum_over_time": sum, "count_over_time": len}[tree[1]]
                plain = {k: v for k, v in labels.items() if k != "__name__"}
                result.append({"metric": plain, "value": [stamp, _number(float(reduce(values)))]})
        return ("matrix" if kind == "range" else "vector"), result
    if kind == "aggregate":
        inner_kind, inner = _evaluate_promql(tree[2], at, series, samples, lookback)
        if inner_kind != "vector":
            raise PromQLError(f'expected type instant vector in aggregation expression, got {inner_kind}')
        if not inner:
            return "vector", []
        values = [float(item["value"][1]) for item in inner]
        reduce = {"sum": sum, "avg": lambda x: sum(x) / len(x), "min": min, "max": max, "count": len}[tree[1]]
        return "vector", [{"metric": {}, "value": [stamp, _number(float(reduce(values)))]}]
    raise PromQLError(f"cannot evaluate {kind}")


def incident_outage(incident: dict) -> tuple[float | None, float]:
    """When the probe fails because of the sandbox's incident: (start, failover) in epoch seconds; the
    failover is infinity while a manual failover waits, and the start None before the incident."""
    try:
        start = _parse_time(incident["start"])
    except (KeyError, AttributeError, ValueError, TypeError):
        return None, 0.0
    try:
        failover = _parse_time(incident["failover_at"])
    except (KeyError, AttributeError, ValueError, TypeError):
        failover = math.inf
    return start, failover


def _points(rows: list, start: float, end: float, step: float, window: float | None) -> list[list]:
    """A range query's points from its samples (``rows``: (ts, value) in time order), as ``_evaluate`` says."""
    times = [r[0] for r in rows]
    values = []
    t = start
    while t <= end:
        stamp = round(t, 3) if t % 1 else int(t)
        if window is None:
            i = bisect.bisect_right(times, t) - 1
            if i >= 0 and t - times[i] <= LOOKBACK_S:
                values.append([stamp, f"{rows[i][1]:g}"])
        else:
            inside = [r[1] for r in rows[bisect.bisect_right(times, t - window):bisect.bisect_right(times, t)]]
            if inside:
                values.append([stamp, f"{sum(inside) / len(inside):g}"])
        t += step
    return values


def _buckets_are_steps(start: float, step: float, window: float) -> bool:
    """Whether each sample falls in exactly one point's window (whole seconds, window = step): then the
    means are one grouped pass in SQLite (``_step_means``), as Prometheus computes them server-side, instead
    of a Python loop over a month of samples (~0.08 s of the sandbox's CPU per availability query)."""
    return window == step and float(start).is_integer() and float(step).is_integer() and step > 0


def _step_means(db: sqlite3.Connection, start: float, end: float, step: float) -> list[list]:
    """``_points`` with window = step: the point at ``t = start + k * step`` is the mean of the samples in
    ``(t - step, t]``, i.e. k = ceil((ts - start) / step) (SQLite's CAST truncates; the comparison adds the
    ceiling's 1)."""
    start, step = int(start), int(step)
    rows = db.execute(
        "SELECT k, avg(value) FROM (SELECT CAST((ts - ?1) / ?2 AS INTEGER) + ((ts - ?1) / ?2 > "
        "CAST((ts - ?1) / ?2 AS INTEGER)) AS k, value FROM probe_success WHERE ts > ?1 - ?2 AND ts <= ?3) "
        "GROUP BY k ORDER BY k", (float(start), float(step), end)).fetchall()
    return [[start + k * step, f"{mean:g}"] for k, mean in rows if start + k * step <= end]


class GrafanaComponent:
    name = "grafana"

    def __init__(self) -> None:
        self.runner = None
        self.ca = None  # the sandbox CA, while this stand-in serves HTTPS
        self.layout = DEFAULT
        self.datasource_error: str | None = None  # fault: the data source's Prometheus cannot be reached
        self.fresh_install = False  # fault: an empty Grafana (no data source, no annotations)
        self.blind = False  # fault: the probes stopped (no new samples)
        self._saved: dict[str, list] = {}
        self._history_at: float | None = None  # when prepare stored the history (start then adds the rest)

    async def prepare(self, ctx: SandboxContext) -> None:
        """The stored history (annotations, a month of probe samples) while the AWS side waits for its
        incident; ``start`` adds the samples since and the incident's."""
        self._history(ctx, time.time())
        await asyncio.to_thread(self._create_history, self._history_at)

    def _history(self, ctx: SandboxContext, now: float) -> None:
        self.ctx = ctx
        self.layout = ctx.layout
        self.db_path = ctx.state_dir / "grafana.db"
        self.tsdb_path = ctx.state_dir / "prometheus.db"
        self.maintenance = (_aligned(now - MAINTENANCE_AGO_S), _aligned(now - MAINTENANCE_AGO_S) + MAINTENANCE_S)
        self.blip = (_aligned(now - BLIP_AGO_S), _aligned(now - BLIP_AGO_S) + BLIP_S)
        self.breach = (_aligned(now - BREACH_AGO_S), _aligned(now - BREACH_AGO_S) + BREACH_S)
        self._history_at = now

    async def start(self, ctx: SandboxContext) -> None:
        now = time.time()
        prepared = self._history_at is not None
        if not prepared:
            self._history(ctx, now)
        self._history_at = None  # a later start (a restart) makes its own
        self.token = ctx.secret()
        self.created_at, self.recorded_edges = now, set()  # an incident after this is recorded by _extend_to
        await asyncio.to_thread(self._create, now, ctx.state.get("incident", {}), prepared)
        app = web.Application(middlewares=[bearer_auth(self.token, ("/api/health",), {"message": "Unauthorized"})])
        app.router.add_get("/api/health", self.health)
        app.router.add_get("/api/annotations", self.annotations)
        app.router.add_get("/api/datasources", self.datasources)
        app.router.add_get("/api/datasources/uid/{uid}", self.datasource)
        app.router.add_get("/api/datasources/uid/{uid}/health", self.datasource_health)
        app.router.add_get("/api/datasources/proxy/uid/{uid}/api/v1/query_range", self.query_range)
        app.router.add_get("/api/datasources/proxy/uid/{uid}/api/v1/query", self.query)
        app.router.add_post("/api/datasources/proxy/uid/{uid}/api/v1/query", self.query)
        self.runner, port = await serve_app(app, ctx.host, self.name)
        url = f"http://{ctx.host}:{port}"
        # the plan's https://grafana.kosmos.internal: the same app over TLS, its name in the sandbox's zone
        self.ca = ca.acquire(ctx)
        https_port = await ca.serve_https(self.runner, ctx.host, self.ca.issue([GRAFANA_HOST]))
        https_url = f"https://{GRAFANA_HOST}:{https_port}"
        await asyncio.to_thread(publish_record, ctx, GRAFANA_HOST, ctx.host)
        ctx.state[self.name] = {"url": url, "token": self.token, "datasource_uid": self.layout.grafana_datasource,
                                "https_url": https_url, "address": ctx.host}
        ctx.env.update(KOSMOS_GRAFANA_URL=url, GRAFANA_URL=url, GRAFANA_TOKEN=self.token,
                       GRAFANA_HTTPS_URL=https_url, GRAFANA_RESOLVE=f"{GRAFANA_HOST}:{https_port}:{ctx.host}")

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        if self.ca is not None:
            ca.release(self.ctx)
            self.ca = None

    # -- stored data ------------------------------------------------------------------------
    def _create(self, now: float, incident: dict, prepared: bool = False) -> None:
        """The history up to ``now`` (stored by ``prepare`` up to its own time: the exporter's samples since are
        added as ``_extend_to`` adds them), then the incident's failed probe and the first one after failover."""
        if prepared:
            self._extend_to(now)
        else:
            self._create_history(now)
        with _store(self.tsdb_path) as db:
            incident_start, failover = incident_outage(incident)
            if incident_start is not None and failover != math.inf:
                # the probe that failed at the incident and the first one that succeeded after failover
                db.execute("UPDATE probe_success SET value = 0 WHERE ts >= ? AND ts < ?", (incident_start, failover))
                db.execute("INSERT OR REPLACE INTO probe_success VALUES (?, 0)", (incident_start,))
                db.execute("INSERT OR REPLACE INTO probe_success VALUES (?, 1)", (failover,))
            self.last_sample = db.execute("SELECT max(ts) FROM probe_success").fetchone()[0]

    def _create_history(self, now: float) -> None:
        """Annotations and a month of probe samples up to ``now`` (up but for the maintenance and the blip)."""
        with _store(self.db_path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS dashboard (id INTEGER PRIMARY KEY, title TEXT)")
            db.execute("INSERT INTO dashboard (title) VALUES ('KOSMOS DR overview')")
            db.execute("CREATE TABLE IF NOT EXISTS annotation (id INTEGER PRIMARY KEY, epoch INTEGER, "
                       "epoch_end INTEGER, text TEXT, tags TEXT, dashboard_uid TEXT, panel_id INTEGER, "
                       "login TEXT, created INTEGER)")
            start, end = self.maintenance
            rows = [
                (start * 1000, end * 1000, "Planned maintenance: PostgreSQL minor upgrade of kosmos-prod "
                 "(API unavailable)", "maintenance,database", "ops"),
                (_aligned(now - 14 * 86400) * 1000, _aligned(now - 14 * 86400) * 1000, "Deploy kosmos-api v2.31.0",
                 "deploy,kosmos-api", "ci"),
                (_aligned(now - 2 * 86400) * 1000, _aligned(now - 2 * 86400) * 1000, "Deploy kosmos-api v2.32.1",
                 "deploy,kosmos-api", "ci"),
            ]
            db.executemany("INSERT INTO annotation (epoch, epoch_end, text, tags, dashboard_uid, panel_id, login, "
                           "created) VALUES (?, ?, ?, ?, 'kosmos-dr-overview', 1, ?, ?)",
                           [(*row, row[0] - PLANNED_AHEAD_S * 1000 if "maintenance" in row[3] else row[0])
                            for row in rows])
            self.maintenance_row = db.execute("SELECT * FROM annotation WHERE tags LIKE 'maintenance%'").fetchone()
        first = _aligned(now - HISTORY_S, SCRAPE_S)
        samples = [(float(ts), 1.0) for ts in range(first, int(now) + 1, SCRAPE_S)]
        for a, b in (self.maintenance, self.blip):  # the samples in [a, b): down
            for i in range(max(0, -(-(a - first) // SCRAPE_S)), min(len(samples), -(-(b - first) // SCRAPE_S))):
                samples[i] = (samples[i][0], 0.0)
        with _store(self.tsdb_path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS probe_success (ts REAL PRIMARY KEY, value REAL NOT NULL)")
            db.executemany("INSERT OR REPLACE INTO probe_success VALUES (?, ?)", samples)
            self.last_sample = db.execute("SELECT max(ts) FROM probe_success").fetchone()[0]

    def _extend_to(self, now: float) -> None:
        """The exporter kept probing: append samples until now, "up" except while the sandbox's incident
        (started after the sandbox was ready: ``--incident-after``) kept the API down."""
        if self.blind:
            return
        down_from, down_until = self._incident_outage()
        first = (math.floor(self.last_sample / SCRAPE_S) + 1) * SCRAPE_S
        rows = [(float(ts), 0.0 if down_from is not None and down_from <= ts < down_until else 1.0)
                for ts in range(first, int(now) + 1, SCRAPE_S)]
        # the probe that failed at the incident and the first that succeeded after failover, as at start
        # (once each: a fault may change them afterwards)
        edges = []
        if down_from is not None and down_from > self.created_at:
            edges = [(ts, value) for ts, value in ((down_from, 0.0), (down_until, 1.0))
                     if ts <= now and ts not in self.recorded_edges]
        if not rows and not edges:
            return
        with _store(self.tsdb_path) as db:
            db.executemany("INSERT OR IGNORE INTO probe_success VALUES (?, ?)", rows)
            db.executemany("INSERT OR REPLACE INTO probe_success VALUES (?, ?)", edges)
        self.recorded_edges.update(ts for ts, _ in edges)
        self.last_sample = max([self.last_sample, *(ts for ts, _ in rows + edges)])

    def _incident_outage(self) -> tuple[float | None, float]:
        return incident_outage((getattr(self, "ctx", None) and self.ctx.state.get("incident")) or {})

    def _set_values(self, start: float, end: float, value: float) -> None:
        with _store(self.tsdb_path) as db:
            db.execute("UPDATE probe_success SET value = ? WHERE ts >= ? AND ts < ?", (value, start, end))

    def _evaluate(self, start: float, end: float, step: float, window: float | None = None) -> list[list]:
        """Points at start, start + step, ..: the latest sample within the lookback, or with ``window``
        the mean of the samples in ``(t - window, t]`` (``avg_over_time``)."""
        self._extend_to(time.time())
        reach = window if window is not None else LOOKBACK_S
        with _store(self.tsdb_path) as db:
            if window is not None and _buckets_are_steps(start, step, window):
                return _step_means(db, start, end, step)
            rows = db.execute("SELECT ts, value FROM probe_success WHERE ts >= ? AND ts <= ? ORDER BY ts",
                              (start - reach, end)).fetchall()
        return _points(rows, start, end, step, window)

    def _database_ok(self) -> bool:
        try:
            with sqlite3.connect(f"file:{self.db_path}?mode=rw", uri=True, timeout=1) as db:
                db.execute("SELECT count(*) FROM dashboard").fetchone()
            return True
        except sqlite3.Error:
            return False

    def _annotations(self, frm: int, to: int, tags: list[str], limit: int) -> list[dict]:
        with sqlite3.connect(f"file:{self.db_path}?mode=rw", uri=True, timeout=1) as db:
            rows = db.execute("SELECT id, epoch, epoch_end, text, tags, dashboard_uid, panel_id, login, created "
                              "FROM annotation WHERE epoch <= ? AND epoch_end >= ? ORDER BY epoch DESC",
                              (to, frm)).fetchall()
        items = []
        for aid, epoch, epoch_end, text, tag_text, dashboard, panel, login, created in rows:
            row_tags = [t for t in tag_text.split(",") if t]
            if not all(t in row_tags for t in tags):
                continue
            items.append({"id": aid, "alertId": 0, "dashboardUID": dashboard, "panelId": panel, "userId": 1,
                          "login": login, "time": epoch, "timeEnd": epoch_end, "created": created,
                          "updated": created, "text": text, "tags": row_tags, "data": {}})
        return items[:limit]

    # -- endpoints --------------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        ok = await asyncio.to_thread(self._database_ok)
        body = {"commit": "sandbox", "database": "ok" if ok else "failing", "version": GRAFANA_VERSION}
        return web.json_response(body, status=200 if ok else 503)

    async def annotations(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            frm = int(query.get("from", "0"))
            to = int(query.get("to", str(int(time.time() * 1000))))
            limit = int(query.get("limit", "100"))
        except ValueError:
            return web.json_response({"message": "bad request data"}, status=400)
        if self.fresh_install:
            return web.json_response([])
        try:
            items = await asyncio.to_thread(self._annotations, frm, to, query.getall("tags", []), limit)
        except sqlite3.Error:
            return web.json_response({"message": "Failed to get annotations"}, status=500)
        return web.json_response(items)

    # -- the queries this Prometheus knows: over the layout's availability series ----------------
    @property
    def instant_query(self) -> str:
        return f"avg({self.layout.availability_series})"

    def range_window(self, text: str) -> str | None:
        """The ``<d>`` of ``avg(avg_over_time(<series>[<d>]))``, or None for any other query."""
        series = re.escape(self.layout.availability_series)
        match = re.fullmatch(r"avg\(avg_over_time\(" + series + r"\[(\d+(?:ms|s|m|h|d))\]\)\)", text)
        return match.group(1) if match else None

    def _datasource_problem(self, uid: str) -> web.Response | None:
        if uid != self.layout.grafana_datasource or self.fresh_install:
            return web.json_response({"message": "Data source not found"}, status=404)
        if self.datasource_error:
            return web.Response(status=502, text="Bad Gateway")
        return None

    async def datasource_health(self, request: web.Request) -> web.Response:
        if request.match_info["uid"] != self.layout.grafana_datasource or self.fresh_install:
            return web.json_response({"message": "Data source not found"}, status=404)
        if self.datasource_error:
            return web.json_response({"status": "ERROR", "message": self.datasource_error}, status=400)
        return web.json_response({"status": "OK", "message": "Successfully queried the Prometheus API."})

    def _datasource_json(self) -> dict:
        """The provisioned data source as Grafana's API shows it; its URL is where Grafana reaches Prometheus."""
        region = self.layout.primary_region if self.datasource_error else self.layout.secondary_region
        return {"id": 1, "uid": self.layout.grafana_datasource, "orgId": 1, "name": "Prometheus",
                "type": "prometheus", "typeName": "Prometheus",
                "typeLogoUrl": "public/app/plugins/datasource/prometheus/img/prometheus_logo.svg",
                "access": "proxy", "url": f"http://prometheus.{region}.kosmos.internal:9090", "user": "",
                "database": "", "basicAuth": False, "basicAuthUser": "", "withCredentials": False,
                "isDefault": True, "jsonData": {"httpMethod": "POST", "timeInterval": f"{SCRAPE_S}s"},
                "secureJsonFields": {}, "version": 1, "readOnly": True}

    async def datasources(self, request: web.Request) -> web.Response:
        if self.fresh_install:
            return web.json_response([])
        listed = {key: value for key, value in self._datasource_json().items()
                  if key not in ("basicAuthUser", "withCredentials", "secureJsonFields", "version")}
        return web.json_response([listed])

    async def datasource(self, request: web.Request) -> web.Response:
        if request.match_info["uid"] != self.layout.grafana_datasource or self.fresh_install:
            return web.json_response({"message": "Data source not found"}, status=404)
        return web.json_response(self._datasource_json())

    def _series(self) -> list[tuple[dict, str]]:
        """The stored series: (labels, column) - the availability probe and its exporter's ``up``."""
        probe = {**_selector_labels(self.layout.availability_series),
                 "instance": f"https://api.kosmos.internal{self.layout.health_path}"}
        up = {**probe, "__name__": "up"}
        return [(probe, "value"), (up, "1.0")]

    def _samples_between(self, column: str, start: float, end: float) -> list[tuple[float, float]]:
        self._extend_to(time.time())
        with _store(self.tsdb_path) as db:
            return db.execute(f"SELECT ts, {column} FROM probe_success WHERE ts >= ? AND ts <= ? ORDER BY ts",
                              (start, end)).fetchall()

    async def query(self, request: web.Request) -> web.Response:
        problem = self._datasource_problem(request.match_info["uid"])
        if problem is not None:
            return problem
        params = dict(request.query)
        if request.method == "POST":
            params.update(await request.post())
        try:
            at = _parse_time(params.get("time", str(time.time())))
        except ValueError as exc:
            return _bad_data(f'invalid parameter "time": {exc}')
        text = str(params.get("query", ""))
        try:
            expression = _parse_promql(text)
        except PromQLError as exc:
            return _bad_data(str(exc))
        try:
            kind, result = await asyncio.to_thread(_evaluate_promql, expression, at, self._series(),
                                                   self._samples_between, LOOKBACK_S)
        except PromQLError as exc:
            return _bad_data(str(exc))
        return web.json_response({"status": "success", "data": {"resultType": kind, "result": result}})

    async def query_range(self, request: web.Request) -> web.Response:
        problem = self._datasource_problem(request.match_info["uid"])
        if problem is not None:
            return problem
        query = request.query
        try:
            start, end = _parse_time(query["start"]), _parse_time(query["end"])
            step = _parse_step(query["step"])
        except KeyError as exc:
            return _bad_data(f"invalid parameter \"{exc.args[0]}\": missing")
        except ValueError as exc:
            return _bad_data(str(exc))
        if step <= 0:
            return _bad_data("zero or negative query resolution step widths are not accepted. "
                             "Try a positive integer")
        if end < start:
            return _bad_data("end timestamp must not be before start time")
        if (end - start) / step > MAX_POINTS:
            return _bad_data("exceeded maximum resolution of 11,000 points per timeseries. "
                             "Try decreasing the query resolution (?step=XX)")
        text = " ".join(query.get("query", "").split())
        ranged = self.range_window(text)
        if text != self.instant_query and not ranged:
            return _bad_data(f"the sandbox's Prometheus only knows {self.instant_query} and "
                             f"avg(avg_over_time({self.layout.availability_series}[<duration>]))")
        window = _parse_step(ranged) if ranged else None
        values = await asyncio.to_thread(self._evaluate, start, end, step, window)
        result = [{"metric": {}, "values": values}] if values else []
        return web.json_response({"status": "success", "data": {"resultType": "matrix", "result": result}})

    # -- faults -----------------------------------------------------------------------------
    def _override(self, key: str, changes: list[tuple[float, float]]) -> None:
        """Set sample values, saving the originals under ``key`` (once)."""
        if key in self._saved:
            return
        with _store(self.tsdb_path) as db:
            originals = []
            for ts, _ in changes:
                row = db.execute("SELECT value FROM probe_success WHERE ts = ?", (ts,)).fetchone()
                if row is not None:
                    originals.append((row[0], ts))
            db.executemany("UPDATE probe_success SET value = ? WHERE ts = ?", [(v, ts) for ts, v in changes])
        self._saved[key] = originals

    def _put_back(self, key: str) -> None:
        originals = self._saved.pop(key, [])
        with _store(self.tsdb_path) as db:
            db.executemany("UPDATE probe_success SET value = ? WHERE ts = ?", originals)

    def _samples(self, start: float, end: float) -> list[float]:
        with _store(self.tsdb_path) as db:
            return [r[0] for r in db.execute("SELECT ts FROM probe_success WHERE ts >= ? AND ts < ?", (start, end))]

    def faults(self) -> list[Fault]:
        saved = self.db_path.with_suffix(".db.saved")

        async def corrupt():
            if not saved.exists():
                shutil.copy2(self.db_path, saved)
            self.db_path.write_bytes(b"this is not a database" * 64)

        async def restore():
            if saved.exists():
                shutil.move(saved, self.db_path)

        async def breach():
            await asyncio.to_thread(self._set_values, *self.breach, 0.0)

        async def heal():
            await asyncio.to_thread(self._set_values, *self.breach, 1.0)

        def _annotation(present: bool) -> None:
            with _store(self.db_path) as db:
                if present:
                    db.execute("INSERT OR IGNORE INTO annotation VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               self.maintenance_row)
                else:
                    db.execute("DELETE FROM annotation WHERE id = ?", (self.maintenance_row[0],))

        async def undeclare():
            await asyncio.to_thread(_annotation, False)

        async def declare():
            await asyncio.to_thread(_annotation, True)

        def _relabel(apply: bool) -> None:
            start, end = self.breach
            if apply:
                self._override("relabelled", [(ts, 0.0) for ts in self._samples(start, end)])
                with _store(self.db_path) as db:
                    db.execute("INSERT INTO annotation (epoch, epoch_end, text, tags, dashboard_uid, panel_id, login, "
                               "created) VALUES (?, ?, ?, 'maintenance', 'kosmos-dr-overview', 1, 'oncall', ?)",
                               (start * 1000, end * 1000, "Maintenance: API unavailable (declared afterwards)",
                                (end + 3600) * 1000))
            else:
                self._put_back("relabelled")
                with _store(self.db_path) as db:
                    db.execute("DELETE FROM annotation WHERE login = 'oncall' AND epoch = ?", (start * 1000,))

        async def relabel():
            await asyncio.to_thread(_relabel, True)

        async def unlabel():
            await asyncio.to_thread(_relabel, False)

        def _flap() -> None:
            self._extend_to(time.time())
            first = _aligned(time.time() - FLAP_HOURS * 3600, 3600)
            changes = [(float(first + h * 3600 + m * 60), 0.0) for h in range(FLAP_HOURS) for m in (1, 2, 3)]
            self._override("flapping", changes)

        async def flap():
            await asyncio.to_thread(_flap)

        async def steady():
            await asyncio.to_thread(self._put_back, "flapping")

        def _half() -> None:
            start = _aligned(time.time() - HALF_AGO_S)
            self._override("half", [(ts, 0.5) for ts in self._samples(start, start + HALF_S)])

        async def half():
            await asyncio.to_thread(_half)

        async def whole():
            await asyncio.to_thread(self._put_back, "half")

        def _blind(apply: bool) -> None:
            with _store(self.tsdb_path) as db:
                if apply:
                    if "blind" not in self._saved:
                        cut = time.time() - BLIND_S
                        self._saved["blind"] = db.execute("SELECT ts, value FROM probe_success WHERE ts > ?",
                                                          (cut,)).fetchall()
                        db.execute("DELETE FROM probe_success WHERE ts > ?", (cut,))
                    self.blind = True
                else:
                    db.executemany("INSERT OR REPLACE INTO probe_success VALUES (?, ?)", self._saved.pop("blind", []))
                    self.blind = False
                self.last_sample = db.execute("SELECT max(ts) FROM probe_success").fetchone()[0]

        async def go_blind():
            await asyncio.to_thread(_blind, True)

        async def see_again():
            await asyncio.to_thread(_blind, False)

        async def primary_datasource():
            host = f"prometheus.{self.layout.primary_region}.kosmos.internal"
            self.datasource_error = f'Post "http://{host}:9090/api/v1/query": dial tcp: lookup {host}: no such host'

        async def dr_datasource():
            self.datasource_error = None

        async def fresh():
            self.fresh_install = True

        async def provisioned():
            self.fresh_install = False

        return [
            Fault("grafana-database-down", ("VAL-MONITORING",),
                  "Grafana's own database is corrupt: /api/health reports database failing", corrupt, restore),
            Fault("grafana-datasource-primary-region", ("VAL-MONITORING",),
                  "Grafana answers database ok, but its Prometheus data source still points at the lost primary "
                  "region (data source health ERROR; OBJ-AVAILABILITY cannot read its series: broken)",
                  primary_datasource, dr_datasource),
            Fault("grafana-fresh-install", ("VAL-MONITORING",),
                  "the DR Grafana is a fresh install: database ok, but no data source and no annotations were "
                  "restored (OBJ-AVAILABILITY: broken)", fresh, provisioned),
            Fault("monitoring-blind", ("VAL-MONITORING",),
                  "Grafana and Prometheus are up, but the probes of the KOSMOS API stopped 15 min ago: "
                  "no current sample", go_blind, see_again),
            Fault("availability-breach", ("OBJ-AVAILABILITY",),
                  "3 h of undeclared downtime five days ago in the availability series (99.56 % < 99.9 %)",
                  breach, heal),
            Fault("maintenance-undeclared", ("OBJ-AVAILABILITY",),
                  "the maintenance window ten days ago was never annotated: its 2 h of downtime count",
                  undeclare, declare),
            Fault("maintenance-declared-afterwards", ("OBJ-AVAILABILITY",),
                  "a 3 h outage five days ago was annotated 'maintenance' an hour after it ended: not planned, "
                  "it counts", relabel, unlabel),
            Fault("availability-flapping", ("OBJ-AVAILABILITY",),
                  "for the last 3 days the API fails for 3 min every hour, between the 5 min sample points",
                  flap, steady),
            Fault("availability-half-probes-failing", ("OBJ-AVAILABILITY",),
                  "for 4 h six days ago half of the probes failed (average 0.5: up by a 0.5 threshold)",
                  half, whole),
        ]
