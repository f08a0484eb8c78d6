"""Stand-in for the KOSMOS HTTP API of the DR region: health, read endpoints, agent routing, kill switch.

Health and read endpoints answer from the real DR database, so a database outage shows in
``/health`` for real. Faults switch individual behaviours off (see ``faults()``).

Kill switch (SCN-SECURITY-BREACH): ``GET /v1/admin/kill-switch`` answers
``{"engaged", "since", "reason", "changed_at"}``; ``PUT /v1/admin/kill-switch`` with
``{"engaged": true|false, "reason": "..."}`` (a reason is required to engage) sets it. Both need
the API's bearer token (a real deployment should demand a separate admin credential). While
engaged, every per-agent endpoint (``/v1/agents/{agent}/...``: the probe, and any task endpoint)
answers 503 ``{"error": "kill switch engaged", ...}``; read-only endpoints and ``/health`` keep
answering. ``/health`` reports the switch as a top-level ``kill_switch`` field, not as a
component: an engaged switch is deliberate, and must not make load balancers or DNS health
checks fail the region over.

Contract the checks read (VAL-*): ``/health`` answers ``{"status", "region", "checked_at",
"components", "kill_switch"}``; messages name their ``conversation_id``; the agent probe
``/v1/agents/{agent}/probe?nonce=<n>`` answers ``{"agent", "pod", "namespace", "region", "nonce",
"answered_at"}``, echoing the caller's nonce.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from aiohttp import web

from ..timeparse import isoformat, parse_instant, utcnow
from .component import Fault, SandboxContext, bearer_auth, serve_app

DB_TIMEOUT_S = 2
AGENT_WORK = re.compile(r"^/v1/agents/[^/]+/.+")  # per-agent endpoints: the work the kill switch stops
PRIMARY_REGION = "us-east-1"
NAMESPACE = "kosmos"
STAGING_AGENTS = ("staging-echo", "staging-sentinel")
STALE_COPY_AGE = timedelta(hours=6)  # api-reads-stale-copy: the API reads a copy this much older than the incident


class KosmosApiComponent:
    name = "api"

    def __init__(self) -> None:
        self.runner = None
        self.routes: dict[str, str] = {}  # agent asked for -> agent that answers
        self.components_down: set[str] = set()
        self.broken_read_endpoints = False
        self.region = "us-west-2"
        self.health_fault: str | None = None  # "cached", "no-database", "primary-region"
        self.read_fault: str | None = None  # "stale-copy", "other-environment", "cross-wired"
        self.probe_fault: str | None = None  # "primary-region", "wrong-namespace", "cached"
        # what the switch says, and what the agent gateway enforces (the same unless a fault splits them)
        self.kill_switch = {"engaged": False, "since": None, "reason": None, "changed_at": None}
        self.refusing_agent_work = False
        self.kill_switch_ignored = False  # fault: engaging is acknowledged, but agent work continues
        self.kill_switch_stuck = False  # fault: releasing is acknowledged, but agent work stays refused

    async def start(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.token = ctx.secret()
        self.routes = {agent: agent for agent in ctx.state["agents"]}
        self.region = ctx.state.get("aws", {}).get("secondary_region", self.region)
        incident = ctx.state.get("incident", {}).get("start")
        self.incident_start = parse_instant(incident) if incident else utcnow()
        app = web.Application(middlewares=[bearer_auth(self.token, ("/health",)), self._kill_switch])
        app.router.add_get("/health", self.health)
        app.router.add_get("/v1/agents", self.list_agents)
        app.router.add_get("/v1/agents/{agent}/probe", self.probe_agent)
        app.router.add_get("/v1/conversations", self.list_conversations)
        app.router.add_get("/v1/conversations/{id}/messages", self.list_messages)
        app.router.add_get("/v1/admin/kill-switch", self.get_kill_switch)
        app.router.add_put("/v1/admin/kill-switch", self.put_kill_switch)
        self.runner, port = await serve_app(app, ctx.host, self.name)
        url = f"http://{ctx.host}:{port}"
        ctx.state[self.name] = {"url": url, "token": self.token}
        ctx.env.update(KOSMOS_API_URL=url, KOSMOS_API_TOKEN=self.token)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    # -- plumbing ---------------------------------------------------------------------------
    def _database_conninfo(self) -> str:
        from psycopg.conninfo import make_conninfo

        db = self.ctx.state["database"]
        return make_conninfo(
            host=db["host"], port=db["port"], dbname=db["dbname"], user=db["user"],
            password=db["password"], connect_timeout=DB_TIMEOUT_S,
        )

    async def _query(self, sql: str, params: tuple = ()) -> list[dict]:
        import psycopg
        from psycopg.rows import dict_row

        async with await psycopg.AsyncConnection.connect(self._database_conninfo(), row_factory=dict_row) as conn:
            await conn.execute(f"SET statement_timeout = {DB_TIMEOUT_S * 1000}")
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

    @web.middleware
    async def _kill_switch(self, request, handler):
        if self.refusing_agent_work and AGENT_WORK.match(request.path):
            return web.json_response({"error": "kill switch engaged", "since": self.kill_switch["since"],
                                      "reason": self.kill_switch["reason"]}, status=503)
        return await handler(request)

    # -- endpoints --------------------------------------------------------------------------
    async def health(self, request):
        if self.health_fault == "cached":  # a cache in front of /health keeps the answer from before the disaster
            before = self.incident_start - timedelta(minutes=12)
            body = {"status": "ok", "region": self.region, "checked_at": isoformat(before),
                    "components": {"database": {"status": "ok"}, "agents": {"status": "ok", "count": len(self.routes)},
                                   "queue": {"status": "ok"}}, "kill_switch": "released"}
            age = int((utcnow() - before).total_seconds())
            return web.json_response(body, headers={"Age": str(age), "Cache-Control": "public, max-age=86400"})
        components = {}
        if self.health_fault != "no-database":
            try:
                await self._query("SELECT 1 AS ok")
                components["database"] = {"status": "ok"}
            except Exception as exc:  # the stand-in reports, like the real API, instead of crashing
                components["database"] = {"status": "down", "error": type(exc).__name__}
        components["agents"] = {"status": "ok", "count": len(self.routes)}
        components["queue"] = {"status": "ok"}
        for name in self.components_down:
            components[name] = {"status": "down", "error": "injected fault"}
        healthy = all(c["status"] == "ok" for c in components.values())
        region = PRIMARY_REGION if self.health_fault == "primary-region" else self.region
        body = {"status": "ok" if healthy else "degraded", "region": region, "checked_at": isoformat(utcnow()),
                "components": components, "kill_switch": "engaged" if self.kill_switch["engaged"] else "released"}
        return web.json_response(body, status=200 if healthy else 503)

    async def list_agents(self, request):
        if self.read_fault == "other-environment":  # the API's database is the staging one
            return web.json_response({"items": [{"id": a, "display_name": a} for a in STAGING_AGENTS]})
        rows = await self._query("SELECT id, display_name FROM agents ORDER BY id")
        return web.json_response({"items": [{"id": r["id"], "display_name": r["display_name"]} for r in rows]})

    async def list_conversations(self, request):
        limit = max(1, min(int(request.query.get("limit", "20")), 100))
        if self.read_fault == "stale-copy":  # the API reads an old restored copy of the database
            rows = await self._query(
                "SELECT id, agent_id, title, created_at FROM conversations WHERE created_at < %s "
                "ORDER BY created_at DESC LIMIT %s", (self.incident_start - STALE_COPY_AGE, limit))
        else:
            rows = await self._query(
                "SELECT id, agent_id, title, created_at FROM conversations ORDER BY created_at DESC LIMIT %s", (limit,)
            )
        if self.broken_read_endpoints:
            return web.Response(text='{"items": [{"id": ', content_type="application/json")
        items = [{**r, "created_at": r["created_at"].isoformat()} for r in rows]
        return web.json_response({"items": items})

    async def list_messages(self, request):
        try:
            conversation = int(request.match_info["id"])
        except ValueError:
            return web.json_response({"error": "conversation id must be a number"}, status=400)
        if self.read_fault == "cross-wired":  # a response cache keyed without the conversation id
            first = await self._query("SELECT min(conversation_id) AS id FROM messages")
            if first and first[0]["id"] is not None:
                conversation = first[0]["id"]
        rows = await self._query(
            "SELECT id, conversation_id, role, body, created_at FROM messages WHERE conversation_id = %s ORDER BY id",
            (conversation,)
        )
        if not rows:
            return web.json_response({"error": "no such conversation"}, status=404)
        return web.json_response({"items": [{**r, "created_at": r["created_at"].isoformat()} for r in rows]})

    async def probe_agent(self, request):
        asked = request.match_info["agent"]
        if asked not in self.routes:
            return web.json_response({"error": f"unknown agent {asked}"}, status=404)
        answering = self.routes[asked]
        if self.probe_fault == "cached":  # the gateway answers probes from a cache filled before the disaster
            return web.json_response({
                "agent": answering, "pod": f"{answering}-0", "namespace": NAMESPACE, "region": self.region,
                "nonce": "4f1c2a9e0b7d4e55a1c3f0e2d9b8a7c6", "request_id": "c0ffee00-0000-4000-8000-000000000001",
                "answered_at": isoformat(self.incident_start - timedelta(minutes=40)), "status": "ok",
            })
        return web.json_response({
            "agent": answering, "pod": f"{answering}-0",
            "namespace": "kosmos-staging" if self.probe_fault == "wrong-namespace" else NAMESPACE,
            "region": PRIMARY_REGION if self.probe_fault == "primary-region" else self.region,
            "nonce": request.query.get("nonce"), "request_id": str(uuid.uuid4()),
            "answered_at": isoformat(utcnow()), "status": "ok",
        })

    async def get_kill_switch(self, request):
        return web.json_response(self.kill_switch)

    async def put_kill_switch(self, request):
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body must be JSON"}, status=400)
        engaged = body.get("engaged") if isinstance(body, dict) else None
        if not isinstance(engaged, bool):
            return web.json_response({"error": "'engaged' must be true or false"}, status=400)
        reason = body.get("reason")
        if engaged and not (isinstance(reason, str) and reason.strip()):
            return web.json_response({"error": "a 'reason' is required to engage the kill switch"}, status=400)
        now = isoformat(utcnow())
        if engaged != self.kill_switch["engaged"]:
            self.kill_switch = {"engaged": engaged, "since": now if engaged else None,
                                "reason": reason if engaged else None, "changed_at": now}
        if engaged and not self.kill_switch_ignored:
            self.refusing_agent_work = True
        if not engaged and not self.kill_switch_stuck:
            self.refusing_agent_work = False
        return web.json_response(self.kill_switch)

    # -- faults -----------------------------------------------------------------------------
    def faults(self) -> list[Fault]:
        async def health_down():
            self.components_down.add("queue")

        async def health_up():
            self.components_down.discard("queue")

        async def misroute():
            self.routes["zeus-orchestrator"] = next(a for a in self.routes if a != "zeus-orchestrator")

        async def route_back():
            self.routes["zeus-orchestrator"] = "zeus-orchestrator"

        def switch(attribute: str, value: str):
            async def apply():
                setattr(self, attribute, value)

            async def revert():
                setattr(self, attribute, None)
            return apply, revert

        async def break_reads():
            self.broken_read_endpoints = True

        async def mend_reads():
            self.broken_read_endpoints = False

        async def ignore_switch():
            self.kill_switch_ignored = True
            self.refusing_agent_work = False

        async def stick_switch():
            self.kill_switch_stuck = True

        async def heed_switch():  # the gateway follows the switch again
            self.kill_switch_ignored = False
            stuck_refusing = self.kill_switch_stuck and self.refusing_agent_work
            self.refusing_agent_work = self.kill_switch["engaged"] or stuck_refusing

        async def unstick_switch():  # a stuck refusal ends when the switch says released
            self.kill_switch_stuck = False
            self.refusing_agent_work = self.kill_switch["engaged"] and not self.kill_switch_ignored

        return [
            Fault("kill-switch-ignored", ("SCN-SECURITY-BREACH",),
                  "the kill switch acknowledges being engaged, but agent work is still answered",
                  ignore_switch, heed_switch),
            Fault("kill-switch-stuck", ("SCN-SECURITY-BREACH",),
                  "the kill switch acknowledges being released, but agent work stays refused",
                  stick_switch, unstick_switch),
            Fault("api-health-503", ("VAL-API-HEALTH", "OBJ-RTO"), "the API's queue component is down: /health answers 503",
                  health_down, health_up),
            Fault("agent-misrouted", ("VAL-AGENT-ROUTING",),
                  "requests for zeus-orchestrator are answered by another agent", misroute, route_back),
            Fault("api-read-malformed", ("VAL-SMOKE",), "GET /v1/conversations answers truncated JSON",
                  break_reads, mend_reads),
            Fault("api-health-cached", ("VAL-API-HEALTH",),
                  "a cache in front of /health serves the all-ok answer from before the incident (Age header, "
                  "old checked_at)", *switch("health_fault", "cached")),
            Fault("api-health-no-database", ("VAL-API-HEALTH",),
                  "/health answers ok but no longer checks the database (its components lack 'database')",
                  *switch("health_fault", "no-database")),
            Fault("api-health-primary-region", ("VAL-API-HEALTH",),
                  f"/health is answered ok by the primary region's API ({PRIMARY_REGION}), not the DR region's",
                  *switch("health_fault", "primary-region")),
            Fault("api-reads-stale-copy", ("VAL-SMOKE",),
                  "the API reads an old restored copy of the database: its newest conversation is 6 h older than "
                  "the incident", *switch("read_fault", "stale-copy")),
            Fault("api-reads-other-environment", ("VAL-SMOKE",),
                  "GET /v1/agents lists the staging environment's agents, not KOSMOS production's",
                  *switch("read_fault", "other-environment")),
            Fault("api-messages-cross-wired", ("VAL-SMOKE",),
                  "GET /v1/conversations/{id}/messages answers another conversation's messages (a cache keyed "
                  "without the id)", *switch("read_fault", "cross-wired")),
            Fault("agent-probe-from-primary", ("VAL-AGENT-ROUTING",),
                  f"probes for zeus-orchestrator are answered by its pod in the primary region ({PRIMARY_REGION})",
                  *switch("probe_fault", "primary-region")),
            Fault("agent-probe-wrong-namespace", ("VAL-AGENT-ROUTING",),
                  "probes for zeus-orchestrator are answered by the zeus-orchestrator of namespace kosmos-staging",
                  *switch("probe_fault", "wrong-namespace")),
            Fault("agent-probe-cached", ("VAL-AGENT-ROUTING",),
                  "the agent gateway answers probes from a cache filled before the incident (not our nonce)",
                  *switch("probe_fault", "cached")),
        ]
