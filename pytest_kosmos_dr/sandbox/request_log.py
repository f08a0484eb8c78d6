"""Every request the sandbox's services receive, so a test can prove a gate run changed nothing.

One log per sandbox process; each entry: component, method, path, query, and whether it mutates
(a write method that is not a server-side dry run). Bounded: the oldest entries are dropped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

MAX_ENTRIES = 50_000
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class RequestLog:
    def __init__(self) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=MAX_ENTRIES)
        self._lock = threading.Lock()

    def add(self, component: str, method: str, path: str, query: str = "", mutating: bool | None = None,
            action: str = "") -> None:
        if mutating is None:
            mutating = method in WRITE_METHODS and "dryRun=All" not in query
        entry = {"at": time.time(), "component": component, "method": method, "path": path, "query": query,
                 "action": action, "mutating": mutating}
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


RECORDER = RequestLog()


def middleware(component: str):
    """An aiohttp middleware recording each request under ``component``."""
    from aiohttp import web

    @web.middleware
    async def record(request, handler):
        RECORDER.add(component, request.method, request.path, request.query_string)
        return await handler(request)

    return record
