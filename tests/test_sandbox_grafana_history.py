"""Grafana's stored history made while the AWS side waits for its incident (``prepare``) ends the same as
one made at start: the same probe samples, the incident's failed probe and the first after failover."""

import sqlite3
import time
from types import SimpleNamespace

from pytest_kosmos_dr.sandbox import grafana
from pytest_kosmos_dr.sandbox.layout import DEFAULT


def _samples(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT ts, value FROM probe_success ORDER BY ts").fetchall()


def _made(tmp_path, name, prepared_at, started_at, incident, prepare=True):
    folder = tmp_path / name
    folder.mkdir()
    component = grafana.GrafanaComponent()
    ctx = SimpleNamespace(layout=DEFAULT, state_dir=folder, state={"incident": incident})
    component._history(ctx, prepared_at)  # the same windows
    component.created_at, component.recorded_edges = started_at, set()  # as start sets them
    if prepare:
        component._create_history(prepared_at)
        component._create(started_at, incident, prepared=True)
    else:  # everything at the start, as a start without prepare makes it
        component._create(started_at, incident)
    return component, _samples(folder / "prometheus.db")


def test_a_prepared_history_ends_as_one_made_at_start(tmp_path):
    prepared_at = time.time() - 150  # a few scrapes before the incident and the start
    started_at = prepared_at + 150
    incident = {"start": grafana_time(prepared_at + 61), "failover_at": grafana_time(prepared_at + 125.5)}
    component, prepared = _made(tmp_path, "prepared", prepared_at, started_at, incident)
    _, at_start = _made(tmp_path, "at-start", prepared_at, started_at, incident, prepare=False)
    # the same samples, the prepared one reaching a few scrapes further back (its month began earlier)
    assert len(prepared) > len(at_start) > 30 * 86400 // grafana.SCRAPE_S
    assert prepared[-len(at_start):] == at_start
    start, failover = grafana.incident_outage(incident)
    assert (start, 0.0) in prepared and (failover, 1.0) in prepared
    during = [v for ts, v in prepared if start <= ts < failover]
    assert len(during) >= 2 and set(during) == {0.0}  # the failed probe and the scrapes until failover
    assert component.last_sample == prepared[-1][0] and started_at - prepared[-1][0] < grafana.SCRAPE_S
    # down in the maintenance and the blip, as the per-sample test of before gave
    down = [component.maintenance, component.blip]
    assert [v for ts, v in prepared if ts < start] == [0.0 if any(a <= ts < b for a, b in down) else 1.0
                                                        for ts, _ in prepared if ts < start]
    assert sum(1 for ts, v in prepared if v == 0.0 and ts < start) == \
        (grafana.MAINTENANCE_S + grafana.BLIP_S) // grafana.SCRAPE_S


def grafana_time(epoch):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")
