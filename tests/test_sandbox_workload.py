"""The sandbox's live workload: the incident waits for the writes it promises, or the start fails saying why."""

import socket

import pytest

pytest.importorskip("psycopg")

from pytest_kosmos_dr.sandbox.aws.workload import LiveWorkload  # noqa: E402


class _Unreachable:
    """A production server nobody listens for: the writer cannot connect."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]

    def conninfo(self, dbname: str = "kosmos") -> str:
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user=kosmos connect_timeout=2"


def test_too_few_live_writes_fail_the_start_with_the_writers_reason():
    workload = LiveWorkload(_Unreachable(), ["zeus-orchestrator"]).start()
    with pytest.raises(RuntimeError, match=r"committed 0 of 12 writes: OperationalError: .*127\.0\.0\.1"):
        workload.wait_for_commits(12, timeout=30)
    workload.stop()


def test_a_writer_that_is_too_slow_fails_the_start_when_the_wait_runs_out(monkeypatch):
    workload = LiveWorkload(_Unreachable(), ["zeus-orchestrator"])
    monkeypatch.setattr(LiveWorkload, "running", property(lambda self: True))  # writing, but nothing lands
    workload.commits = 3
    with pytest.raises(RuntimeError, match="committed 3 of 12 writes: 0.05 s passed"):
        workload.wait_for_commits(12, timeout=0.05)


def test_the_first_writes_go_out_back_to_back_then_at_the_interval(monkeypatch):
    """The start waits for LIVE_COMMITS writes before the incident: those go out back to back, the rest at
    the workload's interval (KOSMOS's steady writes until the incident)."""
    import contextlib

    import psycopg

    from pytest_kosmos_dr.sandbox.aws import workload as workload_module

    class Connection:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def execute(self, sql, params=None):
            return self

        def fetchone(self):
            return (1,)

        def transaction(self):
            return contextlib.nullcontext()

    monkeypatch.setattr(psycopg, "connect", lambda *a, **k: Connection())
    live = LiveWorkload(_Unreachable(), ["zeus-orchestrator"], interval_s=0.1, quick_first=3)
    waits = []

    def wait(timeout):
        waits.append(timeout)
        if len(waits) == 6:
            live._stop.set()
        return live._stop.is_set()

    monkeypatch.setattr(live._stop, "wait", wait)
    live._run()
    assert live.error is None and live.commits == 6
    assert waits == [workload_module.QUICK_INTERVAL_S] * 2 + [0.1] * 4
