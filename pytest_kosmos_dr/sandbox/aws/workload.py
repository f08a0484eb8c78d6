"""Production's live workload: KOSMOS writing conversations and messages until the incident.

A background thread commits one conversation with two messages every ``WRITE_INTERVAL_S`` into the
production instance (a real server, streamed to the DR replica), with ``now()`` timestamps, until it
is stopped (the incident: the primary region fails and writes stop). ``stop()`` returns the time
right after the last commit: the newest write the DR side can hold (the RPO's reference).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from .rds_backend import now_utc

log = logging.getLogger("kosmos_dr.sandbox.workload")
WRITE_INTERVAL_S = 0.1
STATEMENT_TIMEOUT_MS = 5000


class LiveWorkload:
    """Steady writes into production in a thread; ``stop()`` ends them and says when the last one committed."""

    def __init__(self, server, agents: list[str], interval_s: float = WRITE_INTERVAL_S) -> None:
        self.server = server
        self.agents = list(agents)
        self.interval_s = interval_s
        self.commits = 0
        self.last_commit: datetime | None = None
        self.started_at: datetime | None = None  # when start() was called
        self.error: str | None = None  # why writing stopped early (production gone, ...)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> "LiveWorkload":
        if not self.agents:
            raise ValueError("the live workload needs at least one agent to write for")
        self.started_at = now_utc()
        self._thread = threading.Thread(target=self._run, name="production-workload", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> datetime | None:
        """Stop writing; returns the time right after the last commit (None: nothing was committed)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f"the production workload did not stop within {timeout:.0f} s")
        return self.last_commit

    def wait_for_commits(self, count: int, timeout: float) -> None:
        """Return once ``count`` commits are in; RuntimeError when the writer stopped or ``timeout`` seconds
        passed before (a sandbox world with fewer live writes than it promises is not started)."""
        deadline = time.monotonic() + timeout
        while self.commits < count:
            if not self.running or time.monotonic() >= deadline:
                why = self.error or ("the writer stopped" if not self.running else f"{timeout:g} s passed")
                raise RuntimeError(f"the production workload committed {self.commits} of {count} writes: {why}")
            time.sleep(0.01)

    def describe(self) -> dict:
        return {"running": self.running, "commits": self.commits, "interval_s": self.interval_s,
                "last_commit": self.last_commit.isoformat() if self.last_commit else None, "error": self.error}

    def _run(self) -> None:
        import psycopg

        n = 0
        try:
            with psycopg.connect(self.server.conninfo(), autocommit=True) as conn:
                conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
                # RDS's default: a commit returns once its WAL is flushed, so the replica streams it at once
                # (the sandbox's servers commit asynchronously for seeding; the walwriter then sends up to
                # 200 ms late, and the incident waited that long for the replica to catch up)
                conn.execute("SET synchronous_commit = on")
                while not self._stop.is_set():
                    n += 1
                    with conn.transaction():
                        cid = conn.execute(
                            "INSERT INTO conversations (agent_id, title) VALUES (%s, %s) RETURNING id",
                            (self.agents[n % len(self.agents)], f"live conversation {n}"),
                        ).fetchone()[0]
                        conn.execute(
                            "INSERT INTO messages (conversation_id, role, body) VALUES (%s, 'user', %s), "
                            "(%s, 'agent', %s)", (cid, f"question {n}", cid, f"answer {n}"),
                        )
                    self.last_commit = now_utc()
                    self.commits += 1
                    self._stop.wait(self.interval_s)
        except Exception as exc:  # noqa: BLE001 - production went away under the writer: reported, not raised
            if not self._stop.is_set():
                self.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
                log.warning("production workload stopped: %s", self.error)


def run_until(server, agents: list[str], until: datetime) -> datetime | None:
    """Write until ``until`` (one interval short of it), then stop; the last commit's time."""
    workload = LiveWorkload(server, agents).start()
    while now_utc().timestamp() + workload.interval_s < until.timestamp():
        time.sleep(min(0.05, max(0.0, until.timestamp() - now_utc().timestamp())))
    return workload.stop()
