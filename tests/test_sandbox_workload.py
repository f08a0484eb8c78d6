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
