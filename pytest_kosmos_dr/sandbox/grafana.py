"""Stand-in for the DR region's Grafana: ``/api/health`` backed by a real SQLite database file.

Grafana reports ``"database": "ok"`` only when its own database answers; so does this stand-in,
which queries its ``grafana.db``. The fault corrupts that file (and puts it back on revert).
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3

from aiohttp import web

from .component import Fault, SandboxContext, serve_app

GRAFANA_VERSION = "11.3.0"


class GrafanaComponent:
    name = "grafana"

    def __init__(self) -> None:
        self.runner = None

    async def start(self, ctx: SandboxContext) -> None:
        self.db_path = ctx.state_dir / "grafana.db"
        with sqlite3.connect(self.db_path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS dashboard (id INTEGER PRIMARY KEY, title TEXT)")
            db.execute("INSERT INTO dashboard (title) VALUES ('KOSMOS DR overview')")
        app = web.Application()
        app.router.add_get("/api/health", self.health)
        self.runner, port = await serve_app(app, ctx.host)
        url = f"http://{ctx.host}:{port}"
        ctx.state[self.name] = {"url": url}
        ctx.env.update(KOSMOS_GRAFANA_URL=url)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def _database_ok(self) -> bool:
        try:
            with sqlite3.connect(f"file:{self.db_path}?mode=rw", uri=True, timeout=1) as db:
                db.execute("SELECT count(*) FROM dashboard").fetchone()
            return True
        except sqlite3.Error:
            return False

    async def health(self, request: web.Request) -> web.Response:
        ok = await asyncio.to_thread(self._database_ok)
        body = {"commit": "sandbox", "database": "ok" if ok else "failing", "version": GRAFANA_VERSION}
        return web.json_response(body, status=200 if ok else 503)

    def faults(self) -> list[Fault]:
        saved = self.db_path.with_suffix(".db.saved")

        async def corrupt():
            if not saved.exists():
                shutil.copy2(self.db_path, saved)
            self.db_path.write_bytes(b"this is not a database" * 64)

        async def restore():
            if saved.exists():
                shutil.move(saved, self.db_path)

        return [Fault("grafana-database-down", ("VAL-MONITORING",),
                      "Grafana's own database is corrupt: /api/health reports database failing", corrupt, restore)]
