"""Stand-in for the DR region's Grafana: health, annotations and the Prometheus data-source proxy.

* ``GET /api/health`` (open): Grafana reports ``"database": "ok"`` only when its own database
  answers; so does this stand-in, which queries its ``grafana.db`` (SQLite).
* ``GET /api/annotations?tags=maintenance&from=<ms>&to=<ms>`` (bearer token): annotations from the
  ``annotation`` table of ``grafana.db``, filtered like Grafana does (``time <= to`` and
  ``timeEnd >= from``, every given tag must match, ``limit`` default 100).
* ``GET /api/datasources/proxy/uid/prometheus/api/v1/query_range`` (bearer token): Prometheus's HTTP
  API for the one query the sandbox knows, ``avg(probe_success{job="kosmos-api"})``, evaluated
  like Prometheus does (latest sample at or before each step, 5 min lookback, at most 11,000
  points) over a stored series in ``prometheus.db`` (SQLite; Prometheus's own store, so breaking
  Grafana's database does not touch it).

The stored series: one blackbox probe of the KOSMOS API every 60 s for the 31 days before the
sandbox started, extended with "up" samples whenever it is queried. Up all the time except:
the sandbox's incident (down from ``incident.start`` until ``incident.failover_at``, under a
second: below a 5 min step's resolution), a declared 2 h maintenance window ten days ago (down,
annotated ``maintenance``) and a real 10 min blip three days ago. Faults: ``availability-breach``
(3 h of undeclared downtime five days ago) and ``maintenance-undeclared`` (the maintenance
annotation is deleted, so its 2 h count as downtime).
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

from .component import Fault, SandboxContext, bearer_auth, serve_app

GRAFANA_VERSION = "11.3.0"
DATASOURCE_UID = "prometheus"
QUERY = 'avg(probe_success{job="kosmos-api"})'
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


class GrafanaComponent:
    name = "grafana"

    def __init__(self) -> None:
        self.runner = None

    async def start(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.token = ctx.secret()
        self.db_path = ctx.state_dir / "grafana.db"
        self.tsdb_path = ctx.state_dir / "prometheus.db"
        now = time.time()
        self.maintenance = (_aligned(now - MAINTENANCE_AGO_S), _aligned(now - MAINTENANCE_AGO_S) + MAINTENANCE_S)
        self.blip = (_aligned(now - BLIP_AGO_S), _aligned(now - BLIP_AGO_S) + BLIP_S)
        self.breach = (_aligned(now - BREACH_AGO_S), _aligned(now - BREACH_AGO_S) + BREACH_S)
        await asyncio.to_thread(self._create, now, ctx.state.get("incident", {}))
        app = web.Application(middlewares=[bearer_auth(self.token, ("/api/health",), {"message": "Unauthorized"})])
        app.router.add_get("/api/health", self.health)
        app.router.add_get("/api/annotations", self.annotations)
        app.router.add_get("/api/datasources/proxy/uid/{uid}/api/v1/query_range", self.query_range)
        self.runner, port = await serve_app(app, ctx.host, self.name)
        url = f"http://{ctx.host}:{port}"
        ctx.state[self.name] = {"url": url, "token": self.token, "datasource_uid": DATASOURCE_UID}
        ctx.env.update(KOSMOS_GRAFANA_URL=url, GRAFANA_TOKEN=self.token)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    # -- stored data ------------------------------------------------------------------------
    def _create(self, now: float, incident: dict) -> None:
        with sqlite3.connect(self.db_path) as db:
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
                           [(*row, row[0]) for row in rows])
            self.maintenance_row = db.execute("SELECT * FROM annotation WHERE tags LIKE 'maintenance%'").fetchone()
        down = [self.maintenance, self.blip]
        first = _aligned(now - HISTORY_S, SCRAPE_S)
        samples = []
        for ts in range(first, int(now) + 1, SCRAPE_S):
            value = 0.0 if any(a <= ts < b for a, b in down) else 1.0
            samples.append((float(ts), value))
        with sqlite3.connect(self.tsdb_path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS probe_success (ts REAL PRIMARY KEY, value REAL NOT NULL)")
            db.executemany("INSERT OR REPLACE INTO probe_success VALUES (?, ?)", samples)
            try:
                incident_start = datetime.fromisoformat(incident["start"].replace("Z", "+00:00")).timestamp()
                failover = datetime.fromisoformat(incident["failover_at"].replace("Z", "+00:00")).timestamp()
            except (KeyError, AttributeError, ValueError):
                pass
            else:  # the probe that failed at the incident and the first one that succeeded after failover
                db.execute("UPDATE probe_success SET value = 0 WHERE ts >= ? AND ts < ?", (incident_start, failover))
                db.execute("INSERT OR REPLACE INTO probe_success VALUES (?, 0)", (incident_start,))
                db.execute("INSERT OR REPLACE INTO probe_success VALUES (?, 1)", (failover,))
            self.last_sample = db.execute("SELECT max(ts) FROM probe_success").fetchone()[0]

    def _extend_to(self, now: float) -> None:
        """The exporter kept probing: append "up" samples until now."""
        first = (math.floor(self.last_sample / SCRAPE_S) + 1) * SCRAPE_S
        if first > now:
            return
        rows = [(float(ts), 1.0) for ts in range(first, int(now) + 1, SCRAPE_S)]
        with sqlite3.connect(self.tsdb_path) as db:
            db.executemany("INSERT OR IGNORE INTO probe_success VALUES (?, ?)", rows)
        self.last_sample = rows[-1][0]

    def _set_values(self, start: float, end: float, value: float) -> None:
        with sqlite3.connect(self.tsdb_path) as db:
            db.execute("UPDATE probe_success SET value = ? WHERE ts >= ? AND ts < ?", (value, start, end))

    def _evaluate(self, start: float, end: float, step: float) -> list[list]:
        self._extend_to(time.time())
        with sqlite3.connect(self.tsdb_path) as db:
            rows = db.execute("SELECT ts, value FROM probe_success WHERE ts >= ? AND ts <= ? ORDER BY ts",
                              (start - LOOKBACK_S, end)).fetchall()
        times = [r[0] for r in rows]
        values = []
        t = start
        while t <= end:
            i = bisect.bisect_right(times, t) - 1
            if i >= 0 and t - times[i] <= LOOKBACK_S:
                values.append([round(t, 3) if t % 1 else int(t), f"{rows[i][1]:g}"])
            t += step
        return values

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
        try:
            items = await asyncio.to_thread(self._annotations, frm, to, query.getall("tags", []), limit)
        except sqlite3.Error:
            return web.json_response({"message": "Failed to get annotations"}, status=500)
        return web.json_response(items)

    async def query_range(self, request: web.Request) -> web.Response:
        if request.match_info["uid"] != DATASOURCE_UID:
            return web.json_response({"message": "Data source not found"}, status=404)
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
        if " ".join(query.get("query", "").split()) != QUERY:
            return _bad_data(f"the sandbox's Prometheus only knows the query {QUERY}")
        values = await asyncio.to_thread(self._evaluate, start, end, step)
        result = [{"metric": {}, "values": values}] if values else []
        return web.json_response({"status": "success", "data": {"resultType": "matrix", "result": result}})

    # -- faults -----------------------------------------------------------------------------
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
            with sqlite3.connect(self.db_path) as db:
                if present:
                    db.execute("INSERT OR IGNORE INTO annotation VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               self.maintenance_row)
                else:
                    db.execute("DELETE FROM annotation WHERE id = ?", (self.maintenance_row[0],))

        async def undeclare():
            await asyncio.to_thread(_annotation, False)

        async def declare():
            await asyncio.to_thread(_annotation, True)

        return [
            Fault("grafana-database-down", ("VAL-MONITORING",),
                  "Grafana's own database is corrupt: /api/health reports database failing", corrupt, restore),
            Fault("availability-breach", ("OBJ-AVAILABILITY",),
                  "3 h of undeclared downtime five days ago in the availability series (99.56 % < 99.9 %)",
                  breach, heal),
            Fault("maintenance-undeclared", ("OBJ-AVAILABILITY",),
                  "the maintenance window ten days ago was never annotated: its 2 h of downtime count",
                  undeclare, declare),
        ]
