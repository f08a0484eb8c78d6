"""The contract every sandbox component (PostgreSQL, stand-in APIs, moto, Kubernetes API) follows.

The sandbox daemon runs one asyncio loop. It starts components in order, each one adding what
clients need to reach it to ``ctx.state`` (written to ``sandbox.json``) and to ``ctx.env``
(written to ``sandbox.env``), and stops them in reverse order, even after a failed start. A component
may also have ``prepare(ctx)``: work that reads nothing of the others, which the daemon runs
concurrently with the earlier components' start, from ``ctx.lull`` on (``daemon.start_components``).
"""

from __future__ import annotations

import asyncio
import importlib
import secrets
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .layout import Layout

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def new_secret(nbytes: int = 18) -> str:
    """A random credential for a sandbox service."""
    return secrets.token_urlsafe(nbytes)


@dataclass
class SandboxContext:
    """What components share while the sandbox runs."""

    state_dir: Path  # sandbox.json, sandbox.env, kubeconfig, logs (mode 0700)
    data_dir: Path  # server data folders; owned by the PostgreSQL OS user when we are root
    host: str = LOOPBACK
    state: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)  # values that must never be printed
    components: dict[str, "Component"] = field(default_factory=dict)
    # set once the start waits on the clock alone (production's writes before the incident): components'
    # ``prepare`` runs then (or at its turn), not while the AWS side loads and seeds
    lull: asyncio.Event = field(default_factory=asyncio.Event)
    layout: "Layout" = None  # type: ignore[assignment]  # the names and contracts served (sandbox/layout.py)

    def __post_init__(self) -> None:
        if self.layout is None:
            from .layout import DEFAULT

            self.layout = DEFAULT

    def secret(self, nbytes: int = 18) -> str:
        value = new_secret(nbytes)
        self.secrets.append(value)
        return value


class Component(Protocol):
    """One part of the sandbox."""

    name: str

    async def start(self, ctx: SandboxContext) -> None:
        """Start serving; fill ``ctx.state[self.name]`` and ``ctx.env``."""

    async def stop(self) -> None:
        """Stop serving and remove what ``start`` created. Must be safe after a partial start."""


async def serve_app(app, host: str = LOOPBACK, component: str | None = None):
    """Serve an aiohttp app on a free loopback port; returns (runner, port).

    With ``component``, every request is recorded in the sandbox's request log.
    """
    from aiohttp import web

    if component:
        from .request_log import middleware

        app.middlewares.insert(0, middleware(component))
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # the port the OS chose
    return runner, port


def bearer_auth(token: str, open_paths: tuple[str, ...] = (), denied: dict | None = None):
    """An aiohttp middleware that answers 401 unless the request carries ``Bearer <token>``."""
    import hmac

    from aiohttp import web

    expected = f"Bearer {token}".encode()
    body = denied or {"error": "unauthorized"}

    @web.middleware
    async def auth(request, handler):
        if request.path not in open_paths:
            if not hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected):
                return web.json_response(body, status=401)
        return await handler(request)

    return auth


@dataclass
class Fault:
    """A named way to break the sandbox, for fault tests, demos and on-call training."""

    name: str
    criteria: tuple[str, ...]  # the criteria whose checks must fail while it is applied
    description: str
    apply: Any  # async callable ()
    revert: Any  # async callable ()


class LaterComponent:
    """A component whose module is imported, and the component made, when its turn comes: in a thread,
    from ``ctx.lull`` on (its ``prepare``), so its libraries (aiohttp, cryptography: ~0.35 s of the daemon's
    CPU) load while the AWS side waits for the incident, not before the AWS side starts. Everything else
    is the made component's (its ``start``, ``stop``, ``faults``, attributes)."""

    def __init__(self, name: str, module: str, class_name: str) -> None:
        self.name = name
        self._where = (module, class_name)
        self._made: Any = None
        self._lock = threading.Lock()
        self._begun = False  # its own prepare or start ran: a stop is its to undo

    def made(self) -> Any:
        """The component (imported and made on first use)."""
        with self._lock:
            if self._made is None:
                module, class_name = self._where
                made = getattr(importlib.import_module(module, __package__), class_name)()
                if made.name != self.name:
                    raise RuntimeError(f"{module}.{class_name} is component {made.name!r}, not {self.name!r}")
                self._made = made
            return self._made

    async def prepare(self, ctx: "SandboxContext") -> None:
        component = await asyncio.to_thread(self.made)
        if hasattr(component, "prepare"):
            self._begun = True
            await component.prepare(ctx)

    async def start(self, ctx: "SandboxContext") -> None:
        component = await asyncio.to_thread(self.made)
        self._begun = True
        await component.start(ctx)

    async def stop(self) -> None:
        if self._begun:
            await self._made.stop()

    def __getattr__(self, attribute: str):  # only for what this wrapper does not define itself
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        return getattr(self.made(), attribute)
