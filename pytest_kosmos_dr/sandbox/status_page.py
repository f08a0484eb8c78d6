"""Stand-in for the public status page (Atlassian Statuspage API v2 shape), automated from the
sandbox's incident: it shows the regional outage as an incident with its updates. Served over HTTP on
loopback (``state["status_page"]["url"]``) and over HTTPS (``https_url``: ``https://status.kosmos.ai:PORT``,
signed by the sandbox CA; a public name, so clients pin it with ``curl --resolve``).

Served as Statuspage serves them: ``/api/v2/status.json``, ``summary.json``, ``components.json``,
``incidents.json`` (the most recent incidents, resolved or not), ``incidents/unresolved.json`` and
``scheduled-maintenances.json`` (none), each with the ``page`` object; components and incidents carry
Statuspage's fields (ids, ``page_id``, ``position``, ``created_at``/``updated_at``, ``resolved_at``,
``components`` affected, ``incident_updates`` with ids and ``display_at``).

Faults (COM-STATUS-PAGE's wrong worlds, docs/wrong-worlds/communication.md): the page never
updated (all green), the incident posted with no impact ("All Systems Operational" above it), only
an old unresolved incident from another date, and a CDN copy made before the incident.
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from ..timeparse import isoformat, parse_instant, utcnow
from . import ca
from .component import Fault, SandboxContext, serve_app
from .endpoints import STATUS_PAGE_HOST

PAGE = {"id": "kosmos", "name": "KOSMOS", "url": "https://status.kosmos.ai", "time_zone": "Etc/UTC"}
OLD_INCIDENT_AGE = timedelta(days=40)  # the forgotten incident of the other-incident fault
CACHED_BEFORE = timedelta(hours=1)  # the cached copy was made this long before the incident


class StatusPageComponent:
    name = "status_page"

    def __init__(self) -> None:
        self.runner = None
        self.ca = None  # the sandbox CA, while this stand-in serves HTTPS
        self.world = "healthy"  # or the name of the applied fault

    async def start(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        app = web.Application()
        app.router.add_get("/api/v2/status.json", self.status)
        app.router.add_get("/api/v2/summary.json", self.summary)
        app.router.add_get("/api/v2/incidents/unresolved.json", self.unresolved)
        app.router.add_get("/api/v2/components.json", self.components)
        app.router.add_get("/api/v2/incidents.json", self.incidents)
        app.router.add_get("/api/v2/scheduled-maintenances.json", self.maintenances)
        self.runner, port = await serve_app(app, ctx.host, self.name)
        url = f"http://{ctx.host}:{port}"
        # the plan's https://status.kosmos.ai (a public name: reached with --resolve, not the sandbox's DNS)
        self.ca = ca.acquire(ctx)
        https_port = await ca.serve_https(self.runner, ctx.host, self.ca.issue([STATUS_PAGE_HOST]))
        https_url = f"https://{STATUS_PAGE_HOST}:{https_port}"
        ctx.state[self.name] = {"url": url, "https_url": https_url, "address": ctx.host}
        ctx.env.update(KOSMOS_STATUS_PAGE_URL=url, KOSMOS_STATUS_PAGE_HTTPS_URL=https_url,
                       KOSMOS_STATUS_PAGE_RESOLVE=f"{STATUS_PAGE_HOST}:{https_port}:{ctx.host}")

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        if self.ca is not None:
            ca.release(self.ctx)
            self.ca = None

    def _start(self):
        start = self.ctx.state.get("incident", {}).get("start")
        return parse_instant(start) if start else None

    def _incidents(self) -> list[dict]:
        return [self._full_incident(i) for i in self._raw_incidents()]

    def _full_incident(self, incident: dict) -> dict:
        """An incident with Statuspage's fields around the ones the sandbox decides."""
        updates = [{"id": f"{incident['id']}-update-{n}", "incident_id": incident["id"], "display_at": u["created_at"],
                    "updated_at": u["created_at"], "affected_components": None, **u}
                   for n, u in enumerate(reversed(incident["incident_updates"]), 1)][::-1]
        monitoring = [u["created_at"] for u in updates if u["status"] == "monitoring"]
        affected = [c for c in self._components() if c["status"] != "operational"]
        return {**incident, "page_id": PAGE["id"], "resolved_at": None,
                "monitoring_at": monitoring[-1] if monitoring else None, "components": affected,
                "incident_updates": updates}

    def _raw_incidents(self) -> list[dict]:
        incident = self.ctx.state.get("incident", {})
        start = incident.get("start")
        if not start or self.world in ("status-page-stale", "status-page-cached"):
            return []
        if self.world == "status-page-other-incident":
            then = isoformat(parse_instant(start) - OLD_INCIDENT_AGE)
            return [{"id": "old-agent-latency", "name": "Elevated agent latency", "status": "monitoring",
                     "impact": "minor", "created_at": then, "started_at": then, "updated_at": then,
                     "shortlink": "https://stspg.io/kosmos-old",
                     "incident_updates": [{"status": "monitoring", "body": "A fix is deployed; monitoring.",
                                           "created_at": then}]}]
        primary, secondary = self.ctx.layout.primary_region, self.ctx.layout.secondary_region
        updates = [{"status": "investigating", "body": f"API unavailable in {primary}; failing over to {secondary}.",
                    "created_at": start}]
        if incident.get("dns_switched_at"):
            updates.insert(0, {"status": "monitoring", "body": f"Traffic served from {secondary}; validating recovery.",
                               "created_at": incident["dns_switched_at"]})
        impact = "none" if self.world == "status-page-all-operational" else "major"
        return [{
            "id": "sandbox-regional-outage", "name": f"Regional outage in {primary}",
            "status": updates[0]["status"], "impact": impact, "created_at": start, "started_at": start,
            "updated_at": updates[0]["created_at"], "shortlink": "https://stspg.io/kosmos-dr",
            "incident_updates": updates,
        }]

    def _status(self) -> dict:
        if self.world == "status-page-cached":  # the copy from before: a minor, unrelated degradation
            return {"indicator": "minor", "description": "Minor Service Outage"}
        worst = {"major": 3, "minor": 2, "none": 0}
        impact = max((i.get("impact", "none") for i in self._raw_incidents()), key=lambda x: worst.get(x, 0),
                     default="none")
        if impact == "major":
            return {"indicator": "major", "description": "Partial System Outage"}
        if impact == "minor":
            return {"indicator": "minor", "description": "Minor Service Outage"}
        return {"indicator": "none", "description": "All Systems Operational"}

    def _page(self) -> dict:
        start = self._start()
        if start is None:
            return {**PAGE, "updated_at": isoformat(utcnow())}
        if self.world == "status-page-cached":
            return {**PAGE, "updated_at": isoformat(start - CACHED_BEFORE)}
        times = [start] + [parse_instant(i["updated_at"]) for i in self._raw_incidents()]
        return {**PAGE, "updated_at": isoformat(max(times))}

    def _components(self) -> list[dict]:
        if self.world == "status-page-cached":
            states = [("API", "operational"), ("Grafana", "degraded_performance")]
        else:
            down = self._status()["indicator"] == "major"
            states = [("API", "partial_outage" if down else "operational")]
        start = self._start()
        since = isoformat(start - OLD_INCIDENT_AGE * 10) if start else isoformat(utcnow())
        changed = self._page()["updated_at"]
        return [{"id": f"kosmos-{name.lower()}", "name": name, "status": status, "created_at": since,
                 "updated_at": changed if status != "operational" else since, "position": n, "description": None,
                 "showcase": True, "start_date": since[:10], "group_id": None, "page_id": PAGE["id"],
                 "group": False, "only_show_if_degraded": False}
                for n, (name, status) in enumerate(states, 1)]

    def _headers(self) -> dict:
        start = self._start()
        if self.world != "status-page-cached" or start is None:
            return {}
        made = start - CACHED_BEFORE
        return {"Age": str(int((utcnow() - made).total_seconds())), "Cache-Control": "public, max-age=31536000",
                "Last-Modified": made.strftime("%a, %d %b %Y %H:%M:%S GMT")}

    async def status(self, request):
        return web.json_response({"page": self._page(), "status": self._status()}, headers=self._headers())

    async def summary(self, request):
        return web.json_response({"page": self._page(), "status": self._status(), "incidents": self._incidents(),
                                  "components": self._components(), "scheduled_maintenances": []},
                                 headers=self._headers())

    async def components(self, request):
        return web.json_response({"page": self._page(), "components": self._components()}, headers=self._headers())

    async def incidents(self, request):
        return web.json_response({"page": self._page(), "incidents": self._incidents()}, headers=self._headers())

    async def maintenances(self, request):
        return web.json_response({"page": self._page(), "scheduled_maintenances": []}, headers=self._headers())

    async def unresolved(self, request):
        return web.json_response({"page": self._page(), "incidents": self._incidents()}, headers=self._headers())

    def faults(self) -> list[Fault]:
        def world(name: str, description: str) -> Fault:
            async def apply():
                self.world = name

            async def revert():
                self.world = "healthy"

            return Fault(name, ("COM-STATUS-PAGE",), description, apply, revert)

        return [
            world("status-page-stale", "the status page was never updated: all green during the incident"),
            world("status-page-all-operational", "the incident is posted with impact 'none': the page says "
                  "'All Systems Operational' above it"),
            world("status-page-other-incident", "the page shows only an unresolved incident from 40 days ago, "
                  "not this one"),
            world("status-page-cached", "the page is served from a CDN copy made an hour before the incident "
                  "(Age header; a minor, unrelated degradation)"),
        ]
