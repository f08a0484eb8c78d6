"""The stand-ins' answers in the real services' shapes, without a sandbox: Prometheus's instant
queries (the PromQL subset Grafana's proxy evaluates) and a DNS message over TCP."""

from __future__ import annotations

import pytest

from pytest_kosmos_dr.sandbox.grafana import PromQLError, _evaluate_promql, _parse_promql

PROBE = {"__name__": "probe_success", "job": "kosmos-api", "instance": "https://api.kosmos.internal/health"}
SERIES = [(PROBE, "value"), ({**PROBE, "__name__": "up"}, "1.0")]
STORED = {"value": [(940.0, 0.0), (1000.0, 1.0)], "1.0": [(940.0, 1.0), (1000.0, 1.0)]}


def samples(column, start, end):
    return [(t, v) for t, v in STORED[column] if start <= t <= end]


def run(text, at=1000.0):
    return _evaluate_promql(_parse_promql(text), at, SERIES, samples, 300)


def test_a_selector_is_a_vector_with_the_series_labels():
    kind, result = run('probe_success{job="kosmos-api"}')
    assert kind == "vector" and result == [{"metric": PROBE, "value": [1000.0, "1"]}]
    assert run("up")[1][0]["metric"]["__name__"] == "up"


def test_aggregations_and_over_time_functions():
    assert run('avg(probe_success{job="kosmos-api"})') == ("vector", [{"metric": {}, "value": [1000.0, "1"]}])
    kind, result = run("avg_over_time(probe_success[2m])")
    assert kind == "vector" and result[0]["value"][1] == "0.5" and "__name__" not in result[0]["metric"]
    assert run("count(up)")[1][0]["value"][1] == "1"


def test_a_range_selector_is_a_matrix_of_the_window():
    kind, result = run("probe_success[2m]")
    assert kind == "matrix" and result[0]["values"] == [[940.0, "0"], [1000.0, "1"]]


def test_scalars_and_vector():
    assert run("1") == ("scalar", [1000.0, "1"])
    assert run("vector(2)") == ("vector", [{"metric": {}, "value": [1000.0, "2"]}])


def test_no_such_series_is_an_empty_success_and_stale_samples_drop_out():
    assert run("no_such_metric") == ("vector", [])
    assert run("probe_success", at=1400.0) == ("vector", [])  # beyond the 5 min lookback


@pytest.mark.parametrize("text", ["", "up{", "{}", 'up{job="x"', "vector(up)", "avg_over_time(up)"])
def test_malformed_queries_are_bad_data(text):
    with pytest.raises(PromQLError):
        _evaluate_promql(_parse_promql(text), 1000.0, SERIES, samples, 300)


@pytest.mark.parametrize("text", ["abs(up)", "up + 1", "up offset 5m", "sum by (job) (up)"])
def test_queries_outside_the_subset_say_so(text):
    with pytest.raises(PromQLError, match="does not evaluate"):
        _parse_promql(text)


def test_dns_over_tcp_frames_each_answer():
    import asyncio

    from dnslib import DNSRecord

    from pytest_kosmos_dr.sandbox.aws.dns_server import _serve_tcp

    class Resolver:
        def resolve(self, name, qtype):
            return "NOERROR", [(name, "A", 60, "127.0.0.1")]

        def soa(self, name):
            return None

        def rds_endpoint(self, name):
            return False, None

    async def exchange():
        server = await asyncio.start_server(lambda r, w: _serve_tcp(Resolver(), r, w), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answers = []
        for name in ("a.kosmos.internal", "b.kosmos.internal"):  # two queries on one connection
            packet = DNSRecord.question(name).pack()
            writer.write(len(packet).to_bytes(2, "big") + packet)
            size = int.from_bytes(await reader.readexactly(2), "big")
            answers.append(DNSRecord.parse(await reader.readexactly(size)))
        writer.close()
        server.close()
        await server.wait_closed()
        return answers

    answers = asyncio.run(exchange())
    assert [str(a.rr[0].rname) for a in answers] == ["a.kosmos.internal.", "b.kosmos.internal."]
    assert all(a.header.aa == 1 and a.header.ad == 0 for a in answers)


def test_rate_and_increase_extrapolate_as_prometheus_does():
    from pytest_kosmos_dr.sandbox.grafana import _evaluate_promql, _parse_promql

    # a counter scraped every 15 s, +10 per scrape, with a reset after 60 s
    points = [(float(t), float(v)) for t, v in ((15, 10), (30, 20), (45, 30), (60, 40), (75, 5), (90, 15))]

    def evaluate(query, at=90.0):
        kind, result = _evaluate_promql(_parse_promql(query), at, [({"__name__": "c", "job": "j"}, "c")],
                                        lambda column, start, end: [p for p in points if start <= p[0] <= end], 300)
        assert kind == "vector"
        return result

    increase = float(evaluate("increase(c[90s])")[0]["value"][1])
    # raw change 15 - 10 + 40 (the reset) = 45 over 75 s of samples; the first sample is 15 s after the window
    # start, under 1.1 average intervals, so it extrapolates all the way (the counter's zero point, 16.7 s
    # back, is further); the last sample is at the end: 45 * 90 / 75
    assert abs(increase - 54.0) < 1e-9
    assert abs(float(evaluate("rate(c[90s])")[0]["value"][1]) - 54.0 / 90) < 1e-9
    assert abs(float(evaluate("increase(c[100s])")[0]["value"][1]) - 45 * (75 + 7.5) / 75) < 1e-9  # 25 s: capped
    assert abs(float(evaluate("irate(c[90s])")[0]["value"][1]) - 10 / 15) < 1e-9
    assert evaluate("rate(c[90s])")[0]["metric"] == {"job": "j"}  # the name is dropped, as Prometheus does
    assert evaluate("rate(c[10s])") == []  # fewer than two samples: no result


def test_a_range_querys_step_means_from_sqlite_equal_the_sample_by_sample_evaluation():
    """avg_over_time over windows of one step, grouped in SQLite, gives the points the sample-by-sample loop
    gives: samples on a window's edge belong to the window they end, empty windows give no point, a point
    past the end is not given."""
    import random
    import sqlite3

    from pytest_kosmos_dr.sandbox.grafana import _points, _step_means

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE probe_success (ts REAL PRIMARY KEY, value REAL NOT NULL)")
    chance = random.Random(18)
    stamps = {float(t) for t in range(0, 86_400, 60) if chance.random() > 0.05}  # a day of 1-minute probes, gaps
    stamps |= {3600.0, 3600.5, 7199.999, 7200.0, 7200.001}  # on and around window edges
    db.executemany("INSERT INTO probe_success VALUES (?, ?)",
                   [(t, chance.choice((0.0, 0.5, 1.0, 1.0, 1.0))) for t in sorted(stamps)])
    db.execute("DELETE FROM probe_success WHERE ts > 40000 AND ts < 43000")  # no sample for ten windows
    for start, end, step in ((300, 86_100, 300), (0, 86_399, 300), (3600, 7200, 60), (120, 50_000, 3600)):
        rows = db.execute("SELECT ts, value FROM probe_success WHERE ts >= ? AND ts <= ? ORDER BY ts",
                          (start - step, end)).fetchall()
        expected = _points(rows, start, end, step, step)
        assert expected and _step_means(db, start, end, step) == expected, (start, end, step)
