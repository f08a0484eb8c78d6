"""Stand-in for the public status page (Atlassian Statuspage API v2 shape), automated from the
sandbox's incident: it shows the regional outage as an incident with its updates."""

from __future__ import annotations

from aiohttp import web

from .component import Fault, SandboxContext, serve_app

PAGE = {"id": "kosmos", "name": "KOSMOS", "url": "https://status.kosmos.ai", "time_zone": "Etc/UTC"}


class StatusPageComponent:
    name = "status_page"

    def __init__(self) -> None:
        self.runner = None
        self.stale = False  # fault: the page stopped being updated (shows all green)

    async def start(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        app = web.Application()
        app.router.add_get("/api/v2/status.json", self.status)
        app.router.add_get("/api/v2/summary.json", self.summary)
        app.router.add_get("/api/v2/incidents/unresolved.json", self.unresolved)
        self.runner, port = await serve_app(app, ctx.host, self.name)
        url = f"http://{ctx.host}:{port}"
        ctx.state[self.name] = {"url": url}
        ctx.env.update(KOSMOS_STATUS_PAGE_URL=url)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def _incidents(self) -> list[dict]:
        if self.stale:
            return []
        incident = self.ctx.state.get("incident", {})
        start = incident.get("start")
        if not start:
            return []
        updates = [{"status": "investigating", "body": "API unavailable in us-east-1; failing over to us-west-2.",
                    "created_at": start}]
        if incident.get("dns_switched_at"):
            updates.insert(0, {"status": "monitoring", "body": "Traffic served from us-west-2; validating recovery.",
                               "created_at": incident["dns_switched_at"]})
        return [{
            "id": "sandbox-regional-outage", "name": "Regional outage in us-east-1",
            "status": updates[0]["status"], "impact": "major", "created_at": start,
            "started_at": start, "shortlink": "https://stspg.io/kosmos-dr", "incident_updates": updates,
        }]

    def _status(self) -> dict:
        if self._incidents():
            return {"indicator": "major", "description": "Partial System Outage"}
        return {"indicator": "none", "description": "All Systems Operational"}

    async def status(self, request):
        return web.json_response({"page": PAGE, "status": self._status()})

    async def summary(self, request):
        return web.json_response({"page": PAGE, "status": self._status(), "incidents": self._incidents(),
                                  "components": [{"name": "API", "status": "partial_outage" if self._incidents()
                                                  else "operational"}]})

    async def unresolved(self, request):
        return web.json_response({"page": PAGE, "incidents": self._incidents()})

    def faults(self) -> list[Fault]:
        async def freeze():
            self.stale = True

        async def thaw():
            self.stale = False

        return [Fault("status-page-stale", ("COM-STATUS-PAGE",),
                      "the status page was never updated: all green during the incident", freeze, thaw)]
