"""Stand-in for the KOSMOS HTTP API of the DR region: health, read endpoints, agent routing, kill switch.

Names and contracts follow the sandbox layout (``ctx.layout``, sandbox/layout.py): the health path
and body shape, the kill switch's path, method and refusal code, the regions and the namespace.
Health and read endpoints answer from the real DR database, so a database outage shows in the
health answer for real. Faults switch individual behaviours off (see ``faults()``).

Served over HTTP on loopback (``state["api"]["url"]``: what targets and checks use) and over HTTPS
(``https_url``: ``https://api.kosmos.internal:PORT``, a certificate for the plan's API name signed by the
sandbox CA, sandbox/ca.py); the name resolves through the sandbox's DNS (sandbox/endpoints.py).

Health (VAL-API-HEALTH), at ``layout.health_path`` in the layout's ``HealthShape``: the default
layout answers ``{"status": "ok"|"degraded", "region", "checked_at", "components": {"database":
{"status": "ok"}, ...}, "kill_switch"}``; the alternate one Spring Boot actuator's shape
``{"status": "UP"|"DOWN", "components": {"db": {"status": "UP"}, ...}, "details": {"region", "time"}}``.
The switch is reported as a top-level ``kill_switch`` field, not as a component: an engaged switch
is deliberate, and must not make load balancers or DNS health checks fail the region over.

Kill switch (SCN-SECURITY-BREACH): ``GET <layout.kill_switch_path>`` answers ``{"engaged", "since",
"reason", "changed_at"}``; ``<layout.kill_switch_method> <layout.kill_switch_path>`` with
``{"engaged": true|false, "reason": "..."}`` (a reason is required to engage) sets it. Both need
the API's bearer token. While engaged, every per-agent endpoint (``/v1/agents/{agent}/...``: the
probe, and any task endpoint) answers ``layout.kill_switch_codes[0]`` ``{"error": "kill switch
engaged", ...}``; read-only endpoints and the health endpoint keep answering.

Read endpoints and routing (what the sandbox's KOSMOS checkout, ``kosmos_checkout/``, exercises for
VAL-SMOKE and VAL-AGENT-ROUTING; the DR checks themselves do not know these paths):
``GET /v1/agents``, ``/v1/conversations?limit=N``, ``/v1/conversations/{id}/messages`` ->
``{"items": [...]}`` (messages name their ``conversation_id``); the agent probe
``/v1/agents/{agent}/probe?nonce=<n>`` answers ``{"agent", "pod", "namespace", "region", "nonce",
"answered_at"}``, echoing the caller's nonce.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from aiohttp import web

from ..timeparse import isoformat, parse_instant, utcnow
from . import ca
from .aws import route53
from .component import Fault, SandboxContext, bearer_auth, serve_app
from .endpoints import API_HOST
from .layout import DEFAULT, HealthShape

DB_TIMEOUT_S = 2
AGENT_WORK = re.compile(r"^/v1/agents/[^/]+/.+")  # per-agent endpoints: the work the kill switch stops
FAULTED_AGENT = "zeus-orchestrator"  # the agent the routing faults break (the plan's routing example)
STAGING_NAMESPACE = "kosmos-staging"  # agent-probe-wrong-namespace: a same-named agent of another namespace
STAGING_AGENTS = ("staging-echo", "staging-sentinel")
STALE_COPY_AGE = timedelta(hours=6)  # api-reads-stale-copy: the API reads a copy this much older than the incident


class KosmosApiComponent:
    name = "api"

    def __init__(self) -> None:
        self.runner = None
        self.ca = None  # the sandbox CA, while this stand-in serves HTTPS
        self.layout = DEFAULT
        self.routes: dict[str, str] = {}  # agent asked for -> agent that answers
        self.components_down: set[str] = set()
        self.broken_read_endpoints = False
        self.region = DEFAULT.secondary_region
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
        self.layout = layout = ctx.layout
        self.token = ctx.secret()
        self.routes = {agent: agent for agent in ctx.state["agents"]}
        self.region = layout.secondary_region
        incident = ctx.state.get("incident", {}).get("start")
        self.incident_start = parse_instant(incident) if incident else utcnow()
        app = web.Application(middlewares=[bearer_auth(self.token, (layout.health_path,)), self._kill_switch])
        app.router.add_get(layout.health_path, self.health)
        app.router.add_get("/v1/agents", self.list_agents)
        app.router.add_get("/v1/agents/{agent}/probe", self.probe_agent)
        app.router.add_get("/v1/conversations", self.list_conversations)
        app.router.add_get("/v1/conversations/{id}/messages", self.list_messages)
        app.router.add_get(layout.kill_switch_path, self.get_kill_switch)
        app.router.add_route(layout.kill_switch_method, layout.kill_switch_path, self.set_kill_switch)
        self.runner, port = await serve_app(app, ctx.host, self.name)
        url = f"http://{ctx.host}:{port}"
        # the plan's https://api.kosmos.internal: the same app over TLS, for the API name and the DR
        # region's endpoint name (what the failover record points at)
        self.ca = ca.acquire(ctx)
        names = [API_HOST, route53.regional_name(layout.secondary_region)]
        https_port = await ca.serve_https(self.runner, ctx.host, self.ca.issue(names))
        https_url = f"https://{API_HOST}:{https_port}"
        ctx.state[self.name] = {"url": url, "token": self.token, "https_url": https_url, "address": ctx.host}
        ctx.env.update(KOSMOS_API_URL=url, KOSMOS_API_TOKEN=self.token, KOSMOS_API_HTTPS_URL=https_url,
                       KOSMOS_API_RESOLVE=f"{API_HOST}:{https_port}:{ctx.host}")

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        if self.ca is not None:
            ca.release(self.ctx)
            self.ca = None

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
                                      "reason": self.kill_switch["reason"]}, status=self.layout.kill_switch_codes[0])
        return await handler(request)

    # -- endpoints --------------------------------------------------------------------------
    def _health_body(self, healthy: bool, region: str, checked_at: str, components: dict[str, dict]) -> dict:
        """The health answer in the layout's shape; ``components``: name -> {"ok": bool, ...extra}."""
        shape: HealthShape = self.layout.health
        up, down = shape.ok_value, ("DOWN" if shape.ok_value.isupper() else "down")
        body: dict = {}
        _put(body, shape.status_field, up if healthy else shape.degraded_value)
        if shape.region_field:
            _put(body, shape.region_field, region)
        if shape.checked_at_field:
            _put(body, shape.checked_at_field, checked_at)
        if shape.components_field:
            _put(body, shape.components_field, {
                name: {"status": up if detail["ok"] else down, **{k: v for k, v in detail.items() if k != "ok"}}
                for name, detail in components.items()})
        body["kill_switch"] = "engaged" if self.kill_switch["engaged"] else "released"
        return body

    async def health(self, request):
        database = self.layout.health.database_component
        if self.health_fault == "cached":  # a cache in front of the health endpoint keeps the answer from before
            before = self.incident_start - timedelta(minutes=12)
            components = {database: {"ok": True}, "agents": {"ok": True, "count": len(self.routes)},
                          "queue": {"ok": True}}
            body = self._health_body(True, self.region, isoformat(before), components)
            body["kill_switch"] = "released"
            age = int((utcnow() - before).total_seconds())
            return web.json_response(body, headers={"Age": str(age), "Cache-Control": "public, max-age=86400"})
        components = {}
        if self.health_fault != "no-database":
            try:
                await self._query("SELECT 1 AS ok")
                components[database] = {"ok": True}
            except Exception as exc:  # the stand-in reports, like the real API, instead of crashing
                components[database] = {"ok": False, "error": type(exc).__name__}
        components["agents"] = {"ok": True, "count": len(self.routes)}
        components["queue"] = {"ok": True}
        for name in self.components_down:
            components[name] = {"ok": False, "error": "injected fault"}
        healthy = all(c["ok"] for c in components.values())
        region = self.layout.primary_region if self.health_fault == "primary-region" else self.region
        body = self._health_body(healthy, region, isoformat(utcnow()), components)
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
        fault = self.probe_fault if asked == FAULTED_AGENT else None
        if fault == "cached":  # the gateway answers probes from a cache filled before the disaster
            return web.json_response({
                "agent": answering, "pod": f"{answering}-0", "namespace": self.layout.namespace, "region": self.region,
                "nonce": "4f1c2a9e0b7d4e55a1c3f0e2d9b8a7c6", "request_id": "c0ffee00-0000-4000-8000-000000000001",
                "answered_at": isoformat(self.incident_start - timedelta(minutes=40)), "status": "ok",
            })
        return web.json_response({
            "agent": answering, "pod": f"{answering}-0",
            "namespace": STAGING_NAMESPACE if fault == "wrong-namespace" else self.layout.namespace,
            "region": self.layout.primary_region if fault == "primary-region" else self.region,
            "nonce": request.query.get("nonce"), "request_id": str(uuid.uuid4()),
            "answered_at": isoformat(utcnow()), "status": "ok",
        })

    async def get_kill_switch(self, request):
        return web.json_response(self.kill_switch)

    async def set_kill_switch(self, request):
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
        primary = self.layout.primary_region

        async def health_down():
            self.components_down.add("queue")

        async def health_up():
            self.components_down.discard("queue")

        async def misroute():
            self.routes[FAULTED_AGENT] = next(a for a in self.routes if a != FAULTED_AGENT)

        async def route_back():
            self.routes[FAULTED_AGENT] = FAULTED_AGENT

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
            Fault("api-health-503", ("VAL-API-HEALTH", "OBJ-RTO"),
                  "the API's queue component is down: the health endpoint answers 503",
                  health_down, health_up),
            Fault("agent-misrouted", ("VAL-AGENT-ROUTING",),
                  "requests for zeus-orchestrator are answered by another agent", misroute, route_back),
            Fault("api-read-malformed", ("VAL-SMOKE",), "GET /v1/conversations answers truncated JSON",
                  break_reads, mend_reads),
            Fault("api-health-cached", ("VAL-API-HEALTH",),
                  "a cache in front of the health endpoint serves the all-ok answer from before the incident (Age "
                  "header, old checked-at time)", *switch("health_fault", "cached")),
            Fault("api-health-no-database", ("VAL-API-HEALTH",),
                  "the health endpoint answers ok but no longer checks the database (no database component)",
                  *switch("health_fault", "no-database")),
            Fault("api-health-primary-region", ("VAL-API-HEALTH",),
                  f"the health endpoint is answered ok by the primary region's API ({primary}), not the DR region's",
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
                  f"probes for zeus-orchestrator are answered by its pod in the primary region ({primary})",
                  *switch("probe_fault", "primary-region")),
            Fault("agent-probe-wrong-namespace", ("VAL-AGENT-ROUTING",),
                  f"probes for zeus-orchestrator are answered by the zeus-orchestrator of namespace {STAGING_NAMESPACE}",
                  *switch("probe_fault", "wrong-namespace")),
            Fault("agent-probe-cached", ("VAL-AGENT-ROUTING",),
                  "the agent gateway answers probes from a cache filled before the incident (not our nonce)",
                  *switch("probe_fault", "cached")),
        ]


def _put(body: dict, dotted: str, value) -> None:
    """Set ``body[a][b] = value`` for ``dotted`` = ``a.b`` (the health shape's dotted field names)."""
    *parents, last = dotted.split(".")
    for part in parents:
        body = body.setdefault(part, {})
    body[last] = value
