"""The sandbox's control endpoint: status (faults, outage, incident, the production workload, the added
latency with each proxy's connection and round-trip counts), faults
(apply/revert), the played outage's mode, starting a scheduled incident now, and shutdown, behind a token."""

from __future__ import annotations

import asyncio

from aiohttp import web

from .component import Fault, SandboxContext, bearer_auth, serve_app


def _dumps(value) -> str:
    import json

    return json.dumps(value, default=str)


class ControlServer:
    def __init__(self, ctx: SandboxContext, faults: dict[str, Fault], stop: asyncio.Event, on_change=None,
                 latency=None) -> None:
        self.ctx = ctx
        self.latency = latency  # the LatencyProxies (sandbox/latency.py), None without added latency
        self.on_change = on_change or (lambda: None)  # called after a fault is applied or reverted
        self.faults = faults
        self.applied: set[str] = set()
        self.stop_event = stop
        self.runner = None

    async def start(self) -> None:
        self.token = self.ctx.secret()
        app = web.Application(middlewares=[bearer_auth(self.token)])
        app.router.add_get("/_sandbox/status", self.status)
        app.router.add_get("/_sandbox/faults", self.list_faults)
        app.router.add_post("/_sandbox/faults/{name}", self.apply_fault)
        app.router.add_delete("/_sandbox/faults/{name}", self.revert_fault)
        app.router.add_post("/_sandbox/shutdown", self.shutdown)
        app.router.add_post("/_sandbox/incident", self.start_incident)
        app.router.add_put("/_sandbox/outage", self.configure_outage)
        app.router.add_get("/_sandbox/requests", self.requests)
        app.router.add_delete("/_sandbox/requests", self.clear_requests)
        self.runner, port = await serve_app(app, self.ctx.host)
        self.ctx.state["control"] = {"url": f"http://{self.ctx.host}:{port}", "token": self.token}

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def status(self, request):
        aws = self.ctx.components.get("aws")
        workload = getattr(aws, "workload", None)
        return web.json_response({"status": "running", "faults_applied": sorted(self.applied),
                                  "outage": self.ctx.state.get("outage"), "incident": self.ctx.state.get("incident"),
                                  "workload": workload.describe() if workload is not None else None,
                                  "latency": {"ms": (self.ctx.state.get("latency") or {}).get("ms", 0),
                                              "proxies": self.latency.counts() if self.latency else {}}},
                                 dumps=_dumps)

    async def start_incident(self, request):
        """Play the scheduled incident now (a no-op answer once it has happened)."""
        aws = self.ctx.components.get("aws")
        if aws is None or not hasattr(aws, "start_incident"):
            return web.json_response({"error": "this sandbox plays no incident"}, status=404)
        try:
            incident = await aws.start_incident()
        except Exception as exc:  # noqa: BLE001 - one line for the CLI
            return web.json_response({"error": f"the incident failed: {type(exc).__name__}: {exc}".splitlines()[0]},
                                     status=500)
        return web.json_response({"incident": incident}, dumps=_dumps)

    async def list_faults(self, request):
        return web.json_response({"items": [
            {"name": f.name, "criteria": list(f.criteria), "description": f.description,
             "applied": f.name in self.applied}
            for f in self.faults.values()
        ]})

    def _fault(self, request) -> Fault:
        name = request.match_info["name"]
        if name not in self.faults:
            raise web.HTTPNotFound(
                text=f'{{"error": "unknown fault {name}; known: {", ".join(sorted(self.faults))}"}}',
                content_type="application/json",
            )
        return self.faults[name]

    async def apply(self, name: str) -> Fault:
        fault = self.faults[name]
        await fault.apply()
        self.applied.add(fault.name)
        self.on_change()
        return fault

    async def apply_fault(self, request):
        fault = await self.apply(self._fault(request).name)
        return web.json_response({"applied": fault.name, "criteria": list(fault.criteria)})

    async def revert_fault(self, request):
        fault = self._fault(request)
        await fault.revert()
        self.applied.discard(fault.name)
        self.on_change()
        return web.json_response({"reverted": fault.name})

    async def configure_outage(self, request):
        """``{"mode": "503"|"reset"|"timeout", "hold_s": S}``: how the lost region's AWS API answers
        (applies to the running outage at once, and to the next one)."""
        aws = self.ctx.components.get("aws")
        body = await request.json() if request.can_read_body else {}
        try:
            aws.moto.outage.configure(body.get("mode"), body.get("hold_s"))
        except (ValueError, TypeError, AttributeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        described = aws.moto.outage.describe()
        if self.ctx.state.get("outage"):
            from .aws.outage import aws_api_view

            outage = self.ctx.state["outage"]
            outage.update(mode=described["mode"], hold_s=described["hold_s"],
                          aws_api=aws_api_view(described["mode"], described["hold_s"], outage["region"]))
            self.on_change()
        return web.json_response(described)

    async def requests(self, request):
        from .request_log import RECORDER

        return web.json_response({"items": RECORDER.entries()})

    async def clear_requests(self, request):
        from .request_log import RECORDER

        RECORDER.clear()
        return web.json_response({"cleared": True})

    async def shutdown(self, request):
        self.stop_event.set()
        return web.json_response({"status": "stopping"})
