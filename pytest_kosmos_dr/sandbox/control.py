"""The sandbox's control endpoint: status, faults (apply/revert) and shutdown, behind a token."""

from __future__ import annotations

import asyncio

from aiohttp import web

from .component import Fault, SandboxContext, bearer_auth, serve_app


class ControlServer:
    def __init__(self, ctx: SandboxContext, faults: dict[str, Fault], stop: asyncio.Event) -> None:
        self.ctx = ctx
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
        app.router.add_get("/_sandbox/requests", self.requests)
        app.router.add_delete("/_sandbox/requests", self.clear_requests)
        self.runner, port = await serve_app(app, self.ctx.host)
        self.ctx.state["control"] = {"url": f"http://{self.ctx.host}:{port}", "token": self.token}

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def status(self, request):
        return web.json_response({"status": "running", "faults_applied": sorted(self.applied)})

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

    async def apply_fault(self, request):
        fault = self._fault(request)
        await fault.apply()
        self.applied.add(fault.name)
        return web.json_response({"applied": fault.name, "criteria": list(fault.criteria)})

    async def revert_fault(self, request):
        fault = self._fault(request)
        await fault.revert()
        self.applied.discard(fault.name)
        return web.json_response({"reverted": fault.name})

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
