"""The run's read pool (pytest_kosmos_dr/prefetch.py) and the Kubernetes view's concurrent lists: a
started read is handed out once, with the value or the very error the read raised; a lane keeps its
reads in order; nothing here needs a sandbox."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from pytest_kosmos_dr.clients.kube import concurrently
from pytest_kosmos_dr.errors import DRUnverifiable
from pytest_kosmos_dr.prefetch import Prefetch, environ_snapshot


@pytest.fixture
def prefetch():
    pool = Prefetch(workers=4)
    yield pool
    pool.close()


def test_a_started_read_is_handed_out_once_then_read_afresh(prefetch):
    calls = []
    prefetch.start("nodes", lambda: calls.append("prefetched") or ["node-a"])
    assert prefetch.take("nodes", lambda: calls.append("afresh") or ["node-b"]) == ["node-a"]
    assert prefetch.take("nodes", lambda: calls.append("afresh") or ["node-b"]) == ["node-b"]
    assert calls == ["prefetched", "afresh"]


def test_an_error_in_a_started_read_is_raised_where_the_value_is_taken(prefetch):
    error = DRUnverifiable("DR cluster API (context dr-cluster)", "connection refused")

    def refused():
        raise error

    prefetch.start("pods", refused)
    with pytest.raises(DRUnverifiable) as raised:
        prefetch.take("pods", lambda: pytest.fail("the started read's error must be raised, not a new read"))
    assert raised.value is error


def test_without_a_started_read_take_reads_now_and_a_later_start_is_refused(prefetch):
    assert prefetch.take("replica", lambda: {"DBInstanceIdentifier": "kosmos-dr"}) == {"DBInstanceIdentifier": "kosmos-dr"}
    assert prefetch.start("replica", lambda: pytest.fail("read twice")) is None
    assert prefetch.started("replica") is None


def test_a_key_is_started_once(prefetch):
    calls = []
    first = prefetch.start("listing", lambda: calls.append(1) or "first")
    again = prefetch.start("listing", lambda: calls.append(2) or "second")
    assert again is first and first.result() == "first" and calls == [1]


def test_a_lane_runs_its_reads_one_after_another_in_order(prefetch):
    order, inside, overlapped = [], [], []
    guard = threading.Lock()

    def read(name):
        def run():
            with guard:
                inside.append(name)
                overlapped.append(len(inside) > 1)
            order.append(name)
            with guard:
                inside.remove(name)
            return name
        return run

    futures = [prefetch.start(f"db {n}", read(n), lane="database") for n in ("connect", "replication", "integrity", "rpo")]
    assert [f.result() for f in futures] == ["connect", "replication", "integrity", "rpo"]
    assert order == ["connect", "replication", "integrity", "rpo"] and not any(overlapped)


def test_a_read_after_others_holds_no_worker_while_they_run_and_gets_their_answers_or_errors():
    pool = Prefetch(workers=1)  # one worker: a dependent read that waited in it would deadlock the pool
    try:
        released = threading.Event()
        route53 = Future()
        dns = pool.start("REC-DNS", lambda: f"resolved after {route53.result()}", after=(route53,))
        other = pool.start("VAL-API-HEALTH", lambda: released.set() or "healthy")
        assert other.result(timeout=5) == "healthy" and released.is_set() and not dns.done()
        route53.set_result("the look")
        assert dns.result(timeout=5) == "resolved after the look"
        error = DRUnverifiable("Route53", "connection refused")
        failed = Future()
        failed.set_exception(error)
        with pytest.raises(DRUnverifiable) as raised:
            pool.start("SCN dns", lambda: failed.result(), after=(failed, None)).result(timeout=5)
        assert raised.value is error
    finally:
        pool.close()


def test_wait_all_and_close_run_after_every_read_finished():
    pool = Prefetch(workers=2)
    released = threading.Event()
    closed = []
    future = pool.start("slow", lambda: released.wait(5) and "done")
    pool.on_close(lambda: closed.append(future.done()))
    released.set()
    pool.wait_all()
    assert future.done()
    pool.close()
    assert closed == [True]
    assert pool.start("after close", lambda: "never").exception() is not None


def test_environ_snapshot_is_a_plain_copy(monkeypatch):
    monkeypatch.setenv("KOSMOS_DR_PREFETCH_PROBE", "1")
    snapshot = environ_snapshot()
    assert snapshot["KOSMOS_DR_PREFETCH_PROBE"] == "1" and isinstance(snapshot, dict)


def test_concurrent_lists_keep_their_order_and_raise_the_first_failure_in_order():
    assert concurrently([lambda: [1], lambda: [2], lambda: [3]]) == [[1], [2], [3]]
    first, second = DRUnverifiable("GET /a", "HTTP 500"), DRUnverifiable("GET /b", "HTTP 500")

    def fail(error):
        def run():
            raise error
        return run

    with pytest.raises(DRUnverifiable) as raised:
        concurrently([lambda: [1], fail(first), fail(second)])
    assert raised.value is first
    assert concurrently([]) == []


def test_the_clients_keep_a_connection_for_every_read_of_the_pool():
    """The read pool never outgrows a client's connection pool (urllib3 would discard and warn)."""
    from pytest_kosmos_dr import prefetch
    from pytest_kosmos_dr.clients import aws, kube

    assert aws.POOL_CONNECTIONS >= prefetch.WORKERS
    assert kube.POOL_CONNECTIONS >= prefetch.WORKERS


def test_an_xdist_worker_starts_no_reads_ahead():
    """A worker learns its tests one by one: reads started for every selected test would be made by each
    worker (the plan's smoke tests twice, writing one JUnit file). On a worker each test reads for itself."""
    from types import SimpleNamespace

    from pytest_kosmos_dr import fixtures, gate_reads, prefetch

    assert prefetch.starters_for([SimpleNamespace(fixturenames=("_smoke_started",), iter_markers=lambda n: iter(()))])
    assert gate_reads  # (its starters are registered)

    def no_pool(name):
        raise AssertionError(f"a worker asked for {name}")

    request = SimpleNamespace(config=SimpleNamespace(workerinput={"workerid": "gw0"}),
                              session=SimpleNamespace(stash={}, items=[]), getfixturevalue=no_pool)
    item = SimpleNamespace(fixturenames=("plan_smoke_tests", "_smoke_started"), iter_markers=lambda name: iter(()))
    fixtures._start_reads(request, item)
    assert request.session.stash == {}
