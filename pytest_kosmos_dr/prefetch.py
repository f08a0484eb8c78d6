"""The run's independent reads, fetched concurrently (issue 18): the gate's wall time follows its
critical path (a discovery, then independent reads), not its request count.

A ``Prefetch`` is a bounded thread pool plus named *lanes* (one thread each: the reads that share
one database connection run there one after another, in the order the tests would have made them).
``start(key, fn, ...)`` begins a read now and returns its ``Future``; ``take(key, fn)`` hands out a
started read's value (waiting for it) or, when nothing was started under ``key``, makes the read
itself. Each started value is handed out once: a second ``take`` reads afresh, as before.

A read fails in the prefetch exactly as it would have failed in the test: ``Future.result()``
raises the same exception (``DRUnverifiable``, ``RegionDown``, an SQL error ...) in the test that
needs the value, in the phase (setup or call) that asks for it. Reads keep their clients' timeouts
and retries; only reads are ever started here (the drills never are).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor, wait
from typing import Any, Callable

WORKERS = 32  # bounded: a handful of connections per endpoint, well under every client's pool size; several wait on child processes (kubectl, git, the smoke tests)
CLOSE_WAIT_S = 60  # at the session's end, for reads still running (each bounded by its timeouts)


class Prefetch:
    """The run's read pool: ``start`` reads now, ``take`` their values later (once each)."""

    def __init__(self, workers: int = WORKERS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kosmos-dr-prefetch")
        self._lanes: dict[str, ThreadPoolExecutor] = {}
        self._started: dict[str, Future] = {}
        self._taken: set[str] = set()
        self._every: list[Future] = []
        self._lock = threading.Lock()
        self._closed = False
        self._closers: list[Callable[[], None]] = []

    def start(self, key: str, fn: Callable[..., Any], *args, lane: str | None = None, after: tuple = (),
              **kwargs) -> Future | None:
        """Begin ``fn(*args, **kwargs)`` (in ``lane``'s one thread when given); a key started before is
        not started again; a key a test already read itself is not started (None). ``after``: the reads
        (futures) ``fn`` needs the answers of: it is queued once they are done, so no worker of the pool
        sits waiting for them meanwhile."""
        with self._lock:
            if key in self._taken:
                return None
            if key in self._started:
                return self._started[key]
            if self._closed:
                future: Future = Future()
                future.set_exception(RuntimeError("the run's read pool is closed"))
                return future
            executor = self._pool
            if lane is not None:
                executor = self._lanes.setdefault(lane, ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix=f"kosmos-dr-prefetch-{lane}"))
            needed = [f for f in after if f is not None]
            future = _after(needed, executor, fn, args, kwargs) if needed else executor.submit(fn, *args, **kwargs)
            self._started[key] = future
            self._every.append(future)
            return future

    def started(self, key: str) -> Future | None:
        """The read started under ``key`` and not yet handed out (None: none), left in place."""
        with self._lock:
            return self._started.get(key)

    def on_close(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` when the run's pool closes, after its reads finished (e.g. close a connection a
        started read opened that no test took)."""
        with self._lock:
            self._closers.append(fn)

    def take(self, key: str, fn: Callable[[], Any]) -> Any:
        """The value read under ``key`` (waiting for it; its error raised here), handed out once; without
        a started read, ``fn()`` now."""
        with self._lock:
            future = self._started.pop(key, None)
            self._taken.add(key)
        if future is None:
            return fn()
        return future.result()

    def wait_all(self) -> None:
        """Wait until every started read has finished (before a drill changes anything)."""
        with self._lock:
            pending = list(self._every)
        for future in pending:
            try:
                future.exception()
            except BaseException:  # cancelled: nothing to wait for
                pass

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Drop the reads not begun, give the running ones ``wait_s`` to finish (each is bounded by its
        client's timeouts anyway), then run the ``on_close`` callbacks."""
        with self._lock:
            self._closed = True
            lanes = list(self._lanes.values())
            pending = list(self._every)
        for executor in (self._pool, *lanes):
            executor.shutdown(wait=False, cancel_futures=True)
        wait(pending, timeout=wait_s)
        for fn in self._closers:
            try:
                fn()
            except Exception:  # noqa: BLE001 - cleanup of what no test took
                pass


def _after(needed: list[Future], executor: ThreadPoolExecutor, fn, args, kwargs) -> Future:
    """A future of ``fn(*args, **kwargs)``, submitted to ``executor`` once every future in ``needed`` is done
    (whatever their outcome: ``fn`` asks them for it)."""
    outcome: Future = Future()
    remaining = [len(needed)]
    counting = threading.Lock()

    def handed(done: Future) -> None:
        try:
            if done.cancelled():
                outcome.cancel()
            elif done.exception() is not None:
                outcome.set_exception(done.exception())
            else:
                outcome.set_result(done.result())
        except InvalidStateError:  # cancelled meanwhile (the pool closing)
            pass

    def ready(_: Future) -> None:
        with counting:
            remaining[0] -= 1
            if remaining[0]:
                return
        if outcome.done():
            return
        try:
            executor.submit(fn, *args, **kwargs).add_done_callback(handed)
        except RuntimeError as exc:  # the pool was closed meanwhile
            outcome.set_exception(exc)

    for future in needed:
        future.add_done_callback(ready)
    return outcome


def finished_value(future: Future):
    """The value of a read that finished without error, else None (never waits)."""
    if future.done() and not future.cancelled() and future.exception() is None:
        return future.result()
    return None


# fixture name or criterion ID -> starters: ``starter(request, prefetch)`` begins the reads behind that fixture (it may
# resolve session fixtures it needs, in the main thread); registered by fixtures.py, domain_fixtures.py, gate_reads.py
STARTERS: dict[str, list[Callable[[Any, Prefetch], None]]] = {}


def starts(*fixture_names: str, order: int = 50):
    """Register a starter for the reads behind ``fixture_names`` (fixtures, or criterion IDs for the reads
    a test body makes): run once, at the session's first test, when a selected test uses one of them.
    Lower ``order`` starts first (the longest chains)."""
    def register(starter):
        starter.prefetch_order = order
        key = getattr(starter, "prefetch_key", (starter.__module__, starter.__qualname__))
        starter.prefetch_key = key
        for name in fixture_names:  # a starter registered again (a module imported anew) replaces itself
            found = STARTERS.setdefault(name, [])
            found[:] = [s for s in found if s.prefetch_key != key] + [starter]
        return starter
    return register


def resolving(fixture_name: str, order: int = 50) -> None:
    """Register a fixture whose resolution *is* the start of its reads (it returns a started ``Future``,
    see ``Prefetch.start``): resolved at the session's first test when a selected test uses it."""
    def starter(request, prefetch) -> None:
        request.getfixturevalue(fixture_name)

    starter.prefetch_key = ("resolving", fixture_name)
    starts(fixture_name, order=order)(starter)


def starters_for(items) -> list[Callable[[Any, Prefetch], None]]:
    """The starters the selected tests need, in registration order, each once."""
    from .criteria_marks import item_criteria

    used: set[str] = set()
    for item in items:
        used.update(getattr(item, "fixturenames", ()))
        used.update(item_criteria(item))
    chosen: list = []
    for name, starters in STARTERS.items():
        if name in used:
            chosen += [s for s in starters if s not in chosen]
    return sorted(chosen, key=lambda s: getattr(s, "prefetch_order", 50))  # stable: registration order


def environ_snapshot() -> dict[str, str]:
    """A copy of ``os.environ`` that is safe in a read-pool thread: pytest sets and deletes
    PYTEST_CURRENT_TEST in the main thread meanwhile, and ``dict(os.environ)`` (keys first, then each
    value) raises KeyError when a key goes in between; copy again then."""
    import os

    while True:
        try:
            return dict(os.environ)
        except KeyError:
            continue
